//! The one JSON scanner: tokens and grammar with their byte positions, read for the parser (which
//! builds the store's tree) and for `set`/`unset` (which build a tree of spans), through [`Builder`].

use crate::stores::text::line_of;
use crate::stores::StoreError;
use crate::tree::{secret, Scalar, Secret};
use crate::wipe::Wiped;

/// Maximum nesting depth accepted by the scanner (keeps recursion bounded on hostile input).
pub(super) const MAX_DEPTH: usize = 256;

pub(super) const PARSE_PREFIX: &str = "Could not unmarshal input data: ";

/// A scalar token: its value, its spelling where the value loses it (numbers and booleans), and
/// its byte range.
pub(super) struct ScalarToken {
    pub value: Scalar,
    pub text: Option<Secret>,
    pub start: usize,
    pub end: usize,
}

/// A decoded string: the source's own text where the token has no escape (most keys and values,
/// every `ENC[...]` value), else decoded into new bytes.
pub(super) enum Text<'a> {
    Source(&'a str),
    Decoded(Secret),
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Text::Source(s) => s,
            Text::Decoded(s) => s,
        }
    }

    /// The text as a plain string, for a key (a decoded one moved, not copied).
    pub fn into_string(self) -> String {
        match self {
            Text::Source(s) => s.to_string(),
            Text::Decoded(mut s) => std::mem::take(&mut *s),
        }
    }

    /// The text as an owned string (a decoded one moved, not copied).
    pub fn into_secret(self) -> Secret {
        match self {
            Text::Source(s) => secret(s),
            Text::Decoded(s) => s,
        }
    }
}

/// What a scan makes of the values it reads, bottom up.
pub(super) trait Builder {
    type Node;
    /// The members of an object being read.
    type Object: Default;
    /// The elements of an array being read.
    type Array: Default;

    /// An object about to be read.
    fn start_object(&mut self) -> Self::Object {
        Self::Object::default()
    }
    /// An array about to be read.
    fn start_array(&mut self) -> Self::Array {
        Self::Array::default()
    }
    fn leaf(&mut self, token: ScalarToken) -> Self::Node;
    /// A string leaf from `start` to `end` (its quotes included): a [`Builder::leaf`] unless the
    /// builder reads the text where it is.
    fn leaf_text(&mut self, text: Text<'_>, start: usize, end: usize) -> Self::Node {
        self.leaf(ScalarToken {
            value: Scalar::Str(text.into_secret()),
            text: None,
            start,
            end,
        })
    }
    /// A member read: its decoded key, where the key's token starts, its value.
    fn member(
        &mut self,
        object: &mut Self::Object,
        key: Text<'_>,
        key_start: usize,
        value: Self::Node,
    );
    fn element(&mut self, array: &mut Self::Array, value: Self::Node);
    /// An object read, from its `{` to just after its `}`.
    fn object(&mut self, object: Self::Object, start: usize, end: usize) -> Self::Node;
    /// An array read, from its `[` to just after its `]`.
    fn array(&mut self, array: Self::Array, start: usize, end: usize) -> Self::Node;
}

/// A position in the source; errors are worded as Go's `encoding/json` words them.
pub(super) struct Scanner<'a> {
    pub src: &'a [u8],
    pub pos: usize,
    /// The source as text when it is all UTF-8 (checked once, in one pass over the whole file,
    /// rather than string by string).
    text: Option<&'a str>,
}

pub(super) fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scanner<'a> {
    pub fn new(src: &'a [u8], pos: usize) -> Self {
        Scanner {
            src,
            pos,
            text: std::str::from_utf8(src).ok(),
        }
    }

    /// A scanner of the same source from `pos` (its UTF-8 check is not made again).
    pub fn at(&self, pos: usize) -> Self {
        Scanner {
            src: self.src,
            pos,
            text: self.text,
        }
    }

    pub fn error(&self, message: impl Into<String>) -> StoreError {
        StoreError::at_line(
            format!("{PARSE_PREFIX}{}", message.into()),
            line_of(self.src, self.pos),
        )
    }

    pub fn unexpected(&self, context: &str) -> StoreError {
        match self.src.get(self.pos) {
            None => self.error("unexpected EOF"),
            Some(&b) => {
                let c = if b.is_ascii_graphic() {
                    format!("'{}'", b as char)
                } else {
                    format!("byte 0x{b:02x}")
                };
                self.error(format!("invalid character {c} {context}"))
            }
        }
    }

    pub fn skip_blanks(&mut self) {
        while self.pos < self.src.len() && is_blank(self.src[self.pos]) {
            self.pos += 1;
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Read one value (blanks before it skipped) at nesting `depth`.
    pub fn value<B: Builder>(
        &mut self,
        builder: &mut B,
        depth: usize,
    ) -> Result<B::Node, StoreError> {
        if depth > MAX_DEPTH {
            return Err(self.error("exceeded max depth"));
        }
        self.skip_blanks();
        let start = self.pos;
        match self.peek() {
            Some(b'{') => {
                let mut object = builder.start_object();
                self.members(|scanner, key, key_start| {
                    let value = scanner.value(builder, depth + 1)?;
                    builder.member(&mut object, key, key_start, value);
                    Ok(())
                })?;
                Ok(builder.object(object, start, self.pos))
            }
            Some(b'[') => {
                let mut array = builder.start_array();
                self.elements(|scanner| {
                    let value = scanner.value(builder, depth + 1)?;
                    builder.element(&mut array, value);
                    Ok(())
                })?;
                Ok(builder.array(array, start, self.pos))
            }
            Some(b'"') => {
                let text = self.string_text()?;
                Ok(builder.leaf_text(text, start, self.pos))
            }
            Some(_) => Ok(builder.leaf(self.scalar()?)),
            None => Err(self.error("unexpected end of JSON input")),
        }
    }

    /// Read an object's members, the scanner at its `{`: `on_member` gets each decoded key and
    /// where its token starts, with the scanner just after the `:`, and must read the value.
    pub fn members(
        &mut self,
        on_member: impl FnMut(&mut Self, Text<'a>, usize) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.pos += 1;
        self.skip_blanks();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        self.members_on(None, on_member).map(|_| ())
    }

    /// Read an object's members from the scanner's position (before a member's key) to its `}`
    /// (`Ok(true)`, the scanner after it), or up to the `,` at byte `stop` between two of them
    /// (`Ok(false)`, the scanner after it).
    pub fn members_on(
        &mut self,
        stop: Option<usize>,
        mut on_member: impl FnMut(&mut Self, Text<'a>, usize) -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        loop {
            self.skip_blanks();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key_start = self.pos;
            let key = self.string_text()?;
            self.skip_blanks();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.pos += 1;
            on_member(self, key, key_start)?;
            self.skip_blanks();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    if stop == Some(self.pos - 1) {
                        return Ok(false);
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(true);
                }
                _ => return Err(self.unexpected("after object key:value pair")),
            }
        }
    }

    /// Read an array's elements, the scanner at its `[`: `on_element` must read each one.
    pub fn elements(
        &mut self,
        mut on_element: impl FnMut(&mut Self) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.pos += 1;
        self.skip_blanks();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            on_element(self)?;
            self.skip_blanks();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("after array element")),
            }
        }
    }

    /// Read the scalar at the scanner's position.
    pub fn scalar(&mut self) -> Result<ScalarToken, StoreError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                let value = Scalar::Str(self.string()?);
                Ok(ScalarToken {
                    value,
                    text: None,
                    start,
                    end: self.pos,
                })
            }
            Some(b't') | Some(b'f') | Some(b'n') => {
                for (word, value) in [
                    (&b"true"[..], Some(Scalar::Bool(true))),
                    (&b"false"[..], Some(Scalar::Bool(false))),
                    (&b"null"[..], None),
                ] {
                    if self.src[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        let (value, text) = match value {
                            Some(v) => (v, Some(secret(String::from_utf8_lossy(word)))),
                            None => (Scalar::Null, None),
                        };
                        return Ok(ScalarToken {
                            value,
                            text,
                            start,
                            end: self.pos,
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
                let value = match text.parse::<i64>() {
                    Ok(i) if integral => Scalar::Int(i),
                    _ => match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => Scalar::Float(f),
                        _ => {
                            self.pos = start;
                            return Err(self.error("number out of range for float64"));
                        }
                    },
                };
                Ok(ScalarToken {
                    value,
                    text: Some(secret(text)),
                    start,
                    end,
                })
            }
            _ => Err(self.unexpected("looking for beginning of value")),
        }
    }

    /// Read the string token at the scanner's position (which is `"`): its decoded text.
    pub(super) fn string(&mut self) -> Result<Secret, StoreError> {
        self.string_text().map(Text::into_secret)
    }

    /// [`Scanner::string`], borrowed from the source where the token has no escape.
    pub(super) fn string_text(&mut self) -> Result<Text<'a>, StoreError> {
        self.pos += 1;
        // The run up to the first quote, backslash or control character: for most strings (every
        // `ENC[...]` value) the whole string, taken in one piece.
        let start = self.pos;
        let run = plain_run(&self.src[start..]);
        self.pos = start + run;
        if self.peek() == Some(b'"') {
            self.pos += 1;
            // (A string token's bounds are ASCII quotes, so always character boundaries.)
            return Ok(match self.text.and_then(|t| t.get(start..start + run)) {
                Some(text) => Text::Source(text),
                None => Text::Decoded(text_of(&self.src[start..start + run])),
            });
        }
        // With escapes: the decoded text is never longer than the token.
        let mut out: Wiped<Vec<u8>> = Wiped::new(Vec::with_capacity(self.token_len(start)));
        out.extend_from_slice(&self.src[start..start + run]);
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unexpected end of JSON input"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(escape) = self.peek() else {
                        return Err(self.error("unexpected end of JSON input"));
                    };
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
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
                    let run = plain_run(&self.src[self.pos..]);
                    out.extend_from_slice(&self.src[self.pos..self.pos + run]);
                    self.pos += run;
                }
            }
        }
        Ok(Text::Decoded(text_of(&out)))
    }

    /// How many bytes of the source, from `start` (inside a string token), come before the
    /// token's closing quote (to the end of the source when it has none).
    fn token_len(&self, start: usize) -> usize {
        let mut pos = start;
        while let Some(&b) = self.src.get(pos) {
            match b {
                b'"' => break,
                b'\\' => pos += 2,
                _ => pos += 1,
            }
        }
        pos.min(self.src.len()) - start
    }

    /// The character of a `\u` escape, the scanner just after the `u`: a surrogate pair when a
    /// second escape completes it, U+FFFD for a lone surrogate.
    fn unicode_escape(&mut self) -> Result<char, StoreError> {
        let high = self.hex4()?;
        if (0xD800..0xDC00).contains(&high) && self.src[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let low = self.hex4()?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                Ok(char::from_u32(code).unwrap_or('\u{FFFD}'))
            } else {
                self.pos = save;
                Ok('\u{FFFD}')
            }
        } else {
            Ok(char::from_u32(high).unwrap_or('\u{FFFD}'))
        }
    }

    fn hex4(&mut self) -> Result<u32, StoreError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.unexpected("in \\u hexadecimal character escape"))?;
            v = v * 16 + digit;
            self.pos += 1;
        }
        Ok(v)
    }
}

/// Does byte `b` end a run of a string token's bytes that are taken as they are?
fn ends_run(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// The length of the run at the start of `bytes` (inside a string token) up to the first quote,
/// backslash or control character. Sixteen bytes are checked at a time, without a branch per
/// byte (the compiler turns that into vector compares).
fn plain_run(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(16);
    let mut skipped = 0;
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |any, &b| any | ends_run(b)) {
            break;
        }
        skipped += 16;
    }
    skipped
        + bytes[skipped..]
            .iter()
            .position(|&b| ends_run(b))
            .unwrap_or(bytes.len() - skipped)
}

/// The text of a string token's decoded bytes (invalid UTF-8 replaced, as Go replaces it).
fn text_of(bytes: &[u8]) -> Secret {
    match std::str::from_utf8(bytes) {
        Ok(s) => secret(s),
        Err(_) => secret(String::from_utf8_lossy(bytes).into_owned()),
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
pub(super) fn is_json_number(text: &str) -> bool {
    number_end(text.as_bytes(), 0) == Some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_decode_as_serde_json_decodes_them() {
        let samples = [
            r#""""#,
            r#""plain""#,
            r#""ENC[AES256_GCM,data:q+/=,iv:AAAA,tag:BBBB==,type:str]""#,
            r#""0123456789abcdef\n0123456789abcdef\"x""#,
            r#""0123456789abcde\t""#,
            r#""\u00e9\ud83d\ude00 \u003c \/ \b\f\r""#,
            r#""é😀 <&>""#,
        ];
        for sample in samples {
            let mut scanner = Scanner::new(sample.as_bytes(), 0);
            let got = scanner.string().unwrap();
            assert_eq!(scanner.pos, sample.len(), "{sample}");
            let want: String = serde_json::from_str(sample).unwrap();
            assert_eq!(got.as_str(), want, "{sample}");
        }
        for bad in [
            "\"abc",
            "\"0123456789abcdef0123",
            "\"a\nb\"",
            "\"a\\",
            "\"\\q\"",
        ] {
            assert!(Scanner::new(bad.as_bytes(), 0).string().is_err(), "{bad:?}");
        }
        let lone = r#""lone \ud800 surrogate \udc00 end""#;
        let got = Scanner::new(lone.as_bytes(), 0).string().unwrap();
        assert_eq!(got.as_str(), "lone \u{fffd} surrogate \u{fffd} end");
        let invalid = b"\"a\xffb\"";
        let got = Scanner::new(invalid, 0).string().unwrap();
        assert_eq!(got.as_str(), "a\u{fffd}b");
    }

    #[test]
    fn runs_stop_at_quotes_backslashes_and_controls() {
        let mut text = vec![b'x'; 40];
        assert_eq!(plain_run(&text), 40);
        for at in [0, 5, 15, 16, 17, 31, 39] {
            for stop in [b'"', b'\\', b'\n', 0u8] {
                let saved = text[at];
                text[at] = stop;
                assert_eq!(plain_run(&text), at);
                text[at] = saved;
            }
        }
    }
}
