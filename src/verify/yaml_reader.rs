//! The independent reading of YAML output: libyaml's events, checked as they come. Every scalar
//! outside map keys and outside the top-level `sops` entry must be encrypted or a value the
//! encryption left in clear; an alias may only repeat a node that was itself checked.

use std::collections::HashSet;

use super::libyaml_events::{Event, Events, ParseFailure, Scalar};
use super::{fail, Allowed, Unaccounted};
use crate::stores::Format;

const READER: &str = "read by a YAML parser";

/// An open mapping or sequence.
struct Open {
    map: bool,
    /// A mapping's next node is a key.
    key_next: bool,
    /// Its content is not checked (a key, or the `sops` entry).
    unchecked: bool,
}

/// Where the reading is.
#[derive(Default)]
struct State {
    open: Vec<Open>,
    /// Open collections whose content is not checked.
    unchecked: usize,
    /// The next value is the top-level `sops` entry's.
    metadata_next: bool,
    /// Anchors of nodes that were checked (an alias of one repeats checked content).
    checked_anchors: HashSet<Vec<u8>>,
    document: usize,
}

/// What a node is to its parent.
struct Role {
    key: bool,
    /// Its content is not checked.
    unchecked: bool,
}

impl State {
    /// The role of a node that starts now.
    fn role(&mut self) -> Role {
        let key = self.open.last().is_some_and(|o| o.map && o.key_next);
        let metadata = !key && std::mem::take(&mut self.metadata_next);
        Role {
            key,
            unchecked: key || metadata || self.unchecked > 0,
        }
    }

    /// A node (scalar, alias, or a collection at its end) is complete.
    fn completed(&mut self) {
        if let Some(o) = self.open.last_mut() {
            if o.map {
                o.key_next = !o.key_next;
            }
        }
    }

    fn anchor(&mut self, anchor: Option<&[u8]>, role: &Role) {
        if let (Some(a), false) = (anchor, role.unchecked) {
            self.checked_anchors.insert(a.to_vec());
        }
    }

    fn open(&mut self, map: bool, anchor: Option<&[u8]>) {
        let role = self.role();
        self.anchor(anchor, &role);
        if role.unchecked {
            self.unchecked += 1;
        }
        self.open.push(Open {
            map,
            key_next: true,
            unchecked: role.unchecked,
        });
    }

    fn close(&mut self) {
        if let Some(o) = self.open.pop() {
            if o.unchecked {
                self.unchecked = self.unchecked.saturating_sub(1);
            }
        }
        self.completed();
    }

    fn scalar(&mut self, s: &Scalar<'_>, allowed: &Allowed) -> Result<(), &'static str> {
        let role = self.role();
        if role.key && self.open.len() == 1 && self.unchecked == 0 && s.value == b"sops" {
            self.metadata_next = true;
        }
        self.anchor(s.anchor, &role);
        self.completed();
        if role.unchecked {
            return Ok(());
        }
        check_scalar(s, allowed)
    }

    fn alias(&mut self, anchor: &[u8]) -> Result<(), &'static str> {
        let role = self.role();
        self.completed();
        if role.unchecked || self.checked_anchors.contains(anchor) {
            Ok(())
        } else {
            Err("an alias of a node that was not checked")
        }
    }

    /// A document starts: its root's top-level `sops` entry is skipped.
    fn document(&mut self) {
        self.open.clear();
        self.unchecked = 0;
        self.metadata_next = false;
        self.checked_anchors.clear();
        self.document += 1;
    }
}

/// Is this scalar encrypted, or a value left in clear? (The reasons name a kind, never a value.)
fn check_scalar(s: &Scalar<'_>, allowed: &Allowed) -> Result<(), &'static str> {
    let Ok(text) = std::str::from_utf8(s.value) else {
        return Err("a string that is not UTF-8");
    };
    if allowed.has_text(text) {
        return Ok(());
    }
    if !s.plain {
        return Err("a string in clear");
    }
    // A plain scalar (or a tagged one, whose text the tag types): as YAML resolves it.
    match text {
        "~" | "null" | "Null" | "NULL" => Ok(()),
        "true" | "True" | "TRUE" => bool_ok(allowed, true),
        "false" | "False" | "FALSE" => bool_ok(allowed, false),
        _ => match yaml_number(text) {
            Some(f) if allowed.has_number(f) || allowed.texts.contains(text) => Ok(()),
            Some(_) => Err("a number in clear"),
            None => Err("a string in clear"),
        },
    }
}

fn bool_ok(allowed: &Allowed, b: bool) -> Result<(), &'static str> {
    if allowed.bools[usize::from(b)] {
        Ok(())
    } else {
        Err("a boolean in clear")
    }
}

/// The number a plain scalar is, as YAML readers take it (decimal, `0x`/`0o`/`0b` integers,
/// floats, `.inf`, `.nan`).
fn yaml_number(text: &str) -> Option<f64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    match digits {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if text == digits => return Some(f64::NAN),
        _ => {}
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            return u128::from_str_radix(rest, radix)
                .ok()
                .map(|v| sign * v as f64);
        }
    }
    // Rust's float syntax, less its words (`inf`, `nan`, `infinity`), which YAML reads as strings.
    if digits
        .bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Read `output` (UTF-8, without a byte-order mark) with libyaml and check every scalar.
pub(super) fn yaml_events_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    let parse_failure = |state: &State, e: ParseFailure| {
        fail(
            Format::Yaml,
            READER,
            format!(
                "document {}, line {} ({})",
                state.document.max(1),
                e.line,
                e.problem.chars().take(120).collect::<String>()
            ),
        )
    };
    let mut events = Events::new(output).map_err(|e| parse_failure(&State::default(), e))?;
    let mut state = State::default();
    loop {
        let step = events.next(|event| -> Result<bool, (u64, &'static str)> {
            match event {
                Event::DocumentStart => state.document(),
                Event::MappingStart { anchor } => state.open(true, anchor),
                Event::SequenceStart { anchor } => state.open(false, anchor),
                Event::CollectionEnd => state.close(),
                Event::Scalar(s) => state.scalar(&s, allowed).map_err(|r| (s.line, r))?,
                Event::Alias { anchor } => state.alias(anchor).map_err(|r| (0, r))?,
                Event::StreamEnd => return Ok(true),
                Event::DocumentEnd | Event::Other => {}
            }
            Ok(false)
        });
        match step {
            Err(e) => return Err(parse_failure(&state, e)),
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => {}
            Ok(Err((line, reason))) => {
                let at = if line > 0 {
                    format!("document {}, line {line} ({reason})", state.document)
                } else {
                    format!("document {} ({reason})", state.document)
                };
                return Err(fail(Format::Yaml, READER, at));
            }
        }
    }
}

/// Where `output` may be cut into about `pieces` pieces that libyaml can read one by one, each
/// on whichever thread is free ([`super::independent_reading_beside`]): the start of every piece
/// after the first, or `None` where the output is not cut. A piece starts at a line whose first
/// byte, at column 0, starts a key (a letter, a digit, `_`, or a quote), found at or after each
/// equal share of the output; the output's first content line (past blank lines, comments,
/// directives and a `---`) must start the same way. Such a cut is what the whole reading takes
/// for the start of another entry of the root map, as [`piece_passes`] then checks of each
/// piece. A UTF-16 output, or one with a byte-order mark, is not cut.
pub(super) fn piece_starts(output: &[u8], pieces: usize) -> Option<Vec<usize>> {
    // A stream of several documents is read whole (a piece holds one document).
    let documents = memchr::memmem::find(output, b"\n---").is_some()
        || memchr::memmem::find(output, b"\n...").is_some();
    if pieces < 2
        || documents
        || output.starts_with(b"\xEF\xBB\xBF")
        || output.starts_with(b"\xFF\xFE")
        || output.starts_with(b"\xFE\xFF")
    {
        return None;
    }
    let starts_key = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'"' | b'\'');
    // The first content line.
    let mut at = 0;
    loop {
        let line_end = memchr::memchr(b'\n', &output[at..]).map_or(output.len(), |i| at + i);
        let line = &output[at..line_end];
        let blank = line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
        let comment = line.iter().find(|b| !matches!(b, b' ' | b'\t')) == Some(&b'#');
        if !(blank || comment || line.starts_with(b"%") || line.starts_with(b"---")) {
            if !line.first().copied().is_some_and(starts_key) {
                return None;
            }
            break;
        }
        at = line_end + 1;
        if at >= output.len() {
            return None;
        }
    }
    let mut starts = Vec::with_capacity(pieces - 1);
    let mut from = at;
    for share in 1..pieces {
        let target = (output.len() / pieces * share).max(from + 1);
        let mut search = target;
        let start = loop {
            let newline = search + memchr::memchr(b'\n', output.get(search..)?)?;
            let next = newline + 1;
            if output.get(next).copied().is_some_and(starts_key) {
                break next;
            }
            search = next;
        };
        starts.push(start);
        from = start;
    }
    Some(starts)
}

/// Whether `piece` (of an output cut by [`piece_starts`]), read alone by libyaml, is one
/// document whose root is a map and whose every value passes the check that
/// [`yaml_events_reading`] makes (an alias only of a node anchored and checked in this piece).
/// Pieces that each pass are what the whole reading gives, entry after entry of one root map;
/// anything else is for the whole reading to say.
pub(super) fn piece_passes(piece: &[u8], allowed: &Allowed) -> bool {
    let Ok(mut events) = Events::new(piece) else {
        return false;
    };
    let mut state = State::default();
    let mut root_is_map = false;
    loop {
        let step = events.next(|event| -> Result<bool, ()> {
            match event {
                Event::DocumentStart if state.document > 0 => return Err(()),
                Event::DocumentStart => state.document(),
                Event::MappingStart { anchor } => {
                    root_is_map |= state.open.is_empty();
                    state.open(true, anchor);
                }
                Event::SequenceStart { .. } if state.open.is_empty() => return Err(()),
                Event::SequenceStart { anchor } => state.open(false, anchor),
                Event::CollectionEnd => state.close(),
                Event::Scalar(_) if state.open.is_empty() => return Err(()),
                Event::Scalar(s) => state.scalar(&s, allowed).map_err(|_| ())?,
                Event::Alias { anchor } => state.alias(anchor).map_err(|_| ())?,
                Event::StreamEnd => return Ok(true),
                Event::DocumentEnd | Event::Other => {}
            }
            Ok(false)
        });
        match step {
            Ok(Ok(true)) => return root_is_map && state.document == 1,
            Ok(Ok(false)) => {}
            Err(_) | Ok(Err(())) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: &str = "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]";

    fn allowed(texts: &[&str]) -> Allowed {
        super::super::allowed_texts(texts)
    }

    fn read(text: &str, clear: &[&str]) -> Result<(), Unaccounted> {
        yaml_events_reading(text.as_bytes(), &allowed(clear))
    }

    #[test]
    fn only_the_top_level_sops_entry_is_skipped() {
        let meta = "sops:\n    mac: x\n    age:\n        - enc: |\n            -----BEGIN AGE\n";
        assert!(read(&format!("a: {ENC}\n{meta}"), &[]).is_ok());
        // Keys are never checked; a nested `sops` key is data like any other.
        assert!(read(&format!("secret-key: {ENC}\n"), &[]).is_ok());
        let nested = format!("a:\n    sops:\n        mac: x\n{meta}");
        let e = read(&nested, &[]).unwrap_err();
        assert!(e.place.contains("document 1, line 3"), "{e}");
        // A root that is a list, or a scalar, is checked whole.
        assert!(read(&format!("- {ENC}\n- x\n"), &[]).is_err());
        assert!(read(&format!("- {ENC}\n- x\n"), &["x"]).is_ok());
        assert!(read("just text\n", &[]).is_err());
    }

    #[test]
    fn an_alias_repeats_only_checked_nodes() {
        assert!(read(&format!("a: &x {ENC}\nb: *x\n"), &[]).is_ok());
        assert!(read(&format!("a: &m\n    k: {ENC}\nb:\n    <<: *m\n"), &[]).is_ok());
        // An anchor inside the metadata, repeated among the values, is refused.
        let e = read("sops:\n    mac: &m x\na: *m\n", &[]).unwrap_err();
        assert!(e.place.contains("alias"), "{e}");
        // So is one on a key.
        assert!(read(&format!("&k key: {ENC}\nb: *k\n"), &[]).is_err());
    }

    #[test]
    fn scalars_are_typed_as_yaml_reads_them() {
        for null in ["~", "null", "NULL", ""] {
            assert!(read(&format!("a: {null}\n"), &[]).is_ok(), "{null}");
        }
        assert!(read("a: true\n", &[]).is_err());
        assert!(read("a: 0x1F\n", &[]).is_err());
        assert!(read("a: 'null'\n", &[]).is_err());
        assert!(read("a: 'x'\n", &["x"]).is_ok());
        assert!(read("a: !tag x\n", &[]).is_err());
        // A number left in clear is found by its value, whatever its spelling.
        let mut a = allowed(&[]);
        a.number(31.0);
        assert!(yaml_events_reading(b"a: 0x1F\nb: 31.0\n", &a).is_ok());
        // Never the value in the message.
        let e = read("a: hunter2\n", &[]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.place.contains("a string in clear"), "{e}");
    }

    /// A root map of `n` entries, each a map of two encrypted values, then the metadata.
    fn entries(n: usize) -> String {
        let mut text = String::from("# a comment\n");
        for i in 0..n {
            text.push_str(&format!("key{i}:\n    a: {ENC}\n    'b': {ENC}\n"));
        }
        text + "sops:\n    mac: x\n    age:\n        - enc: |\n            -----BEGIN AGE\n"
    }

    #[test]
    fn an_output_is_cut_at_root_keys_and_its_pieces_pass_as_the_whole_does() {
        let text = entries(400);
        let starts = piece_starts(text.as_bytes(), 4).unwrap();
        assert_eq!(starts.len(), 3);
        let mut from = 0;
        for &start in starts.iter().chain([&text.len()]) {
            assert!(start > from);
            let piece = &text.as_bytes()[from..start];
            assert!(piece_passes(piece, &allowed(&[])), "{from}..{start}");
            // Each piece after the first starts a root key.
            assert!(from == 0 || text.as_bytes()[from - 1] == b'\n');
            assert!(from == 0 || text.as_bytes()[from].is_ascii_alphanumeric());
            from = start;
        }
        // A value in clear fails its piece (and the whole).
        let clear = text.replacen(&format!("a: {ENC}"), "a: hunter2", 1);
        assert!(!piece_passes(
            &clear.as_bytes()[..piece_starts(clear.as_bytes(), 4).unwrap()[0]],
            &allowed(&[])
        ));
        assert!(read(&clear, &[]).is_err());
    }

    #[test]
    fn what_the_pieces_cannot_stand_for_is_read_whole() {
        let text = entries(400);
        // Several documents, a byte-order mark, a root that is not a map, too few pieces.
        assert!(piece_starts(format!("{text}---\nb: {ENC}\n").as_bytes(), 4).is_none());
        assert!(piece_starts(format!("\u{feff}{text}").as_bytes(), 4).is_none());
        assert!(piece_starts(format!("- {ENC}\n{text}").as_bytes(), 4).is_none());
        assert!(piece_starts(format!("  x: 1\n{text}").as_bytes(), 4).is_none());
        assert!(piece_starts(text.as_bytes(), 1).is_none());
        // A piece that is not one document whose root is a map does not pass.
        for piece in [
            format!("- {ENC}\n"),
            format!("a: {ENC}\n---\nb: {ENC}\n"),
            format!("{ENC}\n"),
            format!("a: \"open {ENC}\n"),
            // An alias of an anchor in another piece.
            "b: *x\n".to_string(),
        ] {
            assert!(!piece_passes(piece.as_bytes(), &allowed(&[])), "{piece}");
        }
        // A quoted value that goes on at column 0 is cut inside: its first piece fails, and the
        // whole reading (which takes the line for the value's) decides.
        let quoted = format!("{}\nz: \"a\nzz9: b\"\n", entries(10));
        let cut = quoted.find("zz9").unwrap();
        assert!(!piece_passes(&quoted.as_bytes()[..cut], &allowed(&[])));
    }

    #[test]
    fn numbers_as_yaml_reads_them() {
        assert_eq!(yaml_number("12"), Some(12.0));
        assert_eq!(yaml_number("-0x1F"), Some(-31.0));
        assert_eq!(yaml_number("0o17"), Some(15.0));
        assert_eq!(yaml_number("1e3"), Some(1000.0));
        assert_eq!(yaml_number("-.inf"), Some(f64::NEG_INFINITY));
        assert!(yaml_number(".nan").is_some_and(f64::is_nan));
        assert_eq!(yaml_number("inf"), None);
        assert_eq!(yaml_number("nan"), None);
        assert_eq!(yaml_number("abc"), None);
    }
}
