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

/// A JSON string: quotes, backslashes and control characters escaped; with `html_safe`, also `<`,
/// `>`, `&`, U+2028 and U+2029, as Go does.
fn push_json_string(out: &mut Vec<u8>, s: &str, html_safe: bool) {
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
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html_safe => {
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
