//! sops's value cipher: AES-256-GCM with a 32-byte nonce, stored as
//! `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

type Cipher = AesGcm<Aes256, U32>;

/// The 32-byte key that encrypts every value of a file. Wiped on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A new random key from the OS's CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(arr))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Why a value could not be decrypted. Never carries plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("the value does not match sops' data format")]
    Format,
    #[error("Could not decrypt with AES_GCM: cipher: message authentication failed")]
    Auth,
    #[error("could not encrypt with AES_GCM")]
    Encrypt,
}

/// A parsed `ENC[...]` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedValue {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub type_tag: String,
}

impl EncryptedValue {
    /// Parse `ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]` as sops does: the string must start with
    /// it; IV length is whatever the base64 holds.
    pub fn parse(s: &str) -> Result<Self, CipherError> {
        Self::parse_fields(s, false)
    }

    /// [`EncryptedValue::parse`] also accepting empty data (`data:,`): rops 0.1.7 encrypts an
    /// empty string that way, where sops leaves it unencrypted (and its format requires data).
    /// The tag still authenticates the empty value under its path.
    pub fn parse_allowing_empty_data(s: &str) -> Result<Self, CipherError> {
        Self::parse_fields(s, true)
    }

    fn parse_fields(s: &str, empty_data: bool) -> Result<Self, CipherError> {
        let body = s
            .strip_prefix("ENC[AES256_GCM,data:")
            .ok_or(CipherError::Format)?;
        // sops: ^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\] with greedy groups and no
        // newline inside. Base64 never contains ',', so split on the field markers from the right.
        let line = body.split('\n').next().unwrap_or(body);
        let close = line.rfind(']').ok_or(CipherError::Format)?;
        let inner = &line[..close];
        let (rest, type_tag) = inner.rsplit_once(",type:").ok_or(CipherError::Format)?;
        let (rest, tag) = rest.rsplit_once(",tag:").ok_or(CipherError::Format)?;
        let (data, iv) = rest.rsplit_once(",iv:").ok_or(CipherError::Format)?;
        if (data.is_empty() && !empty_data)
            || iv.is_empty()
            || tag.is_empty()
            || type_tag.is_empty()
        {
            return Err(CipherError::Format);
        }
        let dec = |t: &str| B64.decode(t).map_err(|_| CipherError::Format);
        Ok(EncryptedValue {
            data: dec(data)?,
            iv: dec(iv)?,
            tag: dec(tag)?,
            type_tag: type_tag.to_string(),
        })
    }

    /// Whether a string looks like a sops-encrypted value.
    pub fn looks_encrypted(s: &str) -> bool {
        s.starts_with("ENC[AES256_GCM,data:")
    }
}

impl std::fmt::Display for EncryptedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            B64.encode(&self.data),
            B64.encode(&self.iv),
            B64.encode(&self.tag),
            self.type_tag
        )
    }
}

/// Encrypt `plaintext` (already in sops's byte form for its type) with AAD `aad`. `iv` reuses a
/// known nonce (sops's stash, for unchanged values); otherwise a fresh 32-byte one is drawn.
pub fn encrypt(
    key: &DataKey,
    plaintext: &[u8],
    type_tag: &str,
    aad: &str,
    iv: Option<&[u8; 32]>,
) -> Result<EncryptedValue, CipherError> {
    let cipher = Cipher::new_from_slice(key.as_bytes()).map_err(|_| CipherError::Encrypt)?;
    let mut nonce = [0u8; 32];
    match iv {
        Some(iv) => nonce = *iv,
        None => rand::rngs::OsRng.fill_bytes(&mut nonce),
    }
    let out = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CipherError::Encrypt)?;
    let split = out.len() - 16;
    Ok(EncryptedValue {
        data: out[..split].to_vec(),
        tag: out[split..].to_vec(),
        iv: nonce.to_vec(),
        type_tag: type_tag.to_string(),
    })
}

/// Decrypt a parsed value with AAD `aad`; returns the plaintext bytes (wiped on drop).
pub fn decrypt(
    key: &DataKey,
    value: &EncryptedValue,
    aad: &str,
) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    if value.iv.len() != 32 || value.tag.len() != 16 {
        // sops accepts any IV length when reading; 3.x always writes 32 bytes. Other lengths
        // would need a differently parameterised cipher; refuse them plainly.
        return Err(CipherError::Format);
    }
    let cipher = Cipher::new_from_slice(key.as_bytes()).map_err(|_| CipherError::Auth)?;
    let mut ct = Vec::with_capacity(value.data.len() + 16);
    ct.extend_from_slice(&value.data);
    ct.extend_from_slice(&value.tag);
    let nonce: &[u8; 32] = value
        .iv
        .as_slice()
        .try_into()
        .map_err(|_| CipherError::Format)?;
    let pt = cipher
        .decrypt(
            nonce.into(),
            Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CipherError::Auth)?;
    Ok(Zeroizing::new(pt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let key = DataKey::generate();
        let v = encrypt(&key, b"hello", "str", "a:b:", None).unwrap();
        let s = v.to_string();
        assert!(s.starts_with("ENC[AES256_GCM,data:"));
        assert!(s.ends_with(",type:str]"));
        let p = EncryptedValue::parse(&s).unwrap();
        assert_eq!(p, v);
        assert_eq!(p.iv.len(), 32);
        assert_eq!(&*decrypt(&key, &p, "a:b:").unwrap(), b"hello");
        assert_eq!(decrypt(&key, &p, "a:c:"), Err(CipherError::Auth));
    }

    #[test]
    fn same_iv_gives_same_ciphertext() {
        let key = DataKey::generate();
        let iv = [7u8; 32];
        let a = encrypt(&key, b"x", "str", "k:", Some(&iv)).unwrap();
        let b = encrypt(&key, b"x", "str", "k:", Some(&iv)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn malformed_values() {
        for s in [
            "ENC[AES256_GCM,data:,iv:,tag:,type:]",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "ENC[nope]",
            "plain",
        ] {
            assert_eq!(EncryptedValue::parse(s), Err(CipherError::Format), "{s}");
        }
    }
}
