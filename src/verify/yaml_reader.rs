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
