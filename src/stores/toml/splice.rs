//! Writing new leaf texts into a parsed TOML file's own bytes: an encrypted value becomes the
//! basic string `"ENC[…]"` in place of the value's text, an encrypted comment `#ENC[…]`; a
//! decrypted value is written in its own spelling when that is a TOML spelling of the same value,
//! else canonically. The `[sops]` table is cut out and appended at the end after a blank line.

use super::emit::{float_text, push_basic_string, push_scalar, sops_table};
use super::{Layout, LeafSpan};
use crate::stores::text::{apply_edits, into_vec, line_break_of, with_room, Edit};
use crate::stores::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::tree::{Scalar, Value};
use crate::wipe::Wiped;

/// Whether `text` is a TOML spelling of exactly `value` (an int, float or bool).
fn same_spelling(value: &Scalar, text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    match (value, text.trim().parse::<toml_edit::Value>()) {
        (Scalar::Int(a), Ok(toml_edit::Value::Integer(b))) => a == b.value(),
        (Scalar::Float(a), Ok(toml_edit::Value::Float(b))) => {
            a.to_bits() == b.value().to_bits() || (a.is_nan() && b.value().is_nan())
        }
        (Scalar::Bool(a), Ok(toml_edit::Value::Boolean(b))) => a == b.value(),
        _ => false,
    }
}

/// The text of a decrypted value.
fn plain_token(value: &Scalar, text: &str, id: usize) -> Result<Wiped<Vec<u8>>, StoreError> {
    let mut out = Wiped::new(Vec::new());
    match value {
        Scalar::Int(_) | Scalar::Float(_) | Scalar::Bool(_) if same_spelling(value, text) => {
            out.extend_from_slice(text.trim().as_bytes())
        }
        Scalar::Float(f) => out.extend_from_slice(float_text(*f).as_bytes()),
        // (A comment stored as a value cannot be written back as one.)
        Scalar::Comment(_) => {
            return Err(StoreError::new(format!(
                "toml: value {id} decrypts to a comment, which TOML cannot hold in a value's place"
            )))
        }
        other => push_scalar(&mut out, other, &[format!("value {id}")], false)?,
    }
    Ok(out)
}

/// The text of a comment after its `#`: one line, no control characters but tabs.
fn comment_text(text: &str) -> Result<Wiped<Vec<u8>>, StoreError> {
    if text
        .chars()
        .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
    {
        return Err(StoreError::new(
            "toml: a comment holds a line break or a control character",
        ));
    }
    Ok(Wiped::new(text.as_bytes().to_vec()))
}

fn leaf_edit(span: &LeafSpan, change: &NewLeaf, id: usize) -> Result<Edit, StoreError> {
    let text = match (change, span.comment) {
        (NewLeaf::Encrypted(enc), true) => comment_text(enc)?,
        (NewLeaf::Encrypted(enc), false) => {
            let mut token = Wiped::new(Vec::new());
            push_basic_string(&mut token, enc);
            token
        }
        (NewLeaf::Plain { value, text }, true) => comment_text(value.as_str().unwrap_or(text))?,
        (NewLeaf::Plain { value, text }, false) => plain_token(value, text, id)?,
    };
    Ok(Edit {
        start: span.start,
        end: span.end,
        text,
    })
}

/// The edit removing one `[sops]` section; the last one also takes the blank line (and, when
/// the section has no final line break, the line break) that the append put before it.
fn section_removal(src: &[u8], (start, end): (usize, usize), newline: &str) -> Edit {
    let mut start = start;
    if end == src.len() {
        let nl = newline.as_bytes();
        let two = [nl, nl].concat();
        if src[start..end].ends_with(b"\n") {
            if src[..start].ends_with(&two) {
                start -= nl.len();
            }
        } else if src[..start].ends_with(&two) {
            start -= two.len();
        }
    }
    Edit::delete(start, end)
}

/// `out` with the `[sops]` table appended after a blank line (no final line break after a
/// source without one, so that cutting it out gives the source back).
fn append_metadata(
    out: Wiped<Vec<u8>>,
    metadata: &Value,
    newline: &str,
) -> Result<Wiped<Vec<u8>>, StoreError> {
    let mut block = sops_table(metadata)?;
    if newline == "\r\n" {
        block = String::from_utf8_lossy(&block)
            .replace('\n', "\r\n")
            .into_bytes();
    }
    let mut out = with_room(out, 2 * newline.len() + block.len());
    if !out.is_empty() {
        let final_newline = out.ends_with(b"\n");
        if !final_newline {
            out.extend_from_slice(newline.as_bytes());
            if block.ends_with(newline.as_bytes()) {
                block.truncate(block.len() - newline.len());
            }
        }
        out.extend_from_slice(newline.as_bytes());
    }
    out.extend_from_slice(&block);
    Ok(out)
}

pub fn splice(
    layout: &Layout,
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let src = &layout.src[..];
    let newline = line_break_of(src);
    let mut edits = Vec::new();
    for (id, change) in changes.iter().enumerate() {
        if let (Some(change), Some(span)) = (change, layout.spans.get(id)) {
            edits.push(leaf_edit(span, change, id)?);
        }
    }
    if layout.sops_inline {
        return Err(StoreError::new(
            "toml: the sops metadata is written as a value, not as a [sops] table: it cannot be replaced in place",
        ));
    }
    for &section in &layout.sops_sections {
        edits.push(section_removal(src, section, newline));
    }
    let mut out = apply_edits(src, &mut edits)?;
    if let Some(meta) = metadata {
        out = append_metadata(out, meta, newline)?;
    }
    Ok(into_vec(out))
}
