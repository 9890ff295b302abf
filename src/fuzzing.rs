//! Entry points shared by the fuzz targets and the tests that replay their findings.

use crate::stores::{Format, Store, StoreOptions};
use crate::tree::{leaf_count, secret, Scalar};

/// Parse `data` as `format`; if it parses, splicing with no change must give `data` back, and
/// re-parsing that must give the same tree. Panics (for the fuzzer) when either fails.
pub fn parse_and_splice(format: Format, data: &[u8]) {
    let store = Store::new(format, StoreOptions::default());
    let Ok(parsed) = store.parse(data) else {
        return;
    };
    let leaves = leaf_count(&parsed.tree);
    // The expansion budget: aliases may not make a document much larger than its bytes (at most
    // 99% of the nodes may come from aliases, past the first thousand).
    assert!(
        leaves <= 100 * data.len() + 1100,
        "{leaves} leaves from {} bytes: the alias expansion budget was not applied",
        data.len()
    );
    let changes = vec![None; leaves];
    // What the commands write back is metadata they could read: anything else is refused first.
    let metadata = crate::metadata::Metadata::from_value(parsed.metadata.as_ref())
        .ok()
        .map(|m| m.to_value());
    if parsed.metadata.is_some() && metadata.is_none() {
        return;
    }
    let Ok(out) = store.splice(&parsed, &changes, metadata.as_ref()) else {
        return;
    };
    let again = match store.parse(&out) {
        Ok(p) => p,
        Err(e) => panic!("spliced output must parse again: {e}"),
    };
    // Byte for byte, except for the declared losses (docs/compatibility.md: aliases of
    // collections are written expanded): then the same data.
    if parsed.metadata.is_none() && out != data {
        assert!(
            crate::stores::same_documents(&parsed.tree, &again.tree),
            "an unchanged splice must give the input back, or at least its data"
        );
    }
}

/// The layout record on fuzzed input: a record made from `spliced` to `original` gives
/// `original` back; and a decrypted record (`payload`, given the right digest) applied to
/// `spliced` never panics and only ever joins the input's lines and the record's texts.
pub fn layout_record_payload(payload: &[u8], spliced: &[u8], original: &[u8]) {
    use crate::ops::layout_record::{apply, apply_payload, make};
    use sha2::{Digest, Sha256};

    let key = crate::crypto::DataKey::from_slice(&[5u8; 32])
        .unwrap_or_else(crate::crypto::DataKey::generate);
    if let Some(record) = make(spliced, original, &key) {
        match apply(&record, spliced, &key) {
            Some(back) => assert!(
                back.as_slice() == original,
                "a record must give the original back"
            ),
            None => panic!("a record must apply to the bytes it was made from"),
        }
    }
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(payload) else {
        return;
    };
    object.insert("version".into(), 1.into());
    object.insert("sha256".into(), hex::encode(Sha256::digest(spliced)).into());
    let payload = serde_json::Value::Object(object).to_string();
    if let Some(out) = apply_payload(payload.as_bytes(), spliced) {
        assert!(out.len() <= spliced.len() + payload.len());
    }
}

/// What [`encrypt_accounted`] did with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not a plaintext file of this format (it does not parse, or already has metadata).
    NotPlaintext,
    /// Encryption refused it (a walk, splice or accounted-for failure): nothing would be written.
    Refused,
    /// Encrypted, checked, and decrypted back to the same data.
    Encrypted,
}

/// Metadata for a file encrypted in a test: a fake age key (never decrypted), real selection.
pub fn test_metadata(selection: &crate::walk::Selection) -> crate::metadata::Metadata {
    use crate::metadata::{MasterKey, Metadata, StoredKey};
    let mut k = StoredKey::new(MasterKey::Age {
        recipient: "age1test".into(),
    });
    k.enc = "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n".into();
    Metadata {
        key_groups: vec![vec![k]],
        shamir_threshold: 0,
        last_modified: "2024-01-02T03:04:05Z".into(),
        mac: "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]".into(),
        selection: match selection {
            crate::walk::Selection::All => None,
            s => Some(s.clone()),
        },
        mac_only_encrypted: false,
        layout_record: None,
        conflict_record: None,
        version: crate::metadata::SOPS_VERSION.into(),
    }
}

/// The encryption pipeline of `sepal encrypt` on `data` (parse, cipher walk, splice, the
/// accounted-for check), then decryption of its output. Panics (for the fuzzer and the property
/// tests) when an encryption that passed the check does not decrypt, or decrypts to other data
/// than the input's; or when `marker` appears in the output outside the input's keys (every
/// value and comment is encrypted with the default selection, so a marker anywhere else is
/// plaintext that got through).
pub fn encrypt_accounted(format: Format, data: &[u8], marker: Option<&str>) -> Outcome {
    use crate::crypto::DataKey;
    use crate::walk::{decrypt_tree, encrypt_tree, Selection, Stash};

    let store = Store::new(format, StoreOptions::default());
    let Ok(parsed) = store.parse(data) else {
        return Outcome::NotPlaintext;
    };
    if parsed.metadata.is_some() || parsed.tree.docs.is_empty() {
        return Outcome::NotPlaintext;
    }
    let key = DataKey::from_slice(&[7u8; 32]).unwrap_or_else(DataKey::generate);
    let sel = Selection::default();
    let Ok(enc) = encrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::default()) else {
        return Outcome::Refused;
    };
    let meta = test_metadata(&sel).to_value();
    let Ok(out) = store.splice(&parsed, &enc.changes, Some(&meta)) else {
        return Outcome::Refused;
    };
    if crate::verify::check_encrypted(&store, &out, &parsed.tree, &enc.changes).is_err() {
        return Outcome::Refused;
    }
    if let Some(m) = marker {
        let mut in_clear = false;
        for d in &parsed.tree.docs {
            crate::tree::for_each_leaf(&d.items, &mut |l| {
                let kept = enc.changes.get(l.id).is_some_and(|c| c.is_none());
                if kept && l.value.as_str().is_some_and(|s| s.contains(m)) {
                    in_clear = true;
                }
            });
        }
        let in_keys = keys_contain(&parsed.tree, m);
        let leaked = out.windows(m.len()).any(|w| w == m.as_bytes());
        assert!(
            in_keys || in_clear || !leaked,
            "plaintext marker in the encrypted output"
        );
    }
    let parsed2 = match store.parse(&out) {
        Ok(p) => p,
        Err(e) => panic!("encrypted output does not parse: {e}"),
    };
    let dec = match decrypt_tree(&parsed2.tree, &key, &sel, false, &mut Stash::default()) {
        Ok(d) => d,
        Err(e) => panic!("encrypted output does not decrypt: {e}"),
    };
    assert_eq!(dec.mac, enc.mac, "the MAC of the decryption differs");
    // The reading `decrypt` makes, its ciphertexts left in the output's bytes, reads and
    // decrypts as this one.
    lending_agrees(format, &out);
    let lent = match store.parse_owned_lending(crate::wipe::Wiped::new(out.clone()).into()) {
        Ok(p) => p,
        Err(e) => panic!("encrypted output does not parse when lending: {e}"),
    };
    let tokens = |id| lent.lent_token(id);
    let mode = crate::walk::Mode::DECRYPT;
    let again = crate::walk::walk_lent(
        &lent.tree,
        Some(crate::walk::LentTokens::new(&tokens)),
        &key,
        &sel,
        false,
        &mut Stash::off(),
        mode,
    );
    assert!(
        again.is_ok_and(|a| a.changes == dec.changes && a.mac == dec.mac),
        "the lending reading decrypts to other values"
    );
    // As `decrypt` writes it: spliced, or laid out from scratch where the splice cannot be made.
    let plain = match store.splice_plain(&parsed2, &dec.changes, None) {
        Ok(p) => p,
        Err(e) => panic!("decrypted output cannot be written: {e}"),
    };
    let back = match store.parse(&plain) {
        Ok(p) => p,
        Err(e) => panic!("decrypted output does not parse: {e}"),
    };
    assert!(
        crate::stores::same_documents(&parsed.tree, &back.tree),
        "decrypt(encrypt(x)) reads as other data than x"
    );
    Outcome::Encrypted
}

fn keys_contain(tree: &crate::tree::Tree, m: &str) -> bool {
    use crate::tree::{Item, Value};
    fn go(items: &[Item], m: &str) -> bool {
        items.iter().any(|i| match i {
            Item::Comment(_) => false,
            Item::Pair { key, value } => {
                key.contains(m) || matches!(value, Value::Map(v) | Value::List(v) if go(v, m))
            }
            Item::Elem(Value::Map(v) | Value::List(v)) => go(v, m),
            Item::Elem(Value::Leaf(_)) => false,
        })
    }
    tree.docs.iter().any(|d| go(&d.items, m))
}

/// The fast YAML reading gives granit-parser's events on what it reads through, and the same
/// first events on what it declines. Panics (for the fuzzer) where they differ.
pub fn yaml_fast_reading_agrees(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = crate::stores::yaml::fast_reading_compared(text) {
        panic!("the fast YAML reading differs from granit-parser's: {e}");
    }
}

/// The system's libyaml, where this build links it, reads `data` as the translated libyaml does
/// (same events, same failure). Panics (for the fuzzer) where they differ. A build without the
/// system's libyaml has only one, and nothing to compare.
pub fn libyaml_builds_agree(data: &[u8]) {
    #[cfg(sepal_libyaml)]
    crate::verify::assert_libyaml_builds_agree(data);
    #[cfg(not(sepal_libyaml))]
    let _ = data;
}

/// A JSON file read in two halves at once (as a large one is) gives what one thread gives, or is
/// left to one thread; so does the read-back of a spliced text. Panics (for the fuzzer) where
/// they differ.
pub fn json_halves_agree(data: &[u8]) {
    if let Err(what) = crate::stores::json::halves_compared(data) {
        panic!("JSON read in halves differs from one thread's reading: {what}");
    }
    // The read-back in halves: `data` is the expected text and the text read back, split at the
    // first 0xFF byte (the same text twice without one).
    let (expected, read) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    if let Err(what) = crate::stores::json::readback_halves_compared(expected, read) {
        panic!("{what}");
    }
}

/// The JSON reading that keeps no tree (an encrypted output's check) gives the full reading's
/// values, layout and shape digest, and refuses what it refuses. Panics (for the fuzzer) where
/// they differ.
pub fn json_lean_agrees(data: &[u8]) {
    if let Err(what) = crate::stores::json::lean_compared(data) {
        panic!("{what}");
    }
}

/// The YAML read-back compared event by event never confirms what the full reading refuses.
/// `data` is the expected text and the text read back, split at the first 0xFF byte (the same
/// text twice without one).
pub fn yaml_readback_agrees(data: &[u8]) {
    let (expected, read) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let store = Store::new(Format::Yaml, StoreOptions::default());
    let Ok(parsed) = store.parse(expected) else {
        return;
    };
    let changes = vec![None; leaf_count(&parsed.tree)];
    if crate::stores::yaml::readback_confirms(read, &parsed.tree, &changes) {
        assert!(
            crate::stores::reads_in_full_as_changed(
                &crate::stores::yaml::YamlStore,
                read,
                &parsed.tree,
                &changes
            ),
            "the event comparison confirmed a read-back the full reading refuses"
        );
    }
}

/// The reading that leaves ciphertexts in the source (a decryption's) against the one that
/// copies them, on `bytes`: both refuse it, or each leaf is the same in both or an empty string
/// whose lent text is the copied value, and restored (no leaf changed) the trees are the same;
/// so is the reading that leaves them in bytes it keeps no copy of (the output check's), against
/// those bytes. How many leaves were lent. Panics (for the fuzzer) where they differ.
pub fn lending_agrees(format: Format, bytes: &[u8]) -> usize {
    let store = Store::new(format, StoreOptions::default());
    let copied = store.parse_owned(crate::wipe::Wiped::new(bytes.to_vec()).into());
    let lent = store.parse_owned_lending(crate::wipe::Wiped::new(bytes.to_vec()).into());
    let (copied, mut lent) = match (copied, lent) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(_), Err(_)) => return 0,
        (c, l) => panic!("{format:?}: copied {:?}, lent {:?}", c.is_ok(), l.is_ok()),
    };
    assert!(lent.metadata == copied.metadata, "{format:?}: metadata");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for d in &copied.tree.docs {
        crate::tree::for_each_leaf(&d.items, &mut |l| a.push(l.clone()));
    }
    for d in &lent.tree.docs {
        crate::tree::for_each_leaf(&d.items, &mut |l| b.push(l.clone()));
    }
    assert_eq!(a.len(), b.len(), "{format:?}");
    let mut lent_leaves = 0;
    for (c, l) in a.iter().zip(&b) {
        match (&c.value, lent.lent_token(l.id)) {
            (Scalar::Str(s), Some(token)) if !s.is_empty() => {
                assert!(
                    l.value == Scalar::Str(secret("")),
                    "{format:?}: leaf {}",
                    l.id
                );
                assert!(token == s.as_str(), "{format:?}: leaf {}", l.id);
                lent_leaves += 1;
            }
            (_, token) => {
                assert!(token.is_none(), "{format:?}: leaf {}", l.id);
                assert!(c == l, "{format:?}: leaf {}", l.id);
            }
        }
    }
    lent.restore_lent(&vec![None; a.len()]);
    assert!(lent.tree == copied.tree, "{format:?}: restored");
    // The output check's reading, which keeps no copy of the bytes: where it lends, the same
    // leaves read from `bytes`; restored, the same tree.
    let mut unkept = store
        .parse_lent_lending(bytes)
        .unwrap_or_else(|e| panic!("{format:?}: the reading without a copy refused it: {e}"));
    let mut c = Vec::new();
    for d in &unkept.tree.docs {
        crate::tree::for_each_leaf(&d.items, &mut |l| c.push(l.clone()));
    }
    assert_eq!(a.len(), c.len(), "{format:?}");
    for (copy, l) in a.iter().zip(&c) {
        match unkept.lent_token_from(l.id, bytes) {
            Some(token) => {
                assert!(
                    l.value == Scalar::Str(secret("")),
                    "{format:?}: leaf {}",
                    l.id
                );
                assert!(
                    copy.value == Scalar::Str(secret(token)),
                    "{format:?}: leaf {}",
                    l.id
                );
            }
            None => assert!(copy == l, "{format:?}: leaf {}", l.id),
        }
    }
    unkept.restore_lent_from(&vec![None; a.len()], bytes);
    assert!(
        unkept.tree == copied.tree,
        "{format:?}: restored from the bytes"
    );
    lent_leaves
}
