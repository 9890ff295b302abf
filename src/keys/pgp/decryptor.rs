//! The sequoia decryption helper for the native back end: sequoia's decryptor asks it for the
//! session key, and it tries the key files' unprotected secret keys on the message's recipients,
//! remembering whether a key file was a recipient at all and whether a passphrase-protected one
//! was (so the caller can fall back to gpg, and say why).

use std::cell::RefCell;

use sequoia_openpgp as openpgp;

use openpgp::crypto::SessionKey;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK, SKESK};
use openpgp::parse::stream::{DecryptionHelper, MessageStructure, VerificationHelper};
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, Fingerprint, KeyHandle};

use super::key_files::SecretKeys;

/// What the decryptor learned about the key files while trying them.
#[derive(Default)]
pub(super) struct DecryptionState {
    /// A secret key of the key files is a recipient of the message.
    pub(super) matched: bool,
    /// A passphrase-protected secret key is a recipient of the message: its fingerprint and the
    /// file holding it.
    pub(super) protected_hit: Option<(Fingerprint, String)>,
}

/// Feeds the key files' secret keys to sequoia's decryptor.
pub(super) struct KeyFileDecryptor<'a> {
    keys: &'a [Key<SecretParts, UnspecifiedRole>],
    protected: &'a [(Fingerprint, String)],
    state: &'a RefCell<DecryptionState>,
}

impl<'a> KeyFileDecryptor<'a> {
    /// A helper trying `secret_keys`, recording what it learns in `state`.
    pub(super) fn new(secret_keys: &'a SecretKeys, state: &'a RefCell<DecryptionState>) -> Self {
        KeyFileDecryptor {
            keys: &secret_keys.usable,
            protected: &secret_keys.protected,
            state,
        }
    }
}

impl VerificationHelper for KeyFileDecryptor<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for KeyFileDecryptor<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let mut state = self.state.borrow_mut();
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            for key in self.keys {
                let named = recipient
                    .as_ref()
                    .is_some_and(|r| r.aliases(key.key_handle()));
                if !named && recipient.is_some() {
                    continue;
                }
                let Ok(mut pair) = key.clone().into_keypair() else {
                    continue;
                };
                if named {
                    state.matched = true;
                }
                if let Some((algo, session_key)) = pkesk.decrypt(&mut pair, sym_algo) {
                    if decrypt(algo, &session_key) {
                        state.matched = true;
                        return Ok(None);
                    }
                }
            }
            if let Some(r) = &recipient {
                if let Some((fingerprint, origin)) = self
                    .protected
                    .iter()
                    .find(|(f, _)| r.aliases(KeyHandle::from(f)))
                {
                    state
                        .protected_hit
                        .get_or_insert((fingerprint.clone(), origin.clone()));
                }
            }
        }
        Err(openpgp::Error::InvalidOperation(
            "no secret key in the key files can open this message".into(),
        )
        .into())
    }
}
