//! Conversion of the raw node tree into the store's [`Value`] tree: every scalar and comment
//! becomes a leaf whose span is recorded, aliases are expanded (within the expansion budget), and
//! each collection's comments are merged in among its items by position.

use std::collections::HashMap;

use granit_parser::ScalarStyle;

mod halves;
pub(super) use halves::{shift_ids, HALVES_FROM};

use super::expansion::Expansion;
use super::layout::{AliasRender, AliasTemplate, LeafSpan, ScalarSpan};
use super::node::{Node, NodeKind, RawComment};
use super::scalar_span::scalar_span;
use super::source::Source;
use super::style::Style;
use super::typing::{key_type_name, type_scalar};
use crate::stores::lent::lends;
use crate::stores::StoreError;
use crate::tree::{secret, Item, Leaf, Scalar, Value};

/// Context of a value: where it sits.
#[derive(Clone, Copy)]
pub(super) struct ValueContext {
    pub(super) flow: bool,
    pub(super) owner_col: usize,
    pub(super) dash: Option<usize>,
    /// End of the previous token (key, dash): a block scalar header comes after it.
    pub(super) prev_end: usize,
    /// Inside an alias copy: leaves have no span.
    pub(super) in_alias: bool,
}

impl ValueContext {
    /// A value of the top level (the document's root map, or the `sops` entry's value).
    pub(super) fn top(flow: bool, prev_end: usize) -> Self {
        ValueContext {
            flow,
            owner_col: 0,
            dash: None,
            prev_end,
            in_alias: false,
        }
    }
}

/// A comment given to a container: its sort key among the container's items, its position, and
/// its index in [`Converter::raw_comments`]. Ordered by key, then position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PlacedComment {
    pub(super) key: usize,
    pub(super) pos: usize,
    pub(super) index: usize,
}

/// The items of a collection being converted, with the comments still to merge in.
struct ItemList {
    items: Vec<Item>,
    comments: Vec<PlacedComment>,
    next_comment: usize,
}

/// The keys of the map being converted, for the duplicate key check: each with where its key
/// node starts. A small map's keys are compared where they are (in its items); a hash map of
/// copies is only made once a map has many.
#[derive(Default)]
struct SeenKeys {
    /// (index in the items, key start) while the map has at most [`SeenKeys::FEW`] keys.
    few: Vec<(usize, usize)>,
    many: Option<HashMap<String, usize>>,
}

impl SeenKeys {
    const FEW: usize = 16;

    /// Where `key` was met before, if it was.
    fn find(&self, items: &[Item], key: &str) -> Option<usize> {
        match &self.many {
            Some(many) => many.get(key).copied(),
            None => self
                .few
                .iter()
                .find(|(i, _)| matches!(items.get(*i), Some(Item::Pair { key: k, .. }) if k == key))
                .map(|(_, at)| *at),
        }
    }

    /// Remember the key of the pair just pushed (the last of `items`), starting at `at`.
    fn add(&mut self, items: &[Item], at: usize) {
        let Some(Item::Pair { key, .. }) = items.last() else {
            return;
        };
        if self.many.is_none() && self.few.len() < Self::FEW {
            self.few.push((items.len() - 1, at));
            return;
        }
        let many = self.many.get_or_insert_with(|| {
            let mut m = HashMap::with_capacity(2 * Self::FEW);
            for (i, at) in self.few.drain(..) {
                if let Some(Item::Pair { key, .. }) = items.get(i) {
                    m.insert(key.clone(), at);
                }
            }
            m
        });
        many.insert(key.clone(), at);
    }
}

pub(super) struct Converter<'a> {
    pub(super) src: &'a Source<'a>,
    /// Spans of the leaves, indexed by leaf id.
    pub(super) spans: Vec<LeafSpan>,
    pub(super) aliases: Vec<AliasRender>,
    /// Comments per container.
    pub(super) comments: HashMap<usize, Vec<PlacedComment>>,
    pub(super) raw_comments: Vec<RawComment>,
    pub(super) anchors: HashMap<usize, Node<'a>>,
    budget: Expansion,
    /// Whether leaves get real ids (false for the metadata).
    real: bool,
    /// The container converted in halves on two threads when it is met
    /// ([`Converter::halving_target`]).
    pub(super) halve: Option<usize>,
    /// Whether the data's plain `ENC[...]` scalars are left in the source (an empty string in the
    /// tree; `parse::parse_owned_lending`).
    pub(super) lend: bool,
}

impl<'a> Converter<'a> {
    pub(super) fn new(src: &'a Source<'a>, anchors: HashMap<usize, Node<'a>>, real: bool) -> Self {
        Converter {
            src,
            spans: Vec::new(),
            aliases: Vec::new(),
            comments: HashMap::new(),
            raw_comments: Vec::new(),
            anchors,
            budget: Expansion::new(src.bytes().len()),
            real,
            halve: None,
            lend: false,
        }
    }

    /// The converter of a stream's data, with room for `leaves` leaf spans.
    pub(super) fn with_capacity(src: &'a Source<'a>, leaves: usize) -> Self {
        let mut conv = Self::new(src, HashMap::new(), true);
        conv.spans.reserve_exact(leaves);
        conv
    }
}

impl Converter<'_> {
    fn new_leaf(&mut self, value: Scalar, text: Option<String>, span: LeafSpan) -> Leaf {
        let id = if self.real {
            self.spans.push(span);
            self.spans.len() - 1
        } else {
            crate::tree::NO_LEAF
        };
        Leaf {
            id,
            value,
            text: text.map(secret),
            shadowed: false,
        }
    }

    /// The leaf of a scalar node. `alias_token` is the `*name` token when the scalar is reached
    /// through an alias.
    fn leaf_of_scalar(
        &mut self,
        n: &Node,
        ctx: ValueContext,
        alias_token: Option<(usize, usize)>,
    ) -> Result<Leaf, StoreError> {
        let NodeKind::Scalar {
            value, style, tag, ..
        } = &n.kind
        else {
            return Err(StoreError::new("internal error: not a scalar"));
        };
        let token_start = n.token_start();
        let src = self.src;
        self.budget.charge(ctx.in_alias, value.len())?;
        // A plain `ENC[...]` scalar (untagged, or marked `!!str` as sepal marks some) whose token
        // is its value, outside any alias, read again from the source by the cipher walk
        // (`Layout::lent_token`).
        let lent = self.lend
            && self.real
            && !ctx.in_alias
            && alias_token.is_none()
            && *style == ScalarStyle::Plain
            && (tag.is_none() || tag.suffix() == Some("str"))
            && lends(value)
            && src.text.get(token_start..n.end()) == Some(&**value);
        let (scalar, text) = if lent {
            (Scalar::Str(secret(String::new())), None)
        } else {
            type_scalar(value, *style, tag, || src.line_of(token_start) + 1)?
        };
        let span = if ctx.in_alias {
            LeafSpan::InAlias
        } else if let Some((s, e)) = alias_token {
            // An alias of a scalar: the `*name` token.
            LeafSpan::Scalar(ScalarSpan {
                start: s,
                end: e,
                tag_start: None,
                style: Style::Plain,
                flow: ctx.flow,
                owner_col: ctx.owner_col,
                dash: ctx.dash,
                block: None,
                str_tag: false,
                is_enc: false,
                keep_plain: false,
            })
        } else {
            let is_str = matches!(scalar, Scalar::Str(_));
            LeafSpan::Scalar(scalar_span(self.src, n, ctx, is_str))
        };
        Ok(self.new_leaf(scalar, text, span))
    }

    fn key_string(&mut self, k: &Node, depth: usize) -> Result<String, StoreError> {
        let src = self.src;
        let line = || src.line_of(k.start()) + 1;
        match &k.kind {
            NodeKind::Scalar {
                value, style, tag, ..
            } => match type_scalar(value, *style, tag, line)?.0 {
                // Keys are not secrets: the text leaves its zeroizing wrapper.
                Scalar::Str(mut s) => Ok(std::mem::take(&mut *s)),
                other => Err(StoreError::at_line(
                    format!(
                        "Tree contains a non-string key (type {}): {}. Only string keys are supported",
                        key_type_name(&other),
                        &**value
                    ),
                    line(),
                )),
            },
            NodeKind::Alias { anchor } if depth < 64 => {
                let target = self
                    .anchors
                    .get(anchor)
                    .cloned()
                    .ok_or_else(|| StoreError::at_line("unknown anchor referenced", line()))?;
                self.key_string(&target, depth + 1)
            }
            NodeKind::Map { .. } => Err(StoreError::at_line(
                "Tree contains a non-string key (type map[string]interface {}). Only string keys are supported",
                line(),
            )),
            _ => Err(StoreError::at_line(
                "Tree contains a non-string key (type []interface {}). Only string keys are supported",
                line(),
            )),
        }
    }

    /// The comments given to a container, in order.
    pub(super) fn take_comments(&mut self, container_id: usize) -> Vec<PlacedComment> {
        if self.comments.is_empty() {
            return Vec::new();
        }
        let mut v = self.comments.remove(&container_id).unwrap_or_default();
        v.sort();
        v
    }

    pub(super) fn comment_leaf(&mut self, idx: usize) -> Option<Leaf> {
        let c = self.raw_comments.get(idx)?;
        let (start, end) = (c.start, c.end);
        let text = c.text.clone();
        Some(self.new_leaf(
            Scalar::Comment(secret(text)),
            None,
            LeafSpan::Comment { start, end },
        ))
    }

    /// Move the comments whose sort key is at most `limit` into the list.
    fn push_comments(&mut self, list: &mut ItemList, limit: usize) {
        while let Some(c) = list
            .comments
            .get(list.next_comment)
            .copied()
            .filter(|c| c.key <= limit)
        {
            list.next_comment += 1;
            if let Some(l) = self.comment_leaf(c.index) {
                list.items.push(Item::Comment(l));
            }
        }
    }

    /// Items of a collection, merging entries and comments by position. When `template` is
    /// given, it receives the collection's shape.
    pub(super) fn items_of(
        &mut self,
        n: Node,
        ctx: ValueContext,
        template: &mut Option<AliasTemplate>,
    ) -> Result<Vec<Item>, StoreError> {
        self.budget.charge(ctx.in_alias, 0)?;
        let (container_id, flow, len) = match &n.kind {
            NodeKind::Map {
                container_id,
                flow,
                entries,
            } => (*container_id, *flow, entries.len()),
            NodeKind::Seq {
                container_id,
                flow,
                elems,
            } => (*container_id, *flow, elems.len()),
            _ => return Ok(Vec::new()),
        };
        let comments = if ctx.in_alias {
            Vec::new()
        } else {
            self.take_comments(container_id)
        };
        let mut list = ItemList {
            items: Vec::with_capacity(len + comments.len()),
            comments,
            next_comment: 0,
        };
        let ctx = ValueContext {
            flow: flow || ctx.flow,
            ..ctx
        };
        let wants_template = template.is_some();
        // The raw node is consumed: each entry's memory is freed once it is converted.
        let start = n.start();
        if self.halve == Some(container_id) && !wants_template {
            self.halve = None;
            self.items_in_halves(n, ctx, &mut list)?;
            self.push_comments(&mut list, usize::MAX);
            return Ok(list.items);
        }
        let shape = match n.kind {
            NodeKind::Map { entries, .. } => Some(AliasTemplate::Map(self.map_items(
                start,
                entries,
                ctx,
                &mut list,
                wants_template,
            )?)),
            NodeKind::Seq { elems, .. } => Some(AliasTemplate::Seq(self.seq_items(
                elems,
                ctx,
                &mut list,
                wants_template,
            )?)),
            _ => None,
        };
        if let (Some(t), Some(shape)) = (template.as_mut(), shape) {
            *t = shape;
        }
        self.push_comments(&mut list, usize::MAX);
        Ok(list.items)
    }

    /// The entries of a map (context `ctx`, its own flow style included) into `list`; their
    /// shapes when `wants_template`.
    fn map_items(
        &mut self,
        start: usize,
        entries: Vec<(Node, Node)>,
        ctx: ValueContext,
        list: &mut ItemList,
        wants_template: bool,
    ) -> Result<Vec<(String, AliasTemplate)>, StoreError> {
        let mut seen = SeenKeys::default();
        let mut shapes = Vec::new();
        let owner_col = if ctx.flow {
            ctx.owner_col
        } else {
            self.src.col(start)
        };
        for (k, v) in entries {
            self.push_comments(list, k.start());
            let key = self.key_string(&k, 0)?;
            if let Some(prev) = seen.find(&list.items, &key) {
                let prev = self.src.line_of(prev) + 1;
                return Err(StoreError::at_line(
                    format!("mapping key \"{key}\" already defined at line {prev}"),
                    self.src.line_of(k.start()) + 1,
                ));
            }
            let vctx = ValueContext {
                flow: ctx.flow,
                owner_col,
                dash: None,
                prev_end: k.end(),
                in_alias: ctx.in_alias,
            };
            let mut sub = wants_template.then(|| AliasTemplate::Seq(Vec::new()));
            let value = self.value_of(v, vctx, &mut sub)?;
            if let Some(s) = sub {
                shapes.push((key.clone(), s));
            }
            list.items.push(Item::Pair { key, value });
            seen.add(&list.items, k.start());
        }
        Ok(shapes)
    }

    /// The elements of a list (context `ctx`, its own flow style included) into `list`; their
    /// shapes when `wants_template`.
    fn seq_items(
        &mut self,
        elems: Vec<(usize, Node)>,
        ctx: ValueContext,
        list: &mut ItemList,
        wants_template: bool,
    ) -> Result<Vec<AliasTemplate>, StoreError> {
        let mut shapes = Vec::new();
        let flow = ctx.flow;
        for (d, e) in elems {
            self.push_comments(list, d);
            let dash_col = self.src.col(d);
            let vctx = ValueContext {
                flow,
                owner_col: if flow { ctx.owner_col } else { dash_col },
                dash: if flow { None } else { Some(d) },
                prev_end: if flow { e.start() } else { d + 1 },
                in_alias: ctx.in_alias,
            };
            let mut sub = wants_template.then(|| AliasTemplate::Seq(Vec::new()));
            let value = self.value_of(e, vctx, &mut sub)?;
            if let Some(s) = sub {
                shapes.push(s);
            }
            list.items.push(Item::Elem(value));
        }
        Ok(shapes)
    }

    pub(super) fn value_of(
        &mut self,
        n: Node,
        ctx: ValueContext,
        template: &mut Option<AliasTemplate>,
    ) -> Result<Value, StoreError> {
        match &n.kind {
            NodeKind::Scalar { .. } => {
                let leaf = self.leaf_of_scalar(&n, ctx, None)?;
                if let Some(t) = template.as_mut() {
                    *t = AliasTemplate::Leaf(leaf.id);
                }
                Ok(Value::Leaf(leaf))
            }
            NodeKind::Map { .. } => Ok(Value::Map(self.items_of(n, ctx, template)?)),
            NodeKind::Seq { .. } => Ok(Value::List(self.items_of(n, ctx, template)?)),
            NodeKind::Alias { anchor } => {
                let anchor = *anchor;
                self.alias_value(&n, anchor, ctx, template)
            }
        }
    }

    /// The value an alias `n` stands for: a copy of its anchor's node.
    fn alias_value(
        &mut self,
        n: &Node,
        anchor: usize,
        ctx: ValueContext,
        template: &mut Option<AliasTemplate>,
    ) -> Result<Value, StoreError> {
        let line = self.src.line_of(n.start()) + 1;
        self.budget.charge(true, 0)?;
        let target = self
            .anchors
            .get(&anchor)
            .cloned()
            .ok_or_else(|| StoreError::at_line("unknown anchor referenced", line))?;
        match &target.kind {
            NodeKind::Scalar { .. } => {
                let token = if ctx.in_alias {
                    None
                } else {
                    Some((n.start(), n.end()))
                };
                let leaf = self.leaf_of_scalar(&target, ctx, token)?;
                if let Some(t) = template.as_mut() {
                    *t = AliasTemplate::Leaf(leaf.id);
                }
                Ok(Value::Leaf(leaf))
            }
            NodeKind::Alias { .. } => Err(StoreError::at_line("alias of an alias", line)),
            _ => self.expand_collection_alias(n, target, ctx, template),
        }
    }

    /// An alias `n` of a collection `target`: its copy, written back in flow style by an
    /// [`AliasRender`] (for an alias outside any other alias's copy).
    fn expand_collection_alias(
        &mut self,
        n: &Node,
        target: Node,
        ctx: ValueContext,
        template: &mut Option<AliasTemplate>,
    ) -> Result<Value, StoreError> {
        let outer = !ctx.in_alias;
        let actx = ValueContext {
            in_alias: true,
            ..ctx
        };
        let mut t = Some(AliasTemplate::Seq(Vec::new()));
        let v = if matches!(target.kind, NodeKind::Map { .. }) {
            Value::Map(self.items_of(target, actx, &mut t)?)
        } else {
            Value::List(self.items_of(target, actx, &mut t)?)
        };
        if let Some(tt) = t {
            if outer && self.real {
                self.aliases.push(AliasRender {
                    start: n.start(),
                    end: n.end(),
                    template: tt.clone(),
                });
            }
            if let Some(slot) = template.as_mut() {
                *slot = tt;
            }
        }
        Ok(v)
    }
}
