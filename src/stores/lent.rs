//! What a lending reading left in the source: a file read to be decrypted once keeps its
//! `ENC[...]` values where they are in its bytes rather than a copy of each in the tree, where
//! each is an empty string (JSON and YAML; a 200,000-value JSON decryption's tree held a sixth of
//! its peak memory in them: docs/performance.md, seventeenth round). The cipher walk reads each
//! from its span (the walk's `walk_lent`); what a caller reads of the tree is put back.

use super::{json, yaml, Changes, Layout, Parsed};
use crate::tree::{LeafId, Scalar};

impl Parsed {
    /// The text of leaf `id` when the reading left it in the source
    /// ([`super::Store::parse_owned_lending`]; the leaf's value is then an empty string).
    pub fn lent_token(&self, id: LeafId) -> Option<&str> {
        lent_token_in(&self.layout, id)
    }

    /// Whether the reading left ciphertexts in the source.
    fn lends(&self) -> bool {
        self.layout.of::<json::Layout>().is_ok_and(|l| l.lends())
            || self.layout.of::<yaml::Layout>().is_ok_and(|l| l.lends())
    }

    /// Put back in the tree the values left in the source that `changes` leaves as they are
    /// (an `ENC[...]` text the selection does not decrypt): the tree is then the one a reading
    /// without lending gives, but for the leaves `changes` changes.
    pub fn restore_lent(&mut self, changes: &Changes) {
        if !self.lends() {
            return;
        }
        let (tree, layout) = (&mut self.tree, &self.layout);
        for doc in &mut tree.docs {
            crate::tree::for_each_leaf_mut(&mut doc.items, &mut |leaf| {
                let unchanged = !matches!(changes.get(leaf.id), Some(Some(_)));
                if unchanged && matches!(&leaf.value, Scalar::Str(s) if s.is_empty()) {
                    if let Some(token) = lent_token_in(layout, leaf.id) {
                        leaf.value = Scalar::Str(crate::tree::secret(token));
                    }
                }
            });
        }
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
    if let Ok(json) = layout.of::<json::Layout>() {
        return json.lent_token(id);
    }
    layout.of::<yaml::Layout>().ok()?.lent_token(id)
}
