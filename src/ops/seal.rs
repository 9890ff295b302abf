//! Sealing a file: encrypt its values, stamp `lastmodified`, encrypt the MAC under it, lay the
//! result out and check that every byte of it is accounted for. The one place a tree becomes an
//! encrypted file, for new files and re-encrypted ones alike.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::crypto::cipher::{self, DataKey};
use crate::gotext::format_go_time;
use crate::metadata::{Metadata, SOPS_VERSION};
use crate::stores::{apply_changes, Changes, Format, NewLeaf, Parsed, Store};
use crate::tree::shape_digest;
use crate::tree::Scalar;
use crate::tree::Tree;
use crate::verify::{Allowed, OwnReading};
use crate::walk::{decrypt_tree, visit_leaves, walk, Mode, Selection, Stash};

use super::early::{EarlyOutput, EarlyWrite};
use super::shape::{DigestTo, Shape};
use super::{layout_record, Error, Result};

/// Now, UTC, second precision, RFC 3339 as Go writes it.
pub fn now() -> String {
    let t = OffsetDateTime::now_utc();
    format_go_time(t.replace_nanosecond(0).unwrap_or(t))
}

/// `lastmodified` re-formatted as Go's RFC 3339 (no fraction, offset kept): the MAC's AAD.
pub fn reformat_time(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let t = t.replace_nanosecond(0).ok()?;
    Some(format_go_time(t))
}

/// Stamp `lastmodified` and encrypt the MAC under it.
pub fn seal_metadata(meta: &mut Metadata, key: &DataKey, mac: &str) -> Result<()> {
    meta.last_modified = now();
    let enc = cipher::encrypt(key, mac.as_bytes(), "str", &meta.last_modified, None)
        .map_err(Error::EncryptMac)?;
    meta.mac = enc.to_string();
    Ok(())
}

/// Where an encrypted file's bytes come from.
pub struct Output<'a> {
    /// The store the plaintext was parsed with: the output is spliced into its bytes.
    pub store: &'a Store,
    /// The store to write; when it differs from `store` the file is laid out from scratch.
    pub out_store: &'a Store,
    /// The file, as named in messages.
    pub file: &'a str,
    /// A new file: layout failures are "dumping" errors, as sops words them.
    pub new_file: bool,
    /// Where the output may be written as soon as it is checked, beside the rest of the
    /// encryption ([`super::early`]); `None`: it is only returned.
    pub early: Option<&'a Arc<dyn EarlyOutput>>,
}

/// Which tree holds the plaintext values.
#[derive(Clone, Copy)]
pub enum Plain<'a> {
    /// The parsed file itself is plaintext (encrypt, edit, set).
    Parsed,
    /// The parsed file is the encrypted one; its values are in this tree (rotate).
    Tree(&'a Tree),
}

impl<'a> Plain<'a> {
    fn tree(self, parsed: &'a Parsed) -> &'a Tree {
        match self {
            Plain::Parsed => &parsed.tree,
            Plain::Tree(t) => t,
        }
    }
}

/// A TOML file rops wrote (no `version`) is written back in sops's format, as sepal writes TOML:
/// with this version, and with sops's default selection where rops had none (rops then encrypts
/// every value). A value that default would leave in clear stops the rewrite.
/// Whether the file was rops's.
fn adopt_rops_metadata(meta: &mut Metadata, tree: &Tree, file: &str) -> Result<bool> {
    if !meta.without_version() {
        return Ok(false);
    }
    if matches!(meta.selection, None | Some(Selection::All)) {
        let default = Selection::default();
        let mut in_clear = None;
        for doc in &tree.docs {
            visit_leaves(&doc.items, &mut |_, path, comments, is_comment| {
                if in_clear.is_none()
                    && !is_comment
                    && !default.should_encrypt(path, comments, false)
                {
                    in_clear = Some(path.iter().map(|k| format!("[{k:?}]")).collect::<String>());
                }
            });
        }
        if let Some(path) = in_clear {
            return Err(Error::RopsSelection {
                file: file.to_string(),
                path,
            });
        }
        meta.selection = Some(default);
    }
    meta.version = SOPS_VERSION.to_string();
    Ok(true)
}

/// rops 0.1.7 encrypted empty strings (`data:,`); sops's format leaves them in clear, so a
/// rewrite writes each one as an empty string where the encryption left it unchanged.
fn write_empty_strings(tree: &Tree, changes: &mut Changes) {
    for doc in &tree.docs {
        crate::tree::for_each_leaf(&doc.items, &mut |leaf| {
            if matches!(&leaf.value, Scalar::Str(s) if s.is_empty()) {
                if let Some(slot @ None) = changes.get_mut(leaf.id) {
                    *slot = Some(NewLeaf::Plain {
                        value: leaf.value.clone(),
                        text: crate::tree::secret(""),
                    });
                }
            }
        });
    }
}

/// Encrypt the plaintext values of `parsed` with `key` under `meta`'s options, seal the MAC, and
/// return the output bytes, checked by [`crate::verify`]. `parsed`'s tree is freed once the output
/// is spliced (it is not used again). Values seen in `stash` keep their
/// ciphertext when unchanged. When decrypting the output would not give the plaintext's exact
/// bytes back, the metadata gets a layout record ([`super::layout_record`]) that does.
pub fn reencrypt(
    parsed: &mut Parsed,
    plain: Plain<'_>,
    key: &DataKey,
    meta: &mut Metadata,
    stash: &mut Stash,
    output: Output<'_>,
) -> Result<Vec<u8>> {
    let from_rops = adopt_rops_metadata(meta, plain.tree(parsed), output.file)?;
    let selection = meta.selection.clone().unwrap_or(Selection::All);
    let same_format = output.store.format == output.out_store.format;
    // A record is made from the plaintext's own bytes (a rotation keeps the one it has).
    let with_record = same_format && matches!(plain, Plain::Parsed);
    if with_record || !same_format {
        meta.layout_record = None;
    }
    let (mut result, allowed) = {
        let tree = plain.tree(parsed);
        let mode = if with_record {
            Mode::ENCRYPT_WITH_VIEW
        } else {
            Mode::ENCRYPT
        };
        let mut result = walk(tree, key, &selection, meta.mac_only_encrypted, stash, mode)
            .map_err(|e| Error::EncryptTree {
                file: output.file.to_string(),
                source: e,
            })?;
        super::free::give_back_freed_pages();
        if from_rops {
            write_empty_strings(tree, &mut result.changes);
        }
        let allowed = Allowed::from_changes(tree, &result.changes);
        (result, allowed)
    };
    seal_metadata(meta, key, &result.mac)?;
    let layout_error = |e| {
        if output.new_file {
            Error::Dump(e)
        } else {
            Error::Marshal(e)
        }
    };
    if !same_format {
        let tree = apply_changes(plain.tree(parsed), &result.changes);
        drop(std::mem::take(&mut result.changes));
        let out = output
            .out_store
            .emit(&tree, Some(&meta.to_value()))
            .map_err(layout_error)?;
        verify(output.out_store, &out, &allowed, output.file)?;
        return Ok(out);
    }
    // The plaintext tree's shape, digested here where the splice reads the tree, else beside the
    // splice, or, where the splice uses both processors, on the independent reading's thread
    // before it reads the output ([`super::shape`]).
    let released = with_record.then(|| {
        output
            .store
            .release_tree_before_splice(parsed, &result.changes)
    });
    let (shape, tree) = match released {
        None => (None, None),
        // A large tree is still freed beside a splice on both processors: kept through the
        // splice, the 200,000-value JSON file's peak grew by a tenth.
        Some(Some(tree))
            if output.store.splices_on_both_processors()
                && !large_tree(result.changes.len(), output.store.source(parsed)) =>
        {
            (Some(Shape::later()), Some(tree))
        }
        Some(Some(tree)) => (Some((Shape::beside(tree), None)), None),
        Some(None) => (
            Some((Shape::ready(Some(shape_digest(&parsed.tree))), None)),
            None,
        ),
    };
    let out = output
        .store
        .splice(parsed, &result.changes, Some(&meta.to_value()))
        .map_err(layout_error)?;
    // What the plaintext's tree and the ciphertexts free after the splice, sepal's reading of the
    // output allocates where that reading builds a tree (JSON's does not: kept, its pages only
    // raised the peak) and the output is large: kept until that reading is done.
    let kept = (output.store.format != Format::Json && out.len() >= KEEP_FREED_MIN)
        .then(super::free::KeptFreedPages::start);
    // The ciphertexts are in the output now: their copies are not needed again, nor is the
    // plaintext's tree (what follows needs its bytes, not its tree).
    let tree = tree.unwrap_or_else(|| std::mem::take(&mut parsed.tree));
    let ciphertexts = std::mem::take(&mut result.changes);
    // Only the plaintext's bytes are wanted from here on, not where its leaves are.
    output.store.forget_leaf_spans(parsed);
    let Some((shape, digest_to)) = shape.map(|(shape, to)| (shape.freed(), to)) else {
        drop((ciphertexts, tree));
        verify(output.store, &out, &allowed, output.file)?;
        drop(kept);
        return Ok(out);
    };
    // What is no longer needed is freed beside what follows, all of it before this returns.
    let mut freer = super::free::Freer::default();
    // Written as soon as both readings of the check pass, where `output.early` can be.
    let mut out = EarlyWrite::start(out, output.early);
    let check = RecordCheck {
        store: output.store,
        key,
        selection: &selection,
        mac_only_encrypted: meta.mac_only_encrypted,
        shape: &shape,
        view: &result.decrypted_view,
        allowed: &allowed,
        file: output.file,
    };
    // The output with a record, once the record is known: its `sops` entry replaced (the
    // reading of the output knows where the entry is; the ciphertexts stay as they are), and
    // checked. Both readings found `out` accounted for; of the output with the record, what
    // differs from it is read again (for a YAML stream, the documents up to the last one the
    // entry changed).
    let mut finish = |record: String, reading: &Parsed, out: &[u8]| -> Result<Vec<u8>> {
        meta.layout_record = Some(record);
        let metadata = meta.to_value();
        let store = output.store;
        let with_record = store
            .splice_from(reading, out, &[], Some(&metadata))
            .unwrap_or_else(|| store.splice(reading, &[], Some(&metadata)))
            .map_err(layout_error)?;
        let changed = changed_part(store, reading, out, &with_record);
        verify(store, &with_record[changed], &allowed, output.file)?;
        Ok(with_record)
    };
    let spent = Spent {
        ciphertexts,
        tree,
        digest_to,
        kept,
    };
    let finished = check.record(parsed, spent, &mut out, &mut freer, &mut finish)?;
    match finished {
        Some(with_record) => Ok(with_record),
        None => {
            // A record made and then left (the splice did not read back) is not kept.
            meta.layout_record = None;
            // The view (wiped) goes while the freer's thread frees the reading (and the output
            // is written, where it is written early).
            drop(result);
            drop(freer);
            Ok(out.keep())
        }
    }
}

/// What makes the output with a record once the record is known, and checks it: given the
/// record, sepal's reading of the output without it, and that output.
type Finish<'f> = dyn FnMut(String, &Parsed, &[u8]) -> Result<Vec<u8>> + 'f;

/// What the check frees: the walk's ciphertexts and the plaintext's tree, on the independent
/// reading's thread before it reads the output; where `digest_to` is given, that thread first
/// digests the tree's shape and sends it there. The freed pages `kept` are given back once
/// sepal's own reading is done.
struct Spent {
    ciphertexts: Vec<Option<NewLeaf>>,
    tree: Tree,
    digest_to: DigestTo,
    kept: Option<super::free::KeptFreedPages>,
}

/// Whether an encrypted output needs a layout record, and which.
struct RecordCheck<'a> {
    store: &'a Store,
    key: &'a DataKey,
    selection: &'a Selection,
    mac_only_encrypted: bool,
    /// The plaintext tree's [`shape_digest`], when it is known (else the output is decrypted to
    /// tell what its decryption gives): asked for once sepal's own reading of the output is done.
    shape: &'a Shape,
    /// What decrypting each encrypted leaf gives (from the cipher walk, without decrypting).
    view: &'a Changes,
    /// The values the output may hold, and the file's name (for the check's errors).
    allowed: &'a Allowed,
    file: &'a str,
}

impl RecordCheck<'_> {
    /// Check `out` (the encryption of `parsed`) as [`verify`] does, and give the record that makes
    /// its decryption the plaintext's exact bytes, if it needs one, with sepal's reading of `out`
    /// (which keeps no copy of it: `out` is lent to it for a moment and given back unchanged,
    /// an early write of it taken back first). Each reading tells `out`'s gate its verdict.
    /// `spent` (the walk's ciphertexts and the plaintext's tree) is freed while the independent
    /// reading runs; the freed pages `kept` are given back once sepal's own reading is done.
    fn record(
        &self,
        parsed: &Parsed,
        spent: Spent,
        out: &mut EarlyWrite,
        freer: &mut super::free::Freer,
        finish: &mut Finish<'_>,
    ) -> Result<Option<Vec<u8>>> {
        let (allowed, unaccounted) = (self.allowed, unaccounted(self.store, self.file));
        let format = self.store.format;
        // The output's tree holds every ciphertext: on a large output it is freed before the
        // splice that tells whether a record is needed (needed again only when one is).
        let (bytes, gate) = (out.bytes(), out.gate());
        let original = self.store.source(parsed);
        let may_release = bytes.len() >= RELEASE_MIN;
        // The independent reading of the output shares nothing with the rest of the check: it
        // runs on a second thread from the start, beside sepal's own reading.
        let told = |passed, teller| match teller {
            crate::verify::Teller::Ending => gate.tell(passed),
            crate::verify::Teller::GoingOn => gate.tell_going_on(passed),
        };
        let Spent {
            ciphertexts,
            tree,
            digest_to,
            kept,
        } = spent;
        // Before the independent reading, on its thread: the shape's digest where it is to be
        // made there, then the tree freed, and the walk's ciphertexts (an encryption's changes
        // hold nothing else that is not empty; all of it in the output now). Where the digest is
        // made elsewhere, the ciphertexts are freed as sepal's own reading starts (so that they
        // are gone before it allocates much), those of a large output on a thread of their own
        // (freed before its reading, they held it back by a sixth of its time; fourteenth round).
        let (there, here) = match digest_to {
            Some(_) => (ciphertexts, Vec::new()),
            None => (Vec::new(), ciphertexts),
        };
        let first = move || {
            super::shape::send_digest(digest_to, tree);
            drop(there);
        };
        let (own, independent) = crate::verify::independent_reading_beside_with(
            format,
            bytes,
            allowed,
            told,
            first,
            || {
                let large =
                    !here.is_empty() && super::free::worth_a_thread(here.len(), bytes.len());
                super::free::free_unwaited(here, large);
                // What decrypting the output gives is worked out without decrypting when its
                // leaves are the input's under the same ids (no alias was expanded). A reading
                // without a tree counts as one whose tree is released.
                let own = crate::verify::own_reading_of(format, bytes, allowed);
                drop(kept);
                gate.tell_going_on(own.is_ok());
                let (encrypted, same_shape, released) = match own? {
                    OwnReading::Lean { parsed, shape } => {
                        (parsed, Some(shape) == self.shape.digest(), true)
                    }
                    OwnReading::Full(mut encrypted) => {
                        // The values the view leaves as they are, as a reading that copies
                        // them gives them (what the view changes is never read).
                        encrypted.restore_lent_from(self.view, bytes);
                        let expected = self.shape.digest();
                        let same_shape =
                            expected.is_some() && Some(shape_digest(&encrypted.tree)) == expected;
                        let released = same_shape
                            && may_release
                            && self
                                .store
                                .release_tree_before_splice(&mut encrypted, self.view)
                                .map(|tree| freer.free(tree, true))
                                .is_some();
                        (encrypted, same_shape, released)
                    }
                };
                // The splice of the view, beside the independent reading too where the format
                // splices from bytes it is given (the output is being read there meanwhile),
                // made only where it is not the original (`Ok(None)`).
                let from_view = same_shape
                    .then(|| {
                        let original = original.unwrap_or_default();
                        self.store
                            .splice_from_unless(&encrypted, bytes, self.view, None, original)
                    })
                    .flatten()
                    .map(|spliced| spliced.map(|s| s.map(crate::wipe::Wiped::new)));
                Ok((encrypted, same_shape, released, from_view))
            },
        );
        let (mut encrypted, same_shape, released, from_view) = own.map_err(&unaccounted)?;
        independent.map_err(&unaccounted)?;
        let Some(original) = original else {
            return Ok(None);
        };
        // Else spliced here, with the output lent to the reading.
        let from_view = from_view.or_else(|| {
            same_shape.then(|| {
                self.store
                    .with_source(&mut encrypted, out.bytes_mut(), |encrypted| {
                        self.store
                            .splice(encrypted, self.view, None)
                            .map(crate::wipe::Wiped::new)
                    })
                    .map(|spliced| (spliced.as_slice() != original).then_some(spliced))
            })
        });
        let from_view = match from_view {
            Some(Ok(None)) => {
                // The view's splice is the original. Sepal's reading of the output (nothing in
                // it is not in the output) is freed beside the rest.
                let large = super::free::worth_a_thread(self.view.len(), out.bytes().len());
                super::free::free_unwaited(encrypted, large);
                return Ok(None);
            }
            Some(Ok(Some(spliced))) => Some(Ok(spliced)),
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        if released {
            // A record is needed after all: the reading's tree again (the same bytes read the
            // same way), for the check that the view's splice reads back as the data.
            let Ok(again) = self.store.parse_lent(out.bytes()) else {
                return Ok(None);
            };
            encrypted = again;
        }
        let spliced = match from_view {
            // The splice `decrypt` will make is that one when it reads back as the data (the
            // view is what the decryption of each value gives).
            Some(Ok(spliced)) => {
                let done =
                    self.record_and_check(&spliced, original, &encrypted, out.bytes(), finish);
                if let Some(done) = done {
                    // The output's reading holds what the output does (on disk soon): freed
                    // without waiting, while the output is written.
                    super::free::free_unwaited(encrypted, self.view.len() >= super::free::LARGE);
                    return done;
                }
                self.store.plain_from_scratch(&encrypted, self.view, None)
            }
            Some(Err(e)) => self
                .store
                .plain_from_splice(&encrypted, self.view, None, Err(e)),
            None => {
                // Not the input's shape (an alias expanded, say): exactly as `decrypt` will do
                // it, from every ciphertext.
                encrypted.restore_lent_from(&Vec::new(), out.bytes());
                let Ok(decrypted) = decrypt_tree(
                    &encrypted.tree,
                    self.key,
                    self.selection,
                    self.mac_only_encrypted,
                    &mut Stash::off(),
                ) else {
                    return Ok(None);
                };
                self.store
                    .with_source(&mut encrypted, out.bytes_mut(), |encrypted| {
                        self.store.splice_plain(encrypted, &decrypted.changes, None)
                    })
            }
        };
        let Ok(spliced) = spliced else {
            return Ok(None);
        };
        let spliced = crate::wipe::Wiped::new(spliced);
        let done = match layout_record::make(&spliced, original, self.key) {
            Some(record) => finish(record, &encrypted, out.bytes()).map(Some),
            None => Ok(None),
        };
        super::free::free_unwaited(encrypted, self.view.len() >= super::free::LARGE);
        done
    }

    /// The output with the record from `spliced` (what splicing the view into `encrypted`, the
    /// reading of `out`, gave) to `original`, made and checked by `finish` (`None` inside: no
    /// record is needed), when `spliced` reads back as the data; `None` where it does not (then
    /// `decrypt` lays the values out from scratch instead, and the record would not fit). On a
    /// large file the read-back runs beside the record's making and checking, whose outcome is
    /// dropped when it does not read back.
    fn record_and_check(
        &self,
        spliced: &[u8],
        original: &[u8],
        encrypted: &Parsed,
        out: &[u8],
        finish: &mut Finish<'_>,
    ) -> Option<Result<Option<Vec<u8>>>> {
        let reads_back = || self.store.reads_back(spliced, &encrypted.tree, self.view);
        let mut made = || match layout_record::make(spliced, original, self.key) {
            Some(record) => finish(record, encrypted, out).map(Some),
            None => Ok(None),
        };
        if spliced.len() < crate::verify::BESIDE_MIN {
            return reads_back().then(made);
        }
        std::thread::scope(|scope| {
            let check = crate::threads::spawn_scoped(scope, reads_back);
            let done = made();
            check.join().unwrap_or(false).then_some(done)
        })
    }
}

/// Whether the plaintext's tree is large enough to be freed beside the splice, whatever the
/// splice's threads: many leaves, or a large source (a tree of few leaves may hold large values).
fn large_tree(leaves: usize, source: Option<&[u8]>) -> bool {
    leaves >= super::free::LARGE || source.map_or(0, <[u8]>::len) >= SHAPE_LATER_BELOW
}

/// Sources from this size on have their tree freed beside the splice (see [`large_tree`]).
const SHAPE_LATER_BELOW: usize = 2 << 20;

/// Outputs at least this large keep the pages the plaintext's tree frees for sepal's own reading
/// of them (200,000 YAML values: 12,000 fewer page faults, 9-13 ms). A 10,000-value YAML
/// encryption (a 1.5 MB output) gained no time from it, and once the output's two readings ran
/// at once (`crate::threads`) its peak passed rops's in some runs (up to 15.8 MiB against 14.4).
const KEEP_FREED_MIN: usize = 4 << 20;

/// Outputs at least this large have their reading's tree freed before the exactness check (where
/// the format splices without it). Every output in unit tests, so that those paths are tested on
/// small files (the command-line tests run the other).
const RELEASE_MIN: usize = if cfg!(test) { 1 } else { 8 << 20 };

/// Which part of `after` (a checked output `before`, read as `reading`, with something in it
/// rewritten) a check must read again: from where the bytes that are the same at the start of
/// both are followed by a part read independently of what is before it (else from the start),
/// up to where the bytes that are the same at the end of both begin to be read independently of
/// what is before them (else to the end). The rest is the same bytes, read the same way, as in
/// `before`.
fn changed_part(
    store: &Store,
    reading: &Parsed,
    before: &[u8],
    after: &[u8],
) -> std::ops::Range<usize> {
    let same_tail = super::record_diff::common_suffix_len(before, after);
    let to = match store.independent_from(reading, before.len() - same_tail) {
        Some(from) if from <= before.len() && before.len() - from <= same_tail => {
            after.len() - (before.len() - from)
        }
        _ => after.len(),
    };
    // What tells where a part begins (a YAML document's `---` and the character after it) is
    // among the bytes that are the same in both.
    let same_head = super::record_diff::common_prefix_len(before, after);
    let from = store.independent_before(reading, before, same_head.saturating_sub(4));
    from.min(to)..to
}

/// The error for an output that failed the accounted-for check.
fn unaccounted<'a>(
    store: &'a Store,
    file: &'a str,
) -> impl Fn(crate::verify::Unaccounted) -> Error + 'a {
    move |e| Error::Unaccounted {
        file: file.to_string(),
        format: store.format.name(),
        source: e,
    }
}

/// Check an encrypted output before it is written: every value in it is encrypted or one that
/// `allowed` leaves in clear. Nothing is written otherwise.
pub(crate) fn verify(store: &Store, out: &[u8], allowed: &Allowed, file: &str) -> Result<()> {
    crate::verify::check_output(store.format, out, allowed).map_err(unaccounted(store, file))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ops::early::tests::Recorder;
    use crate::ops::{plaintext, Decrypted};
    use crate::stores::{Format, Store, StoreOptions};

    /// `text` encrypted by `store` as `encrypt` does it (the default selection, a new key).
    pub(in crate::ops) fn encrypted(store: &Store, text: &str) -> (Vec<u8>, DataKey) {
        encrypted_to(store, text, None)
    }

    /// [`encrypted`], the output perhaps written early to `early`.
    fn encrypted_to(
        store: &Store,
        text: &str,
        early: Option<&Arc<dyn EarlyOutput>>,
    ) -> (Vec<u8>, DataKey) {
        let mut parsed = store.parse(text.as_bytes()).unwrap();
        let key = DataKey::generate();
        let mut meta = crate::fuzzing::test_metadata(&Selection::default());
        let out = reencrypt(
            &mut parsed,
            Plain::Parsed,
            &key,
            &mut meta,
            &mut Stash::default(),
            Output {
                store,
                out_store: store,
                file: "t",
                new_file: true,
                early,
            },
        )
        .unwrap();
        (out, key)
    }

    /// Encrypt `text` as `encrypt` does (its reading of the output freed before the exactness
    /// check where the format allows, as for a large file), decrypt the output as
    /// `decrypt` does: the same bytes. Whether the output carries a layout record. The output is
    /// written early (every output is large enough in tests) where the format splices from the
    /// output's bytes and no record is needed, and what was written early and kept is exactly
    /// the output.
    fn round_trip(format: Format, text: &str) -> bool {
        let store = Store::new(format, StoreOptions::default());
        let recorder = Arc::new(Recorder::default());
        let early: Arc<dyn EarlyOutput> = recorder.clone();
        let (out, key) = encrypted_to(&store, text, Some(&early));
        let kept = recorder.kept();
        let selection = Selection::default();
        let enc = store.parse(&out).unwrap();
        let metadata = super::super::open::metadata_of(&enc).unwrap();
        let record = metadata.layout_record.is_some();
        let dec = decrypt_tree(&enc.tree, &key, &selection, false, &mut Stash::off()).unwrap();
        let decrypted = Decrypted {
            metadata,
            data_key: key,
            changes: dec.changes,
            stash: Stash::off(),
        };
        let plain = plaintext(&store, &enc, &decrypted, None).unwrap();
        assert_eq!(String::from_utf8_lossy(&plain), text, "{format:?} {text:?}");
        let splices_from = matches!(format, Format::Yaml | Format::Json);
        let expected = (splices_from && !record).then_some(out);
        assert_eq!(kept, expected, "{format:?} {text:?}");
        record
    }

    #[test]
    fn exact_bytes_back_with_the_reading_freed() {
        // The splice gives these back as they are.
        for (format, text) in [
            (
                Format::Yaml,
                "# c\na: 1\nb: \"two\"\nc: [x, y]\nl:\n  - 2.50\n  - yes\n",
            ),
            (Format::Json, "{\n  \"a\": 1,\n  \"b\": \"two\"\n}\n"),
            (Format::Dotenv, "A=1\nB=two\n"),
        ] {
            assert!(!round_trip(format, text), "{format:?} {text:?}");
        }
        // These need a record (an alias changes the tree's shape: no view splice).
        for (format, text) in [
            (
                Format::Yaml,
                "f: >\n  alpha bravo\n  charlie\nplain: delta\n  echo\n",
            ),
            (Format::Yaml, "m: |\n  kilo \u{1F49A}\n  lima\n"),
            (
                Format::Yaml,
                "base: &b {host: hotel, port: 1}\nsvc:\n  <<: *b\n  name: india\n",
            ),
            (
                Format::Json,
                "{\"a\": \"mike\\u0026november\", \"b\": \"\\/oscar\"}\n",
            ),
        ] {
            assert!(round_trip(format, text), "{format:?} {text:?}");
        }
        // A stream whose first document needs a record: the record goes in the last document,
        // the output with it is read again only from that document's start (the test below),
        // and gives the same bytes back.
        assert!(round_trip(
            Format::Yaml,
            "f: >\n  alpha bravo\n  charlie\n---\ng: golf\n---\nh: [hotel]\n"
        ));
    }

    /// A tree of many leaves, or of a large source, is freed beside the splice; a small one is
    /// handed to the check.
    #[test]
    fn a_large_tree_is_told_by_its_leaves_or_its_source() {
        let small = vec![b'x'; SHAPE_LATER_BELOW - 1];
        assert!(!large_tree(10, Some(&small)));
        assert!(!large_tree(10, None));
        assert!(large_tree(super::super::free::LARGE, Some(&small)));
        assert!(large_tree(10, Some(&vec![b'x'; SHAPE_LATER_BELOW])));
    }

    /// An output that fails the check is never written early: both readings tell the gate their
    /// verdict, and the check's error drops the early write before it starts. Checked on an
    /// output holding values in clear that the selection did not leave so (the plaintext
    /// itself), in each format that splices from the output's bytes; and on the encrypted
    /// output, which passes, and whose early write, if kept, is the output returned.
    #[test]
    fn an_output_that_fails_the_check_is_never_written_early() {
        for (format, text) in [
            (Format::Yaml, "a: secret\nb: [1, two]\n"),
            (Format::Json, "{\"a\": \"secret\", \"b\": [1, \"two\"]}\n"),
        ] {
            let store = Store::new(format, StoreOptions::default());
            let parsed = store.parse(text.as_bytes()).unwrap();
            let (encrypted, key) = encrypted(&store, text);
            let selection = Selection::default();
            let allowed = Allowed::default();
            for (out, passes) in [(text.as_bytes().to_vec(), false), (encrypted, true)] {
                let recorder = Arc::new(Recorder::default());
                let early: Arc<dyn EarlyOutput> = recorder.clone();
                let mut early_out = EarlyWrite::start(out.clone(), Some(&early));
                let check = RecordCheck {
                    store: &store,
                    key: &key,
                    selection: &selection,
                    mac_only_encrypted: false,
                    shape: &Shape::ready(None),
                    view: &[],
                    allowed: &allowed,
                    file: "t",
                };
                let spent = Spent {
                    ciphertexts: Vec::new(),
                    tree: Tree::default(),
                    digest_to: None,
                    kept: None,
                };
                let mut freer = crate::ops::free::Freer::default();
                let mut finish = |_: String, _: &Parsed, _: &[u8]| Ok(Vec::new());
                let checked = check.record(&parsed, spent, &mut early_out, &mut freer, &mut finish);
                assert_eq!(checked.is_ok(), passes, "{format:?}");
                // Each reading told its verdict: both passed, or neither did.
                let told = early_out.gate().passes();
                assert_eq!(told, if passes { 2 } else { 0 }, "{format:?}");
                if passes {
                    assert_eq!(early_out.keep(), out, "{format:?}");
                    let kept = recorder.kept();
                    assert!(kept.is_none() || kept == Some(out), "{format:?}");
                } else {
                    drop(early_out);
                    assert!(recorder.written.lock().unwrap().is_none(), "{format:?}");
                }
            }
        }
    }

    /// Which part of a YAML stream, rewritten from `before` to `after`, is read again.
    fn part_read_again(before: &str, after: &str) -> String {
        let store = Store::new(Format::Yaml, StoreOptions::default());
        let reading = store.parse(before.as_bytes()).unwrap();
        let part = changed_part(&store, &reading, before.as_bytes(), after.as_bytes());
        after[part].to_string()
    }

    #[test]
    fn only_the_documents_that_changed_are_read_again() {
        let before = "a: 1\nsops:\n  x: 1\n---\nb: 2\n---\nc: 3\n";
        // The first document's entry grew: the first document.
        assert_eq!(
            part_read_again(
                before,
                "a: 1\nsops:\n  x: 1\n  y: 2\n---\nb: 2\n---\nc: 3\n"
            ),
            "a: 1\nsops:\n  x: 1\n  y: 2\n"
        );
        // The second one changed: the second one, from its `---`.
        assert_eq!(
            part_read_again(before, "a: 1\nsops:\n  x: 1\n---\nb: 22\n---\nc: 3\n"),
            "---\nb: 22\n"
        );
        // The last one: from its `---` to the end.
        assert_eq!(
            part_read_again(before, "a: 1\nsops:\n  x: 1\n---\nb: 2\n---\nc: 4\n"),
            "---\nc: 4\n"
        );
        // A change in the `---` itself, or in what follows it on its line: from the document
        // before (the marker's line is not among the bytes the two have the same).
        assert_eq!(
            part_read_again(before, "a: 1\nsops:\n  x: 1\n---\nb: 2\n--- \nc: 3\n"),
            "---\nb: 2\n--- \nc: 3\n"
        );
        // A document after a `...` may start with directives: read from the document before.
        let ended = "a: 1\n...\n---\nb: 2\n---\nc: 3\n";
        assert_eq!(
            part_read_again(ended, "a: 1\n...\n---\nb: 22\n---\nc: 3\n"),
            "a: 1\n...\n---\nb: 22\n"
        );
        // A file of one document, or in another format: all of it.
        assert_eq!(part_read_again(before, "a: 1\n"), "a: 1\n");
        let json = Store::new(Format::Json, StoreOptions::default());
        let reading = json.parse(b"{\"a\": 1}").unwrap();
        let after = b"{\"a\": 2}";
        assert_eq!(
            changed_part(&json, &reading, b"{\"a\": 1}", after),
            0..after.len()
        );
    }
}
