//! Scalars as text, the way go-yaml v3 writes them: quoted forms, block scalar bodies and
//! chomping, inline tokens for typed values, and what can be written plain or single-quoted.

use base64::Engine;

use super::resolve::{resolve_plain, Resolved};
use super::style::{is_break, pick_style, printable, Style};
use crate::gotext::float_g;
use crate::tree::Scalar;

/// go-yaml's double-quoted form (no line folding).
pub(super) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
            out.push('\\');
            match c {
                '\0' => out.push('0'),
                '\u{7}' => out.push('a'),
                '\u{8}' => out.push('b'),
                '\t' => out.push('t'),
                '\n' => out.push('n'),
                '\u{b}' => out.push('v'),
                '\u{c}' => out.push('f'),
                '\r' => out.push('r'),
                '\u{1b}' => out.push('e'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '\u{85}' => out.push('N'),
                '\u{a0}' => out.push('_'),
                '\u{2028}' => out.push('L'),
                '\u{2029}' => out.push('P'),
                _ => {
                    let v = c as u32;
                    if v <= 0xFF {
                        out.push_str(&format!("x{v:02X}"));
                    } else if v <= 0xFFFF {
                        out.push_str(&format!("u{v:04X}"));
                    } else {
                        out.push_str(&format!("U{v:08X}"));
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

pub(super) fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A character that a quoted scalar must escape: controls (tab included), line breaks, the BOM
/// and the non-characters YAML excludes.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_break(c) || matches!(c, '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Double-quoted with as few escapes as possible: only `"`, `\` and the characters of
/// [`needs_escape`]; every other character (non-ASCII and emoji included) is written raw.
pub(super) fn double_quoted_min(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' || needs_escape(c) {
            let mut buf = [0u8; 4];
            let one = double_quoted(c.encode_utf8(&mut buf));
            out.push_str(&one[1..one.len() - 1]);
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written single-quoted on one line (no character needs an escape).
pub(super) fn single_ok(s: &str) -> bool {
    !s.chars().any(|c| c != '\t' && needs_escape(c))
}

/// Whether `s` can be written as a plain scalar (in flow context when `flow`) and read back as
/// the same string, whatever go-yaml would choose.
pub(super) fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s.chars().nth(1);
    let blank = |c: char| c == ' ' || c == '\t';
    if blank(first) || s.ends_with([' ', '\t', ':']) {
        return false;
    }
    if s.chars().any(|c| c != '\t' && needs_escape(c)) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let indicator = match first {
        '-' | '?' | ':' => second.is_none_or(|c| blank(c) || (flow && ",[]{}".contains(c))),
        _ => ",[]{}#&*!|>'\"%@`".contains(first),
    };
    if indicator {
        return false;
    }
    if s.contains(": ") || s.contains(":\t") || s.contains(" #") || s.contains("\t#") {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    matches!(resolve_plain(s), Resolved::Str) && s != "<<"
}

/// Chomping indicator for a block scalar value.
pub(super) fn chomp(s: &str) -> &'static str {
    if !s.ends_with('\n') {
        "-"
    } else if s == "\n" || s.ends_with("\n\n") {
        "+"
    } else {
        ""
    }
}

/// The content lines of a literal block: each line padded to `col`, empty lines left empty,
/// every line followed by `nl` (the value's own line breaks), the last one only when the value
/// has a final line break.
pub(super) fn literal_body(s: &str, col: usize, nl: &str) -> String {
    let mut out = String::new();
    let mut at_start = true;
    for c in s.chars() {
        if c == '\n' {
            out.push_str(nl);
            at_start = true;
        } else {
            if at_start {
                out.push_str(&" ".repeat(col));
                at_start = false;
            }
            out.push(c);
        }
    }
    out
}

/// A scalar rendered as a single token (not a block scalar) in the given context.
pub(super) fn inline_scalar(s: &Scalar, flow: bool, simple_key: bool) -> Option<String> {
    Some(match s {
        Scalar::Null => "null".to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => yaml_float(*f),
        Scalar::Time(t) => t.to_string(),
        Scalar::Str(t) | Scalar::Comment(t) => {
            match pick_style(t, Style::Plain, flow, simple_key) {
                Style::Plain => t.to_string(),
                Style::Single => single_quoted(t),
                Style::Double => double_quoted(t),
                Style::Literal | Style::Folded => return None,
            }
        }
        Scalar::Bytes(b) => match std::str::from_utf8(b) {
            Ok(t) => return inline_scalar(&Scalar::Str(crate::tree::secret(t)), flow, simple_key),
            Err(_) => format!(
                "!!binary {}",
                base64::engine::general_purpose::STANDARD.encode(b.as_slice())
            ),
        },
    })
}

/// go-yaml's float form.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f == f64::INFINITY {
        ".inf".into()
    } else if f == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        float_g(f, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(double_quoted("\u{1F389} é\t"), "\"\\U0001F389 é\\t\"");
    }
}
