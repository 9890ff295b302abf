//! The source text of a YAML stream and look-ups in it: lines, columns, and the dash of a block
//! sequence element.

use std::sync::OnceLock;

/// The source text, for line and column look-ups.
pub(super) struct Source<'a> {
    pub(super) text: &'a str,
    /// The start of each line, found when first asked for: a reading without comments, aliases
    /// or errors never asks (a column is found from the line feed before it), and finding them
    /// was a pass over the whole text and a vector of a word per line, for every reading.
    line_starts: OnceLock<Vec<usize>>,
}

/// How far back a column is looked for by its line feed before the line starts are asked for
/// (a long line, as a document of one line, would otherwise be scanned again for each node).
const NEAR: usize = 4096;

impl<'a> Source<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Source {
            text,
            line_starts: OnceLock::new(),
        }
    }

    /// The same look-ups over `text`, whose lines start where this source's do.
    pub(super) fn with_lines_of(&self, text: &'a str) -> Self {
        Source {
            text,
            line_starts: self.line_starts.clone(),
        }
    }
}

impl Source<'_> {
    /// The start of each line.
    pub(super) fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            // The line breaks found by memchr's vector search: a byte loop was most of the
            // time `parse` spent outside the parser and the conversion on a large file.
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|i| i + 1))
                .collect()
        })
    }

    /// 0-based line holding byte `pos`.
    pub(super) fn line_of(&self, pos: usize) -> usize {
        match self.line_starts().binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    pub(super) fn line_start(&self, pos: usize) -> usize {
        let b = self.bytes();
        let at = pos.min(b.len());
        let from = at.saturating_sub(NEAR);
        match memchr::memrchr(b'\n', &b[from..at]) {
            Some(i) => from + i + 1,
            None if from == 0 => 0,
            None => {
                let starts = self.line_starts();
                starts.get(self.line_of(pos)).copied().unwrap_or(0)
            }
        }
    }

    pub(super) fn col(&self, pos: usize) -> usize {
        pos - self.line_start(pos)
    }

    pub(super) fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The dash of a block sequence element starting at `pos`: the last `-` before it, skipping
    /// blank space, line breaks and comments.
    pub(super) fn dash_before(&self, pos: usize) -> usize {
        let b = self.bytes();
        let mut end = pos.min(b.len());
        for _ in 0..64 {
            let ls = if end > 0 && b[end - 1] == b'\n' {
                self.line_start(end - 1)
            } else {
                self.line_start(end)
            };
            let seg = strip_header_and_props(without_comment(&b[ls..end]));
            let trimmed = seg
                .iter()
                .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
            match trimmed {
                Some(i) if seg[i] == b'-' => return ls + i,
                Some(_) => return pos,
                None if ls == 0 => return pos,
                None => end = ls,
            }
        }
        pos
    }
}

/// A line without its trailing comment (a `#` at its start or after blank space).
fn without_comment(line: &[u8]) -> &[u8] {
    let mut cut = line.len();
    for (i, &c) in line.iter().enumerate() {
        if c == b'#' && (i == 0 || matches!(line[i - 1], b' ' | b'\t')) {
            cut = i;
            break;
        }
    }
    &line[..cut]
}

/// A line's text without the block scalar header and node properties it ends with
/// (`- &a !t |2-`).
fn strip_header_and_props(mut seg: &[u8]) -> &[u8] {
    loop {
        let t = seg
            .iter()
            .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            .map_or(0, |i| i + 1);
        seg = &seg[..t];
        let ws = seg
            .iter()
            .rposition(|c| matches!(c, b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let word = &seg[ws..];
        let is_header = matches!(word.first(), Some(b'|' | b'>'))
            && word[1..]
                .iter()
                .all(|c| matches!(c, b'0'..=b'9' | b'+' | b'-'));
        let is_prop = matches!(word.first(), Some(b'&' | b'!'));
        if !word.is_empty() && (is_header || is_prop) {
            seg = &seg[..ws];
        } else {
            return seg;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The line starts and the lone-CR check found by vector search are those of a plain
        /// byte scan.
        #[test]
        fn vector_search_finds_what_a_byte_scan_finds(
            text in "[a\\n\\r: é]{0,80}|(a{4000,4200}\\n){0,3}a{0,4200}",
        ) {
            let mut want = vec![0];
            want.extend(text.bytes().enumerate().filter(|(_, c)| *c == b'\n').map(|(i, _)| i + 1));
            let source = Source::new(&text);
            prop_assert_eq!(source.line_starts(), &want[..]);
            // A line's start and a column found from the line feed before, or from the line
            // starts for a long line, are those of the line starts.
            for pos in 0..=text.len() + 1 {
                let line = source.line_of(pos);
                prop_assert_eq!(source.line_start(pos), want[line]);
                prop_assert_eq!(source.col(pos), pos - want[line]);
            }
            let b = text.as_bytes();
            let lone = b
                .windows(2)
                .position(|w| w[0] == b'\r' && w[1] != b'\n')
                .or_else(|| (b.last() == Some(&b'\r')).then(|| b.len() - 1));
            prop_assert_eq!(
                crate::stores::refuse_lone_cr(b).err().and_then(|e| e.line),
                lone.map(|at| crate::stores::text::line_of(b, at))
            );
        }
    }
}
