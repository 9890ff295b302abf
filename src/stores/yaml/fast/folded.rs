//! Scalars over several lines, plain or single-quoted: their lines, trimmed, folded into one value
//! as YAML folds them (the line break between two lines becomes a space; empty lines between them
//! become line breaks). Long descriptions in generated manifests are written this way.

use super::lines::{check_line, closing_quote, line_end, next_line, scan_plain, skip_spaces, Stop};
use super::Decline;

/// One line's text in a folded scalar, and how many empty lines come before it.
struct Piece {
    start: usize,
    end: usize,
    empty_before: usize,
}

/// Where a scalar of several lines lies.
pub(super) struct Folded {
    pieces: Vec<Piece>,
    /// Where its span ends (past its closing quote, when quoted).
    pub(super) end: usize,
    /// The start of the line after its last one.
    pub(super) resume: usize,
    /// The end of its last line (what follows the scalar there is the caller's to read).
    pub(super) last_line_end: usize,
    /// A comment ending a plain scalar's last line: its `#`.
    pub(super) comment: Option<usize>,
}

/// Whether the next line that is not empty goes on with a plain scalar: more indented than
/// `indent`, and not a comment.
pub(super) fn plain_goes_on(bytes: &[u8], from: usize, indent: usize) -> bool {
    next_text_line(bytes, from)
        .is_some_and(|(start, q, _, _)| q - start > indent && bytes[q] != b'#')
}

/// The next line from `at` with text on it: its start, where its text starts, its end, and how
/// many empty lines come before it.
fn next_text_line(bytes: &[u8], mut at: usize) -> Option<(usize, usize, usize, usize)> {
    let mut empty = 0;
    while at < bytes.len() {
        let end = line_end(bytes, at);
        let q = skip_spaces(bytes, at, end);
        if q < end {
            return Some((at, q, end, empty));
        }
        empty += 1;
        at = next_line(bytes, end);
    }
    None
}

impl Folded {
    fn new(start: usize, end: usize, from: usize) -> Self {
        Folded {
            pieces: vec![Piece {
                start,
                end,
                empty_before: 0,
            }],
            end,
            resume: from,
            last_line_end: end,
            comment: None,
        }
    }

    /// A scalar of several lines whose first line is `p..first_end` (its quote at `p`, if
    /// `quoted`), going on over the lines from `from`, each more indented than `indent`: a plain
    /// one up to a line that is not (see [`plain_goes_on`]), a single-quoted one up to its
    /// closing quote.
    pub(super) fn read(
        bytes: &[u8],
        (p, first_end): (usize, usize),
        from: usize,
        indent: usize,
        quoted: bool,
    ) -> Result<Self, Decline> {
        if !quoted {
            let mut folded = Folded::new(p, first_end, from);
            folded.plain_lines(bytes, indent)?;
            return Ok(folded);
        }
        let first = super::lines::trim_spaces(bytes, p + 1, first_end);
        // A first or last line without text is left to granit-parser.
        if first == p + 1 {
            return Err(Decline);
        }
        let mut folded = Folded::new(p + 1, first, from);
        folded.quoted_lines(bytes, indent)?;
        Ok(folded)
    }

    fn plain_lines(&mut self, bytes: &[u8], indent: usize) -> Result<(), Decline> {
        let mut at = self.resume;
        while let Some((start, q, end, empty)) = next_text_line(bytes, at) {
            if q - start <= indent || bytes[q] == b'#' {
                break;
            }
            check_line(&bytes[start..end])?;
            // Any character but a comment's `#` may start a line that goes on with it.
            let (text_end, stop) = scan_plain(bytes, q, end);
            if let Stop::Colon(_) = stop {
                return Err(Decline);
            }
            self.push(q, text_end, empty);
            self.end = text_end;
            at = next_line(bytes, end);
            self.resume = at;
            self.last_line_end = end;
            if let Stop::Comment(hash) = stop {
                self.comment = Some(hash);
                break;
            }
        }
        Ok(())
    }

    fn quoted_lines(&mut self, bytes: &[u8], indent: usize) -> Result<(), Decline> {
        let mut at = self.resume;
        while let Some((start, q, end, empty)) = next_text_line(bytes, at) {
            if q - start <= indent {
                return Err(Decline);
            }
            check_line(&bytes[start..end])?;
            at = next_line(bytes, end);
            match closing_quote(bytes, q, end) {
                Some(close) if close == q => return Err(Decline),
                Some(close) => {
                    self.push(q, close, empty);
                    self.end = close + 1;
                    self.resume = at;
                    self.last_line_end = end;
                    return Ok(());
                }
                None => self.push(q, super::lines::trim_spaces(bytes, q, end), empty),
            }
        }
        Err(Decline)
    }

    fn push(&mut self, start: usize, end: usize, empty_before: usize) {
        self.pieces.push(Piece {
            start,
            end,
            empty_before,
        });
    }

    /// The folded value (`quoted`: with each `''` read as `'`), sized once so that no grown
    /// copy of a secret is left behind.
    pub(super) fn value(&self, text: &str, quoted: bool) -> String {
        let size: usize = self
            .pieces
            .iter()
            .map(|p| p.end - p.start + p.empty_before.max(1))
            .sum();
        let mut value = String::with_capacity(size);
        for (n, piece) in self.pieces.iter().enumerate() {
            if n > 0 {
                if piece.empty_before == 0 {
                    value.push(' ');
                } else {
                    value.extend(std::iter::repeat_n('\n', piece.empty_before));
                }
            }
            let line = &text[piece.start..piece.end];
            if quoted {
                let mut parts = line.split("''");
                if let Some(first) = parts.next() {
                    value.push_str(first);
                }
                for part in parts {
                    value.push('\'');
                    value.push_str(part);
                }
            } else {
                value.push_str(line);
            }
        }
        value
    }
}
