//! Opening an encrypted file: parse it, read its metadata, recover the data key, decrypt every
//! value and check the MAC. Every operation on an existing file starts here.

use crate::crypto::cipher::{self, DataKey, EncryptedValue};
use crate::metadata::{Metadata, MetadataError, VersionRule};
use crate::wipe::Wiped;

use crate::stores::{same_as_changed, NewLeaf, Parsed, Store};
use crate::walk::{walk_lent, LentTokens, Mode, Stash};

use super::{layout_record, seal::reformat_time, Error, KeyAccess, Result, Source};

/// A parsed file and its metadata (not decrypted).
pub struct Opened {
    pub parsed: Parsed,
    pub metadata: Metadata,
}

/// Parse `source` with `store`. `encrypted` marks a file that is to be decrypted (sops exits 1
/// when such a file does not parse, 2 otherwise). The bytes are handed to the store.
pub fn parse(store: &Store, source: &mut Source, encrypted: bool) -> Result<Parsed> {
    let bytes = std::mem::take(&mut source.bytes);
    store
        .parse_owned(bytes)
        .map_err(|e| parse_error(store, source, e, encrypted))
}

/// [`parse`] of a file to decrypt once: its store may leave the ciphertexts in the source
/// ([`Store::parse_owned_lending`]).
fn parse_lending(store: &Store, source: &mut Source, encrypted: bool) -> Result<Parsed> {
    let bytes = std::mem::take(&mut source.bytes);
    store
        .parse_owned_lending(bytes)
        .map_err(|e| parse_error(store, source, e, encrypted))
}

/// [`parse`] keeping the source's bytes.
pub fn parse_kept(store: &Store, source: &Source, encrypted: bool) -> Result<Parsed> {
    store
        .parse(&source.bytes)
        .map_err(|e| parse_error(store, source, e, encrypted))
}

fn parse_error(
    store: &Store,
    source: &Source,
    e: crate::stores::StoreError,
    encrypted: bool,
) -> Error {
    Error::Parse {
        file: source.display(),
        format: store.format.name(),
        source: e,
        encrypted,
    }
}

/// Parse an encrypted file and read its metadata.
pub fn open(store: &Store, source: &mut Source) -> Result<Opened> {
    let parsed = parse(store, source, false)?;
    let metadata = read_metadata(&parsed, &source.display())?;
    Ok(Opened { parsed, metadata })
}

/// The metadata of a parsed file (its `version` may be absent in TOML, where rops writes none).
pub(crate) fn metadata_of(parsed: &Parsed) -> std::result::Result<Metadata, MetadataError> {
    let rule = if parsed.metadata_version_optional() {
        VersionRule::MayBeAbsent
    } else {
        VersionRule::Required
    };
    Metadata::from_value_with(parsed.metadata.as_ref(), rule)
}

pub(crate) fn read_metadata(parsed: &Parsed, file: &str) -> Result<Metadata> {
    metadata_of(parsed).map_err(|e| Error::Metadata {
        file: file.to_string(),
        source: e,
    })
}

/// A decrypted file.
pub struct Decrypted {
    pub metadata: Metadata,
    pub data_key: DataKey,
    /// The plaintext of every leaf, by leaf id.
    pub changes: Vec<Option<NewLeaf>>,
    /// The values seen, so that re-encrypting an unchanged value gives the same ciphertext.
    pub stash: Stash,
}

/// What a decryption keeps and checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecryptOptions {
    /// `--ignore-mac`.
    pub ignore_mac: bool,
    /// Keep the values for re-encryption (edit, set); off for output-only commands.
    pub for_reencryption: bool,
    /// The file is decrypted once and its tree read only with the decryption's changes (the
    /// decrypted values in place of the ciphertexts): the ciphertexts may be left in the source
    /// rather than copied into the tree, where [`parse_and_decrypt`] leaves the changed leaves'
    /// values empty.
    pub changed_values_unread: bool,
}

/// Decrypt a parsed file: metadata, data key, every value, and the MAC check.
pub fn decrypt_parsed(
    parsed: &Parsed,
    file: &str,
    keys: &KeyAccess,
    options: DecryptOptions,
) -> Result<Decrypted> {
    let metadata = read_metadata(parsed, file)?;
    let data_key = keys.keyring()?.data_key(&metadata)?;
    let mut stash = if options.for_reencryption {
        Stash::default()
    } else {
        Stash::off()
    };
    let selection = metadata.selection.clone().unwrap_or_default();
    // A TOML file whose metadata has no version was written by rops, and is read as rops writes.
    let mode = if metadata.without_version() {
        Mode::DECRYPT_ROPS
    } else {
        Mode::DECRYPT
    };
    let lent = |id| parsed.lent_token(id);
    // The source's pages the walk is done with are given back where the file is mapped.
    let taken = |id| parsed.release_source_through(id);
    let result = walk_lent(
        &parsed.tree,
        Some(LentTokens::new(&lent).telling(&taken)),
        &data_key,
        &selection,
        metadata.mac_only_encrypted,
        &mut stash,
        mode,
    )
    .map_err(|e| Error::DecryptTree {
        file: file.to_string(),
        source: e,
    })?;
    super::free::give_back_freed_pages();
    if !options.ignore_mac {
        check_mac(&metadata, &data_key, &result.mac, file)?;
    }
    Ok(Decrypted {
        metadata,
        data_key,
        changes: result.changes,
        stash,
    })
}

/// Parse `source` (its bytes are handed to the store) and decrypt it. `encrypted` as in [`parse`].
pub fn parse_and_decrypt(
    store: &Store,
    source: &mut Source,
    encrypted: bool,
    access: &KeyAccess,
    options: DecryptOptions,
) -> Result<(Parsed, Decrypted)> {
    if !options.changed_values_unread {
        let parsed = parse(store, source, encrypted)?;
        let decrypted = decrypt_parsed(&parsed, &source.display(), access, options)?;
        return Ok((parsed, decrypted));
    }
    let mut parsed = parse_lending(store, source, encrypted)?;
    let decrypted = decrypt_parsed(&parsed, &source.display(), access, options)?;
    parsed.restore_lent(&decrypted.changes);
    Ok((parsed, decrypted))
}

/// The plaintext file in its own format and layout: the decrypted values spliced into the
/// encrypted file's bytes, then the layout record applied when the file has one that fits (and
/// reads as the same data); `metadata` is shown in it (the edit buffer's `--show-master-keys`).
pub fn plaintext(
    store: &Store,
    parsed: &Parsed,
    decrypted: &Decrypted,
    metadata: Option<&crate::tree::Value>,
) -> Result<Wiped<Vec<u8>>> {
    let spliced = Wiped::new(
        store
            .splice_plain(parsed, &decrypted.changes, metadata)
            .map_err(Error::Dump)?,
    );
    let record = match (&decrypted.metadata.layout_record, metadata) {
        (Some(record), None) => record,
        _ => return Ok(spliced),
    };
    let Some(restored) = layout_record::apply(record, &spliced, &decrypted.data_key) else {
        return Ok(spliced);
    };
    let same = store
        .parse_lent(&restored)
        .is_ok_and(|back| same_as_changed(&back.tree, &parsed.tree, &decrypted.changes));
    Ok(if same { restored } else { spliced })
}

/// Decrypt the stored MAC and compare it with the computed one. Neither MAC is ever put in an
/// error: each is an unsalted hash of the plaintext values, which a log would keep for an
/// offline guess of a low-entropy secret.
fn check_mac(meta: &Metadata, key: &DataKey, computed: &str, file: &str) -> Result<()> {
    let aad = reformat_time(&meta.last_modified).ok_or_else(|| Error::LastModified {
        file: file.to_string(),
        value: meta.last_modified.clone(),
    })?;
    if meta.mac.is_empty() {
        return Err(Error::MacMissing {
            file: file.to_string(),
        });
    }
    let stored = EncryptedValue::parse(&meta.mac)
        .ok()
        .and_then(|v| cipher::decrypt(key, &v, &aad).ok())
        .ok_or_else(|| Error::MacUndecryptable {
            file: file.to_string(),
        })?;
    if stored.as_slice() != computed.as_bytes() {
        return Err(Error::MacMismatch {
            file: file.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{Format, Store, StoreOptions};
    use crate::tree::{for_each_leaf, forget_changed_values, Scalar};
    use crate::walk::{Mode, Selection, Stash};

    /// The leaves of a document whose values only look encrypted and are copied all the same
    /// (escaped in JSON, quoted in YAML) carry this.
    const COPIED_MARK: &str = ",iv:A,tag:A,";

    /// A file read with its ciphertexts left in the source decrypts to what the reading that
    /// copies them gives (the same changes and MAC, a value that only looks encrypted included),
    /// and once restored its tree is that reading's but for the changed leaves.
    fn lent_decrypts_as_copied(format: Format, text: &str, lent_leaves: usize) {
        let store = Store::new(format, StoreOptions::default());
        let (out, key) = super::super::seal::tests::encrypted(&store, text);
        let selection = Selection::default();
        let copied = store.parse_owned(Wiped::new(out.clone()).into()).unwrap();
        let mut lent = store.parse_owned_lending(Wiped::new(out).into()).unwrap();
        assert_eq!(lent.metadata, copied.metadata, "the metadata is never lent");
        let (mut copied_leaves, mut lent_read) = (Vec::new(), Vec::new());
        for_each_leaf(&copied.tree.docs[0].items, &mut |l| {
            copied_leaves.push(l.clone())
        });
        for_each_leaf(&lent.tree.docs[0].items, &mut |l| lent_read.push(l.clone()));
        let (mut lent_count, mut seen) = (0, std::collections::HashSet::new());
        for (c, l) in copied_leaves.iter().zip(&lent_read) {
            let token = lent.lent_token(l.id);
            // An alias's copy (the value again) is copied.
            let first = matches!(&c.value, Scalar::Str(s) if seen.insert(s.to_string()));
            match &c.value {
                Scalar::Str(s) if first && s.starts_with("ENC[") && !s.contains(COPIED_MARK) => {
                    assert_eq!(l.value, Scalar::Str(crate::tree::secret("")), "{}", c.id);
                    assert_eq!(token, Some(s.as_str()));
                    lent_count += 1;
                }
                _ => {
                    assert_eq!(l, c);
                    assert_eq!(token, None);
                }
            }
        }
        assert_eq!(lent_count, lent_leaves, "{format:?}");
        assert_eq!(copied.lent_token(0), None);

        let decrypt = |tree, lent| {
            walk_lent(
                tree,
                lent,
                &key,
                &selection,
                false,
                &mut Stash::off(),
                Mode::DECRYPT,
            )
        };
        let expected = decrypt(&copied.tree, None).unwrap();
        let tokens = |id| lent.lent_token(id);
        let got = decrypt(&lent.tree, Some(LentTokens::new(&tokens))).unwrap();
        assert_eq!(got.changes, expected.changes);
        assert_eq!(got.mac, expected.mac);
        // Without the tokens, the lent leaves read as empty strings: a MAC of other values.
        let blind = decrypt(&lent.tree, None);
        assert!(blind.is_ok_and(|b| b.mac != expected.mac));

        lent.restore_lent(&got.changes);
        let mut copied_tree = copied.tree.clone();
        forget_changed_values(&mut copied_tree, &got.changes);
        forget_changed_values(&mut lent.tree, &got.changes);
        assert_eq!(lent.tree, copied_tree);
        // What restoring gives back: the pasted token, in clear.
        let mut pasted = None;
        for_each_leaf(&lent.tree.docs[0].items, &mut |l| {
            if matches!(&l.value, Scalar::Str(s) if s.ends_with("tag:AAAA,type:str]")) {
                pasted = Some(l.id);
            }
        });
        assert!(pasted.is_some_and(|id| got.changes[id].is_none()));
    }

    #[test]
    fn lent_json_ciphertexts_decrypt_as_copied_ones() {
        lent_decrypts_as_copied(
            Format::Json,
            concat!(
                "{\n",
                "  \"a\": \"secret\",\n",
                "  \"n\": 12,\n",
                "  \"l\": [true, \"x\", {\"deep\": \"y\"}],\n",
                "  \"pasted_unencrypted\": \"ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\",\n",
                "  \"escaped_unencrypted\": \"ENC[AES256_GCM,data:\\u0041,iv:A,tag:A,type:str]\",\n",
                "  \"empty\": \"\"\n",
                "}\n",
            ),
            // The five encrypted values and the pasted one.
            6,
        );
    }

    #[test]
    fn lent_yaml_ciphertexts_decrypt_as_copied_ones() {
        lent_decrypts_as_copied(
            Format::Yaml,
            concat!(
                "a: secret\n",
                "n: 12\n",
                "l:\n",
                "  - true\n",
                "  - x\n",
                "  - deep: y\n",
                "pasted_unencrypted: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n",
                "quoted_unencrypted: \"ENC[AES256_GCM,data:AAAB,iv:A,tag:A,type:str]\"\n",
                "tagged_unencrypted: !!str ENC[AES256_GCM,data:AAAC,iv:AAAC,tag:AAAC,type:str]\n",
                "anchored_unencrypted: &v ENC[AES256_GCM,data:AAAD,iv:AAAD,tag:AAAD,type:str]\n",
                "alias_unencrypted: *v\n",
                "empty: \"\"\n",
            ),
            // The five encrypted values (`y` among them, marked `!!str`: YAML 1.1 reads it as a
            // boolean), the pasted one, the tagged one and the anchored one (not its alias).
            8,
        );
    }
}
