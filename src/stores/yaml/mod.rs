//! The lossless YAML store.
//!
//! Parsing uses granit-parser's event stream (exact byte spans for scalars, brackets and
//! comments). Every scalar and comment becomes a leaf whose span is remembered in [`Layout`], so
//! that [`splice`] can rewrite only the leaves that changed and keep everything else byte for
//! byte. [`emit`] writes a tree from scratch with go-yaml v3's layout, as sops prints it.
//!
//! Comment placement follows what go-yaml's parser does, as far as the *containing map or list*
//! is concerned (that container gives the comment's AAD): an inline comment belongs to the
//! container of the token before it on its line; an own-line comment indented deeper than the
//! next token belongs to the innermost container of the content before it (a "foot" comment),
//! otherwise to the container of the next token (a "head" comment).
//!
//! The stages, in order (one module each):
//! * reading: `events` turns the parser's events into a raw `node` tree over the `source` text
//!   (with `goyaml_headers` for go-yaml's block headers that parsers refuse);
//! * parsing: `parse` gives each comment its container (`comments`), takes the `sops` entry out
//!   (`metadata`) and converts the rest (`convert`, `typing`, `scalar_span`, within the alias
//!   budget of `expansion`), recording the `layout`;
//! * writing back: `splice` collects `edits`, each leaf written by the `writer`; `edit` does
//!   `set`/`unset` the same way;
//! * writing from scratch: `emitter`, with go-yaml's `style` choice and `scalar_text` forms
//!   (`resolve` says how a plain scalar reads back).

mod comments;
mod convert;
pub(crate) mod edit;
mod edit_text;
mod edits;
mod emitter;
mod events;
mod expansion;
mod fast;
mod feed;
mod goyaml_headers;
mod layout;
mod metadata;
mod node;
mod parse;
mod readback;
mod resolve;
mod scalar_span;
mod scalar_text;
mod source;
mod splice;
mod style;
#[cfg(test)]
mod tests;
mod typing;
mod writer;

pub use self::emitter::{emit, emit_value};
pub use self::fast::Disagreement;
pub use self::layout::Layout;
pub use self::parse::{parse, parse_lent, parse_owned};
pub use self::splice::splice;

/// The fast reading against granit-parser's on `text` (for the fuzz target): `Ok(true)` when
/// it read the whole text.
pub fn fast_reading_compared(text: &str) -> Result<bool, fast::Disagreement> {
    fast::compare_with_full(text)
}

use super::{utf16, Changes, FormatStore, Parsed, StoreError, StoreOptions};
use crate::filebytes::FileBytes;
use crate::tree::{NewLeaf, Scalar, Tree, Value};
use crate::treepath::Step;
use crate::wipe::Wiped;

/// Every YAML file of the corpus (`tests/corpus`, all its folders), for the tests that read
/// them all.
#[cfg(test)]
pub(crate) fn corpus_yaml_files() -> Vec<std::path::PathBuf> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 100, "corpus YAML files: {}", files.len());
    files.sort();
    files
}

/// The YAML format behind the store contract. A UTF-16 file (with a byte-order mark) is read as
/// its UTF-8 text and written back in UTF-16.
pub struct YamlStore;

/// The event-by-event read-back comparison alone (for the fuzz target that checks it against the
/// full reading).
pub(crate) fn readback_confirms(src: &[u8], tree: &Tree, changes: &Changes) -> bool {
    readback::confirms(src, tree, changes)
}

impl FormatStore for YamlStore {
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        let Some(decoded) = utf16::decode(src) else {
            return parse(src);
        };
        let (utf8, encoding) = decoded.map_err(|e| StoreError::new(e.to_string()))?;
        let mut parsed = parse_owned(Wiped::new(utf8).into())?;
        parsed.encoding = encoding;
        Ok(parsed)
    }

    fn parse_owned(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        // A UTF-16 byte order mark: the text is decoded into new bytes anyway.
        if src.starts_with(&[0xFF, 0xFE]) || src.starts_with(&[0xFE, 0xFF]) {
            return self.parse(&src);
        }
        parse_owned(src)
    }

    fn parse_owned_lending(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        if src.starts_with(&[0xFF, 0xFE]) || src.starts_with(&[0xFE, 0xFF]) {
            return self.parse(&src);
        }
        parse::parse_owned_lending(src)
    }

    fn parse_lent(&self, src: &[u8]) -> Option<Result<Parsed, StoreError>> {
        // UTF-16 text is decoded into new bytes, which the layout keeps.
        utf16::decode(src).is_none().then(|| parse_lent(src))
    }

    fn parse_lent_lending(&self, src: &[u8]) -> Option<Result<Parsed, StoreError>> {
        utf16::decode(src)
            .is_none()
            .then(|| parse::parse_lent_lending(src))
    }

    fn swap_source(&self, parsed: &mut Parsed, src: &mut FileBytes) -> bool {
        super::source::swap_layout_source::<Layout>(parsed, src, |l| &mut l.src)
    }

    fn reads_as_changed(&self, src: &[u8], tree: &Tree, changes: &Changes) -> bool {
        // Event by event when that confirms it; else the full reading decides.
        readback::confirms(src, tree, changes)
            || super::reads_in_full_as_changed(self, src, tree, changes)
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

    fn splices_from_layout(&self, parsed: &Parsed, changes: &Changes) -> bool {
        // The tree is read for expanded aliases (their unchanged leaves) and for lists of
        // comments (a decrypted comment that was a list's only element).
        parsed
            .layout
            .of::<Layout>()
            .is_ok_and(|l| l.aliases.is_empty())
            && !changes.iter().flatten().any(|c| {
                matches!(
                    c,
                    NewLeaf::Plain {
                        value: Scalar::Comment(_),
                        ..
                    }
                )
            })
    }

    fn independent_from(&self, parsed: &Parsed, at: usize) -> Option<usize> {
        // Documents are read one after the other, each from the same state: nothing a document
        // holds (directives, anchors, an unclosed scalar: that is an error) reaches the next.
        let layout = parsed.layout.of::<Layout>().ok()?;
        layout.docs.iter().map(|d| d.end).find(|&end| end >= at)
    }

    fn independent_before(&self, parsed: &Parsed, src: &[u8], at: usize) -> usize {
        // A document that starts with its `---` reads as a stream of its own would: in the stream
        // the one before it ended there without a `...` (after which directives may follow).
        let Ok(layout) = parsed.layout.of::<Layout>() else {
            return 0;
        };
        let starts_document = |end: usize| {
            src.get(end..).is_some_and(|rest| {
                rest.starts_with(b"---")
                    && matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
            })
        };
        layout
            .docs
            .iter()
            .map(|d| d.end)
            .take_while(|&end| end <= at)
            .filter(|&end| end > 0 && starts_document(end))
            .last()
            .unwrap_or(0)
    }

    fn forget_leaf_spans(&self, parsed: &mut Parsed) {
        if let Some(layout) = parsed.layout.of_mut::<Layout>() {
            layout.spans = Vec::new();
            layout.aliases = Vec::new();
        }
    }
}
