//! Scanning within one line of the fast reading: where lines and spaces end, which lines it
//! declines, and where plain and quoted scalars end.

use std::borrow::Cow;

use granit_parser::ScalarStyle;

use super::{Decline, Step};

/// How a plain scalar on a line ends.
pub(super) enum Stop {
    /// At the line's end.
    Eol,
    /// At `: ` (or `:` ending the line): the scalar is a key; the colon's offset.
    Colon(usize),
    /// At ` #`: the `#`'s offset.
    Comment(usize),
}

/// Where the line starting at `at` ends (its line feed, the CR of its CR LF, or the end of the
/// text).
pub(super) fn line_end(bytes: &[u8], at: usize) -> usize {
    match memchr::memchr(b'\n', &bytes[at..]) {
        // A line ending in CR LF ends at its CR (a CR anywhere else is declined by `check_line`).
        Some(i) if i > 0 && bytes[at + i - 1] == b'\r' => at + i - 1,
        Some(i) => at + i,
        None => bytes.len(),
    }
}

/// [`line_end`] of a line that [`check_line`] accepts, or its decline: for the usual line of
/// printable ASCII in one pass over its bytes, eight at a time (the two apart, a `memchr` and a
/// byte loop per line, were a fifth of a large file's event reading); any other byte before the
/// line's end takes those two.
pub(super) fn checked_line_end(bytes: &[u8], at: usize) -> Result<usize, Decline> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let mut i = at;
    // The first byte that is not printable ASCII (below a space, DEL, or not ASCII). In each
    // word, a byte's top bit is set where the byte is one; a borrow can set it only in bytes
    // after one that is, so the lowest bit set is the first such byte.
    let first = loop {
        let Some(chunk) = bytes.get(i..i + 8) else {
            let rest = bytes.get(i..).unwrap_or_default();
            break rest
                .iter()
                .position(|&b| !(0x20..0x7f).contains(&b))
                .map(|k| i + k);
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & TOPS;
        let del = w ^ (ONES * 0x7f);
        let is_del = del.wrapping_sub(ONES) & !del & TOPS;
        let found = (w & TOPS) | below_space | is_del;
        if found != 0 {
            break Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    };
    match first {
        None => Ok(bytes.len()),
        Some(k) if bytes[k] == b'\n' => Ok(k),
        Some(k) if bytes[k] == b'\r' && bytes.get(k + 1) == Some(&b'\n') => Ok(k),
        Some(_) => {
            let end = line_end(bytes, at);
            check_line(&bytes[at..end])?;
            Ok(end)
        }
    }
}

/// The start of the line after the one that ends at `end` (past its LF or CR LF).
pub(super) fn next_line(bytes: &[u8], end: usize) -> usize {
    match bytes.get(end) {
        Some(b'\r') => (end + 2).min(bytes.len()),
        Some(_) => end + 1,
        None => bytes.len(),
    }
}

pub(super) fn skip_spaces(bytes: &[u8], mut at: usize, end: usize) -> usize {
    while at < end && bytes[at] == b' ' {
        at += 1;
    }
    at
}

/// Decline a line with a tab, a carriage return, a control character, or a character YAML
/// treats specially (C1 controls and NEL, line and paragraph separators, byte order marks,
/// the non-characters U+FFFE and U+FFFF).
pub(super) fn check_line(line: &[u8]) -> Step {
    if line.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    for (i, &b) in line.iter().enumerate() {
        let next = |k: usize| line.get(i + k).copied().unwrap_or(0);
        let bad = match b {
            0x00..=0x1f | 0x7f => true,
            0xc2 => (0x80..=0x9f).contains(&next(1)),
            0xe2 => next(1) == 0x80 && matches!(next(2), 0xa8 | 0xa9),
            0xef => matches!(
                (next(1), next(2)),
                (0xbb, 0xbf) | (0xbf, 0xbe) | (0xbf, 0xbf)
            ),
            _ => false,
        };
        if bad {
            return Err(Decline);
        }
    }
    Ok(())
}

/// `---` or `...` (as `c`) followed by a space or the line's end.
pub(super) fn is_marker(bytes: &[u8], p: usize, end: usize, c: u8) -> bool {
    end - p >= 3 && bytes[p..p + 3] == [c, c, c] && (p + 3 == end || bytes[p + 3] == b' ')
}

/// A block list's dash: `-` followed by a space or the line's end.
pub(super) fn is_dash(bytes: &[u8], p: usize, end: usize) -> bool {
    bytes[p] == b'-' && (p + 1 == end || bytes[p + 1] == b' ')
}

/// Whether a plain scalar may start at `p` (YAML's indicators may not, except `-`, `?` and `:`
/// before a character that is not a space).
pub(super) fn plain_start(bytes: &[u8], p: usize, end: usize) -> bool {
    match bytes[p] {
        b'-' | b'?' | b':' => p + 1 < end && bytes[p + 1] != b' ',
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => false,
        _ => true,
    }
}

/// A plain scalar from `p` to its end on the line: where its text ends (trailing spaces left
/// out) and what ends it.
pub(super) fn scan_plain(bytes: &[u8], p: usize, end: usize) -> (usize, Stop) {
    let mut i = p;
    // Only a `:` or a `#` can end it before the line does: jump from one to the next.
    while let Some(k) = memchr::memchr2(b':', b'#', &bytes[i..end]) {
        let at = i + k;
        if bytes[at] == b':' {
            if at + 1 == end || bytes[at + 1] == b' ' {
                return (trim_spaces(bytes, p, at), Stop::Colon(at));
            }
        } else if at > p && bytes[at - 1] == b' ' {
            return (trim_spaces(bytes, p, at), Stop::Comment(at));
        }
        i = at + 1;
    }
    (trim_spaces(bytes, p, end), Stop::Eol)
}

/// Where the text from `p` to `end` ends without its trailing spaces.
pub(super) fn trim_spaces(bytes: &[u8], p: usize, mut end: usize) -> usize {
    while end > p && bytes[end - 1] == b' ' {
        end -= 1;
    }
    end
}

/// The closing quote of a double-quoted scalar on its line (declined: an escape, or no close).
pub(super) fn double_quoted_end(bytes: &[u8], p: usize, end: usize) -> Result<usize, Decline> {
    let close = memchr::memchr2(b'"', b'\\', &bytes[p + 1..end]).ok_or(Decline)? + p + 1;
    if bytes[close] == b'\\' {
        return Err(Decline);
    }
    Ok(close)
}

/// The first unescaped `'` in `from..end` (`''` is an escaped one).
pub(super) fn closing_quote(bytes: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut i = from;
    while let Some(k) = memchr::memchr(b'\'', &bytes[i..end]) {
        let at = i + k;
        if at + 1 < end && bytes[at + 1] == b'\'' {
            i = at + 2;
        } else {
            return Some(at);
        }
    }
    None
}

/// A single-quoted scalar's value from the text between its quotes: each `''` read as `'`.
pub(super) fn single_quoted_value(inner: &str) -> Cow<'_, str> {
    if !inner.contains("''") {
        return Cow::Borrowed(inner);
    }
    // Sized once: no grown copy left behind.
    let mut value = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(i) = rest.find("''") {
        value.push_str(&rest[..=i]);
        rest = &rest[i + 2..];
    }
    value.push_str(rest);
    Cow::Owned(value)
}

/// Longest key read here (granit-parser refuses implicit keys of over 1,024 characters).
const MAX_KEY: usize = 1000;

/// A key read on a line.
pub(super) struct Key<'a> {
    pub(super) value: Cow<'a, str>,
    pub(super) style: ScalarStyle,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) colon: usize,
}

/// The key at `p`, if the line holds a key there (`None`: some other content).
pub(super) fn key_at(text: &str, p: usize, end: usize) -> Result<Option<Key<'_>>, Decline> {
    let bytes = text.as_bytes();
    // Where the key ends and its colon is, before any value is made (a value copied out of a
    // scalar that is no key would be a copy to wipe).
    let (style, key_end, colon) = match bytes[p] {
        b'"' => {
            let close = super::escape::double_quoted_close(bytes, p, end)?;
            let colon = skip_spaces(bytes, close + 1, end);
            // A key with escapes is left to granit-parser; a value with them is read.
            let escaped = memchr::memchr(b'\\', &bytes[p + 1..close]).is_some();
            if escaped && colon < end && bytes[colon] == b':' {
                return Err(Decline);
            }
            (ScalarStyle::DoubleQuoted, close + 1, colon)
        }
        b'\'' => {
            let close = closing_quote(bytes, p + 1, end).ok_or(Decline)?;
            (
                ScalarStyle::SingleQuoted,
                close + 1,
                skip_spaces(bytes, close + 1, end),
            )
        }
        _ if plain_start(bytes, p, end) => match scan_plain(bytes, p, end) {
            (key_end, Stop::Colon(colon)) => (ScalarStyle::Plain, key_end, colon),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    if !(colon < end && bytes[colon] == b':' && (colon + 1 == end || bytes[colon + 1] == b' ')) {
        return Ok(None);
    }
    if key_end - p > MAX_KEY {
        return Err(Decline);
    }
    let value = match style {
        ScalarStyle::Plain => Cow::Borrowed(&text[p..key_end]),
        ScalarStyle::DoubleQuoted => Cow::Borrowed(&text[p + 1..key_end - 1]),
        _ => single_quoted_value(&text[p + 1..key_end - 1]),
    };
    Ok(Some(Key {
        value,
        style,
        start: p,
        end: key_end,
        colon,
    }))
}

#[cfg(test)]
mod tests {
    use super::{check_line, checked_line_end, line_end};

    /// The one pass finds what the line's end and its check find apart, for every byte value at
    /// every place of lines of every length up to three words, and line ends of LF, CR LF, a lone
    /// CR and none.
    #[test]
    fn the_one_pass_agrees_with_the_two() {
        let apart = |bytes: &[u8], at: usize| {
            let end = line_end(bytes, at);
            check_line(&bytes[at..end]).map(|()| end)
        };
        for len in 0..26 {
            for at in [0, 3] {
                for byte in 0..=255u8 {
                    for place in 0..len.max(1) {
                        for ending in [&b"\n"[..], b"\r\n", b"\r", b"", b"\nnext: 1\n"] {
                            let mut text = b"ab:".to_vec();
                            text.extend((0..len).map(|i| b'a' + (i % 26) as u8));
                            if len > 0 {
                                text[at.min(3) + place] = byte;
                            }
                            text.extend_from_slice(ending);
                            let one = checked_line_end(&text, at).ok();
                            let two = apart(&text, at).ok();
                            assert_eq!(one, two, "{text:?} from {at}");
                        }
                    }
                }
            }
        }
    }
}
