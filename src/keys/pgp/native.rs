//! The native back end (sequoia-openpgp), for machines without gpg and for keys kept in the files
//! of `SEPAL_PGP_KEY_FILE`: encrypting to a certificate the way gpg picks its encryption key, and
//! decrypting with the key files' unprotected secret keys.

use std::cell::RefCell;
use std::io::{Read, Write};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::parse::stream::DecryptorBuilder;
use openpgp::parse::Parse;
use openpgp::policy::{Policy, StandardPolicy};
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient};
use openpgp::types::RevocationStatus;
use openpgp::Cert;

use super::decryptor::{DecryptionState, KeyFileDecryptor};
use super::fingerprint::FingerprintQuery;
use super::{PgpSource, KEY_FILE_ENV};
use crate::keys::KeyError;
use crate::wipe::Wiped;

impl PgpSource {
    /// Encrypt natively to `fp`, finding its certificate in the key files, then (when
    /// `gpg_available`) in gpg's keyring.
    pub(super) fn native_encrypt(
        &self,
        fp: &str,
        secret: &[u8],
        gpg_available: bool,
    ) -> Result<String, KeyError> {
        let query = FingerprintQuery::parse(fp)?;
        let files = self.key_files();
        let mut found: Option<Cert> = files.find(&query).cloned();
        if found.is_none() && gpg_available {
            found = self.gpg().export(fp).ok().flatten();
        }
        let cert = found.ok_or_else(|| {
            let mut places = Vec::new();
            if gpg_available {
                places.push("the GnuPG keyring".to_string());
            }
            if !self.settings.key_files.is_empty() {
                places.push(format!("the key files of {KEY_FILE_ENV}"));
            }
            let mut msg = format!(
                "PGP key with fingerprint {fp} not found in {}",
                if places.is_empty() {
                    "any keyring".to_string()
                } else {
                    places.join(" or ")
                }
            );
            for e in files.errors() {
                msg.push_str("; ");
                msg.push_str(e);
            }
            KeyError::pgp(msg)
        })?;
        encrypt_to_cert(&cert, &query, fp, secret)
    }

    /// Decrypt natively with the secret keys of the key files. `Ok(None)`: no key file holds a
    /// usable secret key the message is encrypted to.
    pub(super) fn native_decrypt(
        &self,
        enc: &str,
        notes: &mut Vec<String>,
    ) -> Result<Option<Wiped<Vec<u8>>>, KeyError> {
        let files = self.key_files();
        let secret_keys = files.secret_keys();
        if secret_keys.usable.is_empty() && secret_keys.protected.is_empty() {
            notes.extend(files.errors().iter().cloned());
            return Ok(None);
        }
        let state = RefCell::new(DecryptionState::default());
        let helper = KeyFileDecryptor::new(&secret_keys, &state);
        let policy = StandardPolicy::new();
        let result = DecryptorBuilder::from_bytes(enc.as_bytes())
            .and_then(|builder| builder.with_policy(&policy, None, helper))
            .and_then(|mut decryptor| {
                let mut out = Wiped::new(Vec::new());
                decryptor.read_to_end(&mut out)?;
                Ok(out)
            });
        let state = state.into_inner();
        if let Some((fingerprint, origin)) = state.protected_hit {
            notes.push(format!(
                "the secret key {fingerprint} in {origin} is passphrase-protected; \
                 sepal only uses unprotected key files natively"
            ));
        }
        if !state.matched {
            notes.extend(files.errors().iter().cloned());
            return Ok(None);
        }
        match result {
            Ok(out) if out.is_empty() => {
                Err(KeyError::pgp("the PGP message decrypted to zero bytes"))
            }
            Ok(out) => Ok(Some(out)),
            Err(e) => Err(KeyError::pgp(format!(
                "failed to decrypt the data key with the key files of {KEY_FILE_ENV}: {e}"
            ))),
        }
    }
}

/// Encrypt `secret` to the encryption key of `cert` that `query` designates: the subkey it
/// names, or the newest valid encryption-capable key of the certificate (as gpg picks it).
fn encrypt_to_cert(
    cert: &Cert,
    query: &FingerprintQuery,
    fp: &str,
    secret: &[u8],
) -> Result<String, KeyError> {
    let policy = StandardPolicy::new();
    let recipient = choose_recipient(cert, &policy, query, fp)?;
    armored_message(recipient, fp, secret)
}

/// The key of `cert` to encrypt to, or why there is none.
fn choose_recipient<'a>(
    cert: &'a Cert,
    policy: &'a dyn Policy,
    query: &FingerprintQuery,
    fp: &str,
) -> Result<Recipient<'a>, KeyError> {
    let valid_cert = cert
        .with_policy(policy, None)
        .map_err(|e| KeyError::pgp(format!("PGP key {fp} is not usable: {e}")))?;
    if let RevocationStatus::Revoked(_) = valid_cert.revocation_status() {
        return Err(KeyError::pgp(format!("PGP key {fp} has been revoked")));
    }
    if valid_cert.alive().is_err() {
        return Err(KeyError::pgp(format!("PGP key {fp} has expired")));
    }
    let wanted_subkey = query.matches(cert).flatten();
    let capable: Vec<_> = valid_cert
        .keys()
        .for_transport_encryption()
        .for_storage_encryption()
        .filter(|key| {
            wanted_subkey
                .as_ref()
                .is_none_or(|handle| handle.aliases(key.key().key_handle()))
        })
        .collect();
    if capable.is_empty() {
        return Err(KeyError::pgp(if wanted_subkey.is_some() {
            format!("PGP subkey {fp} is not encryption-capable")
        } else {
            format!("PGP key {fp} has no encryption-capable (sub)key")
        }));
    }
    let usable: Vec<_> = capable
        .into_iter()
        .filter(|key| {
            key.alive().is_ok() && !matches!(key.revocation_status(), RevocationStatus::Revoked(_))
        })
        .collect();
    if usable.is_empty() {
        return Err(KeyError::pgp(format!(
            "the encryption (sub)keys of PGP key {fp} have expired or been revoked"
        )));
    }
    let chosen = usable
        .into_iter()
        .filter(|key| key.key().pk_algo().is_supported())
        .max_by_key(|key| key.key().creation_time())
        .ok_or_else(|| {
            KeyError::pgp(format!(
                "PGP key {fp} uses an encryption algorithm sepal does not support"
            ))
        })?;
    Ok(chosen.into())
}

/// `secret` encrypted to `recipient`, ASCII-armored, without a trailing newline.
fn armored_message(recipient: Recipient, fp: &str, secret: &[u8]) -> Result<String, KeyError> {
    let fail = |e: &dyn std::fmt::Display| {
        KeyError::pgp(format!("failed to encrypt for PGP key {fp}: {e}"))
    };
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message)
            .kind(openpgp::armor::Kind::Message)
            .build()
            .map_err(|e| fail(&e))?;
        let message = Encryptor::for_recipients(message, [recipient])
            .build()
            .map_err(|e| fail(&e))?;
        let mut writer = LiteralWriter::new(message).build().map_err(|e| fail(&e))?;
        writer.write_all(secret).map_err(|e| fail(&e))?;
        writer.finalize().map_err(|e| fail(&e))?;
    }
    let text = String::from_utf8(sink)
        .map_err(|_| KeyError::pgp("the OpenPGP armor writer produced non-UTF-8 text"))?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::super::test_support::{check_armor, generate, native, spec, write_keys, SECRET};
    use super::*;
    use crate::keys::KeySource;

    #[test]
    fn native_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for (cs, armored) in [(CipherSuite::RSA3k, true), (CipherSuite::Cv25519, false)] {
            let cert = generate(cs);
            let (public, secret) = write_keys(dir.path(), &cert, armored);
            let fp = cert.fingerprint().to_hex();
            let policy = StandardPolicy::new();
            let sub = cert
                .keys()
                .subkeys()
                .with_policy(&policy, None)
                .for_storage_encryption()
                .next()
                .unwrap()
                .key()
                .fingerprint()
                .to_hex();
            // Primary fingerprint in any case, subkey fingerprint, exact-subkey syntax.
            for given in [
                fp.clone(),
                fp.to_lowercase(),
                sub.clone(),
                format!("{sub}!"),
            ] {
                for key_file in [&public, &secret] {
                    let stored = native(&[key_file]).wrap(&spec(&given), SECRET).unwrap();
                    check_armor(&stored, &given);
                    let other = generate(CipherSuite::Cv25519);
                    let (_, other_secret) = write_keys(dir.path(), &other, true);
                    let out = native(&[&other_secret, &secret]).unwrap(&stored).unwrap();
                    assert_eq!(&out[..], SECRET);
                }
            }
            // A Shamir share.
            let share = [7u8; 33];
            let stored = native(&[&public]).wrap(&spec(&fp), &share).unwrap();
            assert_eq!(&native(&[&secret]).unwrap(&stored).unwrap()[..], &share);
            // A public key cannot decrypt, and without gpg the error says so.
            let err = native(&[&public]).unwrap(&stored).unwrap_err().to_string();
            assert!(err.contains(&fp) && err.contains("not found"), "{err}");
        }
    }

    #[test]
    fn native_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert = generate(CipherSuite::Cv25519);
        let (public, _) = write_keys(dir.path(), &cert, true);
        let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
        let err = native(&[&public])
            .wrap(&spec(unknown), SECRET)
            .unwrap_err()
            .to_string();
        assert!(err.contains(unknown) && err.contains("not found"), "{err}");

        let err = native(&[])
            .wrap(&spec(unknown), SECRET)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("was not found") && err.contains(KEY_FILE_ENV),
            "{err}"
        );

        let err = native(&[&dir.path().join("missing")])
            .wrap(&spec(unknown), SECRET)
            .unwrap_err()
            .to_string();
        assert!(err.contains("failed to read PGP key file"), "{err}");

        let err = native(&[&public])
            .wrap(&spec("nothex"), SECRET)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an OpenPGP fingerprint"), "{err}");

        // Expired.
        let day = Duration::from_secs(86400);
        let expired = CertBuilder::general_purpose(Some("Old <o@example.com>"))
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(SystemTime::now() - 3 * day)
            .set_validity_period(day)
            .generate()
            .unwrap()
            .0;
        let (p, _) = write_keys(dir.path(), &expired, true);
        let fp = expired.fingerprint().to_hex();
        let err = native(&[&p])
            .wrap(&spec(&fp), SECRET)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&fp) && err.contains("expired"), "{err}");

        // Revoked.
        let (cert, rev) = CertBuilder::general_purpose(Some("Rev <r@example.com>"))
            .set_cipher_suite(CipherSuite::Cv25519)
            .generate()
            .unwrap();
        let revoked = cert.insert_packets(rev).unwrap().0;
        let (p, _) = write_keys(dir.path(), &revoked, true);
        let fp = revoked.fingerprint().to_hex();
        let err = native(&[&p])
            .wrap(&spec(&fp), SECRET)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&fp) && err.contains("revoked"), "{err}");

        // Signing only.
        let signer = CertBuilder::new()
            .add_userid("Sign <s@example.com>")
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_signing_subkey()
            .generate()
            .unwrap()
            .0;
        let (p, _) = write_keys(dir.path(), &signer, true);
        let fp = signer.fingerprint().to_hex();
        let err = native(&[&p])
            .wrap(&spec(&fp), SECRET)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&fp) && err.contains("no encryption-capable"),
            "{err}"
        );
    }
}
