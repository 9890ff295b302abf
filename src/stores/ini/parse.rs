//! Reading an INI file line by line as ini.v1 does (sections, keys, comments gathered until what
//! they belong to), then building the store's tree and layout from what was read.

use super::quote::quote_value;
use super::value::{read_key_name, read_value};
use super::{
    parse_error, CommentLocation, CommentPiece, Layout, LeafLocation, ValueSpan, PARSE_PREFIX,
};
use crate::stores::flat::unflatten;
use crate::stores::keyvalue::set_metadata_ids;
use crate::stores::text::{line_of, uses_crlf};
use crate::stores::{Parsed, StoreError};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value};
use crate::wipe::Wiped;

/// The file's lines, and the next one to read.
pub(super) struct Lines<'a> {
    pub src: &'a [u8],
    pub text: &'a str,
    /// Line ranges: (start, end including the line break).
    pub ranges: Vec<(usize, usize)>,
    pub next: usize,
}

impl<'a> Lines<'a> {
    pub fn line(&self, index: usize) -> &'a str {
        let (start, end) = self.ranges[index];
        &self.text[start..end]
    }
}

/// Comment text read since the last key or section, and where its pieces are.
pub(super) struct PendingComment {
    text: String,
    pieces: Vec<CommentPiece>,
}

impl PendingComment {
    fn new() -> Self {
        PendingComment {
            text: String::new(),
            pieces: Vec::new(),
        }
    }

    /// Add a piece whose text is `text`.
    pub fn add(&mut self, text: &str, piece: CommentPiece) {
        self.text.push_str(text);
        self.pieces.push(piece);
    }

    /// Is there a comment line (not an inline comment) among the pieces?
    pub fn has_comment_line(&self) -> bool {
        self.pieces.iter().any(|p| !p.inline)
    }

    /// Turn the pieces into (text, location), as ini.v1 + sops do; `None` for a blank comment.
    fn finish(&mut self) -> Option<(String, CommentLocation)> {
        let text = std::mem::take(&mut self.text);
        let pieces = std::mem::take(&mut self.pieces);
        let trimmed = text.trim();
        if trimmed.is_empty() || pieces.is_empty() {
            return None;
        }
        let lead = text.len() - text.trim_start().len();
        let marker = comment_marker_len(trimmed);
        let text_start = pieces[0].content.0 + lead + marker;
        Some((
            trimmed[marker..].to_string(),
            CommentLocation { pieces, text_start },
        ))
    }

    /// Would `value`, written back with ini.v1's quoting, be cut short by the inline comment
    /// that follows it on its line (the last piece, when it is inline)?
    fn cuts_short(&self, value: &str) -> bool {
        let Some(piece) = self.pieces.last().filter(|p| p.inline && !p.after_header) else {
            return false;
        };
        let comment = self
            .text
            .get(
                self.text
                    .len()
                    .saturating_sub(piece.content.1 - piece.content.0)..,
            )
            .unwrap_or("");
        let quoted = quote_value(value);
        (quoted.starts_with("\"\"\"") && comment.contains("\"\"\""))
            || (quoted.starts_with('`') && comment.contains('`'))
    }
}

/// sops's `stripCommentChar`: number of leading bytes removed.
fn comment_marker_len(comment: &str) -> usize {
    let set: &[char] = if comment.starts_with(';') {
        &[';', ' ']
    } else if comment.starts_with('#') {
        &['#', ' ']
    } else {
        return 0;
    };
    comment.len() - comment.trim_start_matches(set).len()
}

type Comment = Option<(String, CommentLocation)>;

/// A key as read: its value and comment are those of its last occurrence in the section.
struct KeyEntry {
    name: String,
    value: Wiped<String>,
    spans: Vec<ValueSpan>,
    comment: Comment,
    /// Earlier occurrences of the key in the section, which ini.v1 (hence sops) overwrites with
    /// this one: each keeps its own value as a shadowed leaf.
    shadowed: Vec<ShadowedValue>,
}

/// One earlier occurrence of a key given twice.
struct ShadowedValue {
    value: Wiped<String>,
    spans: Vec<ValueSpan>,
    comment: Comment,
}

/// A section as read.
struct SectionEntry {
    name: String,
    comment: Comment,
    keys: Vec<KeyEntry>,
    trailing: Comment,
    /// Header line start and end of the last content line.
    range: (usize, usize),
}

/// Parse an INI file.
///
/// Tree: one `Pair{section name, Map}` per section, the implicit `DEFAULT` section first (always
/// present, as in sops, possibly empty). In a section map: the section's comment (if any) first,
/// then each key followed by its comment item (the comment lines above it plus its inline
/// comment). Comment lines at the end of the file (which ini.v1 drops) become a last comment item
/// of the last section, so that they are encrypted too.
pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    let text = std::str::from_utf8(src).map_err(|e| {
        StoreError::at_line(
            format!("{PARSE_PREFIX}invalid UTF-8"),
            line_of(src, e.valid_up_to()),
        )
    })?;
    // ini.v1 reads on past a lone CR to the LF, Python's configparser starts a new line there.
    crate::stores::refuse_lone_cr(src)?;
    let sections = read_sections(src, text)?;
    let (items, metadata, layout) = build(src, sections)?;
    Ok(Parsed {
        tree: Tree {
            docs: vec![Doc { items }],
        },
        metadata,
        encoding: Default::default(),
        layout: crate::stores::Layout::new(layout),
    })
}

/// Read the file's sections, keys and comments.
fn read_sections(src: &[u8], text: &str) -> Result<Vec<SectionEntry>, StoreError> {
    let body_start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut ranges = Vec::new();
    let mut start = body_start;
    while start < text.len() {
        let end = text[start..]
            .find('\n')
            .map(|p| start + p + 1)
            .unwrap_or(text.len());
        ranges.push((start, end));
        start = end;
    }
    let mut lines = Lines {
        src,
        text,
        ranges,
        next: 0,
    };
    let mut sections: Vec<SectionEntry> = vec![SectionEntry {
        name: "DEFAULT".to_string(),
        comment: None,
        keys: Vec::new(),
        trailing: None,
        range: (body_start, body_start),
    }];
    let mut pending = PendingComment::new();
    // The number ini.v1 gives the next `-` key of the section.
    let mut auto_key = 1usize;
    while lines.next < lines.ranges.len() {
        let (line_start, line_end) = lines.ranges[lines.next];
        let raw = lines.line(lines.next);
        lines.next += 1;
        let line = raw.trim_start();
        let line_text_start = line_end - line.len();
        if line.is_empty() {
            continue;
        }
        let first = line.as_bytes()[0];
        if first == b'#' || first == b';' {
            let content_end = line_text_start + line.trim_end().len();
            pending.add(
                line,
                CommentPiece {
                    content: (line_text_start, content_end),
                    removal: (line_start, line_end),
                    inline: false,
                    after_header: false,
                    line_start,
                },
            );
            continue;
        }
        if first == b'[' {
            let (name, comment) =
                read_section_header(src, line, line_start, line_text_start, &mut pending)?;
            auto_key = 1;
            sections.push(SectionEntry {
                name,
                comment,
                keys: Vec::new(),
                trailing: None,
                range: (line_start, line_end),
            });
            continue;
        }
        // A key line.
        let (name, offset) = read_key_name(line).map_err(|m| parse_error(src, line_start, m))?;
        let name = if name == "-" {
            let numbered = format!("#{auto_key}");
            auto_key += 1;
            numbered
        } else {
            name
        };
        let (value, span) = read_value(
            &mut lines,
            &line[offset..],
            line_text_start + offset,
            &mut pending,
        )?;
        if pending.cuts_short(&value) {
            // Written back in quotes, the value would end at the comment's quote (ini.v1 reads
            // to the last one on the line).
            return Err(parse_error(
                src,
                line_start,
                "a value that needs quotes, followed by an inline comment holding the same quotes (\"\"\" or a backtick); move the comment to a line of its own",
            ));
        }
        if value.contains("\"\"\"") && value.contains(['\n', '`']) {
            // No ini.v1 quoting can hold it: it could not be written back after decryption.
            return Err(parse_error(
                src,
                line_start,
                "a value holding both \"\"\" and a line break or backtick, which no INI quoting can write back",
            ));
        }
        let content_end = lines.ranges[lines.next - 1].1;
        let comment = pending.finish();
        let Some(section) = sections.last_mut() else {
            continue;
        };
        section.range.1 = content_end;
        if let Some(key) = section.keys.iter_mut().find(|k| k.name == name) {
            key.shadowed.push(ShadowedValue {
                value: std::mem::replace(&mut key.value, value),
                spans: std::mem::replace(&mut key.spans, vec![span]),
                comment: std::mem::replace(&mut key.comment, comment),
            });
        } else {
            section.keys.push(KeyEntry {
                name,
                value,
                spans: vec![span],
                comment,
                shadowed: Vec::new(),
            });
        }
    }
    if let (Some(comment), Some(section)) = (pending.finish(), sections.last_mut()) {
        section.trailing = Some(comment);
    }
    Ok(sections)
}

/// A `[name]` line (`line` is its text from the `[`, starting at byte `text_start`): the name,
/// and the section's comment (the comment lines above plus any inline comment).
fn read_section_header(
    src: &[u8],
    line: &str,
    line_start: usize,
    text_start: usize,
    pending: &mut PendingComment,
) -> Result<(String, Comment), StoreError> {
    let Some(close) = line.rfind(']') else {
        return Err(parse_error(src, line_start, "unclosed section"));
    };
    let name = &line[1..close];
    if name.is_empty() {
        return Err(parse_error(src, line_start, "empty section name"));
    }
    let rest = &line[close + 1..];
    let blank_up_to = rest.find(['#', ';']).unwrap_or(rest.len());
    if !rest[..blank_up_to].trim().is_empty() {
        return Err(parse_error(
            src,
            line_start,
            "text after the section header's closing ']' (ini readers ignore it); move it to a line of its own or make it a comment",
        ));
    }
    if let Some(marker) = rest.find(['#', ';']) {
        let comment = &rest[marker..];
        let comment_start = text_start + close + 1 + marker;
        let comment_end = comment_start + comment.trim_end().len();
        // Removal starts after `]` plus any blanks that precede the marker.
        let before = &line[close + 1..close + 1 + marker];
        let removal_start = if before.trim().is_empty() {
            text_start + close + 1
        } else {
            comment_start
        };
        pending.add(
            comment,
            CommentPiece {
                content: (comment_start, comment_end),
                removal: (removal_start, comment_end),
                inline: true,
                after_header: true,
                line_start,
            },
        );
    }
    Ok((name.to_string(), pending.finish()))
}

/// The tree's items (in walk order, so that leaf ids follow it), the metadata (the first `[sops]`
/// section, unflattened) and the layout.
fn build(
    src: &[u8],
    mut sections: Vec<SectionEntry>,
) -> Result<(Vec<Item>, Option<Value>, Layout), StoreError> {
    let mut leaf_locations = Vec::new();
    let mut doc_items = Vec::new();
    let mut metadata = None;
    let mut sops_section = None;
    let mut section_ranges = Vec::new();
    // Comments right above `[sops]` are the previous section's trailing comments (that is where
    // they were before the metadata was appended).
    if let Some(k) = sections.iter().position(|s| s.name == "sops") {
        if k > 0 && sections[k - 1].trailing.is_none() {
            sections[k - 1].trailing = sections[k].comment.take();
        }
    }
    for section in sections {
        if section.name == "sops" && metadata.is_none() {
            let pairs: Vec<(String, String)> = section
                .keys
                .iter()
                .map(|k| (k.name.clone(), k.value.replace("\\n", "\n")))
                .collect();
            let mut value = unflatten(&pairs).map_err(|e| StoreError::new(e.to_string()))?;
            set_metadata_ids(&mut value);
            metadata = Some(value);
            sops_section = Some(section.range);
            continue;
        }
        section_ranges.push(section.range);
        let mut items = Vec::new();
        let push_comment =
            |items: &mut Vec<Item>,
             locations: &mut Vec<LeafLocation>,
             (text, location): (String, CommentLocation)| {
                let id = locations.len();
                locations.push(LeafLocation::Comment(location));
                items.push(Item::Comment(Leaf::new(id, Scalar::Comment(secret(text)))));
            };
        if let Some(c) = section.comment {
            push_comment(&mut items, &mut leaf_locations, c);
        }
        for key in section.keys {
            for shadowed in key.shadowed {
                let id = leaf_locations.len();
                leaf_locations.push(LeafLocation::Value(shadowed.spans));
                let mut leaf = Leaf::new(id, Scalar::Str(secret(shadowed.value.as_str())));
                leaf.shadowed = true;
                items.push(Item::pair(key.name.clone(), Value::Leaf(leaf)));
                if let Some(c) = shadowed.comment {
                    push_comment(&mut items, &mut leaf_locations, c);
                }
            }
            let id = leaf_locations.len();
            leaf_locations.push(LeafLocation::Value(key.spans));
            items.push(Item::pair(
                key.name,
                Value::Leaf(Leaf::new(id, Scalar::Str(secret(key.value.as_str())))),
            ));
            if let Some(c) = key.comment {
                push_comment(&mut items, &mut leaf_locations, c);
            }
        }
        if let Some(c) = section.trailing {
            push_comment(&mut items, &mut leaf_locations, c);
        }
        doc_items.push(Item::pair(section.name, Value::Map(items)));
    }
    let layout = Layout {
        src: Wiped::new(src.to_vec()).into(),
        leaf_locations,
        sops_section,
        crlf: uses_crlf(src),
        section_ranges,
    };
    Ok((doc_items, metadata, layout))
}
