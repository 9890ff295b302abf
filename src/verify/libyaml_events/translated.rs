//! The translated libyaml (`unsafe-libyaml`): the reading where the system's libyaml is not
//! built, and the one a test compares it with where it is.
//!
//! The unsafe calls are confined to this file. Their contract, from libyaml's documentation:
//! the parser is initialised once and deleted once (here: on drop); it must not move after its
//! input is set, because the string reader keeps a pointer to the parser itself (here: it lives
//! in a box that is never moved out of); the input must outlive the parser (the reader's `'a` borrow);
//! every event the parser fills in is deleted once, after its data was last read (here: the data
//! is only lent to a closure, and the event is deleted when the closure returns).

use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_sys;

use super::{c_bytes, Event, ParseFailure, Scalar};

/// A libyaml parser of an input that outlives it (see [`super::Parser::start`]).
pub(in crate::verify) struct Parser {
    parser: Box<MaybeUninit<unsafe_sys::yaml_parser_t>>,
}

impl super::Parser for Parser {
    unsafe fn start(input: &[u8]) -> Option<Self> {
        let mut parser = Box::new(MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit());
        // SAFETY: `yaml_parser_initialize` fills in the whole parser (it zeroes it first); the
        // box gives it a fixed address for the reader's self pointer.
        let ok = unsafe { unsafe_sys::yaml_parser_initialize(parser.as_mut_ptr()) }.ok;
        if !ok {
            return None;
        }
        // SAFETY: the parser was initialised above; `input` outlives it (the caller's promise).
        unsafe {
            unsafe_sys::yaml_parser_set_input_string(
                parser.as_mut_ptr(),
                input.as_ptr(),
                input.len() as _,
            );
        }
        Some(Parser { parser })
    }

    fn parse<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<(R, bool), ParseFailure> {
        let mut event = MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised and has its input; `yaml_parser_parse` fills in the
        // event when it succeeds, and leaves nothing to free when it fails.
        let ok =
            unsafe { unsafe_sys::yaml_parser_parse(self.parser.as_mut_ptr(), event.as_mut_ptr()) }
                .ok;
        if !ok {
            return Err(self.failure());
        }
        // SAFETY: the event was filled in; its pointers stay valid until `yaml_event_delete`,
        // which runs after `f` returns (nothing borrowed from it escapes `f`).
        unsafe {
            let e = event.as_mut_ptr();
            let line = (*e).start_mark.line + 1;
            let out = f(view(&*e, line));
            let end = (*e).type_ == unsafe_sys::YAML_STREAM_END_EVENT;
            unsafe_sys::yaml_event_delete(e);
            Ok((out, end))
        }
    }
}

impl Parser {
    fn failure(&mut self) -> ParseFailure {
        // SAFETY: the parser is initialised; its public prefix (reached through `Deref`) holds
        // the error fields libyaml set on failure; `problem` is null or a static C string.
        unsafe {
            let prefix: &unsafe_sys::yaml_parser_t = &*self.parser.as_ptr();
            ParseFailure::from_libyaml(prefix.problem, prefix.problem_mark.line)
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: initialised in `start` (a failed initialisation never builds a `Parser`), and
        // deleted only here.
        unsafe { unsafe_sys::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

/// The event `e` as an [`Event`].
///
/// # Safety
/// `e` was filled in by `yaml_parser_parse` and is not yet deleted.
unsafe fn view(e: &unsafe_sys::yaml_event_t, line: u64) -> Event<'_> {
    match e.type_ {
        unsafe_sys::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
        unsafe_sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
        unsafe_sys::YAML_MAPPING_START_EVENT => Event::MappingStart {
            anchor: c_bytes(e.data.mapping_start.anchor),
        },
        unsafe_sys::YAML_SEQUENCE_START_EVENT => Event::SequenceStart {
            anchor: c_bytes(e.data.sequence_start.anchor),
        },
        unsafe_sys::YAML_MAPPING_END_EVENT | unsafe_sys::YAML_SEQUENCE_END_EVENT => {
            Event::CollectionEnd
        }
        unsafe_sys::YAML_SCALAR_EVENT => {
            let s = &e.data.scalar;
            let value = if s.value.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(s.value, s.length as usize)
            };
            Event::Scalar(Scalar {
                value,
                anchor: c_bytes(s.anchor),
                plain: s.style == unsafe_sys::YAML_PLAIN_SCALAR_STYLE,
                line,
            })
        }
        unsafe_sys::YAML_ALIAS_EVENT => Event::Alias {
            anchor: c_bytes(e.data.alias.anchor).unwrap_or_default(),
        },
        unsafe_sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
        _ => Event::Other,
    }
}
