//! INI store: gopkg.in/ini.v1's reading semantics (as sops configures it: non-unique sections), a
//! lossless layout for splicing and text edits, and an emitter reproducing ini.v1's writer.

use super::text::line_of;
use super::{Changes, FormatStore, Parsed, StoreError, StoreOptions};
use crate::filebytes::FileBytes;
use crate::tree::{Tree, Value};
use crate::treepath::Step;

mod edit;
mod emit;
mod parse;
mod quote;
mod splice;
#[cfg(test)]
mod tests;
mod value;

pub(crate) use edit::{set_at, unset_at};
pub use emit::{emit, emit_value};
pub use parse::parse;
pub use splice::splice;

const PARSE_PREFIX: &str = "Could not unmarshal input data: ";

/// A parse error at the line holding byte `pos` (the message never holds the line's text).
fn parse_error(src: &[u8], pos: usize, message: &str) -> StoreError {
    StoreError::at_line(format!("{PARSE_PREFIX}{message}"), line_of(src, pos))
}

/// How a value token is written in the source.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Quoting {
    Raw,
    /// `"…"` (unwrapped by ini.v1)
    DoubleQuoted,
    /// `'…'`
    SingleQuoted,
    /// `` `…` `` (may span lines)
    Backticks,
    /// `"""…"""` (may span lines)
    TripleQuoted,
    /// A value continued with `\` over several lines.
    Continued,
}

/// Where a value token is.
#[derive(Clone, Debug)]
struct ValueSpan {
    /// The value's text (inside quotes when quoted).
    inner: (usize, usize),
    /// The whole token, quotes included.
    outer: (usize, usize),
    quoting: Quoting,
}

/// One physical piece of a comment.
#[derive(Clone, Debug)]
struct CommentPiece {
    /// Content (from the marker to the end of the line's text, trailing blanks excluded).
    content: (usize, usize),
    /// What to delete to remove the piece: the whole line (with its line break) for a comment
    /// line, or the inline comment with the blanks before it.
    removal: (usize, usize),
    inline: bool,
    /// An inline comment after a section header (cannot hold `]`, so never rewritten in place).
    after_header: bool,
    /// Line start of the line the piece sits on (for inline pieces: the key/header line).
    line_start: usize,
}

/// Where a comment (one leaf, made of one or more pieces) is.
#[derive(Clone, Debug)]
struct CommentLocation {
    pieces: Vec<CommentPiece>,
    /// Where the comment's text (after the stripped marker run) begins.
    text_start: usize,
}

/// Where a leaf is: a key's value (every occurrence of it), or a comment.
enum LeafLocation {
    Value(Vec<ValueSpan>),
    Comment(CommentLocation),
}

/// Where things are in a parsed INI file.
pub struct Layout {
    src: FileBytes,
    /// By leaf id.
    leaf_locations: Vec<LeafLocation>,
    /// Byte range of the `[sops]` section (header through its last key line, line break included).
    sops_section: Option<(usize, usize)>,
    crlf: bool,
    /// Per section of the tree (in order): header line start (or where the implicit `DEFAULT`
    /// section starts) and the end of its last key line (line break included).
    section_ranges: Vec<(usize, usize)>,
}

impl Layout {
    /// The bytes the file was parsed from.
    pub(crate) fn source(&self) -> Option<&[u8]> {
        Some(&self.src)
    }

    /// The line break the file uses.
    fn newline(&self) -> &'static str {
        if self.crlf {
            "\r\n"
        } else {
            "\n"
        }
    }
}

/// The INI format behind the store contract.
pub struct IniStore;

impl FormatStore for IniStore {
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        parse(src)
    }

    super::hand_over_writes!(Layout);

    super::hand_over_line_edits!(Layout);

    fn splices_from_layout(&self, _parsed: &Parsed, _changes: &Changes) -> bool {
        true
    }
}
