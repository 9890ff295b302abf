//! The raw node tree read from the parser's events, with the byte positions of every node: what
//! every later stage (conversion, comment placement, `set`/`unset`) walks.

use std::borrow::Cow;
use std::collections::HashMap;

use granit_parser::{Placement, ScalarStyle};

/// A node's tag, as far as typing it is concerned.
#[derive(Clone, Debug)]
pub(super) enum CoreTag {
    None,
    /// A tag of the YAML core schema (`!!str`, `tag:yaml.org,2002:int`): its suffix, behind a
    /// thin pointer (tags are rare, and every raw node has room for this: a `String` or a
    /// `Box<str>` here made each node 8 bytes larger).
    #[allow(clippy::box_collection)]
    Core(Box<String>),
    Custom,
}

#[derive(Clone, Debug)]
pub(super) enum NodeKind<'a> {
    Scalar {
        /// The value, borrowed from the source where the parser could (plain and unescaped).
        value: ScalarValue<'a>,
        style: ScalarStyle,
        tag: CoreTag,
        /// Token start (without anchor/tag).
        token_start: usize,
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

#[derive(Clone, Debug)]
pub(super) struct Node<'a> {
    pub(super) kind: NodeKind<'a>,
    /// First byte of the node (anchor/tag included).
    pub(super) start: usize,
    pub(super) end: usize,
    /// End of the node's properties (anchor, tag), where a block scalar header may start.
    pub(super) props_end: usize,
    pub(super) tag_start: TagStart,
}

/// Where a node's tag starts, if it has one: an `Option<usize>` in half the room (a raw node is
/// made for every key and value of a file; their size is much of a reading's memory traffic).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TagStart(Option<std::num::NonZeroUsize>);

impl TagStart {
    pub(super) fn new(at: Option<usize>) -> Self {
        TagStart(at.and_then(|at| std::num::NonZeroUsize::new(at.wrapping_add(1))))
    }

    pub(super) fn get(self) -> Option<usize> {
        self.0.map(|at| at.get() - 1)
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
    /// memory traffic (104 bytes before the nineteenth round of docs/performance.md).
    #[test]
    fn a_raw_node_stays_small() {
        assert!(std::mem::size_of::<super::Node>() <= 88);
        assert_eq!(super::TagStart::new(Some(0)).get(), Some(0));
        assert_eq!(super::TagStart::new(Some(7)).get(), Some(7));
        assert_eq!(super::TagStart::new(None).get(), None);
    }
}
