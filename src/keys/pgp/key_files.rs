//! The key files named by `SEPAL_PGP_KEY_FILE`: reading their certificates once, remembering why
//! a file could not be read (reported only when no key file served), and handing the native back
//! end the certificate to encrypt to or the secret keys to decrypt with.

use std::path::{Path, PathBuf};

use sequoia_openpgp::cert::prelude::*;
use sequoia_openpgp::packet::key::{SecretParts, UnspecifiedRole};
use sequoia_openpgp::packet::Key;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::{Cert, Fingerprint};

use super::fingerprint::FingerprintQuery;
use super::KEY_FILE_ENV;
use crate::wipe::Wiped;

/// A certificate read from a key file, with the file it came from.
struct FileCert {
    cert: Cert,
    origin: String,
}

/// What the key files held: their certificates, and why some could not be read.
#[derive(Default)]
pub(super) struct KeyFiles {
    certs: Vec<FileCert>,
    errors: Vec<String>,
}

/// The secret keys of the key files, split by whether sepal can use them natively.
pub(super) struct SecretKeys {
    /// Secret keys stored unprotected.
    pub(super) usable: Vec<Key<SecretParts, UnspecifiedRole>>,
    /// Passphrase-protected secret keys: their fingerprints and the files holding them.
    pub(super) protected: Vec<(Fingerprint, String)>,
}

impl KeyFiles {
    /// Read every certificate of the key files. A file that cannot be read does not hide the
    /// others; its error is kept in [`KeyFiles::errors`].
    pub(super) fn load(paths: &[PathBuf]) -> KeyFiles {
        let mut out = KeyFiles::default();
        for path in paths {
            out.load_file(path);
        }
        out
    }

    fn load_file(&mut self, path: &Path) {
        let origin = path.display().to_string();
        let fail = |e: &dyn std::fmt::Display| {
            format!("failed to read PGP key file {origin} ({KEY_FILE_ENV}): {e}")
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Wiped::new(bytes),
            Err(e) => {
                self.errors.push(fail(&e));
                return;
            }
        };
        let parser = match CertParser::from_bytes(&bytes[..]) {
            Ok(parser) => parser,
            Err(e) => {
                self.errors.push(fail(&e));
                return;
            }
        };
        let before = self.certs.len();
        for cert in parser {
            match cert {
                Ok(cert) => self.certs.push(FileCert {
                    cert,
                    origin: origin.clone(),
                }),
                Err(e) => self.errors.push(fail(&e)),
            }
        }
        if self.certs.len() == before {
            self.errors.push(fail(&"the file holds no OpenPGP key"));
        }
    }

    /// Why some key files could not be read, one message each.
    pub(super) fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The first certificate that has the fingerprint `query` (as primary key or subkey).
    pub(super) fn find(&self, query: &FingerprintQuery) -> Option<&Cert> {
        self.certs
            .iter()
            .map(|file_cert| &file_cert.cert)
            .find(|cert| query.matches(cert).is_some())
    }

    /// Every secret key of the key files, in file order.
    pub(super) fn secret_keys(&self) -> SecretKeys {
        let mut usable = Vec::new();
        let mut protected = Vec::new();
        for file_cert in &self.certs {
            for key_amalgamation in file_cert.cert.keys().secret() {
                let key = key_amalgamation.key().clone().role_into_unspecified();
                if key.has_unencrypted_secret() {
                    usable.push(key);
                } else {
                    protected.push((key.fingerprint(), file_cert.origin.clone()));
                }
            }
        }
        SecretKeys { usable, protected }
    }
}

#[cfg(test)]
mod tests {
    use sequoia_openpgp::cert::CipherSuite;

    use super::super::test_support::{generate, write_keys};
    use super::*;

    #[test]
    fn unreadable_files_do_not_hide_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let cert = generate(CipherSuite::Cv25519);
        let (public, secret) = write_keys(dir.path(), &cert, true);
        let missing = dir.path().join("missing");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let files = KeyFiles::load(&[missing.clone(), public, empty.clone(), secret]);

        for bad in [&missing, &empty] {
            let origin = bad.display().to_string();
            assert!(
                files.errors().iter().any(|e| e.contains(&origin)),
                "{:?}",
                files.errors()
            );
        }
        for error in files.errors() {
            assert!(
                error.starts_with("failed to read PGP key file") && error.contains(KEY_FILE_ENV),
                "{error}"
            );
        }
        let query = FingerprintQuery::parse(&cert.fingerprint().to_hex()).unwrap();
        assert_eq!(
            files.find(&query).map(Cert::fingerprint),
            Some(cert.fingerprint())
        );
        // Only the secret key file holds secret keys, all unprotected.
        let keys = files.secret_keys();
        assert_eq!(keys.usable.len(), cert.keys().count());
        assert!(keys.protected.is_empty());
    }

    #[test]
    fn protected_secret_keys_are_set_apart() {
        let dir = tempfile::tempdir().unwrap();
        let cert = CertBuilder::general_purpose(Some("Locked <l@example.com>"))
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_password(Some("passphrase".into()))
            .generate()
            .unwrap()
            .0;
        let (_, secret) = write_keys(dir.path(), &cert, false);
        let keys = KeyFiles::load(std::slice::from_ref(&secret)).secret_keys();
        assert!(keys.usable.is_empty());
        assert_eq!(keys.protected.len(), cert.keys().count());
        let origin = secret.display().to_string();
        assert!(keys.protected.iter().all(|(_, file)| *file == origin));
    }
}
