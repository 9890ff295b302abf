//! The parse entry point: a YAML stream read into the tree, its `sops` entry taken out as the
//! metadata, and the [`Layout`] that lets [`super::splice`] rewrite the source in place.

use std::collections::HashSet;

use granit_parser::ScalarStyle;
use zeroize::Zeroizing;

use super::comments::Tokens;
use super::convert::{Converter, PlacedComment, ValueContext, HALVES_FROM};
use super::events::read_events;
use super::feed::Threads;
use super::layout::{AliasRender, DocLayout, FlowRoot, Layout};
use super::metadata::{find_sops_entry, new_entry_point, sops_entry_span, SopsEntry};
use super::node::{Node, NodeKind, RawComment, RawDoc};
use super::source::Source;
use crate::stores::{refuse_lone_cr, Parsed, StoreError};
use crate::tree::{Doc, Item, Tree, Value};

/// Parse a YAML stream (plaintext or encrypted).
pub fn parse(src_bytes: &[u8]) -> Result<Parsed, StoreError> {
    let (tree, metadata, mut layout) = read(src_bytes, Threads::One)?;
    // Copied once the raw node tree is gone, so that the two are never held together.
    layout.src = Zeroizing::new(src_bytes.to_vec());
    Ok(parsed(tree, metadata, layout))
}

/// [`parse`] keeping no copy of the bytes (the layout's source is empty until it is lent them).
pub fn parse_lent(src_bytes: &[u8]) -> Result<Parsed, StoreError> {
    let (tree, metadata, layout) = read(src_bytes, Threads::One)?;
    Ok(parsed(tree, metadata, layout))
}

/// [`parse`] taking the bytes, which the layout keeps: a command's input, whose events are read
/// on a second thread when it is large (the other core is idle while the input is read).
pub fn parse_owned(src_bytes: Zeroizing<Vec<u8>>) -> Result<Parsed, StoreError> {
    let (tree, metadata, mut layout) = read(&src_bytes, Threads::Two)?;
    layout.src = src_bytes;
    Ok(parsed(tree, metadata, layout))
}

fn parsed(tree: Tree, metadata: Option<Value>, layout: Layout) -> Parsed {
    Parsed {
        tree,
        metadata,
        encoding: Default::default(),
        layout: crate::stores::Layout::new(layout),
    }
}

/// The tree, the metadata and the layout of a stream (its source bytes left for the caller to
/// give).
pub(super) fn read(
    src_bytes: &[u8],
    threads: Threads,
) -> Result<(Tree, Option<Value>, Layout), StoreError> {
    let (base, text) = decode(src_bytes)?;
    let src = Source::new(text);
    let raw = read_events(&src, threads)?;
    let leaves = raw.iter().map(|d| d.values + d.comments.len()).sum();
    let crlf = text
        .find('\n')
        .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r');
    let mut stream = StreamParser {
        src: &src,
        base,
        conv: Converter::with_capacity(&src, leaves),
        halves: threads.beside(text.len()),
        indent: None,
        metadata: None,
        docs: Vec::new(),
        doc_layouts: Vec::new(),
    };
    for (di, rd) in raw.into_iter().enumerate() {
        stream.document(rd, di == 0)?;
    }
    let StreamParser {
        conv,
        indent,
        metadata,
        docs,
        doc_layouts,
        ..
    } = stream;
    // Shift spans by the BOM.
    let spans = conv.spans.into_iter().map(|s| s.shifted(base)).collect();
    let aliases = conv
        .aliases
        .into_iter()
        .map(|a| AliasRender {
            start: a.start + base,
            end: a.end + base,
            template: a.template,
        })
        .collect();
    Ok((
        Tree { docs },
        metadata,
        Layout {
            src: Zeroizing::new(Vec::new()),
            spans,
            aliases,
            docs: doc_layouts,
            crlf,
            indent: indent.filter(|i| (1..=16).contains(i)).unwrap_or(4),
        },
    ))
}

/// The text after a byte order mark (and the mark's length), refusing what YAML readers would
/// read differently.
pub(super) fn decode(src_bytes: &[u8]) -> Result<(usize, &str), StoreError> {
    let base = if src_bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let text = std::str::from_utf8(&src_bytes[base..]).map_err(|e| {
        StoreError::new(format!(
            "invalid UTF-8 in YAML input at byte {}",
            e.valid_up_to() + base
        ))
    })?;
    // YAML breaks lines at a lone CR; the splice keeps line breaks as they are, and a value
    // written next to one would gain or lose a line.
    refuse_lone_cr(src_bytes)?;
    Ok((base, text))
}

/// The documents of a stream, converted one after the other.
struct StreamParser<'a> {
    src: &'a Source<'a>,
    /// Length of the byte order mark, by which every recorded offset is shifted.
    base: usize,
    conv: Converter<'a>,
    /// Whether a large document's root map is converted in two halves (the other core is idle).
    halves: bool,
    /// The indentation step of the first document that shows one.
    indent: Option<usize>,
    /// The first document's `sops` entry.
    metadata: Option<Value>,
    docs: Vec<Doc>,
    doc_layouts: Vec<DocLayout>,
}

impl<'a> StreamParser<'a> {
    fn document(&mut self, rd: RawDoc<'a>, first: bool) -> Result<(), StoreError> {
        let src = self.src;
        check_root(src, rd.root.as_ref())?;
        let mut root = rd.root.filter(|r| matches!(r.kind, NodeKind::Map { .. }));
        if self.indent.is_none() {
            self.indent = root.as_ref().and_then(|r| detect_indent(src, r));
        }
        self.conv.anchors = rd.anchors;
        let (insert_at, insert_lead_nl) = new_entry_point(src, &rd.comments, rd.end);
        let mut dl = DocLayout {
            insert_at: insert_at + self.base,
            insert_lead_nl,
            end: rd.end + self.base,
            ..Default::default()
        };
        if let Some(Node {
            kind: NodeKind::Map { entries, flow, .. },
            end,
            ..
        }) = &root
        {
            if *flow {
                dl.flow_root = Some(FlowRoot {
                    close: end.saturating_sub(1) + self.base,
                    has_entries: !entries.is_empty(),
                });
            }
        }
        let sops_entry = root.as_ref().and_then(find_sops_entry);
        // The tokens only serve to place comments.
        let sops_extra_end = if rd.comments.is_empty() {
            0
        } else {
            let tokens =
                Tokens::for_comments(src, root.as_ref(), rd.root_container_id, &rd.comments);
            self.give_comments(
                rd.comments,
                &tokens,
                rd.root_container_id,
                sops_entry.as_ref(),
            )
        };
        if let (
            Some(entry),
            Some(Node {
                kind: NodeKind::Map { entries, flow, .. },
                ..
            }),
        ) = (&sops_entry, root.as_mut())
        {
            let flow = *flow;
            let span = sops_entry_span(src, entries, entry.pos, flow, sops_extra_end);
            dl.sops_in_flow = flow;
            dl.sops = Some(span.shifted(self.base));
            entries.remove(entry.pos);
            if first {
                let mut meta_conv = Converter::new(src, self.conv.anchors.clone(), false);
                let ctx = ValueContext::top(flow, entry.key.end);
                self.metadata = Some(meta_conv.value_of(entry.value.clone(), ctx, &mut None)?);
            }
        }
        let items = self.document_items(root, rd.root_container_id, rd.values)?;
        self.docs.push(Doc { items });
        self.doc_layouts.push(dl);
        Ok(())
    }

    /// Give each comment to its container; those of the `sops` entry are left out. Returns the
    /// end of the entry's last comment (0 without one).
    fn give_comments(
        &mut self,
        comments: Vec<RawComment>,
        tokens: &Tokens,
        root_container_id: usize,
        sops_entry: Option<&SopsEntry>,
    ) -> usize {
        let placed: Vec<_> = comments
            .into_iter()
            .map(|c| (tokens.place(self.src, &c, root_container_id), c))
            .collect();
        let empty = HashSet::new();
        let sops_containers = sops_entry.map_or(&empty, |e| &e.container_ids);
        let mut sops_extra_end = 0;
        for ((container_id, _), c) in &placed {
            if sops_containers.contains(container_id) {
                sops_extra_end = sops_extra_end.max(c.end);
            }
        }
        // Comments inside the metadata's span (up to its last comment) go with it, so that its
        // removal never overlaps a comment of the data.
        let sops_start = sops_entry.map_or(usize::MAX, |e| e.key.start);
        for ((container_id, key), c) in placed {
            let in_sops = sops_containers.contains(&container_id)
                || (c.start >= sops_start && c.end <= sops_extra_end);
            if in_sops {
                continue;
            }
            let index = self.conv.raw_comments.len();
            let pos = c.start;
            self.conv.raw_comments.push(c);
            self.conv
                .comments
                .entry(container_id)
                .or_default()
                .push(PlacedComment { key, pos, index });
        }
        sops_extra_end
    }

    /// The items of a document: its root map's, or only comments.
    fn document_items(
        &mut self,
        root: Option<Node<'a>>,
        root_container_id: usize,
        values: usize,
    ) -> Result<Vec<Item>, StoreError> {
        match root {
            Some(r) => {
                let ctx = ValueContext::top(false, r.start);
                if self.halves && values >= HALVES_FROM && self.conv.can_halve(&r) {
                    return self.conv.root_items_in_halves(r, ctx);
                }
                self.conv.items_of(r, ctx, &mut None)
            }
            None => {
                let comments = self.conv.take_comments(root_container_id);
                let mut items = Vec::new();
                for c in comments {
                    if let Some(l) = self.conv.comment_leaf(c.index) {
                        items.push(Item::Comment(l));
                    }
                }
                Ok(items)
            }
        }
    }
}

/// Refuse a document whose root is a list or a value (sops reads maps only).
fn check_root(src: &Source, root: Option<&Node>) -> Result<(), StoreError> {
    let Some(r) = root else {
        return Ok(());
    };
    let line_of_root = src.line_of(r.start) + 1;
    match &r.kind {
        NodeKind::Map { .. } => Ok(()),
        NodeKind::Seq { .. } => Err(StoreError::at_line(
            "YAML documents that are sequences are not supported",
            line_of_root,
        )),
        NodeKind::Scalar { style, .. } if *style == ScalarStyle::Plain && r.start >= r.end => {
            Ok(())
        }
        _ => Err(StoreError::at_line(
            "YAML documents that are values are not supported",
            line_of_root,
        )),
    }
}

/// Detect the indentation step of a document.
fn detect_indent(src: &Source, n: &Node) -> Option<usize> {
    match &n.kind {
        NodeKind::Map {
            flow: false,
            entries,
            ..
        } => {
            let col = src.col(n.start);
            for (_, v) in entries {
                if let NodeKind::Map { flow: false, .. } | NodeKind::Seq { flow: false, .. } =
                    &v.kind
                {
                    let c = src.col(v.start);
                    if c > col {
                        return Some(c - col);
                    }
                }
                if let Some(i) = detect_indent(src, v) {
                    return Some(i);
                }
            }
            None
        }
        NodeKind::Seq {
            flow: false, elems, ..
        } => elems.iter().find_map(|(_, e)| detect_indent(src, e)),
        _ => None,
    }
}
