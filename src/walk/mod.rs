//! The cipher walk: visits every leaf in sops's order with its path and comment stack, decides
//! whether it is encrypted, encrypts or decrypts it, and computes the MAC.

use std::collections::HashMap;

mod hands;
mod jobs;
mod pipeline;

use crate::crypto::cipher::{CipherError, DataKey, EncryptedValue};
use crate::crypto::mac::MacHasher;
use crate::gotext::canonical_bytes;
pub use crate::metadata::{Selection, SelectionError};
use crate::tree::NewLeaf;
use crate::tree::{Item, Leaf, LeafId, Scalar, Tree, Value};

/// Why the walk failed. Names the path, never the value.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("could not encrypt the value at {path}")]
    Encrypt { path: String },
    #[error("the value at {path} is not encrypted, or not in sops' data format (ENC[AES256_GCM,...]); was it edited by hand?")]
    NotEncrypted { path: String },
    #[error("Could not decrypt value at {path}: {source}. The file was changed after encryption, or the data key is wrong")]
    Decrypt { path: String, source: CipherError },
    #[error("the value at {path} has type {type_tag:?}, which sops cannot read back")]
    BadType { path: String, type_tag: String },
    #[error("an encrypted comment at {path} matches unencrypted_comment_regex; make sure that regex cannot match an encrypted comment")]
    CommentRegex { path: String },
}

/// Values seen while decrypting, keyed by path, type and value (as sops keys its stash): when the
/// same value is encrypted again at the same path, its previous plaintext bytes and IV are reused,
/// so unchanged values keep their exact ciphertext (sops reuses the IV too). A change of spelling
/// alone (`1.0` → `1.00`) therefore keeps the previous spelling.
pub struct Stash {
    ivs: HashMap<StashKey, ([u8; 32], Vec<u8>)>,
    /// Whether decryption records values (not needed when nothing is re-encrypted).
    record: bool,
}

impl Default for Stash {
    fn default() -> Self {
        Stash {
            ivs: HashMap::new(),
            record: true,
        }
    }
}

impl Stash {
    /// A stash that records nothing: for plain decryption, where keeping every value twice would
    /// only cost memory.
    pub fn off() -> Self {
        Stash {
            ivs: HashMap::new(),
            record: false,
        }
    }

    /// Take in the values `other` saw (those this stash lacks). Only for two files under the
    /// same data key (a merge of two branches that share it): a value the other file encrypted
    /// then keeps that file's exact ciphertext.
    pub fn absorb(&mut self, other: &mut Stash) {
        use zeroize::Zeroize;
        for (mut k, mut v) in other.ivs.drain() {
            // Not the entry API: it would drop a key it does not keep (plaintext) unwiped.
            #[allow(clippy::map_entry)]
            if self.ivs.contains_key(&k) {
                k.2.zeroize();
                v.1.zeroize();
            } else {
                self.ivs.insert(k, v);
            }
        }
    }
}

impl Stash {
    /// The nonce and plaintext bytes seen for this value at this path, if any.
    fn lookup(
        &self,
        aad: &str,
        type_tag: &str,
        value: &Scalar,
    ) -> Option<([u8; 32], crate::wipe::Wiped<Vec<u8>>)> {
        if self.ivs.is_empty() {
            return None;
        }
        let key = (
            aad.to_string(),
            type_tag.to_string(),
            canonical_bytes(value).to_vec(),
        );
        let found = self
            .ivs
            .get(&key)
            .map(|(iv, bytes)| (*iv, crate::wipe::Wiped::new(bytes.clone())));
        let (_, _, mut canonical) = key;
        zeroize::Zeroize::zeroize(&mut canonical);
        found
    }
}

/// (AAD, type tag, canonical bytes of the value).
type StashKey = (String, String, Vec<u8>);

impl Drop for Stash {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for ((_, _, mut v), (_, mut p)) in self.ivs.drain() {
            v.zeroize();
            p.zeroize();
        }
    }
}

/// Output of a walk: a replacement for each changed leaf, and the MAC of the plaintext.
pub struct WalkResult {
    pub changes: Vec<Option<NewLeaf>>,
    pub mac: String,
    /// With [`Mode::ENCRYPT_WITH_VIEW`]: for each encrypted leaf, what decrypting its ciphertext
    /// gives (the replacement a decryption of the output would make), without decrypting.
    pub decrypted_view: Vec<Option<NewLeaf>>,
}

/// What a walk does: [`Mode::ENCRYPT`], [`Mode::ENCRYPT_WITH_VIEW`], [`Mode::DECRYPT`] or
/// [`Mode::DECRYPT_ROPS`].
#[derive(Clone, Copy)]
pub struct Mode {
    encrypt: bool,
    with_view: bool,
    rops: bool,
}

impl Mode {
    /// Encrypt every selected leaf; the MAC covers the plaintext.
    pub const ENCRYPT: Mode = Mode {
        encrypt: true,
        with_view: false,
        rops: false,
    };
    /// [`Mode::ENCRYPT`], also giving [`WalkResult::decrypted_view`].
    pub const ENCRYPT_WITH_VIEW: Mode = Mode {
        with_view: true,
        ..Mode::ENCRYPT
    };
    /// Decrypt every selected leaf, recording IVs in the stash; the MAC covers the plaintext.
    pub const DECRYPT: Mode = Mode {
        encrypt: false,
        with_view: false,
        rops: false,
    };
    /// [`Mode::DECRYPT`] for a TOML file rops wrote (its metadata has no `version`), read as rops
    /// writes it: a string that is exactly `null` is rops's null (left in clear and out of the
    /// MAC), and an empty string is encrypted with empty data (`data:,`), which sops's format
    /// refuses.
    pub const DECRYPT_ROPS: Mode = Mode {
        rops: true,
        ..Mode::DECRYPT
    };
}

/// Encrypt every selected leaf of `tree` ([`Mode::ENCRYPT`]).
pub fn encrypt_tree(
    tree: &Tree,
    key: &DataKey,
    selection: &Selection,
    mac_only_encrypted: bool,
    stash: &mut Stash,
) -> Result<WalkResult, WalkError> {
    walk(
        tree,
        key,
        selection,
        mac_only_encrypted,
        stash,
        Mode::ENCRYPT,
    )
}

/// Decrypt every selected leaf of `tree` ([`Mode::DECRYPT`]).
pub fn decrypt_tree(
    tree: &Tree,
    key: &DataKey,
    selection: &Selection,
    mac_only_encrypted: bool,
    stash: &mut Stash,
) -> Result<WalkResult, WalkError> {
    walk(
        tree,
        key,
        selection,
        mac_only_encrypted,
        stash,
        Mode::DECRYPT,
    )
}

/// Where a decryption finds the `ENC[...]` texts that the file's reading left in the source,
/// each an empty string in the tree ([`crate::stores::Parsed::lent_token`]), and whom it tells
/// how far it is done with them.
#[derive(Clone, Copy)]
pub struct LentTokens<'t> {
    token: &'t dyn Fn(LeafId) -> Option<&'t str>,
    taken: Option<&'t dyn Fn(LeafId)>,
}

impl<'t> LentTokens<'t> {
    pub fn new(token: &'t dyn Fn(LeafId) -> Option<&'t str>) -> Self {
        LentTokens { token, taken: None }
    }

    /// Told, each time outcomes are taken, the last leaf taken: the walk asks for no token up to
    /// it again (a reading of a mapped file gives those pages back).
    pub fn telling(self, taken: &'t dyn Fn(LeafId)) -> Self {
        LentTokens {
            taken: Some(taken),
            ..self
        }
    }
}

/// The walk of `tree` in `mode`.
pub fn walk(
    tree: &Tree,
    key: &DataKey,
    selection: &Selection,
    mac_only_encrypted: bool,
    stash: &mut Stash,
    mode: Mode,
) -> Result<WalkResult, WalkError> {
    walk_lent(tree, None, key, selection, mac_only_encrypted, stash, mode)
}

/// [`walk`] of a tree whose reading left ciphertexts in the source (`lent` gives them).
pub fn walk_lent<'t>(
    tree: &'t Tree,
    lent: Option<LentTokens<'t>>,
    key: &DataKey,
    selection: &Selection,
    mac_only_encrypted: bool,
    stash: &mut Stash,
    mode: Mode,
) -> Result<WalkResult, WalkError> {
    let leaves = max_id(tree).map_or(0, |m| m + 1);
    let mut mac = MacHasher::new(mac_only_encrypted);
    let mut changes = jobs::Slots::new(leaves);
    let mut view = mode.with_view.then(|| jobs::Slots::new(leaves));
    let record = stash.record && !mode.encrypt;
    // Encryption looks values up in the stash while planning; decryption records them in it as
    // their outcomes are taken.
    let (lookup, recorded) = if record {
        (None, Some(stash))
    } else {
        (Some(&*stash), None)
    };
    let shared = jobs::Shared {
        cipher_key: key,
        selection,
        record,
        rops: mode.rops,
    };
    let mut finish = jobs::Finish {
        changes: &mut changes,
        view: view.as_mut(),
        stash: recorded,
        rops: mode.rops,
        taken: lent.and_then(|l| l.taken),
    };
    // Each full batch runs on the worker threads while the next one is planned here; the
    // outcomes are taken in walk order, so the first error is the one a one-by-one walk meets.
    let mut error = None;
    // An error in taking outcomes: nothing planned after it runs.
    let mut taken_error = false;
    std::thread::scope(|scope| {
        let mut pipeline = pipeline::Pipeline::new(scope, &shared, leaves);
        let mut sizes = jobs::BatchSizes::new(leaves, pipeline.is_shared());
        let mut size = sizes.next();
        let mut batch = jobs::Batch::with_capacity(size);
        for doc in &tree.docs {
            visit_leaves(&doc.items, &mut |leaf, path, comments, is_comment| {
                if error.is_some()
                    || matches!(leaf.value, Scalar::Null)
                    || (mode.rops && is_rops_null(leaf, is_comment))
                {
                    return;
                }
                let selected = selection.should_encrypt(path, comments, is_comment);
                let aad = batch.aads.push(path);
                let job = if mode.encrypt {
                    Ok(jobs::plan_encrypt(
                        leaf,
                        selected,
                        is_comment,
                        aad,
                        &mut mac,
                        |type_tag, value| {
                            lookup.and_then(|s| s.lookup(batch.aads.get(aad), type_tag, value))
                        },
                    ))
                } else {
                    plan_decrypt(leaf, lent, selected, is_comment, aad, &batch.aads)
                };
                match job {
                    Ok(Some(job)) => batch.jobs.push(job),
                    Ok(None) => {}
                    Err(e) => error = Some(e),
                }
                if batch.jobs.len() == size {
                    size = sizes.next();
                    let full = std::mem::replace(&mut batch, jobs::Batch::with_capacity(size));
                    if let Err(e) = pipeline.submit(full, &mut mac, &mut finish) {
                        error = Some(e);
                        taken_error = true;
                    }
                }
            });
            if error.is_some() {
                break;
            }
        }
        // The jobs planned before a planning error still run: an error of theirs comes first.
        if !taken_error {
            let last = pipeline
                .submit(batch, &mut mac, &mut finish)
                .and_then(|()| pipeline.drain(&mut mac, &mut finish));
            if let Err(e) = last {
                error = Some(e);
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    Ok(WalkResult {
        changes: changes.into_vec(),
        mac: mac.finish(),
        decrypted_view: view.map(jobs::Slots::into_vec).unwrap_or_default(),
    })
}

/// Plan the job of a leaf to decrypt (`Ok(None)`: nothing to do).
fn plan_decrypt<'t>(
    leaf: &'t Leaf,
    lent: Option<LentTokens<'t>>,
    selected: bool,
    is_comment: bool,
    aad: jobs::Aad,
    aads: &jobs::Aads,
) -> Result<Option<jobs::Job<'t>>, WalkError> {
    let hashed = !is_comment && !leaf.shadowed;
    // An empty string in the tree may be a ciphertext the reading left in the source.
    let in_source = match (&leaf.value, lent) {
        (Scalar::Str(s), Some(lent)) if s.is_empty() => (lent.token)(leaf.id),
        _ => None,
    };
    if !selected {
        return Ok(hashed.then(|| match in_source {
            Some(text) => jobs::Job::HashText(text),
            None => jobs::Job::Hash(leaf),
        }));
    }
    let token = match (&leaf.value, in_source) {
        (_, Some(text)) => text,
        (Scalar::Str(s) | Scalar::Comment(s), None) => s.as_str(),
        _ if is_comment => return Ok(None),
        _ => {
            return Err(WalkError::NotEncrypted {
                path: display_path(aads.get(aad)),
            })
        }
    };
    if token.is_empty() {
        return Ok(None);
    }
    Ok(Some(jobs::Job::Decrypt {
        id: leaf.id,
        aad,
        token,
        is_comment,
        hashed,
    }))
}

fn max_id(tree: &Tree) -> Option<LeafId> {
    let mut m: Option<LeafId> = None;
    for d in &tree.docs {
        crate::tree::for_each_leaf(&d.items, &mut |l| {
            m = Some(m.map_or(l.id, |x| x.max(l.id)));
        });
    }
    m
}

/// The bytes rops hashes for a value it left in clear: sops's, but Rust's `inf` / `-inf` for
/// the infinities (sops: `+Inf` / `-Inf`).
fn rops_bytes(value: &Scalar) -> crate::wipe::Wiped<Vec<u8>> {
    match value {
        Scalar::Float(f) if f.is_infinite() => crate::wipe::Wiped::new(if *f > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        }),
        _ => canonical_bytes(value),
    }
}

/// rops's null in a file it wrote: the string `null`, which it neither encrypts nor hashes.
fn is_rops_null(leaf: &Leaf, is_comment: bool) -> bool {
    !is_comment && matches!(&leaf.value, Scalar::Str(s) if s.as_str() == "null")
}

/// Visit every leaf of `items` in sops's order, with its path (map keys) and its comment stack
/// (per nesting level, the comments seen since the last entry), and whether it is a comment.
/// The cipher walk and `check`'s plaintext audit share it.
pub fn visit_leaves<'t>(
    items: &'t [Item],
    f: &mut impl FnMut(&'t Leaf, &[&'t str], &[Vec<&'t str>], bool),
) {
    fn items_in<'t>(
        items: &'t [Item],
        path: &mut Vec<&'t str>,
        comments: &mut Vec<Vec<&'t str>>,
        f: &mut impl FnMut(&'t Leaf, &[&'t str], &[Vec<&'t str>], bool),
    ) {
        comments.push(Vec::new());
        for item in items {
            match item {
                Item::Comment(leaf) => {
                    if let Some(level) = comments.last_mut() {
                        level.push(leaf.value.as_str().unwrap_or(""));
                    }
                    f(leaf, path, comments, true);
                }
                Item::Pair { key, value } => {
                    path.push(key.as_str());
                    value_in(value, path, comments, f);
                    path.pop();
                    if let Some(level) = comments.last_mut() {
                        level.clear();
                    }
                }
                Item::Elem(value) => {
                    value_in(value, path, comments, f);
                    if let Some(level) = comments.last_mut() {
                        level.clear();
                    }
                }
            }
        }
        comments.pop();
    }
    fn value_in<'t>(
        value: &'t Value,
        path: &mut Vec<&'t str>,
        comments: &mut Vec<Vec<&'t str>>,
        f: &mut impl FnMut(&'t Leaf, &[&'t str], &[Vec<&'t str>], bool),
    ) {
        match value {
            Value::Leaf(leaf) => f(leaf, path, comments, false),
            Value::Map(items) | Value::List(items) => items_in(items, path, comments, f),
        }
    }
    items_in(items, &mut Vec::new(), &mut Vec::new(), f);
}

/// The values of an encrypted `tree` that `selection` says are encrypted but are not an
/// `ENC[...]` value (pasted in by hand): each leaf's id and its path as messages show it
/// (`["a"]["b"]`). Comments, nulls and empty strings are left in clear by the encryption too.
pub fn plaintext_selected(tree: &Tree, selection: &Selection) -> Vec<(LeafId, String)> {
    let mut out = Vec::new();
    for doc in &tree.docs {
        visit_leaves(&doc.items, &mut |leaf, path, comments, is_comment| {
            if is_comment || matches!(leaf.value, Scalar::Null) {
                return;
            }
            if !selection.should_encrypt(path, comments, false) {
                return;
            }
            let encrypted = match &leaf.value {
                Scalar::Str(s) => s.is_empty() || EncryptedValue::parse(s).is_ok(),
                _ => false,
            };
            if !encrypted {
                out.push((leaf.id, display_path(&aad(path))));
            }
        });
    }
    out
}

/// The AAD of a leaf: its path's keys joined with `:`, plus a trailing `:`.
pub fn aad(path: &[&str]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// A path for messages: `["a"]["b"]`, or `the top level`.
fn display_path(aad: &str) -> String {
    let keys: Vec<&str> = aad.trim_end_matches(':').split(':').collect();
    if keys == [""] {
        return "the top level".to_string();
    }
    keys.iter().map(|k| format!("[{k:?}]")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{secret, Doc, Leaf};
    use regex::Regex;

    fn s(id: usize, v: &str) -> Value {
        Value::Leaf(Leaf::new(id, Scalar::Str(secret(v))))
    }

    fn tree() -> Tree {
        Tree {
            docs: vec![Doc {
                items: vec![
                    Item::Comment(Leaf::new(0, Scalar::Comment(secret(" top")))),
                    Item::pair("a", s(1, "x")),
                    Item::pair("b_unencrypted", s(2, "clear")),
                    Item::pair(
                        "list",
                        Value::List(vec![
                            Item::Elem(s(3, "e")),
                            Item::Elem(Value::Map(vec![Item::pair("n", s(4, "y"))])),
                        ]),
                    ),
                    Item::pair("i", Value::Leaf(Leaf::new(5, Scalar::Int(7)))),
                    Item::pair("z", Value::Leaf(Leaf::new(6, Scalar::Null))),
                    Item::pair("empty", s(7, "")),
                ],
            }],
        }
    }

    #[test]
    fn plaintext_selected_names_values_pasted_in_clear() {
        let t = tree();
        let key = DataKey::generate();
        let sel = Selection::default();
        let enc = encrypt_tree(&t, &key, &sel, false, &mut Stash::default()).unwrap();
        let mut et = t.clone();
        apply(&mut et, &enc.changes);
        assert_eq!(plaintext_selected(&et, &sel), vec![]);
        // A value pasted in by hand, a number, and one left in clear on purpose.
        if let Item::Pair { value, .. } = &mut et.docs[0].items[1] {
            *value = s(1, "pasted");
        }
        if let Item::Pair { value, .. } = &mut et.docs[0].items[4] {
            *value = Value::Leaf(Leaf::new(5, Scalar::Int(9)));
        }
        assert_eq!(
            plaintext_selected(&et, &sel),
            vec![(1, r#"["a"]"#.to_string()), (5, r#"["i"]"#.to_string())]
        );
        let only_a = Selection::EncryptedRegex(Regex::new("^a$").unwrap());
        assert_eq!(plaintext_selected(&et, &only_a).len(), 1);
    }

    /// The view an encryption gives is what decrypting its ciphertexts gives, value and text,
    /// for numbers and bools with and without a spelling of their own.
    #[test]
    fn the_view_is_what_decryption_gives() {
        let cases: Vec<(Scalar, Option<&str>)> = vec![
            (Scalar::Float(1.5), None),
            (Scalar::Float(1.5), Some("1.5")),
            (Scalar::Float(1.5), Some("1.50")),
            (Scalar::Float(1e-7), Some("1e-7")),
            (Scalar::Float(1e-7), None),
            (Scalar::Float(2.0), Some("2e0")),
            (Scalar::Float(1e21), None),
            (Scalar::Float(-0.0), Some("-0.0")),
            (Scalar::Float(f64::INFINITY), Some(".inf")),
            (Scalar::Float(f64::NAN), None),
            (Scalar::Int(7), None),
            (Scalar::Int(7), Some("7")),
            (Scalar::Int(7), Some("+7")),
            (Scalar::Int(-7), Some("-007")),
            (Scalar::Bool(true), None),
            (Scalar::Bool(true), Some("True")),
            (Scalar::Bool(false), Some("false")),
            (Scalar::Bool(false), Some("FALSE")),
        ];
        let items = cases
            .iter()
            .enumerate()
            .map(|(id, (value, text))| {
                let mut leaf = Leaf::new(id, value.clone());
                leaf.text = text.map(secret);
                Item::pair(format!("k{id}"), Value::Leaf(leaf))
            })
            .collect();
        let t = Tree {
            docs: vec![Doc { items }],
        };
        let key = DataKey::generate();
        let sel = Selection::default();
        let enc = walk(
            &t,
            &key,
            &sel,
            false,
            &mut Stash::default(),
            Mode::ENCRYPT_WITH_VIEW,
        )
        .unwrap();
        let mut et = t.clone();
        apply(&mut et, &enc.changes);
        let dec = decrypt_tree(&et, &key, &sel, false, &mut Stash::off()).unwrap();
        for (id, case) in cases.iter().enumerate() {
            match (&enc.decrypted_view[id], &dec.changes[id]) {
                (
                    Some(NewLeaf::Plain { value, text }),
                    Some(NewLeaf::Plain {
                        value: want,
                        text: want_text,
                    }),
                ) => {
                    let same = match (value, want) {
                        (Scalar::Float(a), Scalar::Float(b)) => {
                            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
                        }
                        (a, b) => a == b,
                    };
                    assert!(same, "{case:?}: {value:?} {want:?}");
                    assert_eq!(text.as_str(), want_text.as_str(), "{case:?}");
                }
                other => panic!("{case:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn encrypt_decrypt_round_trip() {
        let t = tree();
        let key = DataKey::generate();
        let sel = Selection::default();
        let enc = encrypt_tree(&t, &key, &sel, false, &mut Stash::default()).unwrap();
        assert!(enc.changes[0].is_some());
        assert!(enc.changes[2].is_none());
        assert!(enc.changes[6].is_none());
        assert!(enc.changes[7].is_none());
        // Rebuild the encrypted tree.
        let mut et = t.clone();
        apply(&mut et, &enc.changes);
        let dec = decrypt_tree(&et, &key, &sel, false, &mut Stash::default()).unwrap();
        assert_eq!(dec.mac, enc.mac);
        match &dec.changes[5] {
            Some(NewLeaf::Plain { value, text }) => {
                assert_eq!(value, &Scalar::Int(7));
                assert_eq!(text.as_str(), "");
            }
            other => panic!("{other:?}"),
        }
        // The list element's AAD excludes the index: decrypting with another path fails.
        let mut swapped = et.clone();
        if let Item::Pair { value, .. } = &mut swapped.docs[0].items[1] {
            *value = s(1, leaf_text(&et, 5).as_str());
        }
        assert!(decrypt_tree(&swapped, &key, &sel, false, &mut Stash::default()).is_err());
    }

    fn leaf_text(t: &Tree, id: usize) -> String {
        let mut out = String::new();
        crate::tree::for_each_leaf(&t.docs[0].items, &mut |l| {
            if l.id == id {
                out = l.value.as_str().unwrap_or_default().to_string();
            }
        });
        out
    }

    fn apply(t: &mut Tree, changes: &[Option<NewLeaf>]) {
        fn go(items: &mut [Item], ch: &[Option<NewLeaf>]) {
            for i in items {
                match i {
                    Item::Comment(l) => set(l, ch, true),
                    Item::Pair { value, .. } | Item::Elem(value) => match value {
                        Value::Leaf(l) => set(l, ch, false),
                        Value::Map(xs) | Value::List(xs) => go(xs, ch),
                    },
                }
            }
        }
        fn set(l: &mut Leaf, ch: &[Option<NewLeaf>], comment: bool) {
            if let Some(Some(NewLeaf::Encrypted(e))) = ch.get(l.id) {
                l.value = if comment {
                    Scalar::Comment(secret(e.clone()))
                } else {
                    Scalar::Str(secret(e.clone()))
                };
            }
        }
        for d in &mut t.docs {
            go(&mut d.items, changes);
        }
    }

    /// A tree of `n` string leaves (ids 0..n) under one map.
    fn wide(n: usize) -> Tree {
        Tree {
            docs: vec![Doc {
                items: (0..n)
                    .map(|i| Item::pair(format!("k{i}"), s(i, &format!("value {i}"))))
                    .collect(),
            }],
        }
    }

    #[test]
    fn batches_are_a_quarter_of_the_leaves_within_bounds() {
        assert_eq!(jobs::batch_size(0), jobs::PARALLEL_MIN);
        assert_eq!(jobs::batch_size(5_000), jobs::PARALLEL_MIN);
        assert_eq!(jobs::batch_size(10_000), 2_500);
        assert_eq!(jobs::batch_size(200_000), jobs::BATCH);
    }

    #[test]
    fn shared_batches_grow_from_a_small_first_one_to_the_full_size() {
        let sizes = |leaves, shared| {
            let mut s = jobs::BatchSizes::new(leaves, shared);
            (0..7).map(|_| s.next()).collect::<Vec<_>>()
        };
        let f = jobs::FIRST_BATCH;
        assert_eq!(
            sizes(10_000, true),
            [f, 2 * f, 4 * f, 8 * f, 2_500, 2_500, 2_500]
        );
        assert_eq!(sizes(10_000, false), [2_500; 7]);
        assert_eq!(
            sizes(200_000, true),
            [f, 2 * f, 4 * f, 8 * f, 16 * f, jobs::BATCH, jobs::BATCH]
        );
        // A full size below the first batch's is never passed.
        let mut small = jobs::BatchSizes::new(0, true);
        assert!((0..3).all(|_| small.next() <= jobs::batch_size(0)));
    }

    /// [`wide`]`(n)` encrypted under a new key with the default selection (its MAC checked
    /// against one fed in walk order), and the tree with its ciphertexts in place.
    fn encrypted_wide(n: usize) -> (Tree, Tree, DataKey, WalkResult) {
        let t = wide(n);
        let key = DataKey::generate();
        let enc = encrypt_tree(
            &t,
            &key,
            &Selection::default(),
            false,
            &mut Stash::default(),
        )
        .unwrap();
        let mut expected = MacHasher::new(false);
        for i in 0..n {
            expected.feed(format!("value {i}").as_bytes(), true);
        }
        assert_eq!(enc.mac, expected.finish());
        let mut et = t.clone();
        apply(&mut et, &enc.changes);
        (t, et, key, enc)
    }

    /// Batches growing to full ones and a small last one, shared with the workers where the
    /// machine has more than one processor: the MAC in order, and an error in the second full
    /// batch (taken while the third runs) reported.
    #[test]
    fn a_small_last_batch_runs_after_those_on_the_workers() {
        let n = jobs::BATCH * 4 + 5;
        assert_eq!(jobs::batch_size(n), jobs::BATCH);
        let (_, mut et, key, enc) = encrypted_wide(n);
        let sel = Selection::default();
        let dec = decrypt_tree(&et, &key, &sel, false, &mut Stash::off()).unwrap();
        assert_eq!(dec.mac, enc.mac);
        let at = jobs::BATCH + 3;
        if let Item::Pair { value, .. } = &mut et.docs[0].items[at] {
            *value = s(at, "ENC[AES256_GCM,data:!!]");
        }
        let err = decrypt_tree(&et, &key, &sel, false, &mut Stash::off())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(&format!("[\"k{at}\"]")), "{err}");
    }

    #[test]
    fn a_large_walk_gives_the_mac_in_order_and_the_first_error() {
        // Enough leaves for the work to be shared between threads, in more than two batches.
        let n = jobs::BATCH * 2 + jobs::PARALLEL_MIN + 7;
        let (t, et, key, enc) = encrypted_wide(n);
        let sel = Selection::default();
        let mut stash = Stash::default();
        let dec = decrypt_tree(&et, &key, &sel, false, &mut stash).unwrap();
        assert_eq!(dec.mac, enc.mac);
        assert_eq!(stash.ivs.len(), n);
        for (i, c) in dec.changes.iter().enumerate() {
            match c {
                Some(NewLeaf::Plain { value, .. }) => {
                    assert_eq!(value.as_str(), Some(format!("value {i}").as_str()))
                }
                other => panic!("{i}: {other:?}"),
            }
        }
        // Re-encrypting with the stash keeps every ciphertext.
        let again = encrypt_tree(&t, &key, &sel, false, &mut stash).unwrap();
        assert_eq!(again.changes.len(), enc.changes.len());
        for (a, b) in again.changes.iter().zip(&enc.changes) {
            match (a, b) {
                (Some(NewLeaf::Encrypted(a)), Some(NewLeaf::Encrypted(b))) => assert_eq!(a, b),
                other => panic!("{other:?}"),
            }
        }
        // Two broken values, one in each half: the first in walk order is reported.
        let mut broken = et.clone();
        for (i, leaf_value) in [(n / 4, "garbage"), (n - 2, "ENC[AES256_GCM,data:!!]")] {
            if let Item::Pair { value, .. } = &mut broken.docs[0].items[i] {
                *value = s(i, leaf_value);
            }
        }
        let err = decrypt_tree(&broken, &key, &sel, false, &mut Stash::off())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(&format!("[\"k{}\"]", n / 4)), "{err}");
        // A value that is not a string where a ciphertext is expected, after a broken one.
        let mut late = et.clone();
        if let Item::Pair { value, .. } = &mut late.docs[0].items[n - 1] {
            *value = Value::Leaf(Leaf::new(n - 1, Scalar::Int(3)));
        }
        if let Item::Pair { value, .. } = &mut late.docs[0].items[5] {
            *value = s(5, &leaf_text(&et, 6));
        }
        let err = decrypt_tree(&late, &key, &sel, false, &mut Stash::off())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("[\"k5\"]"), "{err}");
    }

    /// The walk tells, after each run of outcomes it takes, the last leaf taken: in walk order,
    /// through to the last leaf.
    #[test]
    fn the_walk_tells_how_far_it_has_taken_the_outcomes() {
        let n = jobs::BATCH * 2 + jobs::PARALLEL_MIN + 7;
        let (_, et, key, _) = encrypted_wide(n);
        let told = std::cell::RefCell::new(Vec::new());
        let none = |_: LeafId| None;
        let taken = |id: LeafId| told.borrow_mut().push(id);
        let dec = walk_lent(
            &et,
            Some(LentTokens::new(&none).telling(&taken)),
            &key,
            &Selection::default(),
            false,
            &mut Stash::off(),
            Mode::DECRYPT,
        )
        .unwrap();
        assert_eq!(dec.changes.len(), n);
        let told = told.into_inner();
        assert!(told.len() > 2, "{told:?}");
        assert!(told.windows(2).all(|w| w[0] < w[1]), "in walk order");
        assert_eq!(told.last(), Some(&(n - 1)));
    }

    #[test]
    fn comment_regex_semantics() {
        let r = Regex::new("sops:enc").unwrap();
        let sel = Selection::EncryptedCommentRegex(r);
        assert!(!sel.should_encrypt(&["a"], &[vec![]], false));
        assert!(sel.should_encrypt(&["a"], &[vec!["sops:enc"]], false));
        // The marker comment itself stays clear; a later comment in the same block is encrypted.
        assert!(!sel.should_encrypt(&[], &[vec!["sops:enc"]], true));
        assert!(sel.should_encrypt(&[], &[vec!["sops:enc", "more"]], true));
    }

    #[test]
    fn aad_and_paths() {
        assert_eq!(aad(&["a", "b"]), "a:b:");
        assert_eq!(aad(&[]), ":");
        assert_eq!(display_path(":"), "the top level");
        assert_eq!(display_path("a:b:"), "[\"a\"][\"b\"]");
    }
}
