//! libyaml's event parser, one event at a time: the independent reading of YAML output never
//! holds the events of a whole document, as a serde deserializer over it does (about 80 bytes per
//! node plus a copy of every scalar, on a 29 MB output some 80 MB).
//!
//! Two builds of the same C library (libyaml 0.2.5's grammar), behind one interface:
//! - [`system`]: the system's libyaml, linked statically where `build.rs` finds it (Debian:
//!   `libyaml-dev`), given an input its reader would give back unchanged as it is
//!   ([`reads_as_is`], `top_up` in `shim.c`); it reads a 29 MB output in about half the time of
//! - [`translated`]: `unsafe-libyaml`, the Rust translation of libyaml that `serde_yaml_ng`
//!   reads with; always built, the reading where the system's libyaml is not.
//!
//! A test gives both the same inputs (the corpus, encrypted outputs, hand-written cases) and
//! compares their events and failures one for one, wherever the system's libyaml is built.

use std::ffi::CStr;
use std::marker::PhantomData;

#[cfg(sepal_libyaml)]
mod system;
mod translated;

/// The libyaml this build reads with.
pub(super) type Events<'a> = Reader<'a, BuildParser>;
#[cfg(sepal_libyaml)]
type BuildParser = system::Parser;
#[cfg(not(sepal_libyaml))]
type BuildParser = translated::Parser;

/// One build of libyaml's event parser.
pub(super) trait Parser: Sized {
    /// A parser of `input`, or none when libyaml could not start one.
    ///
    /// # Safety
    /// `input` outlives the parser, which keeps a pointer to it.
    unsafe fn start(input: &[u8]) -> Option<Self>;

    /// Parse the next event and lend it to `f`; also whether it ended the stream.
    fn parse<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<(R, bool), ParseFailure>;
}

/// libyaml's events of an input, one at a time.
pub(super) struct Reader<'a, P> {
    parser: P,
    ended: bool,
    _input: PhantomData<&'a [u8]>,
}

impl<'a, P: Parser> Reader<'a, P> {
    pub(super) fn new(input: &'a [u8]) -> Result<Self, ParseFailure> {
        // SAFETY: `input` outlives the reader (the `'a` borrow), hence its parser.
        let parser = unsafe { P::start(input) }.ok_or_else(|| ParseFailure {
            problem: "the YAML parser could not start".into(),
            line: 0,
        })?;
        Ok(Self::from_parser(parser))
    }

    /// The reader of a parser started on an input that outlives `'a`.
    fn from_parser(parser: P) -> Self {
        Reader {
            parser,
            ended: false,
            _input: PhantomData,
        }
    }

    /// Parse the next event and hand it to `f`; after the stream's end every call gives
    /// [`Event::StreamEnd`].
    pub(super) fn next<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<R, ParseFailure> {
        if self.ended {
            return Ok(f(Event::StreamEnd));
        }
        let (out, end) = self.parser.parse(f)?;
        self.ended = end;
        Ok(out)
    }
}

/// Whether libyaml's reader gives `input`'s bytes back unchanged, as the characters its scanner
/// reads: UTF-8 without a byte order mark at the start (the reader drops one there) and none of
/// the characters it refuses (C0 controls but tab, line feed and carriage return; DEL; C1
/// controls but NEL; U+FFFE and U+FFFF). Then the system's libyaml is given the input's bytes as
/// they are instead of decoding them a character at a time (`top_up` in `shim.c`). An encrypted
/// output is nearly always so: its values are ASCII.
#[cfg(any(test, sepal_libyaml))]
pub(super) fn reads_as_is(input: &[u8]) -> bool {
    // Without a branch per byte, so that it compiles to vector instructions.
    let printable_ascii = input.iter().fold(true, |ok, &b| {
        ok & ((b.wrapping_sub(0x20) < 0x5f) | (b == b'\t') | (b == b'\n') | (b == b'\r'))
    });
    if printable_ascii {
        return true;
    }
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
            | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
    };
    std::str::from_utf8(input)
        .is_ok_and(|text| !text.starts_with('\u{feff}') && text.chars().all(allowed))
}

/// What a parse failure says, and on which line (1-based). The message is libyaml's own
/// description of the problem (a fixed text, never a piece of the input).
#[derive(Debug)]
pub(super) struct ParseFailure {
    pub(super) problem: String,
    pub(super) line: u64,
}

impl ParseFailure {
    /// The failure libyaml describes with `problem` at the 0-based `line`.
    ///
    /// # Safety
    /// `problem` is null or a NUL-terminated string (libyaml's are static).
    unsafe fn from_libyaml(problem: *const std::ffi::c_char, line: u64) -> Self {
        let problem = if problem.is_null() {
            "a YAML syntax error".to_string()
        } else {
            // SAFETY: the caller's promise.
            unsafe { CStr::from_ptr(problem) }
                .to_string_lossy()
                .into_owned()
        };
        ParseFailure {
            problem,
            line: line + 1,
        }
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
        // SAFETY: the caller's promise.
        Some(unsafe { CStr::from_ptr(p.cast()) }.to_bytes())
    }
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

/// One event as text (value, style, anchor, line), and whether it ends the stream.
#[cfg(any(test, sepal_libyaml))]
fn render(e: Event<'_>) -> (String, bool) {
    let anchor = |a: Option<&[u8]>| {
        a.map_or(String::new(), |a| {
            format!(" &{}", String::from_utf8_lossy(a))
        })
    };
    match e {
        Event::DocumentStart => ("doc".to_string(), false),
        Event::DocumentEnd => ("/doc".into(), false),
        Event::MappingStart { anchor: a } => (format!("map{}", anchor(a)), false),
        Event::SequenceStart { anchor: a } => (format!("seq{}", anchor(a)), false),
        Event::CollectionEnd => ("end".into(), false),
        Event::Scalar(s) => (
            format!(
                "{}{}{} @{}",
                if s.plain { "" } else { "'" },
                String::from_utf8_lossy(s.value),
                anchor(s.anchor),
                s.line
            ),
            false,
        ),
        Event::Alias { anchor } => (format!("*{}", String::from_utf8_lossy(anchor)), false),
        Event::StreamEnd => ("eos".into(), true),
        Event::Other => ("other".into(), false),
    }
}

/// Both builds of libyaml give the same events, and the same failure (problem and line), for
/// `data`, and so does the system's libyaml decoding its input a character at a time where it is
/// given it as it is ([`reads_as_is`]); panics where they differ (tests and the `yaml` fuzz
/// target).
#[cfg(sepal_libyaml)]
pub(crate) fn assert_builds_agree(data: &[u8]) -> bool {
    let system = read_all::<system::Parser>(data);
    let translated = read_all::<translated::Parser>(data);
    if reads_as_is(data) {
        // Windows that cut the input everywhere, and the whole buffer's.
        for window in [1, 2, 3, 5, 64, 4000, usize::MAX] {
            // SAFETY: `data` outlives the reader, which is dropped before this returns.
            let topped_up = unsafe { system::Parser::start_reading(data, window) }
                .map(|parser| read_from(Reader::from_parser(parser)));
            match (&translated, topped_up) {
                (Ok(a), Some(Ok(b))) => assert_eq!(a, &b, "events differ, window {window}"),
                (Err(a), Some(Err(b))) => assert_eq!(
                    (&a.problem, a.line),
                    (&b.problem, b.line),
                    "failures differ, window {window}"
                ),
                (_, topped_up) => {
                    panic!("one reading failed: {translated:?} against {topped_up:?}")
                }
            }
        }
    }
    // SAFETY: `data` outlives the reader, which is dropped before this returns.
    let decoding = unsafe { system::Parser::start_reading(data, 0) }
        .map(|parser| read_from(Reader::from_parser(parser)));
    assert!(
        decoding
            .as_ref()
            .is_some_and(|d| d.as_ref().ok() == translated.as_ref().ok()),
        "the system's libyaml decoding differs"
    );
    match (&system, &translated) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "events differ");
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                (&a.problem, a.line),
                (&b.problem, b.line),
                "failures differ"
            );
            false
        }
        _ => panic!("one build failed: {system:?} against {translated:?}"),
    }
}

/// Every event of `data` as text, read with one build of libyaml.
#[cfg(any(test, sepal_libyaml))]
fn read_all<P: Parser>(data: &[u8]) -> Result<Vec<String>, ParseFailure> {
    read_from(Reader::<P>::new(data)?)
}

/// Every event `events` gives, as text.
#[cfg(any(test, sepal_libyaml))]
fn read_from<P: Parser>(mut events: Reader<'_, P>) -> Result<Vec<String>, ParseFailure> {
    let mut out = Vec::new();
    loop {
        let (text, end) = events.next(render)?;
        out.push(text);
        if end {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Result<Vec<String>, ParseFailure> {
        read_all::<BuildParser>(text.as_bytes())
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

    /// Both builds of libyaml read alike every YAML file of the corpus (plaintexts and sops's
    /// encryptions), the fuzz targets' regression inputs, prefixes of each (which end in the
    /// middle of something), and a few broken texts.
    #[cfg(sepal_libyaml)]
    #[test]
    fn the_system_libyaml_reads_as_the_translated_one() {
        let mut files = crate::stores::yaml::corpus_yaml_files();
        let regressions = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/yaml");
        for entry in std::fs::read_dir(regressions).expect("regressions") {
            files.push(entry.expect("entry").path());
        }
        let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
        for path in files {
            let bytes = std::fs::read(&path).expect("read");
            for cut in [bytes.len(), bytes.len() / 2, bytes.len() / 3, 7] {
                let cut = cut.min(bytes.len());
                inputs.push((
                    format!("{}[..{cut}]", path.display()),
                    bytes[..cut].to_vec(),
                ));
            }
        }
        for text in [
            "a: [b\n",
            "a: 'b\n",
            "\tx: y\n",
            "a: *\n",
            "- a\nb: c\n",
            "\u{feff}a: b\n",
            "a: b\u{feff}\n",
            "a: caf\u{e9} \u{1f600}\n# \u{e9}t\u{e9}\n",
            "a: \u{85}b\n",
            "a: \u{84}b\n",
            "a: b\u{7f}\n",
            "a: \u{fffe}\n",
            "a: \u{b}\n",
            "a: 'b\nc'\n",
            "a: b\r\nc: d\r",
            "- a\n- ",
            "---",
        ] {
            inputs.push((format!("{text:?}"), text.as_bytes().to_vec()));
        }
        // Longer than libyaml's buffer (48 KiB): many lines, with characters of two to four
        // bytes at every offset, and one value longer than the buffer.
        let mut long = String::new();
        for i in 0..6000 {
            long.push_str(&format!(
                "k{i}: {}caf\u{e9}\u{1f600}x\u{800}\n",
                "v".repeat(i % 7)
            ));
        }
        let big: String = (0..30_000).map(|i| format!("{i}\u{e9}")).collect();
        long.push_str(&format!("big: {big}\nend: 'q\u{e9}'\n"));
        assert!(
            assert_builds_agree(long.as_bytes()),
            "the long input parses"
        );
        inputs.push(("long".into(), long.clone().into_bytes()));
        inputs.push(("long, broken".into(), format!("{long}[").into_bytes()));
        assert!(inputs.len() > 400, "{} inputs", inputs.len());
        let mut failures = 0;
        for (name, bytes) in &inputs {
            let parsed = std::panic::catch_unwind(|| assert_builds_agree(bytes))
                .unwrap_or_else(|_| panic!("the two builds of libyaml differ on {name}"));
            failures += usize::from(!parsed);
        }
        assert!(failures > 10, "{failures} inputs failed to parse");
    }

    #[test]
    fn inputs_libyaml_reads_as_they_are() {
        for read in [
            &b""[..],
            b"a: b\r\n\tc\n",
            "a: caf\u{e9}\u{85}\u{1f600}".as_bytes(),
            "a: \u{feff}".as_bytes(),
        ] {
            assert!(reads_as_is(read), "{read:?}");
        }
        for refused in [
            "\u{feff}a: b".as_bytes(),
            b"a: \x00",
            b"a: \x1f",
            b"a: \x7f",
            "a: \u{84}".as_bytes(),
            "a: \u{9f}".as_bytes(),
            "a: \u{fffe}".as_bytes(),
            "a: \u{ffff}".as_bytes(),
            b"a: \xff",
            b"a: \xed\xa0\x80",
        ] {
            assert!(!reads_as_is(refused), "{refused:?}");
        }
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let e = events("a: b\nc: [d\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(!e.problem.is_empty());
    }
}
