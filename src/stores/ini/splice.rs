//! Writing new value and comment texts into a parsed INI file's own bytes, and the `[sops]`
//! section removed and appended anew, as ini.v1 would read them back.

use super::emit::write_keys;
use super::quote::{fits, quote_value};
use super::{CommentLocation, Layout, LeafLocation, Quoting, ValueSpan};
use crate::stores::flat::flatten;
use crate::stores::keyvalue::value_to_string;
use crate::stores::text::{apply_edits, into_vec, with_room, Edit};
use crate::stores::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::tree::{Scalar, Value};
use crate::wipe::Wiped;

/// The edit writing `change` over one occurrence of a value.
fn value_edit(src: &[u8], span: &ValueSpan, change: &NewLeaf) -> Edit {
    let (range, text) = match change {
        NewLeaf::Encrypted(enc) => {
            // Multi-line quoted values become raw tokens: the text after a closing quote is a
            // comment only when the value spans lines.
            let multi_line = src[span.inner.0..span.inner.1].contains(&b'\n');
            if span.quoting == Quoting::Raw || span.quoting == Quoting::Continued || multi_line {
                (span.outer, enc.clone())
            } else {
                (span.inner, enc.clone())
            }
        }
        NewLeaf::Plain { value, .. } => {
            let plain = Wiped::new(match value {
                Scalar::Str(s) | Scalar::Comment(s) => s.to_string(),
                other => value_to_string(other),
            });
            if fits(span.quoting, &plain) {
                (span.inner, plain.to_string())
            } else {
                (span.outer, quote_value(&plain))
            }
        }
    };
    Edit::replace(range.0, range.1, text)
}

/// The edits writing a comment's new text.
fn comment_edits(location: &CommentLocation, text: &str, newline: &str, edits: &mut Vec<Edit>) {
    let first = &location.pieces[0];
    let contiguous = !first.inline
        && location
            .pieces
            .windows(2)
            .all(|w| !w[1].inline && w[1].removal.0 == w[0].removal.1);
    if contiguous {
        let end = location.pieces[location.pieces.len() - 1].content.1;
        edits.push(Edit::replace(
            location.text_start,
            end.max(location.text_start),
            text,
        ));
        return;
    }
    if first.inline && (first.after_header || text.contains('\n')) {
        // A multi-line text cannot stay inline: write it as comment lines above the line.
        let mut lines = Wiped::new(Vec::with_capacity(
            2 + text.len() + text.matches('\n').count() * newline.len() + newline.len(),
        ));
        lines.extend_from_slice(b"; ");
        for (n, line) in text.split('\n').enumerate() {
            if n > 0 {
                lines.extend_from_slice(newline.as_bytes());
            }
            lines.extend_from_slice(line.as_bytes());
        }
        lines.extend_from_slice(newline.as_bytes());
        edits.push(Edit {
            start: first.line_start,
            end: first.line_start,
            text: lines,
        });
        edits.push(Edit::delete(first.removal.0, first.removal.1));
    } else {
        edits.push(Edit::replace(
            location.text_start,
            first.content.1.max(location.text_start),
            text,
        ));
    }
    for piece in &location.pieces[1..] {
        edits.push(Edit::delete(piece.removal.0, piece.removal.1));
    }
}

/// The edit removing the `[sops]` section (`start..end`), with the blank line that was written
/// before it.
fn metadata_removal(src: &[u8], (start, end): (usize, usize), newline: &str) -> Edit {
    let mut start = start;
    let newline = newline.as_bytes();
    let at_eof = end == src.len();
    if at_eof && !src[..end].ends_with(b"\n") {
        // Appended after a last line without a line break: two line breaks precede it.
        for _ in 0..2 {
            if src[..start].ends_with(newline) {
                start -= newline.len();
            } else if src[..start].ends_with(b"\n") {
                start -= 1;
            }
        }
    } else if at_eof {
        let two: Vec<u8> = [newline, newline].concat();
        if src[..start].ends_with(&two) {
            start -= newline.len();
        } else if src[..start].ends_with(b"\n\n") {
            start -= 1;
        }
    }
    Edit::delete(start, end)
}

/// `out` with the `[sops]` section for `metadata` appended after a blank line (two line breaks
/// and no final one after a last line without one, to mirror the source).
fn append_metadata(out: Wiped<Vec<u8>>, metadata: &Value, newline: &str) -> Wiped<Vec<u8>> {
    let pairs: Vec<(String, String)> = flatten(metadata)
        .into_iter()
        .map(|(k, v)| (k, v.replace('\n', "\\n")))
        .collect();
    let mut block = String::new();
    block.push_str("[sops]");
    block.push_str(newline);
    write_keys(
        &mut block,
        &pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str(), None))
            .collect::<Vec<_>>(),
        newline,
    );
    let mut out = with_room(out, 2 * newline.len() + block.len());
    if !out.is_empty() {
        let final_newline = out.ends_with(b"\n");
        out.extend_from_slice(newline.as_bytes());
        if !final_newline {
            out.extend_from_slice(newline.as_bytes());
            if block.ends_with(newline) {
                block.truncate(block.len() - newline.len());
            }
        }
    }
    out.extend_from_slice(block.as_bytes());
    out
}

pub fn splice(
    layout: &Layout,
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let src = &layout.src[..];
    let newline = layout.newline();
    let mut edits = Vec::new();
    for (id, change) in changes.iter().enumerate() {
        let (Some(change), Some(location)) = (change, layout.leaf_locations.get(id)) else {
            continue;
        };
        match location {
            LeafLocation::Value(spans) => {
                for span in spans {
                    edits.push(value_edit(src, span, change));
                }
            }
            LeafLocation::Comment(location) => {
                let text = match change {
                    NewLeaf::Encrypted(enc) => Wiped::new(enc.clone()),
                    NewLeaf::Plain { value, text } => {
                        Wiped::new(value.as_str().unwrap_or(text.as_str()).to_string())
                    }
                };
                comment_edits(location, &text, newline, &mut edits);
            }
        }
    }
    if let Some(range) = layout.sops_section {
        edits.push(metadata_removal(src, range, newline));
    }
    let mut out = apply_edits(src, &mut edits)?;
    if let Some(meta) = metadata {
        out = append_metadata(out, meta, newline);
    }
    Ok(into_vec(out))
}
