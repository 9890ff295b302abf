//! The lossless YAML store.
//!
//! Parsing uses granit-parser's event stream (exact byte spans for scalars, brackets and
//! comments). Every scalar and comment becomes a leaf whose span is remembered in [`Layout`], so
//! that [`splice`] can rewrite only the leaves that changed and keep everything else byte for
//! byte. [`emit`] writes a tree from scratch with go-yaml v3's layout, as sops prints it.
//!
//! Comment placement follows what go-yaml's parser does, as far as the *containing map or list*
//! is concerned (that container gives the comment's AAD): an inline comment belongs to the
//! container of the token before it on its line; an own-line comment indented deeper than the
//! next token belongs to the innermost container of the content before it (a "foot" comment),
//! otherwise to the container of the next token (a "head" comment).

pub(crate) mod edit;
mod emit;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Options, Parser, Placement, ScalarStyle, StructureStyle};
use zeroize::Zeroizing;

use self::emit::{
    chomp, double_quoted, double_quoted_min, indent_from, inline_scalar, literal_body, pick_style,
    plain_ok, single_ok, single_quoted, Emitter, Sty,
};
use self::resolve::{parse_timestamp, resolve_plain, Resolved};
use super::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::tree::{secret, Doc, Item, Leaf, LeafId, Scalar, Tree, Value};

/// Where one leaf sits in the source.
#[derive(Clone, Debug)]
enum LeafSpan {
    Scalar(ScalarSpan),
    Comment {
        start: usize,
        end: usize,
    },
    /// A leaf of an expanded alias of a collection: written by its [`AliasRender`].
    InAlias,
}

#[derive(Clone, Debug)]
struct ScalarSpan {
    /// Token range (quotes included; for block scalars, see `block`).
    start: usize,
    end: usize,
    /// Start of the node's tag, when it has one before the token (removed when rewritten).
    tag_start: Option<usize>,
    style: Sty,
    flow: bool,
    /// Indentation of the owning map (its key column) or sequence (its dash column).
    owner_col: usize,
    /// The dash, when the scalar is directly an element of a block sequence.
    dash: Option<usize>,
    block: Option<BlockSpan>,
    /// The node is tagged `!!str`. On an `ENC[...]` token (only sepal writes it) it marks a
    /// string to write back as it was, not as go-yaml would (see [`Writer::write_plain`]).
    str_tag: bool,
    /// The token is an `ENC[...]` string: a new ciphertext keeps its form (style and tag).
    is_enc: bool,
    /// A plain string that go-yaml would quote but that reads back the same plain (`yes`,
    /// `1:20`, `🔑`): its ciphertext gets the `!!str` mark.
    keep_plain: bool,
}

#[derive(Clone, Debug)]
struct BlockSpan {
    header_start: usize,
    header_end: usize,
    /// Start of the line after the header.
    content_start: usize,
    /// End of the last non-blank content line (its line break excluded).
    content_end: usize,
    /// End of the scanner's span (trailing blank lines included).
    span_end: usize,
    content_col: usize,
    /// Blank lines after the last content line's break, up to `span_end`.
    trailing_blanks: usize,
    /// Whether there is a non-blank content line (else `content_end == content_start`).
    has_content: bool,
    /// The header has go-yaml's indentation indicator (its indentation step, where the content
    /// sits elsewhere) for a string go-yaml writes that way: encrypted as an inline token, so
    /// that decrypting writes it as go-yaml does again.
    goyaml: bool,
}

#[derive(Clone, Debug)]
enum Tmpl {
    Map(Vec<(String, Tmpl)>),
    Seq(Vec<Tmpl>),
    Leaf(LeafId),
}

#[derive(Clone, Debug)]
struct AliasRender {
    start: usize,
    end: usize,
    tmpl: Tmpl,
}

#[derive(Clone, Debug, Default)]
struct DocLayout {
    /// The `sops` entry: byte range to replace, and whether the replacement starts with a line
    /// break / ends with one.
    sops: Option<(usize, usize, bool, bool)>,
    /// Where to insert a new `sops` entry (a line start, or EOF).
    insert_at: usize,
    insert_lead_nl: bool,
    /// For a top-level flow mapping: position of its `}` and whether it has entries.
    flow_root: Option<(usize, bool)>,
    /// Whether the sops entry sits in a flow root (then it's written in flow style).
    sops_in_flow: bool,
}

/// Store-private memory of the source: leaf spans and document structure.
pub struct Layout {
    src: Zeroizing<Vec<u8>>,
    spans: Vec<LeafSpan>,
    aliases: Vec<AliasRender>,
    docs: Vec<DocLayout>,
    crlf: bool,
    indent: usize,
}

// ---------------------------------------------------------------------------------------------
// Raw node tree built from the events.

#[derive(Clone, Debug)]
enum CoreTag {
    None,
    Core(String),
    Custom,
}

#[derive(Clone, Debug)]
enum K {
    Scalar {
        value: String,
        style: ScalarStyle,
        tag: CoreTag,
        /// Token start (without anchor/tag).
        vstart: usize,
    },
    Map {
        flow: bool,
        entries: Vec<(N, N)>,
        cid: usize,
    },
    Seq {
        flow: bool,
        elems: Vec<(usize, N)>,
        cid: usize,
    },
    Alias {
        anchor: usize,
    },
}

#[derive(Clone, Debug)]
struct N {
    kind: K,
    /// First byte of the node (anchor/tag included).
    start: usize,
    end: usize,
    /// End of the node's properties (anchor, tag), where a block scalar header may start.
    props_end: usize,
    tag_start: Option<usize>,
}

struct Frame {
    flow: bool,
    is_map: bool,
    start: usize,
    props_end: usize,
    tag_start: Option<usize>,
    anchor: usize,
    cid: usize,
    entries: Vec<(N, N)>,
    key: Option<N>,
    elems: Vec<(usize, N)>,
}

struct RawComment {
    text: String,
    placement: Placement,
    start: usize,
    end: usize,
}

struct RawDoc {
    root: Option<N>,
    comments: Vec<RawComment>,
    /// Where the document ends (start of `...`/next `---`, or EOF).
    end: usize,
    root_cid: usize,
    anchors: HashMap<usize, N>,
}

fn scan_err(e: &granit_parser::ScanError) -> StoreError {
    StoreError::at_line(e.info().to_string(), e.marker().line())
}

struct Src<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl Src<'_> {
    fn line_of(&self, pos: usize) -> usize {
        match self.line_starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
    fn line_start(&self, pos: usize) -> usize {
        self.line_starts
            .get(self.line_of(pos))
            .copied()
            .unwrap_or(0)
    }
    fn col(&self, pos: usize) -> usize {
        pos - self.line_start(pos)
    }
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

const MAX_NODES: usize = 2_000_000;

/// Read the events into raw documents.
///
/// go-yaml (hence sops) writes the indentation indicator of a block scalar as its indentation
/// step even where the content is not that far from the parent node (`- |4-` with the content two
/// columns after the dash), which YAML parsers, go-yaml included, refuse. When the source does not
/// parse, such headers are read with the indicator the content actually has (same byte length,
/// so every offset stays valid for the original bytes).
fn read_events(src: &Src) -> Result<Vec<RawDoc>, StoreError> {
    match read_events_in(src) {
        Ok(docs) => Ok(docs),
        Err(e) => {
            let Some(text) = fix_goyaml_indicators(src) else {
                return Err(e);
            };
            let fixed = Src {
                text: &text,
                line_starts: src.line_starts.clone(),
            };
            read_events_in(&fixed).map_err(|_| e)
        }
    }
}

/// The source with go-yaml's block scalar indentation indicators replaced by the ones the content
/// has (see [`read_events`]); `None` when there is none to replace.
fn fix_goyaml_indicators(src: &Src) -> Option<String> {
    let b = src.bytes();
    let mut out = b.to_vec();
    let mut changed = false;
    let line_end = |ls: usize| {
        b[ls..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| ls + p)
    };
    let indent_of = |ls: usize, le: usize| {
        let n = b[ls..le].iter().take_while(|&&c| c == b' ').count();
        // A tab after the indentation is content.
        let blank = b[ls + n..le].iter().all(|&c| c == b'\r');
        (n, blank)
    };
    for (li, &ls) in src.line_starts.iter().enumerate() {
        let le = line_end(ls);
        let line = &b[ls..le];
        let end = line
            .iter()
            .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r'))
            .map_or(0, |i| i + 1);
        let ws = line[..end]
            .iter()
            .rposition(|&c| c == b' ')
            .map_or(0, |i| i + 1);
        let word = &line[ws..end];
        // `|4-`, `|-4`, `>4`, ...
        let Some(dpos) = word.iter().position(u8::is_ascii_digit) else {
            continue;
        };
        let ok_word = matches!(word.first(), Some(b'|' | b'>'))
            && word.len() <= 3
            && word[1..]
                .iter()
                .all(|c| matches!(c, b'1'..=b'9' | b'+' | b'-'));
        if !ok_word {
            continue;
        }
        let digit = usize::from(word[dpos] - b'0');
        // What precedes the header: dashes, then a key and `:`, or node properties.
        let mut i = line.iter().take_while(|&&c| c == b' ').count();
        let mut dash = None;
        while i + 1 < ws && line[i] == b'-' && line[i + 1] == b' ' {
            dash = Some(i);
            i += 1;
            while i < ws && line[i] == b' ' {
                i += 1;
            }
        }
        let before = &line[i..ws];
        let props_only = before
            .split(|&c| c == b' ')
            .all(|w| w.is_empty() || matches!(w[0], b'&' | b'!'));
        let (parent, content) = match dash {
            Some(d) if props_only => (d, d + 2),
            _ if before.windows(2).any(|w| w == b": ") => (i, digit * ((i + digit) / digit.max(1))),
            _ => continue,
        };
        let Some(want) = content.checked_sub(parent).filter(|w| (1..=9).contains(w)) else {
            continue;
        };
        if want == digit {
            continue;
        }
        // The content lines: every non-blank one at `content` or deeper, until a line at the
        // parent's column or less; at least one shallower than the indicator says.
        let mut under = false;
        let mut fits = true;
        for &ns in &src.line_starts[li + 1..] {
            let ne = line_end(ns);
            let (n, blank) = indent_of(ns, ne);
            if blank {
                continue;
            }
            if n <= parent {
                break;
            }
            if n < content {
                fits = false;
                break;
            }
            if n < parent + digit {
                under = true;
            }
        }
        if under && fits {
            if let Some(slot) = out.get_mut(ls + ws + dpos) {
                // `want` is 1..=9.
                *slot = b'0' + want as u8;
                changed = true;
            }
        }
    }
    if !changed {
        return None;
    }
    String::from_utf8(out).ok()
}

fn read_events_in(src: &Src) -> Result<Vec<RawDoc>, StoreError> {
    let mut opts = Options::default();
    opts.emit_anchor_events = true;
    let parser = Parser::new_from_str_with_options(src.text, opts);
    let mut docs: Vec<RawDoc> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut pending: Option<(N, usize)> = None;
    let mut root: Option<N> = None;
    let mut anchors: HashMap<usize, N> = HashMap::new();
    let mut comments: Vec<RawComment> = Vec::new();
    let mut in_doc = false;
    let mut next_cid = 0usize;
    let mut count = 0usize;

    fn attach(
        stack: &mut [Frame],
        root: &mut Option<N>,
        anchors: &mut HashMap<usize, N>,
        node: N,
        anchor: usize,
        src: &Src,
    ) {
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => *root = Some(node),
            Some(f) if f.is_map => match f.key.take() {
                None => f.key = Some(node),
                Some(k) => f.entries.push((k, node)),
            },
            Some(f) => {
                let dash = if f.flow {
                    node.start
                } else {
                    find_dash(src, node.start)
                };
                f.elems.push((dash, node));
            }
        }
    }

    for ev in parser {
        let (event, span) = ev.map_err(|e| scan_err(&e))?;
        count += 1;
        if count > MAX_NODES {
            return Err(StoreError::new("YAML document too large"));
        }
        let range = span.byte_range().unwrap_or(0..0);
        let tag_start = span
            .tag_span()
            .and_then(|t| t.byte_range())
            .map(|r| r.start)
            .or_else(|| span.tag_start().and_then(|m| m.byte_offset()));
        let tag_end = span.tag_span().and_then(|t| t.byte_range()).map(|r| r.end);
        if let Event::Anchor(_, _) = &event {
            if let Some((n, _)) = pending.as_mut() {
                n.start = n.start.min(range.start);
                n.props_end = n.props_end.max(range.end);
            } else if let Some(f) = stack.last_mut() {
                f.start = f.start.min(range.start);
                f.props_end = f.props_end.max(range.end);
            }
            continue;
        }
        if let Event::Comment(text, placement) = &event {
            comments.push(RawComment {
                text: text.to_string(),
                placement: *placement,
                start: range.start,
                end: range.end,
            });
            continue;
        }
        if let Some((n, a)) = pending.take() {
            attach(&mut stack, &mut root, &mut anchors, n, a, src);
        }
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(..) => {
                in_doc = true;
                root = None;
                anchors.clear();
            }
            Event::DocumentEnd => {
                let root_cid = match &root {
                    Some(N {
                        kind: K::Map { cid, .. } | K::Seq { cid, .. },
                        ..
                    }) => *cid,
                    _ => {
                        next_cid += 1;
                        next_cid - 1
                    }
                };
                docs.push(RawDoc {
                    root: root.take(),
                    comments: std::mem::take(&mut comments),
                    end: range.start,
                    root_cid,
                    anchors: std::mem::take(&mut anchors),
                });
                in_doc = false;
            }
            Event::Scalar(value, style, anchor, tag) => {
                let core = match &tag {
                    None => CoreTag::None,
                    Some(t) => match t.core_suffix() {
                        Some(s) => CoreTag::Core(s.to_string()),
                        None if t.is_yaml_core_schema_tag("binary") => {
                            CoreTag::Core("binary".into())
                        }
                        None => {
                            if t.to_string().starts_with("tag:yaml.org,2002:") {
                                CoreTag::Core(
                                    t.to_string()["tag:yaml.org,2002:".len()..].to_string(),
                                )
                            } else {
                                CoreTag::Custom
                            }
                        }
                    },
                };
                let start = tag_start.map_or(range.start, |t| t.min(range.start));
                let mut value = value.to_string();
                // A block scalar whose last line ends the file without a line break has no
                // final line break in its value (the parser adds one).
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && value.ends_with('\n')
                    && !src.text.ends_with('\n')
                    && src.text[range.end.min(src.text.len())..].trim().is_empty()
                {
                    value.pop();
                }
                let n = N {
                    kind: K::Scalar {
                        value,
                        style,
                        tag: core,
                        vstart: range.start,
                    },
                    start,
                    end: range.end,
                    props_end: tag_end.unwrap_or(0),
                    tag_start,
                };
                pending = Some((n, anchor));
            }
            Event::Alias(id) => {
                let n = N {
                    kind: K::Alias { anchor: id },
                    start: range.start,
                    end: range.end,
                    props_end: range.start,
                    tag_start: None,
                };
                if !anchors.contains_key(&id) {
                    return Err(StoreError::at_line(
                        "unknown anchor referenced",
                        src.line_of(range.start) + 1,
                    ));
                }
                attach(&mut stack, &mut root, &mut anchors, n, 0, src);
            }
            Event::UnresolvedAlias(_) => {
                return Err(StoreError::at_line(
                    "unknown anchor referenced",
                    src.line_of(range.start) + 1,
                ));
            }
            Event::MappingStart(st, anchor, _) | Event::SequenceStart(st, anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let start = tag_start.map_or(range.start, |t| t.min(range.start));
                stack.push(Frame {
                    flow: st == StructureStyle::Flow,
                    is_map,
                    start,
                    props_end: tag_end.unwrap_or(start),
                    tag_start,
                    anchor,
                    cid: next_cid,
                    entries: Vec::new(),
                    key: None,
                    elems: Vec::new(),
                });
                next_cid += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(mut f) = stack.pop() else {
                    return Err(StoreError::new("unbalanced YAML collection"));
                };
                if let Some(k) = f.key.take() {
                    // A key without a value: an implicit null.
                    let pos = k.end;
                    let null = N {
                        kind: K::Scalar {
                            value: String::new(),
                            style: ScalarStyle::Plain,
                            tag: CoreTag::None,
                            vstart: pos,
                        },
                        start: pos,
                        end: pos,
                        props_end: pos,
                        tag_start: None,
                    };
                    f.entries.push((k, null));
                }
                let (start, end) = if f.flow {
                    (f.start, range.end)
                } else if f.is_map {
                    let s = f
                        .entries
                        .first()
                        .map_or(f.start, |(k, _)| k.start.min(f.start));
                    let e = f
                        .entries
                        .last()
                        .map_or(range.start, |(k, v)| k.end.max(v.end));
                    (s, e)
                } else {
                    let s = f.elems.first().map_or(f.start, |(d, _)| (*d).min(f.start));
                    let e = f.elems.last().map_or(range.start, |(_, v)| v.end);
                    (s, e)
                };
                let kind = if f.is_map {
                    K::Map {
                        flow: f.flow,
                        entries: f.entries,
                        cid: f.cid,
                    }
                } else {
                    K::Seq {
                        flow: f.flow,
                        elems: f.elems,
                        cid: f.cid,
                    }
                };
                let n = N {
                    kind,
                    start,
                    end,
                    props_end: f.props_end,
                    tag_start: f.tag_start,
                };
                attach(&mut stack, &mut root, &mut anchors, n, f.anchor, src);
            }
            _ => {}
        }
    }
    if let Some((n, a)) = pending.take() {
        attach(&mut stack, &mut root, &mut anchors, n, a, src);
    }
    // Comments after the last document end belong to the last document.
    if !comments.is_empty() || in_doc {
        if let Some(d) = docs.last_mut() {
            d.comments.append(&mut comments);
        } else {
            docs.push(RawDoc {
                root: None,
                comments,
                end: src.text.len(),
                root_cid: next_cid,
                anchors: HashMap::new(),
            });
        }
    }
    Ok(docs)
}

/// The dash of a block sequence element starting at `pos`: the last `-` before it, skipping
/// blank space, line breaks and comments.
fn find_dash(src: &Src, pos: usize) -> usize {
    let b = src.bytes();
    let mut end = pos.min(b.len());
    for _ in 0..64 {
        let ls = src.line_start(end.saturating_sub(usize::from(end > 0 && b[end - 1] == b'\n')));
        let ls = if end > 0 && b[end - 1] == b'\n' {
            src.line_start(end - 1)
        } else {
            ls
        };
        let line = &b[ls..end];
        // Drop a trailing comment (a `#` at the start or after blank space).
        let mut cut = line.len();
        for (i, &c) in line.iter().enumerate() {
            if c == b'#' && (i == 0 || matches!(line[i - 1], b' ' | b'\t')) {
                cut = i;
                break;
            }
        }
        let mut seg = &line[..cut];
        // Skip a block scalar header and node properties (`- &a !t |2-`).
        loop {
            let t = seg
                .iter()
                .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .map_or(0, |i| i + 1);
            seg = &seg[..t];
            let ws = seg
                .iter()
                .rposition(|c| matches!(c, b' ' | b'\t'))
                .map_or(0, |i| i + 1);
            let word = &seg[ws..];
            let is_header = matches!(word.first(), Some(b'|' | b'>'))
                && word[1..]
                    .iter()
                    .all(|c| matches!(c, b'0'..=b'9' | b'+' | b'-'));
            let is_prop = matches!(word.first(), Some(b'&' | b'!'));
            if !word.is_empty() && (is_header || is_prop) {
                seg = &seg[..ws];
            } else {
                break;
            }
        }
        let trimmed = seg
            .iter()
            .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
        match trimmed {
            Some(i) if seg[i] == b'-' => return ls + i,
            Some(_) => return pos,
            None if ls == 0 => return pos,
            None => end = ls,
        }
    }
    pos
}

// ---------------------------------------------------------------------------------------------
// Comment placement.

#[derive(Clone, Copy, Debug)]
struct Tok {
    start: usize,
    end: usize,
    col: usize,
    /// Container for a comment that comes before this token.
    before: usize,
    /// Container for a comment that comes after it.
    after: usize,
    /// Start of the item (of `after`) this token belongs to.
    item_start: usize,
}

struct Tokens {
    toks: Vec<Tok>,
    flows: Vec<(usize, usize, usize)>,
}

fn collect_tokens(src: &Src, n: &N, container: usize, item_start: usize, t: &mut Tokens) {
    match &n.kind {
        K::Scalar { .. } | K::Alias { .. } => t.toks.push(Tok {
            start: n.start,
            end: n.end.max(n.start),
            col: src.col(n.start),
            before: container,
            after: container,
            item_start,
        }),
        K::Map { flow, entries, cid } => {
            if *flow {
                flow_open(src, n, container, *cid, t);
            }
            for (k, v) in entries {
                collect_tokens(src, k, *cid, k.start, t);
                collect_tokens(src, v, *cid, k.start, t);
            }
            if *flow {
                flow_close(src, n, container, *cid, item_start, t);
            }
        }
        K::Seq { flow, elems, cid } => {
            if *flow {
                flow_open(src, n, container, *cid, t);
            }
            for (d, e) in elems {
                if !*flow && *d < e.start {
                    t.toks.push(Tok {
                        start: *d,
                        end: *d + 1,
                        col: src.col(*d),
                        before: *cid,
                        after: *cid,
                        item_start: *d,
                    });
                }
                collect_tokens(src, e, *cid, *d, t);
            }
            if *flow {
                flow_close(src, n, container, *cid, item_start, t);
            }
        }
    }
}

/// The opening bracket of a flow collection `n` (container `cid`) as a token.
fn flow_open(src: &Src, n: &N, container: usize, cid: usize, t: &mut Tokens) {
    t.toks.push(Tok {
        start: n.start,
        end: n.start + 1,
        col: src.col(n.start),
        before: container,
        after: cid,
        item_start: n.start,
    });
    t.flows.push((n.start, n.end, cid));
}

/// The closing bracket of a flow collection `n` (container `cid`) as a token.
fn flow_close(src: &Src, n: &N, container: usize, cid: usize, item_start: usize, t: &mut Tokens) {
    t.toks.push(Tok {
        start: n.end.saturating_sub(1),
        end: n.end,
        col: src.col(n.end.saturating_sub(1)),
        before: cid,
        after: container,
        item_start,
    });
}

/// (container id, sort key) for a comment.
fn place_comment(src: &Src, c: &RawComment, t: &Tokens, root: usize) -> (usize, usize) {
    let p = c.start;
    // Inside a flow collection: the innermost one.
    let mut flow: Option<(usize, usize, usize)> = None;
    for &(s, e, cid) in &t.flows {
        if s < p && p < e && flow.is_none_or(|(fs, _, _)| s >= fs) {
            flow = Some((s, e, cid));
        }
    }
    let idx = t.toks.partition_point(|k| k.start < p);
    let t1 = t.toks[..idx].iter().rev().find(|k| k.end <= p);
    let t2 = t.toks.get(idx);
    if let Some((_, _, cid)) = flow {
        if c.placement == Placement::Right {
            if let Some(t1) = t1 {
                if t1.after == cid {
                    let same = t1.before == t1.after;
                    return (cid, if same { t1.item_start } else { p });
                }
            }
        }
        return (cid, p);
    }
    let line = src.line_of(p);
    if let Some(t1) = t1 {
        let t1_line = src.line_of(t1.end.saturating_sub(1).max(t1.start));
        if c.placement == Placement::Right || t1_line == line {
            let same = t1.before == t1.after;
            return (t1.after, if same { t1.item_start } else { p });
        }
    }
    let ccol = src.col(p);
    let ncol = t2.map_or(0, |k| k.col);
    match (t1, t2) {
        (Some(t1), _) if ccol > ncol => (t1.after, p),
        (_, Some(t2)) => (t2.before, p),
        (Some(t1), None) if ccol > 0 => (t1.after, p),
        _ => (root, p),
    }
}

// ---------------------------------------------------------------------------------------------
// Conversion to the tree.

/// The expanded size of a document, charged per node as aliases are expanded: an alias bomb (a
/// few hundred bytes that expand to gigabytes) is refused early, as go-yaml refuses it.
struct Expansion {
    /// Nodes converted, aliases' copies included.
    decoded: usize,
    /// Nodes converted as part of an alias's copy.
    aliased: usize,
    /// Scalar bytes converted as part of an alias's copy.
    alias_bytes: usize,
    /// Limit of `alias_bytes`.
    max_alias_bytes: usize,
}

/// Most nodes a document may expand to.
const MAX_EXPANDED_NODES: usize = 2 * MAX_NODES;

impl Expansion {
    fn new(src_len: usize) -> Self {
        Expansion {
            decoded: 0,
            aliased: 0,
            alias_bytes: 0,
            max_alias_bytes: (16 << 20usize).max(src_len.saturating_mul(4)),
        }
    }

    /// go-yaml's rule: past 100 aliased nodes and 1,000 nodes in all, the share of aliased nodes
    /// may not pass 99% (up to 400,000 nodes), falling to 10% at 4,000,000.
    fn allowed_ratio(decoded: usize) -> f64 {
        const LOW: f64 = 400_000.0;
        const HIGH: f64 = 4_000_000.0;
        let d = decoded as f64;
        if d <= LOW {
            0.99
        } else if d >= HIGH {
            0.10
        } else {
            0.99 - 0.89 * ((d - LOW) / (HIGH - LOW))
        }
    }

    fn charge(&mut self, in_alias: bool, bytes: usize) -> Result<(), StoreError> {
        self.decoded += 1;
        if in_alias {
            self.aliased += 1;
            self.alias_bytes = self.alias_bytes.saturating_add(bytes);
        }
        let excessive = self.aliased > 100
            && self.decoded > 1000
            && (self.aliased as f64 / self.decoded as f64) > Self::allowed_ratio(self.decoded);
        if excessive || self.alias_bytes > self.max_alias_bytes || self.decoded > MAX_EXPANDED_NODES
        {
            return Err(StoreError::new(
                "the document contains excessive aliasing: its aliases expand to far more data than the file holds (an alias bomb?). Expand the aliases by hand if the file is genuine",
            ));
        }
        Ok(())
    }
}

struct Conv<'a> {
    src: &'a Src<'a>,
    spans: Vec<LeafSpan>,
    aliases: Vec<AliasRender>,
    /// Comments per container, sorted by (sort key, position).
    comments: HashMap<usize, Vec<(usize, usize, usize)>>,
    raw_comments: Vec<RawComment>,
    anchors: HashMap<usize, N>,
    budget: Expansion,
    /// Containers whose comments must not become leaves (the metadata).
    skip: HashSet<usize>,
    /// Whether leaves get real ids (false for the metadata).
    real: bool,
}

fn type_name(r: &Resolved) -> &'static str {
    match r {
        Resolved::Null => "<nil>",
        Resolved::Bool(_) => "bool",
        Resolved::Int(_) => "int",
        Resolved::Uint(_) => "uint64",
        Resolved::Float(_) => "float64",
        Resolved::Time(_) => "time.Time",
        Resolved::Merge | Resolved::Str => "string",
    }
}

/// Type a scalar as go-yaml and sops do. Returns the scalar and its source spelling for
/// numbers, bools and times.
fn type_scalar(
    value: &str,
    style: ScalarStyle,
    tag: &CoreTag,
    line: usize,
) -> Result<(Scalar, Option<String>), StoreError> {
    let plain = style == ScalarStyle::Plain;
    let resolved = match tag {
        CoreTag::None if plain => resolve_plain(value),
        CoreTag::None | CoreTag::Custom => Resolved::Str,
        CoreTag::Core(t) => match t.as_str() {
            "str" | "merge" | "map" | "seq" => Resolved::Str,
            "binary" => {
                use base64::Engine;
                let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(clean.as_bytes())
                    .map_err(|_| {
                        StoreError::at_line("!!binary value contains invalid base64 data", line)
                    })?;
                return Ok(match String::from_utf8(bytes) {
                    Ok(s) => (Scalar::Str(secret(s)), None),
                    Err(e) => (Scalar::Bytes(Zeroizing::new(e.into_bytes())), None),
                });
            }
            "timestamp" => match parse_timestamp(value) {
                Some(t) => Resolved::Time(t),
                None => resolve_plain(value),
            },
            other => {
                let r = resolve_plain(value);
                let ok = matches!(
                    (other, &r),
                    ("int", Resolved::Int(_) | Resolved::Uint(_))
                        | (
                            "float",
                            Resolved::Float(_) | Resolved::Int(_) | Resolved::Uint(_)
                        )
                        | ("bool", Resolved::Bool(_))
                        | ("null", Resolved::Null)
                );
                if !ok {
                    return Err(StoreError::at_line(
                        format!("cannot decode {} `{value}` as a !!{other}", type_name(&r)),
                        line,
                    ));
                }
                match (other, r) {
                    ("float", Resolved::Int(i)) => Resolved::Float(i as f64),
                    (_, r) => r,
                }
            }
        },
    };
    let text = Some(value.to_string());
    Ok(match resolved {
        Resolved::Null => (Scalar::Null, None),
        Resolved::Bool(b) => (Scalar::Bool(b), text),
        Resolved::Int(i) => (Scalar::Int(i), text),
        Resolved::Uint(u) => (Scalar::Float(u as f64), text),
        Resolved::Float(f) => (Scalar::Float(f), text),
        Resolved::Time(t) => (Scalar::Time(secret(t)), text),
        Resolved::Merge | Resolved::Str => (Scalar::Str(secret(value)), None),
    })
}

fn sty_of(s: ScalarStyle) -> Sty {
    match s {
        ScalarStyle::Plain => Sty::Plain,
        ScalarStyle::SingleQuoted => Sty::Single,
        ScalarStyle::DoubleQuoted => Sty::Double,
        ScalarStyle::Literal => Sty::Literal,
        ScalarStyle::Folded => Sty::Folded,
    }
}

/// Context of a value: where it sits.
#[derive(Clone, Copy)]
struct Ctx {
    flow: bool,
    owner_col: usize,
    dash: Option<usize>,
    /// End of the previous token (key, dash): a block scalar header comes after it.
    prev_end: usize,
    /// Inside an alias copy: leaves have no span.
    in_alias: bool,
}

impl Conv<'_> {
    fn new_leaf(&mut self, value: Scalar, text: Option<String>, span: LeafSpan) -> Leaf {
        let id = if self.real {
            self.spans.push(span);
            self.spans.len() - 1
        } else {
            usize::MAX
        };
        Leaf {
            id,
            value,
            text: text.map(secret),
            shadowed: false,
        }
    }

    fn block_span(&self, n: &N, ctx: Ctx) -> Option<BlockSpan> {
        let b = self.src.bytes();
        let from = ctx.prev_end.max(n.props_end).min(b.len());
        let vstart = match &n.kind {
            K::Scalar { vstart, .. } => *vstart,
            _ => n.start,
        };
        let limit = vstart.min(b.len());
        let mut i = from;
        while i < limit && b[i] != b'|' && b[i] != b'>' {
            if b[i] == b'#' {
                return None;
            }
            i += 1;
        }
        // Without content lines the token starts at the header itself.
        if i > limit || !matches!(b.get(i), Some(b'|' | b'>')) {
            return None;
        }
        let header_start = i;
        i += 1;
        while i < b.len() && matches!(b[i], b'0'..=b'9' | b'+' | b'-') {
            i += 1;
        }
        let header_end = i;
        while i < b.len() && b[i] != b'\n' {
            i += 1;
        }
        let content_start = (i + 1).min(b.len());
        let mut span_end = n.end.max(content_start).min(b.len());
        // The scanner's span may take in the indentation of the next line: end at its start.
        let last_ls = b[..span_end]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        if last_ls >= content_start && b[last_ls..span_end].iter().all(|&c| c == b' ') {
            span_end = last_ls;
        }
        // Last non-blank line in [content_start, span_end).
        let mut content_end = content_start;
        let mut trailing = 0;
        let mut has_content = false;
        let mut ls = content_start;
        while ls < span_end {
            let le = b[ls..span_end]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(span_end, |p| ls + p + 1);
            // A tab after the indentation is content.
            let blank = b[ls..le].iter().all(|c| matches!(c, b' ' | b'\r' | b'\n'));
            if blank {
                if le > ls && b[le - 1] == b'\n' {
                    trailing += 1;
                }
            } else {
                let mut e = le;
                if e > ls && b[e - 1] == b'\n' {
                    e -= 1;
                    if e > ls && b[e - 1] == b'\r' {
                        e -= 1;
                    }
                }
                content_end = e;
                has_content = true;
                trailing = 0;
            }
            ls = le;
        }
        let content_col =
            if vstart >= content_start && vstart < span_end && content_end > content_start {
                self.src.col(vstart)
            } else {
                // No content line: where the header's indicator puts it (for a map value; go-yaml
                // puts a sequence element's two columns after the dash).
                let digit = b[header_start..header_end]
                    .iter()
                    .find(|c| c.is_ascii_digit())
                    .map(|d| usize::from(d - b'0'));
                let step = match digit {
                    Some(d) if ctx.dash.is_none() && d > 0 => d,
                    _ => 2,
                };
                ctx.owner_col + step
            };
        Some(BlockSpan {
            header_start,
            header_end,
            content_start,
            content_end,
            span_end,
            content_col,
            trailing_blanks: trailing,
            has_content,
            goyaml: false,
        })
    }

    /// Whether a block scalar's header is go-yaml's for this string (see [`BlockSpan::goyaml`]):
    /// its indicator is the indentation step while the content sits where go-yaml puts it, at
    /// another distance from the parent node.
    fn goyaml_header(&self, b: &BlockSpan, value: &str, ctx: Ctx) -> bool {
        let header = self
            .src
            .bytes()
            .get(b.header_start..b.header_end)
            .unwrap_or(&[]);
        let Some(step) = header
            .iter()
            .find(|c| c.is_ascii_digit())
            .map(|d| usize::from(d - b'0'))
            .filter(|d| *d > 0)
        else {
            return false;
        };
        let col = match ctx.dash {
            Some(_) => ctx.owner_col + 2,
            None => step * ((ctx.owner_col + step) / step),
        };
        let tail = self
            .src
            .bytes()
            .get(b.header_end..b.content_start)
            .unwrap_or(&[]);
        let lines_ok = if b.has_content {
            b.trailing_blanks == 0 || header.contains(&b'+')
        } else {
            value.bytes().all(|c| c == b'\n')
        };
        b.content_col == col
            && b.content_col != ctx.owner_col + step
            && lines_ok
            && tail
                .iter()
                .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            && value.starts_with([' ', '\n'])
            && pick_style(value, Sty::Plain, false, false) == Sty::Literal
    }

    fn leaf_of_scalar(
        &mut self,
        n: &N,
        ctx: Ctx,
        span_node: Option<(usize, usize)>,
    ) -> Result<Leaf, StoreError> {
        let K::Scalar {
            value,
            style,
            tag,
            vstart,
        } = &n.kind
        else {
            return Err(StoreError::new("internal error: not a scalar"));
        };
        let line = self.src.line_of(*vstart) + 1;
        self.budget.charge(ctx.in_alias, value.len())?;
        let (scalar, text) = type_scalar(value, *style, tag, line)?;
        let span = if ctx.in_alias {
            LeafSpan::InAlias
        } else if let Some((s, e)) = span_node {
            // An alias of a scalar: the `*name` token.
            LeafSpan::Scalar(ScalarSpan {
                start: s,
                end: e,
                tag_start: None,
                style: Sty::Plain,
                flow: ctx.flow,
                owner_col: ctx.owner_col,
                dash: ctx.dash,
                block: None,
                str_tag: false,
                is_enc: false,
                keep_plain: false,
            })
        } else {
            let st = sty_of(*style);
            let mut block = if matches!(st, Sty::Literal | Sty::Folded) {
                self.block_span(n, ctx)
            } else {
                None
            };
            let is_str = matches!(scalar, Scalar::Str(_));
            if let Some(b) = block.as_mut().filter(|_| is_str && !ctx.flow) {
                b.goyaml = self.goyaml_header(b, value, ctx);
            }
            let str_tag = matches!(tag, CoreTag::Core(t) if t == "str");
            let keep_plain = is_str
                && st == Sty::Plain
                && pick_style(value, Sty::Plain, ctx.flow, false) != Sty::Plain
                && plain_ok(value, ctx.flow);
            LeafSpan::Scalar(ScalarSpan {
                str_tag,
                is_enc: is_str && value.starts_with("ENC[") && value.ends_with(']'),
                keep_plain,
                start: *vstart,
                end: n.end.max(*vstart),
                tag_start: n.tag_start.filter(|t| *t < *vstart),
                style: if block.is_none() && matches!(st, Sty::Literal | Sty::Folded) {
                    Sty::Plain
                } else {
                    st
                },
                flow: ctx.flow,
                owner_col: ctx.owner_col,
                dash: ctx.dash,
                block,
            })
        };
        Ok(self.new_leaf(scalar, text, span))
    }

    fn key_string(&mut self, k: &N, depth: usize) -> Result<String, StoreError> {
        let line = self.src.line_of(k.start) + 1;
        match &k.kind {
            K::Scalar {
                value, style, tag, ..
            } => {
                let (s, _) = type_scalar(value, *style, tag, line)?;
                match s {
                    Scalar::Str(s) => Ok(s.to_string()),
                    other => {
                        let t = match other {
                            Scalar::Null => "<nil>",
                            Scalar::Bool(_) => "bool",
                            Scalar::Int(_) => "int",
                            Scalar::Float(_) => "float64",
                            Scalar::Time(_) => "time.Time",
                            _ => "[]uint8",
                        };
                        Err(StoreError::at_line(
                            format!(
                                "Tree contains a non-string key (type {t}): {value}. Only string keys are supported"
                            ),
                            line,
                        ))
                    }
                }
            }
            K::Alias { anchor } if depth < 64 => {
                let target = self
                    .anchors
                    .get(anchor)
                    .cloned()
                    .ok_or_else(|| StoreError::at_line("unknown anchor referenced", line))?;
                self.key_string(&target, depth + 1)
            }
            K::Map { .. } => Err(StoreError::at_line(
                "Tree contains a non-string key (type map[string]interface {}). Only string keys are supported",
                line,
            )),
            _ => Err(StoreError::at_line(
                "Tree contains a non-string key (type []interface {}). Only string keys are supported",
                line,
            )),
        }
    }

    fn take_comments(&mut self, cid: usize) -> Vec<(usize, usize, usize)> {
        let mut v = self.comments.remove(&cid).unwrap_or_default();
        v.sort();
        v
    }

    fn comment_leaf(&mut self, idx: usize) -> Option<Leaf> {
        let c = self.raw_comments.get(idx)?;
        let (start, end) = (c.start, c.end);
        let text = c.text.clone();
        Some(self.new_leaf(
            Scalar::Comment(secret(text)),
            None,
            LeafSpan::Comment { start, end },
        ))
    }

    /// Items of a collection, merging entries and comments by position.
    fn items_of(
        &mut self,
        n: &N,
        ctx: Ctx,
        tmpl: &mut Option<Tmpl>,
    ) -> Result<Vec<Item>, StoreError> {
        self.budget.charge(ctx.in_alias, 0)?;
        let (cid, flow) = match &n.kind {
            K::Map { cid, flow, .. } | K::Seq { cid, flow, .. } => (*cid, *flow),
            _ => return Ok(Vec::new()),
        };
        let comments = if ctx.in_alias {
            Vec::new()
        } else {
            self.take_comments(cid)
        };
        let mut ci = 0;
        let mut items = Vec::new();
        let flow = flow || ctx.flow;
        match &n.kind {
            K::Map { entries, .. } => {
                let mut seen: HashMap<String, usize> = HashMap::new();
                let mut tm = Vec::new();
                let owner_col = if flow {
                    ctx.owner_col
                } else {
                    self.src.col(n.start)
                };
                for (k, v) in entries {
                    while ci < comments.len() && comments[ci].0 <= k.start {
                        if let Some(l) = self.comment_leaf(comments[ci].2) {
                            items.push(Item::Comment(l));
                        }
                        ci += 1;
                    }
                    let key = self.key_string(k, 0)?;
                    let kline = self.src.line_of(k.start) + 1;
                    if let Some(prev) = seen.insert(key.clone(), kline) {
                        return Err(StoreError::at_line(
                            format!("mapping key \"{key}\" already defined at line {prev}"),
                            kline,
                        ));
                    }
                    let vctx = Ctx {
                        flow,
                        owner_col,
                        dash: None,
                        prev_end: k.end,
                        in_alias: ctx.in_alias,
                    };
                    let mut sub = if tmpl.is_some() {
                        Some(Tmpl::Seq(Vec::new()))
                    } else {
                        None
                    };
                    let value = self.value_of(v, vctx, &mut sub)?;
                    if let Some(s) = sub {
                        tm.push((key.clone(), s));
                    }
                    items.push(Item::Pair { key, value });
                }
                if let Some(t) = tmpl.as_mut() {
                    *t = Tmpl::Map(tm);
                }
            }
            K::Seq { elems, .. } => {
                let mut tm = Vec::new();
                for (d, e) in elems {
                    while ci < comments.len() && comments[ci].0 <= *d {
                        if let Some(l) = self.comment_leaf(comments[ci].2) {
                            items.push(Item::Comment(l));
                        }
                        ci += 1;
                    }
                    let dash_col = self.src.col(*d);
                    let vctx = Ctx {
                        flow,
                        owner_col: if flow { ctx.owner_col } else { dash_col },
                        dash: if flow { None } else { Some(*d) },
                        prev_end: if flow { e.start } else { *d + 1 },
                        in_alias: ctx.in_alias,
                    };
                    let mut sub = if tmpl.is_some() {
                        Some(Tmpl::Seq(Vec::new()))
                    } else {
                        None
                    };
                    let value = self.value_of(e, vctx, &mut sub)?;
                    if let Some(s) = sub {
                        tm.push(s);
                    }
                    items.push(Item::Elem(value));
                }
                if let Some(t) = tmpl.as_mut() {
                    *t = Tmpl::Seq(tm);
                }
            }
            _ => {}
        }
        while ci < comments.len() {
            if let Some(l) = self.comment_leaf(comments[ci].2) {
                items.push(Item::Comment(l));
            }
            ci += 1;
        }
        Ok(items)
    }

    fn value_of(&mut self, n: &N, ctx: Ctx, tmpl: &mut Option<Tmpl>) -> Result<Value, StoreError> {
        match &n.kind {
            K::Scalar { .. } => {
                let leaf = self.leaf_of_scalar(n, ctx, None)?;
                if let Some(t) = tmpl.as_mut() {
                    *t = Tmpl::Leaf(leaf.id);
                }
                Ok(Value::Leaf(leaf))
            }
            K::Map { .. } => Ok(Value::Map(self.items_of(n, ctx, tmpl)?)),
            K::Seq { .. } => Ok(Value::List(self.items_of(n, ctx, tmpl)?)),
            K::Alias { anchor } => {
                let line = self.src.line_of(n.start) + 1;
                self.budget.charge(true, 0)?;
                let target = self
                    .anchors
                    .get(anchor)
                    .cloned()
                    .ok_or_else(|| StoreError::at_line("unknown anchor referenced", line))?;
                match &target.kind {
                    K::Scalar { .. } => {
                        let span = if ctx.in_alias {
                            None
                        } else {
                            Some((n.start, n.end))
                        };
                        let leaf = self.leaf_of_scalar(&target, ctx, span)?;
                        if let Some(t) = tmpl.as_mut() {
                            *t = Tmpl::Leaf(leaf.id);
                        }
                        Ok(Value::Leaf(leaf))
                    }
                    K::Alias { .. } => Err(StoreError::at_line("alias of an alias", line)),
                    _ => {
                        let outer = !ctx.in_alias;
                        let actx = Ctx {
                            in_alias: true,
                            ..ctx
                        };
                        let mut t = Some(Tmpl::Seq(Vec::new()));
                        let v = if matches!(target.kind, K::Map { .. }) {
                            Value::Map(self.items_of(&target, actx, &mut t)?)
                        } else {
                            Value::List(self.items_of(&target, actx, &mut t)?)
                        };
                        if let Some(tt) = t {
                            if outer && self.real {
                                self.aliases.push(AliasRender {
                                    start: n.start,
                                    end: n.end,
                                    tmpl: tt.clone(),
                                });
                            }
                            if let Some(slot) = tmpl.as_mut() {
                                *slot = tt;
                            }
                        }
                        Ok(v)
                    }
                }
            }
        }
    }
}

/// Collect the container ids of a subtree.
fn cids_of(n: &N, out: &mut HashSet<usize>) {
    match &n.kind {
        K::Map { entries, cid, .. } => {
            out.insert(*cid);
            for (k, v) in entries {
                cids_of(k, out);
                cids_of(v, out);
            }
        }
        K::Seq { elems, cid, .. } => {
            out.insert(*cid);
            for (_, e) in elems {
                cids_of(e, out);
            }
        }
        _ => {}
    }
}

fn is_sops_key(k: &N) -> bool {
    matches!(&k.kind, K::Scalar { value, .. } if value == "sops")
}

/// Detect the indentation step of a document.
fn detect_indent(src: &Src, n: &N) -> Option<usize> {
    match &n.kind {
        K::Map {
            flow: false,
            entries,
            ..
        } => {
            let col = src.col(n.start);
            for (_, v) in entries {
                match &v.kind {
                    K::Map { flow: false, .. } => {
                        let c = src.col(v.start);
                        if c > col {
                            return Some(c - col);
                        }
                    }
                    K::Seq { flow: false, .. } => {
                        let c = src.col(v.start);
                        if c > col {
                            return Some(c - col);
                        }
                    }
                    _ => {}
                }
                if let Some(i) = detect_indent(src, v) {
                    return Some(i);
                }
            }
            None
        }
        K::Seq {
            flow: false, elems, ..
        } => elems.iter().find_map(|(_, e)| detect_indent(src, e)),
        _ => None,
    }
}

/// Parse a YAML stream (plaintext or encrypted).
pub fn parse(src_bytes: &[u8]) -> Result<Parsed, StoreError> {
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
    super::refuse_lone_cr(src_bytes)?;
    let mut line_starts = vec![0];
    for (i, c) in text.bytes().enumerate() {
        if c == b'\n' {
            line_starts.push(i + 1);
        }
    }
    let src = Src { text, line_starts };
    let raw = read_events(&src)?;
    let crlf = text
        .find('\n')
        .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r');

    let mut indent = None;
    let mut conv = Conv {
        src: &src,
        spans: Vec::new(),
        aliases: Vec::new(),
        comments: HashMap::new(),
        raw_comments: Vec::new(),
        anchors: HashMap::new(),
        budget: Expansion::new(src.bytes().len()),
        skip: HashSet::new(),
        real: true,
    };
    let mut docs = Vec::new();
    let mut doc_layouts = Vec::new();
    let mut metadata: Option<Value> = None;
    for (di, rd) in raw.into_iter().enumerate() {
        let line_of_root = rd.root.as_ref().map_or(1, |r| src.line_of(r.start) + 1);
        if let Some(r) = &rd.root {
            match &r.kind {
                K::Map { .. } => {}
                K::Seq { .. } => {
                    return Err(StoreError::at_line(
                        "YAML documents that are sequences are not supported",
                        line_of_root,
                    ))
                }
                K::Scalar { style, .. } if *style == ScalarStyle::Plain && r.start >= r.end => {}
                _ => {
                    return Err(StoreError::at_line(
                        "YAML documents that are values are not supported",
                        line_of_root,
                    ))
                }
            }
        }
        let root = rd.root.filter(|r| matches!(r.kind, K::Map { .. }));
        if indent.is_none() {
            indent = root.as_ref().and_then(|r| detect_indent(&src, r));
        }
        // Anchors of this document.
        conv.anchors = rd.anchors;
        // Place comments.
        let mut toks = Tokens {
            toks: Vec::new(),
            flows: Vec::new(),
        };
        if let Some(r) = &root {
            collect_tokens(&src, r, rd.root_cid, r.start, &mut toks);
        }
        toks.toks.sort_by_key(|t| (t.start, t.end));
        // The sops entry.
        let mut sops_cids = HashSet::new();
        // A new sops entry goes after the document's last comment too: comments after it would
        // read back as part of the metadata.
        let after_comments = rd
            .comments
            .iter()
            .map(|c| c.end)
            .max()
            .filter(|e| *e > rd.end)
            .map(|e| {
                let b = src.bytes();
                let mut at = e.min(b.len());
                while at < b.len() && b[at] != b'\n' {
                    at += 1;
                }
                (at + 1).min(b.len())
            });
        let mut dl = DocLayout {
            insert_at: after_comments.unwrap_or(rd.end).max(rd.end),
            ..Default::default()
        };
        let mut sops_entry: Option<(N, N, usize)> = None;
        if let Some(N {
            kind: K::Map { entries, flow, .. },
            end,
            ..
        }) = &root
        {
            if *flow {
                dl.flow_root = Some((end.saturating_sub(1), !entries.is_empty()));
            }
            if let Some(pos) = entries.iter().position(|(k, _)| is_sops_key(k)) {
                let (k, v) = entries[pos].clone();
                cids_of(&v, &mut sops_cids);
                sops_entry = Some((k, v, pos));
            }
        }
        let mut sops_extra_end = 0;
        let placed: Vec<_> = rd
            .comments
            .into_iter()
            .map(|c| (place_comment(&src, &c, &toks, rd.root_cid), c))
            .collect();
        for ((cid, _), c) in &placed {
            if sops_cids.contains(cid) {
                sops_extra_end = sops_extra_end.max(c.end);
            }
        }
        // Comments inside the metadata's span (up to its last comment) go with it, so that its
        // removal never overlaps a comment of the data.
        let sops_start = sops_entry.as_ref().map_or(usize::MAX, |(k, _, _)| k.start);
        for ((cid, key), c) in placed {
            let in_sops =
                sops_cids.contains(&cid) || (c.start >= sops_start && c.end <= sops_extra_end);
            if in_sops {
                continue;
            }
            let idx = conv.raw_comments.len();
            let p = c.start;
            conv.raw_comments.push(c);
            conv.comments.entry(cid).or_default().push((key, p, idx));
        }
        // Remove the sops entry from the root before converting.
        let mut root = root;
        if let (
            Some((k, v, pos)),
            Some(N {
                kind: K::Map { entries, flow, .. },
                ..
            }),
        ) = (&sops_entry, root.as_mut())
        {
            let flow = *flow;
            let b = src.bytes();
            let (s, e, lead, trail);
            if flow {
                dl.sops_in_flow = true;
                if *pos > 0 {
                    let prev = &entries[*pos - 1].1;
                    s = prev.end.max(entries[*pos - 1].0.end);
                    e = v.end;
                } else if entries.len() > 1 {
                    s = k.start;
                    e = entries[1].0.start;
                } else {
                    s = k.start;
                    e = v.end;
                }
                lead = false;
                trail = false;
            } else {
                let mut st = src.line_start(k.start);
                let mut en = v.end.max(k.end).max(sops_extra_end);
                // A block scalar ends after its last line break, at the start of the next line
                // (which holds other data when the entry is not last): already a line end.
                let at_line_start = en > 0 && en <= b.len() && b[en - 1] == b'\n';
                let has_break = if at_line_start {
                    true
                } else {
                    while en < b.len() && b[en] != b'\n' {
                        en += 1;
                    }
                    let has = en < b.len();
                    if has {
                        en += 1;
                    }
                    has
                };
                let mut l = false;
                if !has_break && st > 0 {
                    st -= 1;
                    if st > 0 && b[st - 1] == b'\r' {
                        st -= 1;
                    }
                    l = true;
                }
                s = st;
                e = en;
                lead = l;
                trail = has_break;
            }
            dl.sops = Some((s + base, e + base, lead, trail));
            entries.remove(*pos);
            if di == 0 {
                let mut mconv = Conv {
                    src: &src,
                    spans: Vec::new(),
                    aliases: Vec::new(),
                    comments: HashMap::new(),
                    raw_comments: Vec::new(),
                    anchors: conv.anchors.clone(),
                    budget: Expansion::new(src.bytes().len()),
                    skip: HashSet::new(),
                    real: false,
                };
                let ctx = Ctx {
                    flow,
                    owner_col: 0,
                    dash: None,
                    prev_end: k.end,
                    in_alias: false,
                };
                metadata = Some(mconv.value_of(v, ctx, &mut None)?);
            }
        }
        // Insertion point for a new sops entry.
        let b = src.bytes();
        let at = dl.insert_at.min(b.len());
        dl.insert_lead_nl = at > 0 && b[at - 1] != b'\n';
        dl.insert_at = at + base;
        if let Some((p, h)) = dl.flow_root {
            dl.flow_root = Some((p + base, h));
        }
        // Convert.
        let items = match &root {
            Some(r) => {
                let ctx = Ctx {
                    flow: false,
                    owner_col: 0,
                    dash: None,
                    prev_end: r.start,
                    in_alias: false,
                };
                conv.items_of(r, ctx, &mut None)?
            }
            None => {
                let comments = conv.take_comments(rd.root_cid);
                let mut items = Vec::new();
                for (_, _, idx) in comments {
                    if let Some(l) = conv.comment_leaf(idx) {
                        items.push(Item::Comment(l));
                    }
                }
                items
            }
        };
        // Comments whose container vanished (should not happen): attach to the document.
        docs.push(Doc { items });
        doc_layouts.push(dl);
    }
    let _ = &conv.skip;
    // Shift spans by the BOM.
    let spans = conv
        .spans
        .into_iter()
        .map(|s| shift_span(s, base))
        .collect();
    let aliases = conv
        .aliases
        .into_iter()
        .map(|a| AliasRender {
            start: a.start + base,
            end: a.end + base,
            tmpl: a.tmpl,
        })
        .collect();
    Ok(Parsed {
        tree: Tree { docs },
        metadata,
        encoding: Default::default(),
        layout: super::Layout::Yaml(Layout {
            src: Zeroizing::new(src_bytes.to_vec()),
            spans,
            aliases,
            docs: doc_layouts,
            crlf,
            indent: indent.filter(|i| (1..=16).contains(i)).unwrap_or(4),
        }),
    })
}

fn shift_span(s: LeafSpan, base: usize) -> LeafSpan {
    if base == 0 {
        return s;
    }
    match s {
        LeafSpan::Comment { start, end } => LeafSpan::Comment {
            start: start + base,
            end: end + base,
        },
        LeafSpan::InAlias => LeafSpan::InAlias,
        LeafSpan::Scalar(mut sc) => {
            sc.start += base;
            sc.end += base;
            sc.tag_start = sc.tag_start.map(|t| t + base);
            sc.dash = sc.dash.map(|d| d + base);
            if let Some(b) = sc.block.as_mut() {
                b.header_start += base;
                b.header_end += base;
                b.content_start += base;
                b.content_end += base;
                b.span_end += base;
            }
            LeafSpan::Scalar(sc)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Splicing.

struct Edits {
    list: Vec<(usize, usize, String)>,
}

impl Edits {
    fn push(&mut self, s: usize, e: usize, t: String) {
        self.list.push((s, e, t));
    }
}

/// The plain text to write for a typed value: the given spelling when it reads back as the same
/// value, else the canonical form.
fn plain_text_for(value: &Scalar, text: &str) -> String {
    let r = resolve_plain(text);
    let same = match (value, &r) {
        (Scalar::Bool(a), Resolved::Bool(b)) => a == b,
        (Scalar::Int(a), Resolved::Int(b)) => a == b,
        (Scalar::Float(a), Resolved::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Scalar::Float(a), Resolved::Uint(b)) => *a == *b as f64,
        (Scalar::Time(a), Resolved::Time(b)) => a.as_str() == b,
        (Scalar::Null, Resolved::Null) => true,
        _ => false,
    };
    if same && !text.contains('\n') {
        return text.to_string();
    }
    let t = inline_scalar(value, false, false).unwrap_or_default();
    // Go prints a whole float without a point (`100`), which YAML reads back as an int.
    match value {
        Scalar::Float(f) if f.is_finite() && !t.contains(['.', 'e', 'E']) => format!("{t}.0"),
        _ => t,
    }
}

struct Writer<'a> {
    src: &'a [u8],
    nl: &'static str,
    indent: usize,
}

impl Writer<'_> {
    fn next_indent(&self, col: usize) -> usize {
        self.indent * ((col + self.indent) / self.indent)
    }

    /// Content lines inserted at `at` (a line start, or the end of a source without final
    /// line break): terminated like the surrounding lines.
    fn new_lines(&self, at: usize, content: String) -> String {
        if at >= self.src.len() && !self.src.ends_with(b"\n") {
            format!("{}{content}", self.nl)
        } else {
            format!("{content}{}", self.nl)
        }
    }

    /// Write a string value in place of the token described by `sp`.
    fn write_str(&self, sp: &ScalarSpan, s: &str, requested: Sty, ed: &mut Edits) {
        let tok_start = sp.tag_start.unwrap_or(sp.start).min(sp.start);
        let style = pick_style(
            s,
            match requested {
                Sty::Single | Sty::Double => requested,
                other => other,
            },
            sp.flow,
            false,
        );
        let style = if requested == Sty::Single && style == Sty::Single {
            Sty::Single
        } else {
            style
        };
        match style {
            Sty::Plain => self.replace_token(sp, tok_start, s.to_string(), ed),
            Sty::Single => self.replace_token(sp, tok_start, single_quoted(s), ed),
            Sty::Double => self.replace_token(sp, tok_start, double_quoted(s), ed),
            Sty::Literal | Sty::Folded => self.write_block(sp, tok_start, s, style, ed),
        }
    }

    /// Replace a token with an inline text (removing any block content it had).
    fn replace_token(&self, sp: &ScalarSpan, tok_start: usize, text: String, ed: &mut Edits) {
        match &sp.block {
            Some(b) => {
                ed.push(
                    b.header_start.min(tok_start.max(b.header_start)),
                    b.header_end,
                    text,
                );
                // Remove the content lines (keep the line break that ends the header line).
                let end = if b.content_end > b.content_start {
                    b.content_end
                } else {
                    b.content_start
                };
                if end > b.content_start {
                    ed.push(b.content_start, end, String::new());
                }
            }
            None => ed.push(tok_start, sp.end, text),
        }
    }

    /// The indentation indicator of a block scalar's header, if it has one.
    fn header_digit(&self, sp: &ScalarSpan) -> Option<usize> {
        let b = sp.block.as_ref()?;
        self.src
            .get(b.header_start..b.header_end)?
            .iter()
            .find(|c| c.is_ascii_digit())
            .map(|d| usize::from(d - b'0'))
            .filter(|d| *d > 0)
    }

    fn write_block(&self, sp: &ScalarSpan, tok_start: usize, s: &str, style: Sty, ed: &mut Edits) {
        // A block's content starts on the next line: anything after an inline token on its line
        // (a comment) would end up inside the content. Such a value stays inline.
        if sp.block.is_none() {
            let rest = self.src.get(sp.end..).unwrap_or(&[]);
            let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
            if line.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\r')) {
                return self.replace_token(sp, tok_start, double_quoted(s), ed);
            }
        }
        let (col, had_block) = match &sp.block {
            Some(b) => (b.content_col, true),
            None => (
                if sp.dash.is_some() {
                    sp.owner_col + 2
                } else {
                    self.next_indent(sp.owner_col)
                },
                false,
            ),
        };
        let body_lines_trailing = s.len() - s.trim_end_matches('\n').len();
        let body = &s[..s.len() - body_lines_trailing];
        // Folded style only when it reads back identically: one line, no leading space.
        let style = if style == Sty::Folded && (body.contains('\n') || body.starts_with(' ')) {
            Sty::Literal
        } else {
            style
        };
        // An indentation indicator when the first line starts with a blank or is empty. From an
        // inline token (sops's), go-yaml's: the indentation step, wherever the content is. From a
        // block, and before a tab (go-yaml writes null there), the content's real distance.
        let ind = if s.starts_with([' ', '\n', '\t']) {
            let rel = col.saturating_sub(sp.owner_col);
            if !had_block && !s.starts_with('\t') && (1..=9).contains(&self.indent) {
                self.indent.to_string()
            } else if (1..=9).contains(&rel) {
                rel.to_string()
            } else {
                return self.replace_token(sp, tok_start, double_quoted(s), ed);
            }
        } else if had_block && self.header_digit(sp).is_some() {
            // An explicit indicator is kept (when it is the content's distance).
            let rel = col.saturating_sub(sp.owner_col);
            if (1..=9).contains(&rel) {
                rel.to_string()
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        let ch = chomp(s);
        let header = format!(
            "{}{}{}",
            if style == Sty::Folded { '>' } else { '|' },
            ind,
            ch
        );
        match &sp.block {
            Some(b) if had_block => {
                ed.push(b.header_start, b.header_end, header);
                let mut content = literal_body(body, col, self.nl);
                let want_blank = if ch == "+" {
                    body_lines_trailing.saturating_sub(1)
                } else {
                    0
                };
                if b.has_content {
                    if ch == "+" && want_blank < b.trailing_blanks {
                        for _ in 0..=want_blank {
                            content.push_str(self.nl);
                        }
                        ed.push(b.content_start, b.span_end, content);
                    } else {
                        for _ in 0..want_blank.saturating_sub(b.trailing_blanks) {
                            content.push_str(self.nl);
                        }
                        ed.push(b.content_start, b.content_end, content);
                    }
                } else if !body.is_empty() {
                    ed.push(
                        b.content_start,
                        b.content_start,
                        self.new_lines(b.content_start, content),
                    );
                }
            }
            _ => {
                // From an inline token: header in place, content on the following lines.
                let mut text = header;
                text.push_str(self.nl);
                text.push_str(&literal_body(body, col, self.nl));
                for _ in 0..body_lines_trailing.saturating_sub(1) {
                    text.push_str(self.nl);
                }
                // The token's line break follows: it ends the last empty line of a body made of
                // line breaks only. Blanks after the token go too: on the content's last line
                // they would be content.
                let rest = self.src.get(sp.end..).unwrap_or(&[]);
                let blanks = rest
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count();
                ed.push(tok_start, sp.end + blanks, text);
            }
        }
    }

    fn write_encrypted(&self, sp: &ScalarSpan, enc: &str, ed: &mut Edits) {
        let tok_start = sp.tag_start.unwrap_or(sp.start).min(sp.start);
        if sp.is_enc && sp.block.is_none() {
            // A new ciphertext in place of one (rotate, updatekeys): same style, tag kept.
            let t = match sp.style {
                Sty::Double => double_quoted(enc),
                Sty::Single => single_quoted(enc),
                _ if sp.flow => single_quoted(enc),
                _ => enc.to_string(),
            };
            return ed.push(sp.start, sp.end, t);
        }
        // sops writes plain tokens, which mean "print as go-yaml does". The forms only sepal
        // writes keep the original style: quotes as they were (in flow context, where the token
        // must be quoted, `!!str "..."` for single quotes), `!!str` for a plain string that
        // go-yaml would quote.
        match (&sp.block, sp.style) {
            (Some(b), _) if b.goyaml => {
                // go-yaml's own block: an inline token, written back as go-yaml writes it.
                // With blank lines at the end: through the last line break of them.
                let blanks = !b.has_content || b.trailing_blanks > 0;
                let end = if !blanks {
                    b.content_end
                } else {
                    self.src
                        .get(..b.span_end)
                        .and_then(|s| s.iter().rposition(|&c| c == b'\n'))
                        .map_or(b.header_end, |p| p + 1)
                        .max(b.header_end)
                };
                let mut t = enc.to_string();
                if blanks && end > b.header_end {
                    t.push_str(self.nl);
                }
                ed.push(b.header_start, end, t)
            }
            (Some(b), _) => {
                let ind = self.src.get(b.header_start).copied().unwrap_or(b'|') as char;
                // An explicit indicator that is the content's distance stays.
                let digit = self
                    .header_digit(sp)
                    .filter(|d| sp.owner_col + d == b.content_col)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                ed.push(b.header_start, b.header_end, format!("{ind}{digit}-"));
                let content = format!("{}{}", " ".repeat(b.content_col), enc);
                if b.has_content {
                    ed.push(b.content_start, b.content_end, content);
                } else {
                    ed.push(
                        b.content_start,
                        b.content_start,
                        self.new_lines(b.content_start, content),
                    );
                }
            }
            (None, Sty::Single) if sp.flow => {
                ed.push(tok_start, sp.end, format!("!!str {}", double_quoted(enc)))
            }
            (None, Sty::Single) => ed.push(tok_start, sp.end, single_quoted(enc)),
            (None, Sty::Double) => ed.push(tok_start, sp.end, double_quoted(enc)),
            (None, _) => {
                let tag = if sp.keep_plain { "!!str " } else { "" };
                let t = if sp.flow {
                    single_quoted(enc)
                } else {
                    enc.to_string()
                };
                ed.push(tok_start, sp.end, format!("{tag}{t}"))
            }
        }
    }

    fn write_plain(&self, sp: &ScalarSpan, value: &Scalar, text: &str, ed: &mut Edits) {
        let tok_start = sp.tag_start.unwrap_or(sp.start).min(sp.start);
        match value {
            Scalar::Str(s) => {
                // The forms of [`Writer::write_encrypted`]: a tagged plain token (tagged single
                // quotes in flow context) was a plain string, a quoted one (tagged double quotes
                // in flow context for single) kept its quotes, escaping only what must be.
                let inline = sp.block.is_none();
                let tagged = sp.str_tag && inline;
                let (plain, single, double) = if sp.flow {
                    (
                        tagged && sp.style == Sty::Single,
                        tagged && sp.style == Sty::Double,
                        !tagged && sp.style == Sty::Double,
                    )
                } else {
                    (
                        tagged && sp.style == Sty::Plain,
                        inline && sp.style == Sty::Single,
                        inline && sp.style == Sty::Double,
                    )
                };
                if plain && plain_ok(s, sp.flow) {
                    return self.replace_token(sp, tok_start, s.to_string(), ed);
                }
                if single && single_ok(s) {
                    return self.replace_token(sp, tok_start, single_quoted(s), ed);
                }
                if single || double {
                    return self.replace_token(sp, tok_start, double_quoted_min(s), ed);
                }
                // Otherwise go-yaml's choice (in flow context a plain token had to be quoted when
                // encrypted: single quotes, as go-yaml would, mean plain).
                let req = if sp.flow && sp.style == Sty::Single {
                    Sty::Plain
                } else {
                    sp.style
                };
                self.write_str(sp, s, if plain { Sty::Plain } else { req }, ed)
            }
            Scalar::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => self.write_str(sp, s, sp.style, ed),
                Err(_) => {
                    let t = inline_scalar(value, sp.flow, false).unwrap_or_default();
                    self.replace_token(sp, tok_start, t, ed)
                }
            },
            Scalar::Comment(c) => match sp.dash {
                Some(d) if !sp.flow => ed.push(d, sp.end, format!("#{}", c.as_str())),
                _ => self.write_str(sp, c, Sty::Double, ed),
            },
            Scalar::Null
            | Scalar::Bool(_)
            | Scalar::Int(_)
            | Scalar::Float(_)
            | Scalar::Time(_) => {
                let t = plain_text_for(value, text);
                self.replace_token(sp, tok_start, t, ed)
            }
        }
    }
}

/// Render an expanded alias in flow style, with the changes applied.
fn render_alias(t: &Tmpl, leaves: &HashMap<LeafId, &Leaf>, changes: &Changes, out: &mut String) {
    match t {
        Tmpl::Map(entries) => {
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
        Tmpl::Seq(elems) => {
            out.push('[');
            for (i, v) in elems.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_alias(v, leaves, changes, out);
            }
            out.push(']');
        }
        Tmpl::Leaf(id) => {
            let text = match changes.get(*id).and_then(|c| c.as_ref()) {
                // As an encryption of the decrypted copy would write it (its token's style, in flow
                // context), so that an edit elsewhere leaves this line as it is.
                Some(NewLeaf::Encrypted(e)) => {
                    let token = leaves.get(id).and_then(|l| match l.value {
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
                    .get(id)
                    .map(|l| match (&l.value, &l.text) {
                        (Scalar::Str(_) | Scalar::Comment(_) | Scalar::Bytes(_), _) | (_, None) => {
                            inline_scalar(&l.value, true, false).unwrap_or_default()
                        }
                        (v, Some(t)) => plain_text_for(v, t),
                    })
                    .unwrap_or_else(|| "null".into()),
            };
            out.push_str(&text);
        }
    }
}

fn index_leaves<'a>(items: &'a [Item], out: &mut HashMap<LeafId, &'a Leaf>) {
    crate::tree::for_each_leaf(items, &mut |l| {
        out.insert(l.id, l);
    });
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
fn flow_value(v: &Value, out: &mut String) {
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
                    let leaves: Vec<LeafId> = elems
                        .iter()
                        .filter_map(|e| match e {
                            Item::Elem(Value::Leaf(l)) => Some(l.id),
                            _ => None,
                        })
                        .collect();
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
                    if all_comments {
                        if let Some(first) = leaves.first() {
                            out.insert(*first);
                        }
                    }
                    visit(elems, changes, out);
                }
                Value::Map(entries) => visit(entries, changes, out),
                Value::Leaf(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    for d in &parsed.tree.docs {
        visit(&d.items, changes, &mut out);
    }
    out
}

/// Write the source with `changes` applied and the metadata set or removed.
pub fn splice(
    layout: &Layout,
    parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let src: &[u8] = &layout.src;
    let nl = if layout.crlf { "\r\n" } else { "\n" };
    let indent = indent_from(options.indent)?.unwrap_or(layout.indent);
    let w = Writer { src, nl, indent };
    let mut ed = Edits { list: Vec::new() };
    let opens_empty = lists_of_comments(parsed, changes);
    for (id, change) in changes.iter().enumerate() {
        let Some(change) = change else { continue };
        let Some(span) = layout.spans.get(id) else {
            return Err(StoreError::new("change for an unknown YAML leaf"));
        };
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
            ) if opens_empty.contains(&id) => ed.push(*d, sp.end, format!("[] #{}", c.as_str())),
            (LeafSpan::Comment { start, end }, NewLeaf::Encrypted(enc)) => {
                ed.push(*start, *end, format!("#{enc}"))
            }
            (LeafSpan::Comment { start, end }, NewLeaf::Plain { value, text }) => {
                let t = match value {
                    Scalar::Comment(c) | Scalar::Str(c) => c.to_string(),
                    _ => text.to_string(),
                };
                ed.push(*start, *end, format!("#{}", t.replace(['\n', '\r'], " ")))
            }
            (LeafSpan::Scalar(sp), NewLeaf::Encrypted(enc)) => w.write_encrypted(sp, enc, &mut ed),
            (LeafSpan::Scalar(sp), NewLeaf::Plain { value, text }) => {
                w.write_plain(sp, value, text, &mut ed)
            }
        }
    }
    if !layout.aliases.is_empty() {
        let mut leaves = HashMap::new();
        for d in &parsed.tree.docs {
            index_leaves(&d.items, &mut leaves);
        }
        for a in &layout.aliases {
            let mut s = String::new();
            render_alias(&a.tmpl, &leaves, changes, &mut s);
            ed.push(a.start, a.end, s);
        }
    }
    for dl in &layout.docs {
        match (metadata, dl.sops) {
            (Some(meta), Some((s, e, lead, trail))) => {
                let body = if dl.sops_in_flow {
                    metadata_flow(meta)
                } else {
                    metadata_block(meta, indent, nl)
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
                if lead {
                    t.push_str(nl);
                }
                t.push_str(prefix);
                t.push_str(&body);
                t.push_str(suffix);
                if trail {
                    t.push_str(nl);
                }
                ed.push(s, e, t);
            }
            (None, Some((s, e, _, _))) => ed.push(s, e, String::new()),
            (Some(meta), None) => {
                if let Some((close, has)) = dl.flow_root {
                    let sep = if has { ", " } else { "" };
                    ed.push(close, close, format!("{sep}{}", metadata_flow(meta)));
                } else {
                    // A last line of blanks without a line break that ends a block scalar is
                    // replaced: after a line break it would become content of the block.
                    let line_start = src
                        .get(..dl.insert_at)
                        .and_then(|b| b.iter().rposition(|&c| c == b'\n'))
                        .map_or(0, |p| p + 1);
                    let ends_in_block = dl.insert_lead_nl
                        && layout.spans.iter().any(|s| {
                            matches!(s, LeafSpan::Scalar(ScalarSpan { block: Some(b), .. })
                                if b.span_end >= line_start)
                        });
                    let blank_tail = ends_in_block
                        && line_start < dl.insert_at
                        && src
                            .get(line_start..dl.insert_at)
                            .is_some_and(|b| b.iter().all(|c| matches!(c, b' ' | b'\t')));
                    let mut t = String::new();
                    if dl.insert_lead_nl && !blank_tail {
                        t.push_str(nl);
                    }
                    t.push_str(&metadata_block(meta, indent, nl));
                    if !dl.insert_lead_nl {
                        t.push_str(nl);
                    }
                    let from = if blank_tail { line_start } else { dl.insert_at };
                    ed.push(from, dl.insert_at, t);
                }
            }
            (None, None) => {}
        }
    }
    let mut list = ed.list;
    list.sort_by_key(|(s, e, _)| (*s, *e));
    let mut out = Vec::with_capacity(src.len());
    let mut pos = 0;
    for (s, e, t) in list {
        if s < pos || e < s || e > src.len() {
            return Err(StoreError::new(format!(
                "overlapping YAML edits at {s}..{e} (after {pos})"
            )));
        }
        out.extend_from_slice(&src[pos..s]);
        out.extend_from_slice(t.as_bytes());
        pos = e;
    }
    out.extend_from_slice(&src[pos..]);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Emitting.

/// Write a whole tree as sops (go-yaml v3) lays it out.
pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let indent = indent_from(options.indent)?.unwrap_or(4);
    let mut out = String::new();
    let docs: Vec<&Doc> = tree.docs.iter().collect();
    let empty = Doc::default();
    let docs = if docs.is_empty() { vec![&empty] } else { docs };
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let mut items = d.items.clone();
        if let Some(m) = metadata {
            items.push(Item::pair("sops", m.clone()));
        }
        let mut em = Emitter::new(indent);
        if items.iter().all(|i| matches!(i, Item::Comment(_))) {
            em.map(&items, 0, false);
            em.out.push_str("{}\n");
        } else {
            em.map(&items, 0, false);
        }
        out.push_str(&em.out);
    }
    Ok(out.into_bytes())
}

/// Write one value as `sops decrypt --extract` prints a non-string value.
pub fn emit_value(value: &Value, options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let indent = indent_from(options.indent)?.unwrap_or(4);
    let mut em = Emitter::new(indent);
    match value {
        Value::Map(items) if items.iter().any(|i| !matches!(i, Item::Comment(_))) => {
            em.map(items, 0, false)
        }
        Value::List(items) if items.iter().any(|i| !matches!(i, Item::Comment(_))) => {
            em.seq(items, 0, false)
        }
        Value::Map(_) => em.out.push_str("{}\n"),
        Value::List(_) => em.out.push_str("[]\n"),
        Value::Leaf(l) => match &l.value {
            Scalar::Str(s) if pick_style(s, Sty::Plain, false, false) == Sty::Literal => {
                let hint = if s.starts_with(' ') || s.starts_with('\n') {
                    indent.to_string()
                } else {
                    String::new()
                };
                em.out.push('|');
                em.out.push_str(&hint);
                em.out.push_str(chomp(s));
                em.out.push('\n');
                em.out.push_str(&literal_body(s, indent, "\n"));
                if !s.ends_with('\n') {
                    em.out.push('\n');
                }
            }
            v => {
                em.out
                    .push_str(&inline_scalar(v, false, false).unwrap_or_default());
                em.out.push('\n');
            }
        },
    }
    Ok(em.out.into_bytes())
}
