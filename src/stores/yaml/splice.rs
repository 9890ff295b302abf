//! The splice: the source rewritten with only the changed leaves (and the `sops` entry)
//! replaced, everything else kept byte for byte. Buffers holding decrypted text are wiped.

use std::collections::{HashMap, HashSet};

use super::edits::{into_vec, Edits};
use super::emitter::indent_from;
use super::layout::{AliasTemplate, Layout, LeafSpan, ScalarSpan};
use super::metadata::metadata_edits;
use super::scalar_text::{double_quoted, inline_scalar, single_quoted};
use super::writer::{plain_text_for, Writer};
use crate::stores::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::tree::{secret, Item, Leaf, LeafId, Scalar, Value};
use crate::wipe::Wiped;

/// Write the source with `changes` applied and the metadata set or removed.
pub fn splice(
    layout: &Layout,
    parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    splice_from(layout, &layout.src, parsed, changes, metadata, options)
}

/// [`splice`] of the source bytes `src` (those of a reading that keeps none of its own).
pub fn splice_from(
    layout: &Layout,
    src: &[u8],
    parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let ed = edits(layout, src, parsed, changes, metadata, options)?;
    Ok(into_vec(ed.apply(src)?))
}

/// [`splice_from`], made only where it is not `expected` (`Ok(None)`: it is exactly `expected`,
/// told by comparing each piece as it would be written, with no output made). An encryption
/// asks so whether its output needs a layout record: a 200,000-value file's splice is 6 MB of
/// fresh pages written, compared and wiped (docs/performance.md, twenty-first round).
pub fn splice_from_unless(
    layout: &Layout,
    src: &[u8],
    parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
    expected: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut ed = edits(layout, src, parsed, changes, metadata, options)?;
    if ed.is(src, expected)? {
        return Ok(None);
    }
    Ok(Some(into_vec(ed.apply(src)?)))
}

/// The replacements of [`splice_from`].
fn edits<'t>(
    layout: &Layout,
    src: &[u8],
    parsed: &Parsed,
    changes: &'t Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Edits<'t>, StoreError> {
    let nl = if layout.crlf { "\r\n" } else { "\n" };
    let indent = indent_from(options.indent)?.unwrap_or(layout.indent);
    let w = Writer { src, nl, indent };
    // Each change is one replacement; aliases and the `sops` entry add a few.
    let mut ed = Edits::with_capacity(changes.iter().flatten().count() + 8);
    let opens_empty = lists_of_comments(parsed, changes);
    for (id, change) in changes.iter().enumerate() {
        let Some(change) = change else { continue };
        let Some(span) = layout.spans.get(id) else {
            return Err(StoreError::new("change for an unknown YAML leaf"));
        };
        leaf_edit(&w, span, change, opens_empty.contains(&id), &mut ed);
    }
    if !layout.aliases.is_empty() {
        let mut leaves = HashMap::new();
        for d in &parsed.tree.docs {
            index_leaves(&d.items, &mut leaves);
        }
        for a in &layout.aliases {
            // An alias none of whose leaves changes stays the alias it is.
            if !a.template.any_changed(changes) {
                continue;
            }
            let mut s = Wiped::new(String::new());
            render_alias(&a.template, &leaves, changes, &mut s);
            ed.push(a.start, a.end, s);
        }
    }
    metadata_edits(layout, metadata, &w, &mut ed);
    Ok(ed)
}

/// The edit for one changed leaf. `opens_empty`: the leaf is the first of the comments that were
/// a list's only elements (see [`lists_of_comments`]).
fn leaf_edit<'t>(
    w: &Writer,
    span: &LeafSpan,
    change: &'t NewLeaf,
    opens_empty: bool,
    ed: &mut Edits<'t>,
) {
    match (span, change) {
        (LeafSpan::InAlias, _) => {}
        // The first of the comments that were a list's only elements (sops stores the comment
        // of `a: [] # c` as an element): the list stays an empty list.
        (
            LeafSpan::Scalar(
                sp @ ScalarSpan {
                    dash: Some(d),
                    flow: false,
                    ..
                },
            ),
            NewLeaf::Plain {
                value: Scalar::Comment(c),
                ..
            },
        ) if opens_empty => ed.push(*d, sp.end, format!("[] #{}", c.as_str())),
        (LeafSpan::Comment { start, end }, NewLeaf::Encrypted(enc)) => {
            ed.push(*start, *end, format!("#{enc}"))
        }
        (LeafSpan::Comment { start, end }, NewLeaf::Plain { value, text }) => {
            let t: &str = match value {
                Scalar::Comment(c) | Scalar::Str(c) => c,
                _ => text,
            };
            // One line: its line breaks become spaces (same length, no reallocation).
            let mut line = Wiped::new(String::with_capacity(t.len() + 1));
            line.push('#');
            line.extend(
                t.chars()
                    .map(|c| if matches!(c, '\n' | '\r') { ' ' } else { c }),
            );
            ed.push(*start, *end, line)
        }
        (LeafSpan::Scalar(sp), NewLeaf::Encrypted(enc)) => w.write_encrypted(sp, enc, ed),
        (LeafSpan::Scalar(sp), NewLeaf::Plain { value, text }) => {
            w.write_plain(sp, value, text, ed)
        }
    }
}

/// The first leaf of every list whose elements all decrypt to comments (sops's encrypted form of
/// the comments of an empty list).
fn lists_of_comments(parsed: &Parsed, changes: &Changes) -> HashSet<LeafId> {
    fn visit(items: &[Item], changes: &Changes, out: &mut HashSet<LeafId>) {
        for item in items {
            let value = match item {
                Item::Pair { value, .. } | Item::Elem(value) => value,
                Item::Comment(_) => continue,
            };
            match value {
                Value::List(elems) => {
                    let all_comments = elems.iter().all(|e| match e {
                        Item::Elem(Value::Leaf(l)) => matches!(
                            changes.get(l.id),
                            Some(Some(NewLeaf::Plain {
                                value: Scalar::Comment(_),
                                ..
                            }))
                        ),
                        Item::Comment(_) => true,
                        _ => false,
                    });
                    let first_leaf = elems.iter().find_map(|e| match e {
                        Item::Elem(Value::Leaf(l)) => Some(l.id),
                        _ => None,
                    });
                    if let Some(first) = first_leaf.filter(|_| all_comments) {
                        out.insert(first);
                    }
                    visit(elems, changes, out);
                }
                Value::Map(entries) => visit(entries, changes, out),
                Value::Leaf(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    // Without a value that decrypts to a comment there is none (a scan of the changes is much
    // cheaper than a walk of a large tree).
    let any_comment = changes.iter().any(|c| {
        matches!(
            c,
            Some(NewLeaf::Plain {
                value: Scalar::Comment(_),
                ..
            })
        )
    });
    if any_comment {
        for d in &parsed.tree.docs {
            visit(&d.items, changes, &mut out);
        }
    }
    out
}

fn index_leaves<'a>(items: &'a [Item], out: &mut HashMap<LeafId, &'a Leaf>) {
    crate::tree::for_each_leaf(items, &mut |l| {
        out.insert(l.id, l);
    });
}

/// Render an expanded alias in flow style, with the changes applied.
fn render_alias(
    t: &AliasTemplate,
    leaves: &HashMap<LeafId, &Leaf>,
    changes: &Changes,
    out: &mut String,
) {
    match t {
        AliasTemplate::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let key = inline_scalar(&Scalar::Str(secret(k.as_str())), true, true)
                    .unwrap_or_else(|| double_quoted(k));
                out.push_str(&key);
                out.push_str(": ");
                render_alias(v, leaves, changes, out);
            }
            out.push('}');
        }
        AliasTemplate::Seq(elems) => {
            out.push('[');
            for (i, v) in elems.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_alias(v, leaves, changes, out);
            }
            out.push(']');
        }
        AliasTemplate::Leaf(id) => {
            let text = Wiped::new(alias_leaf_text(*id, leaves, changes));
            out.push_str(&text);
        }
    }
}

/// The flow-style token of leaf `id` of an expanded alias, with its change applied.
fn alias_leaf_text(id: LeafId, leaves: &HashMap<LeafId, &Leaf>, changes: &Changes) -> String {
    match changes.get(id).and_then(|c| c.as_ref()) {
        // As an encryption of the decrypted copy would write it (its token's style, in flow
        // context), so that an edit elsewhere leaves this line as it is.
        Some(NewLeaf::Encrypted(e)) => {
            let token = leaves.get(&id).and_then(|l| match l.value {
                Scalar::Str(_) | Scalar::Comment(_) | Scalar::Bytes(_) => {
                    inline_scalar(&l.value, true, false)
                }
                _ => None,
            });
            match token.as_deref().and_then(|t| t.chars().next()) {
                Some('"') => double_quoted(e),
                Some('\'') => format!("!!str {}", double_quoted(e)),
                _ => single_quoted(e),
            }
        }
        Some(NewLeaf::Plain { value, text }) => match value {
            Scalar::Str(_) | Scalar::Comment(_) | Scalar::Bytes(_) => {
                inline_scalar(value, true, false).unwrap_or_default()
            }
            _ => plain_text_for(value, text),
        },
        None => leaves
            .get(&id)
            .map(|l| match (&l.value, &l.text) {
                (Scalar::Str(_) | Scalar::Comment(_) | Scalar::Bytes(_), _) | (_, None) => {
                    inline_scalar(&l.value, true, false).unwrap_or_default()
                }
                (v, Some(t)) => plain_text_for(v, t),
            })
            .unwrap_or_else(|| "null".into()),
    }
}
