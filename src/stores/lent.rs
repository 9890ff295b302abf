//! What a lending reading left in the source: a file read to be decrypted once keeps its
//! `ENC[...]` values where they are in its bytes rather than a copy of each in the tree, where
//! each is an empty string (JSON and YAML; a 200,000-value JSON decryption's tree held a sixth of
//! its peak memory in them: docs/performance.md, seventeenth round). The cipher walk reads each
//! from its span (the walk's `walk_lent`); what a caller reads of the tree is put back.

use super::{json, yaml, Changes, Layout, Parsed};
use crate::tree::{LeafId, Scalar, Tree};

impl Parsed {
    /// The text of leaf `id` when the reading left it in the source
    /// ([`super::Store::parse_owned_lending`]; the leaf's value is then an empty string).
    pub fn lent_token(&self, id: LeafId) -> Option<&str> {
        lent_token_in(&self.layout, id)
    }

    /// [`Parsed::lent_token`] of a reading that keeps no copy of its bytes
    /// ([`super::Store::parse_lent_lending`]), read from `src`, the bytes it was made from.
    pub fn lent_token_from<'s>(&self, id: LeafId, src: &'s [u8]) -> Option<&'s str> {
        lent_token_from_in(&self.layout, id, src)
    }

    /// Give back the pages of a mapped source up to the end of leaf `id`'s value (where the
    /// format keeps such a source: JSON's): a decryption is done with the tokens up to it, and
    /// the splice reads the pages again (from the page cache) where it needs them.
    pub fn release_source_through(&self, id: LeafId) {
        if let Some(l) = self.layout.get::<json::Layout>() {
            l.release_source_through(id);
        }
    }

    /// Whether the reading left ciphertexts in the source.
    pub(crate) fn lends(&self) -> bool {
        self.layout.get::<json::Layout>().is_some_and(|l| l.lends())
            || self.layout.get::<yaml::Layout>().is_some_and(|l| l.lends())
    }

    /// Put back in the tree the values left in the source that `changes` leaves as they are
    /// (an `ENC[...]` text the selection does not decrypt): the tree is then the one a reading
    /// without lending gives, but for the leaves `changes` changes.
    pub fn restore_lent(&mut self, changes: &Changes) {
        if !self.lends() {
            return;
        }
        let (tree, layout) = (&mut self.tree, &self.layout);
        restore(tree, changes, |id| lent_token_in(layout, id));
    }

    /// [`Parsed::restore_lent`] of a reading that keeps no copy of its bytes, from `src`, the
    /// bytes it was made from.
    pub fn restore_lent_from(&mut self, changes: &Changes, src: &[u8]) {
        if !self.lends() {
            return;
        }
        let (tree, layout) = (&mut self.tree, &self.layout);
        restore(tree, changes, |id| lent_token_from_in(layout, id, src));
    }
}

/// Put back the values of `tree` that `token` gives, where `changes` leaves them as they are.
fn restore<'t>(tree: &mut Tree, changes: &Changes, token: impl Fn(LeafId) -> Option<&'t str>) {
    for doc in &mut tree.docs {
        crate::tree::for_each_leaf_mut(&mut doc.items, &mut |leaf| {
            let unchanged = !matches!(changes.get(leaf.id), Some(Some(_)));
            if unchanged && matches!(&leaf.value, Scalar::Str(s) if s.is_empty()) {
                if let Some(token) = token(leaf.id) {
                    leaf.value = Scalar::Str(crate::tree::secret(token));
                }
            }
        });
    }
}

/// Whether a lending reading leaves this value in the source (a JSON string as written between
/// its quotes, with no escape in it; a YAML plain scalar whose token is its value): an `ENC[...]`
/// value, which a decryption reads once and replaces.
pub(super) fn lends(text: &str) -> bool {
    text.len() > 5 && text.starts_with("ENC[") && text.ends_with(']')
}

/// [`Parsed::lent_token`] of a parsed file's layout.
fn lent_token_in(layout: &Layout, id: LeafId) -> Option<&str> {
    if let Some(json) = layout.get::<json::Layout>() {
        return json.lent_token(id);
    }
    layout.get::<yaml::Layout>()?.lent_token(id)
}

/// [`Parsed::lent_token_from`] of a parsed file's layout.
fn lent_token_from_in<'s>(layout: &Layout, id: LeafId, src: &'s [u8]) -> Option<&'s str> {
    if let Some(json) = layout.get::<json::Layout>() {
        return json.lent_token_in(id, src);
    }
    layout.get::<yaml::Layout>()?.lent_token_in(id, src)
}
