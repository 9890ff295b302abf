//! The raw node tree read from the parser's events, with the byte positions of every node: what
//! every later stage (conversion, comment placement, `set`/`unset`) walks.

use std::borrow::Cow;
use std::collections::HashMap;

use granit_parser::{Placement, ScalarStyle};

/// A node's tag, as far as typing it is concerned: none, a tag of the YAML core schema (`!!str`,
/// `tag:yaml.org,2002:int`: its suffix) or another one. Behind one thin pointer, null for none
/// (tags are rare, and every raw node has room for this: an enum of the three kinds, 16 bytes,
/// made each node 8 bytes larger).
#[derive(Clone, Debug)]
pub(super) struct CoreTag(Option<Box<TagName>>);

#[derive(Clone, Debug)]
enum TagName {
    Core(String),
    Custom,
}

impl CoreTag {
    pub(super) const NONE: CoreTag = CoreTag(None);

    /// A tag of the core schema, by its suffix.
    pub(super) fn core(suffix: String) -> Self {
        CoreTag(Some(Box::new(TagName::Core(suffix))))
    }

    /// A tag outside the core schema.
    pub(super) fn custom() -> Self {
        CoreTag(Some(Box::new(TagName::Custom)))
    }

    pub(super) fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// The suffix of a core schema tag.
    pub(super) fn suffix(&self) -> Option<&str> {
        match self.0.as_deref() {
            Some(TagName::Core(s)) => Some(s),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) enum NodeKind<'a> {
    Scalar {
        /// The value, borrowed from the source where the parser could (plain and unescaped).
        value: ScalarValue<'a>,
        style: ScalarStyle,
        tag: CoreTag,
        /// Token start (without anchor/tag), as [`Pos`].
        token_start: Pos,
    },
    Map {
        flow: bool,
        entries: Vec<(Node<'a>, Node<'a>)>,
        container_id: usize,
    },
    Seq {
        flow: bool,
        /// Each element with its dash (for a flow sequence, the element's start).
        elems: Vec<(usize, Node<'a>)>,
        container_id: usize,
    },
    Alias {
        anchor: usize,
    },
}

/// A scalar's value as the parser gave it: borrowed from the source where it could be, else an
/// unescaped or folded copy, which is wiped when dropped (the value may be a secret).
#[derive(Clone, Debug)]
pub(super) struct ScalarValue<'a>(pub(super) Cow<'a, str>);

impl std::ops::Deref for ScalarValue<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ScalarValue<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl Drop for ScalarValue<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(s) = &mut self.0 {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

/// A byte offset in a raw node or an event's span: 32 bits, half the room of a `usize`, as a raw
/// node is made for every key and value of a file read and their size is much of a reading's
/// memory traffic. A longer source is refused where every reading starts (`parse::decode`, and
/// `events::read_events`).
pub(super) type Pos = u32;

/// `at` as a [`Pos`] (saturating; only a source of at most [`MAX_SOURCE`] bytes is read into raw
/// nodes).
pub(super) fn pos(at: usize) -> Pos {
    Pos::try_from(at).unwrap_or(Pos::MAX)
}

/// The longest source read into raw nodes (one byte short of 4 GiB: every offset, a tag's start
/// plus one as [`TagStart`] keeps it included, fits in a [`Pos`]).
const MAX_SOURCE: usize = Pos::MAX as usize - 1;

/// Refuse a source too long for [`Pos`] offsets.
pub(super) fn refuse_too_long(text: &str) -> Result<(), crate::stores::StoreError> {
    if text.len() > MAX_SOURCE {
        return Err(crate::stores::StoreError::new(
            "YAML input larger than 4 GiB: split it into smaller files",
        ));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub(super) struct Node<'a> {
    pub(super) kind: NodeKind<'a>,
    /// First byte of the node (anchor/tag included).
    start: Pos,
    end: Pos,
    /// End of the node's properties (anchor, tag), where a block scalar header may start.
    props_end: Pos,
    tag_start: TagStart,
}

impl<'a> Node<'a> {
    pub(super) fn new(
        kind: NodeKind<'a>,
        start: usize,
        end: usize,
        props_end: usize,
        tag_start: Option<usize>,
    ) -> Self {
        Node {
            kind,
            start: pos(start),
            end: pos(end),
            props_end: pos(props_end),
            tag_start: TagStart::new(tag_start),
        }
    }

    /// First byte of the node (anchor/tag included).
    pub(super) fn start(&self) -> usize {
        self.start as usize
    }

    pub(super) fn end(&self) -> usize {
        self.end as usize
    }

    /// End of the node's properties (anchor, tag), where a block scalar header may start.
    pub(super) fn props_end(&self) -> usize {
        self.props_end as usize
    }

    /// Where the node's token starts: a scalar's without its anchor or tag, else the node's start.
    pub(super) fn token_start(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar { token_start, .. } => *token_start as usize,
            _ => self.start(),
        }
    }

    /// Where the node's tag starts, if it has one.
    pub(super) fn tag_start(&self) -> Option<usize> {
        self.tag_start.get()
    }

    pub(super) fn set_start(&mut self, at: usize) {
        self.start = pos(at);
    }

    pub(super) fn set_props_end(&mut self, at: usize) {
        self.props_end = pos(at);
    }
}

/// Where a node's tag starts, if it has one: an `Option<Pos>` in the room of a [`Pos`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TagStart(Option<std::num::NonZeroU32>);

impl TagStart {
    pub(super) fn new(at: Option<usize>) -> Self {
        TagStart(at.and_then(|at| std::num::NonZeroU32::new(pos(at).saturating_add(1))))
    }

    pub(super) fn get(self) -> Option<usize> {
        self.0.map(|at| (at.get() - 1) as usize)
    }
}

pub(super) struct RawComment {
    pub(super) text: String,
    pub(super) placement: Placement,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct RawDoc<'a> {
    pub(super) root: Option<Node<'a>>,
    pub(super) comments: Vec<RawComment>,
    /// Where the document ends (start of `...`/next `---`, or EOF).
    pub(super) end: usize,
    pub(super) root_container_id: usize,
    pub(super) anchors: HashMap<usize, Node<'a>>,
    /// How many scalars it has outside map keys (its leaves, aliases aside).
    pub(super) values: usize,
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// A raw node is made for every key and value of a file read: its size is a reading's
    /// memory traffic (104 bytes before the nineteenth round of docs/performance.md, 88 before the
    /// twentieth).
    #[test]
    fn a_raw_node_stays_small() {
        assert!(std::mem::size_of::<super::Node>() <= 56);
        // An event's span likewise goes with every event through the reading's queues.
        assert!(std::mem::size_of::<super::super::events::EventSpan>() <= 16);
        assert_eq!(super::TagStart::new(Some(0)).get(), Some(0));
        assert_eq!(super::TagStart::new(Some(7)).get(), Some(7));
        assert_eq!(super::TagStart::new(None).get(), None);
    }
}
