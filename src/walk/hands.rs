//! Running the cipher walk's jobs: each thread's value cipher and nonce stream, and the AES-GCM
//! work of one job (sealing a plaintext, or opening an `ENC[...]` value and reading its type).
//! Which thread runs which jobs is `pipeline`'s business; planning and taking them is `jobs`'s.

use rand::RngCore;

use crate::crypto::cipher::{OpenError, ValueCipher};
use crate::gotext::{display_text_and_canonical, parse_typed, parse_typed_taking};
use crate::tree::NewLeaf;

use super::jobs::{Aads, Job, Kept, Outcome, Outcomes, Shared};
use super::{display_path, Selection, WalkError};

/// Fresh value nonces: a ChaCha20 stream keyed with 32 bytes from the OS's random source when
/// the first one is asked for (a decryption never asks), then drawn 32 bytes at a time. It is a
/// cryptographically secure generator, what sops takes from Go's `crypto/rand`, at several times
/// the speed of the kernel's (whose `getrandom` gave about 300 MB/s here, 21 ms for a
/// 200,000-value file's nonces). Nonces need to be unique, and the 256-bit seed makes a repeat as
/// unlikely as two reads of the OS's source agreeing; they are written into the output, so the
/// seed guards nothing secret.
#[derive(Default)]
struct Nonces(Option<rand_chacha::ChaCha20Rng>);

impl Nonces {
    /// The next nonce; `None` when the OS's random source gave no seed.
    fn next(&mut self) -> Option<[u8; 32]> {
        use rand::SeedableRng;
        if self.0.is_none() {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.try_fill_bytes(&mut seed).ok()?;
            self.0 = Some(rand_chacha::ChaCha20Rng::from_seed(seed));
        }
        let mut nonce = [0u8; 32];
        self.0.as_mut()?.fill_bytes(&mut nonce);
        Some(nonce)
    }
}

/// What one thread runs jobs with, made once for the whole walk: the value cipher (its AES key
/// schedule and GHASH key) and its stream of fresh nonces (seeded once, not once per share of
/// a batch: each seed is a system call).
pub(super) struct Hands<'a> {
    cipher: ValueCipher,
    nonces: Nonces,
    shared: &'a Shared<'a>,
}

impl<'a> Hands<'a> {
    pub(super) fn new(shared: &'a Shared<'a>) -> Self {
        Hands {
            cipher: ValueCipher::new(shared.cipher_key),
            nonces: Nonces::default(),
            shared,
        }
    }

    /// Do the AES-GCM work of `jobs`, whose AADs are in `aads`.
    pub(super) fn work(&mut self, jobs: &[Job<'_>], aads: &Aads) -> Outcomes {
        jobs.iter().map(|job| self.one(job, aads)).collect()
    }

    fn one(&mut self, job: &Job<'_>, aads: &Aads) -> Result<Outcome, WalkError> {
        let shared = self.shared;
        match job {
            Job::Encrypt {
                aad,
                plain,
                type_tag,
                iv,
                is_comment,
                ..
            } => {
                let aad = aads.get(*aad);
                let nonce: [u8; 32] = match iv {
                    Some(iv) => **iv,
                    None => self.nonces.next().ok_or_else(|| WalkError::Encrypt {
                        path: display_path(aad),
                    })?,
                };
                encrypt_one(
                    &self.cipher,
                    plain.bytes(),
                    type_tag,
                    aad,
                    &nonce,
                    *is_comment,
                    shared,
                )
            }
            Job::Decrypt {
                aad,
                token,
                is_comment,
                hashed,
                ..
            } => decrypt_one(
                &self.cipher,
                token,
                aads.get(*aad),
                *is_comment,
                *hashed,
                shared,
            ),
            Job::Hash(_) | Job::HashText(_) => Ok(Outcome::Hash),
        }
    }
}

fn encrypt_one(
    cipher: &ValueCipher,
    plain: &[u8],
    type_tag: &str,
    aad: &str,
    nonce: &[u8; 32],
    is_comment: bool,
    shared: &Shared<'_>,
) -> Result<Outcome, WalkError> {
    let token = cipher
        .seal(plain, type_tag, aad, nonce)
        .map_err(|_| WalkError::Encrypt {
            path: display_path(aad),
        })?;
    if is_comment {
        if let Selection::UnencryptedCommentRegex(r) = shared.selection {
            if r.is_match(&token) {
                return Err(WalkError::CommentRegex {
                    path: display_path(aad),
                });
            }
        }
    }
    Ok(Outcome::Encrypted { token })
}

fn decrypt_one(
    cipher: &ValueCipher,
    token: &str,
    aad: &str,
    is_comment: bool,
    hashed: bool,
    shared: &Shared<'_>,
) -> Result<Outcome, WalkError> {
    let mut opened = match cipher.open(token, aad, shared.rops) {
        Ok(o) => o,
        // A comment that was never encrypted (added by hand, or by an old sops), or that does
        // not decrypt: keep it.
        Err(_) if is_comment => return Ok(Outcome::Nothing),
        Err(OpenError::NotEncrypted) => {
            return Err(WalkError::NotEncrypted {
                path: display_path(aad),
            })
        }
        Err(OpenError::Cipher(source)) => {
            return Err(WalkError::Decrypt {
                path: display_path(aad),
                source,
            })
        }
    };
    // A string (most values) takes the decrypted bytes without a copy, unless they are still
    // needed (rops's MAC, the stash of values to re-encrypt).
    let value = if shared.rops || shared.record {
        parse_typed(opened.type_tag, &opened.plain)
    } else {
        parse_typed_taking(opened.type_tag, &mut opened.plain)
    }
    .ok_or_else(|| WalkError::BadType {
        path: display_path(aad),
        type_tag: opened.type_tag.to_string(),
    })?;
    let (text, canonical) = display_text_and_canonical(&value, &opened.plain);
    // rops hashes the bytes it encrypted (`inf` where sops writes `+Inf`).
    let mac_bytes = if shared.rops {
        Some(opened.plain.clone())
    } else {
        canonical
    };
    Ok(Outcome::Decrypted {
        leaf: NewLeaf::Plain { value, text },
        mac_bytes,
        kept: shared.record.then(|| {
            Box::new(Kept {
                type_tag: opened.type_tag.to_string(),
                iv: opened.iv,
                plain: opened.plain,
            })
        }),
        hashed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_nonces_differ_from_each_other_and_between_streams() {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let mut nonces = Nonces::default();
            for _ in 0..1000 {
                seen.push(nonces.next().unwrap());
            }
        }
        assert!(seen.iter().all(|n| n.iter().any(|&x| x != 0)));
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 2000);
    }
}
