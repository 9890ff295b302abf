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

pub use client::Client;
pub use server::{serve, Listen, ServeOptions};

use crate::metadata::{KeyKind, StoredKey};
use proto::{
    AgeKey, AzureKeyVaultKey, GcpKmsKey, HckmsKey, Key, KeyType, KmsKey, PgpKey, VaultKey,
};

/// The protocol message naming a stored master key (its `enc` is not part of it).
pub fn key_of(stored: &StoredKey) -> Key {
    let f = |name: &str| stored.field(name).to_string();
    let key_type = match stored.kind {
        KeyKind::Kms => KeyType::KmsKey(KmsKey {
            arn: f("arn"),
            role: f("role"),
            context: stored.context.clone(),
            aws_profile: f("aws_profile"),
        }),
        KeyKind::Pgp => KeyType::PgpKey(PgpKey {
            fingerprint: f("fp"),
        }),
        KeyKind::GcpKms => KeyType::GcpKmsKey(GcpKmsKey {
            resource_id: f("resource_id"),
        }),
        KeyKind::AzureKv => KeyType::AzureKeyvaultKey(AzureKeyVaultKey {
            vault_url: f("vault_url"),
            name: f("name"),
            version: f("version"),
        }),
        KeyKind::HcVault => KeyType::VaultKey(VaultKey {
            vault_address: f("vault_address"),
            engine_path: f("engine_path"),
            key_name: f("key_name"),
        }),
        KeyKind::Age => KeyType::AgeKey(AgeKey {
            recipient: f("recipient"),
        }),
        KeyKind::Hckms => KeyType::HckmsKey(HckmsKey {
            key_id: f("key_id"),
        }),
    };
    Key {
        key_type: Some(key_type),
    }
}

/// The stored-key description (kind and naming fields, no `enc`) of a protocol key; `None` when
/// the message names no key.
pub fn spec_of(key: &Key) -> Option<StoredKey> {
    let key_type = key.key_type.as_ref()?;
    let (kind, fields, context): (KeyKind, Vec<(&str, &str)>, _) = match key_type {
        KeyType::KmsKey(k) => (
            KeyKind::Kms,
            vec![
                ("arn", &k.arn),
                ("role", &k.role),
                ("aws_profile", &k.aws_profile),
            ],
            k.context.clone(),
        ),
        KeyType::PgpKey(k) => (
            KeyKind::Pgp,
            vec![("fp", &k.fingerprint)],
            Default::default(),
        ),
        KeyType::GcpKmsKey(k) => (
            KeyKind::GcpKms,
            vec![("resource_id", &k.resource_id)],
            Default::default(),
        ),
        KeyType::AzureKeyvaultKey(k) => (
            KeyKind::AzureKv,
            vec![
                ("vault_url", &k.vault_url),
                ("name", &k.name),
                ("version", &k.version),
            ],
            Default::default(),
        ),
        KeyType::VaultKey(k) => (
            KeyKind::HcVault,
            vec![
                ("vault_address", &k.vault_address),
                ("engine_path", &k.engine_path),
                ("key_name", &k.key_name),
            ],
            Default::default(),
        ),
        KeyType::AgeKey(k) => (
            KeyKind::Age,
            vec![("recipient", &k.recipient)],
            Default::default(),
        ),
        KeyType::HckmsKey(k) => (
            KeyKind::Hckms,
            vec![("key_id", &k.key_id)],
            Default::default(),
        ),
    };
    let mut spec = StoredKey::new(kind);
    for (name, value) in fields {
        if !value.is_empty() {
            spec.fields.insert(name.to_string(), value.to_string());
        }
    }
    spec.context = context;
    Some(spec)
}

/// How the key service names a key in prompts and logs (no key material).
pub fn describe(spec: &StoredKey) -> String {
    let what = match spec.kind {
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
        let cases: Vec<(KeyKind, Vec<(&str, &str)>)> = vec![
            (
                KeyKind::Kms,
                vec![
                    ("arn", "arn:aws:kms:eu-west-1:1:key/x"),
                    ("role", "r"),
                    ("aws_profile", "p"),
                ],
            ),
            (KeyKind::Pgp, vec![("fp", "ABCDEF")]),
            (KeyKind::GcpKms, vec![("resource_id", "projects/p")]),
            (
                KeyKind::AzureKv,
                vec![("vault_url", "https://v"), ("name", "n"), ("version", "1")],
            ),
            (
                KeyKind::HcVault,
                vec![
                    ("vault_address", "https://v:8200"),
                    ("engine_path", "transit"),
                    ("key_name", "k"),
                ],
            ),
            (KeyKind::Age, vec![("recipient", "age1xyz")]),
            (KeyKind::Hckms, vec![("key_id", "region:uuid")]),
        ];
        for (kind, fields) in cases {
            let mut k = StoredKey::new(kind);
            for (n, v) in fields {
                k.fields.insert(n.into(), v.into());
            }
            if kind == KeyKind::Kms {
                k.context.insert("a".into(), "b".into());
            }
            let mut with_extras = k.clone();
            with_extras.fields.insert("enc".into(), "secret".into());
            with_extras
                .fields
                .insert("created_at".into(), "2024-01-01T00:00:00Z".into());
            assert_eq!(spec_of(&key_of(&with_extras)), Some(k), "{kind:?}");
        }
        assert_eq!(spec_of(&Key { key_type: None }), None);
    }
}
