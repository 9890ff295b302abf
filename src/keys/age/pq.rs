//! age's hybrid post-quantum recipient type, `mlkem768x25519`, as sops 3.11 uses it through
//! filippo.io/age 1.3 (C2SP age specification). The age crate sepal builds on (0.11) does not
//! implement it, so this module composes it from the `hpke` crate (RFC 9180 base mode with the
//! X-Wing KEM, HKDF-SHA256 and ChaCha20-Poly1305) and plugs it into the age crate's
//! [`age::Recipient`] and [`age::Identity`] traits: armor, the header MAC and the payload stay the
//! age crate's, and PQ identities sit next to X25519 ones in one identity list.
//!
//! * identity: the 32-byte X-Wing seed, bech32 with HRP `AGE-SECRET-KEY-PQ-` (written uppercase);
//! * recipient: the 1216-byte X-Wing encapsulation key, bech32 with HRP `age1pq`: about 1960
//!   characters, far over bech32's usual 90, hence a bech32 checksum type without that limit;
//! * stanza: `-> mlkem768x25519 <base64 of the 1120-byte encapsulated key>` and a 32-byte body,
//!   the HPKE ciphertext of the 16-byte file key (info `age-encryption.org/mlkem768x25519`, empty
//!   AAD).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::secrecy::ExposeSecret;
use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD};
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Checksum, Fe1024, Fe32, Hrp};
use hpke::aead::{AeadTag, ChaCha20Poly1305};
use hpke::inout::InOutBuf;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::wipe::Wiped;

/// The identity's human-readable part (lowercase, as bech32 compares it).
const IDENTITY_HRP: &str = "age-secret-key-pq-";
/// The recipient's human-readable part.
const RECIPIENT_HRP: &str = "age1pq";
/// The stanza type.
pub const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE's `info`.
const HPKE_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The label age gives post-quantum recipients: the age crate's encryptor (like Go's age) refuses
/// to put them in one header with recipients that are not post-quantum, which would undo the
/// protection.
pub const PQ_LABEL: &str = "postquantum";

/// The X-Wing seed (decapsulation key) size.
const SEED_BYTES: usize = 32;
/// The X-Wing encapsulation key size.
const ENCAPSULATION_KEY_BYTES: usize = 1216;
/// The X-Wing ciphertext (encapsulated key) size.
const ENCAPSULATED_KEY_BYTES: usize = 1120;
/// ChaCha20-Poly1305's tag.
const TAG_BYTES: usize = 16;
/// The stanza body: the sealed file key and its tag.
const BODY_BYTES: usize = FILE_KEY_BYTES + TAG_BYTES;

type PrivateKey = <XWing as Kem>::PrivateKey;
type PublicKey = <XWing as Kem>::PublicKey;
type EncappedKey = <XWing as Kem>::EncappedKey;

/// Why a PQ identity or recipient string was refused. Never carries the string itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PqKeyError {
    #[error("not valid bech32")]
    Bech32,
    #[error("not a post-quantum age {0} (wrong prefix)")]
    Prefix(&'static str),
    #[error("a post-quantum age {0} holds {1} bytes instead of {2}")]
    Length(&'static str, usize, usize),
    #[error("not in canonical bech32 form")]
    NotCanonical,
    #[error("not a valid X-Wing encapsulation key")]
    InvalidKey,
}

/// Bech32 (BIP 173) with no length limit: the same generator and target residue, but age's
/// post-quantum recipients are longer than the 1023 characters the `bech32` crate's `Bech32`
/// type allows (the checksum is computed the same way, as Go's age does).
enum Bech32Long {}

impl Checksum for Bech32Long {
    type MidstateRepr = u32;
    type CorrectionField = Fe1024;
    const ROOT_GENERATOR: Fe1024 = Fe1024::new([Fe32::P, Fe32::X]);
    const ROOT_EXPONENTS: std::ops::RangeInclusive<usize> = 24..=26;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = 6;
    const GENERATOR_SH: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    const TARGET_RESIDUE: u32 = 1;
}

fn hrp(s: &'static str) -> Hrp {
    // Both constants are valid human-readable parts (ASCII, under 84 characters).
    Hrp::parse_unchecked(s)
}

/// Decode `s` (either case, not mixed) with the expected HRP into exactly `N` bytes, refusing
/// anything that does not encode back to the same string (padding bits set, say).
fn decode<const N: usize>(
    s: &str,
    expect_hrp: &'static str,
    what: &'static str,
) -> Result<Zeroizing<[u8; N]>, PqKeyError> {
    let checked = CheckedHrpstring::new::<Bech32Long>(s).map_err(|_| PqKeyError::Bech32)?;
    if checked.hrp().to_lowercase() != expect_hrp {
        return Err(PqKeyError::Prefix(what));
    }
    let mut out = Zeroizing::new([0u8; N]);
    let mut n = 0;
    for b in checked.byte_iter() {
        if let Some(slot) = out.get_mut(n) {
            *slot = b;
        }
        n += 1;
    }
    if n != N {
        return Err(PqKeyError::Length(what, n, N));
    }
    let again = Zeroizing::new(
        bech32::encode_lower::<Bech32Long>(hrp(expect_hrp), &out[..])
            .map_err(|_| PqKeyError::Bech32)?,
    );
    if !again.eq_ignore_ascii_case(s) {
        return Err(PqKeyError::NotCanonical);
    }
    Ok(out)
}

/// A post-quantum age identity: the X-Wing seed (wiped when dropped, by the `x-wing` crate).
pub struct Identity {
    sk: PrivateKey,
}

impl Identity {
    /// A new random identity.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_BYTES]);
        rand::rngs::OsRng.fill_bytes(&mut seed[..]);
        Identity::from_seed(&seed)
    }

    fn from_seed(seed: &[u8; SEED_BYTES]) -> Self {
        // Every 32-byte string is an X-Wing seed: only a length mismatch can fail, and the
        // length is fixed by the type.
        let sk = match PrivateKey::from_bytes(seed) {
            Ok(sk) => sk,
            Err(_) => unreachable!("an X-Wing seed is 32 bytes"),
        };
        Identity { sk }
    }

    /// The identity as written in key files: `AGE-SECRET-KEY-PQ-1…`.
    pub fn to_secret_string(&self) -> Wiped<String> {
        let mut seed = Zeroizing::new([0u8; SEED_BYTES]);
        self.sk.write_exact(&mut seed[..]);
        match bech32::encode_upper::<Bech32Long>(hrp(IDENTITY_HRP), &seed[..]) {
            Ok(s) => Wiped::new(s),
            Err(_) => unreachable!("a 32-byte payload always encodes"),
        }
    }

    /// The matching recipient.
    pub fn to_public(&self) -> Recipient {
        Recipient {
            pk: XWing::sk_to_pk(&self.sk),
        }
    }
}

impl FromStr for Identity {
    type Err = PqKeyError;

    fn from_str(s: &str) -> Result<Self, PqKeyError> {
        let seed = decode::<SEED_BYTES>(s, IDENTITY_HRP, "identity")?;
        Ok(Identity::from_seed(&seed))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pq::Identity(..)")
    }
}

/// A post-quantum age recipient: an X-Wing encapsulation key.
#[derive(Clone)]
pub struct Recipient {
    pk: PublicKey,
}

impl FromStr for Recipient {
    type Err = PqKeyError;

    fn from_str(s: &str) -> Result<Self, PqKeyError> {
        let bytes = decode::<ENCAPSULATION_KEY_BYTES>(s, RECIPIENT_HRP, "recipient")?;
        let pk = PublicKey::from_bytes(&bytes[..]).map_err(|_| PqKeyError::InvalidKey)?;
        Ok(Recipient { pk })
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.pk.to_bytes();
        let s = bech32::encode_lower::<Bech32Long>(hrp(RECIPIENT_HRP), &bytes[..])
            .map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pq::Recipient({self})")
    }
}

impl age::Recipient for Recipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut sealed = Zeroizing::new(*file_key.expose_secret());
        let (enc, tag) =
            hpke::single_shot_seal_inout_detached::<ChaCha20Poly1305, HkdfSha256, XWing>(
                &OpModeS::Base,
                &self.pk,
                HPKE_INFO,
                InOutBuf::from(&mut sealed[..]),
                b"",
            )
            .map_err(|e| {
                age::EncryptError::Io(std::io::Error::other(format!(
                    "post-quantum age encryption failed: {e}"
                )))
            })?;
        let mut body = Vec::with_capacity(BODY_BYTES);
        body.extend_from_slice(&sealed[..]);
        body.extend_from_slice(&tag.to_bytes());
        let stanza = Stanza {
            tag: STANZA_TAG.to_string(),
            args: vec![BASE64_STANDARD_NO_PAD.encode(enc.to_bytes())],
            body,
        };
        Ok((vec![stanza], HashSet::from([PQ_LABEL.to_string()])))
    }
}

impl age::Identity for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        // A stanza of this type that is not well formed makes the header invalid (as in age).
        let [arg] = stanza.args.as_slice() else {
            return Some(Err(age::DecryptError::InvalidHeader));
        };
        let enc = match BASE64_STANDARD_NO_PAD.decode(arg) {
            Ok(b) if b.len() == ENCAPSULATED_KEY_BYTES => b,
            _ => return Some(Err(age::DecryptError::InvalidHeader)),
        };
        if stanza.body.len() != BODY_BYTES {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        let (ct, tag) = stanza.body.split_at(FILE_KEY_BYTES);
        let (Ok(enc), Ok(tag)) = (
            EncappedKey::from_bytes(&enc),
            AeadTag::<ChaCha20Poly1305>::from_bytes(tag),
        ) else {
            return Some(Err(age::DecryptError::InvalidHeader));
        };
        let mut key = Zeroizing::new([0u8; FILE_KEY_BYTES]);
        key.copy_from_slice(ct);
        // ML-KEM decapsulation never fails (implicit rejection): a stanza for another identity
        // fails the AEAD, and is then not ours, so other identities get their turn.
        hpke::single_shot_open_inout_detached::<ChaCha20Poly1305, HkdfSha256, XWing>(
            &OpModeR::Base,
            &self.sk,
            &enc,
            HPKE_INFO,
            InOutBuf::from(&mut key[..]),
            b"",
            &tag,
        )
        .ok()?;
        Some(Ok(FileKey::init_with_mut(|k| k.copy_from_slice(&key[..]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn checksum_constants_are_consistent() {
        Bech32Long::sanity_check();
    }

    #[test]
    fn identity_and_recipient_round_trip() {
        let id = Identity::generate();
        let sk = id.to_secret_string();
        assert!(sk.starts_with("AGE-SECRET-KEY-PQ-1"), "{}", &sk[..20]);
        assert_eq!(sk.len(), "AGE-SECRET-KEY-PQ-1".len() + 52 + 6);
        let again = Identity::from_str(&sk).unwrap();
        assert_eq!(again.to_secret_string(), sk);
        // Lowercase reads too (bech32 is case-insensitive, but not mixed-case).
        assert!(Identity::from_str(&sk.to_lowercase()).is_ok());

        let pk = id.to_public().to_string();
        assert!(pk.starts_with("age1pq1"));
        assert_eq!(pk.len(), "age1pq1".len() + 1946 + 6);
        let parsed = Recipient::from_str(&pk).unwrap();
        assert_eq!(parsed.to_string(), pk);
        assert_eq!(again.to_public().to_string(), pk);
    }

    #[test]
    fn bad_strings_are_refused() {
        let id = Identity::generate();
        let sk = id.to_secret_string();
        let pk = id.to_public().to_string();
        // A changed character breaks the checksum.
        let mut broken = pk.clone();
        let last = if broken.ends_with('q') { "p" } else { "q" };
        broken.replace_range(broken.len() - 1.., last);
        assert_eq!(
            Recipient::from_str(&broken).unwrap_err(),
            PqKeyError::Bech32
        );
        // The identity is not a recipient and the reverse.
        assert!(matches!(
            Recipient::from_str(&sk),
            Err(PqKeyError::Prefix("recipient"))
        ));
        assert!(matches!(
            Identity::from_str(&pk),
            Err(PqKeyError::Prefix("identity"))
        ));
        // An X25519 identity has the wrong prefix; a short payload the wrong length.
        let x = age::x25519::Identity::generate();
        assert!(Identity::from_str(x.to_string().expose_secret()).is_err());
        let short = bech32::encode_upper::<Bech32Long>(hrp(IDENTITY_HRP), &[7u8; 31]).unwrap();
        assert_eq!(
            Identity::from_str(&short).unwrap_err(),
            PqKeyError::Length("identity", 31, 32)
        );
        // Mixed case is not bech32.
        let mut mixed = sk.to_string();
        mixed.replace_range(..3, "age");
        assert!(Identity::from_str(&mixed).is_err());
    }

    fn encrypt(recipients: &[&dyn age::Recipient], msg: &[u8]) -> Result<Vec<u8>, String> {
        let enc = age::Encryptor::with_recipients(recipients.iter().copied())
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).map_err(|e| e.to_string())?;
        w.write_all(msg).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn decrypt(ids: &[&dyn age::Identity], file: &[u8]) -> Result<Vec<u8>, age::DecryptError> {
        let dec = age::Decryptor::new(file)?;
        let mut r = dec.decrypt(ids.iter().copied())?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let id = Identity::generate();
        let r = id.to_public();
        let file = encrypt(&[&r], b"the data key").unwrap();
        assert_eq!(decrypt(&[&id], &file).unwrap(), b"the data key");
        // The header holds one mlkem768x25519 stanza with a 1120-byte key and a 32-byte body.
        let header = String::from_utf8_lossy(&file[..file.len().min(1700)]).into_owned();
        let line = header
            .lines()
            .find(|l| l.starts_with("-> "))
            .expect("a stanza");
        let mut words = line.split(' ').skip(1);
        assert_eq!(words.next(), Some(STANZA_TAG));
        let enc = BASE64_STANDARD_NO_PAD
            .decode(words.next().unwrap())
            .unwrap();
        assert_eq!(enc.len(), ENCAPSULATED_KEY_BYTES);
        assert_eq!(words.next(), None);
    }

    #[test]
    fn wrong_identity_fails() {
        let r = Identity::generate().to_public();
        let file = encrypt(&[&r], b"secret").unwrap();
        let other = Identity::generate();
        let x = age::x25519::Identity::generate();
        assert!(matches!(
            decrypt(&[&other, &x], &file),
            Err(age::DecryptError::NoMatchingKeys)
        ));
    }

    fn stanza_for(r: &Recipient) -> (FileKey, Stanza) {
        let fk = FileKey::init_with_mut(|k| k.copy_from_slice(b"0123456789abcdef"));
        let (mut stanzas, labels) = age::Recipient::wrap_file_key(r, &fk).unwrap();
        assert_eq!(labels, HashSet::from([PQ_LABEL.to_string()]));
        assert_eq!(stanzas.len(), 1);
        (fk, stanzas.remove(0))
    }

    #[test]
    fn tampered_stanza_fails() {
        let id = Identity::generate();
        let (fk, stanza) = stanza_for(&id.to_public());
        let got = age::Identity::unwrap_stanza(&id, &stanza).unwrap().unwrap();
        assert_eq!(got.expose_secret(), fk.expose_secret());

        // A flipped bit of the sealed file key, of the tag, or of the encapsulated key: not ours.
        let remake = |args: Vec<String>, body: Vec<u8>| Stanza {
            tag: stanza.tag.clone(),
            args,
            body,
        };
        for i in [0, FILE_KEY_BYTES, BODY_BYTES - 1] {
            let mut body = stanza.body.clone();
            body[i] ^= 1;
            let s = remake(stanza.args.clone(), body);
            assert!(age::Identity::unwrap_stanza(&id, &s).is_none(), "body {i}");
        }
        let mut enc = BASE64_STANDARD_NO_PAD.decode(&stanza.args[0]).unwrap();
        for i in [ENCAPSULATED_KEY_BYTES - 1, 0] {
            // The X25519 part, then the ML-KEM part.
            enc[i] ^= 1;
            let s = remake(
                vec![BASE64_STANDARD_NO_PAD.encode(&enc)],
                stanza.body.clone(),
            );
            assert!(age::Identity::unwrap_stanza(&id, &s).is_none(), "enc {i}");
            enc[i] ^= 1;
        }

        // Malformed stanzas of this type make the header invalid.
        let arg = stanza.args[0].clone();
        let body = stanza.body.clone();
        let malformed = [
            remake(vec![], body.clone()),
            remake(vec![arg.clone(), "x".into()], body.clone()),
            remake(
                vec![BASE64_STANDARD_NO_PAD.encode([0u8; 1119])],
                body.clone(),
            ),
            remake(vec![format!("{arg}=")], body.clone()),
            remake(vec![arg.clone()], body[..31].to_vec()),
            remake(vec![arg.clone()], [&body[..], &[0]].concat()),
        ];
        for (n, s) in malformed.iter().enumerate() {
            assert!(
                matches!(
                    age::Identity::unwrap_stanza(&id, s),
                    Some(Err(age::DecryptError::InvalidHeader))
                ),
                "malformed stanza {n}"
            );
        }
        // Another type is not ours at all.
        let other = Stanza {
            tag: "X25519".into(),
            args: vec![arg],
            body,
        };
        assert!(age::Identity::unwrap_stanza(&id, &other).is_none());
    }

    #[test]
    fn mixed_x25519_and_pq() {
        let pq = Identity::generate();
        let pq2 = Identity::generate();
        let x = age::x25519::Identity::generate();
        let (rpq, rpq2, rx) = (pq.to_public(), pq2.to_public(), x.to_public());
        // One identity list with both kinds opens files made for either kind.
        let ids: [&dyn age::Identity; 2] = [&x, &pq];
        let for_pq = encrypt(&[&rpq], b"pq").unwrap();
        let for_x = encrypt(&[&rx], b"x").unwrap();
        assert_eq!(decrypt(&ids, &for_pq).unwrap(), b"pq");
        assert_eq!(decrypt(&ids, &for_x).unwrap(), b"x");
        // Several PQ recipients share a header; each identity opens it.
        let both_pq = encrypt(&[&rpq2, &rpq], b"both").unwrap();
        assert_eq!(decrypt(&ids, &both_pq).unwrap(), b"both");
        assert_eq!(decrypt(&[&pq2], &both_pq).unwrap(), b"both");
        // One header never mixes a post-quantum recipient with a classical one (as in Go's age):
        // the classical stanza would undo the protection. sops wraps the data key once per
        // recipient, so a sops file mixes them freely (see the age source's tests).
        let err = encrypt(&[&rx, &rpq], b"mixed").unwrap_err();
        assert!(
            err.contains("postquantum") || err.contains("incompatible"),
            "{err}"
        );
    }
}
