//! The `sops` entry of a document: finding it when parsing (with the bytes it and its comments
//! take), and writing it back, replaced, removed or added, in the style of its document.

use std::cell::OnceCell;
use std::collections::HashSet;

use super::edits::Edits;
use super::emitter::Emitter;
use super::layout::{DocLayout, Layout, LeafSpan, ScalarSpan, SopsSpan};
use super::node::{Node, NodeKind, RawComment};
use super::scalar_text::{double_quoted, inline_scalar};
use super::source::Source;
use super::writer::Writer;
use crate::tree::{secret, Item, Scalar, Value};

/// The `sops` entry of a document's root map.
pub(super) struct SopsEntry<'a> {
    pub(super) key: Node<'a>,
    pub(super) value: Node<'a>,
    /// Its index among the root map's entries.
    pub(super) pos: usize,
    /// The containers inside it (their comments belong to the metadata).
    pub(super) container_ids: HashSet<usize>,
}

/// The `sops` entry of a root map, if it has one.
pub(super) fn find_sops_entry<'a>(root: &Node<'a>) -> Option<SopsEntry<'a>> {
    let NodeKind::Map { entries, .. } = &root.kind else {
        return None;
    };
    let pos = entries.iter().position(|(k, _)| is_sops_key(k))?;
    let (key, value) = entries[pos].clone();
    let mut container_ids = HashSet::new();
    collect_container_ids(&value, &mut container_ids);
    Some(SopsEntry {
        key,
        value,
        pos,
        container_ids,
    })
}

fn is_sops_key(k: &Node) -> bool {
    matches!(&k.kind, NodeKind::Scalar { value, .. } if value == "sops")
}

/// Collect the container ids of a subtree.
fn collect_container_ids(n: &Node, out: &mut HashSet<usize>) {
    match &n.kind {
        NodeKind::Map {
            entries,
            container_id,
            ..
        } => {
            out.insert(*container_id);
            for (k, v) in entries {
                collect_container_ids(k, out);
                collect_container_ids(v, out);
            }
        }
        NodeKind::Seq {
            elems,
            container_id,
            ..
        } => {
            out.insert(*container_id);
            for (_, e) in elems {
                collect_container_ids(e, out);
            }
        }
        _ => {}
    }
}

/// The bytes to replace to rewrite or remove entry `pos` of the root map `entries` (a flow map
/// when `flow`); `extra_end` is the end of the entry's last comment.
pub(super) fn sops_entry_span(
    src: &Source,
    entries: &[(Node, Node)],
    pos: usize,
    flow: bool,
    extra_end: usize,
) -> SopsSpan {
    let (k, v) = &entries[pos];
    if flow {
        let (start, end) = if pos > 0 {
            let (pk, pv) = &entries[pos - 1];
            (pv.end().max(pk.end()), v.end())
        } else if entries.len() > 1 {
            (k.start(), entries[1].0.start())
        } else {
            (k.start(), v.end())
        };
        return SopsSpan {
            start,
            end,
            lead_nl: false,
            trail_nl: false,
        };
    }
    let b = src.bytes();
    let mut start = src.line_start(k.start());
    let mut end = v.end().max(k.end()).max(extra_end);
    // A block scalar ends after its last line break, at the start of the next line
    // (which holds other data when the entry is not last): already a line end.
    let at_line_start = end > 0 && end <= b.len() && b[end - 1] == b'\n';
    let has_break = if at_line_start {
        true
    } else {
        while end < b.len() && b[end] != b'\n' {
            end += 1;
        }
        let has = end < b.len();
        if has {
            end += 1;
        }
        has
    };
    let mut lead_nl = false;
    if !has_break && start > 0 {
        start -= 1;
        if start > 0 && b[start - 1] == b'\r' {
            start -= 1;
        }
        lead_nl = true;
    }
    SopsSpan {
        start,
        end,
        lead_nl,
        trail_nl: has_break,
    }
}

/// Where a new `sops` entry goes in a document ending at `doc_end`, and whether it must start
/// with a line break. It goes after the document's last comment too: comments after it would
/// read back as part of the metadata.
pub(super) fn new_entry_point(
    src: &Source,
    comments: &[RawComment],
    doc_end: usize,
) -> (usize, bool) {
    let b = src.bytes();
    let after_comments = comments
        .iter()
        .map(|c| c.end)
        .max()
        .filter(|e| *e > doc_end)
        .map(|e| {
            let mut at = e.min(b.len());
            while at < b.len() && b[at] != b'\n' {
                at += 1;
            }
            (at + 1).min(b.len())
        });
    let at = after_comments.unwrap_or(doc_end).max(doc_end).min(b.len());
    (at, at > 0 && b[at - 1] != b'\n')
}

/// The `sops` entry in block style at column 0 (no final line break), with `nl` line breaks.
fn metadata_block(meta: &Value, indent: usize, nl: &str) -> String {
    let mut em = Emitter::new(indent);
    em.map(&[Item::pair("sops", meta.clone())], 0, false);
    let s = em.out.trim_end_matches('\n').to_string();
    if nl == "\n" {
        s
    } else {
        s.replace('\n', nl)
    }
}

/// A value in flow style (`{a: 1, b: [x, y]}`), comments left out.
pub(super) fn flow_value(v: &Value, out: &mut String) {
    match v {
        Value::Leaf(l) => out.push_str(&inline_scalar(&l.value, true, false).unwrap_or_default()),
        Value::Map(items) => {
            out.push('{');
            let mut first = true;
            for i in items {
                if let Item::Pair { key, value } = i {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    out.push_str(
                        &inline_scalar(&Scalar::Str(secret(key.as_str())), true, true)
                            .unwrap_or_else(|| double_quoted(key)),
                    );
                    out.push_str(": ");
                    flow_value(value, out);
                }
            }
            out.push('}');
        }
        Value::List(items) => {
            out.push('[');
            let mut first = true;
            for i in items {
                if let Item::Elem(value) | Item::Pair { value, .. } = i {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    flow_value(value, out);
                }
            }
            out.push(']');
        }
    }
}

fn metadata_flow(meta: &Value) -> String {
    let mut s = String::from("sops: ");
    flow_value(meta, &mut s);
    s
}

/// Set (`Some`) or remove (`None`) the `sops` entry of every document.
pub(super) fn metadata_edits(
    layout: &Layout,
    metadata: Option<&Value>,
    w: &Writer,
    ed: &mut Edits,
) {
    let Some(meta) = metadata else {
        for span in layout.docs.iter().filter_map(|dl| dl.sops) {
            ed.push(span.start, span.end, String::new());
        }
        return;
    };
    // sepal's own records (`sepal_layout`, `sepal_conflict`) are written in the last document's
    // entry only: the documents before it get the metadata without them, so a record (which can
    // be large) is not repeated in every document, and the check of the output with a record
    // reads only the last document again (the documents before it are the same bytes as in the
    // output checked without it). The reading takes them from there (or from the first
    // document, where earlier versions wrote them).
    let rest_meta = without_sepal_records(meta);
    let full = Entry::new(meta);
    let rest = Entry::new(&rest_meta);
    let last = layout.docs.len().saturating_sub(1);
    for (i, dl) in layout.docs.iter().enumerate() {
        let entry = if i == last { &full } else { &rest };
        match dl.sops {
            Some(span) => replace_entry(w, dl, span, entry, ed),
            None => insert_entry(layout, w, dl, entry, ed),
        }
    }
}

/// Whether a `sops` entry's item is one of sepal's records (a `sepal_…` key).
pub(super) fn is_sepal_record(item: &Item) -> bool {
    matches!(item, Item::Pair { key, .. } if key.starts_with("sepal_"))
}

/// `meta` without its top-level `sepal_…` entries.
fn without_sepal_records(meta: &Value) -> Value {
    match meta {
        Value::Map(items) => Value::Map(
            items
                .iter()
                .filter(|item| !is_sepal_record(item))
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The `sops` entry written into every document of a stream: each of its forms is laid out once
/// (a layout record makes it large, and a stream may have many documents).
struct Entry<'m> {
    meta: &'m Value,
    block: OnceCell<String>,
    flow: OnceCell<String>,
    /// Where the source's last block scalar ends.
    last_block_end: OnceCell<Option<usize>>,
}

impl<'m> Entry<'m> {
    fn new(meta: &'m Value) -> Self {
        Entry {
            meta,
            block: OnceCell::new(),
            flow: OnceCell::new(),
            last_block_end: OnceCell::new(),
        }
    }

    fn block(&self, w: &Writer) -> &str {
        self.block
            .get_or_init(|| metadata_block(self.meta, w.indent, w.nl))
    }

    fn flow(&self) -> &str {
        self.flow.get_or_init(|| metadata_flow(self.meta))
    }

    fn last_block_end(&self, layout: &Layout) -> Option<usize> {
        *self.last_block_end.get_or_init(|| {
            layout
                .spans
                .iter()
                .filter_map(|s| match s {
                    LeafSpan::Scalar(ScalarSpan { block: Some(b), .. }) => Some(b.span_end),
                    _ => None,
                })
                .max()
        })
    }
}

/// The document's `sops` entry at `span` rewritten with `meta`.
fn replace_entry(w: &Writer, dl: &DocLayout, span: SopsSpan, entry: &Entry, ed: &mut Edits) {
    let (src, nl) = (w.src, w.nl);
    let (s, e) = (span.start, span.end);
    let body = if dl.sops_in_flow {
        entry.flow()
    } else {
        entry.block(w)
    };
    let prefix = if dl.sops_in_flow && src.get(s) != Some(&b's') {
        ", "
    } else {
        ""
    };
    let suffix = if dl.sops_in_flow
        && src.get(s) == Some(&b's')
        && e < src.len()
        && src[e..].first() != Some(&b'}')
    {
        ", "
    } else {
        ""
    };
    let mut t = String::new();
    if span.lead_nl {
        t.push_str(nl);
    }
    t.push_str(prefix);
    t.push_str(body);
    t.push_str(suffix);
    if span.trail_nl {
        t.push_str(nl);
    }
    ed.push(s, e, t);
}

/// A new `sops` entry for a document without one.
fn insert_entry(layout: &Layout, w: &Writer, dl: &DocLayout, entry: &Entry, ed: &mut Edits) {
    let nl = w.nl;
    if let Some(root) = dl.flow_root {
        let sep = if root.has_entries { ", " } else { "" };
        ed.push(root.close, root.close, format!("{sep}{}", entry.flow()));
        return;
    }
    let src = w.src;
    // A last line of blanks without a line break that ends a block scalar is
    // replaced: after a line break it would become content of the block.
    let line_start = src
        .get(..dl.insert_at)
        .and_then(|b| b.iter().rposition(|&c| c == b'\n'))
        .map_or(0, |p| p + 1);
    let ends_in_block = dl.insert_lead_nl
        && entry
            .last_block_end(layout)
            .is_some_and(|e| e >= line_start);
    let blank_tail = ends_in_block
        && line_start < dl.insert_at
        && src
            .get(line_start..dl.insert_at)
            .is_some_and(|b| b.iter().all(|c| matches!(c, b' ' | b'\t')));
    let mut t = String::new();
    if dl.insert_lead_nl && !blank_tail {
        t.push_str(nl);
    }
    t.push_str(entry.block(w));
    if !dl.insert_lead_nl {
        t.push_str(nl);
    }
    let from = if blank_tail { line_start } else { dl.insert_at };
    ed.push(from, dl.insert_at, t);
}
