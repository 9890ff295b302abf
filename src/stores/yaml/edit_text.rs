//! Look-ups in the source of a `set`/`unset` (line ends, a key's `:`, comments on a line) and the
//! texts of new values as go-yaml writes them, in the file's line breaks.

use granit_parser::ScalarStyle;

use super::emitter::Emitter;
use super::metadata::flow_value;
use super::node::{Node, NodeKind};
use super::scalar_text::{double_quoted, inline_scalar};
use super::source::Source;
use crate::tree::{secret, Scalar, Value};

/// One replacement of `text[start..end]`.
pub(super) type Replacement = (usize, usize, String);

/// The source of a `set`/`unset`, with its line breaks and indentation step.
pub(super) struct Editor<'a> {
    pub(super) src: &'a Source<'a>,
    pub(super) nl: &'static str,
    pub(super) indent: usize,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

impl Editor<'_> {
    /// The source's text.
    pub(super) fn bytes(&self) -> &[u8] {
        self.src.bytes()
    }

    /// End of a node without the line breaks and blanks a block scalar's span takes along.
    pub(super) fn trimmed_end(&self, n: &Node) -> usize {
        let b = self.bytes();
        let mut e = n.end().min(b.len());
        while e > n.start() && matches!(b[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
            e -= 1;
        }
        e
    }

    /// Where the lines that follow a node start: after its last line, or for a block scalar
    /// that keeps its trailing blank lines (`|+`), after those.
    pub(super) fn after_node(&self, n: &Node, min: usize) -> usize {
        let end = self.trimmed_end(n).max(min);
        if let NodeKind::Scalar {
            style: ScalarStyle::Literal | ScalarStyle::Folded,
            ..
        } = &n.kind
        {
            // The header sits on the line of the key's `:` or of the dash (`min`).
            let b = self.bytes();
            let line = &b[min.min(b.len())..self.line_text_end(min)];
            let header = line.split(|&c| c == b'#').next().unwrap_or_default();
            if header.contains(&b'+') && n.end() > end {
                let e = n.end().min(b.len());
                return if e > 0 && b[e - 1] == b'\n' {
                    e
                } else {
                    self.line_after(e)
                };
            }
        }
        self.line_after(end)
    }

    /// Is `n` the empty scalar of `key:` or `-` with nothing after it?
    pub(super) fn is_empty(n: &Node) -> bool {
        matches!(&n.kind, NodeKind::Scalar { value, .. } if value.is_empty())
            && n.end() <= n.start()
    }

    /// Start of the line after the one holding `pos` (or the end of the text).
    pub(super) fn line_after(&self, pos: usize) -> usize {
        let b = self.bytes();
        match b[pos.min(b.len())..].iter().position(|&c| c == b'\n') {
            Some(p) => pos + p + 1,
            None => b.len(),
        }
    }

    /// End of the text of the line holding `pos` (before its line break).
    pub(super) fn line_text_end(&self, pos: usize) -> usize {
        let b = self.bytes();
        let mut e = self.line_after(pos);
        if e > 0 && b.get(e - 1) == Some(&b'\n') {
            e -= 1;
            if e > 0 && b[e - 1] == b'\r' {
                e -= 1;
            }
        }
        e.max(pos)
    }

    /// Is there only blank space between the start of `pos`'s line and `pos`?
    pub(super) fn first_on_line(&self, pos: usize) -> bool {
        let ls = self.src.line_start(pos);
        self.bytes()[ls..pos].iter().all(|&c| is_blank(c))
    }

    /// The `:` after a key.
    pub(super) fn colon_after(&self, key: &Node) -> Option<usize> {
        let b = self.bytes();
        let mut i = key.end();
        while i < b.len() && is_blank(b[i]) {
            i += 1;
        }
        (b.get(i) == Some(&b':')).then_some(i)
    }

    /// A `# comment` in `from..to` (a `#` at its start or after blank space), up to `to`.
    pub(super) fn comment_in(&self, from: usize, to: usize) -> Option<(usize, usize)> {
        let b = self.bytes();
        let mut i = from;
        while i < to {
            if b[i] == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n')) {
                let mut e = to;
                while e > i && matches!(b[e - 1], b' ' | b'\t' | b'\r') {
                    e -= 1;
                }
                return Some((i, e));
            }
            if !is_blank(b[i]) {
                return None;
            }
            i += 1;
        }
        None
    }

    /// A text emitted with `\n` line breaks, in the file's line breaks.
    fn with_nl(&self, s: &str) -> String {
        if self.nl == "\n" {
            s.to_string()
        } else {
            s.replace('\n', self.nl)
        }
    }

    /// What go-yaml writes after `key:` (map at `col`) or `-` (sequence at `col`), without the
    /// final line break.
    pub(super) fn block_after(&self, v: &Value, col: usize, in_seq: bool) -> String {
        let mut em = Emitter::new(self.indent);
        em.value_after(v, col, in_seq);
        let s = em.out.strip_suffix('\n').unwrap_or(&em.out);
        self.with_nl(s)
    }

    /// A value in flow style.
    pub(super) fn flow_text(v: &Value) -> String {
        let mut s = String::new();
        flow_value(v, &mut s);
        s
    }

    /// A key as go-yaml writes it (in flow context when `flow`).
    pub(super) fn key_text(k: &str, flow: bool) -> String {
        inline_scalar(&Scalar::Str(secret(k)), flow, true).unwrap_or_else(|| double_quoted(k))
    }

    /// New lines (emitted with `\n` line breaks, each terminated) inserted at line start `at`.
    pub(super) fn lines_at(&self, at: usize, content: &str) -> Replacement {
        let b = self.bytes();
        let content = self.with_nl(content);
        if at >= b.len() && !b.is_empty() && !b.ends_with(b"\n") {
            let body = content.strip_suffix(self.nl).unwrap_or(&content);
            (at, at, format!("{}{body}", self.nl))
        } else {
            (at, at, content)
        }
    }
}
