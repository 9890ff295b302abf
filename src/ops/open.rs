//! Opening an encrypted file: parse it, read its metadata, recover the data key, decrypt every
//! value and check the MAC. Every operation on an existing file starts here.

use crate::crypto::cipher::{self, DataKey, EncryptedValue};
use crate::metadata::{Metadata, MetadataError, VersionRule};
use zeroize::Zeroizing;

use crate::stores::{same_as_changed, NewLeaf, Parsed, Store};
use crate::walk::{walk, Mode, Stash};

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
    let result = walk(
        &parsed.tree,
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
    let parsed = parse(store, source, encrypted)?;
    let decrypted = decrypt_parsed(&parsed, &source.display(), access, options)?;
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
) -> Result<Zeroizing<Vec<u8>>> {
    let spliced = Zeroizing::new(
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
