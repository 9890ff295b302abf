//! `set` and `unset` as text edits of a plaintext INI file: a new key line after the last key of
//! its section or a new section at the end; a key's lines or a whole section removed.

use super::quote::{quote_key, quote_value};
use super::{Layout, LeafLocation};
use crate::stores::keyvalue::value_to_string;
use crate::stores::text::{apply_edits, into_vec, line_range, remove_lines, Edit};
use crate::stores::{Parsed, StoreError};
use crate::tree::{Item, Leaf, Scalar, Value};
use crate::treepath::Step;

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

/// The leaf of `key` in a section's items (its last occurrence, the one ini.v1 reads).
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
    let LeafLocation::Value(spans) = layout.leaf_locations.get(leaf.id)? else {
        return None;
    };
    let src: &[u8] = &layout.src;
    Some(
        spans
            .iter()
            .map(|span| {
                let (start, _) = line_range(src, span.outer.0);
                let (_, end) = line_range(src, span.outer.1.saturating_sub(1).max(span.outer.0));
                (start, end)
            })
            .collect(),
    )
}

/// A `key = value` line as ini.v1 writes it (without line break), with `delimiter` between.
fn key_line(key: &str, value: &Scalar, delimiter: &str) -> String {
    let value = match value {
        Scalar::Str(s) => s.to_string(),
        other => value_to_string(other),
    };
    format!("{}{delimiter}{}", quote_key(key), quote_value(&value))
}

/// The edit inserting `lines` (each ending with `newline`) at line start `at`.
fn insert_lines(src: &[u8], at: usize, mut lines: String, newline: &str) -> Edit {
    if at == src.len() && !src.is_empty() && !src.ends_with(b"\n") {
        // After a last line without a line break: none after the new lines either.
        if lines.ends_with(newline) {
            lines.truncate(lines.len() - newline.len());
        }
        lines.insert_str(0, newline);
    }
    Edit::replace(at, at, lines)
}

/// The delimiter the key line `line` uses, for a new key line next to it.
fn delimiter_of(line: &[u8]) -> &'static str {
    match line.iter().position(|&c| c == b'=' || c == b':') {
        Some(p) if p > 0 && line[p - 1] == b' ' => " = ",
        Some(p) if line.get(p + 1) == Some(&b' ') => "= ",
        Some(_) => "=",
        None => " = ",
    }
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
    let newline = layout.newline();
    let valid = |k: &str| !k.is_empty() && !k.contains(['\n', '\r', ']', '[']);
    let edit = match (steps, value) {
        ([Step::Key(section), Step::Key(key)], Value::Leaf(leaf))
            if valid(section) && valid(key) =>
        {
            match find_section(parsed, section) {
                Some((index, items)) => {
                    if key_leaf(items, key).is_some() {
                        return Ok(None);
                    }
                    let Some(&(head, end)) = layout.section_ranges.get(index) else {
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
                    let delimiter = match last.as_deref().and_then(|v| v.last()) {
                        Some(&(start, end)) => delimiter_of(&src[start..end]),
                        None => " = ",
                    };
                    let at = if end > head { end } else { head };
                    let line = format!("{}{newline}", key_line(key, &leaf.value, delimiter));
                    insert_lines(src, at.min(src.len()), line, newline)
                }
                None => {
                    let mut block = String::new();
                    if !src.is_empty() {
                        block.push_str(newline);
                    }
                    block.push_str(&format!(
                        "[{section}]{newline}{}{newline}",
                        key_line(key, &leaf.value, " = ")
                    ));
                    insert_lines(src, src.len(), block, newline)
                }
            }
        }
        ([Step::Key(section)], Value::Map(entries))
            if valid(section) && find_section(parsed, section).is_none() =>
        {
            let mut block = String::new();
            if !src.is_empty() {
                block.push_str(newline);
            }
            block.push_str(&format!("[{section}]{newline}"));
            for entry in entries {
                match entry {
                    Item::Pair {
                        key,
                        value: Value::Leaf(l),
                    } if valid(key) => {
                        block.push_str(&key_line(key, &l.value, " = "));
                        block.push_str(newline);
                    }
                    Item::Comment(_) => {}
                    _ => return Ok(None),
                }
            }
            insert_lines(src, src.len(), block, newline)
        }
        _ => return Ok(None),
    };
    Ok(Some(into_vec(apply_edits(src, &mut [edit])?)))
}

/// `unset` as a text edit: a key's lines, or a section's header through its last key line.
pub(crate) fn unset_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
) -> Result<Option<Vec<u8>>, StoreError> {
    let src: &[u8] = &layout.src;
    let ranges = match steps {
        [Step::Key(section), Step::Key(key)] => {
            let Some(lines) = find_section(parsed, section)
                .and_then(|(_, items)| key_leaf(items, key))
                .and_then(|l| key_lines(layout, l))
            else {
                return Ok(None);
            };
            lines
        }
        [Step::Key(section)] => match find_section(parsed, section) {
            Some((index, _)) if index > 0 => match layout.section_ranges.get(index) {
                Some(&range) => vec![range],
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
