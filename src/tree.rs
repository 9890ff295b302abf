//! The format-neutral tree that every store produces and the cipher walk consumes.
//!
//! A document is an ordered list of [`Item`]s (the items of its top-level map). Every scalar and
//! every comment is a [`Leaf`] with a [`LeafId`]: the store that parsed the file remembers, for each
//! id, where the leaf's text sits in the original bytes, so that new texts can be spliced back in
//! without re-serialising the document.

use crate::wipe::Wiped;

/// Index of a leaf in its store's span table.
pub type LeafId = usize;

/// The id of a leaf that no store parsed (a value built in memory: metadata, a `set` value, an
/// editor template): it has no span in any source, and no change applies to it.
pub const NO_LEAF: LeafId = usize::MAX;

/// A string that may hold plaintext: wiped from memory when dropped.
pub type Secret = Wiped<String>;

/// Make a [`Secret`] from anything string-like.
pub fn secret(s: impl Into<String>) -> Secret {
    Wiped::new(s.into())
}

/// A typed scalar, as sops types it. Texts that may be plaintext are [`Secret`]s.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Secret),
    /// A timestamp, kept as its RFC 3339 text with nanoseconds (Go's `time.MarshalText`).
    Time(Secret),
    /// The text of a comment, without its leading marker (`#` or `;`).
    Comment(Secret),
    /// A string that is not valid UTF-8 (binary files); sops types it `str` as well.
    Bytes(Wiped<Vec<u8>>),
}

impl Scalar {
    /// The sops `type:` tag of this scalar (`None` for null, which is never encrypted).
    pub fn type_tag(&self) -> Option<&'static str> {
        Some(match self {
            Scalar::Null => return None,
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Str(_) => "str",
            Scalar::Time(_) => "time",
            Scalar::Comment(_) => "comment",
            Scalar::Bytes(_) => "str",
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) | Scalar::Comment(s) | Scalar::Time(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

/// One scalar or comment of the document.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    /// Where the store keeps this leaf's span; unique within one parsed file.
    pub id: LeafId,
    pub value: Scalar,
    /// The value's spelling in the source (`100.0`, `TRUE`, `1e-7`), when it differs from or may
    /// differ from the canonical form. Used as the encrypted plaintext when sops's parser for the
    /// type accepts it, so that the original spelling survives a round trip.
    pub text: Option<Secret>,
    /// An earlier value of a key that the format's readers overwrite with a later one (an INI key
    /// given twice in a section): encrypted and decrypted like any value, so each occurrence keeps
    /// its own, but left out of the MAC, of look-ups and of conversions, as sops never sees it.
    pub shadowed: bool,
}

impl Leaf {
    pub fn new(id: LeafId, value: Scalar) -> Self {
        Leaf {
            id,
            value,
            text: None,
            shadowed: false,
        }
    }
}

/// A value in the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Map(Vec<Item>),
    List(Vec<Item>),
    Leaf(Leaf),
}

/// One entry of a map or a list.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A comment line (its leaf's value is [`Scalar::Comment`]).
    Comment(Leaf),
    /// `key: value` in a map.
    Pair { key: String, value: Value },
    /// An element of a list.
    Elem(Value),
}

/// One document: the items of its top-level map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    pub items: Vec<Item>,
}

/// A whole file: one or more documents (only YAML has more than one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    pub docs: Vec<Doc>,
}

impl Item {
    pub fn pair(key: impl Into<String>, value: Value) -> Self {
        Item::Pair {
            key: key.into(),
            value,
        }
    }
}

/// Find the value at `key` in a map's items (shadowed values skipped).
pub fn get<'a>(items: &'a [Item], key: &str) -> Option<&'a Value> {
    items.iter().find_map(|i| match i {
        Item::Pair { key: k, value } if k == key && !i.is_shadowed() => Some(value),
        _ => None,
    })
}

impl Item {
    /// A pair whose value is [`Leaf::shadowed`].
    pub fn is_shadowed(&self) -> bool {
        matches!(self, Item::Pair { value: Value::Leaf(l), .. } if l.shadowed)
    }
}

/// `items` without shadowed pairs, at every level: what sops sees.
pub fn without_shadowed(items: &[Item]) -> Vec<Item> {
    items
        .iter()
        .filter(|i| !i.is_shadowed())
        .map(|i| match i {
            Item::Pair {
                key,
                value: Value::Map(v),
            } => Item::pair(key.clone(), Value::Map(without_shadowed(v))),
            Item::Pair {
                key,
                value: Value::List(v),
            } => Item::pair(key.clone(), Value::List(without_shadowed(v))),
            Item::Elem(Value::Map(v)) => Item::Elem(Value::Map(without_shadowed(v))),
            Item::Elem(Value::List(v)) => Item::Elem(Value::List(without_shadowed(v))),
            other => other.clone(),
        })
        .collect()
}

/// Visit every leaf (values and comments) in walk order, depth first.
pub fn for_each_leaf<'a>(items: &'a [Item], f: &mut impl FnMut(&'a Leaf)) {
    for item in items {
        match item {
            Item::Comment(l) => f(l),
            Item::Pair { value, .. } | Item::Elem(value) => for_each_leaf_in(value, f),
        }
    }
}

fn for_each_leaf_in<'a>(value: &'a Value, f: &mut impl FnMut(&'a Leaf)) {
    match value {
        Value::Leaf(l) => f(l),
        Value::Map(items) | Value::List(items) => for_each_leaf(items, f),
    }
}

/// [`for_each_leaf`], each leaf lent to `f` to change.
pub fn for_each_leaf_mut(items: &mut [Item], f: &mut impl FnMut(&mut Leaf)) {
    for item in items {
        match item {
            Item::Comment(l) => f(l),
            Item::Pair { value, .. } | Item::Elem(value) => match value {
                Value::Leaf(l) => f(l),
                Value::Map(items) | Value::List(items) => for_each_leaf_mut(items, f),
            },
        }
    }
}

/// Free the values of the leaves that `changes` replaces (a decrypted file's `ENC[...]` strings,
/// once the walk has decrypted them): everything that reads a tree with its changes reads a
/// changed leaf's change, never its old value, so the old value need not stay in memory while
/// the plaintext is written and read back.
pub fn forget_changed_values(tree: &mut Tree, changes: &Changes) {
    for d in &mut tree.docs {
        for_each_leaf_mut(&mut d.items, &mut |l| {
            if matches!(changes.get(l.id), Some(Some(_))) {
                l.value = Scalar::Null;
                l.text = None;
            }
        });
    }
}

/// Number of leaves (values and comments) in the tree.
pub fn leaf_count(tree: &Tree) -> usize {
    let mut n = 0;
    for d in &tree.docs {
        for_each_leaf(&d.items, &mut |_| n += 1);
    }
    n
}

/// A digest of a tree's shape: its documents, keys, list positions, comments and leaf ids, not
/// its values. Two trees with the same shape digest have the same leaves under the same ids.
pub fn shape_digest(tree: &Tree) -> [u8; 32] {
    fn items(h: &mut ShapeHasher, items: &[Item]) {
        for item in items {
            match item {
                Item::Comment(l) => h.comment(l.id),
                Item::Pair { key, value: v } => {
                    value(h, v);
                    h.pair(key);
                }
                Item::Elem(v) => {
                    value(h, v);
                    h.elem();
                }
            }
        }
    }
    fn value(h: &mut ShapeHasher, v: &Value) {
        match v {
            Value::Leaf(l) => h.leaf(l.id),
            Value::Map(v) => {
                h.open_map();
                items(h, v);
                h.close();
            }
            Value::List(v) => {
                h.open_list();
                items(h, v);
                h.close();
            }
        }
    }
    let mut h = ShapeHasher::default();
    for d in &tree.docs {
        h.doc();
        items(&mut h, &d.items);
    }
    h.finish()
}

/// [`shape_digest`] fed as a reader meets the tree, bottom up: an item after its value (a
/// member's key after what it holds), a map or list opened before its items and closed after.
/// Every mark is tagged and every key carries its length, so one sequence of calls is one shape.
/// A reader that keeps no tree (a check of a large output) computes the digest this way.
/// The marks are gathered in a buffer and hashed a few kilobytes at a time: hashed one by one
/// (a byte or a few each), the hash's own bookkeeping cost more than the hashing.
#[derive(Default)]
pub struct ShapeHasher {
    hash: sha2::Sha256,
    pending: Vec<u8>,
}

/// How many bytes of marks [`ShapeHasher`] gathers before hashing them.
const SHAPE_BUFFER: usize = 8 * 1024;

impl ShapeHasher {
    fn mark(&mut self, tag: &[u8]) {
        if self.pending.len() + tag.len() > SHAPE_BUFFER {
            sha2::Digest::update(&mut self.hash, &self.pending);
            self.pending.clear();
        }
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(SHAPE_BUFFER);
        }
        self.pending.extend_from_slice(tag);
    }

    pub fn doc(&mut self) {
        self.mark(b"d");
    }

    pub fn leaf(&mut self, id: usize) {
        self.mark(b"l");
        self.mark(&id.to_le_bytes());
    }

    pub fn comment(&mut self, id: usize) {
        self.mark(b"c");
        self.mark(&id.to_le_bytes());
    }

    pub fn open_map(&mut self) {
        self.mark(b"{");
    }

    pub fn open_list(&mut self) {
        self.mark(b"[");
    }

    /// The map or list opened last is closed.
    pub fn close(&mut self) {
        self.mark(b"}");
    }

    /// The value just given is a member's, under `key`.
    pub fn pair(&mut self, key: &str) {
        self.mark(b"p");
        self.mark(&key.len().to_le_bytes());
        self.mark(key.as_bytes());
    }

    /// The value just given is a list element.
    pub fn elem(&mut self) {
        self.mark(b"e");
    }

    pub fn finish(mut self) -> [u8; 32] {
        sha2::Digest::update(&mut self.hash, &self.pending);
        sha2::Digest::finalize(self.hash).into()
    }
}

/// What to write in place of one leaf.
#[derive(Clone, Debug, PartialEq)]
pub enum NewLeaf {
    /// The leaf was encrypted: write this `ENC[...]` string (as a string value, or as the text of
    /// the comment when the leaf is a comment).
    Encrypted(String),
    /// The leaf was decrypted: its typed value, and the exact plaintext that was inside the
    /// ciphertext (`100.0`, `True`, or the string itself). A list element whose value is a
    /// [`Scalar::Comment`] came from sops's way of storing encrypted comments inside lists and is
    /// written back as a comment.
    Plain { value: Scalar, text: Secret },
}

/// Replacement texts, indexed by [`LeafId`]; `None` leaves the leaf as it is.
pub type Changes = [Option<NewLeaf>];

/// The tree with `changes` applied: encrypted leaves become their `ENC[...]` strings, decrypted
/// leaves their values (a list element that decrypts to a comment becomes a comment again).
pub fn apply_changes(tree: &Tree, changes: &Changes) -> Tree {
    fn leaf(l: &Leaf, changes: &Changes, comment: bool) -> Leaf {
        let mut out = l.clone();
        match changes.get(l.id) {
            Some(Some(NewLeaf::Encrypted(e))) => {
                out.value = if comment {
                    Scalar::Comment(secret(e.clone()))
                } else {
                    Scalar::Str(secret(e.clone()))
                };
                out.text = None;
            }
            Some(Some(NewLeaf::Plain { value, text })) => {
                out.value = value.clone();
                out.text = Some(text.clone());
            }
            _ => {}
        }
        out
    }
    fn value(v: &Value, changes: &Changes) -> Value {
        match v {
            Value::Leaf(l) => Value::Leaf(leaf(l, changes, false)),
            Value::Map(items) => Value::Map(items_of(items, changes)),
            Value::List(items) => Value::List(items_of(items, changes)),
        }
    }
    fn items_of(items: &[Item], changes: &Changes) -> Vec<Item> {
        items
            .iter()
            .map(|i| match i {
                Item::Comment(l) => Item::Comment(leaf(l, changes, true)),
                Item::Pair { key, value: v } => Item::Pair {
                    key: key.clone(),
                    value: value(v, changes),
                },
                Item::Elem(v) => match value(v, changes) {
                    Value::Leaf(
                        l @ Leaf {
                            value: Scalar::Comment(_),
                            ..
                        },
                    ) => Item::Comment(l),
                    other => Item::Elem(other),
                },
            })
            .collect()
    }
    Tree {
        docs: tree
            .docs
            .iter()
            .map(|d| Doc {
                items: items_of(&d.items, changes),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values do not count; keys, ids, nesting, documents and comments do, and a key longer than
    /// the hasher's buffer is hashed whole.
    #[test]
    fn shape_digests_tell_shapes_apart() {
        let leaf = |id, v: &str| Value::Leaf(Leaf::new(id, Scalar::Str(secret(v))));
        let tree = |items: Vec<Item>| Tree {
            docs: vec![Doc { items }],
        };
        let base = || {
            vec![
                Item::pair("a", leaf(0, "x")),
                Item::pair("b", Value::List(vec![Item::Elem(leaf(1, "y"))])),
            ]
        };
        let digest = shape_digest(&tree(base()));
        let mut other_values = base();
        other_values[0] = Item::pair("a", leaf(0, "other"));
        assert_eq!(shape_digest(&tree(other_values)), digest);
        let long = "k".repeat(3 * SHAPE_BUFFER);
        let long_key = |last: &str| {
            shape_digest(&tree(vec![Item::pair(
                format!("{long}{last}"),
                leaf(0, "x"),
            )]))
        };
        assert_ne!(long_key("1"), long_key("2"));
        let shapes = [
            vec![Item::pair("a", leaf(0, "x"))],
            vec![
                Item::pair("a", leaf(1, "x")),
                Item::pair("b", Value::List(vec![Item::Elem(leaf(0, "y"))])),
            ],
            vec![
                Item::pair("a", leaf(0, "x")),
                Item::pair("c", Value::List(vec![Item::Elem(leaf(1, "y"))])),
            ],
            vec![
                Item::pair("a", leaf(0, "x")),
                Item::pair("b", Value::Map(vec![Item::pair("0", leaf(1, "y"))])),
            ],
            vec![Item::pair("a", leaf(0, "x")), Item::pair("b", leaf(1, "y"))],
            vec![
                Item::Comment(Leaf::new(0, Scalar::Comment(secret("# a")))),
                Item::pair("b", Value::List(vec![Item::Elem(leaf(1, "y"))])),
            ],
        ];
        for items in shapes {
            assert_ne!(shape_digest(&tree(items)), digest);
        }
        let mut two = tree(base());
        two.docs.push(Doc { items: Vec::new() });
        assert_ne!(shape_digest(&two), digest);
    }

    #[test]
    fn forgetting_changed_values_keeps_the_others() {
        let leaf = |id, v: &str| Value::Leaf(Leaf::new(id, Scalar::Str(secret(v))));
        let mut tree = Tree {
            docs: vec![Doc {
                items: vec![
                    Item::pair("a", leaf(0, "ENC[...]")),
                    Item::pair("b", Value::List(vec![Item::Elem(leaf(1, "kept"))])),
                    Item::Comment(Leaf::new(2, Scalar::Comment(secret("ENC[...]")))),
                ],
            }],
        };
        let plain = |v: &str| {
            Some(NewLeaf::Plain {
                value: Scalar::Str(secret(v)),
                text: secret(v),
            })
        };
        let changes = vec![plain("x"), None, plain("note")];
        let before = apply_changes(&tree, &changes);
        forget_changed_values(&mut tree, &changes);
        assert_eq!(apply_changes(&tree, &changes), before);
        let mut values = Vec::new();
        for_each_leaf(&tree.docs[0].items, &mut |l| values.push(l.value.clone()));
        assert_eq!(
            values,
            [Scalar::Null, Scalar::Str(secret("kept")), Scalar::Null]
        );
    }
}
