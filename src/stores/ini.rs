//! INI store with gopkg.in/ini.v1 reading semantics (as sops configures it: non-unique sections)
//! and a lossless layout for splicing; `emit` reproduces ini.v1's writer as sops drives it.
//!
//! Tree: one `Pair{section name, Map}` per section, the implicit `DEFAULT` section first (always
//! present, as in sops, possibly empty). In a section map: the section's comment (if any) first,
//! then each key followed by its comment item (the comment lines above it plus its inline comment).
//! Comment lines at the end of the file (which ini.v1 drops) become a last comment item of the
//! last section, so that they are encrypted too.

use zeroize::Zeroizing;

use super::keyvalue::{set_metadata_ids, value_to_string};
use super::text::{apply_edits, into_vec, line_of, line_range, remove_lines, Edit};
use super::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::metadata::flat::{flatten, unflatten};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value};
use crate::treepath::Step;

const PARSE_PREFIX: &str = "Could not unmarshal input data: ";

/// How a value token is written in the source.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ctx {
    Raw,
    /// `"…"` (unwrapped by ini.v1)
    Dq,
    /// `'…'`
    Sq,
    /// `` `…` `` (may span lines)
    Backtick,
    /// `"""…"""` (may span lines)
    Triple,
    /// A value continued with `\` over several lines.
    Continued,
}

#[derive(Clone, Debug)]
struct ValSpan {
    /// The value's text (inside quotes when quoted).
    inner: (usize, usize),
    /// The whole token, quotes included.
    outer: (usize, usize),
    ctx: Ctx,
}

/// One physical piece of a comment.
#[derive(Clone, Debug)]
struct Piece {
    /// Content (from the marker to the end of the line's text, trailing blanks excluded).
    content: (usize, usize),
    /// What to delete to remove the piece: the whole line (with its line break) for a comment
    /// line, or the inline comment with the blanks before it.
    removal: (usize, usize),
    inline: bool,
    /// An inline comment after a section header (cannot hold `]`, so never rewritten in place).
    header: bool,
    /// Line start of the line the piece sits on (for inline pieces: the key/header line).
    line_start: usize,
}

#[derive(Clone, Debug)]
struct CommentLoc {
    pieces: Vec<Piece>,
    /// Where the comment's text (after the stripped marker run) begins.
    text_start: usize,
}

enum LeafLoc {
    Value(Vec<ValSpan>),
    Comment(CommentLoc),
}

/// Where things are in a parsed INI file.
pub struct Layout {
    src: Zeroizing<Vec<u8>>,
    leaves: Vec<LeafLoc>,
    /// Byte range of the `[sops]` section (header through its last key line, line break included).
    sops: Option<(usize, usize)>,
    crlf: bool,
    /// Per section of the tree (in order): header line start (or where the implicit `DEFAULT`
    /// section starts) and the end of its last key line (line break included).
    sections: Vec<(usize, usize)>,
}

struct PendingComment {
    buf: String,
    pieces: Vec<Piece>,
}

impl PendingComment {
    fn new() -> Self {
        PendingComment {
            buf: String::new(),
            pieces: Vec::new(),
        }
    }
}

struct KeyInfo {
    name: String,
    value: Zeroizing<String>,
    spans: Vec<ValSpan>,
    comment: Option<(String, CommentLoc)>,
    /// Earlier occurrences of the key in the section, which ini.v1 (hence sops) overwrites with
    /// this one: each keeps its own value as a shadowed leaf.
    shadowed: Vec<Occurrence>,
}

/// One earlier occurrence of a key given twice.
struct Occurrence {
    value: Zeroizing<String>,
    spans: Vec<ValSpan>,
    comment: Option<(String, CommentLoc)>,
}

struct SectionInfo {
    name: String,
    comment: Option<(String, CommentLoc)>,
    keys: Vec<KeyInfo>,
    trailing: Option<(String, CommentLoc)>,
    /// Header line start and end of the last content line.
    range: (usize, usize),
}

/// sops's `stripCommentChar`: number of leading bytes removed.
fn strip_len(c: &str) -> usize {
    let set: &[char] = if c.starts_with(';') {
        &[';', ' ']
    } else if c.starts_with('#') {
        &['#', ' ']
    } else {
        return 0;
    };
    c.len() - c.trim_start_matches(set).len()
}

/// Turn the comment buffer into (text, location), as ini.v1 + sops do.
fn finish_comment(p: &mut PendingComment) -> Option<(String, CommentLoc)> {
    let buf = std::mem::take(&mut p.buf);
    let pieces = std::mem::take(&mut p.pieces);
    let trimmed = buf.trim();
    if trimmed.is_empty() || pieces.is_empty() {
        return None;
    }
    let lead = buf.len() - buf.trim_start().len();
    let strip = strip_len(trimmed);
    let text = trimmed[strip..].to_string();
    let text_start = pieces[0].content.0 + lead + strip;
    Some((text, CommentLoc { pieces, text_start }))
}

fn unclosed_err(src: &[u8], pos: usize, msg: &str) -> StoreError {
    StoreError::at_line(format!("{PARSE_PREFIX}{msg}"), line_of(src, pos))
}

/// ini.v1's `hasSurroundedQuote`.
fn has_surrounded_quote(s: &str, q: u8) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == q && b[b.len() - 1] == q && s[1..].find(q as char) == Some(b.len() - 2)
}

/// Byte offset of the first non-whitespace char of `s`, added to `base`.
fn skip_ws(s: &str, base: usize) -> usize {
    base + (s.len() - s.trim_start().len())
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    /// Line ranges: (start, end including the line break).
    lines: Vec<(usize, usize)>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn line(&self, i: usize) -> &'a str {
        let (s, e) = self.lines[i];
        &self.text[s..e]
    }
}

pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    let text = std::str::from_utf8(src).map_err(|e| {
        StoreError::at_line(
            format!("{PARSE_PREFIX}invalid UTF-8"),
            line_of(src, e.valid_up_to()),
        )
    })?;
    // ini.v1 reads on past a lone CR to the LF, Python's configparser starts a new line there.
    super::refuse_lone_cr(src)?;
    let body_start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut lines = Vec::new();
    let mut s = body_start;
    while s < text.len() {
        let e = text[s..]
            .find('\n')
            .map(|p| s + p + 1)
            .unwrap_or(text.len());
        lines.push((s, e));
        s = e;
    }
    let mut p = Parser {
        src,
        text,
        lines,
        i: 0,
    };
    let mut sections: Vec<SectionInfo> = vec![SectionInfo {
        name: "DEFAULT".to_string(),
        comment: None,
        keys: Vec::new(),
        trailing: None,
        range: (body_start, body_start),
    }];
    let mut pending = PendingComment::new();
    let mut auto = 1usize;
    while p.i < p.lines.len() {
        let (ls, le) = p.lines[p.i];
        let raw = p.line(p.i);
        p.i += 1;
        let t = raw.trim_start();
        let ts = le - t.len();
        if t.is_empty() {
            continue;
        }
        let first = t.as_bytes()[0];
        if first == b'#' || first == b';' {
            let content_end = ts + t.trim_end().len();
            pending.buf.push_str(t);
            pending.pieces.push(Piece {
                content: (ts, content_end),
                removal: (ls, le),
                inline: false,
                header: false,
                line_start: ls,
            });
            continue;
        }
        if first == b'[' {
            let Some(close) = t.rfind(']') else {
                return Err(unclosed_err(src, ls, "unclosed section"));
            };
            let name = &t[1..close];
            if name.is_empty() {
                return Err(unclosed_err(src, ls, "empty section name"));
            }
            let rest = &t[close + 1..];
            let blank_up_to = rest.find(['#', ';']).unwrap_or(rest.len());
            if !rest[..blank_up_to].trim().is_empty() {
                return Err(unclosed_err(
                    src,
                    ls,
                    "text after the section header's closing ']' (ini readers ignore it); move it to a line of its own or make it a comment",
                ));
            }
            if let Some(ci) = rest.find(['#', ';']) {
                let c = &rest[ci..];
                let cstart = ts + close + 1 + ci;
                let cend = cstart + c.trim_end().len();
                // Removal starts after `]` plus any blanks that precede the marker.
                let before = &t[close + 1..close + 1 + ci];
                let rstart = if before.trim().is_empty() {
                    ts + close + 1
                } else {
                    cstart
                };
                pending.buf.push_str(c);
                pending.pieces.push(Piece {
                    content: (cstart, cend),
                    removal: (rstart, cend),
                    inline: true,
                    header: true,
                    line_start: ls,
                });
            }
            let comment = finish_comment(&mut pending);
            auto = 1;
            sections.push(SectionInfo {
                name: name.to_string(),
                comment,
                keys: Vec::new(),
                trailing: None,
                range: (ls, le),
            });
            continue;
        }
        // A key line.
        let (kname, offset) = read_key_name(t).map_err(|m| unclosed_err(src, ls, m))?;
        let kname = if kname == "-" {
            let k = format!("#{auto}");
            auto += 1;
            k
        } else {
            kname
        };
        let (value, span) = read_value(&mut p, &t[offset..], ts + offset, &mut pending)?;
        if unwritable_with_comment(&value, &pending) {
            // Written back in quotes, the value would end at the comment's quote (ini.v1 reads
            // to the last one on the line).
            return Err(unclosed_err(
                src,
                ls,
                "a value that needs quotes, followed by an inline comment holding the same quotes (\"\"\" or a backtick); move the comment to a line of its own",
            ));
        }
        if value.contains("\"\"\"") && value.contains(['\n', '`']) {
            // No ini.v1 quoting can hold it: it could not be written back after decryption.
            return Err(unclosed_err(
                src,
                ls,
                "a value holding both \"\"\" and a line break or backtick, which no INI quoting can write back",
            ));
        }
        let content_end = p.lines[p.i - 1].1;
        let comment = finish_comment(&mut pending);
        let Some(sec) = sections.last_mut() else {
            continue;
        };
        sec.range.1 = content_end;
        if let Some(k) = sec.keys.iter_mut().find(|k| k.name == kname) {
            k.shadowed.push(Occurrence {
                value: std::mem::replace(&mut k.value, value),
                spans: std::mem::replace(&mut k.spans, vec![span]),
                comment: std::mem::replace(&mut k.comment, comment),
            });
        } else {
            sec.keys.push(KeyInfo {
                name: kname,
                value,
                spans: vec![span],
                comment,
                shadowed: Vec::new(),
            });
        }
    }
    if let (Some(c), Some(sec)) = (finish_comment(&mut pending), sections.last_mut()) {
        sec.trailing = Some(c);
    }

    // Build the tree in walk order.
    let mut leaves = Vec::new();
    let mut doc_items = Vec::new();
    let mut metadata = None;
    let mut sops_range = None;
    let mut sec_ranges = Vec::new();
    // Comments right above `[sops]` are the previous section's trailing comments (that is where
    // they were before the metadata was appended).
    if let Some(k) = sections.iter().position(|s| s.name == "sops") {
        if k > 0 && sections[k - 1].trailing.is_none() {
            sections[k - 1].trailing = sections[k].comment.take();
        }
    }
    for sec in sections {
        if sec.name == "sops" && metadata.is_none() {
            let pairs: Vec<(String, String)> = sec
                .keys
                .iter()
                .map(|k| (k.name.clone(), k.value.replace("\\n", "\n")))
                .collect();
            let mut v = unflatten(&pairs).map_err(StoreError::new)?;
            set_metadata_ids(&mut v);
            metadata = Some(v);
            sops_range = Some(sec.range);
            continue;
        }
        sec_ranges.push(sec.range);
        let mut items = Vec::new();
        let push_comment =
            |items: &mut Vec<Item>, leaves: &mut Vec<LeafLoc>, c: (String, CommentLoc)| {
                let id = leaves.len();
                leaves.push(LeafLoc::Comment(c.1));
                items.push(Item::Comment(Leaf::new(id, Scalar::Comment(secret(c.0)))));
            };
        if let Some(c) = sec.comment {
            push_comment(&mut items, &mut leaves, c);
        }
        for k in sec.keys {
            for o in k.shadowed {
                let id = leaves.len();
                leaves.push(LeafLoc::Value(o.spans));
                let mut leaf = Leaf::new(id, Scalar::Str(secret(o.value.as_str())));
                leaf.shadowed = true;
                items.push(Item::pair(k.name.clone(), Value::Leaf(leaf)));
                if let Some(c) = o.comment {
                    push_comment(&mut items, &mut leaves, c);
                }
            }
            let id = leaves.len();
            leaves.push(LeafLoc::Value(k.spans));
            items.push(Item::pair(
                k.name,
                Value::Leaf(Leaf::new(id, Scalar::Str(secret(k.value.as_str())))),
            ));
            if let Some(c) = k.comment {
                push_comment(&mut items, &mut leaves, c);
            }
        }
        if let Some(c) = sec.trailing {
            push_comment(&mut items, &mut leaves, c);
        }
        doc_items.push(Item::pair(sec.name, Value::Map(items)));
    }
    let crlf = src
        .iter()
        .position(|&b| b == b'\n')
        .is_some_and(|p| p > 0 && src[p - 1] == b'\r');
    Ok(Parsed {
        tree: Tree {
            docs: vec![Doc { items: doc_items }],
        },
        metadata,
        encoding: Default::default(),
        layout: super::Layout::Ini(Layout {
            src: Zeroizing::new(src.to_vec()),
            leaves,
            sops: sops_range,
            crlf,
            sections: sec_ranges,
        }),
    })
}

/// ini.v1's `readKeyName`: the key and the offset of the value in `t`.
fn read_key_name(t: &str) -> Result<(String, usize), &'static str> {
    let quote = if t.starts_with("\"\"\"") && t.len() > 6 {
        "\"\"\""
    } else if t.starts_with('"') {
        "\""
    } else if t.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let Some(pos) = t[start..].find(quote).map(|p| p + start) else {
            return Err("missing closing key quote");
        };
        let Some(i) = t.get(pos + start..).and_then(|r| r.find(['=', ':'])) else {
            return Err("key-value delimiter not found");
        };
        if !t[pos + start..pos + start + i].trim().is_empty() {
            return Err("text between a quoted key and its '=' (ini readers ignore it)");
        }
        let end = pos + i;
        return Ok((t[start..pos].trim().to_string(), end + start + 1));
    }
    match t.find(['=', ':']) {
        None => Err("key-value delimiter not found"),
        Some(0) => Err("empty key name"),
        Some(e) => Ok((t[..e].trim().to_string(), e + 1)),
    }
}

/// ini.v1's `readValue` on `v` (which starts at byte `base`), consuming following lines for
/// multi-line values; adds any inline comment to `pending`.
fn read_value(
    p: &mut Parser<'_>,
    v: &str,
    base: usize,
    pending: &mut PendingComment,
) -> Result<(Zeroizing<String>, ValSpan), StoreError> {
    let line_start = p.lines[p.i - 1].0;
    let t = v.trim_start();
    let tb = skip_ws(v, base);
    if t.is_empty() {
        // Empty value: a zero-width span at the end of the line's text.
        let end = base + v.trim_end().len();
        return Ok((
            Zeroizing::new(String::new()),
            ValSpan {
                inner: (end, end),
                outer: (end, end),
                ctx: Ctx::Raw,
            },
        ));
    }
    let quote = if t.len() > 3 && t.starts_with("\"\"\"") {
        "\"\"\""
    } else if t.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let ctx = if quote == "`" {
            Ctx::Backtick
        } else {
            Ctx::Triple
        };
        let q = quote.len();
        if let Some(pos) = t[q..].rfind(quote) {
            let inner = (tb + q, tb + q + pos);
            let after_start = q + pos + q;
            after_closing_quote(
                p.src,
                line_start,
                &t[after_start..],
                tb + after_start,
                pending,
            )?;
            return Ok((
                Zeroizing::new(t[q..q + pos].to_string()),
                ValSpan {
                    inner,
                    outer: (tb, inner.1 + q),
                    ctx,
                },
            ));
        }
        // Multi-line: up to the last quote on a following line.
        let mut val = Zeroizing::new(t[q..].to_string());
        loop {
            if p.i >= p.lines.len() {
                return Err(unclosed_err(p.src, line_start, "missing closing key quote"));
            }
            let (ns, ne) = p.lines[p.i];
            let next = p.line(p.i);
            p.i += 1;
            if let Some(pos) = next.rfind(quote) {
                val.push_str(&next[..pos]);
                after_closing_quote(p.src, ns, &next[pos + q..], ns + pos + q, pending)?;
                return Ok((
                    val,
                    ValSpan {
                        inner: (tb + q, ns + pos),
                        outer: (tb, ns + pos + q),
                        ctx,
                    },
                ));
            }
            val.push_str(next);
            if ne == p.text.len() && !next.ends_with('\n') {
                return Err(unclosed_err(p.src, line_start, "missing closing key quote"));
            }
        }
    }
    let line = t.trim();
    if let Some(stem) = line.strip_suffix('\\') {
        // Continuation lines: trimmed and joined, no inline comment, no unquoting.
        let mut val = Zeroizing::new(stem.to_string());
        let mut end = tb + line.len();
        while p.i < p.lines.len() {
            let (ns, _) = p.lines[p.i];
            let raw = p.line(p.i);
            p.i += 1;
            let next = raw.trim();
            if next.is_empty() {
                break;
            }
            val.push_str(next);
            end = skip_ws(raw, ns) + next.len();
            if !val.ends_with('\\') {
                break;
            }
            val.pop();
        }
        return Ok((
            val,
            ValSpan {
                inner: (tb, end),
                outer: (tb, end),
                ctx: Ctx::Continued,
            },
        ));
    }
    let mut line = line;
    if let Some(i) = line.find(['#', ';']) {
        let c = &line[i..];
        let cstart = tb + i;
        let before = line[..i].trim_end();
        pending.buf.push_str(c);
        pending.pieces.push(Piece {
            content: (cstart, cstart + c.len()),
            removal: (tb + before.len(), cstart + c.len()),
            inline: true,
            header: false,
            line_start,
        });
        line = before.trim_start();
        if line.ends_with('\\') && pending.pieces.iter().any(|p| !p.inline) {
            // The inline comment is joined with the comment lines above and moves up with them:
            // written back without it, the value would continue on the next line.
            return Err(unclosed_err(
                p.src,
                line_start,
                "a value ending in '\\' followed by an inline comment, below comment lines; move the inline comment to a line of its own",
            ));
        }
    }
    let (value, inner, ctx) = if has_surrounded_quote(line, b'\'') {
        (
            &line[1..line.len() - 1],
            (tb + 1, tb + line.len() - 1),
            Ctx::Sq,
        )
    } else if has_surrounded_quote(line, b'"') {
        (
            &line[1..line.len() - 1],
            (tb + 1, tb + line.len() - 1),
            Ctx::Dq,
        )
    } else {
        (line, (tb, tb + line.len()), Ctx::Raw)
    };
    Ok((
        Zeroizing::new(value.to_string()),
        ValSpan {
            inner,
            outer: (tb, tb + line.len()),
            ctx,
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
    let t = after.trim_start();
    if t.trim().is_empty() {
        return Ok(());
    }
    if !(t.starts_with('#') || t.starts_with(';')) {
        return Err(unclosed_err(
            src,
            line_start,
            "text after a quoted value's closing quote (ini readers ignore it); remove it or make it a comment",
        ));
    }
    let c = t.trim_end();
    let cstart = skip_ws(after, base);
    pending.buf.push_str(c);
    pending.pieces.push(Piece {
        content: (cstart, cstart + c.len()),
        removal: (base, cstart + c.len()),
        inline: true,
        header: false,
        line_start,
    });
    Ok(())
}

/// Would `value`, written back with ini.v1's quoting, be cut short by the inline comment that
/// follows it on its line (the last piece of `pending`, when it is inline)?
fn unwritable_with_comment(value: &str, pending: &PendingComment) -> bool {
    let Some(piece) = pending.pieces.last().filter(|p| p.inline && !p.header) else {
        return false;
    };
    let comment = pending
        .buf
        .get(
            pending
                .buf
                .len()
                .saturating_sub(piece.content.1 - piece.content.0)..,
        )
        .unwrap_or("");
    let quoted = quote_value(value);
    (quoted.starts_with("\"\"\"") && comment.contains("\"\"\""))
        || (quoted.starts_with('`') && comment.contains('`'))
}

/// ini.v1's value quoting on write.
fn quote_value(val: &str) -> String {
    let padded = val.trim().len() != val.len();
    if val.contains(['\n', '`']) {
        format!("\"\"\"{val}\"\"\"")
    } else if val.contains(['#', ';'])
        // Forms that ini.v1 would read as something else when written raw (it writes them raw,
        // so sops changes these values; sepal keeps them).
        || has_surrounded_quote(val, b'"')
        || has_surrounded_quote(val, b'\'')
        || val.ends_with('\\')
        || val.starts_with("\"\"\"")
        || (padded && val.contains('"'))
    {
        format!("`{val}`")
    } else if padded {
        format!("\"{val}\"")
    } else {
        val.to_string()
    }
}

/// Can `s` be written inside the quotes of a token of this kind and read back unchanged?
fn fits(ctx: Ctx, s: &str) -> bool {
    match ctx {
        Ctx::Dq => !s.contains(['"', '#', ';', '\n', '\r']),
        Ctx::Sq => !s.contains(['\'', '#', ';', '\n', '\r']),
        Ctx::Backtick => !s.contains('`'),
        Ctx::Triple => !s.contains("\"\"\""),
        Ctx::Raw | Ctx::Continued => false,
    }
}

/// Write a comment's new text: returns edits.
fn comment_edits(src: &[u8], loc: &CommentLoc, text: &str, nl: &str, edits: &mut Vec<Edit>) {
    let first = &loc.pieces[0];
    let contiguous = !first.inline
        && loc
            .pieces
            .windows(2)
            .all(|w| !w[1].inline && w[1].removal.0 == w[0].removal.1);
    let bytes = |s: &str| Zeroizing::new(s.as_bytes().to_vec());
    if contiguous {
        let end = loc.pieces[loc.pieces.len() - 1].content.1;
        edits.push(Edit {
            start: loc.text_start,
            end: end.max(loc.text_start),
            text: bytes(text),
        });
        return;
    }
    if first.inline && (first.header || text.contains('\n')) {
        // A multi-line text cannot stay inline: write it as comment lines above the line.
        let mut t = String::from("; ");
        t.push_str(&text.replace('\n', nl));
        t.push_str(nl);
        edits.push(Edit {
            start: first.line_start,
            end: first.line_start,
            text: bytes(&t),
        });
        edits.push(Edit {
            start: first.removal.0,
            end: first.removal.1,
            text: bytes(""),
        });
    } else {
        edits.push(Edit {
            start: loc.text_start,
            end: first.content.1.max(loc.text_start),
            text: bytes(text),
        });
    }
    for piece in &loc.pieces[1..] {
        edits.push(Edit {
            start: piece.removal.0,
            end: piece.removal.1,
            text: bytes(""),
        });
    }
    let _ = src;
}

pub fn splice(
    layout: &Layout,
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let src = &layout.src[..];
    let nl = if layout.crlf { "\r\n" } else { "\n" };
    let mut edits = Vec::new();
    for (id, change) in changes.iter().enumerate() {
        let (Some(change), Some(loc)) = (change, layout.leaves.get(id)) else {
            continue;
        };
        match loc {
            LeafLoc::Value(spans) => {
                for span in spans {
                    let (range, text) = match change {
                        NewLeaf::Encrypted(enc) => {
                            // Multi-line quoted values become raw tokens: the text after a
                            // closing quote is a comment only when the value spans lines.
                            let multi = src[span.inner.0..span.inner.1].contains(&b'\n');
                            if span.ctx == Ctx::Raw || span.ctx == Ctx::Continued || multi {
                                (span.outer, enc.clone())
                            } else {
                                (span.inner, enc.clone())
                            }
                        }
                        NewLeaf::Plain { value, .. } => {
                            let s = Zeroizing::new(match value {
                                Scalar::Str(s) | Scalar::Comment(s) => s.to_string(),
                                other => value_to_string(other),
                            });
                            if fits(span.ctx, &s) {
                                (span.inner, s.to_string())
                            } else {
                                (span.outer, quote_value(&s))
                            }
                        }
                    };
                    edits.push(Edit {
                        start: range.0,
                        end: range.1,
                        text: Zeroizing::new(text.into_bytes()),
                    });
                }
            }
            LeafLoc::Comment(loc) => {
                let text = match change {
                    NewLeaf::Encrypted(enc) => Zeroizing::new(enc.clone()),
                    NewLeaf::Plain { value, text } => {
                        Zeroizing::new(value.as_str().unwrap_or(text.as_str()).to_string())
                    }
                };
                comment_edits(src, loc, &text, nl, &mut edits);
            }
        }
    }
    if let Some((s, e)) = layout.sops {
        let mut s = s;
        let nlb = nl.as_bytes();
        let at_eof = e == src.len();
        if at_eof && !src[..e].ends_with(b"\n") {
            // Appended after a last line without a line break: two line breaks precede it.
            for _ in 0..2 {
                if src[..s].ends_with(nlb) {
                    s -= nlb.len();
                } else if src[..s].ends_with(b"\n") {
                    s -= 1;
                }
            }
        } else if at_eof {
            let two: Vec<u8> = [nlb, nlb].concat();
            if src[..s].ends_with(&two) {
                s -= nlb.len();
            } else if src[..s].ends_with(b"\n\n") {
                s -= 1;
            }
        }
        edits.push(Edit {
            start: s,
            end: e,
            text: Zeroizing::new(Vec::new()),
        });
    }
    let mut out = apply_edits(src, &mut edits)?;
    if let Some(meta) = metadata {
        let pairs: Vec<(String, String)> = flatten(meta)
            .into_iter()
            .map(|(k, v)| (k, v.replace('\n', "\\n")))
            .collect();
        let mut block = String::new();
        block.push_str("[sops]");
        block.push_str(nl);
        write_keys(
            &mut block,
            &pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str(), None))
                .collect::<Vec<_>>(),
            nl,
        );
        let final_nl = out.is_empty() || out.ends_with(b"\n");
        if out.is_empty() {
        } else if final_nl {
            out.extend_from_slice(nl.as_bytes());
        } else {
            out.extend_from_slice(nl.as_bytes());
            out.extend_from_slice(nl.as_bytes());
            // No final line break either, to mirror the source.
            if block.ends_with(nl) {
                block.truncate(block.len() - nl.len());
            }
        }
        out.extend_from_slice(block.as_bytes());
    }
    Ok(into_vec(out))
}

/// The index of the first section named `name` in the tree, and its items.
fn find_section<'a>(parsed: &'a Parsed, name: &str) -> Option<(usize, &'a [Item])> {
    let items = &parsed.tree.docs.first()?.items;
    items
        .iter()
        .filter_map(|i| match i {
            Item::Pair {
                key,
                value: Value::Map(m),
            } => Some((key, m)),
            _ => None,
        })
        .enumerate()
        .find(|(_, (k, _))| *k == name)
        .map(|(n, (_, m))| (n, m.as_slice()))
}

fn key_leaf<'a>(items: &'a [Item], key: &str) -> Option<&'a Leaf> {
    items.iter().find_map(|i| match i {
        Item::Pair {
            key: k,
            value: Value::Leaf(l),
        } if k == key && !l.shadowed => Some(l),
        _ => None,
    })
}

/// The lines (line breaks included) of every occurrence of a key.
fn key_lines(layout: &Layout, leaf: &Leaf) -> Option<Vec<(usize, usize)>> {
    let LeafLoc::Value(spans) = layout.leaves.get(leaf.id)? else {
        return None;
    };
    let src: &[u8] = &layout.src;
    Some(
        spans
            .iter()
            .map(|sp| {
                let (s, _) = line_range(src, sp.outer.0);
                let (_, e) = line_range(src, sp.outer.1.saturating_sub(1).max(sp.outer.0));
                (s, e)
            })
            .collect(),
    )
}

/// A `key = value` line as ini.v1 writes it (without line break), with `delim` between.
fn key_line(key: &str, value: &Scalar, delim: &str) -> String {
    let k = if key.contains(['"', '=', ':']) {
        format!("`{key}`")
    } else if key.contains('`') {
        format!("\"\"\"{key}\"\"\"")
    } else {
        key.to_string()
    };
    let v = match value {
        Scalar::Str(s) => s.to_string(),
        other => value_to_string(other),
    };
    format!("{k}{delim}{}", quote_value(&v))
}

/// Lines inserted at line start `at` (`lines` each end with `nl`).
fn insert_lines(src: &[u8], at: usize, lines: &str, nl: &str) -> Vec<u8> {
    let mut out = src[..at].to_vec();
    if at == src.len() && !src.is_empty() && !src.ends_with(b"\n") {
        // After a last line without a line break: none after the new lines either.
        out.extend_from_slice(nl.as_bytes());
        out.extend_from_slice(lines.strip_suffix(nl).unwrap_or(lines).as_bytes());
        return out;
    }
    out.extend_from_slice(lines.as_bytes());
    out.extend_from_slice(&src[at..]);
    out
}

/// `set` as a text edit: a new key line after the last key of its section, or a new section at
/// the end of the file. Anything deeper than `[section][key]` is left to the caller.
pub(crate) fn set_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
    value: &Value,
) -> Result<Option<Vec<u8>>, StoreError> {
    let src: &[u8] = &layout.src;
    let nl = if layout.crlf { "\r\n" } else { "\n" };
    let valid = |k: &str| !k.is_empty() && !k.contains(['\n', '\r', ']', '[']);
    match (steps, value) {
        ([Step::Key(sec), Step::Key(key)], Value::Leaf(l)) if valid(sec) && valid(key) => {
            match find_section(parsed, sec) {
                Some((i, items)) => {
                    if key_leaf(items, key).is_some() {
                        return Ok(None);
                    }
                    let Some(&(head, end)) = layout.sections.get(i) else {
                        return Ok(None);
                    };
                    // The delimiter the section's last key line uses.
                    let last = items.iter().rev().find_map(|i| match i {
                        Item::Pair {
                            value: Value::Leaf(l),
                            ..
                        } => key_lines(layout, l),
                        _ => None,
                    });
                    let delim = match last.as_deref().and_then(|v| v.last()) {
                        Some(&(ls, le)) => {
                            let line = &src[ls..le];
                            match line.iter().position(|&c| c == b'=' || c == b':') {
                                Some(p) if p > 0 && line[p - 1] == b' ' => " = ",
                                Some(p) if line.get(p + 1) == Some(&b' ') => "= ",
                                Some(_) => "=",
                                None => " = ",
                            }
                        }
                        None => " = ",
                    };
                    let at = if end > head { end } else { head };
                    let line = format!("{}{nl}", key_line(key, &l.value, delim));
                    Ok(Some(insert_lines(src, at.min(src.len()), &line, nl)))
                }
                None => {
                    let mut block = String::new();
                    if !src.is_empty() {
                        block.push_str(nl);
                    }
                    block.push_str(&format!(
                        "[{sec}]{nl}{}{nl}",
                        key_line(key, &l.value, " = ")
                    ));
                    Ok(Some(insert_lines(src, src.len(), &block, nl)))
                }
            }
        }
        ([Step::Key(sec)], Value::Map(entries))
            if valid(sec) && find_section(parsed, sec).is_none() =>
        {
            let mut block = String::new();
            if !src.is_empty() {
                block.push_str(nl);
            }
            block.push_str(&format!("[{sec}]{nl}"));
            for e in entries {
                match e {
                    Item::Pair {
                        key,
                        value: Value::Leaf(l),
                    } if valid(key) => {
                        block.push_str(&key_line(key, &l.value, " = "));
                        block.push_str(nl);
                    }
                    Item::Comment(_) => {}
                    _ => return Ok(None),
                }
            }
            Ok(Some(insert_lines(src, src.len(), &block, nl)))
        }
        _ => Ok(None),
    }
}

/// `unset` as a text edit: a key's lines, or a section's header through its last key line.
pub(crate) fn unset_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
) -> Result<Option<Vec<u8>>, StoreError> {
    let src: &[u8] = &layout.src;
    let ranges = match steps {
        [Step::Key(sec), Step::Key(key)] => {
            let Some(lines) = find_section(parsed, sec)
                .and_then(|(_, items)| key_leaf(items, key))
                .and_then(|l| key_lines(layout, l))
            else {
                return Ok(None);
            };
            lines
        }
        [Step::Key(sec)] => match find_section(parsed, sec) {
            Some((i, _)) if i > 0 => match layout.sections.get(i) {
                Some(&r) => vec![r],
                None => return Ok(None),
            },
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let mut edits = Vec::new();
    remove_lines(src, &ranges, &mut edits);
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
}

/// Write key lines as ini.v1 does (aligned `=`, comments above keys).
fn write_keys(out: &mut String, keys: &[(&str, &str, Option<&str>)], nl: &str) {
    let quoted = |k: &str| -> String {
        if k.contains(['"', '=', ':']) {
            format!("`{k}`")
        } else if k.contains('`') {
            format!("\"\"\"{k}\"\"\"")
        } else {
            k.to_string()
        }
    };
    let align = keys
        .iter()
        .map(|(k, _, _)| {
            if k.contains(['"', '=', ':']) {
                k.len() + 2
            } else if k.contains('`') {
                k.len() + 6
            } else {
                k.len()
            }
        })
        .max()
        .unwrap_or(0);
    for (k, v, c) in keys {
        if let Some(c) = c {
            push_comment_lines(out, c, true, nl);
        }
        let qk = quoted(k);
        out.push_str(&qk);
        for _ in qk.len()..align {
            out.push(' ');
        }
        out.push_str(" = ");
        out.push_str(&quote_value(v));
        out.push_str(nl);
    }
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let empty = Vec::new();
    let items = tree.docs.first().map(|d| &d.items).unwrap_or(&empty);
    // (name, comment, keys)
    struct Sec {
        name: String,
        comment: Option<String>,
        keys: Vec<(String, Zeroizing<String>, Option<String>)>,
    }
    let mut secs: Vec<Sec> = Vec::new();
    for item in items {
        let Item::Pair { key, value } = item else {
            continue;
        };
        if key.is_empty() {
            return Err(StoreError::new(format!(
                "Error marshaling to INI: Error encoding section {key}: empty section name"
            )));
        }
        let Value::Map(entries) = value else {
            return Err(StoreError::new(
                "Error marshaling to INI: Error encoding section: Section values should always be TreeBranches",
            ));
        };
        let mut sec = Sec {
            name: key.clone(),
            comment: None,
            keys: Vec::new(),
        };
        let mut rest = &entries[..];
        if let Some(Item::Comment(l)) = entries.first() {
            sec.comment = Some(l.value.as_str().unwrap_or("").to_string());
            rest = &entries[1..];
        }
        let mut last: Option<usize> = None;
        for e in rest {
            match e {
                Item::Comment(l) => {
                    if let Some(i) = last {
                        sec.keys[i].2 = Some(l.value.as_str().unwrap_or("").to_string());
                    }
                }
                Item::Pair { key, value } => {
                    let v = match value {
                        Value::Leaf(l) => match &l.value {
                            Scalar::Str(s) => Zeroizing::new(s.to_string()),
                            other => Zeroizing::new(value_to_string(other)),
                        },
                        _ => Zeroizing::new(go_fmt_complex(value)),
                    };
                    if let Some(i) = sec.keys.iter().position(|k| &k.0 == key) {
                        sec.keys[i].1 = v;
                        last = Some(i);
                    } else {
                        sec.keys.push((key.clone(), v, None));
                        last = Some(sec.keys.len() - 1);
                    }
                }
                Item::Elem(_) => {}
            }
        }
        secs.push(sec);
    }
    if let Some(meta) = metadata {
        let keys = flatten(meta)
            .into_iter()
            .map(|(k, v)| (k, Zeroizing::new(v.replace('\n', "\\n")), None))
            .collect();
        secs.push(Sec {
            name: "sops".to_string(),
            comment: None,
            keys,
        });
    }
    let mut out = String::new();
    let n = secs.len();
    for (i, sec) in secs.iter().enumerate() {
        if let Some(c) = &sec.comment {
            push_comment_lines(&mut out, c, false, "\n");
        }
        if i > 0 || sec.name.to_uppercase() != "DEFAULT" {
            out.push('[');
            out.push_str(&sec.name);
            out.push_str("]\n");
        } else if sec.keys.is_empty() {
            continue;
        }
        let keys: Vec<(&str, &str, Option<&str>)> = sec
            .keys
            .iter()
            .map(|(k, v, c)| (k.as_str(), v.as_str(), c.as_deref()))
            .collect();
        write_keys(&mut out, &keys, "\n");
        if i + 1 < n {
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// Go's `%v` of a list or map value (what `ValToString` gives for a nested value).
fn go_fmt_complex(v: &Value) -> String {
    match v {
        Value::Leaf(l) => value_to_string(&l.value),
        Value::List(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Elem(v) => Some(go_fmt_complex(v)),
                    _ => None,
                })
                .collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Pair { key, value } => {
                        Some(format!("{{{key} {}}}", go_fmt_complex(value)))
                    }
                    _ => None,
                })
                .collect();
            format!("[{}]", parts.join(" "))
        }
    }
}

/// `json.Marshal` of the value (what sops's INI `EmitValue` prints), compact.
pub fn emit_value(value: &Value, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    marshal(&mut out, value)?;
    Ok(out)
}

fn marshal(out: &mut Vec<u8>, v: &Value) -> Result<(), StoreError> {
    let compact = super::gojson::GoJsonWriter::COMPACT;
    match v {
        Value::Leaf(_) => compact.value(out, v, 0)?,
        Value::List(items) => {
            out.push(b'[');
            let mut first = true;
            for i in items {
                if let Item::Elem(e) = i {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    marshal(out, e)?;
                }
            }
            out.push(b']');
        }
        Value::Map(items) => {
            // A sops TreeBranch marshals as a list of {"Key":…,"Value":…} objects.
            out.push(b'[');
            for (n, i) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"Key\":");
                match i {
                    Item::Comment(l) => {
                        out.extend_from_slice(b"{\"Value\":");
                        compact.value(out, &Value::Leaf(l.clone()), 0)?;
                        out.extend_from_slice(b"},\"Value\":null}");
                        continue;
                    }
                    Item::Pair { key, value } => {
                        let k = Value::Leaf(Leaf::new(0, Scalar::Str(secret(key.as_str()))));
                        compact.value(out, &k, 0)?;
                        out.extend_from_slice(b",\"Value\":");
                        marshal(out, value)?;
                    }
                    Item::Elem(value) => {
                        out.extend_from_slice(b"null,\"Value\":");
                        marshal(out, value)?;
                    }
                }
                out.push(b'}');
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// Comment lines as ini.v1 writes them: a line with its own `#`/`;` marker keeps it (one space
/// after), others get `; `; `trim_unmarked` also trims the unmarked lines (key comments).
fn push_comment_lines(out: &mut String, c: &str, trim_unmarked: bool, nl: &str) {
    if c.is_empty() {
        return;
    }
    for line in c.split('\n') {
        match line.as_bytes().first() {
            Some(b'#') | Some(b';') => {
                out.push_str(&line[..1]);
                out.push(' ');
                out.push_str(line[1..].trim());
            }
            _ => {
                out.push_str("; ");
                out.push_str(if trim_unmarked { line.trim() } else { line });
            }
        }
        out.push_str(nl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::testutil::*;

    fn layout(p: &Parsed) -> &Layout {
        match &p.layout {
            super::super::Layout::Ini(l) => l,
            _ => unreachable!(),
        }
    }

    fn rt(src: &str) -> String {
        let enc = round_trip(src, parse, |p, c, m| {
            splice(layout(p), p, c, m, &StoreOptions::default())
        });
        String::from_utf8(enc).unwrap()
    }

    const SAMPLE: &str = "; top comment\n# second\n[sec1]\na = 1 ; inline\n; before b\nlongkey: \"  quoted  \"\nc = `x;y`\nd = \"\"\"multi\nline\"\"\"\n\n[sec2]\nx=1\n";

    fn section<'a>(p: &'a Parsed, name: &str) -> &'a [Item] {
        match crate::tree::get(&p.tree.docs[0].items, name) {
            Some(Value::Map(items)) => items,
            _ => panic!("no section {name}"),
        }
    }

    #[test]
    fn shape() {
        let p = parse(SAMPLE.as_bytes()).unwrap();
        let names: Vec<_> = p.tree.docs[0]
            .items
            .iter()
            .map(|i| match i {
                Item::Pair { key, .. } => key.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(names, ["DEFAULT", "sec1", "sec2"]);
        let s1 = section(&p, "sec1");
        let com = |t: &str| Scalar::Comment(secret(t));
        let st = |t: &str| Scalar::Str(secret(t));
        let got: Vec<(String, Scalar)> = s1
            .iter()
            .map(|i| match i {
                Item::Comment(l) => (String::new(), l.value.clone()),
                Item::Pair {
                    key,
                    value: Value::Leaf(l),
                } => (key.clone(), l.value.clone()),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (String::new(), com("top comment\n# second")),
                ("a".into(), st("1")),
                (String::new(), com("inline")),
                ("longkey".into(), st("  quoted  ")),
                (String::new(), com("before b")),
                ("c".into(), st("x;y")),
                ("d".into(), st("multi\nline")),
            ]
        );
        let leaves = collect(&p.tree);
        assert!(leaves.iter().enumerate().all(|(n, l)| l.id == n));
    }

    #[test]
    fn errors() {
        for bad in [
            "[sec\n",
            "[]\n",
            "novalue\n",
            "=x\n",
            "k = \"\"\"open\nmore\n",
        ] {
            let e = parse(bad.as_bytes()).err();
            assert!(e.is_some(), "{bad}");
        }
        let e = parse(b"[s]\nSECRET\n").err().unwrap();
        assert_eq!(e.line, Some(2));
        assert!(!e.message.contains("SECRET"));
    }

    #[test]
    fn round_trips() {
        for src in [
            SAMPLE,
            "k=v\n[s]\na=b",
            "k = v\r\n; c\r\n[s]\r\na = 'single'\r\n",
            "[s]\n  indented   =   spaced value   # trailing\nempty =\nq = \"a\" ; c\n",
            "#only comment\n",
            "",
            "[a]\nx = 1\n[a]\nx = 2\n",
            "[s]\nk = \"\"\"multi\nline\"\"\" ; after\nz = \u{e9}\u{1F600}\n",
            "[s]\n;;;\n; b\nk = v\n\n; trailing\n",
            "[s]\n- = auto\n- = auto2\n",
            "[s]\n\"quoted key\" = v\n",
        ] {
            rt(src);
        }
        let enc = rt("[s]\na = 1\n");
        assert!(enc.starts_with("[s]\na = ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\n\n[sops]\nage__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nYWdl"), "{enc}");
        let enc = rt(SAMPLE);
        assert!(enc.starts_with("; ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\n[sec1]\na = ENC[AES256_GCM,data:1,iv:x,tag:y,type:str] ; ENC[AES256_GCM,data:2,iv:x,tag:y,type:str]\n"), "{enc}");
    }

    #[test]
    fn lossy_cases_keep_tree() {
        // Continuation lines and inline section comments come back in another form.
        for src in [
            "[s]\nk = a \\\n  b\n",
            "# c\n[s] ; inline\nk = v\n",
            "[s]\n# a\n\n# b\nk = v\n",
            "[s]\ndup = 1\ndup = 2\n",
            "[s] ; header inline\nk = v\n",
            "[s]\nk = `multi\nline` ; after\n",
        ] {
            let p = parse(src.as_bytes()).unwrap();
            let leaves = collect(&p.tree);
            let ch: Vec<_> = leaves
                .iter()
                .map(|l| {
                    Some(NewLeaf::Encrypted(format!(
                        "ENC[AES256_GCM,data:{},iv:x,tag:y,type:str]",
                        l.id
                    )))
                })
                .collect();
            let enc = splice(
                layout(&p),
                &p,
                &ch,
                Some(&sample_metadata()),
                &StoreOptions::default(),
            )
            .unwrap();
            let p2 = parse(&enc).unwrap();
            let back: Vec<_> = leaves.iter().map(|l| Some(plain_of(l))).collect();
            let dec = splice(layout(&p2), &p2, &back, None, &StoreOptions::default()).unwrap();
            let p3 = parse(&dec).unwrap();
            assert_eq!(
                norm_tree(&p3.tree),
                norm_tree(&p.tree),
                "{}",
                String::from_utf8_lossy(&dec)
            );
        }
    }

    fn norm_tree(t: &Tree) -> Value {
        norm(&Value::Map(t.docs[0].items.clone()))
    }

    #[test]
    fn emit_like_sops() {
        let p = parse(SAMPLE.as_bytes()).unwrap();
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "; top comment\n# second\n[sec1]\n; inline\na       = 1\n; before b\nlongkey = \"  quoted  \"\nc       = `x;y`\nd       = \"\"\"multi\nline\"\"\"\n\n[sec2]\nx = 1\n"
        );
        let p = parse(b"k=v\n[s]\na=b\n").unwrap();
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "k = v\n\n[s]\na = b\n");
    }
}
