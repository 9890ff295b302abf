//! File formats. Each store parses bytes into a [`Tree`] whose leaves remember their byte spans,
//! writes new leaf texts back into the original bytes ([`Store::splice`]), and can also emit a tree
//! from scratch the way sops lays it out ([`Store::emit`]).
//!
//! The `sops` metadata travels as a tree [`Value`] (a map), already unflattened for dotenv and INI.

pub mod binary;
mod changed;
#[cfg(test)]
mod contract_tests;
pub mod dotenv;
#[cfg(test)]
mod edit_tests;
pub mod flat;
mod format;
mod gojson;
mod handover;
pub mod ini;
pub mod json;
mod keyvalue;
mod lent;
mod path_edits;
mod plain;
mod source;
#[cfg(test)]
mod testutil;
mod text;
pub mod toml;
pub mod utf16;
pub mod yaml;

/// A source from this size on is read on two threads (YAML: its events beside the tree being
/// built; JSON's read-back of an output: in two halves; a JSON reading of an input is split from
/// a smaller size, `json/halves.rs`), for the readings made while the other core is idle. In the eighth
/// round a second thread saved no time measurably below 2 MiB; since the fifteenth, 1 MiB:
/// argo-cd's `install.yaml` (1.9 MB) is read in 26-28 ms instead of 32, the 10,000-value YAML
/// file's decryption (a 1.5 MB input) takes 26.1 ms instead of 28.8, and the JSON one's is
/// unchanged (docs/performance.md, fifteenth round).
pub(crate) const TWO_THREADS_FROM: usize = 1024 * 1024;

use std::fmt;

use crate::filebytes::FileBytes;
pub use crate::tree::{apply_changes, Changes, NewLeaf};
pub use changed::{same_as_changed, same_documents};

use crate::tree::{Scalar, Tree, Value};
use crate::treepath::Step;
pub use format::Format;
use handover::{hand_over_line_edits, hand_over_splice_from, hand_over_writes};

/// `out` (a splice) unless it is exactly `expected`; then it is wiped (a splice may hold
/// decrypted values).
fn unless_expected(out: Vec<u8>, expected: &[u8]) -> Option<Vec<u8>> {
    let mut out = crate::wipe::Wiped::new(out);
    (out.as_slice() != expected).then(|| std::mem::take(&mut *out))
}
pub(crate) use source::Layout;

/// Per-format output settings (`stores:` in `.sops.yaml`, or `--indent`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// YAML indent (spaces), or JSON indent (`-1` = tab). `None` = the format's default, or for a
    /// spliced file the indentation the file already uses.
    pub indent: Option<i64>,
}

/// A parse or write failure. `line` is 1-based where known. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub message: String,
    pub line: Option<usize>,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            line: None,
        }
    }

    pub fn at_line(message: impl Into<String>, line: usize) -> Self {
        StoreError {
            message: message.into(),
            line: Some(line),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError {
                line: Some(l),
                message,
            } => write!(f, "line {l}: {message}"),
            StoreError { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for StoreError {}

/// The 1-based line of byte `pos` (for the readers in `verify`).
pub(crate) fn text_line_of(src: &[u8], pos: usize) -> usize {
    text::line_of(src, pos.min(src.len()))
}

/// Refuse a CR that is not followed by LF (old Mac line endings, or a line hidden from readers
/// that split only on LF): readers of line-based formats disagree on where such a line ends, so
/// text both could read differently is never copied through.
pub(crate) fn refuse_lone_cr(src: &[u8]) -> Result<(), StoreError> {
    // Each CR found by memchr's vector search (most files have none, or only CRLFs).
    let lone =
        memchr::memchr_iter(b'\r', src).find(|&i| src.get(i + 1).is_none_or(|&b| b != b'\n'));
    match lone {
        Some(at) => Err(StoreError::at_line(
            "Could not unmarshal input data: a carriage return (CR) that is not followed by a line feed; readers disagree on where this line ends. Convert the file's line endings to LF or CRLF",
            text::line_of(src, at),
        )),
        None => Ok(()),
    }
}

/// A parsed file.
pub struct Parsed {
    pub tree: Tree,
    /// The `sops` entry, if the file has one (removed from `tree`).
    pub metadata: Option<Value>,
    pub(crate) layout: Layout,
    /// The source's encoding (YAML may be UTF-16): outputs are written back in it.
    pub(crate) encoding: utf16::TextEncoding,
}

impl Parsed {
    /// Whether this file's `sops` metadata may lack `version`: a TOML file, because rops (the
    /// other tool that writes encrypted TOML) writes none. sops refuses a file without a version
    /// in every format it reads, and so does sepal outside TOML.
    pub fn metadata_version_optional(&self) -> bool {
        self.layout.of::<toml::Layout>().is_ok()
    }
}

/// What [`FormatStore::lean_reading`] asks of each value it reads.
pub trait ValueCheck {
    /// A string value, as it is read (no copy made).
    fn text(&self, text: &str) -> bool;
    /// Any other value (a string where the format decodes it first).
    fn scalar(&self, value: &Scalar) -> bool;
}

/// What [`FormatStore::lean_reading`] gives.
pub struct Lean {
    /// The reading with an empty tree: its layout only (and no metadata).
    pub parsed: Parsed,
    /// The [`crate::tree::shape_digest`] of the tree the full reading gives.
    pub shape: [u8; 32],
    /// Every value passed the check.
    pub all_passed: bool,
    /// The text has a `sops` entry.
    pub has_metadata: bool,
}

/// What a file format implements. `parse` reads bytes into a tree whose leaves remember their
/// spans (in a `Layout` of the format's own type); `splice` writes new leaf texts back into
/// those bytes; `emit` lays a tree out from scratch as sops does; `set_at`/`unset_at` edit the
/// text at a path. [`Store`] adds what is the same for every format (the read-back checks, the
/// fallbacks, the output encoding); `stores/contract_tests.rs` is the suite every format passes.
pub trait FormatStore: Sync {
    /// Parse a file (plaintext or encrypted).
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError>;

    /// [`FormatStore::parse`] taking the bytes, for a format that keeps them.
    fn parse_owned(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        self.parse(&src)
    }

    /// [`FormatStore::parse_owned`] of a file that is to be decrypted once: a format may leave
    /// the data's `ENC[...]` values in the source, each an empty string in the tree that
    /// [`Parsed::lent_token`] gives back (JSON does).
    fn parse_owned_lending(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        self.parse_owned(src)
    }

    /// [`FormatStore::parse`] keeping no copy of `src`: the layout's source bytes stay empty
    /// until [`FormatStore::swap_source`] puts them in. `None` where the format has no such
    /// reading (then [`Store::parse_lent`] copies).
    fn parse_lent(&self, _src: &[u8]) -> Option<Result<Parsed, StoreError>> {
        None
    }

    /// [`FormatStore::parse_lent`] leaving the data's `ENC[...]` values in `src` as
    /// [`FormatStore::parse_owned_lending`] leaves them in its bytes: each an empty string in the
    /// tree, whose text [`Parsed::lent_token_from`] reads from `src` (the output check reads each
    /// where it is: on a large output a copy of every ciphertext was made and freed again).
    /// `None` where the format has no such reading.
    fn parse_lent_lending(&self, _src: &[u8]) -> Option<Result<Parsed, StoreError>> {
        None
    }

    /// Swap `src` with the source bytes `parsed`'s layout holds (to lend a reading of
    /// [`FormatStore::parse_lent`] its bytes, and to take them back). Whether the format did.
    fn swap_source(&self, _parsed: &mut Parsed, _src: &mut FileBytes) -> bool {
        false
    }

    /// Does `src` parse to the documents of `tree` with `changes` applied (comments and
    /// spellings aside)? A format may answer without building the second tree.
    fn reads_as_changed(&self, src: &[u8], tree: &Tree, changes: &Changes) -> bool {
        reads_in_full_as_changed(self, src, tree, changes)
    }

    /// The source bytes with `changes` applied, and the `sops` entry `metadata` (replacing any;
    /// none removes it).
    fn splice(
        &self,
        parsed: &Parsed,
        changes: &Changes,
        metadata: Option<&Value>,
        options: &StoreOptions,
    ) -> Result<Vec<u8>, StoreError>;

    /// [`FormatStore::splice`] of the source bytes `src`, for a reading of
    /// [`FormatStore::parse_lent`] that has not been lent them (so that `src` can be read
    /// elsewhere meanwhile). `None` where the format splices only its own bytes.
    fn splice_from(
        &self,
        _parsed: &Parsed,
        _src: &[u8],
        _changes: &Changes,
        _metadata: Option<&Value>,
        _options: &StoreOptions,
    ) -> Option<Result<Vec<u8>, StoreError>> {
        None
    }

    /// [`FormatStore::splice_from`], made only where it is not `expected`: `Ok(None)` when it is
    /// exactly `expected` (a format may tell without making it). `None` where the format splices
    /// only its own bytes.
    fn splice_from_unless(
        &self,
        parsed: &Parsed,
        src: &[u8],
        changes: &Changes,
        metadata: Option<&Value>,
        options: &StoreOptions,
        expected: &[u8],
    ) -> Option<Result<Option<Vec<u8>>, StoreError>> {
        let out = self.splice_from(parsed, src, changes, metadata, options)?;
        Some(out.map(|out| unless_expected(out, expected)))
    }

    /// A tree laid out from scratch, as sops lays it out.
    fn emit(
        &self,
        tree: &Tree,
        metadata: Option<&Value>,
        options: &StoreOptions,
    ) -> Result<Vec<u8>, StoreError>;

    /// One value, as `sops decrypt --extract` prints a non-string value.
    fn emit_value(&self, value: &Value, options: &StoreOptions) -> Result<Vec<u8>, StoreError>;

    /// The plaintext file with `value` set at `steps` by a text edit; `None` when this format
    /// cannot make the change textually.
    fn set_at(
        &self,
        parsed: &Parsed,
        steps: &[Step],
        value: &Value,
        options: &StoreOptions,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The plaintext file without the value at `steps` (which exists); `None` when this format
    /// cannot make the change textually.
    fn unset_at(&self, parsed: &Parsed, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The source bytes the file was parsed from (its text, for a UTF-16 file), when the format
    /// keeps them.
    fn source<'a>(&self, _parsed: &'a Parsed) -> Option<&'a [u8]> {
        None
    }

    /// Whether splicing `changes` into `parsed` reads its layout alone, so its tree may be freed
    /// before.
    fn splices_from_layout(&self, _parsed: &Parsed, _changes: &Changes) -> bool {
        false
    }

    /// Whether this format's splice of an encryption writes a large output on both processors
    /// (JSON's: `json/fill.rs`), so that nothing else should run beside it.
    fn splices_on_both_processors(&self) -> bool {
        false
    }

    /// A reading of `src` (an encrypted output) that keeps no tree: each value outside the
    /// `sops` entry handed to `check` where it is read, the layout kept for
    /// [`FormatStore::splice_from`]. `None` where the format reads only in full.
    fn lean_reading(
        &self,
        _src: &[u8],
        _check: &dyn ValueCheck,
    ) -> Option<Result<Lean, StoreError>> {
        None
    }

    /// The first place at or after byte `at` of `parsed`'s source where a part of it begins that
    /// every reader reads the same whatever comes before it (a YAML document's end, where the
    /// next one starts): a check of a file that differs from a checked one only before that
    /// place, and is the same after it, need read it only up to there. `None` where the format
    /// has no such parts.
    fn independent_from(&self, _parsed: &Parsed, _at: usize) -> Option<usize> {
        None
    }

    /// The last place at or before byte `at` of `src` (read as `parsed`) where a part of it begins
    /// that every reader reads the same whatever came before it (a YAML document that starts with
    /// `---`), else 0: a check of a file that is the same as a checked one up to `at` need read
    /// it only from there.
    fn independent_before(&self, _parsed: &Parsed, _src: &[u8], _at: usize) -> usize {
        0
    }

    /// Forget where `parsed`'s leaves are, keeping its source bytes (and [`FormatStore::source`]):
    /// for a file that is not spliced again. On a large file the spans are tens of megabytes.
    fn forget_leaf_spans(&self, _parsed: &mut Parsed) {}
}

/// [`FormatStore::reads_as_changed`] by a full reading of `src`: its tree, compared.
pub(crate) fn reads_in_full_as_changed<S: FormatStore + ?Sized>(
    store: &S,
    src: &[u8],
    tree: &Tree,
    changes: &Changes,
) -> bool {
    // The reading needs its tree only: no copy of the (plaintext) bytes is kept for it.
    store
        .parse_lent(src)
        .unwrap_or_else(|| store.parse(src))
        .is_ok_and(|back| same_as_changed(&back.tree, tree, changes))
}

/// One format, with its options.
#[derive(Clone, Copy, Debug)]
pub struct Store {
    pub format: Format,
    pub options: StoreOptions,
}

impl Store {
    pub fn new(format: Format, options: StoreOptions) -> Self {
        Store { format, options }
    }

    /// Parse a file (plaintext or encrypted).
    pub fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        self.format.store().parse(src)
    }

    /// [`Store::parse`] taking the bytes, so a store that keeps them need not copy them.
    pub fn parse_owned(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        self.format.store().parse_owned(src)
    }

    /// [`Store::parse_owned`] of a file that is to be decrypted once, maybe with its ciphertexts
    /// left in the source ([`FormatStore::parse_owned_lending`]); [`Parsed::restore_lent`]
    /// makes its tree the one [`Store::parse_owned`] gives, but for the leaves a decryption
    /// changed.
    pub fn parse_owned_lending(&self, src: FileBytes) -> Result<Parsed, StoreError> {
        self.format.store().parse_owned_lending(src)
    }

    /// Take the tree out once the cipher walk is done, when splicing `changes` with this
    /// format's [`Store::splice`] works from the layout alone: on large files the tree is the
    /// biggest part of the memory a command needs. The tree, when it was taken (for the caller
    /// to free).
    pub fn release_tree_before_splice(
        &self,
        parsed: &mut Parsed,
        changes: &Changes,
    ) -> Option<Tree> {
        self.format
            .store()
            .splices_from_layout(parsed, changes)
            .then(|| std::mem::take(&mut parsed.tree))
    }

    /// [`FormatStore::splices_on_both_processors`].
    pub fn splices_on_both_processors(&self) -> bool {
        self.format.store().splices_on_both_processors()
    }

    /// [`FormatStore::lean_reading`].
    pub fn lean_reading(
        &self,
        src: &[u8],
        check: &dyn ValueCheck,
    ) -> Option<Result<Lean, StoreError>> {
        self.format.store().lean_reading(src, check)
    }

    /// [`FormatStore::independent_from`], for a source in UTF-8 (the offsets of a UTF-16 one's
    /// reading are in its decoded text).
    pub fn independent_from(&self, parsed: &Parsed, at: usize) -> Option<usize> {
        if parsed.encoding != utf16::TextEncoding::Utf8 {
            return None;
        }
        self.format.store().independent_from(parsed, at)
    }

    /// [`FormatStore::independent_before`], for a source in UTF-8.
    pub fn independent_before(&self, parsed: &Parsed, src: &[u8], at: usize) -> usize {
        if parsed.encoding != utf16::TextEncoding::Utf8 {
            return 0;
        }
        self.format.store().independent_before(parsed, src, at)
    }

    /// [`FormatStore::forget_leaf_spans`]: `parsed` is not spliced again, only its source bytes
    /// are still wanted.
    pub fn forget_leaf_spans(&self, parsed: &mut Parsed) {
        self.format.store().forget_leaf_spans(parsed);
    }

    /// Write `parsed`'s source bytes with `changes` applied. With `metadata`, the file gets that
    /// `sops` entry (replacing any it had; appended to every YAML document); without, any `sops`
    /// entry is removed. Must be called on a [`Parsed`] from the same format.
    pub fn splice(
        &self,
        parsed: &Parsed,
        changes: &Changes,
        metadata: Option<&Value>,
    ) -> Result<Vec<u8>, StoreError> {
        let out = self
            .format
            .store()
            .splice(parsed, changes, metadata, &self.options)?;
        utf16::encode(out, parsed.encoding)
    }

    /// [`Store::splice`] of a reading by [`Store::parse_lent`] from the bytes `src` it was read
    /// from, without lending them to it (`src` may be read elsewhere meanwhile). `None` where the
    /// format cannot: then [`Store::with_source`] lends them.
    /// [`Store::splice_from`] made only where it is not `expected` (`Ok(None)`: it is exactly
    /// `expected`, and nothing of it is kept).
    pub fn splice_from_unless(
        &self,
        parsed: &Parsed,
        src: &[u8],
        changes: &Changes,
        metadata: Option<&Value>,
        expected: &[u8],
    ) -> Option<Result<Option<Vec<u8>>, StoreError>> {
        if parsed.encoding != utf16::TextEncoding::Utf8 {
            let out = self.splice_from(parsed, src, changes, metadata)?;
            return Some(out.map(|out| unless_expected(out, expected)));
        }
        self.format.store().splice_from_unless(
            parsed,
            src,
            changes,
            metadata,
            &self.options,
            expected,
        )
    }

    pub fn splice_from(
        &self,
        parsed: &Parsed,
        src: &[u8],
        changes: &Changes,
        metadata: Option<&Value>,
    ) -> Option<Result<Vec<u8>, StoreError>> {
        let out = self
            .format
            .store()
            .splice_from(parsed, src, changes, metadata, &self.options)?;
        Some(out.and_then(|out| utf16::encode(out, parsed.encoding)))
    }

    /// Emit a tree from scratch, laid out as sops lays it out (used when the output format differs
    /// from the input format, and for `--extract` of a map).
    pub fn emit(&self, tree: &Tree, metadata: Option<&Value>) -> Result<Vec<u8>, StoreError> {
        // Shadowed values (an INI key's earlier occurrences) are dropped, as sops drops them.
        let unshadowed;
        let tree = if tree_has_shadowed(tree) {
            unshadowed = Tree {
                docs: tree
                    .docs
                    .iter()
                    .map(|d| crate::tree::Doc {
                        items: crate::tree::without_shadowed(&d.items),
                    })
                    .collect(),
            };
            &unshadowed
        } else {
            tree
        };
        self.format.store().emit(tree, metadata, &self.options)
    }

    /// Emit a single value the way `sops decrypt --extract` prints a non-string value.
    pub fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        self.format.store().emit_value(value, &self.options)
    }
}

fn tree_has_shadowed(tree: &Tree) -> bool {
    let mut any = false;
    for d in &tree.docs {
        crate::tree::for_each_leaf(&d.items, &mut |l| any |= l.shadowed);
    }
    any
}
