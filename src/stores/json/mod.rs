//! JSON store: a span-tracking scanner for lossless splicing and text edits, and an emitter that
//! lays files out exactly as sops does (Go `json.Marshal` + `json.Indent`).

use zeroize::Zeroizing;

pub(crate) mod edit;
mod emit;
mod parse;
mod scanner;
mod splice;

pub(crate) use emit::emit_items;
pub use emit::{emit, emit_value};
pub use parse::{parse, parse_owned};
pub(crate) use parse::{parse_top, TopObject};
pub use splice::splice;

/// Where things are in a parsed JSON file.
pub struct Layout {
    src: Zeroizing<Vec<u8>>,
    /// Byte range of every leaf's token, by leaf id.
    leaf_spans: Vec<(usize, usize)>,
    /// Position of the top-level `{`.
    open_brace: usize,
    /// Top-level members in file order.
    members: Vec<Member>,
    /// Index in `members` of the `sops` entry.
    sops_member: Option<usize>,
}

/// Where a top-level member is.
#[derive(Clone, Copy, Debug)]
struct Member {
    key_start: usize,
    value_start: usize,
    value_end: usize,
}
