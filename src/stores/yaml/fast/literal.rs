//! A block scalar's lines (`|`, `>`, with `-` or `+`): where its content lies, and its value,
//! literal or folded.

use super::lines::{check_line, line_end, next_line, skip_spaces};
use super::Decline;

/// A block scalar header's rest after its `|` or `>` at `p`, on its line ending at `end`: the chomping
/// indicator, and a comment's `#` (declined: an indentation indicator or anything else).
pub(super) fn header(
    bytes: &[u8],
    p: usize,
    end: usize,
) -> Result<(Chomp, Option<usize>), Decline> {
    let mut h = p + 1;
    let chomp = match bytes.get(h) {
        Some(b'-') => Chomp::Strip,
        Some(b'+') => Chomp::Keep,
        _ => Chomp::Clip,
    };
    if chomp != Chomp::Clip {
        h += 1;
    }
    let t = skip_spaces(bytes, h, end);
    if t == end {
        return Ok((chomp, None));
    }
    if bytes[t] == b'#' && t > h {
        return Ok((chomp, Some(t)));
    }
    Err(Decline)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Chomp {
    Clip,
    Strip,
    Keep,
}

/// Where a block scalar's content lies.
pub(super) struct LiteralLines {
    /// Its content's indentation.
    pub(super) indent: usize,
    /// Empty lines before the first content line.
    pub(super) leading: usize,
    /// Empty lines after the last content line.
    pub(super) trailing: usize,
    /// The first content character.
    pub(super) start: usize,
    /// Where its span ends: past its last line (empty lines included) and the indentation of
    /// the line after it.
    pub(super) end: usize,
    /// The start of the line after it.
    pub(super) resume: usize,
}

impl LiteralLines {
    /// The content lines from `from` on, more indented than `parent` (declined: no content, a
    /// line of spaces longer than the indentation, or a line not read here).
    pub(super) fn find(bytes: &[u8], from: usize, parent: usize) -> Result<Self, Decline> {
        let len = bytes.len();
        let mut block = LiteralLines {
            indent: 0,
            leading: 0,
            trailing: 0,
            start: 0,
            end: from,
            resume: from,
        };
        let mut found = false;
        let mut longest_blank = 0;
        let mut at = from;
        while at < len {
            let end = line_end(bytes, at);
            let spaces = skip_spaces(bytes, at, end) - at;
            let blank = at + spaces == end;
            if !found {
                if blank {
                    block.leading += 1;
                    longest_blank = longest_blank.max(spaces);
                } else {
                    if spaces <= parent || longest_blank > spaces {
                        return Err(Decline);
                    }
                    found = true;
                    block.indent = spaces;
                    block.start = at + spaces;
                }
            } else if blank {
                if spaces > block.indent {
                    return Err(Decline);
                }
                // Spaces ending the text without a line feed add no line break.
                if end < len {
                    block.trailing += 1;
                }
            } else if spaces < block.indent {
                block.end = at + spaces;
                break;
            } else {
                block.trailing = 0;
            }
            check_line(&bytes[at..end])?;
            at = next_line(bytes, end);
            block.end = at;
            block.resume = at;
        }
        if !found {
            return Err(Decline);
        }
        Ok(block)
    }

    /// The scalar's value: its lines without their indentation, chomped.
    pub(super) fn value(&self, text: &str, from: usize, chomp: Chomp, folded: bool) -> String {
        let bytes = text.as_bytes();
        // Sized once, so that no grown copy of a secret is left behind unwiped.
        let mut value = String::with_capacity(self.resume - from + 1);
        for _ in 0..self.leading {
            value.push('\n');
        }
        let mut at = self.start - self.indent;
        let mut breaks = 0;
        let mut first = true;
        // Whether the line before started with a space past the indentation ("more indented").
        let mut before_indented = false;
        while at < self.resume {
            let end = line_end(bytes, at);
            let blank = skip_spaces(bytes, at, end) == end;
            if blank {
                breaks += 1;
            } else {
                let indented = bytes[at + self.indent] == b' ';
                if !first {
                    // Folded: a line break between two lines is a space, unless empty lines
                    // come between them, which stay line breaks (the first break is dropped).
                    if folded && !before_indented && !indented && breaks == 0 {
                        value.push(' ');
                    } else if folded && !before_indented && !indented {
                        value.extend(std::iter::repeat_n('\n', breaks));
                    } else {
                        value.extend(std::iter::repeat_n('\n', breaks + 1));
                    }
                }
                first = false;
                breaks = 0;
                before_indented = indented;
                // Cut after spaces and before a line feed: at character boundaries.
                value.push_str(&text[at + self.indent..end]);
            }
            at = next_line(bytes, end);
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => value.push('\n'),
            Chomp::Keep => value.extend(std::iter::repeat_n('\n', self.trailing + 1)),
        }
        value
    }
}
