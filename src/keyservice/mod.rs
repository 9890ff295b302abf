//! The sops key service: a process that holds master keys and wraps or unwraps data keys for
//! others over gRPC (`sepal keyservice`), and the client that asks one (`--keyservice URI`).
//!
//! The protocol is sops's `KeyService` (unary `Encrypt` and `Decrypt`, paths
//! `/KeyService/Encrypt` and `/KeyService/Decrypt`): a request names the master key by its
//! naming fields and carries the secret (encrypt) or the bytes of the stored `enc` string
//! (decrypt). The messages are written by hand for prost ([`proto`]), so building needs no protoc.
//!
//! sepal is synchronous; both sides run a small tokio runtime of their own.

mod client;
pub mod proto;
mod server;

pub use crate::keys::backend::{Listen, ServeError, ServeOptions};
pub use client::Client;
pub use server::serve;

use crate::metadata::{AzureKey, KeyKind, KmsKey, MasterKey, StoredKey, VaultKey};
use proto::{AgeKey, AzureKeyVaultKey, GcpKmsKey, HckmsKey, Key, KeyType, PgpKey};

/// The protocol message naming a stored master key (its `enc` is not part of it).
pub fn key_of(stored: &StoredKey) -> Key {
    let key_type = match &stored.key {
        MasterKey::Kms(k) => KeyType::KmsKey(proto::KmsKey {
            arn: k.arn.clone(),
            role: k.role.clone(),
            context: k.context.clone(),
            aws_profile: k.aws_profile.clone(),
        }),
        MasterKey::Pgp { fingerprint } => KeyType::PgpKey(PgpKey {
            fingerprint: fingerprint.clone(),
        }),
        MasterKey::GcpKms { resource_id } => KeyType::GcpKmsKey(GcpKmsKey {
            resource_id: resource_id.clone(),
        }),
        MasterKey::AzureKv(k) => KeyType::AzureKeyvaultKey(AzureKeyVaultKey {
            vault_url: k.vault_url.clone(),
            name: k.name.clone(),
            version: k.version.clone(),
        }),
        MasterKey::Vault(k) => KeyType::VaultKey(proto::VaultKey {
            vault_address: k.address.clone(),
            engine_path: k.engine_path.clone(),
            key_name: k.key_name.clone(),
        }),
        MasterKey::Age { recipient } => KeyType::AgeKey(AgeKey {
            recipient: recipient.clone(),
        }),
        MasterKey::Hckms { key_id } => KeyType::HckmsKey(HckmsKey {
            key_id: key_id.clone(),
        }),
    };
    Key {
        key_type: Some(key_type),
    }
}

/// The master key a protocol message names (not wrapped); `None` when it names no key.
pub fn spec_of(key: &Key) -> Option<StoredKey> {
    let master = match key.key_type.as_ref()? {
        KeyType::KmsKey(k) => MasterKey::Kms(KmsKey {
            arn: k.arn.clone(),
            role: k.role.clone(),
            context: k.context.clone(),
            aws_profile: k.aws_profile.clone(),
        }),
        KeyType::PgpKey(k) => MasterKey::Pgp {
            fingerprint: k.fingerprint.clone(),
        },
        KeyType::GcpKmsKey(k) => MasterKey::GcpKms {
            resource_id: k.resource_id.clone(),
        },
        KeyType::AzureKeyvaultKey(k) => MasterKey::AzureKv(AzureKey {
            vault_url: k.vault_url.clone(),
            name: k.name.clone(),
            version: k.version.clone(),
        }),
        KeyType::VaultKey(k) => MasterKey::Vault(VaultKey {
            address: k.vault_address.clone(),
            engine_path: k.engine_path.clone(),
            key_name: k.key_name.clone(),
        }),
        KeyType::AgeKey(k) => MasterKey::Age {
            recipient: k.recipient.clone(),
        },
        KeyType::HckmsKey(k) => MasterKey::Hckms {
            key_id: k.key_id.clone(),
        },
    };
    Some(StoredKey::new(master))
}

/// How the key service names a key in prompts and logs (no key material).
pub fn describe(spec: &StoredKey) -> String {
    let what = match spec.kind() {
        KeyKind::Kms => "AWS KMS key",
        KeyKind::GcpKms => "GCP KMS key",
        KeyKind::Hckms => "HuaweiCloud KMS key",
        KeyKind::AzureKv => "Azure Key Vault key",
        KeyKind::HcVault => "HashiCorp Vault key",
        KeyKind::Pgp => "PGP key",
        KeyKind::Age => "age key",
    };
    format!("{what} {}", spec.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_for_every_kind() {
        let kms = MasterKey::Kms(KmsKey {
            arn: "arn:aws:kms:eu-west-1:1:key/x".into(),
            role: "r".into(),
            aws_profile: "p".into(),
            context: [("a".to_string(), "b".to_string())].into_iter().collect(),
        });
        let cases = vec![
            kms,
            MasterKey::Pgp {
                fingerprint: "ABCDEF".into(),
            },
            MasterKey::GcpKms {
                resource_id: "projects/p".into(),
            },
            MasterKey::AzureKv(AzureKey {
                vault_url: "https://v".into(),
                name: "n".into(),
                version: "1".into(),
            }),
            MasterKey::Vault(VaultKey {
                address: "https://v:8200".into(),
                engine_path: "transit".into(),
                key_name: "k".into(),
            }),
            MasterKey::Age {
                recipient: "age1xyz".into(),
            },
            MasterKey::Hckms {
                key_id: "region:uuid".into(),
            },
        ];
        for master in cases {
            let k = StoredKey::new(master);
            let mut with_extras = k.wrapped("secret".into());
            with_extras.created_at = Some("2024-01-01T00:00:00Z".into());
            assert_eq!(spec_of(&key_of(&with_extras)), Some(k.clone()), "{k:?}");
        }
        assert_eq!(spec_of(&Key { key_type: None }), None);
    }
}
