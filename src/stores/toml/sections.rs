//! The sections of a TOML file for text edits: each `[table]` / `[[array]]` header with the tree
//! path it opens (an array of tables' element by its index), the byte range it spans (to the next
//! header), and the lines in it that hold content (not blank, not a whole-line comment). `set`
//! puts a new key after a table's last content line; `unset` of a table removes its sections.

use super::Layout;
use crate::treepath::Step;

/// One header's section.
#[derive(Debug)]
pub(super) struct Section {
    /// The tree path it opens: `[a.b]` → `a`, `b`; the second `[[s]]` → `s`, 1.
    pub steps: Vec<Step>,
    /// From the start of the header's line to the start of the next header's line (or the end).
    pub start: usize,
    pub end: usize,
    /// Where the header's line ends (after its line break).
    pub body_start: usize,
}

/// The end of the line holding `at` (after its line break, or the end of `src`).
pub(super) fn line_end(src: &[u8], at: usize) -> usize {
    src[at.min(src.len())..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |p| at + p + 1)
}

/// Every section, in file order.
pub(super) fn sections(layout: &Layout) -> Vec<Section> {
    let src = &layout.src[..];
    // Arrays of tables seen so far (by resolved path) and how many elements each has.
    let mut counts: Vec<(Vec<Step>, usize)> = Vec::new();
    let mut out = Vec::with_capacity(layout.headers.len());
    for (n, h) in layout.headers.iter().enumerate() {
        let mut steps = Vec::new();
        for (i, key) in h.keys.iter().enumerate() {
            steps.push(Step::Key(key.clone()));
            let last = i + 1 == h.keys.len();
            let seen = counts.iter_mut().find(|(p, _)| *p == steps);
            match (last && h.array, seen) {
                (true, Some((_, count))) => {
                    steps.push(Step::Index(*count));
                    *count += 1;
                }
                (true, None) => {
                    counts.push((steps.clone(), 1));
                    steps.push(Step::Index(0));
                }
                (false, Some((_, count))) => steps.push(Step::Index(count.saturating_sub(1))),
                (false, None) => {}
            }
        }
        let end = layout
            .headers
            .get(n + 1)
            .map_or(src.len(), |next| next.line_start);
        out.push(Section {
            steps,
            start: h.line_start,
            end,
            body_start: line_end(src, h.line_start).min(end),
        });
    }
    out
}

/// Whether the line starting at `start` is blank or only a comment.
fn empty_line(layout: &Layout, start: usize) -> bool {
    let src = &layout.src[..];
    let end = line_end(src, start);
    match src[start..end]
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        None => true,
        Some(p) => layout.comment_hashes.binary_search(&(start + p)).is_ok(),
    }
}

/// The start of every line in `start..end` (`start` is a line start).
fn line_starts(src: &[u8], start: usize, end: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        out.push(at);
        at = line_end(src, at);
    }
    out
}

/// The line start and line end of the last content line in `start..end`.
pub(super) fn last_content_line(
    layout: &Layout,
    start: usize,
    end: usize,
) -> Option<(usize, usize)> {
    let src = &layout.src[..];
    line_starts(src, start, end)
        .into_iter()
        .rev()
        .find(|&l| !empty_line(layout, l))
        .map(|l| (l, line_end(src, l)))
}

/// The indentation of the first content line in `start..end`.
pub(super) fn indentation(layout: &Layout, start: usize, end: usize) -> &[u8] {
    let src = &layout.src[..];
    line_starts(src, start, end)
        .into_iter()
        .find(|&l| !empty_line(layout, l))
        .map_or(&[][..], |l| {
            let n = src[l..]
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            &src[l..l + n]
        })
}

/// `at` (a line start) moved up over the whole-line comments right above it (no blank line
/// between): the comments that belong to the header at `at`.
pub(super) fn with_comments_above(layout: &Layout, at: usize) -> usize {
    let src = &layout.src[..];
    let mut start = at;
    while start > 0 {
        let prev = src[..start - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let line = &src[prev..start];
        let blank = line
            .iter()
            .all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if blank || !empty_line(layout, prev) {
            break;
        }
        start = prev;
    }
    start
}
