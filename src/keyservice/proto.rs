//! The messages of the sops key service protocol (`keyservice.proto`, proto3, no package),
//! written out by hand for prost so that no protoc or build script is needed. Field numbers and
//! types follow the protocol exactly; that is what makes sepal and sops talk to each other.

use std::collections::BTreeMap;

use zeroize::Zeroize;

/// A master key, one of the kinds sops knows.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Key {
    #[prost(oneof = "KeyType", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub key_type: Option<KeyType>,
}

/// The `key_type` oneof of [`Key`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum KeyType {
    #[prost(message, tag = "1")]
    KmsKey(KmsKey),
    #[prost(message, tag = "2")]
    PgpKey(PgpKey),
    #[prost(message, tag = "3")]
    GcpKmsKey(GcpKmsKey),
    #[prost(message, tag = "4")]
    AzureKeyvaultKey(AzureKeyVaultKey),
    #[prost(message, tag = "5")]
    VaultKey(VaultKey),
    #[prost(message, tag = "6")]
    AgeKey(AgeKey),
    #[prost(message, tag = "7")]
    HckmsKey(HckmsKey),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PgpKey {
    #[prost(string, tag = "1")]
    pub fingerprint: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KmsKey {
    #[prost(string, tag = "1")]
    pub arn: String,
    #[prost(string, tag = "2")]
    pub role: String,
    #[prost(btree_map = "string, string", tag = "3")]
    pub context: BTreeMap<String, String>,
    #[prost(string, tag = "4")]
    pub aws_profile: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GcpKmsKey {
    #[prost(string, tag = "1")]
    pub resource_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VaultKey {
    #[prost(string, tag = "1")]
    pub vault_address: String,
    #[prost(string, tag = "2")]
    pub engine_path: String,
    #[prost(string, tag = "3")]
    pub key_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AzureKeyVaultKey {
    #[prost(string, tag = "1")]
    pub vault_url: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AgeKey {
    #[prost(string, tag = "1")]
    pub recipient: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HckmsKey {
    #[prost(string, tag = "1")]
    pub key_id: String,
}

/// Wrap `plaintext` (a data key or a Shamir share of it) for `key`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
}

/// The wrapped key: the bytes of the `enc` string stored in the file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
}

/// Unwrap `ciphertext` (the bytes of the stored `enc` string) with `key`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

/// The unwrapped secret.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

// The messages that carry a secret wipe it when dropped (copies made by the HTTP/2 and codec
// buffers on the way are out of our reach).
impl Drop for EncryptRequest {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl Drop for DecryptResponse {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn wire_format_matches_the_protocol() {
        // Key{age_key{recipient:"r"}} = field 6 (len) { field 1 (len) "r" }.
        let key = Key {
            key_type: Some(KeyType::AgeKey(AgeKey {
                recipient: "r".into(),
            })),
        };
        assert_eq!(key.encode_to_vec(), vec![0x32, 0x03, 0x0a, 0x01, b'r']);
        let req = DecryptRequest {
            key: Some(key.clone()),
            ciphertext: b"xy".to_vec(),
        };
        let bytes = req.encode_to_vec();
        assert_eq!(
            bytes,
            vec![0x0a, 0x05, 0x32, 0x03, 0x0a, 0x01, b'r', 0x12, 0x02, b'x', b'y']
        );
        assert_eq!(DecryptRequest::decode(bytes.as_slice()).ok(), Some(req));
        let kms = Key {
            key_type: Some(KeyType::KmsKey(KmsKey {
                arn: "a".into(),
                context: [("k".to_string(), "v".to_string())].into(),
                ..KmsKey::default()
            })),
        };
        let back = Key::decode(kms.encode_to_vec().as_slice()).ok();
        assert_eq!(back, Some(kms));
    }
}
