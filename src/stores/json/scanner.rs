//! The one JSON scanner: tokens and grammar with their byte positions, read for the parser (which
//! builds the store's tree) and for `set`/`unset` (which build a tree of spans), through [`Builder`].

use zeroize::Zeroizing;

use crate::stores::text::line_of;
use crate::stores::StoreError;
use crate::tree::{secret, Scalar, Secret};

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

/// What a scan makes of the values it reads, bottom up.
pub(super) trait Builder {
    type Node;
    /// The members of an object being read.
    type Object: Default;
    /// The elements of an array being read.
    type Array: Default;

    fn leaf(&mut self, token: ScalarToken) -> Self::Node;
    /// A member read: its decoded key, where the key's token starts, its value.
    fn member(
        &mut self,
        object: &mut Self::Object,
        key: Secret,
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
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scanner<'a> {
    pub fn new(src: &'a [u8], pos: usize) -> Self {
        Scanner { src, pos }
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
                let mut object = B::Object::default();
                self.members(|scanner, key, key_start| {
                    let value = scanner.value(builder, depth + 1)?;
                    builder.member(&mut object, key, key_start, value);
                    Ok(())
                })?;
                Ok(builder.object(object, start, self.pos))
            }
            Some(b'[') => {
                let mut array = B::Array::default();
                self.elements(|scanner| {
                    let value = scanner.value(builder, depth + 1)?;
                    builder.element(&mut array, value);
                    Ok(())
                })?;
                Ok(builder.array(array, start, self.pos))
            }
            Some(_) => Ok(builder.leaf(self.scalar()?)),
            None => Err(self.error("unexpected end of JSON input")),
        }
    }

    /// Read an object's members, the scanner at its `{`: `on_member` gets each decoded key and
    /// where its token starts, with the scanner just after the `:`, and must read the value.
    pub fn members(
        &mut self,
        mut on_member: impl FnMut(&mut Self, Secret, usize) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.pos += 1;
        self.skip_blanks();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_blanks();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            self.skip_blanks();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.pos += 1;
            on_member(self, key, key_start)?;
            self.skip_blanks();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("after object key:value pair")),
            }
        }
    }

    /// Read an array's elements, the scanner at its `[`: `on_element` must read each one.
    fn elements(
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
    fn string(&mut self) -> Result<Secret, StoreError> {
        self.pos += 1;
        let mut out: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
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
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        Ok(match std::str::from_utf8(&out) {
            Ok(s) => secret(s),
            Err(_) => secret(String::from_utf8_lossy(&out).into_owned()),
        })
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
