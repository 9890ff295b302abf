//! The cipher walk's work, in three steps: the tree is visited in sops's order and each leaf's
//! job planned (selection, AAD, the MAC of plaintext already known); the jobs' AES-GCM work
//! (`hands`) runs on every processor for a large file (each value is independent; see
//! `pipeline`), one batch while the next is planned and the one before it taken; the results are
//! taken in walk order, so the MAC (an ordered hash) and the first error are what a one-by-one
//! walk would give.

use crate::crypto::mac::MacHasher;
use crate::gotext::{
    canonical_bytes, display_text, formatted_bytes, parse_typed, plaintext_of, Plaintext,
};
use crate::tree::{Leaf, LeafId, NewLeaf, Scalar};
use crate::wipe::Wiped;

use super::{Selection, WalkError};

/// Fewer jobs than this run on the calling thread: starting threads would cost more than it saves.
pub(super) const PARALLEL_MIN: usize = 2048;

/// The plaintext bytes of a value to encrypt: the leaf's own string, or bytes made for it.
pub(super) enum PlainBytes<'t> {
    Borrowed(&'t [u8]),
    Owned(Wiped<Vec<u8>>),
}

impl PlainBytes<'_> {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            PlainBytes::Borrowed(b) => b,
            PlainBytes::Owned(b) => b,
        }
    }
}

/// Where a leaf's AAD is in the walk's one string of AADs (one allocation for all of them).
#[derive(Clone, Copy)]
pub(super) struct Aad {
    start: usize,
    end: usize,
}

/// Every leaf's AAD, one after the other.
#[derive(Default)]
pub(super) struct Aads(String);

impl Aads {
    /// Add the AAD of `path`: its keys joined with `:`, plus a trailing `:`.
    pub(super) fn push(&mut self, path: &[&str]) -> Aad {
        let start = self.0.len();
        for (i, key) in path.iter().enumerate() {
            if i > 0 {
                self.0.push(':');
            }
            self.0.push_str(key);
        }
        self.0.push(':');
        Aad {
            start,
            end: self.0.len(),
        }
    }

    pub(super) fn get(&self, aad: Aad) -> &str {
        self.0.get(aad.start..aad.end).unwrap_or("")
    }
}

/// One leaf's share of the walk, in walk order.
pub(super) enum Job<'t> {
    /// Encrypt `plain`; `iv` reuses a stashed nonce (unchanged value), else a fresh one is drawn.
    Encrypt {
        id: usize,
        aad: Aad,
        plain: PlainBytes<'t>,
        type_tag: &'static str,
        iv: Option<Box<[u8; 32]>>,
        is_comment: bool,
        /// The leaf's own value when `plain` is its canonical bytes (a number or a bool written
        /// as sops writes it), or their marked form (`is_marked_canonical`): what decrypting them
        /// gives, so the view takes it as it is instead of parsing the bytes and formatting the
        /// value again.
        canonical_of: Option<&'t Scalar>,
    },
    /// Decrypt the `ENC[...]` text `token`; `hashed`: its plaintext goes into the MAC.
    Decrypt {
        id: usize,
        aad: Aad,
        token: &'t str,
        is_comment: bool,
        hashed: bool,
    },
    /// A value left in clear whose canonical bytes go into the MAC at this point (decryption,
    /// where the MAC is computed after the parallel step).
    Hash(&'t Leaf),
    /// [`Job::Hash`] of a string value that the reading left in the source
    /// ([`super::LentTokens`]): its text.
    HashText(&'t str),
}

/// What a job gave.
pub(super) enum Outcome {
    Nothing,
    Encrypted {
        token: String,
    },
    Decrypted {
        leaf: NewLeaf,
        /// The type tag as written, the IV and the plaintext bytes, kept for the stash when it
        /// records.
        kept: Option<Box<Kept>>,
        hashed: bool,
        /// The bytes the MAC holds for this value when they are not its own text: a number's,
        /// bool's or null's canonical bytes (formatted here, on the worker thread), or for a file
        /// rops wrote the bytes it encrypted.
        mac_bytes: Option<Wiped<Vec<u8>>>,
    },
    Hash,
}

/// What a decryption keeps for the stash.
pub(super) struct Kept {
    pub type_tag: String,
    pub iv: [u8; 32],
    pub plain: Wiped<Vec<u8>>,
}

/// What the last step needs to know.
pub(super) struct Finish<'w> {
    pub changes: &'w mut Slots,
    pub view: Option<&'w mut Slots>,
    /// Where decrypted values are recorded, when they are.
    pub stash: Option<&'w mut super::Stash>,
    /// As [`Shared::rops`].
    pub rops: bool,
    /// Told the last leaf of each run of outcomes taken ([`super::LentTokens::telling`]).
    pub taken: Option<&'w dyn Fn(LeafId)>,
}

/// What is written in place of each leaf, by leaf id, set as outcomes are taken. Outcomes come
/// in walk order, which is the order of the ids: the slots are made as they are reached, in the
/// memory reserved for them up front, rather than all set to `None` before the walk starts (on a
/// 200,000-value file, 11 MB for the changes and as much for the view: 15-20 ms of page faults on
/// the walk's own thread while the other core waited, fifteenth round).
pub(super) struct Slots {
    slots: Vec<Option<NewLeaf>>,
    /// How many there are once the walk is over.
    len: usize,
}

impl Slots {
    pub(super) fn new(len: usize) -> Self {
        Slots {
            slots: Vec::with_capacity(len),
            len,
        }
    }

    /// Write `new` in place of leaf `id` (an id past the end is ignored). The slots never pass
    /// the room reserved for them, so they are never moved (a move would leave the view's
    /// plaintexts behind unwiped).
    pub(super) fn set(&mut self, id: LeafId, new: NewLeaf) {
        if id >= self.len {
            return;
        }
        if id >= self.slots.len() {
            self.slots.resize_with(id, || None);
            self.slots.push(Some(new));
        } else {
            self.slots[id] = Some(new);
        }
    }

    /// Every slot, `None` where nothing was set.
    pub(super) fn into_vec(mut self) -> Vec<Option<NewLeaf>> {
        self.slots.resize_with(self.len, || None);
        self.slots
    }
}

/// The settings every job shares.
pub(super) struct Shared<'a> {
    pub cipher_key: &'a crate::crypto::cipher::DataKey,
    pub selection: &'a Selection,
    pub record: bool,
    /// Reading a file rops wrote (`Mode::DECRYPT_ROPS`): empty data is accepted, and the MAC is
    /// fed the bytes rops hashes.
    pub rops: bool,
}

/// Planned jobs, in walk order, and the AADs they point into.
pub(super) struct Batch<'t> {
    pub jobs: Vec<Job<'t>>,
    pub aads: Aads,
}

impl Batch<'_> {
    /// An empty batch with room for `size` jobs (its vector is never grown by doubling, which
    /// left up to half of it unused and copied it on the way).
    pub(super) fn with_capacity(size: usize) -> Self {
        Batch {
            jobs: Vec::with_capacity(size),
            aads: Aads::default(),
        }
    }
}

/// Plan the job of a leaf to encrypt (feeding the MAC, whose plaintext is known now).
pub(super) fn plan_encrypt<'t>(
    leaf: &'t Leaf,
    selected: bool,
    is_comment: bool,
    aad: Aad,
    mac: &mut MacHasher,
    stashed: impl FnOnce(&str, &Scalar) -> Option<([u8; 32], Wiped<Vec<u8>>)>,
) -> Option<Job<'t>> {
    // A number's, bool's or null's canonical bytes, formatted once for the MAC and the
    // ciphertext.
    let canonical = formatted_bytes(&leaf.value);
    if !is_comment && !leaf.shadowed {
        match &canonical {
            Some(bytes) => mac.feed(bytes, selected),
            None => feed(mac, &leaf.value, selected),
        }
    }
    if !selected {
        return None;
    }
    let type_tag = leaf.value.type_tag().unwrap_or("str");
    let (plain, iv, canonical_of) = match stashed(type_tag, &leaf.value) {
        Some((iv, bytes)) => (PlainBytes::Owned(bytes), Some(Box::new(iv)), None),
        None => {
            let (plain, is_canonical) = own_bytes(leaf, canonical);
            (plain, None, is_canonical.then_some(&leaf.value))
        }
    };
    if plain.bytes().is_empty() {
        // sops leaves empty strings and empty comments as they are.
        return None;
    }
    Some(Job::Encrypt {
        id: leaf.id,
        aad,
        plain,
        type_tag,
        iv,
        is_comment,
        canonical_of,
    })
}

/// Whether `plain` is the marked form of `canonical`, the canonical bytes of `value`
/// ([`crate::gotext::plaintext_bytes`]: a float's with `e0` added, a bool's as `T` or `F`).
fn is_marked_canonical(value: &Scalar, plain: &[u8], canonical: &[u8]) -> bool {
    match value {
        Scalar::Float(f) => f.is_finite() && plain.strip_suffix(b"e0") == Some(canonical),
        Scalar::Bool(true) => plain == b"T",
        Scalar::Bool(false) => plain == b"F",
        _ => false,
    }
}

/// A leaf's plaintext bytes, borrowed when they are its string or its spelling as it is, its
/// formatted bytes moved when they are those; `formatted` is the value's [`formatted_bytes`]
/// (made for the MAC). And whether they are the formatted bytes or their marked form
/// ([`is_marked_canonical`]), which decrypting reads back as the leaf's own value.
fn own_bytes(leaf: &Leaf, formatted: Option<Wiped<Vec<u8>>>) -> (PlainBytes<'_>, bool) {
    if let (Scalar::Str(s) | Scalar::Comment(s), None) = (&leaf.value, &leaf.text) {
        return (PlainBytes::Borrowed(s.as_bytes()), false);
    }
    let Some(formatted) = formatted else {
        // Text (a string or time with a spelling of its own): no formatted bytes to compare.
        let canonical = canonical_bytes(&leaf.value);
        let plain = match plaintext_of(leaf, &canonical) {
            Plaintext::Canonical => PlainBytes::Owned(canonical),
            Plaintext::Text(text) => PlainBytes::Borrowed(text),
            Plaintext::Made(bytes) => PlainBytes::Owned(bytes),
        };
        return (plain, false);
    };
    match plaintext_of(leaf, &formatted) {
        Plaintext::Canonical => (PlainBytes::Owned(formatted), true),
        Plaintext::Text(text) => {
            let marked = is_marked_canonical(&leaf.value, text, &formatted);
            (PlainBytes::Borrowed(text), marked)
        }
        Plaintext::Made(bytes) => {
            let canonical = bytes.as_slice() == formatted.as_slice()
                || is_marked_canonical(&leaf.value, &bytes, &formatted);
            (PlainBytes::Owned(bytes), canonical)
        }
    }
}

/// Feed a value's canonical bytes to the MAC, without a copy for strings.
pub(super) fn feed(mac: &mut MacHasher, value: &Scalar, encrypted: bool) {
    match value {
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => mac.feed(s.as_bytes(), encrypted),
        Scalar::Bytes(b) => mac.feed(b, encrypted),
        other => mac.feed(&canonical_bytes(other), encrypted),
    }
}

/// The most jobs planned, run and taken at a time: only a batch's or two's outcomes (the
/// ciphertexts or plaintexts not yet in their slots) are in memory at once, never those of the
/// whole file. Smaller batches let the memory of one batch's outcomes be reused for the next
/// sooner: 16,384 made 47,700 page faults in a 200,000-value JSON encryption, 4,096 made 38,000
/// and took 7% less time (fourteenth round).
pub(super) const BATCH: usize = 4 * 1024;

/// Jobs per batch for a walk of `leaves` values: a quarter of them, at least enough to share
/// between threads and at most [`BATCH`]. A file of 10,000 values then runs in four batches,
/// planned while the one before runs, and holds a quarter of the jobs and outcomes at a time
/// (2.3 MiB of its peak memory were one batch of all of them); from 16,384 values on, the
/// batches are full.
pub(super) fn batch_size(leaves: usize) -> usize {
    (leaves / 4).clamp(PARALLEL_MIN, BATCH)
}

/// The first batch of a walk shared with worker threads: small, so that the workers start
/// while the walk's own thread plans the next (a first batch of a quarter of a 10,000-value
/// file kept them waiting for all of its planning).
pub(super) const FIRST_BATCH: usize = 256;

/// The sizes of a walk's batches in turn: [`batch_size`], from a [`FIRST_BATCH`] doubled up to
/// it when the batches are shared with worker threads.
pub(super) struct BatchSizes {
    next: usize,
    full: usize,
}

impl BatchSizes {
    pub(super) fn new(leaves: usize, shared: bool) -> Self {
        let full = batch_size(leaves);
        BatchSizes {
            next: if shared { FIRST_BATCH.min(full) } else { full },
            full,
        }
    }

    /// The size of the next batch.
    pub(super) fn next(&mut self) -> usize {
        let size = self.next;
        self.next = (size * 2).min(self.full);
        size
    }
}

/// Outcomes of one chunk of a batch.
pub(super) type Outcomes = Vec<Result<Outcome, WalkError>>;

/// Take the outcomes in walk order: the first error wins, the MAC is fed in order.
pub(super) fn take(
    jobs: &[Job<'_>],
    aads: &Aads,
    outcomes: impl IntoIterator<Item = Result<Outcome, WalkError>>,
    mac: &mut MacHasher,
    finish: &mut Finish<'_>,
) -> Result<(), WalkError> {
    let mut last = None;
    for (job, outcome) in jobs.iter().zip(outcomes) {
        let (id, aad) = match job {
            Job::Encrypt { id, aad, .. } | Job::Decrypt { id, aad, .. } => (*id, aads.get(*aad)),
            Job::Hash(leaf) => (leaf.id, ""),
            Job::HashText(_) => (crate::tree::NO_LEAF, ""),
        };
        if id != crate::tree::NO_LEAF {
            last = Some(id);
        }
        match outcome? {
            Outcome::Nothing => {}
            Outcome::Hash => match job {
                Job::Hash(leaf) if finish.rops => mac.feed(&super::rops_bytes(&leaf.value), false),
                Job::Hash(leaf) => feed(mac, &leaf.value, false),
                // A string's bytes, as `feed` and `rops_bytes` give them.
                Job::HashText(text) => mac.feed(text.as_bytes(), false),
                _ => {}
            },
            Outcome::Encrypted { token } => {
                finish.changes.set(id, NewLeaf::Encrypted(token));
                // The view is made here, on the walk's own thread, not beside the ciphertexts on
                // the worker threads: the ciphertexts are freed once they are in the output, and
                // the view, which lives on, would keep the pages they shared from being reused
                // by what the calling thread allocates next (glibc gives each thread an arena of
                // its own).
                if let (
                    Some(view),
                    Job::Encrypt {
                        plain,
                        type_tag,
                        canonical_of,
                        ..
                    },
                ) = (finish.view.as_deref_mut(), job)
                {
                    let plain = plain.bytes();
                    // Canonical bytes read back as the value, and are written back as sops
                    // writes it (no spelling to keep): `gotext`'s tests hold both.
                    let seen = match canonical_of {
                        Some(value) => {
                            // A mark stands for the canonical text (an `e0` is added to it, and
                            // canonical bytes have no exponent); canonical bytes show as nothing.
                            let text = match (value, plain) {
                                (Scalar::Float(_), p) => p.strip_suffix(b"e0").unwrap_or_default(),
                                (Scalar::Bool(_), b"T") => b"True",
                                (Scalar::Bool(_), b"F") => b"False",
                                _ => b"",
                            };
                            let text = String::from_utf8_lossy(text).into_owned();
                            Some(((*value).clone(), Wiped::new(text)))
                        }
                        None => parse_typed(type_tag, plain).map(|value| {
                            let text = display_text(&value, plain);
                            (value, text)
                        }),
                    };
                    if let Some((value, text)) = seen {
                        view.set(id, NewLeaf::Plain { value, text });
                    }
                }
            }
            Outcome::Decrypted {
                leaf,
                kept,
                hashed,
                mac_bytes,
            } => {
                if let NewLeaf::Plain { value, .. } = &leaf {
                    // sops decides "comment" from the input: a comment stored as a list element
                    // is hashed.
                    if hashed && !matches!(value, Scalar::Comment(_)) {
                        match &mac_bytes {
                            Some(bytes) => mac.feed(bytes, true),
                            None => feed(mac, value, true),
                        }
                    }
                    if let (Some(stash), Some(kept)) = (finish.stash.as_deref_mut(), kept) {
                        let Kept {
                            type_tag,
                            iv,
                            mut plain,
                        } = *kept;
                        stash.ivs.insert(
                            (aad.to_string(), type_tag, canonical_bytes(value).to_vec()),
                            (iv, std::mem::take(&mut *plain)),
                        );
                    }
                }
                finish.changes.set(id, leaf);
            }
        }
    }
    if let (Some(taken), Some(last)) = (finish.taken, last) {
        taken(last);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_set_in_any_order_and_never_moved() {
        let enc = |s: &str| NewLeaf::Encrypted(s.to_string());
        let mut slots = Slots::new(6);
        let at = slots.slots.as_ptr();
        slots.set(1, enc("b"));
        slots.set(4, enc("e"));
        slots.set(0, enc("a"));
        slots.set(6, enc("past the end"));
        slots.set(5, enc("f"));
        assert_eq!(slots.slots.as_ptr(), at);
        let all = slots.into_vec();
        assert_eq!(all.as_ptr(), at);
        let expected = [Some("a"), Some("b"), None, None, Some("e"), Some("f")];
        assert_eq!(all.len(), expected.len());
        for (slot, want) in all.iter().zip(expected) {
            assert_eq!(slot.as_ref(), want.map(enc).as_ref());
        }
        assert_eq!(Slots::new(3).into_vec(), vec![None, None, None]);
    }
}
