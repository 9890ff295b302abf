//! The parse entry point: a YAML stream read into the tree, its `sops` entry taken out as the
//! metadata, and the [`Layout`] that lets [`super::splice`] rewrite the source in place.

use std::collections::HashSet;

use granit_parser::ScalarStyle;

use super::comments::Tokens;
use super::convert::{shift_ids, Converter, PlacedComment, ValueContext, HALVES_FROM};
use super::events::read_events;
use super::feed::{here_and_beside, Threads};
use super::layout::{AliasRender, DocLayout, FlowRoot, Layout};
use super::metadata::{
    find_sops_entry, is_sepal_record, new_entry_point, sops_entry_span, SopsEntry,
};
use super::node::{refuse_too_long, Node, NodeKind, RawComment, RawDoc};
use super::source::Source;
use crate::filebytes::FileBytes;
use crate::stores::{refuse_lone_cr, Parsed, StoreError};
use crate::tree::{Doc, Item, Tree, Value};
use crate::wipe::Wiped;

/// Parse a YAML stream (plaintext or encrypted).
pub fn parse(src_bytes: &[u8]) -> Result<Parsed, StoreError> {
    let (tree, metadata, mut layout) = read(src_bytes, Threads::One, false)?;
    // Copied once the raw node tree is gone, so that the two are never held together.
    layout.src = Wiped::new(src_bytes.to_vec()).into();
    Ok(parsed(tree, metadata, layout))
}

/// [`parse`] keeping no copy of the bytes (the layout's source is empty until it is lent them).
pub fn parse_lent(src_bytes: &[u8]) -> Result<Parsed, StoreError> {
    let (tree, metadata, layout) = read(src_bytes, Threads::One, false)?;
    Ok(parsed(tree, metadata, layout))
}

/// [`parse_lent`] leaving the data's plain `ENC[...]` scalars in `src_bytes` (see
/// [`parse_owned_lending`]), for a check that reads each where it is.
pub fn parse_lent_lending(src_bytes: &[u8]) -> Result<Parsed, StoreError> {
    let (tree, metadata, mut layout) = read(src_bytes, Threads::One, true)?;
    layout.lent = true;
    Ok(parsed(tree, metadata, layout))
}

/// [`parse`] taking the bytes, which the layout keeps: a command's input, whose events are read
/// on a second thread when it is large (the other core is idle while the input is read).
pub fn parse_owned(src_bytes: FileBytes) -> Result<Parsed, StoreError> {
    parse_owned_with(src_bytes, false)
}

/// [`parse_owned`] of a file to decrypt once: the data's plain `ENC[...]` scalars are left in the
/// source, each an empty string in the tree that
/// [`Parsed::lent_token`](crate::stores::Parsed::lent_token) gives back.
pub fn parse_owned_lending(src_bytes: FileBytes) -> Result<Parsed, StoreError> {
    parse_owned_with(src_bytes, true)
}

fn parse_owned_with(src_bytes: FileBytes, lend: bool) -> Result<Parsed, StoreError> {
    let (tree, metadata, mut layout) = read(&src_bytes, Threads::Two, lend)?;
    layout.src = src_bytes;
    layout.lent = lend;
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
/// give); the data's `ENC[...]` values left in the source when `lend`.
pub(super) fn read(
    src_bytes: &[u8],
    threads: Threads,
    lend: bool,
) -> Result<(Tree, Option<Value>, Layout), StoreError> {
    let (base, text) = decode(src_bytes)?;
    let src = Source::new(text);
    let mut raw = read_events(&src, threads)?;
    let crlf = text
        .find('\n')
        .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r');
    let beside = threads.beside(text.len());
    let later = beside.then(|| split_documents(&mut raw)).flatten();
    let mut stream = StreamParser::new(&src, base, &raw, beside && later.is_none(), lend);
    match later {
        None => stream.documents(raw, true, true)?,
        Some(later) => stream.documents_in_two_parts(raw, later)?,
    }
    let StreamParser {
        conv,
        indent,
        metadata,
        last_records,
        docs,
        doc_layouts,
        ..
    } = stream;
    let metadata = with_last_records(metadata, last_records);
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
            src: FileBytes::default(),
            spans,
            aliases,
            docs: doc_layouts,
            lent: false,
            crlf,
            indent: indent.filter(|i| (1..=16).contains(i)).unwrap_or(4),
        },
    ))
}

/// The `sepal_…` entries of a `sops` entry's value.
fn sepal_records(meta: Value) -> Vec<Item> {
    match meta {
        Value::Map(items) => items.into_iter().filter(is_sepal_record).collect(),
        _ => Vec::new(),
    }
}

/// The first document's metadata with the last document's records, where the first has none:
/// sepal writes its records (`sepal_layout`, `sepal_conflict`) in the last document of a stream
/// (so that checking the output with them reads that document again, not the first), and read
/// them from the first document where earlier versions wrote them.
fn with_last_records(metadata: Option<Value>, last_records: Vec<Item>) -> Option<Value> {
    match metadata {
        Some(Value::Map(mut items)) if !items.iter().any(is_sepal_record) => {
            items.extend(last_records);
            Some(Value::Map(items))
        }
        other => other,
    }
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
    refuse_too_long(text)?;
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
    /// The `sepal_…` entries of the stream's last document's `sops` entry, when that document is
    /// not the first (where sepal writes its records in a stream of several documents).
    last_records: Vec<Item>,
    docs: Vec<Doc>,
    doc_layouts: Vec<DocLayout>,
}

impl<'a> StreamParser<'a> {
    fn new(src: &'a Source<'a>, base: usize, raw: &[RawDoc], halves: bool, lend: bool) -> Self {
        let leaves = raw.iter().map(|d| d.values + d.comments.len()).sum();
        let mut conv = Converter::with_capacity(src, leaves);
        conv.lend = lend;
        StreamParser {
            src,
            base,
            conv,
            halves,
            indent: None,
            metadata: None,
            last_records: Vec::new(),
            docs: Vec::new(),
            doc_layouts: Vec::new(),
        }
    }

    /// Convert `raw`, the stream's first documents when `first`, its last ones when `last`.
    fn documents(
        &mut self,
        raw: Vec<RawDoc<'a>>,
        first: bool,
        last: bool,
    ) -> Result<(), StoreError> {
        let n = raw.len();
        for (di, rd) in raw.into_iter().enumerate() {
            self.document(rd, first && di == 0, last && di + 1 == n)?;
        }
        Ok(())
    }

    /// Convert the stream's documents `first` here and the `later` ones on a second thread
    /// meanwhile (the other core is idle while a command's input is converted), then join the
    /// two as a conversion of all of them in order gives them: the later documents' leaf ids
    /// follow the first ones', and their indentation counts where the first ones show none.
    fn documents_in_two_parts(
        &mut self,
        first: Vec<RawDoc<'a>>,
        later: Vec<RawDoc<'a>>,
    ) -> Result<(), StoreError> {
        let (src, base, lend) = (self.src, self.base, self.conv.lend);
        let convert_later = |later: Vec<RawDoc<'a>>| {
            let mut part = StreamParser::new(src, base, &later, false, lend);
            part.documents(later, false, true).map(|()| part)
        };
        let (done, part) =
            here_and_beside(|| self.documents(first, true, false), later, convert_later);
        // The first documents' error is the one a conversion in order meets first.
        done?;
        let part = part?;
        let offset = self.conv.spans.len();
        for doc in part.docs {
            let mut items = doc.items;
            for item in &mut items {
                shift_ids(item, offset);
            }
            self.docs.push(Doc { items });
        }
        self.conv.spans.extend(part.conv.spans);
        self.conv.aliases.extend(part.conv.aliases);
        self.doc_layouts.extend(part.doc_layouts);
        self.last_records = part.last_records;
        self.indent = self.indent.or(part.indent);
        Ok(())
    }

    fn document(&mut self, rd: RawDoc<'a>, first: bool, last: bool) -> Result<(), StoreError> {
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
        if let Some(
            r @ Node {
                kind: NodeKind::Map { entries, flow, .. },
                ..
            },
        ) = &root
        {
            if *flow {
                dl.flow_root = Some(FlowRoot {
                    close: r.end().saturating_sub(1) + self.base,
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
            if first || last {
                let mut meta_conv = Converter::new(src, self.conv.anchors.clone(), false);
                let ctx = ValueContext::top(flow, entry.key.end());
                let meta = meta_conv.value_of(entry.value.clone(), ctx, &mut None)?;
                if first {
                    self.metadata = Some(meta);
                } else {
                    self.last_records = sepal_records(meta);
                }
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
        let sops_start = sops_entry.map_or(usize::MAX, |e| e.key.start());
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
                let ctx = ValueContext::top(false, r.start());
                if self.halves && values >= HALVES_FROM {
                    self.conv.halve = self.conv.halving_target(&r);
                }
                let items = self.conv.items_of(r, ctx, &mut None);
                self.conv.halve = None;
                items
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

/// Documents from this many bytes of a stream on are converted in two parts (two in the unit
/// tests).
const DOCUMENTS_APART_FROM: usize = if cfg!(test) { 2 } else { 256 * 1024 };

/// Take the later documents of `raw` off it, to be converted apart from the first ones: where
/// the stream has at least [`DOCUMENTS_APART_FROM`] bytes, no anchors (a stream's aliases count
/// against one budget of expansions), and a document boundary where each side has at least a
/// quarter of the bytes (the first after the middle); else `None`, and `raw` is left whole.
fn split_documents<'a>(raw: &mut Vec<RawDoc<'a>>) -> Option<Vec<RawDoc<'a>>> {
    let total = raw.last()?.end;
    if total < DOCUMENTS_APART_FROM || raw.len() < 2 || raw.iter().any(|d| !d.anchors.is_empty()) {
        return None;
    }
    // Before or after the document that holds the middle, whichever is nearer to it.
    let crossing = raw.partition_point(|d| d.end < total / 2);
    let fits = |at: usize| {
        let cut = at.checked_sub(1).and_then(|i| raw.get(i))?.end;
        (at < raw.len() && cut >= total / 4 && total - cut >= total / 4)
            .then_some((at, cut.abs_diff(total / 2)))
    };
    let (at, _) = [fits(crossing), fits(crossing + 1)]
        .into_iter()
        .flatten()
        .min_by_key(|&(_, off)| off)?;
    Some(raw.split_off(at))
}

/// Refuse a document whose root is a list or a value (sops reads maps only).
fn check_root(src: &Source, root: Option<&Node>) -> Result<(), StoreError> {
    let Some(r) = root else {
        return Ok(());
    };
    // Asked for on a refusal only: a reading that needs no line starts never finds them.
    let line_of_root = || src.line_of(r.start()) + 1;
    match &r.kind {
        NodeKind::Map { .. } => Ok(()),
        NodeKind::Seq { .. } => Err(StoreError::at_line(
            "YAML documents that are sequences are not supported",
            line_of_root(),
        )),
        NodeKind::Scalar { style, .. } if *style == ScalarStyle::Plain && r.start() >= r.end() => {
            Ok(())
        }
        _ => Err(StoreError::at_line(
            "YAML documents that are values are not supported",
            line_of_root(),
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
            let col = src.col(n.start());
            for (_, v) in entries {
                if let NodeKind::Map { flow: false, .. } | NodeKind::Seq { flow: false, .. } =
                    &v.kind
                {
                    let c = src.col(v.start());
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

#[cfg(test)]
mod tests {
    use super::super::feed::tests::same_on_two_threads;
    use super::*;

    /// Whether `text`'s documents are converted in two parts when read beside.
    fn split(text: &str) -> bool {
        let src = Source::new(text);
        read_events(&src, Threads::One)
            .ok()
            .and_then(|mut raw| split_documents(&mut raw))
            .is_some()
    }

    #[test]
    fn documents_in_two_parts_read_as_in_order() {
        let sops = "sops:\n    version: 3.11.0\n    mac: x\n";
        let doc = |n: usize| format!("# c{n}\nk{n}: v # t\nl{n}:\n  - a\n  - {{x: 1}}\n{sops}");
        let docs = |n: usize| (0..n).map(doc).collect::<Vec<_>>().join("---\n");
        for (text, apart) in [
            (docs(2), true),
            (docs(7), true),
            (
                format!("{}\r\n---\r\na: 1\r\n", docs(3).replace('\n', "\r\n")),
                true,
            ),
            // Indentation shown only in the later documents; documents of comments only.
            (
                "a: 1\n---\n# only\n---\nb:\n   c: 2\n---\nd:\n  - e\n".to_string(),
                true,
            ),
            (
                "a: 1\n---\nb: [1]\n---\n{c: 2}\n---\nd: 3 # x\n".to_string(),
                true,
            ),
            // A refused document among the later ones, and among both.
            ("a: 1\n---\nb: 2\n---\n- c\n---\nd: 4\n".to_string(), true),
            ("- a\n---\nb: 2\n---\n- c\n---\nd: 4\n".to_string(), true),
            // Anchors: one budget of expansions for the stream, read in order.
            (
                "a: &x 1\n---\nb: 2\n---\nc: &y 3\nd: *y\n".to_string(),
                false,
            ),
            // One document holding nearly all of it.
            (format!("a: 1\n---\n{}", "b: 2\n".repeat(40)), false),
            ("a: 1\n".to_string(), false),
        ] {
            assert_eq!(split(&text), apart, "{text:?}");
            // Read on one thread and with its documents in two parts: the same tree, metadata
            // and layout, or the same error.
            same_on_two_threads(&text);
        }
    }

    /// The `sepal_layout` text of `text`'s metadata, read on one thread and in two parts.
    fn layout_record_of(text: &str) -> Option<String> {
        let records: Vec<Option<String>> = [Threads::One, Threads::TwoAlways]
            .into_iter()
            .map(|threads| {
                let (_, metadata, _) = read(text.as_bytes(), threads, false).unwrap();
                let Some(Value::Map(items)) = metadata else {
                    return None;
                };
                items.iter().find_map(|item| match item {
                    Item::Pair {
                        key,
                        value: Value::Leaf(leaf),
                    } if key == "sepal_layout" => leaf.value.as_str().map(str::to_string),
                    _ => None,
                })
            })
            .collect();
        assert_eq!(records[0], records[1], "{text:?}");
        records[0].clone()
    }

    #[test]
    fn records_are_read_from_the_last_document_or_else_the_first() {
        let entry = |record: &str| format!("sops:\n    version: 3.11.0\n{record}");
        let stream = |records: [&str; 3]| {
            let docs: Vec<String> = (0..3)
                .map(|i| format!("k{i}: v\n{}", entry(records[i])))
                .collect();
            docs.join("---\n")
        };
        let (first, middle, last) = (
            "    sepal_layout: first\n",
            "    sepal_layout: middle\n",
            "    sepal_layout: last\n",
        );
        let record = |text: &str| layout_record_of(text).map(|r| r.contains("last"));
        // Where sepal writes it: the last document.
        assert_eq!(record(&stream(["", "", last])), Some(true));
        // Where earlier versions wrote it: the first, which wins when both have one.
        assert_eq!(record(&stream([first, "", ""])), Some(false));
        assert_eq!(record(&stream([first, "", last])), Some(false));
        // Nowhere else.
        assert_eq!(record(&stream(["", middle, ""])), None);
        // Not without a first document's metadata.
        assert_eq!(record(&format!("k: v\n---\nl: w\n{}", entry(last))), None);
        // A document of its own.
        assert_eq!(record(&format!("k: v\n{}", entry(last))), Some(true));
    }
}
