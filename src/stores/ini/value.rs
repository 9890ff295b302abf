//! Reading a key line's name and value as ini.v1 does: quoted keys, values in quotes or backticks
//! (which may span lines), `\` continuations, and the inline comment that may follow a value.

use super::parse::{Lines, PendingComment};
use super::quote::has_surrounded_quote;
use super::{parse_error, CommentPiece, Quoting, ValueSpan};
use crate::stores::StoreError;
use crate::wipe::Wiped;

/// Byte offset of the first non-blank char of `s`, added to `base`.
fn first_non_blank(s: &str, base: usize) -> usize {
    base + (s.len() - s.trim_start().len())
}

/// ini.v1's `readKeyName`: the key and the offset of the value in `line`.
pub(super) fn read_key_name(line: &str) -> Result<(String, usize), &'static str> {
    let quote = if line.starts_with("\"\"\"") && line.len() > 6 {
        "\"\"\""
    } else if line.starts_with('"') {
        "\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let Some(pos) = line[start..].find(quote).map(|p| p + start) else {
            return Err("missing closing key quote");
        };
        let Some(i) = line.get(pos + start..).and_then(|r| r.find(['=', ':'])) else {
            return Err("key-value delimiter not found");
        };
        if !line[pos + start..pos + start + i].trim().is_empty() {
            return Err("text between a quoted key and its '=' (ini readers ignore it)");
        }
        let end = pos + i;
        return Ok((line[start..pos].trim().to_string(), end + start + 1));
    }
    match line.find(['=', ':']) {
        None => Err("key-value delimiter not found"),
        Some(0) => Err("empty key name"),
        Some(e) => Ok((line[..e].trim().to_string(), e + 1)),
    }
}

/// ini.v1's `readValue` on `rest` (the key line after its delimiter, which starts at byte
/// `base`), consuming following lines for multi-line values; adds any inline comment to
/// `pending`.
pub(super) fn read_value(
    lines: &mut Lines<'_>,
    rest: &str,
    base: usize,
    pending: &mut PendingComment,
) -> Result<(Wiped<String>, ValueSpan), StoreError> {
    let line_start = lines.ranges[lines.next - 1].0;
    let text = rest.trim_start();
    let text_start = first_non_blank(rest, base);
    if text.is_empty() {
        // Empty value: a zero-width span at the end of the line's text.
        let end = base + rest.trim_end().len();
        return Ok((
            Wiped::new(String::new()),
            ValueSpan {
                inner: (end, end),
                outer: (end, end),
                quoting: Quoting::Raw,
            },
        ));
    }
    if text.len() > 3 && text.starts_with("\"\"\"") {
        return read_quoted(lines, text, text_start, "\"\"\"", pending);
    }
    if text.starts_with('`') {
        return read_quoted(lines, text, text_start, "`", pending);
    }
    let line = text.trim();
    if let Some(stem) = line.strip_suffix('\\') {
        return Ok(read_continued(lines, stem, text_start, line.len()));
    }
    read_single_line(lines.src, line, text_start, line_start, pending)
}

/// A value in `"""` or backticks (`quote`), `text` starting with it at byte `text_start`: up to
/// the last such quote on its line, or on a following line.
fn read_quoted(
    lines: &mut Lines<'_>,
    text: &str,
    text_start: usize,
    quote: &str,
    pending: &mut PendingComment,
) -> Result<(Wiped<String>, ValueSpan), StoreError> {
    let line_start = lines.ranges[lines.next - 1].0;
    let quoting = if quote == "`" {
        Quoting::Backticks
    } else {
        Quoting::TripleQuoted
    };
    let q = quote.len();
    if let Some(pos) = text[q..].rfind(quote) {
        let inner = (text_start + q, text_start + q + pos);
        let after_start = q + pos + q;
        after_closing_quote(
            lines.src,
            line_start,
            &text[after_start..],
            text_start + after_start,
            pending,
        )?;
        return Ok((
            Wiped::new(text[q..q + pos].to_string()),
            ValueSpan {
                inner,
                outer: (text_start, inner.1 + q),
                quoting,
            },
        ));
    }
    // Multi-line: up to the last quote on a following line.
    let mut value = Wiped::new(text[q..].to_string());
    loop {
        if lines.next >= lines.ranges.len() {
            return Err(parse_error(
                lines.src,
                line_start,
                "missing closing key quote",
            ));
        }
        let (next_start, next_end) = lines.ranges[lines.next];
        let next = lines.line(lines.next);
        lines.next += 1;
        if let Some(pos) = next.rfind(quote) {
            value.push_str(&next[..pos]);
            after_closing_quote(
                lines.src,
                next_start,
                &next[pos + q..],
                next_start + pos + q,
                pending,
            )?;
            return Ok((
                value,
                ValueSpan {
                    inner: (text_start + q, next_start + pos),
                    outer: (text_start, next_start + pos + q),
                    quoting,
                },
            ));
        }
        value.push_str(next);
        if next_end == lines.text.len() && !next.ends_with('\n') {
            return Err(parse_error(
                lines.src,
                line_start,
                "missing closing key quote",
            ));
        }
    }
}

/// A value continued with `\` (`stem` is its first line's text without it, `first_len` that
/// line's trimmed length): following lines trimmed and joined, no inline comment, no unquoting.
fn read_continued(
    lines: &mut Lines<'_>,
    stem: &str,
    text_start: usize,
    first_len: usize,
) -> (Wiped<String>, ValueSpan) {
    let mut value = Wiped::new(stem.to_string());
    let mut end = text_start + first_len;
    while lines.next < lines.ranges.len() {
        let (next_start, _) = lines.ranges[lines.next];
        let raw = lines.line(lines.next);
        lines.next += 1;
        let next = raw.trim();
        if next.is_empty() {
            break;
        }
        value.push_str(next);
        end = first_non_blank(raw, next_start) + next.len();
        if !value.ends_with('\\') {
            break;
        }
        value.pop();
    }
    (
        value,
        ValueSpan {
            inner: (text_start, end),
            outer: (text_start, end),
            quoting: Quoting::Continued,
        },
    )
}

/// A value on one line (`line`, trimmed, at byte `text_start`): an inline comment after it goes
/// to `pending`, then surrounding `'` or `"` are unwrapped.
fn read_single_line(
    src: &[u8],
    line: &str,
    text_start: usize,
    line_start: usize,
    pending: &mut PendingComment,
) -> Result<(Wiped<String>, ValueSpan), StoreError> {
    let mut line = line;
    if let Some(i) = line.find(['#', ';']) {
        let comment = &line[i..];
        let comment_start = text_start + i;
        let before = line[..i].trim_end();
        pending.add(
            comment,
            CommentPiece {
                content: (comment_start, comment_start + comment.len()),
                removal: (text_start + before.len(), comment_start + comment.len()),
                inline: true,
                after_header: false,
                line_start,
            },
        );
        line = before.trim_start();
        if line.ends_with('\\') && pending.has_comment_line() {
            // The inline comment is joined with the comment lines above and moves up with them:
            // written back without it, the value would continue on the next line.
            return Err(parse_error(
                src,
                line_start,
                "a value ending in '\\' followed by an inline comment, below comment lines; move the inline comment to a line of its own",
            ));
        }
    }
    let (value, inner, quoting) = if has_surrounded_quote(line, b'\'') {
        (
            &line[1..line.len() - 1],
            (text_start + 1, text_start + line.len() - 1),
            Quoting::SingleQuoted,
        )
    } else if has_surrounded_quote(line, b'"') {
        (
            &line[1..line.len() - 1],
            (text_start + 1, text_start + line.len() - 1),
            Quoting::DoubleQuoted,
        )
    } else {
        (line, (text_start, text_start + line.len()), Quoting::Raw)
    };
    Ok((
        Wiped::new(value.to_string()),
        ValueSpan {
            inner,
            outer: (text_start, text_start + line.len()),
            quoting,
        },
    ))
}

/// What follows a closing `"""` or backtick (`after`, starting at byte `base`): blanks, or an
/// inline comment (added to `pending`). Anything else is refused: ini.v1 ignores it, so copying it
/// through would leave it in clear.
fn after_closing_quote(
    src: &[u8],
    line_start: usize,
    after: &str,
    base: usize,
    pending: &mut PendingComment,
) -> Result<(), StoreError> {
    let text = after.trim_start();
    if text.trim().is_empty() {
        return Ok(());
    }
    if !(text.starts_with('#') || text.starts_with(';')) {
        return Err(parse_error(
            src,
            line_start,
            "text after a quoted value's closing quote (ini readers ignore it); remove it or make it a comment",
        ));
    }
    let comment = text.trim_end();
    let comment_start = first_non_blank(after, base);
    pending.add(
        comment,
        CommentPiece {
            content: (comment_start, comment_start + comment.len()),
            removal: (base, comment_start + comment.len()),
            inline: true,
            after_header: false,
            line_start,
        },
    );
    Ok(())
}
