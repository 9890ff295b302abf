//! The system's libyaml (C), through sepal's own small interface to it (`shim.c`, built and
//! linked by `build.rs` only where a static libyaml is found): Rust never sees libyaml's
//! structures, only the shim's event below.
//!
//! The unsafe calls are confined to this file. Their contract (the shim's, over libyaml's): a
//! parser made by `sepal_yaml_new` is freed once by `sepal_yaml_free` (here: on drop); the input
//! must outlive it (the reader's `'a` borrow), and the shim copies it into libyaml's buffer
//! itself only where [`super::reads_as_is`] says libyaml would read it unchanged; an event's
//! pointers stay valid until the next `sepal_yaml_next` or the free (here: they are only lent to
//! a closure, which returns first); after a failed `sepal_yaml_next`, `sepal_yaml_problem` gives
//! a static string or null.

use std::ffi::{c_char, c_int, c_uchar, c_void};
use std::ptr::NonNull;

use super::{c_bytes, Event, ParseFailure, Scalar};

/// The shim's `sepal_yaml_event` (same fields, same order, C layout).
#[repr(C)]
struct ShimEvent {
    kind: c_int,
    value: *const c_uchar,
    length: usize,
    anchor: *const c_uchar,
    plain: c_int,
    line: usize,
}

// The shim's event kinds (`SEPAL_*` in shim.c).
const DOCUMENT_START: c_int = 1;
const DOCUMENT_END: c_int = 2;
const MAPPING_START: c_int = 3;
const SEQUENCE_START: c_int = 4;
const COLLECTION_END: c_int = 5;
const SCALAR: c_int = 6;
const ALIAS: c_int = 7;
const STREAM_END: c_int = 8;

extern "C" {
    fn sepal_yaml_new(input: *const c_uchar, length: usize, window: usize) -> *mut c_void;
    fn sepal_yaml_next(parser: *mut c_void, out: *mut ShimEvent) -> c_int;
    fn sepal_yaml_problem(parser: *const c_void, problem: *mut *const c_char, line: *mut usize);
    fn sepal_yaml_free(parser: *mut c_void);
}

/// A libyaml parser of an input that outlives it (see [`super::Parser::start`]).
pub(in crate::verify) struct Parser {
    parser: NonNull<c_void>,
}

impl super::Parser for Parser {
    unsafe fn start(input: &[u8]) -> Option<Self> {
        let window = if super::reads_as_is(input) {
            usize::MAX
        } else {
            0
        };
        // SAFETY: the caller's promise, and `window` is 0 unless the input is read as it is.
        unsafe { Self::start_reading(input, window) }
    }

    fn parse<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<(R, bool), ParseFailure> {
        let mut e = ShimEvent {
            kind: 0,
            value: std::ptr::null(),
            length: 0,
            anchor: std::ptr::null(),
            plain: 0,
            line: 0,
        };
        // SAFETY: the parser is live; the shim fills in `e` when it succeeds.
        let ok = unsafe { sepal_yaml_next(self.parser.as_ptr(), &mut e) } != 0;
        if !ok {
            return Err(self.failure());
        }
        // SAFETY: `e`'s pointers are valid until the next call or the free, and nothing
        // borrowed from them escapes `f`.
        Ok((f(unsafe { view(&e) }), e.kind == STREAM_END))
    }
}

impl Parser {
    /// [`super::Parser::start`], the shim copying up to `window` bytes of `input` at a time into
    /// libyaml's working buffer before each event when it is not 0 (`top_up` in `shim.c`).
    ///
    /// # Safety
    /// As [`super::Parser::start`]; and `window` is 0 unless [`super::reads_as_is`] says so of
    /// `input`.
    pub(super) unsafe fn start_reading(input: &[u8], window: usize) -> Option<Self> {
        // SAFETY: the shim keeps `input`'s pointer, which outlives the parser (the caller's
        // promise); `window` is the caller's promise.
        let parser = unsafe { sepal_yaml_new(input.as_ptr(), input.len(), window) };
        NonNull::new(parser).map(|parser| Parser { parser })
    }

    fn failure(&self) -> ParseFailure {
        let mut problem: *const c_char = std::ptr::null();
        let mut line = 0usize;
        // SAFETY: the parser is live; the shim writes a static string or null, and a line.
        unsafe { sepal_yaml_problem(self.parser.as_ptr(), &mut problem, &mut line) };
        // SAFETY: `problem` is null or libyaml's static string.
        unsafe { ParseFailure::from_libyaml(problem, line as u64) }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: made in `start`, freed only here.
        unsafe { sepal_yaml_free(self.parser.as_ptr()) }
    }
}

/// The shim's event `e` as an [`Event`].
///
/// # Safety
/// `e` was filled in by `sepal_yaml_next`, and its parser has not moved on since.
unsafe fn view(e: &ShimEvent) -> Event<'_> {
    match e.kind {
        DOCUMENT_START => Event::DocumentStart,
        DOCUMENT_END => Event::DocumentEnd,
        MAPPING_START => Event::MappingStart {
            anchor: c_bytes(e.anchor),
        },
        SEQUENCE_START => Event::SequenceStart {
            anchor: c_bytes(e.anchor),
        },
        COLLECTION_END => Event::CollectionEnd,
        SCALAR => Event::Scalar(Scalar {
            value: if e.value.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(e.value, e.length)
            },
            anchor: c_bytes(e.anchor),
            plain: e.plain != 0,
            line: e.line as u64 + 1,
        }),
        ALIAS => Event::Alias {
            anchor: c_bytes(e.anchor).unwrap_or_default(),
        },
        STREAM_END => Event::StreamEnd,
        _ => Event::Other,
    }
}
