//! JSON store: a span-tracking scanner for lossless splicing and text edits, and an emitter that
//! lays files out exactly as sops does (Go `json.Marshal` + `json.Indent`).

use crate::filebytes::FileBytes;

pub(crate) mod edit;
mod emit;
mod fill;
mod halves;
mod lean;
mod parse;
mod readback;
mod scanner;
mod splice;

pub(crate) use emit::emit_items;
pub use emit::{emit, emit_value};
pub(crate) use halves::compared_with_one_thread as halves_compared;
pub(crate) use lean::compared_with_full as lean_compared;
pub use parse::{parse, parse_lent, parse_owned};
pub(crate) use parse::{parse_top, TopObject};
pub(crate) use readback::compared_with_one_thread as readback_halves_compared;
pub use splice::splice;

use super::{Changes, FormatStore, Lean, Parsed, StoreError, StoreOptions, ValueCheck};
use crate::tree::{LeafId, Tree, Value};
use crate::treepath::Step;

/// Where things are in a parsed JSON file.
pub struct Layout {
    src: FileBytes,
    /// The data's `ENC[...]` values were left here (`parse::parse_owned_lending`): each is an
    /// empty string in the tree, its text this source's at its leaf span.
    lent: bool,
    /// Byte range of every leaf's token, by leaf id.
    leaf_spans: Vec<(usize, usize)>,
    /// Position of the top-level `{`.
    open_brace: usize,
    /// Top-level members in file order.
    members: Vec<Member>,
    /// Index in `members` of the `sops` entry.
    sops_member: Option<usize>,
}

impl Layout {
    /// [`crate::stores::Parsed::release_source_through`].
    pub(crate) fn release_source_through(&self, id: LeafId) {
        if let Some(&(_, end)) = self.leaf_spans.get(id) {
            self.src.release_before(end);
        }
    }

    /// The bytes the file was parsed from.
    pub(crate) fn source(&self) -> Option<&[u8]> {
        Some(&self.src)
    }

    /// Whether the reading left the data's `ENC[...]` values in the source.
    pub(crate) fn lends(&self) -> bool {
        self.lent
    }

    /// The text of the leaf `id` when the reading left it in the source (between its quotes).
    pub(crate) fn lent_token(&self, id: usize) -> Option<&str> {
        self.lent_token_in(id, &self.src)
    }

    /// [`Layout::lent_token`] read from `src`, the bytes the reading was made from.
    pub(crate) fn lent_token_in<'s>(&self, id: usize, src: &'s [u8]) -> Option<&'s str> {
        if !self.lent {
            return None;
        }
        let &(start, end) = self.leaf_spans.get(id)?;
        let inner = src.get(start + 1..end.checked_sub(1)?)?;
        // A string with an escape in it is decoded, never lent.
        let unescaped = memchr::memchr(b'\\', inner).is_none();
        std::str::from_utf8(inner)
            .ok()
            .filter(|t| unescaped && super::lent::lends(t))
    }
}

/// Where a top-level member is.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Member {
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// The JSON format behind the store contract.
pub struct JsonStore;

impl FormatStore for JsonStore {
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        parse(src)
    }

    fn parse_owned(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        parse_owned(src)
    }

    fn parse_owned_lending(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        parse::parse_owned_lending(src)
    }

    fn parse_lent(&self, src: &[u8]) -> Option<Result<Parsed, StoreError>> {
        Some(parse_lent(src))
    }

    fn swap_source(&self, parsed: &mut Parsed, src: &mut FileBytes) -> bool {
        super::source::swap_layout_source::<Layout>(parsed, src, |l| &mut l.src)
    }

    fn reads_as_changed(&self, src: &[u8], tree: &Tree, changes: &Changes) -> bool {
        readback::reads_as_changed(src, tree, changes)
    }

    super::hand_over_writes!(Layout);
    super::hand_over_splice_from!(Layout, unless);

    fn set_at(
        &self,
        parsed: &Parsed,
        steps: &[Step],
        value: &Value,
        options: &StoreOptions,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        edit::set_at(parsed.layout.of::<Layout>()?, steps, value, options)
    }

    fn unset_at(&self, parsed: &Parsed, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
        edit::unset_at(parsed.layout.of::<Layout>()?, steps)
    }

    fn splices_from_layout(&self, _parsed: &Parsed, _changes: &Changes) -> bool {
        true
    }

    fn splices_on_both_processors(&self) -> bool {
        true
    }

    fn lean_reading(&self, src: &[u8], check: &dyn ValueCheck) -> Option<Result<Lean, StoreError>> {
        Some(lean::read(src, check))
    }

    fn forget_leaf_spans(&self, parsed: &mut Parsed) {
        if let Some(layout) = parsed.layout.of_mut::<Layout>() {
            layout.leaf_spans = Vec::new();
        }
    }
}
