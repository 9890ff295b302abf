//! TOML store, lossless: `toml_edit` (the `toml` crate's format-preserving layer) parses the
//! file with the byte range of every value, a lexical pass finds comments and table headers,
//! and a splice writes `"ENC[…]"` strings (and `#ENC[…]` comments) in place of the original
//! texts, so an encrypted file keeps the plaintext's layout. The metadata is a `[sops]` table at
//! the end. `set` of a new key and `unset` of a `key = value` line, a dotted key or a whole table
//! are text edits; the rest is left to the shared fallbacks (an in-place scalar splice, else a
//! layout from scratch).

use crate::filebytes::FileBytes;

mod edit;
mod emit;
mod parse;
mod scan;
mod sections;
mod splice;

use edit::{set_at, unset_at};

pub use emit::{emit, emit_value};
pub use parse::parse;
pub use splice::splice;

use super::{Changes, FormatStore, Parsed, StoreError, StoreOptions};
use crate::tree::{Tree, Value};
use crate::treepath::Step;

/// Where a leaf's text is: a value's token, or a comment's text after its `#`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafSpan {
    pub start: usize,
    pub end: usize,
    pub comment: bool,
    /// Where the key of a `key = value` pair of a table starts (for `unset`).
    pub key_start: Option<usize>,
}

/// Where things are in a parsed TOML file.
pub struct Layout {
    src: FileBytes,
    /// By leaf id.
    spans: Vec<LeafSpan>,
    /// The byte ranges of the `[sops…]` sections (contiguous ones merged).
    sops_sections: Vec<(usize, usize)>,
    /// The `sops` entry is an inline table or dotted keys, which a splice cannot cut out.
    sops_inline: bool,
    /// Every `[table]` / `[[array]]` header, in file order (for `set` and `unset`).
    headers: Vec<SectionHeader>,
    /// Where each `#` of a comment is (sorted).
    comment_hashes: Vec<usize>,
}

/// A table header: where its line starts, its keys, and whether it is `[[array]]`.
#[derive(Clone, Debug)]
pub(crate) struct SectionHeader {
    pub line_start: usize,
    pub keys: Vec<String>,
    pub array: bool,
}

impl Layout {
    /// The bytes the file was parsed from.
    pub(crate) fn source(&self) -> Option<&[u8]> {
        Some(&self.src)
    }
}

/// The TOML format behind the store contract.
pub struct TomlStore;

impl FormatStore for TomlStore {
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        parse(src)
    }

    super::hand_over_writes!(Layout);

    super::hand_over_line_edits!(Layout);

    fn splices_from_layout(&self, _parsed: &Parsed, _changes: &Changes) -> bool {
        true
    }
}
