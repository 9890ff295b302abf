//! Reading granit-parser's event stream into raw documents: a node tree with the byte span of
//! every node, the comments with theirs, and the anchors each document defines.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, ScalarStyle, StructureStyle, Tag};

use super::feed::{with_events, Threads};
use super::goyaml_headers::fix_goyaml_indicators;
use super::node::{
    pos, refuse_too_long, CoreTag, Node, NodeKind, Pos, RawComment, RawDoc, ScalarValue, TagStart,
};
use super::source::Source;
use crate::stores::StoreError;

/// Most events a source may produce.
pub(super) const MAX_NODES: usize = 2_000_000;

/// Read the events into raw documents.
///
/// go-yaml (hence sops) writes the indentation indicator of a block scalar as its indentation
/// step even where the content is not that far from the parent node (`- |4-` with the content two
/// columns after the dash), which YAML parsers, go-yaml included, refuse. When the source does not
/// parse, such headers are read with the indicator the content actually has (same byte length,
/// so every offset stays valid for the original bytes).
pub(super) fn read_events<'a>(
    src: &Source<'a>,
    threads: Threads,
) -> Result<Vec<RawDoc<'a>>, StoreError> {
    match read_events_in(src, |v| v, threads) {
        Ok(docs) => Ok(docs),
        Err(e) => {
            let Some(text) = fix_goyaml_indicators(src) else {
                return Err(e);
            };
            let fixed = src.with_lines_of(&text);
            read_events_in(&fixed, |v| Cow::Owned(v.into_owned()), threads).map_err(|_| e)
        }
    }
}

pub(super) fn scan_error(e: &granit_parser::ScanError) -> StoreError {
    StoreError::at_line(e.info().to_string(), e.marker().line())
}

/// Where an event sits in the source, in offsets of 32 bits as a raw node's (16 bytes, not 48:
/// every event is moved through the reading's queues).
pub(super) struct EventSpan {
    start: Pos,
    end: Pos,
    /// Start of the node's tag, when it has one.
    tag_start: TagStart,
    tag_end: TagStart,
}

impl EventSpan {
    /// The span of an event without a tag, at `range`.
    pub(super) fn at(range: Range<usize>) -> Self {
        EventSpan {
            start: pos(range.start),
            end: pos(range.end),
            tag_start: TagStart::default(),
            tag_end: TagStart::default(),
        }
    }

    /// Where the event's token is.
    pub(super) fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Where the node's tag starts, when it has one.
    fn tag_start(&self) -> Option<usize> {
        self.tag_start.get()
    }

    fn tag_end(&self) -> Option<usize> {
        self.tag_end.get()
    }
}

pub(super) fn event_span(span: &granit_parser::Span) -> EventSpan {
    let tag_start = span
        .tag_span()
        .and_then(|t| t.byte_range())
        .map(|r| r.start)
        .or_else(|| span.tag_start().and_then(|m| m.byte_offset()));
    EventSpan {
        tag_start: TagStart::new(tag_start),
        tag_end: TagStart::new(span.tag_span().and_then(|t| t.byte_range()).map(|r| r.end)),
        ..EventSpan::at(span.byte_range().unwrap_or(0..0))
    }
}

/// Read the events of `src`; `keep` makes each scalar's value one the documents may hold (the
/// value itself when they are read from `src`).
fn read_events_in<'e, 'a>(
    src: &Source<'e>,
    keep: fn(Cow<'e, str>) -> Cow<'a, str>,
    threads: Threads,
) -> Result<Vec<RawDoc<'a>>, StoreError> {
    refuse_too_long(src.text)?;
    let mut builder = TreeBuilder::new(src, keep);
    with_events(src.text, threads, |mut events| {
        let mut count = 0;
        events.for_each_event(|event, at| {
            if count >= MAX_NODES {
                return Err(StoreError::new("YAML document too large"));
            }
            count += 1;
            builder.event(event, at)
        })
    })?;
    Ok(builder.finish())
}

/// The parser of every YAML reading of a source: the full one here, and the read-back compared
/// event by event (`readback`), which must see the same events. The fast reading of plain block
/// YAML gives them while it can, granit-parser after (`fast`).
pub(super) fn parser(text: &str) -> super::fast::Reading<'_> {
    super::fast::Reading::new(text)
}

/// The parser adds a line break to a block scalar whose last line ends the source without one:
/// the value read is the one without it. `token` is where the scalar's token is in `text`.
///
/// Only a content line gets the break. A last line of spaces that is no content of the scalar
/// (no longer than its indentation: a blank line, whose missing break go-yaml does not add
/// either) leaves the value as the parser read it (`a: |\n x\n ` is `"x\n"`, as go-yaml reads
/// it).
pub(super) fn drop_added_break(
    value: &mut Cow<'_, str>,
    style: ScalarStyle,
    text: &str,
    token: Range<usize>,
) {
    if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
        && value.ends_with('\n')
        && !text.ends_with('\n')
        && text
            .get(token.end.min(text.len())..)
            .is_some_and(|rest| rest.trim().is_empty())
        && break_was_added(value, text, token.start)
    {
        value.to_mut().pop();
    }
}

/// Whether the parser added the break that ends `value`, a block scalar's whose token starts at
/// `start` and ends the source.
fn break_was_added(value: &str, text: &str, start: usize) -> bool {
    if value.bytes().all(|b| b == b'\n') {
        // Blank lines only (the token starts at its header): the parser adds a break for the
        // last line only when it is the block's one line (`a: |+\n ` is `""` to go-yaml, where
        // the parser gives `"\n"`; `a: |+\n \n ` is `"\n"` to both).
        return text
            .get(start..)
            .is_some_and(|t| t.bytes().filter(|&b| b == b'\n').count() == 1);
    }
    last_line_is_content(text, start)
}

/// Whether the last line of `text` is a content line of the block scalar whose token starts at
/// `start` (its first content character): a line with more than spaces, or more spaces than the
/// scalar's indentation. With an explicit indentation indicator, any line is taken as content
/// (as before this rule was known).
fn last_line_is_content(text: &str, start: usize) -> bool {
    let last = &text[text.rfind('\n').map_or(0, |i| i + 1)..];
    if last.bytes().any(|b| b != b' ') {
        return true;
    }
    let bytes = text.as_bytes();
    let start = start.min(bytes.len());
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    // The header: the last line before the content's first that holds more than spaces.
    let mut at = line_start(start);
    let header = loop {
        if at == 0 {
            return true;
        }
        let from = line_start(at - 1);
        let line = &text[from..at - 1];
        if line.bytes().any(|b| b != b' ' && b != b'\r') {
            break line;
        }
        at = from;
    };
    if has_indentation_indicator(header) {
        return true;
    }
    // The indentation: the column of the first character of content.
    let Some(first) = bytes[start..]
        .iter()
        .position(|b| !matches!(b, b' ' | b'\n' | b'\r'))
        .map(|i| start + i)
    else {
        // Only blank lines: the last is one of them.
        return false;
    };
    last.len() > first - line_start(first)
}

/// Whether a block scalar's header line has an indentation indicator (`|2`, `>-1`): any `|` or
/// `>` followed by chomping and indentation indicators, then a blank, a comment or the end.
fn has_indentation_indicator(header: &str) -> bool {
    let b = header.as_bytes();
    (0..b.len())
        .filter(|&i| matches!(b[i], b'|' | b'>'))
        .any(|i| {
            let rest = &b[i + 1..];
            let n = rest
                .iter()
                .take(3)
                .take_while(|c| matches!(c, b'+' | b'-' | b'1'..=b'9'))
                .count();
            let ends = rest
                .get(n)
                .is_none_or(|c| matches!(c, b' ' | b'\t' | b'#' | b'\r'));
            ends && rest[..n].iter().any(u8::is_ascii_digit)
        })
}

/// A collection whose end event has not come yet.
struct OpenCollection<'a> {
    flow: bool,
    is_map: bool,
    start: usize,
    props_end: usize,
    tag_start: Option<usize>,
    anchor: usize,
    container_id: usize,
    /// Where its entries (or elements) start on the builder's shared stack of them.
    base: usize,
    key: Option<Node<'a>>,
}

/// Builds the raw documents one event at a time.
struct TreeBuilder<'s, 'e, 'a> {
    src: &'s Source<'e>,
    keep: fn(Cow<'e, str>) -> Cow<'a, str>,
    docs: Vec<RawDoc<'a>>,
    stack: Vec<OpenCollection<'a>>,
    /// The entries of every open map, innermost last: a collection's own are moved into a
    /// vector of their exact size when it closes (no growth, no spare room).
    entries: Vec<(Node<'a>, Node<'a>)>,
    /// The same for the elements of open lists.
    elems: Vec<(usize, Node<'a>)>,
    /// The last scalar and its anchor id: an anchor event may still widen its span.
    pending: Option<(Node<'a>, usize)>,
    root: Option<Node<'a>>,
    anchors: HashMap<usize, Node<'a>>,
    /// Whether an alias can come: the source has a `*`. Without one, anchored nodes are not
    /// copied into `anchors` (a copy of each anchored map made a file with many anchors read
    /// half as fast again, and an encrypted file keeps its anchors but not its aliases).
    aliases_possible: bool,
    comments: Vec<RawComment>,
    /// Between a document's start and end events.
    in_doc: bool,
    next_container_id: usize,
    /// Scalars of the current document outside map keys.
    values: usize,
}

impl<'s, 'e, 'a> TreeBuilder<'s, 'e, 'a> {
    fn new(src: &'s Source<'e>, keep: fn(Cow<'e, str>) -> Cow<'a, str>) -> Self {
        TreeBuilder {
            src,
            keep,
            docs: Vec::new(),
            stack: Vec::new(),
            entries: Vec::new(),
            elems: Vec::new(),
            pending: None,
            root: None,
            anchors: HashMap::new(),
            aliases_possible: memchr::memchr(b'*', src.bytes()).is_some(),
            comments: Vec::new(),
            in_doc: false,
            next_container_id: 0,
            values: 0,
        }
    }

    fn event(&mut self, event: Event<'e>, at: &EventSpan) -> Result<(), StoreError> {
        let range = &at.range();
        match event {
            Event::Anchor(_, _) => {
                self.widen_to_anchor(range);
                return Ok(());
            }
            Event::Comment(text, placement) => {
                self.comments.push(RawComment {
                    text: text.to_string(),
                    placement,
                    start: range.start,
                    end: range.end,
                });
                return Ok(());
            }
            _ => {}
        }
        self.attach_pending();
        match event {
            Event::DocumentStart(..) => {
                self.in_doc = true;
                self.root = None;
                self.anchors.clear();
            }
            Event::DocumentEnd => self.end_document(range.start),
            Event::Scalar(value, style, anchor, tag) => {
                let node = self.scalar(value, style, tag.as_deref(), at);
                self.pending = Some((node, anchor));
            }
            Event::Alias(id) => self.alias(id, range)?,
            Event::UnresolvedAlias(_) => {
                return Err(StoreError::at_line(
                    "unknown anchor referenced",
                    self.src.line_of(range.start) + 1,
                ));
            }
            Event::MappingStart(style, anchor, _) => self.open(true, style, anchor, at),
            Event::SequenceStart(style, anchor, _) => self.open(false, style, anchor, at),
            Event::MappingEnd | Event::SequenceEnd => self.close(range)?,
            _ => {}
        }
        Ok(())
    }

    /// An anchor event: its `&name` is part of the node before it (the pending scalar, or the
    /// collection just opened).
    fn widen_to_anchor(&mut self, range: &Range<usize>) {
        if let Some((n, _)) = self.pending.as_mut() {
            n.set_start(n.start().min(range.start));
            n.set_props_end(n.props_end().max(range.end));
        } else if let Some(f) = self.stack.last_mut() {
            f.start = f.start.min(range.start);
            f.props_end = f.props_end.max(range.end);
        }
    }

    fn attach_pending(&mut self) {
        if let Some((n, a)) = self.pending.take() {
            self.attach(n, a);
        }
    }

    /// Place a finished node: the document's root, a map's key or value, or a list's element.
    fn attach(&mut self, node: Node<'a>, anchor: usize) {
        if anchor != 0 && self.aliases_possible {
            self.anchors.insert(anchor, node.clone());
        }
        let is_key = self
            .stack
            .last()
            .is_some_and(|f| f.is_map && f.key.is_none());
        if !is_key && matches!(node.kind, NodeKind::Scalar { .. }) {
            self.values += 1;
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(f) if f.is_map => match f.key.take() {
                None => f.key = Some(node),
                Some(k) => self.entries.push((k, node)),
            },
            Some(f) => {
                let dash = if f.flow {
                    node.start()
                } else {
                    self.src.dash_before(node.start())
                };
                self.elems.push((dash, node));
            }
        }
    }

    fn end_document(&mut self, end: usize) {
        let root_container_id = match &self.root {
            Some(Node {
                kind: NodeKind::Map { container_id, .. } | NodeKind::Seq { container_id, .. },
                ..
            }) => *container_id,
            _ => {
                self.next_container_id += 1;
                self.next_container_id - 1
            }
        };
        self.docs.push(RawDoc {
            root: self.root.take(),
            comments: std::mem::take(&mut self.comments),
            end,
            root_container_id,
            anchors: std::mem::take(&mut self.anchors),
            values: std::mem::take(&mut self.values),
        });
        self.in_doc = false;
    }

    fn scalar(
        &self,
        value: Cow<'e, str>,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: &EventSpan,
    ) -> Node<'a> {
        let range = &at.range();
        let start = at.tag_start().map_or(range.start, |t| t.min(range.start));
        let mut value = (self.keep)(value);
        drop_added_break(&mut value, style, self.src.text, range.clone());
        Node::new(
            NodeKind::Scalar {
                value: ScalarValue(value),
                style,
                tag: core_tag(tag),
                token_start: pos(range.start),
            },
            start,
            range.end,
            at.tag_end().unwrap_or(0),
            at.tag_start(),
        )
    }

    fn alias(&mut self, id: usize, range: &Range<usize>) -> Result<(), StoreError> {
        let n = Node::new(
            NodeKind::Alias { anchor: id },
            range.start,
            range.end,
            range.start,
            None,
        );
        if !self.anchors.contains_key(&id) {
            return Err(StoreError::at_line(
                "unknown anchor referenced",
                self.src.line_of(range.start) + 1,
            ));
        }
        self.attach(n, 0);
        Ok(())
    }

    fn open(&mut self, is_map: bool, style: StructureStyle, anchor: usize, at: &EventSpan) {
        let token = at.range().start;
        let start = at.tag_start().map_or(token, |t| t.min(token));
        self.stack.push(OpenCollection {
            flow: style == StructureStyle::Flow,
            is_map,
            start,
            props_end: at.tag_end().unwrap_or(start),
            tag_start: at.tag_start(),
            anchor,
            container_id: self.next_container_id,
            base: if is_map {
                self.entries.len()
            } else {
                self.elems.len()
            },
            key: None,
        });
        self.next_container_id += 1;
    }

    fn close(&mut self, range: &Range<usize>) -> Result<(), StoreError> {
        let Some(mut f) = self.stack.pop() else {
            return Err(StoreError::new("unbalanced YAML collection"));
        };
        if let Some(k) = f.key.take() {
            // A key without a value: an implicit null.
            let at = k.end();
            let null = Node::new(
                NodeKind::Scalar {
                    value: ScalarValue(Cow::Borrowed("")),
                    style: ScalarStyle::Plain,
                    tag: CoreTag::NONE,
                    token_start: pos(at),
                },
                at,
                at,
                at,
                None,
            );
            self.entries.push((k, null));
        }
        let (start, end) = if f.is_map {
            collection_span(&f, self.entries.get(f.base..).unwrap_or_default(), range)
        } else {
            collection_span(&f, self.elems.get(f.base..).unwrap_or_default(), range)
        };
        // The raw tree lives until the document is converted: no room to grow is kept.
        let kind = if f.is_map {
            NodeKind::Map {
                flow: f.flow,
                entries: self
                    .entries
                    .drain(f.base.min(self.entries.len())..)
                    .collect(),
                container_id: f.container_id,
            }
        } else {
            NodeKind::Seq {
                flow: f.flow,
                elems: self.elems.drain(f.base.min(self.elems.len())..).collect(),
                container_id: f.container_id,
            }
        };
        let n = Node::new(kind, start, end, f.props_end, f.tag_start);
        self.attach(n, f.anchor);
        Ok(())
    }

    fn finish(mut self) -> Vec<RawDoc<'a>> {
        self.attach_pending();
        // Comments after the last document end belong to the last document.
        if !self.comments.is_empty() || self.in_doc {
            if let Some(d) = self.docs.last_mut() {
                d.comments.append(&mut self.comments);
            } else {
                self.docs.push(RawDoc {
                    root: None,
                    comments: self.comments,
                    end: self.src.text.len(),
                    root_container_id: self.next_container_id,
                    anchors: HashMap::new(),
                    values: 0,
                });
            }
        }
        self.docs
    }
}

/// The tag of a node, as far as typing it is concerned.
fn core_tag(tag: Option<&Tag>) -> CoreTag {
    const CORE_PREFIX: &str = "tag:yaml.org,2002:";
    match tag {
        None => CoreTag::NONE,
        Some(t) => match t.core_suffix() {
            Some(s) => CoreTag::core(s.to_string()),
            None if t.is_yaml_core_schema_tag("binary") => CoreTag::core("binary".into()),
            None => {
                if t.to_string().starts_with(CORE_PREFIX) {
                    CoreTag::core(t.to_string()[CORE_PREFIX.len()..].to_string())
                } else {
                    CoreTag::custom()
                }
            }
        },
    }
}

/// A map's entry or a list's element, as far as the span of its collection is concerned.
trait Member {
    fn first_byte(&self) -> usize;
    fn last_byte(&self) -> usize;
}

impl Member for (Node<'_>, Node<'_>) {
    fn first_byte(&self) -> usize {
        self.0.start()
    }
    fn last_byte(&self) -> usize {
        self.0.end().max(self.1.end())
    }
}

impl Member for (usize, Node<'_>) {
    fn first_byte(&self) -> usize {
        self.0
    }
    fn last_byte(&self) -> usize {
        self.1.end()
    }
}

/// The byte range of a collection with `members` whose end event is at `end_event`: a flow
/// collection's brackets, a block collection's first to last entry.
fn collection_span(
    f: &OpenCollection,
    members: &[impl Member],
    end_event: &Range<usize>,
) -> (usize, usize) {
    if f.flow {
        (f.start, end_event.end)
    } else {
        let s = members
            .first()
            .map_or(f.start, |m| m.first_byte().min(f.start));
        let e = members.last().map_or(end_event.start, Member::last_byte);
        (s, e)
    }
}
