//! `encrypt`: a plaintext file becomes an encrypted one under a new data key, wrapped for the
//! master keys its options or creation rule name.

use std::sync::Arc;

use crate::crypto::cipher::DataKey;
use crate::keys::Keyring;
use crate::metadata::{KeyGroup, KeyKind, Metadata, SOPS_VERSION};
use crate::stores::{Format, Parsed, Store};
use crate::walk::{Selection, Stash};

use super::early::EarlyOutput;
use super::settings::{new_file_settings, KeyOptions, NewFileSettings, SelectionOptions};
use super::{now, open, reencrypt, Engine, Error, KeyAccess, Output, Plain, Result, Source};

/// What `encrypt` is asked.
#[derive(Debug, Clone, Default)]
pub struct EncryptOptions {
    /// `--input-type` / `--output-type` (default: from the name).
    pub input: Option<Format>,
    pub output: Option<Format>,
    pub keys: KeyOptions,
    pub selection: SelectionOptions,
    pub access: KeyAccess,
}

/// Encrypt `source` (its bytes are consumed); returns the encrypted file. Where `early` is given,
/// the file may be written there as soon as it is checked ([`super::early`]): when this returns
/// `Ok`, what `early` holds is either nothing or exactly the bytes returned.
pub fn encrypt(
    engine: &Engine,
    source: &mut Source,
    options: &EncryptOptions,
    early: Option<&Arc<dyn EarlyOutput>>,
) -> Result<Vec<u8>> {
    let (in_format, out_format) = source.formats(options.input, options.output);
    let in_store = engine.store(in_format);
    let out_store = engine.store(out_format);
    // Until the walk is over (given back there, or when this returns).
    let _kept = super::free::KeptFreedPages::start();
    let mut parsed = open::parse(&in_store, source, false)?;
    refuse_encrypted(&parsed)?;
    if parsed.tree.docs.is_empty() {
        return Err(Error::EmptyFile);
    }
    let settings = new_file_settings(
        engine,
        source.name.as_deref(),
        &options.keys,
        &options.selection,
        in_format,
    )?;
    let keyring = options.access.keyring()?;
    encrypt_new(
        &mut parsed,
        settings,
        &keyring,
        &in_store,
        &out_store,
        &source.display(),
        early,
    )
}

/// Refuse a file that already has sops metadata.
pub fn refuse_encrypted(parsed: &Parsed) -> Result<()> {
    if parsed.metadata.is_some() {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(())
}

/// Encrypt a parsed plaintext file with a new data key; returns the output bytes (see
/// [`encrypt`] for `early`).
pub fn encrypt_new(
    parsed: &mut Parsed,
    settings: NewFileSettings,
    keyring: &Keyring,
    in_store: &Store,
    out_store: &Store,
    file: &str,
    early: Option<&Arc<dyn EarlyOutput>>,
) -> Result<Vec<u8>> {
    let data_key = DataKey::generate();
    let created = now();
    let specs: Vec<KeyGroup> = settings
        .key_groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|k| {
                    let mut k = k.clone();
                    if k.kind() != KeyKind::Age {
                        k.created_at = Some(created.clone());
                    }
                    k
                })
                .collect()
        })
        .collect();
    let key_groups = keyring.wrap_data_key(&data_key, &specs, settings.threshold)?;
    let mut meta = Metadata {
        key_groups,
        shamir_threshold: settings.threshold,
        last_modified: String::new(),
        mac: String::new(),
        selection: match settings.selection {
            Selection::All => None,
            s => Some(s),
        },
        mac_only_encrypted: settings.mac_only_encrypted,
        version: SOPS_VERSION.to_string(),
        layout_record: None,
        conflict_record: None,
    };
    reencrypt(
        parsed,
        Plain::Parsed,
        &data_key,
        &mut meta,
        &mut Stash::default(),
        Output {
            store: in_store,
            out_store,
            file,
            new_file: true,
            early,
        },
    )
}
