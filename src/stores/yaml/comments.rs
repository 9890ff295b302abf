//! Which map or list each comment belongs to (the container gives the comment's AAD), decided
//! from the tokens around it as go-yaml's parser decides it.

use granit_parser::Placement;

use super::node::{Node, NodeKind, RawComment};
use super::source::Source;

/// A token of the document (a scalar, an alias, a dash or a bracket) and the containers a
/// comment next to it would belong to.
#[derive(Clone, Copy, Debug)]
struct Token {
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

/// A flow collection's byte range and container id.
#[derive(Clone, Copy, Debug)]
struct FlowRange {
    start: usize,
    end: usize,
    container_id: usize,
}

/// The tokens of one document, sorted by position, and its flow collections.
pub(super) struct Tokens {
    tokens: Vec<Token>,
    flows: Vec<FlowRange>,
    /// The container every comment goes to when they all come before the document's root, a
    /// block map whose first key is a scalar: [`Tokens::place`] gives it without any token
    /// (the first token would be that key, whose container is the map's).
    leading: Option<usize>,
}

impl Tokens {
    /// What [`Tokens::place`] needs to place `comments` in a document: no tokens when they all
    /// come before its root (a generated file's header, before a manifest of ten thousand
    /// values: collecting its tokens took a few milliseconds on one thread), else its tokens.
    pub(super) fn for_comments(
        src: &Source,
        root: Option<&Node>,
        root_container_id: usize,
        comments: &[RawComment],
    ) -> Self {
        if let Some(r) = root {
            if let NodeKind::Map {
                flow: false,
                entries,
                container_id,
            } = &r.kind
            {
                let scalar_key = entries.first().is_some_and(|(k, _)| {
                    matches!(k.kind, NodeKind::Scalar { .. } | NodeKind::Alias { .. })
                });
                if scalar_key && comments.iter().all(|c| c.end <= r.start()) {
                    return Tokens {
                        tokens: Vec::new(),
                        flows: Vec::new(),
                        leading: Some(*container_id),
                    };
                }
            }
        }
        Self::of_document(src, root, root_container_id)
    }

    /// The tokens of a document whose root (if any) is the container `root_container_id`.
    pub(super) fn of_document(src: &Source, root: Option<&Node>, root_container_id: usize) -> Self {
        let mut t = Tokens {
            tokens: Vec::new(),
            flows: Vec::new(),
            leading: None,
        };
        if let Some(r) = root {
            t.collect(src, r, root_container_id, r.start());
        }
        t.tokens.sort_by_key(|t| (t.start, t.end));
        t
    }

    fn collect(&mut self, src: &Source, n: &Node, container: usize, item_start: usize) {
        match &n.kind {
            NodeKind::Scalar { .. } | NodeKind::Alias { .. } => self.tokens.push(Token {
                start: n.start(),
                end: n.end().max(n.start()),
                col: src.col(n.start()),
                before: container,
                after: container,
                item_start,
            }),
            NodeKind::Map {
                flow,
                entries,
                container_id,
            } => {
                if *flow {
                    self.flow_open(src, n, container, *container_id);
                }
                for (k, v) in entries {
                    self.collect(src, k, *container_id, k.start());
                    self.collect(src, v, *container_id, k.start());
                }
                if *flow {
                    self.flow_close(src, n, container, *container_id, item_start);
                }
            }
            NodeKind::Seq {
                flow,
                elems,
                container_id,
            } => {
                if *flow {
                    self.flow_open(src, n, container, *container_id);
                }
                for (d, e) in elems {
                    if !*flow && *d < e.start() {
                        self.tokens.push(Token {
                            start: *d,
                            end: *d + 1,
                            col: src.col(*d),
                            before: *container_id,
                            after: *container_id,
                            item_start: *d,
                        });
                    }
                    self.collect(src, e, *container_id, *d);
                }
                if *flow {
                    self.flow_close(src, n, container, *container_id, item_start);
                }
            }
        }
    }

    /// The opening bracket of a flow collection `n` (container `container_id`) as a token.
    fn flow_open(&mut self, src: &Source, n: &Node, container: usize, container_id: usize) {
        self.tokens.push(Token {
            start: n.start(),
            end: n.start() + 1,
            col: src.col(n.start()),
            before: container,
            after: container_id,
            item_start: n.start(),
        });
        self.flows.push(FlowRange {
            start: n.start(),
            end: n.end(),
            container_id,
        });
    }

    /// The closing bracket of a flow collection `n` (container `container_id`) as a token.
    fn flow_close(
        &mut self,
        src: &Source,
        n: &Node,
        container: usize,
        container_id: usize,
        item_start: usize,
    ) {
        self.tokens.push(Token {
            start: n.end().saturating_sub(1),
            end: n.end(),
            col: src.col(n.end().saturating_sub(1)),
            before: container_id,
            after: container,
            item_start,
        });
    }

    /// (container id, sort key) for a comment; `root` is the document's container.
    pub(super) fn place(&self, src: &Source, c: &RawComment, root: usize) -> (usize, usize) {
        let p = c.start;
        if let Some(container) = self.leading {
            return (container, p);
        }
        // Inside a flow collection: the innermost one.
        let mut flow: Option<FlowRange> = None;
        for f in &self.flows {
            if f.start < p && p < f.end && flow.is_none_or(|inner| f.start >= inner.start) {
                flow = Some(*f);
            }
        }
        let idx = self.tokens.partition_point(|k| k.start < p);
        let t1 = self.tokens[..idx].iter().rev().find(|k| k.end <= p);
        let t2 = self.tokens.get(idx);
        if let Some(FlowRange { container_id, .. }) = flow {
            if c.placement == Placement::Right {
                if let Some(t1) = t1 {
                    if t1.after == container_id {
                        let same = t1.before == t1.after;
                        return (container_id, if same { t1.item_start } else { p });
                    }
                }
            }
            return (container_id, p);
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
}

#[cfg(test)]
mod tests {
    use super::super::events::read_events;
    use super::super::feed::Threads;
    use super::*;

    /// Comments before a document's root are placed without tokens where they would be placed
    /// with them.
    #[test]
    fn leading_comments_are_placed_as_with_tokens() {
        for text in [
            "# a\n# b\nk: v\nl: [1, 2]\n",
            "# a\n&x\nk: v\n",
            "# a\n\n  # b\nk:\n  - 1\n",
            "# a\n? [x]\n: v\n",
            "# a\n- 1\n- 2\n",
            "# a\n{k: v}\n",
            "k: v # c\n# d\nl: 2\n",
            "# a\n--- # b\nk: v\n---\n# c\nm: [1]\n",
        ] {
            let src = Source::new(text);
            for doc in read_events(&src, Threads::One).unwrap() {
                let root = doc.root.as_ref();
                let fast = Tokens::for_comments(&src, root, doc.root_container_id, &doc.comments);
                let full = Tokens::of_document(&src, root, doc.root_container_id);
                for c in &doc.comments {
                    assert_eq!(
                        fast.place(&src, c, doc.root_container_id),
                        full.place(&src, c, doc.root_container_id),
                        "{text:?}"
                    );
                }
            }
        }
    }
}
