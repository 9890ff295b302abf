//! A flow list on one line whose elements are scalars (`[a, "b", 'c']`), the one flow form
//! configuration files use often (`drop: ["ALL"]`, `os: [linux, darwin]`). Nested collections,
//! pairs, empty elements, comments and lists over several lines are left to granit-parser.

use std::borrow::Cow;

use granit_parser::ScalarStyle;

use super::lines::{
    closing_quote, double_quoted_end, single_quoted_value, skip_spaces, trim_spaces,
};
use super::Decline;

/// An element of a flow list.
pub(super) struct Element<'a> {
    pub(super) value: Cow<'a, str>,
    pub(super) style: ScalarStyle,
    pub(super) start: usize,
    pub(super) end: usize,
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// The elements of the flow list whose `[` is at `p`, and where its `]` is.
pub(super) fn flow_list(
    text: &str,
    p: usize,
    end: usize,
) -> Result<(Vec<Element<'_>>, usize), Decline> {
    let mut elements = Vec::new();
    match read_elements(text, p, end, &mut elements) {
        Ok(close) => Ok((elements, close)),
        Err(Decline) => {
            // Values copied out of the text (unescaped) may be secrets: wiped, not just freed.
            for e in &mut elements {
                if let Cow::Owned(value) = &mut e.value {
                    zeroize::Zeroize::zeroize(value);
                }
            }
            Err(Decline)
        }
    }
}

/// [`flow_list`]'s elements read into `elements`; where the `]` is.
fn read_elements<'a>(
    text: &'a str,
    p: usize,
    end: usize,
    elements: &mut Vec<Element<'a>>,
) -> Result<usize, Decline> {
    let bytes = text.as_bytes();
    let mut at = skip_spaces(bytes, p + 1, end);
    if bytes.get(at) == Some(&b']') && at < end {
        return Ok(at);
    }
    loop {
        if at >= end {
            return Err(Decline);
        }
        let element = match bytes[at] {
            b'"' => {
                let close = double_quoted_end(bytes, at, end)?;
                Element {
                    value: Cow::Borrowed(&text[at + 1..close]),
                    style: ScalarStyle::DoubleQuoted,
                    start: at,
                    end: close + 1,
                }
            }
            b'\'' => {
                let close = closing_quote(bytes, at + 1, end).ok_or(Decline)?;
                let inner = &text[at + 1..close];
                Element {
                    value: single_quoted_value(inner),
                    style: ScalarStyle::SingleQuoted,
                    start: at,
                    end: close + 1,
                }
            }
            _ => {
                let stop = flow_plain_end(bytes, at, end)?;
                let text_end = trim_spaces(bytes, at, stop);
                Element {
                    value: Cow::Borrowed(&text[at..text_end]),
                    style: ScalarStyle::Plain,
                    start: at,
                    end: text_end,
                }
            }
        };
        at = skip_spaces(bytes, element.end, end);
        elements.push(element);
        match bytes.get(at) {
            Some(b']') if at < end => return Ok(at),
            Some(b',') if at < end => {
                at = skip_spaces(bytes, at + 1, end);
                if at < end && bytes[at] == b']' {
                    return Ok(at);
                }
            }
            _ => return Err(Decline),
        }
    }
}

/// Where a plain scalar in a flow list that starts at `q` stops (at its `,` or `]`).
fn flow_plain_end(bytes: &[u8], q: usize, end: usize) -> Result<usize, Decline> {
    let safe_after = |i: usize| i < end && bytes[i] != b' ' && !is_flow_indicator(bytes[i]);
    match bytes[q] {
        b'-' | b'?' | b':' if !safe_after(q + 1) => return Err(Decline),
        b'-' | b'?' | b':' => {}
        b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' => {
            return Err(Decline)
        }
        b if is_flow_indicator(b) => return Err(Decline),
        _ => {}
    }
    let mut i = q;
    while i < end {
        match bytes[i] {
            b',' | b']' => return Ok(i),
            b'[' | b'{' | b'}' => return Err(Decline),
            b':' if !safe_after(i + 1) => return Err(Decline),
            b'#' if bytes[i - 1] == b' ' => return Err(Decline),
            _ => {}
        }
        i += 1;
    }
    Err(Decline)
}
