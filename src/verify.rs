//! The accounted-for check: before an encrypted file is written, read it back and prove that it
//! holds no plaintext the selection options did not leave in clear.
//!
//! Two independent readings of the output are checked:
//! 1. sepal's own (strict) store parser: every value and comment leaf is an `ENC[...]` value, or a
//!    value that the encryption left in clear on purpose (selection options, empty strings, nulls).
//! 2. a reference reader that shares no code with the store: `serde_json` for JSON (and the
//!    binary store's envelope), `serde_yaml_ng` (libyaml's grammar) for YAML, and line readers
//!    with the splitting rules of the format's other readers for INI (any of CR, LF, CRLF ends a
//!    line, as Python's configparser reads it) and dotenv. Every scalar that reader sees outside
//!    the `sops` metadata must be encrypted or one of the values left in clear.
//!
//! A failure is a bug in a store (text copied through that its parser did not understand): the
//! file is not written, and the error names the file and where, never the value.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::stores::{Changes, Format, NewLeaf, Parsed, Store};
use crate::tree::{for_each_leaf, Leaf, Scalar, Tree};

/// Output that failed the check. Never holds a value: only where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {format} output {reader} holds text that is not encrypted at {place}")]
pub struct Unaccounted {
    pub format: &'static str,
    /// Which reading found it.
    pub reader: &'static str,
    /// A path (`a.b[2]`), a line (`line 3`), or a parse failure.
    pub place: String,
}

/// The values that the encryption left in clear (so may appear in the output as they are).
#[derive(Default)]
pub struct Allowed {
    texts: HashSet<String>,
    numbers: HashSet<u64>,
    bools: [bool; 2],
    nan: bool,
    time: bool,
}

fn comment_body(s: &str) -> &str {
    s.trim_start_matches(['#', ';', ' ', '\t'])
        .trim_end_matches([' ', '\t', '\r'])
}

impl Allowed {
    /// The leaves of `tree` that `changes` leaves as they are.
    pub fn from_changes(tree: &Tree, changes: &Changes) -> Self {
        let mut a = Allowed::default();
        for d in &tree.docs {
            for_each_leaf(&d.items, &mut |l: &Leaf| {
                let changed = matches!(changes.get(l.id), Some(Some(NewLeaf::Encrypted(_))));
                if !changed {
                    a.add(l);
                }
            });
        }
        a
    }

    fn add(&mut self, l: &Leaf) {
        if let Some(t) = &l.text {
            self.texts.insert(t.to_string());
        }
        match &l.value {
            Scalar::Null => {}
            Scalar::Bool(b) => {
                self.bools[usize::from(*b)] = true;
                self.texts.insert(b.to_string());
            }
            Scalar::Int(i) => {
                self.number(*i as f64);
                self.texts.insert(i.to_string());
            }
            Scalar::Float(f) => {
                self.number(*f);
                self.texts.insert(f.to_string());
            }
            Scalar::Str(s) | Scalar::Comment(s) => {
                self.texts.insert(s.to_string());
                self.texts.insert(comment_body(s).to_string());
                if let Ok(f) = s.trim().parse::<f64>() {
                    self.number(f);
                }
            }
            Scalar::Time(s) => {
                self.time = true;
                self.texts.insert(s.to_string());
            }
            Scalar::Bytes(b) => {
                self.texts.insert(String::from_utf8_lossy(b).into_owned());
            }
        }
        if let Some(f) = l.text.as_deref().and_then(|t| t.trim().parse::<f64>().ok()) {
            self.number(f);
        }
    }

    fn number(&mut self, f: f64) {
        if f.is_nan() {
            self.nan = true;
        } else {
            self.numbers.insert(f.to_bits());
        }
    }

    fn has_number(&self, f: f64) -> bool {
        if f.is_nan() {
            self.nan
        } else {
            self.numbers.contains(&f.to_bits())
                || self.numbers.contains(&(f as f32 as f64).to_bits())
        }
    }

    fn has_text(&self, s: &str) -> bool {
        if s.is_empty() || is_encrypted(s) || self.texts.contains(s) {
            return true;
        }
        let trimmed = s.trim();
        if self.texts.contains(trimmed) || self.texts.contains(comment_body(trimmed)) {
            return true;
        }
        if self.time && looks_like_time(trimmed) {
            return true;
        }
        // A piece of a value left in clear that spans lines (INI continuations, block scalars).
        trimmed.len() >= 2
            && self
                .texts
                .iter()
                .any(|t| t.len() > trimmed.len() && t.contains(trimmed))
    }

    fn has_scalar(&self, s: &Scalar) -> bool {
        match s {
            Scalar::Null => true,
            Scalar::Bool(b) => self.bools[usize::from(*b)],
            Scalar::Int(i) => self.has_number(*i as f64) || self.has_text(&i.to_string()),
            Scalar::Float(f) => self.has_number(*f),
            Scalar::Str(t) | Scalar::Comment(t) | Scalar::Time(t) => self.has_text(t),
            Scalar::Bytes(b) => b.is_empty() || self.has_text(&String::from_utf8_lossy(b)),
        }
    }
}

fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

/// A sops-encrypted value (syntactically: the cipher checks the rest on decryption).
fn is_encrypted(s: &str) -> bool {
    let s = s.trim();
    s.starts_with("ENC[AES256_GCM,data:") && s.ends_with(']') && !s.contains('\n')
}

/// Check `output` (what `store` wrote for an encryption whose input tree and changes are given).
pub fn check_encrypted(
    store: &Store,
    output: &[u8],
    tree: &Tree,
    changes: &Changes,
) -> Result<(), Unaccounted> {
    let allowed = Allowed::from_changes(tree, changes);
    check_output(store.format, output, &allowed)
}

/// [`check_encrypted`] with the allowed values already gathered.
pub fn check_output(format: Format, output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    check_output_parsed(format, output, allowed).map(|_| ())
}

/// [`check_output`], giving back sepal's own reading of the output.
pub fn check_output_parsed(
    format: Format,
    output: &[u8],
    allowed: &Allowed,
) -> Result<Parsed, Unaccounted> {
    let parsed = own_reading(format, output, allowed)?;
    match format {
        Format::Json | Format::Binary => json_reading(output, allowed),
        Format::Yaml => yaml_reading(output, allowed),
        Format::Ini => ini_reading(output, allowed),
        Format::Dotenv => dotenv_reading(output, allowed),
    }?;
    Ok(parsed)
}

fn fail(format: Format, reader: &'static str, place: impl Into<String>) -> Unaccounted {
    Unaccounted {
        format: format.name(),
        reader,
        place: place.into(),
    }
}

/// Reading 1: the store's own parser.
fn own_reading(format: Format, output: &[u8], allowed: &Allowed) -> Result<Parsed, Unaccounted> {
    const READER: &str = "read back by sepal";
    let store = Store::new(format, Default::default());
    let parsed = store
        .parse(output)
        .map_err(|e| fail(format, READER, format!("a parse error ({e})")))?;
    if parsed.metadata.is_none() {
        return Err(fail(format, READER, "the metadata (no sops entry)"));
    }
    let mut bad: Option<String> = None;
    for (n, d) in parsed.tree.docs.iter().enumerate() {
        walk_paths(&d.items, &mut String::new(), &mut |path, leaf| {
            if bad.is_none() && !allowed.has_scalar(&leaf.value) {
                bad = Some(format!("document {}, {}", n + 1, display(path)));
            }
        });
    }
    match bad {
        Some(p) => Err(fail(format, READER, p)),
        None => Ok(parsed),
    }
}

fn display(path: &str) -> String {
    if path.is_empty() {
        "the top level".into()
    } else {
        path.to_string()
    }
}

fn walk_paths(items: &[crate::tree::Item], path: &mut String, f: &mut impl FnMut(&str, &Leaf)) {
    use crate::tree::{Item, Value};
    for (i, item) in items.iter().enumerate() {
        let len = path.len();
        match item {
            Item::Comment(l) => {
                path.push_str(if len == 0 { "(comment)" } else { " (comment)" });
                f(path, l);
            }
            Item::Pair { key, value } => {
                if len > 0 {
                    path.push('.');
                }
                path.push_str(key);
                match value {
                    Value::Leaf(l) => f(path, l),
                    Value::Map(v) | Value::List(v) => walk_paths(v, path, f),
                }
            }
            Item::Elem(value) => {
                path.push_str(&format!("[{i}]"));
                match value {
                    Value::Leaf(l) => f(path, l),
                    Value::Map(v) | Value::List(v) => walk_paths(v, path, f),
                }
            }
        }
        path.truncate(len);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading 2 for JSON and YAML: a serde visitor over the reference parser's events.

/// Visits one value; `top` is the document root, whose `sops` entry is skipped.
struct Checker<'a> {
    allowed: &'a Allowed,
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Checker<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checker<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        if self.allowed.bools[usize::from(v)] {
            Ok(())
        } else {
            Err(E::custom("a boolean in clear"))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.number(v, "")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.allowed.has_text(v) {
            Ok(())
        } else {
            Err(E::custom("a string in clear"))
        }
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.visit_str(&String::from_utf8_lossy(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Checker {
                allowed: self.allowed,
                top: false,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if self.top && key.as_deref() == Some("sops") {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Checker {
                    allowed: self.allowed,
                    top: false,
                })?;
            }
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A YAML value with a tag serde_yaml_ng does not resolve: check what it tags.
        use de::VariantAccess;
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

impl Checker<'_> {
    fn number<E: de::Error>(&self, v: f64, text: &str) -> Result<(), E> {
        if self.allowed.has_number(v) || (!text.is_empty() && self.allowed.texts.contains(text)) {
            Ok(())
        } else {
            Err(E::custom("a number in clear"))
        }
    }
}

/// A map key: its text when it is a string (keys are never encrypted, so never checked).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        use de::VariantAccess;
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(None)
    }
}

fn json_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    let mut de = serde_json::Deserializer::from_slice(output);
    let checked = Checker { allowed, top: true }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    checked.map_err(|e| {
        fail(
            Format::Json,
            "read by a JSON parser",
            format!("line {} ({})", e.line(), strip_position(&e.to_string())),
        )
    })
}

fn yaml_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    // serde_yaml_ng reads UTF-8 only: UTF-16 output (of a UTF-16 file) is read as its UTF-8 text.
    let decoded = match crate::stores::utf16::decode(output) {
        Some(Ok((utf8, _))) => Some(zeroize::Zeroizing::new(utf8)),
        Some(Err(e)) => return Err(fail(Format::Yaml, "read by a YAML parser", e.to_string())),
        None => None,
    };
    let output = decoded.as_deref().map_or(output, |v| v.as_slice());
    // serde_yaml_ng reads a leading UTF-8 byte-order mark as the start of a second document.
    let output = output.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(output);
    for (n, doc) in serde_yaml_ng::Deserializer::from_slice(output).enumerate() {
        Checker { allowed, top: true }
            .deserialize(doc)
            .map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!("document {}, line {}", n + 1, l.line()))
                    .unwrap_or_else(|| format!("document {}", n + 1));
                fail(
                    Format::Yaml,
                    "read by a YAML parser",
                    format!("{at} ({})", strip_position(&e.to_string())),
                )
            })?;
    }
    Ok(())
}

/// A parser message without its position suffix (the position is reported separately), cut to
/// the reason; the visitor's own messages never hold a value.
fn strip_position(msg: &str) -> String {
    let m = msg.split(" at line ").next().unwrap_or(msg);
    m.chars().take(120).collect()
}

/// Lines as readers that accept any of CR, LF and CRLF split them.
fn any_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

fn ini_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    const READER: &str = "read line by line as INI";
    let text = std::str::from_utf8(output)
        .map_err(|_| fail(Format::Ini, READER, "a byte that is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut in_sops = false;
    for (n, line) in any_lines(text).enumerate() {
        let t = line.trim();
        let at = || fail(Format::Ini, READER, format!("line {}", n + 1));
        if t.is_empty() {
            continue;
        }
        if t.starts_with('#') || t.starts_with(';') {
            if !in_sops && !allowed.has_text(comment_body(t)) {
                return Err(at());
            }
            continue;
        }
        if t.starts_with('[') {
            let Some(close) = t.rfind(']') else {
                return Err(at());
            };
            in_sops = &t[1..close] == "sops";
            let rest = t[close + 1..].trim();
            if !rest.is_empty()
                && (!(rest.starts_with('#') || rest.starts_with(';'))
                    || !allowed.has_text(comment_body(rest)))
            {
                return Err(at());
            }
            continue;
        }
        if in_sops {
            continue;
        }
        let value = match key_end(t) {
            Some(d) => t[d + 1..].trim(),
            None => t,
        };
        if !ini_value_ok(value, allowed) {
            return Err(at());
        }
    }
    Ok(())
}

/// Where the key of an INI key line ends (its delimiter), quoted keys skipped.
fn key_end(t: &str) -> Option<usize> {
    for q in ["\"\"\"", "\"", "`"] {
        if let Some(rest) = t.strip_prefix(q) {
            let close = rest.find(q)? + q.len();
            return t[close + q.len()..]
                .find(['=', ':'])
                .map(|p| p + close + q.len());
        }
    }
    t.find(['=', ':'])
}

fn ini_value_ok(value: &str, allowed: &Allowed) -> bool {
    if allowed.has_text(value) {
        return true;
    }
    let quoted = ["\"\"\"", "`", "\"", "'"].iter().any(|q| {
        value
            .strip_prefix(q)
            .and_then(|v| v.strip_suffix(q))
            .is_some_and(|u| allowed.has_text(u))
    });
    if quoted {
        return true;
    }
    // A value with an inline comment: both parts must be accounted for.
    match value.find(['#', ';']) {
        Some(i) if i > 0 => {
            let (v, c) = value.split_at(i);
            ini_value_ok(v.trim(), allowed) && allowed.has_text(comment_body(c))
        }
        _ => false,
    }
}

fn dotenv_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    const READER: &str = "read line by line as dotenv";
    let text = std::str::from_utf8(output)
        .map_err(|_| fail(Format::Dotenv, READER, "a byte that is not UTF-8"))?;
    for (n, line) in text.split('\n').enumerate() {
        let at = || fail(Format::Dotenv, READER, format!("line {}", n + 1));
        let t = line.trim_matches([' ', '\t', '\r']);
        if t.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            if !allowed.has_text(c) && !allowed.has_text(c.trim_end_matches('\r')) {
                return Err(at());
            }
            continue;
        }
        let Some(eq) = line.find('=') else {
            return Err(at());
        };
        if line.starts_with("sops_") {
            continue;
        }
        let value = &line[eq + 1..];
        let value = value.replace("\\n", "\n");
        if !allowed.has_text(&value) && !allowed.has_text(value.trim_end_matches('\r')) {
            return Err(at());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{secret, Doc, Item, Value};

    const ENC: &str = "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]";

    fn allowed(texts: &[&str]) -> Allowed {
        let items = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Item::pair(
                    format!("k{i}"),
                    Value::Leaf(Leaf::new(i, Scalar::Str(secret(*t)))),
                )
            })
            .collect();
        let tree = Tree {
            docs: vec![Doc { items }],
        };
        Allowed::from_changes(&tree, &vec![None; texts.len()])
    }

    fn meta_json() -> String {
        r#""sops": {"mac": "x", "lastmodified": "2020-01-01T00:00:00Z", "version": "3.11.0", "age": [{"recipient": "age1x", "enc": "y"}]}"#.into()
    }

    #[test]
    fn json_trailing_object_is_refused() {
        let ok = format!("{{\"a\": \"{ENC}\", {}}}\n", meta_json());
        assert!(json_reading(ok.as_bytes(), &allowed(&[])).is_ok());
        let bad = format!("{ok}{{\"password\": \"hunter2\"}}\n");
        assert!(json_reading(bad.as_bytes(), &allowed(&[])).is_err());
        let clear = format!("{{\"a\": \"hunter2\", {}}}\n", meta_json());
        assert!(json_reading(clear.as_bytes(), &allowed(&[])).is_err());
        assert!(json_reading(clear.as_bytes(), &allowed(&["hunter2"])).is_ok());
    }

    #[test]
    fn yaml_values_in_clear_are_found_in_every_document() {
        let doc = format!("a: {ENC}\nsops:\n    mac: x\n");
        assert!(yaml_reading(doc.as_bytes(), &allowed(&[])).is_ok());
        let two = format!("{doc}---\nb: secret\n");
        let e = yaml_reading(two.as_bytes(), &allowed(&[])).unwrap_err();
        assert!(e.place.contains("document 2"), "{e}");
        assert!(!e.to_string().contains("secret"));
        assert!(yaml_reading(b"a: !custom secret\n", &allowed(&[])).is_err());
        assert!(yaml_reading(b"a: 1234\n", &allowed(&[])).is_err());
        let bom = format!("\u{feff}a: {ENC}\nsops:\n    mac: x\n");
        assert!(yaml_reading(bom.as_bytes(), &allowed(&[])).is_ok());
    }

    #[test]
    fn ini_lines_split_on_lone_cr() {
        let ok = format!("[api]\nurl = {ENC}\n\n[sops]\nmac = x\n");
        assert!(ini_reading(ok.as_bytes(), &allowed(&[])).is_ok());
        let bad = format!("[api]\rurl = https://evil.example\nx = {ENC}\n");
        assert!(ini_reading(bad.as_bytes(), &allowed(&[])).is_err());
        let after_header = format!("[db] password = hunter2\nuser = {ENC}\n");
        assert!(ini_reading(after_header.as_bytes(), &allowed(&[])).is_err());
        let comment =
            format!("[db]\n; {ENC}\nuser = {ENC} ; {ENC}\nq = \"\"\"{ENC}\"\"\" ; {ENC}\n");
        assert!(ini_reading(comment.as_bytes(), &allowed(&[])).is_ok());
    }

    #[test]
    fn dotenv_lines() {
        let ok = format!("A={ENC}\n#{ENC}\n\nsops_mac=x\n");
        assert!(dotenv_reading(ok.as_bytes(), &allowed(&[])).is_ok());
        assert!(dotenv_reading(b"A=secret\n", &allowed(&[])).is_err());
        assert!(dotenv_reading(b"#note\n", &allowed(&[])).is_err());
        assert!(dotenv_reading(b"#note\n", &allowed(&["note"])).is_ok());
        assert!(dotenv_reading(b"garbage\n", &allowed(&[])).is_err());
    }
}
