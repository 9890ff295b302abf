//! JSON store: a span-tracking JSON scanner (lossless splicing) and a sops-exact emitter
//! (Go `json.Marshal` + `json.Indent`).
//!
//! Only blanks may follow the top-level object: anything else is an error (sops's encoder silently
//! drops it on encryption and fails on decryption; copying it through would leave it in clear).

use zeroize::Zeroizing;

use super::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::gotext::float_json;
use crate::tree::{secret, Item, Leaf, Scalar, Tree, Value};

pub(crate) mod edit;
#[cfg(test)]
pub(crate) mod testutil;

/// Maximum nesting depth accepted by the scanner (keeps recursion bounded on hostile input).
const MAX_DEPTH: usize = 256;

const PARSE_PREFIX: &str = "Could not unmarshal input data: ";

/// Where things are in a parsed JSON file.
pub struct Layout {
    src: Zeroizing<Vec<u8>>,
    /// Byte range of every leaf's token, by leaf id.
    spans: Vec<(usize, usize)>,
    /// Position of the top-level `{`.
    open: usize,
    /// Top-level members in file order.
    members: Vec<Member>,
    /// Index in `members` of the `sops` entry.
    sops: Option<usize>,
    /// End of the top-level object (just after its `}`).
    end: usize,
}

#[derive(Clone, Copy, Debug)]
struct Member {
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// A replacement of `src[start..end]`.
pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: Zeroizing<Vec<u8>>,
}

/// Apply non-overlapping edits (any order) to `src`. Overlaps are refused rather than dropped,
/// so that a replacement (an encryption) can never be silently lost.
pub(crate) fn apply_edits(
    src: &[u8],
    edits: &mut [Edit],
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    edits.sort_by_key(|e| (e.start, e.end));
    // The exact size up front: no reallocation (which would leave unwiped copies behind).
    let size = edits.iter().fold(src.len(), |n, e| {
        (n + e.text.len()).saturating_sub(e.end.saturating_sub(e.start))
    });
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    let mut pos = 0;
    for e in edits.iter() {
        if e.start < pos || e.end < e.start || e.end > src.len() {
            return Err(StoreError::new(
                "internal error: overlapping edits while writing the file",
            ));
        }
        out.extend_from_slice(&src[pos..e.start]);
        out.extend_from_slice(&e.text);
        pos = e.end;
    }
    out.extend_from_slice(&src[pos..]);
    Ok(out)
}

/// The bytes out of their wrapper without copying them.
pub(crate) fn into_vec(mut z: Zeroizing<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *z)
}

/// 1-based line of byte offset `pos`.
pub(crate) fn line_of(src: &[u8], pos: usize) -> usize {
    src[..pos.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Scanner<'a> {
    src: &'a [u8],
    pos: usize,
    spans: Vec<(usize, usize)>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scanner<'a> {
    fn err(&self, msg: impl Into<String>) -> StoreError {
        StoreError::at_line(
            format!("{PARSE_PREFIX}{}", msg.into()),
            line_of(self.src, self.pos),
        )
    }

    fn unexpected(&self, context: &str) -> StoreError {
        match self.src.get(self.pos) {
            None => self.err("unexpected EOF"),
            Some(&b) => {
                let c = if b.is_ascii_graphic() {
                    format!("'{}'", b as char)
                } else {
                    format!("byte 0x{b:02x}")
                };
                self.err(format!("invalid character {c} {context}"))
            }
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.src.len() && is_ws(self.src[self.pos]) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Parse one value. `record`: assign leaf ids and remember spans (false inside `sops`).
    fn value(&mut self, depth: usize, record: bool) -> Result<Value, StoreError> {
        if depth > MAX_DEPTH {
            return Err(self.err("exceeded max depth"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Map(items));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.unexpected("looking for beginning of object key string"));
                    }
                    let (key, _, _) = self.string()?;
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return Err(self.unexpected("after object key"));
                    }
                    self.pos += 1;
                    let v = self.value(depth + 1, record)?;
                    items.push(Item::Pair {
                        key: key.to_string(),
                        value: v,
                    });
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            items.shrink_to_fit();
                            return Ok(Value::Map(items));
                        }
                        _ => return Err(self.unexpected("after object key:value pair")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                loop {
                    let v = self.value(depth + 1, record)?;
                    items.push(Item::Elem(v));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            items.shrink_to_fit();
                            return Ok(Value::List(items));
                        }
                        _ => return Err(self.unexpected("after array element")),
                    }
                }
            }
            Some(_) => {
                let (scalar, text, start, end) = self.scalar()?;
                let id = if record {
                    self.spans.push((start, end));
                    self.spans.len() - 1
                } else {
                    usize::MAX
                };
                Ok(Value::Leaf(Leaf {
                    id,
                    value: scalar,
                    text,
                    shadowed: false,
                }))
            }
            None => Err(self.err("unexpected end of JSON input")),
        }
    }

    #[allow(clippy::type_complexity)]
    fn scalar(
        &mut self,
    ) -> Result<(Scalar, Option<crate::tree::Secret>, usize, usize), StoreError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                let (s, a, b) = self.string()?;
                Ok((Scalar::Str(s), None, a, b))
            }
            Some(b't') | Some(b'f') | Some(b'n') => {
                for (word, val) in [
                    (&b"true"[..], Some(Scalar::Bool(true))),
                    (&b"false"[..], Some(Scalar::Bool(false))),
                    (&b"null"[..], None),
                ] {
                    if self.src[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        return Ok(match val {
                            Some(v) => (
                                v,
                                Some(secret(String::from_utf8_lossy(word))),
                                start,
                                self.pos,
                            ),
                            None => (Scalar::Null, None, start, self.pos),
                        });
                    }
                }
                Err(self.unexpected("in literal"))
            }
            Some(b'-') | Some(b'0'..=b'9') => {
                let end = number_end(self.src, self.pos)
                    .ok_or_else(|| self.unexpected("in numeric literal"))?;
                // The number grammar is ASCII only.
                let text = String::from_utf8_lossy(&self.src[start..end]).into_owned();
                self.pos = end;
                let integral = !text.contains(['.', 'e', 'E']);
                let scalar = match text.parse::<i64>() {
                    Ok(i) if integral => Scalar::Int(i),
                    _ => match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => Scalar::Float(f),
                        _ => {
                            self.pos = start;
                            return Err(self.err("number out of range for float64"));
                        }
                    },
                };
                Ok((scalar, Some(secret(text)), start, end))
            }
            _ => Err(self.unexpected("looking for beginning of value")),
        }
    }

    /// Parse a string token at `pos` (which is `"`): decoded text and the token's byte range.
    fn string(&mut self) -> Result<(crate::tree::Secret, usize, usize), StoreError> {
        let start = self.pos;
        self.pos += 1;
        let mut out: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unexpected end of JSON input"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unexpected end of JSON input"));
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.src[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                                } else {
                                    self.pos = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.unexpected("in string escape code"));
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.unexpected("in string literal")),
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        let s = match std::str::from_utf8(&out) {
            Ok(s) => secret(s),
            Err(_) => secret(String::from_utf8_lossy(&out).into_owned()),
        };
        Ok((s, start, self.pos))
    }

    fn hex4(&mut self) -> Result<u32, StoreError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.unexpected("in \\u hexadecimal character escape"))?;
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }
}

/// End of a JSON number starting at `pos`, if the grammar matches.
fn number_end(src: &[u8], mut pos: usize) -> Option<usize> {
    let digit = |p: usize| src.get(p).is_some_and(|b| b.is_ascii_digit());
    if src.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match src.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => {
            while digit(pos) {
                pos += 1;
            }
        }
        _ => return None,
    }
    if src.get(pos) == Some(&b'.') {
        pos += 1;
        if !digit(pos) {
            return None;
        }
        while digit(pos) {
            pos += 1;
        }
    }
    if matches!(src.get(pos), Some(b'e') | Some(b'E')) {
        pos += 1;
        if matches!(src.get(pos), Some(b'+') | Some(b'-')) {
            pos += 1;
        }
        if !digit(pos) {
            return None;
        }
        while digit(pos) {
            pos += 1;
        }
    }
    Some(pos)
}

/// Is `text` exactly a JSON number?
fn is_json_number(text: &str) -> bool {
    number_end(text.as_bytes(), 0) == Some(text.len())
}

/// Parsed top-level object, shared with the binary store.
pub(crate) struct Top {
    pub items: Vec<Item>,
    pub metadata: Option<Value>,
    pub layout: Layout,
}

pub(crate) fn parse_top(src: &[u8]) -> Result<Top, StoreError> {
    let mut top = parse_top_borrowed(src)?;
    top.layout.src = Zeroizing::new(src.to_vec());
    Ok(top)
}

/// [`parse_top`] with the layout's copy of the source left empty (the caller fills it).
fn parse_top_borrowed(src: &[u8]) -> Result<Top, StoreError> {
    let mut sc = Scanner {
        src,
        pos: 0,
        spans: Vec::new(),
    };
    sc.skip_ws();
    match sc.peek() {
        Some(b'{') => {}
        Some(b'[') => {
            return Err(sc.err(
                "SOPS only supports JSON files with a top-level object (starting with '{'), not arrays or other types. \
                 Got delimiter [ instead. To encrypt this file, wrap it in an object, e.g., {\"data\": [...]}",
            ))
        }
        None => return Err(StoreError::new(format!("{PARSE_PREFIX}EOF"))),
        Some(_) => {
            let start = sc.pos;
            let v = sc.scalar()?;
            let desc = match v.0 {
                Scalar::Null => "<nil> of type <nil>".to_string(),
                Scalar::Bool(b) => format!("{b} of type bool"),
                Scalar::Int(i) => format!("{i} of type int"),
                Scalar::Float(_) => format!(
                    "{} of type float64",
                    v.1.as_ref().map(|t| t.as_str()).unwrap_or("")
                ),
                _ => "a value of type string".to_string(),
            };
            sc.pos = start;
            return Err(sc.err(format!(
                "SOPS only supports JSON files with a top-level object (starting with '{{'), not other JSON types. Got {desc} instead"
            )));
        }
    }
    let open = sc.pos;
    sc.pos += 1;
    let mut items = Vec::new();
    let mut members = Vec::new();
    let mut metadata = None;
    let mut sops = None;
    sc.skip_ws();
    if sc.peek() == Some(b'}') {
        sc.pos += 1;
    } else {
        loop {
            sc.skip_ws();
            if sc.peek() != Some(b'"') {
                return Err(sc.unexpected("looking for beginning of object key string"));
            }
            let key_start = sc.pos;
            let (key, _, _) = sc.string()?;
            sc.skip_ws();
            if sc.peek() != Some(b':') {
                return Err(sc.unexpected("after object key"));
            }
            sc.pos += 1;
            sc.skip_ws();
            let value_start = sc.pos;
            let is_meta = sops.is_none() && key.as_str() == "sops";
            let v = sc.value(1, !is_meta)?;
            members.push(Member {
                key_start,
                value_start,
                value_end: sc.pos,
            });
            if is_meta {
                sops = Some(members.len() - 1);
                metadata = Some(v);
            } else {
                items.push(Item::Pair {
                    key: key.to_string(),
                    value: v,
                });
            }
            sc.skip_ws();
            match sc.peek() {
                Some(b',') => sc.pos += 1,
                Some(b'}') => {
                    sc.pos += 1;
                    break;
                }
                _ => return Err(sc.unexpected("after object key:value pair")),
            }
        }
    }
    let end = sc.pos;
    // Only blanks may follow: text after the object is something no JSON reader accepts (sops
    // exits 1 on it), and copying it through would put it in the output unencrypted.
    sc.skip_ws();
    if sc.pos < src.len() {
        return Err(sc.unexpected("after top-level value"));
    }
    let layout = Layout {
        src: Zeroizing::new(Vec::new()),
        spans: sc.spans,
        open,
        members,
        sops,
        end,
    };
    Ok(Top {
        items,
        metadata,
        layout,
    })
}

pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    parse_owned(Zeroizing::new(src.to_vec()))
}

/// [`parse`] keeping `src` itself as the layout's copy (no second copy of a large file).
pub fn parse_owned(src: Zeroizing<Vec<u8>>) -> Result<Parsed, StoreError> {
    let mut top = parse_top_borrowed(&src)?;
    top.layout.src = src;
    Ok(Parsed {
        tree: Tree {
            docs: vec![crate::tree::Doc { items: top.items }],
        },
        metadata: top.metadata,
        encoding: Default::default(),
        layout: super::Layout::Json(top.layout),
    })
}

/// Minimal JSON string escaping for spliced values (keeps `<>&` and non-ASCII raw).
fn push_min_escaped(out: &mut Vec<u8>, s: &str) {
    push_escaped(out, s, false);
}

/// Go `json.Marshal` string escaping (HTML-safe).
fn push_go_escaped(out: &mut Vec<u8>, s: &str) {
    push_escaped(out, s, true);
}

/// A JSON string: quotes, backslashes and control characters escaped; with `html`, also `<`, `>`,
/// `&`, U+2028 and U+2029, as Go does.
fn push_escaped(out: &mut Vec<u8>, s: &str, html: bool) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The text of a plaintext leaf as a JSON token (lossless where the original spelling allows).
fn plain_token(value: &Scalar, text: &str) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut out = Zeroizing::new(Vec::new());
    match value {
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Scalar::Int(i) => {
            if is_json_number(text) && text.parse::<i64>().ok() == Some(*i) {
                out.extend_from_slice(text.as_bytes());
            } else {
                out.extend_from_slice(i.to_string().as_bytes());
            }
        }
        Scalar::Float(f) => {
            if !f.is_finite() {
                return Err(StoreError::new(
                    "json: unsupported value: a non-finite float",
                ));
            }
            if is_json_number(text) && text.parse::<f64>().ok() == Some(*f) {
                out.extend_from_slice(text.as_bytes());
            } else {
                out.extend_from_slice(float_json(*f).as_bytes());
            }
        }
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => push_min_escaped(&mut out, s),
        Scalar::Bytes(b) => push_min_escaped(&mut out, &String::from_utf8_lossy(b)),
    }
    Ok(out)
}

/// Indentation unit of a JSON output: `-1` (or unset) = tab, `N` = N spaces.
pub(crate) fn indent_unit(indent: Option<i64>) -> Result<String, StoreError> {
    match indent {
        None | Some(-1) => Ok("\t".to_string()),
        Some(n) if n >= 0 => Ok(" ".repeat(n.min(1 << 16) as usize)),
        Some(_) => Err(StoreError::new(
            "JSON Indentation parameter smaller than -1 is not accepted",
        )),
    }
}

/// Pretty JSON writer reproducing Go `json.Marshal` + `json.Indent` (comments skipped).
pub(crate) struct Pretty<'a> {
    pub unit: &'a str,
    pub nl: &'a str,
}

impl Pretty<'_> {
    fn indent(&self, out: &mut Vec<u8>, level: usize) {
        out.extend_from_slice(self.nl.as_bytes());
        for _ in 0..level {
            out.extend_from_slice(self.unit.as_bytes());
        }
    }

    pub fn value(&self, out: &mut Vec<u8>, v: &Value, level: usize) -> Result<(), StoreError> {
        match v {
            Value::Leaf(l) => self.scalar(out, &l.value),
            Value::Map(items) => {
                let pairs: Vec<(&String, &Value)> = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Pair { key, value } => Some((key, value)),
                        _ => None,
                    })
                    .collect();
                self.map(out, &pairs, level)
            }
            Value::List(items) => {
                let elems: Vec<&Value> = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Elem(Value::Leaf(Leaf {
                            value: Scalar::Comment(_),
                            ..
                        })) => None,
                        Item::Elem(v) => Some(v),
                        _ => None,
                    })
                    .collect();
                if elems.is_empty() {
                    out.extend_from_slice(b"[]");
                    return Ok(());
                }
                out.push(b'[');
                for (n, e) in elems.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    self.indent(out, level + 1);
                    self.value(out, e, level + 1)?;
                }
                self.indent(out, level);
                out.push(b']');
                Ok(())
            }
        }
    }

    pub fn map(
        &self,
        out: &mut Vec<u8>,
        pairs: &[(&String, &Value)],
        level: usize,
    ) -> Result<(), StoreError> {
        if pairs.is_empty() {
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        out.push(b'{');
        for (n, (k, v)) in pairs.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.indent(out, level + 1);
            push_go_escaped(out, k);
            out.extend_from_slice(b": ");
            self.value(out, v, level + 1)?;
        }
        self.indent(out, level);
        out.push(b'}');
        Ok(())
    }

    fn scalar(&self, out: &mut Vec<u8>, s: &Scalar) -> Result<(), StoreError> {
        match s {
            Scalar::Null => out.extend_from_slice(b"null"),
            Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Scalar::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Scalar::Float(f) => {
                if !f.is_finite() {
                    let v = if f.is_nan() {
                        "NaN"
                    } else if *f > 0.0 {
                        "+Inf"
                    } else {
                        "-Inf"
                    };
                    return Err(StoreError::new(format!("json: unsupported value: {v}")));
                }
                out.extend_from_slice(float_json(*f).as_bytes())
            }
            Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => push_go_escaped(out, s),
            Scalar::Bytes(b) => push_go_escaped(out, &String::from_utf8_lossy(b)),
        }
        Ok(())
    }
}

/// Detect the file's top-level indentation: the blank run before the first member's key.
fn detect_indent(layout: &Layout) -> Option<String> {
    let first = layout.members.first()?;
    let before = &layout.src[layout.open + 1..first.key_start];
    let nl = before.iter().rposition(|&b| b == b'\n')?;
    let run = &before[nl + 1..];
    if run.iter().all(|&b| b == b' ' || b == b'\t') {
        Some(String::from_utf8_lossy(run).into_owned())
    } else {
        None
    }
}

fn uses_crlf(src: &[u8]) -> bool {
    src.iter()
        .position(|&b| b == b'\n')
        .is_some_and(|p| p > 0 && src[p - 1] == b'\r')
}

/// Leaf-replacement edits for `changes`.
pub(crate) fn leaf_edits(layout: &Layout, changes: &Changes) -> Result<Vec<Edit>, StoreError> {
    let mut edits = Vec::new();
    for (id, change) in changes.iter().enumerate() {
        let (Some(change), Some(&(start, end))) = (change, layout.spans.get(id)) else {
            continue;
        };
        let text = match change {
            NewLeaf::Encrypted(enc) => {
                let mut t = Zeroizing::new(Vec::new());
                push_min_escaped(&mut t, enc);
                t
            }
            NewLeaf::Plain { value, text } => plain_token(value, text)?,
        };
        edits.push(Edit { start, end, text });
    }
    Ok(edits)
}

pub fn splice(
    layout: &Layout,
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let mut edits = leaf_edits(layout, changes)?;
    let src = &layout.src[..];
    let nl = if uses_crlf(src) { "\r\n" } else { "\n" };
    match (metadata, layout.sops) {
        (Some(meta), existing) => {
            let unit = match options.indent {
                Some(_) => indent_unit(options.indent)?,
                None => detect_indent(layout).unwrap_or_else(|| "\t".to_string()),
            };
            let pretty = Pretty { unit: &unit, nl };
            let mut block = Zeroizing::new(Vec::new());
            if let Some(k) = existing {
                pretty.value(&mut block, meta, 1)?;
                let m = layout.members[k];
                edits.push(Edit {
                    start: m.value_start,
                    end: m.value_end,
                    text: block,
                });
            } else if let Some(last) = layout.members.last() {
                block.push(b',');
                pretty.indent(&mut block, 1);
                block.extend_from_slice(b"\"sops\": ");
                pretty.value(&mut block, meta, 1)?;
                edits.push(Edit {
                    start: last.value_end,
                    end: last.value_end,
                    text: block,
                });
            } else {
                pretty.indent(&mut block, 1);
                block.extend_from_slice(b"\"sops\": ");
                pretty.value(&mut block, meta, 1)?;
                block.extend_from_slice(nl.as_bytes());
                edits.push(Edit {
                    start: layout.open + 1,
                    end: layout.open + 1,
                    text: block,
                });
            }
        }
        (None, Some(k)) => {
            let m = layout.members[k];
            let (start, end) = if k + 1 < layout.members.len() {
                (m.key_start, layout.members[k + 1].key_start)
            } else if k > 0 {
                (layout.members[k - 1].value_end, m.value_end)
            } else {
                // The only member: remove it and the line break that follows it.
                let mut end = m.value_end;
                if src[end..].starts_with(b"\r\n") {
                    end += 2;
                } else if src[end..].starts_with(b"\n") {
                    end += 1;
                }
                (layout.open + 1, end)
            };
            edits.push(Edit {
                start,
                end,
                text: Zeroizing::new(Vec::new()),
            });
        }
        (None, None) => {}
    }
    let _ = layout.end;
    Ok(into_vec(apply_edits(src, &mut edits)?))
}

/// Write a whole document as sops does.
pub(crate) fn emit_items(
    items: &[Item],
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let unit = indent_unit(options.indent)?;
    let pretty = Pretty {
        unit: &unit,
        nl: "\n",
    };
    let sops_key = "sops".to_string();
    let mut pairs: Vec<(&String, &Value)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Pair { key, value } => Some((key, value)),
            _ => None,
        })
        .collect();
    if let Some(m) = metadata {
        pairs.push((&sops_key, m));
    }
    let mut out = Vec::new();
    pretty.map(&mut out, &pairs, 0)?;
    out.push(b'\n');
    Ok(out)
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let empty = Vec::new();
    let items = tree.docs.first().map(|d| &d.items).unwrap_or(&empty);
    emit_items(items, metadata, options)
}

pub fn emit_value(value: &Value, options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let unit = indent_unit(options.indent)?;
    let pretty = Pretty {
        unit: &unit,
        nl: "\n",
    };
    let mut out = Vec::new();
    pretty.value(&mut out, value, 0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn parse_ok(src: &str) -> Parsed {
        parse(src.as_bytes()).unwrap()
    }

    #[test]
    fn shapes_and_ids() {
        let p = parse_ok(
            r#"{"a": 1, "b": [true, null, 2.50, "x"], "c": {"d": 1e3, "e": 12345678901234567890123}}"#,
        );
        let leaves = collect(&p.tree);
        let vals: Vec<_> = leaves
            .iter()
            .map(|l| {
                (
                    l.id,
                    l.value.clone(),
                    l.text.as_ref().map(|t| t.to_string()),
                )
            })
            .collect();
        assert_eq!(vals[0], (0, Scalar::Int(1), Some("1".into())));
        assert_eq!(vals[1], (1, Scalar::Bool(true), Some("true".into())));
        assert_eq!(vals[2], (2, Scalar::Null, None));
        assert_eq!(vals[3], (3, Scalar::Float(2.5), Some("2.50".into())));
        assert_eq!(vals[4], (4, Scalar::Str(secret("x")), None));
        assert_eq!(vals[5], (5, Scalar::Float(1000.0), Some("1e3".into())));
        assert!(matches!(vals[6].1, Scalar::Float(_)));
        assert!(p.metadata.is_none());
    }

    #[test]
    fn errors() {
        let e = parse(b"[1]").err().unwrap();
        assert!(e.message.contains("not arrays or other types"));
        let e = parse(b"\"secret\"").err().unwrap();
        assert!(!e.message.contains("secret\""));
        for bad in [
            "{",
            "{\"a\"",
            "{\"a\":}",
            "{\"a\":01}",
            "{\"a\":\"\\x\"}",
            "",
            "{\"a\":1,}",
            "{\"a\":-}",
            "{\"a\":1e999}",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = "[".repeat(5000);
        assert!(parse(format!("{{\"a\":{deep}").as_bytes()).is_err());
    }

    #[test]
    fn duplicates_kept() {
        let p = parse_ok(r#"{"a": 1, "a": 2}"#);
        assert_eq!(p.tree.docs[0].items.len(), 2);
    }

    const INPUTS: &[&str] = &[
        "{\n\t\"a\": \"b\",\n\t\"n\": 2.50,\n\t\"big\": 12345678901234567890123,\n\t\"e\": 1e3,\n\t\"t\": true,\n\t\"z\": null,\n\t\"empty\": \"\",\n\t\"nested\": {\"x\": [1, \"two\", {\"y\": \"\u{e9}\u{1F600} <&> \\\"q\\\" \\\\ \\n \\t\"}], \"o\": {}, \"l\": []}\n}\n",
        "{\r\n    \"a\": \"b\",\r\n    \"c\": -0\r\n}",
        "{\"compact\":\"yes\",\"n\":-12}",
        "{}",
        "{ }\n",
        "  {\n  \"a\": 1\n  }  \n\n",
        "{\n\"noindent\": \"x\"\n}\n",
    ];

    #[test]
    fn round_trips() {
        for src in INPUTS {
            round_trip(src, parse, |p, c, m| {
                splice(layout(p), p, c, m, &StoreOptions::default())
            });
        }
    }

    fn layout(p: &Parsed) -> &Layout {
        match &p.layout {
            super::super::Layout::Json(l) => l,
            _ => unreachable!(),
        }
    }

    #[test]
    fn metadata_placement() {
        let src = "{\n    \"a\": \"b\"\n}\n";
        let p = parse_ok(src);
        let meta = sample_metadata();
        let out = splice(
            layout(&p),
            &p,
            &[None],
            Some(&meta),
            &StoreOptions::default(),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(
                "{\n    \"a\": \"b\",\n    \"sops\": {\n        \"age\": [\n            {\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with("\"version\": \"3.11.0\"\n    }\n}\n"),
            "{out}"
        );
    }

    #[test]
    fn plain_rendering() {
        let t =
            |v: Scalar, s: &str| String::from_utf8(plain_token(&v, s).unwrap().to_vec()).unwrap();
        assert_eq!(t(Scalar::Float(2.5), "2.50"), "2.50");
        assert_eq!(t(Scalar::Float(2.5), "2.5000001"), "2.5");
        assert_eq!(t(Scalar::Float(1e300), "x"), "1e+300");
        assert_eq!(t(Scalar::Int(3), "3"), "3");
        assert_eq!(t(Scalar::Int(3), "3.0"), "3");
        assert_eq!(t(Scalar::Bool(true), "True"), "true");
        assert_eq!(
            t(Scalar::Str(secret("a\"<\u{1}\u{8}")), ""),
            "\"a\\\"<\\u0001\\b\""
        );
    }

    #[test]
    fn emit_like_go() {
        let p = parse_ok(
            r#"{"a": "<x>", "n": 1.0, "f": 0.00000025, "l": [], "m": {}, "k": [1, {"z": null}]}"#,
        );
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\t\"a\": \"\\u003cx\\u003e\",\n\t\"n\": 1,\n\t\"f\": 2.5e-7,\n\t\"l\": [],\n\t\"m\": {},\n\t\"k\": [\n\t\t1,\n\t\t{\n\t\t\t\"z\": null\n\t\t}\n\t]\n}\n"
        );
        let v = emit_value(
            &p.tree.docs[0]
                .items
                .iter()
                .find_map(|i| match i {
                    Item::Pair { key, value } if key == "k" => Some(value.clone()),
                    _ => None,
                })
                .unwrap(),
            &StoreOptions { indent: Some(2) },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "[\n  1,\n  {\n    \"z\": null\n  }\n]"
        );
    }

    // Output of `sops decrypt` (3.11) for SOPS_IN encrypted by sops.
    const SOPS_IN: &str = "{\"a\": \"<x> & \\u0001 \\b \\f \\u2028 \u{e9}\", \"n\": 1.0, \"f\": 0.00000025, \"big\": 1e21, \"i\": 12345678901234567890, \"l\": [], \"m\": {}, \"k\": [1, {\"z\": null}], \"t\": true}";
    const SOPS_OUT: &str = "{\n\t\"a\": \"\\u003cx\\u003e \\u0026 \\u0001 \\b \\f \\u2028 \u{e9}\",\n\t\"n\": 1,\n\t\"f\": 2.5e-7,\n\t\"big\": 1e+21,\n\t\"i\": 12345678901234567000,\n\t\"l\": [],\n\t\"m\": {},\n\t\"k\": [\n\t\t1,\n\t\t{\n\t\t\t\"z\": null\n\t\t}\n\t],\n\t\"t\": true\n}\n";

    #[test]
    fn emit_matches_sops() {
        let p = parse_ok(SOPS_IN);
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), SOPS_OUT);
    }
}
