//! sops's value cipher: AES-256-GCM with a 32-byte nonce, stored as
//! `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use base64_simd::AsOut;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::wipe::Wiped;

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

/// The four base64/text fields of an `ENC[...]` string: data, iv, tag, type.
struct Fields<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    type_tag: &'a str,
}

impl<'a> Fields<'a> {
    /// Split `ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]` as sops does: the string must start
    /// with it. sops: `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]` with greedy groups
    /// and no newline inside. Base64 never contains ',', so split on the markers from the right.
    fn split(s: &'a str, empty_data: bool) -> Result<Self, CipherError> {
        let body = s
            .strip_prefix("ENC[AES256_GCM,data:")
            .ok_or(CipherError::Format)?;
        let line = &body[..memchr::memchr(b'\n', body.as_bytes()).unwrap_or(body.len())];
        let close = memchr::memrchr(b']', line.as_bytes()).ok_or(CipherError::Format)?;
        let inner = &line[..close];
        let (rest, type_tag) = rsplit_marker(inner, ",type:").ok_or(CipherError::Format)?;
        let (rest, tag) = rsplit_marker(rest, ",tag:").ok_or(CipherError::Format)?;
        let (data, iv) = rsplit_marker(rest, ",iv:").ok_or(CipherError::Format)?;
        if (data.is_empty() && !empty_data)
            || iv.is_empty()
            || tag.is_empty()
            || type_tag.is_empty()
        {
            return Err(CipherError::Format);
        }
        Ok(Fields {
            data,
            iv,
            tag,
            type_tag,
        })
    }
}

/// `s.rsplit_once(marker)` for a marker that starts with a comma, found by its last comma first:
/// when the text from the last comma on starts with the marker, that is the marker's last
/// occurrence (a later one would hold a later comma). Otherwise the general search decides.
fn rsplit_marker<'s>(s: &'s str, marker: &str) -> Option<(&'s str, &'s str)> {
    debug_assert!(marker.starts_with(','));
    match memchr::memrchr(b',', s.as_bytes()) {
        Some(i) if s[i..].starts_with(marker) => Some((&s[..i], &s[i + marker.len()..])),
        _ => s.rsplit_once(marker),
    }
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
        let Fields {
            data,
            iv,
            tag,
            type_tag,
        } = Fields::split(s, empty_data)?;
        let dec = |t: &str| decode(t).ok_or(CipherError::Format);
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
) -> Result<Wiped<Vec<u8>>, CipherError> {
    if value.iv.len() != 32 || value.tag.len() != 16 {
        // sops accepts any IV length when reading; 3.x always writes 32 bytes. Other lengths
        // would need a differently parameterised cipher; refuse them plainly.
        return Err(CipherError::Format);
    }
    let cipher = Cipher::new_from_slice(key.as_bytes()).map_err(|_| CipherError::Auth)?;
    decrypt_with(&cipher, value, aad)
}

fn decrypt_with(
    cipher: &Cipher,
    value: &EncryptedValue,
    aad: &str,
) -> Result<Wiped<Vec<u8>>, CipherError> {
    if value.iv.len() != 32 || value.tag.len() != 16 {
        return Err(CipherError::Format);
    }
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
    Ok(Wiped::new(pt))
}

/// Why [`ValueCipher::open`] failed: the text is not an `ENC[...]` value at all, or it is one
/// that does not decrypt (as [`decrypt`] reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    NotEncrypted,
    Cipher(CipherError),
}

/// A decrypted value: its plaintext bytes (wiped on drop), type tag and IV.
pub struct OpenedValue<'a> {
    pub plain: Wiped<Vec<u8>>,
    pub type_tag: &'a str,
    pub iv: [u8; 32],
}

/// The cipher of one data key, set up once for the many values of a file (the AES key schedule
/// and the GHASH key are computed once, and wiped when it is dropped). Encrypts to and decrypts
/// from the `ENC[...]` text directly, without intermediate copies; gives exactly what
/// [`encrypt`] + `to_string` and [`EncryptedValue::parse`] + [`decrypt`] give.
pub struct ValueCipher(Cipher);

/// The bytes of standard base64 with padding (`base64-simd`: a value's three fields were a
/// tenth of a decryption's instructions with the `base64` crate's decoder, twelfth round). It
/// refuses what `base64`'s `STANDARD` engine refuses: missing or extra padding, a length that is
/// not a multiple of four, bits set past the last byte (the test below compares the two).
fn decode(text: &str) -> Option<Vec<u8>> {
    base64_simd::STANDARD.decode_to_vec(text).ok()
}

/// [`decode`] into `out`, which the text must fill exactly.
fn decode_into(text: &str, out: &mut [u8]) -> bool {
    let b64 = base64_simd::STANDARD;
    b64.decoded_length(text.as_bytes()).ok() == Some(out.len())
        && b64.decode(text.as_bytes(), out.as_out()).is_ok()
}

/// Append the base64 of `input` to `out`, encoded in place (`base64-simd`, as [`decode`]).
fn encode_into(input: &[u8], out: &mut Vec<u8>) {
    let b64 = base64_simd::STANDARD;
    let start = out.len();
    out.resize(start + b64.encoded_length(input.len()), 0);
    let _ = b64.encode(input, out[start..].as_out());
}

/// Values up to this many bytes are sealed in a copy on the stack ([`ValueCipher::seal`]).
const SMALL_VALUE: usize = 256;

/// A short value's copy on the stack, its written bytes wiped when it is dropped.
struct StackCopy {
    bytes: [u8; SMALL_VALUE],
    len: usize,
}

impl Default for StackCopy {
    fn default() -> Self {
        StackCopy {
            bytes: [0; SMALL_VALUE],
            len: 0,
        }
    }
}

impl StackCopy {
    /// A copy of `value` here, when it fits.
    fn take(&mut self, value: &[u8]) -> Option<&mut [u8]> {
        let copy = self.bytes.get_mut(..value.len())?;
        copy.copy_from_slice(value);
        self.len = value.len();
        Some(copy)
    }

    fn wipe(&mut self) {
        if let Some(written) = self.bytes.get_mut(..self.len) {
            written.zeroize();
        }
        self.len = 0;
    }
}

impl Drop for StackCopy {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl ValueCipher {
    pub fn new(key: &DataKey) -> Self {
        ValueCipher(Cipher::new(key.as_bytes().into()))
    }

    /// The `ENC[...]` text of `plaintext` (already in sops's byte form for its type) with AAD
    /// `aad` under `nonce`.
    pub fn seal(
        &self,
        plaintext: &[u8],
        type_tag: &str,
        aad: &str,
        nonce: &[u8; 32],
    ) -> Result<String, CipherError> {
        // Encrypted in place in a copy: on the stack for a short value (most are: a heap
        // buffer made, wiped and freed for each was a tenth of a cold encryption's sealing),
        // wiped when it goes either way (the stack copy as far as it was written: `zeroize`
        // wipes a byte at a time, and a whole 256-byte copy for every value cost more than the
        // heap buffer saved).
        let mut small = StackCopy::default();
        let mut large = Wiped::new(Vec::new());
        let buf: &mut [u8] = match small.take(plaintext) {
            Some(small) => small,
            None => {
                large.extend_from_slice(plaintext);
                &mut large
            }
        };
        let tag = self
            .0
            .encrypt_in_place_detached(nonce.into(), aad.as_bytes(), buf)
            .map_err(|_| CipherError::Encrypt)?;
        // Each field is encoded straight into its place in one buffer of the exact size
        // (`base64`'s `encode_string` cleared a 1 KiB buffer on every call, eleventh round).
        let b64_len = |n: usize| base64_simd::STANDARD.encoded_length(n);
        let mut out = Vec::with_capacity(
            "ENC[AES256_GCM,data:,iv:,tag:,type:]".len()
                + b64_len(buf.len())
                + b64_len(32)
                + b64_len(16)
                + type_tag.len(),
        );
        out.extend_from_slice(b"ENC[AES256_GCM,data:");
        encode_into(buf, &mut out);
        out.extend_from_slice(b",iv:");
        encode_into(nonce, &mut out);
        out.extend_from_slice(b",tag:");
        encode_into(tag.as_slice(), &mut out);
        out.extend_from_slice(b",type:");
        out.extend_from_slice(type_tag.as_bytes());
        out.push(b']');
        String::from_utf8(out).map_err(|_| CipherError::Encrypt)
    }

    /// Decrypt the `ENC[...]` text `token` with AAD `aad`; `empty_data` as in
    /// [`EncryptedValue::parse_allowing_empty_data`].
    pub fn open<'a>(
        &self,
        token: &'a str,
        aad: &str,
        empty_data: bool,
    ) -> Result<OpenedValue<'a>, OpenError> {
        let fields = Fields::split(token, empty_data).map_err(|_| OpenError::NotEncrypted)?;
        let (mut iv, mut tag) = ([0u8; 32], [0u8; 16]);
        // The usual sizes decode straight into place; anything else takes the general path,
        // which reports exactly what `decrypt` does.
        let fixed = fields.iv.len() == 44
            && fields.tag.len() == 24
            && decode_into(fields.iv, &mut iv)
            && decode_into(fields.tag, &mut tag);
        if !fixed {
            let value = EncryptedValue::parse_fields(token, empty_data)
                .map_err(|_| OpenError::NotEncrypted)?;
            let plain = decrypt_with(&self.0, &value, aad).map_err(OpenError::Cipher)?;
            let iv = <[u8; 32]>::try_from(value.iv.as_slice())
                .map_err(|_| OpenError::Cipher(CipherError::Format))?;
            return Ok(OpenedValue {
                plain,
                type_tag: fields.type_tag,
                iv,
            });
        }
        let mut plain = Wiped::new(decode(fields.data).ok_or(OpenError::NotEncrypted)?);
        self.0
            .decrypt_in_place_detached((&iv).into(), aad.as_bytes(), &mut plain, (&tag).into())
            .map_err(|_| OpenError::Cipher(CipherError::Auth))?;
        Ok(OpenedValue {
            plain,
            type_tag: fields.type_tag,
            iv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `decode` accepts and refuses exactly what the `base64` crate's `STANDARD` engine
        /// does (the decoder sepal used before), on encodings of any bytes with any one change:
        /// a character replaced (by one of the alphabet, padding or anything else), cut short
        /// or extended.
        #[test]
        fn decode_is_the_base64_crates_standard(
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
            at in any::<prop::sample::Index>(),
            with in prop_oneof![
                Just(b'='), Just(b'A'), Just(b'/'), Just(b'+'), Just(b'-'), Just(b'_'),
                Just(b' '), Just(b'\n'), any::<u8>().prop_filter("ascii", u8::is_ascii),
            ],
            change in 0..4u8,
        ) {
            let mut text = B64.encode(&bytes).into_bytes();
            match change {
                0 => {}
                1 if !text.is_empty() => {
                    let i = at.index(text.len());
                    text[i] = with;
                }
                2 => text.truncate(at.index(text.len() + 1)),
                _ => text.push(with),
            }
            let text = String::from_utf8(text).expect("ascii");
            let want = B64.decode(&text).ok();
            prop_assert_eq!(decode(&text), want.clone(), "{:?}", text);
            let mut out = vec![0u8; want.as_ref().map_or(bytes.len(), Vec::len)];
            let mut fixed = vec![0u8; out.len()];
            let general = B64.decode_slice(&text, &mut fixed) == Ok(out.len());
            prop_assert_eq!(decode_into(&text, &mut out), general, "{:?}", text);
            if general {
                prop_assert_eq!(out, fixed);
            }
        }

        /// The last-comma shortcut splits exactly as `rsplit_once` does, on any text made of
        /// commas, marker pieces and other characters.
        #[test]
        fn rsplit_marker_is_rsplit_once(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(",".to_string()),
                    Just(",type:".to_string()),
                    Just(",tag:".to_string()),
                    Just(",iv:".to_string()),
                    Just("type:".to_string()),
                    "[a-z0-9+/=:]{0,4}",
                ],
                0..12,
            ),
        ) {
            let s = parts.concat();
            for marker in [",type:", ",tag:", ",iv:"] {
                prop_assert_eq!(rsplit_marker(&s, marker), s.rsplit_once(marker));
            }
        }
    }

    #[test]
    fn sealed_values_of_every_length_open_as_the_general_cipher_does() {
        let key = DataKey::generate();
        let cipher = ValueCipher::new(&key);
        let nonce = [7u8; 32];
        // Sealed on the stack up to `SMALL_VALUE` bytes, in a heap buffer past it.
        let around = [SMALL_VALUE - 1, SMALL_VALUE, SMALL_VALUE + 1];
        for len in (0..=130).chain(around).chain([1000, 70_000]) {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = cipher.seal(&plain, "str", "k:", &nonce).unwrap();
            let general = encrypt(&key, &plain, "str", "k:", Some(&nonce)).unwrap();
            assert_eq!(sealed, general.to_string(), "length {len}");
            // An empty value's `data:` is empty, which only some readers accept.
            let opened = cipher.open(&sealed, "k:", len == 0).unwrap();
            assert_eq!(opened.plain.as_slice(), plain.as_slice(), "length {len}");
        }
    }

    #[test]
    fn a_stack_copy_takes_a_short_value_and_wipes_what_it_wrote() {
        let mut copy = StackCopy::default();
        assert!(copy.take(&[1u8; SMALL_VALUE + 1]).is_none());
        assert_eq!(
            copy.take(b"secret").map(|c| c.to_vec()),
            Some(b"secret".to_vec())
        );
        copy.wipe();
        assert!(copy.bytes.iter().all(|&b| b == 0));
        assert_eq!(copy.len, 0);
    }

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
    fn value_cipher_matches_the_one_shot_functions() {
        let key = DataKey::generate();
        let vc = ValueCipher::new(&key);
        let iv = [9u8; 32];
        for plain in [&b"x"[..], b"a longer value \xe2\x9c\x93 with bytes"] {
            let one = encrypt(&key, plain, "str", "a:b:", Some(&iv)).unwrap();
            let sealed = vc.seal(plain, "str", "a:b:", &iv).unwrap();
            assert_eq!(sealed, one.to_string());
            assert_eq!(sealed.capacity(), sealed.len());
            let opened = vc.open(&sealed, "a:b:", false).unwrap();
            assert_eq!(opened.plain.as_slice(), plain);
            assert_eq!(opened.type_tag, "str");
            assert_eq!(opened.iv, iv);
            assert_eq!(
                vc.open(&sealed, "a:c:", false).err(),
                Some(OpenError::Cipher(CipherError::Auth))
            );
        }
        // A 12-byte IV (not what sops 3 writes): refused as `decrypt` refuses it.
        let short =
            "ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
        assert_eq!(
            vc.open(short, "k:", false).err(),
            Some(OpenError::Cipher(CipherError::Format))
        );
        for bad in ["plain", "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]"] {
            assert_eq!(
                vc.open(bad, "k:", false).err(),
                Some(OpenError::NotEncrypted)
            );
        }
        // Bad base64 in the data of an otherwise usual value: not an encrypted value.
        let ok = vc.seal(b"v", "int", "k:", &iv).unwrap();
        let broken = ok.replacen("data:", "data:!", 1);
        assert_eq!(
            vc.open(&broken, "k:", false).err(),
            Some(OpenError::NotEncrypted)
        );
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
