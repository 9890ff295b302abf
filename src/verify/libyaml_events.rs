//! libyaml's event parser (the Rust translation of the C library that serde_yaml_ng reads with),
//! one event at a time: the independent reading of YAML output never holds the events of a whole
//! document, as a serde deserializer over it does (about 80 bytes per node plus a copy of every
//! scalar, on a 29 MB output some 80 MB).
//!
//! The unsafe calls are confined to this file. Their contract, from libyaml's documentation:
//! the parser is initialised once and deleted once (here: on drop); it must not move after its
//! input is set, because the string reader keeps a pointer to the parser itself (here: it lives
//! in a box that is never moved out of); the input must outlive the parser (the `'a` borrow);
//! every event the parser fills in is deleted once, after its data was last read (here: the data
//! is only lent to a closure, and the event is deleted when the closure returns).

use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_sys;

/// What a parse failure says, and on which line (1-based). The message is libyaml's own
/// description of the problem (a fixed text, never a piece of the input).
#[derive(Debug)]
pub(super) struct ParseFailure {
    pub(super) problem: String,
    pub(super) line: u64,
}

/// One event, its data borrowed from the parser until the next event.
pub(super) enum Event<'e> {
    DocumentStart,
    DocumentEnd,
    MappingStart {
        anchor: Option<&'e [u8]>,
    },
    SequenceStart {
        anchor: Option<&'e [u8]>,
    },
    CollectionEnd,
    Scalar(Scalar<'e>),
    Alias {
        anchor: &'e [u8],
    },
    StreamEnd,
    /// Stream start, and anything libyaml may add.
    Other,
}

pub(super) struct Scalar<'e> {
    pub(super) value: &'e [u8],
    pub(super) anchor: Option<&'e [u8]>,
    /// Written without quotes or block indicator (a tag, if any, types its text).
    pub(super) plain: bool,
    /// The line the scalar starts on (1-based).
    pub(super) line: u64,
}

/// A libyaml parser reading `input`.
pub(super) struct Events<'a> {
    parser: Box<MaybeUninit<unsafe_sys::yaml_parser_t>>,
    ended: bool,
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Events<'a> {
    pub(super) fn new(input: &'a [u8]) -> Result<Self, ParseFailure> {
        let mut parser = Box::new(MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit());
        // SAFETY: `yaml_parser_initialize` fills in the whole parser (it zeroes it first); the
        // box gives it a fixed address for the reader's self pointer.
        let ok = unsafe { unsafe_sys::yaml_parser_initialize(parser.as_mut_ptr()) }.ok;
        if !ok {
            return Err(ParseFailure {
                problem: "the YAML parser could not start".into(),
                line: 0,
            });
        }
        // SAFETY: the parser was initialised above; `input` outlives `Events` (the `'a`
        // borrow), hence the parser.
        unsafe {
            unsafe_sys::yaml_parser_set_input_string(
                parser.as_mut_ptr(),
                input.as_ptr(),
                input.len() as _,
            );
        }
        Ok(Events {
            parser,
            ended: false,
            _input: PhantomData,
        })
    }

    /// Parse the next event and hand it to `f`; after the stream's end every call gives
    /// [`Event::StreamEnd`].
    pub(super) fn next<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<R, ParseFailure> {
        if self.ended {
            return Ok(f(Event::StreamEnd));
        }
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
            if (*e).type_ == unsafe_sys::YAML_STREAM_END_EVENT {
                self.ended = true;
            }
            unsafe_sys::yaml_event_delete(e);
            Ok(out)
        }
    }

    fn failure(&mut self) -> ParseFailure {
        // SAFETY: the parser is initialised; its public prefix (reached through `Deref`) holds
        // the error fields libyaml set on failure; `problem` is null or a static C string.
        unsafe {
            let prefix: &unsafe_sys::yaml_parser_t = &*self.parser.as_ptr();
            let problem = if prefix.problem.is_null() {
                "a YAML syntax error".to_string()
            } else {
                CStr::from_ptr(prefix.problem)
                    .to_string_lossy()
                    .into_owned()
            };
            ParseFailure {
                problem,
                line: prefix.problem_mark.line + 1,
            }
        }
    }
}

impl Drop for Events<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (a failed initialisation never builds an `Events`), and
        // deleted only here.
        unsafe { unsafe_sys::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

/// A NUL-terminated byte string from libyaml, or none.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives `'e`.
unsafe fn c_bytes<'e>(p: *const u8) -> Option<&'e [u8]> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p.cast()).to_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Result<Vec<String>, ParseFailure> {
        let mut ev = Events::new(text.as_bytes())?;
        let mut out = Vec::new();
        loop {
            let (s, end) = ev.next(|e| match e {
                Event::DocumentStart => ("doc".to_string(), false),
                Event::DocumentEnd => ("/doc".into(), false),
                Event::MappingStart { anchor } => (
                    format!(
                        "map{}",
                        anchor.map_or(String::new(), |a| format!(
                            " &{}",
                            String::from_utf8_lossy(a)
                        ))
                    ),
                    false,
                ),
                Event::SequenceStart { .. } => ("seq".into(), false),
                Event::CollectionEnd => ("end".into(), false),
                Event::Scalar(s) => (
                    format!(
                        "{}{} @{}",
                        if s.plain { "" } else { "'" },
                        String::from_utf8_lossy(s.value),
                        s.line
                    ),
                    false,
                ),
                Event::Alias { anchor } => (format!("*{}", String::from_utf8_lossy(anchor)), false),
                Event::StreamEnd => ("eos".into(), true),
                Event::Other => ("other".into(), false),
            })?;
            out.push(s);
            if end {
                return Ok(out);
            }
        }
    }

    #[test]
    fn reads_events_one_at_a_time() {
        let got = events("a: &x {b: 'q'}\nl:\n  - !t v\n  - *x\n---\nz\n").unwrap();
        assert_eq!(
            got,
            [
                "other", "doc", "map", "a @1", "map &x", "b @1", "'q @1", "end", "l @2", "seq",
                "v @3", "*x", "end", "end", "/doc", "doc", "z @6", "/doc", "eos"
            ]
        );
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let e = events("a: b\nc: [d\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(!e.problem.is_empty());
    }
}
