//! Go's `encoding/json` output, byte for byte (`json.Marshal`, then `json.Indent`): the JSON store
//! lays files out with it, and INI's `emit_value` prints with it (sops marshals INI values to JSON).

use super::StoreError;
use crate::gotext::float_json;
use crate::tree::{Item, Leaf, Scalar, Value};

/// A JSON string as Go's `json.Marshal` writes it (HTML-safe escaping).
pub(crate) fn push_go_string(out: &mut Vec<u8>, s: &str) {
    push_json_string(out, s, true);
}

/// A JSON string with the minimal escaping (`<>&` and non-ASCII kept raw).
pub(crate) fn push_minimal_string(out: &mut Vec<u8>, s: &str) {
    push_json_string(out, s, false);
}

/// The length of what [`push_minimal_string`] writes for `s` (so that an output can be allocated
/// once at its exact size).
pub(crate) fn minimal_string_len(s: &str) -> usize {
    let mut n = 0;
    write_json_string(&mut |piece: &[u8]| n += piece.len(), s, false);
    n
}

/// A JSON string: quotes, backslashes and control characters escaped; with `html_safe`, also `<`,
/// `>`, `&`, U+2028 and U+2029, as Go does.
fn push_json_string(out: &mut Vec<u8>, s: &str, html_safe: bool) {
    out.reserve(s.len() + 2);
    write_json_string(
        &mut |piece: &[u8]| out.extend_from_slice(piece),
        s,
        html_safe,
    );
}

/// Which bytes start something that may need an escape: control characters, `"` and `\`; for
/// the HTML-safe form also `<`, `>`, `&` and 0xE2 (the first byte of U+2028 and U+2029).
const fn attention_table(html_safe: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    if html_safe {
        table[b'<' as usize] = true;
        table[b'>' as usize] = true;
        table[b'&' as usize] = true;
        table[0xE2] = true;
    }
    table
}

static MINIMAL_ATTENTION: [bool; 256] = attention_table(false);
static HTML_ATTENTION: [bool; 256] = attention_table(true);

/// Does `b` need the attention of [`write_json_string`]'s minimal form? (As the table says,
/// without a look-up or a branch, so that a loop over bytes becomes vector compares.)
fn minimal_attention(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// [`minimal_attention`] for the HTML-safe form.
fn html_attention(b: u8) -> bool {
    minimal_attention(b) | (b == b'<') | (b == b'>') | (b == b'&') | (b == 0xE2)
}

/// Is no byte of `bytes` one that needs attention?
fn is_clean(bytes: &[u8], html_safe: bool) -> bool {
    if html_safe {
        none_of(bytes, html_attention)
    } else {
        none_of(bytes, minimal_attention)
    }
}

/// Is `test` false for every byte? Sixteen bytes at a time, without a branch per byte.
fn none_of(bytes: &[u8], test: impl Fn(u8) -> bool + Copy) -> bool {
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |any, &b| any | test(b)) {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| test(b))
}

/// Hands the pieces of the quoted string to `sink`: runs that need no escape in one piece each
/// (an `ENC[...]` value is one run), escapes one by one.
fn write_json_string(sink: &mut impl FnMut(&[u8]), s: &str, html_safe: bool) {
    let attention = if html_safe {
        &HTML_ATTENTION
    } else {
        &MINIMAL_ATTENTION
    };
    let bytes = s.as_bytes();
    sink(b"\"");
    if is_clean(bytes, html_safe) {
        sink(bytes);
        sink(b"\"");
        return;
    }
    let mut run = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        if !attention[usize::from(bytes[pos])] {
            pos += 1;
            continue;
        }
        // Every byte that needs attention is ASCII or 0xE2, so `pos` is a character boundary.
        let Some(c) = s.get(pos..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let mut hex = [0u8; 6];
        let escape: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html_safe => unicode_escape(&mut hex, c),
            c if (c as u32) < 0x20 => unicode_escape(&mut hex, c),
            // Another character starting with 0xE2: written as it is.
            c => {
                pos += c.len_utf8();
                continue;
            }
        };
        sink(&bytes[run..pos]);
        sink(escape);
        pos += c.len_utf8();
        run = pos;
    }
    sink(&bytes[run..]);
    sink(b"\"");
}

/// `\u` and four lowercase hexadecimal digits (`c` is in the Basic Multilingual Plane).
fn unicode_escape(out: &mut [u8; 6], c: char) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let code = c as u32;
    *out = [
        b'\\',
        b'u',
        HEX[(code >> 12 & 0xF) as usize],
        HEX[(code >> 8 & 0xF) as usize],
        HEX[(code >> 4 & 0xF) as usize],
        HEX[(code & 0xF) as usize],
    ];
    out
}

/// Writes values as Go's `json.Marshal` + `json.Indent` do (comments skipped); on one line when
/// `newline` holds no line break.
pub(crate) struct GoJsonWriter<'a> {
    /// One level of indentation.
    pub indent_unit: &'a str,
    /// What starts each indented line.
    pub newline: &'a str,
}

impl GoJsonWriter<'_> {
    /// No blanks between tokens: `json.Marshal`'s form of a scalar or a list of scalars (a map
    /// would still get `": "` after each key).
    pub const COMPACT: GoJsonWriter<'static> = GoJsonWriter {
        indent_unit: "",
        newline: "",
    };

    /// A line break followed by `level` indentation units.
    pub fn indent(&self, out: &mut Vec<u8>, level: usize) {
        out.extend_from_slice(self.newline.as_bytes());
        for _ in 0..level {
            out.extend_from_slice(self.indent_unit.as_bytes());
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
            push_go_string(out, k);
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
            Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => push_go_string(out, s),
            Scalar::Bytes(b) => push_go_string(out, &String::from_utf8_lossy(b)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's escaping, one character at a time (the form the fast path must match).
    fn reference(s: &str, html_safe: bool) -> Vec<u8> {
        let mut out = vec![b'"'];
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html_safe => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn tables_and_vector_check_agree() {
        for b in 0..=255u8 {
            assert_eq!(MINIMAL_ATTENTION[usize::from(b)], minimal_attention(b));
            assert_eq!(HTML_ATTENTION[usize::from(b)], html_attention(b));
        }
    }

    #[test]
    fn escapes_as_go_does() {
        let samples = [
            "",
            "plain",
            "ENC[AES256_GCM,data:q+/=,iv:AAAA,tag:BBBB==,type:str]",
            "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}\u{1f}",
            "<script>&amp;</script>",
            "\u{2028}\u{2029}\u{2027}\u{202a}\u{20ac}€…",
            "é😀 <&> \"q\"",
            "\u{0}",
            "trailing\\",
            "\u{7f}\u{80}\u{ffff}\u{10ffff}",
            "sixteen bytes ok and then a quote \" after them",
            "0123456789abcdef0123456789abcdef<",
        ];
        for s in samples {
            for html_safe in [false, true] {
                let mut out = Vec::new();
                push_json_string(&mut out, s, html_safe);
                assert_eq!(out, reference(s, html_safe), "{s:?} {html_safe}");
            }
            assert_eq!(minimal_string_len(s), reference(s, false).len(), "{s:?}");
        }
    }
}
