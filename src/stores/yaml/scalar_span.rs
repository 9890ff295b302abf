//! Where a scalar token sits in the source and in which form: its span, style and tags, and for
//! a block scalar (`|`, `>`) its header, its content lines and their column, and whether its
//! header is the one go-yaml writes for the string.

use super::convert::ValueContext;
use super::layout::{BlockSpan, ScalarSpan};
use super::node::{CoreTag, Node, NodeKind};
use super::scalar_text::plain_ok;
use super::source::Source;
use super::style::{pick_style, Style};

/// The span and form of a scalar token in the source (`is_str`: it is typed a string).
pub(super) fn scalar_span(src: &Source, n: &Node, ctx: ValueContext, is_str: bool) -> ScalarSpan {
    let token_start = n.token_start();
    let (value, style, tag) = match &n.kind {
        NodeKind::Scalar {
            value, style, tag, ..
        } => (value.as_ref(), Style::from(*style), tag),
        _ => ("", Style::Plain, &CoreTag::NONE),
    };
    let mut block = if matches!(style, Style::Literal | Style::Folded) {
        block_span(src, n, ctx)
    } else {
        None
    };
    if let Some(b) = block.as_mut().filter(|_| is_str && !ctx.flow) {
        b.goyaml = goyaml_header(src, b, value, ctx);
    }
    let str_tag = tag.suffix() == Some("str");
    let is_enc = is_str && value.starts_with("ENC[") && value.ends_with(']');
    // Only read when a plain value gets a new ciphertext in place of itself, never in place of
    // an `ENC[...]` token (which keeps its own form): not worked out for one (a decryption's
    // every value; the scan was a fifth of the conversion of an encrypted file).
    let keep_plain = !is_enc
        && is_str
        && style == Style::Plain
        && pick_style(value, Style::Plain, ctx.flow, false) != Style::Plain
        && plain_ok(value, ctx.flow);
    ScalarSpan {
        str_tag,
        is_enc,
        keep_plain,
        start: token_start,
        end: n.end().max(token_start),
        tag_start: n.tag_start().filter(|t| *t < token_start),
        style: if block.is_none() && matches!(style, Style::Literal | Style::Folded) {
            Style::Plain
        } else {
            style
        },
        flow: ctx.flow,
        owner_col: ctx.owner_col,
        dash: ctx.dash,
        block: block.map(Box::new),
    }
}

/// The block scalar layout of node `n`, when its header comes before its token.
fn block_span(src: &Source, n: &Node, ctx: ValueContext) -> Option<BlockSpan> {
    let b = src.bytes();
    let from = ctx.prev_end.max(n.props_end()).min(b.len());
    let token_start = n.token_start();
    let (header_start, header_end, content_start) = find_header(b, from, token_start)?;
    let mut span_end = n.end().max(content_start).min(b.len());
    // The scanner's span may take in the indentation of the next line: end at its start.
    let last_ls = b[..span_end]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    if last_ls >= content_start && b[last_ls..span_end].iter().all(|&c| c == b' ') {
        span_end = last_ls;
    }
    let lines = content_lines(b, content_start, span_end);
    let content_col = if token_start >= content_start
        && token_start < span_end
        && lines.content_end > content_start
    {
        src.col(token_start)
    } else {
        // No content line: where the header's indicator puts it (for a map value; go-yaml
        // puts a sequence element's two columns after the dash).
        let digit = b[header_start..header_end]
            .iter()
            .find(|c| c.is_ascii_digit())
            .map(|d| usize::from(d - b'0'));
        let step = match digit {
            Some(d) if ctx.dash.is_none() && d > 0 => d,
            _ => 2,
        };
        ctx.owner_col + step
    };
    Some(BlockSpan {
        header_start,
        header_end,
        content_start,
        content_end: lines.content_end,
        span_end,
        content_col,
        trailing_blanks: lines.trailing_blanks,
        has_content: lines.has_content,
        goyaml: false,
    })
}

/// The header between `from` and the token start: (header start, header end, start of the next
/// line). `None` when there is none, or a comment comes first.
fn find_header(b: &[u8], from: usize, token_start: usize) -> Option<(usize, usize, usize)> {
    let limit = token_start.min(b.len());
    let mut i = from;
    while i < limit && b[i] != b'|' && b[i] != b'>' {
        if b[i] == b'#' {
            // A comment before the header (on the key's line or a line of its own): the
            // header is on a later line.
            while i < limit && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    // Without content lines the token starts at the header itself.
    if i > limit || !matches!(b.get(i), Some(b'|' | b'>')) {
        return None;
    }
    let header_start = i;
    i += 1;
    while i < b.len() && matches!(b[i], b'0'..=b'9' | b'+' | b'-') {
        i += 1;
    }
    let header_end = i;
    while i < b.len() && b[i] != b'\n' {
        i += 1;
    }
    Some((header_start, header_end, (i + 1).min(b.len())))
}

/// What the lines of a block's content hold.
struct ContentLines {
    /// End of the last non-blank line (its line break excluded).
    content_end: usize,
    /// Blank lines after it.
    trailing_blanks: usize,
    has_content: bool,
}

/// The last non-blank line in `content_start..span_end`, and the blank lines after it.
fn content_lines(b: &[u8], content_start: usize, span_end: usize) -> ContentLines {
    let mut lines = ContentLines {
        content_end: content_start,
        trailing_blanks: 0,
        has_content: false,
    };
    let mut ls = content_start;
    while ls < span_end {
        let le = b[ls..span_end]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(span_end, |p| ls + p + 1);
        // A tab after the indentation is content.
        let blank = b[ls..le].iter().all(|c| matches!(c, b' ' | b'\r' | b'\n'));
        if blank {
            if le > ls && b[le - 1] == b'\n' {
                lines.trailing_blanks += 1;
            }
        } else {
            let mut e = le;
            if e > ls && b[e - 1] == b'\n' {
                e -= 1;
                if e > ls && b[e - 1] == b'\r' {
                    e -= 1;
                }
            }
            lines.content_end = e;
            lines.has_content = true;
            lines.trailing_blanks = 0;
        }
        ls = le;
    }
    lines
}

/// Whether a block scalar's header is go-yaml's for this string (see [`BlockSpan::goyaml`]):
/// its indicator is the indentation step while the content sits where go-yaml puts it, at
/// another distance from the parent node.
fn goyaml_header(src: &Source, b: &BlockSpan, value: &str, ctx: ValueContext) -> bool {
    let header = src.bytes().get(b.header_start..b.header_end).unwrap_or(&[]);
    let Some(step) = header
        .iter()
        .find(|c| c.is_ascii_digit())
        .map(|d| usize::from(d - b'0'))
        .filter(|d| *d > 0)
    else {
        return false;
    };
    let col = match ctx.dash {
        Some(_) => ctx.owner_col + 2,
        None => step * ((ctx.owner_col + step) / step),
    };
    let tail = src
        .bytes()
        .get(b.header_end..b.content_start)
        .unwrap_or(&[]);
    let lines_ok = if b.has_content {
        b.trailing_blanks == 0 || header.contains(&b'+')
    } else {
        value.bytes().all(|c| c == b'\n')
    };
    b.content_col == col
        && b.content_col != ctx.owner_col + step
        && lines_ok
        && tail
            .iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        && value.starts_with([' ', '\n'])
        && pick_style(value, Style::Plain, false, false) == Style::Literal
}
