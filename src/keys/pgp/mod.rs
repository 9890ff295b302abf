//! OpenPGP master keys.
//!
//! The data key (or a Shamir share of it) is encrypted to one OpenPGP key, named by its
//! fingerprint, and stored as an ASCII-armored message without a trailing newline, as sops
//! stores it. Two back ends do the work:
//!
//! * the GnuPG binary (`$SOPS_GPG_EXEC`, default `gpg`, with `$GNUPGHOME` honoured), run the way
//!   sops runs it, so keys kept in the user's keyring, in gpg-agent or on a smartcard work;
//! * a native implementation (sequoia-openpgp), for machines without gpg and for keys kept in
//!   files named by `SEPAL_PGP_KEY_FILE`.
//!
//! # `SEPAL_PGP_KEY_FILE`
//!
//! One or more paths to OpenPGP key files, separated by `:` (`;` on Windows). Each file may be
//! ASCII-armored or binary and may hold several keys, public (certificates) or secret
//! (transferable secret keys, e.g. from `gpg --export-secret-keys`). Secret keys must not be
//! passphrase-protected to be used natively; protected keys are left to gpg.
//!
//! Order of the back ends:
//! * encrypt: gpg when it can be run (as sops does); if gpg fails or is missing, the native back
//!   end with the keys from `SEPAL_PGP_KEY_FILE` and, when gpg is installed, `gpg --export <fp>`;
//! * decrypt: natively when `SEPAL_PGP_KEY_FILE` holds a secret key the message is encrypted to,
//!   else gpg.
//!
//! Keys are never fetched from key servers.
//!
//! The modules: `gpg` runs the GnuPG binary, `native` is the sequoia back end (`decryptor` its
//! decryption helper), `key_files` reads `SEPAL_PGP_KEY_FILE`, `fingerprint` normalizes the
//! fingerprints users write. This module holds the settings and the order in which the back ends
//! are tried.

mod decryptor;
mod fingerprint;
mod gpg;
mod key_files;
mod native;
#[cfg(test)]
mod test_support;

use std::cell::OnceCell;
use std::path::PathBuf;

use crate::wipe::Wiped;

use self::gpg::{Gpg, GpgError};
use self::key_files::KeyFiles;
use super::{KeyError, KeySource};
use crate::metadata::{KeyKind, MasterKey, StoredKey};

/// The environment variable naming key files for the native back end.
pub const KEY_FILE_ENV: &str = "SEPAL_PGP_KEY_FILE";

/// Where OpenPGP keys come from (the environment, normally).
#[derive(Clone, Debug)]
pub struct PgpSettings {
    /// The GnuPG binary: `$SOPS_GPG_EXEC` or `gpg`.
    pub gpg_exec: String,
    /// `$GNUPGHOME`, passed to every gpg run; `None` lets gpg use its default.
    pub gnupg_home: Option<PathBuf>,
    /// Key files from `SEPAL_PGP_KEY_FILE`.
    pub key_files: Vec<PathBuf>,
}

impl Default for PgpSettings {
    fn default() -> Self {
        PgpSettings {
            gpg_exec: "gpg".into(),
            gnupg_home: None,
            key_files: Vec::new(),
        }
    }
}

impl PgpSettings {
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
        PgpSettings {
            gpg_exec: var("SOPS_GPG_EXEC")
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_else(|| "gpg".into()),
            gnupg_home: var("GNUPGHOME").map(PathBuf::from),
            key_files: var(KEY_FILE_ENV)
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The OpenPGP key source.
pub struct PgpSource {
    settings: PgpSettings,
    key_files: OnceCell<KeyFiles>,
}

impl PgpSource {
    pub fn new(settings: PgpSettings) -> Self {
        PgpSource {
            settings,
            key_files: OnceCell::new(),
        }
    }

    pub fn from_env() -> Self {
        PgpSource::new(PgpSettings::from_env())
    }

    /// The certificates of `SEPAL_PGP_KEY_FILE` (none when it is not set), read on first use. A
    /// file that cannot be read does not hide the others; its error is reported when no key file
    /// served.
    fn key_files(&self) -> &KeyFiles {
        self.key_files
            .get_or_init(|| KeyFiles::load(&self.settings.key_files))
    }

    /// The GnuPG binary of the settings.
    fn gpg(&self) -> Gpg<'_> {
        Gpg::new(&self.settings)
    }
}

/// The fingerprint an entry names (empty for an entry of another kind).
fn fingerprint_of(key: &StoredKey) -> String {
    match &key.key {
        MasterKey::Pgp { fingerprint } => fingerprint.clone(),
        _ => String::new(),
    }
}

impl KeySource for PgpSource {
    fn kind(&self) -> KeyKind {
        KeyKind::Pgp
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let fp = fingerprint_of(spec);
        let fp = fp.as_str();
        if fp.is_empty() {
            return Err(KeyError::pgp("PGP key without a fingerprint"));
        }
        let enc = match self.gpg().encrypt(fp, secret) {
            Ok(enc) => enc,
            Err(GpgError::NotFound) => {
                if self.settings.key_files.is_empty() {
                    return Err(KeyError::pgp(format!(
                        "could not encrypt data key with PGP key {fp}: the GnuPG binary {:?} \
                         was not found (set SOPS_GPG_EXEC) and {KEY_FILE_ENV} names no key file",
                        self.settings.gpg_exec
                    )));
                }
                self.native_encrypt(fp, secret, false).map_err(|e| {
                    KeyError::pgp(format!("could not encrypt data key with PGP key: {e}"))
                })?
            }
            Err(GpgError::Failed(gpg_err)) => {
                self.native_encrypt(fp, secret, true).map_err(|native| {
                    KeyError::pgp(format!(
                        "could not encrypt data key with PGP key: {}; GnuPG binary error: \
                         {gpg_err}",
                        native
                    ))
                })?
            }
        };
        Ok(spec.wrapped(enc))
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        let fp = fingerprint_of(stored);
        let fp = fp.as_str();
        let enc = stored.enc();
        if enc.is_empty() {
            return Err(KeyError::pgp(format!(
                "PGP key {fp} has no encrypted data key"
            )));
        }
        let mut notes = Vec::new();
        match self.native_decrypt(enc, &mut notes) {
            Ok(Some(secret)) => return Ok(secret),
            Ok(None) => {}
            Err(e) => notes.push(e.to_string()),
        }
        match self.gpg().decrypt(enc) {
            Ok(secret) => Ok(secret),
            Err(GpgError::NotFound) => {
                let mut msg = format!(
                    "could not decrypt data key with PGP key {fp}: the GnuPG binary {:?} was not \
                     found (set SOPS_GPG_EXEC)",
                    self.settings.gpg_exec
                );
                if self.settings.key_files.is_empty() {
                    msg.push_str(&format!(
                        " and {KEY_FILE_ENV} names no key file holding its secret key"
                    ));
                } else {
                    msg.push_str(&format!(
                        " and no key file of {KEY_FILE_ENV} holds its secret key"
                    ));
                }
                for note in notes {
                    msg.push_str("; ");
                    msg.push_str(&note);
                }
                Err(KeyError::pgp(msg))
            }
            Err(GpgError::Failed(gpg_err)) => {
                let mut msg = format!("could not decrypt data key with PGP key {fp}: ");
                for note in notes {
                    msg.push_str(&note);
                    msg.push_str("; ");
                }
                msg.push_str("GnuPG binary error: ");
                msg.push_str(&gpg_err);
                Err(KeyError::pgp(msg))
            }
        }
    }
}
