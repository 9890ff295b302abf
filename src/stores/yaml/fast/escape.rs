//! A double-quoted scalar on one line with escapes (`"a\tb \"q\" \u00e9"`): the closing quote
//! found past the escapes and the value decoded, as YAML 1.2 (and granit-parser) decodes each
//! escape. An escape it does not know, a `\u` or `\U` that is no Unicode scalar value, a short
//! hex escape, or a backslash ending the line (a line continuation) is left to granit-parser.

use std::borrow::Cow;

use super::Decline;
use crate::wipe::Wiped;

/// The closing quote of the double-quoted scalar whose `"` is at `p`, on its line ending at
/// `end`, and its value (borrowed when it has no escape).
pub(super) fn double_quoted(
    text: &str,
    p: usize,
    end: usize,
) -> Result<(usize, Cow<'_, str>), Decline> {
    let close = double_quoted_close(text.as_bytes(), p, end)?;
    let inner = &text[p + 1..close];
    let Some(mut next) = memchr::memchr(b'\\', inner.as_bytes()) else {
        return Ok((close, Cow::Borrowed(inner)));
    };
    // Sized once (a `\L` or `\P` of two bytes decodes to three), so that a value that may be a
    // secret is never copied into a larger buffer; wiped if declined half-way.
    let mut value = Wiped::new(String::with_capacity(3 * inner.len() / 2 + 4));
    let mut at = 0;
    loop {
        value.push_str(&inner[at..next]);
        if next == inner.len() {
            return Ok((close, Cow::Owned(std::mem::take(&mut *value))));
        }
        at = escape(inner, next + 1, &mut value)?;
        next = memchr::memchr(b'\\', &inner.as_bytes()[at..]).map_or(inner.len(), |i| at + i);
    }
}

/// The closing quote of the double-quoted scalar whose `"` is at `p`, on its line ending at
/// `end`, found past its escapes without decoding them (a backslash ending the line, a line
/// continuation, is declined).
pub(super) fn double_quoted_close(bytes: &[u8], p: usize, end: usize) -> Result<usize, Decline> {
    let mut at = p + 1;
    loop {
        at += memchr::memchr2(b'"', b'\\', &bytes[at..end]).ok_or(Decline)?;
        if bytes[at] == b'"' {
            return Ok(at);
        }
        // The escape's letter is never a quote that closes (`\"`), and its hex digits none.
        at += 2;
        if at >= end {
            return Err(Decline);
        }
    }
}

/// Decode the escape whose letter is at `at` of a scalar's `text` into `value`; where the text
/// goes on.
fn escape(text: &str, at: usize, value: &mut String) -> Result<usize, Decline> {
    let c = match text.as_bytes().get(at).ok_or(Decline)? {
        b'0' => '\0',
        b'a' => '\u{7}',
        b'b' => '\u{8}',
        b't' => '\t',
        b'n' => '\n',
        b'v' => '\u{b}',
        b'f' => '\u{c}',
        b'r' => '\r',
        b'e' => '\u{1b}',
        b' ' => ' ',
        b'"' => '"',
        b'/' => '/',
        b'\\' => '\\',
        b'N' => '\u{85}',
        b'_' => '\u{a0}',
        b'L' => '\u{2028}',
        b'P' => '\u{2029}',
        b'x' => return hex(text, at + 1, 2, value),
        b'u' => return hex(text, at + 1, 4, value),
        b'U' => return hex(text, at + 1, 8, value),
        _ => return Err(Decline),
    };
    value.push(c);
    Ok(at + 1)
}

/// The `digits` hex digits from `at` as one character pushed onto `value`.
fn hex(text: &str, at: usize, digits: usize, value: &mut String) -> Result<usize, Decline> {
    let hex = text.get(at..at + digits).ok_or(Decline)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Decline);
    }
    let code = u32::from_str_radix(hex, 16).map_err(|_| Decline)?;
    value.push(char::from_u32(code).ok_or(Decline)?);
    Ok(at + digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(line: &str) -> Option<(usize, String)> {
        double_quoted(line, 0, line.len())
            .ok()
            .map(|(close, v)| (close, v.into_owned()))
    }

    #[test]
    fn a_close_is_found_past_escapes() {
        let line = br#""a\"b\\" c"#;
        assert_eq!(double_quoted_close(line, 0, line.len()).ok(), Some(7));
        for other in [&br#""a\"#[..], br#""a\""#, b"\"open"] {
            assert!(double_quoted_close(other, 0, other.len()).is_err());
        }
    }

    #[test]
    fn escapes_decode_as_yaml_decodes_them() {
        assert_eq!(read(r#""plain" x"#), Some((6, "plain".into())));
        let line = r#""a\tb \"q\" \\ \/ \x41\u00e9\U0001F600\N\_\L\P\0\a\b\v\f\r\e\ z""#;
        let want = "a\tb \"q\" \\ / A\u{e9}\u{1F600}\u{85}\u{a0}\u{2028}\u{2029}\0\u{7}\u{8}\u{b}\u{c}\r\u{1b} z";
        assert_eq!(read(line), Some((line.len() - 1, want.into())));
        for other in [
            r#""\q""#,
            r#""\ud800""#,
            r#""\x4""#,
            r#""\x4g""#,
            "\"a\\",
            r#""a\\"#,
            r#""a\""#,
            r#""\U00110000""#,
            "\"no close",
        ] {
            assert_eq!(read(other), None, "{other}");
        }
    }
}
