//! Master keys as typed values: [`MasterKey`] says which key (an age recipient, a PGP fingerprint,
//! a KMS ARN with its role and context, ...), [`StoredKey`] adds what the file keeps for it (the
//! wrapped data key, its creation time). Read once from metadata fields and written once, with
//! the field names and omissions sops uses.

use std::collections::BTreeMap;

/// The master key types sops knows, in the order sops reads them inside a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    Kms,
    GcpKms,
    Hckms,
    AzureKv,
    HcVault,
    Pgp,
    Age,
}

impl KeyKind {
    pub const ALL: [KeyKind; 7] = [
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::Hckms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Pgp,
        KeyKind::Age,
    ];

    /// The metadata field name, also the `--decryption-order` word.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::Hckms => "hckms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::Pgp => "pgp",
            KeyKind::Age => "age",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// An AWS KMS key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KmsKey {
    pub arn: String,
    /// An IAM role to assume (empty: none).
    pub role: String,
    /// The encryption context bound to the ciphertext.
    pub context: BTreeMap<String, String>,
    /// The AWS profile for credentials (empty: the default chain).
    pub aws_profile: String,
}

/// A HashiCorp Vault (or OpenBao) transit key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultKey {
    pub address: String,
    pub engine_path: String,
    pub key_name: String,
}

/// An Azure Key Vault key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureKey {
    pub vault_url: String,
    pub name: String,
    pub version: String,
}

/// Which master key: its type and the fields that name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKey {
    Age { recipient: String },
    Pgp { fingerprint: String },
    Kms(KmsKey),
    Vault(VaultKey),
    GcpKms { resource_id: String },
    AzureKv(AzureKey),
    Hckms { key_id: String },
}

impl MasterKey {
    pub fn kind(&self) -> KeyKind {
        match self {
            MasterKey::Age { .. } => KeyKind::Age,
            MasterKey::Pgp { .. } => KeyKind::Pgp,
            MasterKey::Kms(_) => KeyKind::Kms,
            MasterKey::Vault(_) => KeyKind::HcVault,
            MasterKey::GcpKms { .. } => KeyKind::GcpKms,
            MasterKey::AzureKv(_) => KeyKind::AzureKv,
            MasterKey::Hckms { .. } => KeyKind::Hckms,
        }
    }

    /// sops's identification string of the key (recipient, fingerprint, ARN[+role], ...): what
    /// `--rm-*`, `updatekeys` and messages use.
    pub fn id(&self) -> String {
        match self {
            MasterKey::Age { recipient } => recipient.clone(),
            MasterKey::Pgp { fingerprint } => fingerprint.clone(),
            MasterKey::Kms(k) => {
                let mut s = k.arn.clone();
                if !k.role.is_empty() {
                    s = format!("{s}+{}", k.role);
                }
                if !k.context.is_empty() {
                    let ctx: Vec<String> =
                        k.context.iter().map(|(n, v)| format!("{n}:{v}")).collect();
                    s = format!("{s}|{}", ctx.join(","));
                }
                if !k.aws_profile.is_empty() {
                    s = format!("{s}|{}", k.aws_profile);
                }
                s
            }
            MasterKey::Vault(k) => {
                format!("{}/v1/{}/keys/{}", k.address, k.engine_path, k.key_name)
            }
            MasterKey::GcpKms { resource_id } => resource_id.clone(),
            MasterKey::AzureKv(k) => format!("{}/keys/{}/{}", k.vault_url, k.name, k.version),
            MasterKey::Hckms { key_id } => key_id.clone(),
        }
    }

    /// Read a key of `kind` from its metadata fields; the fields it does not use are returned.
    fn from_fields(kind: KeyKind, fields: &mut BTreeMap<String, String>) -> MasterKey {
        let mut take = |name: &str| fields.remove(name).unwrap_or_default();
        match kind {
            KeyKind::Age => MasterKey::Age {
                recipient: take("recipient"),
            },
            KeyKind::Pgp => MasterKey::Pgp {
                fingerprint: take("fp"),
            },
            KeyKind::Kms => MasterKey::Kms(KmsKey {
                arn: take("arn"),
                role: take("role"),
                aws_profile: take("aws_profile"),
                context: BTreeMap::new(),
            }),
            KeyKind::HcVault => MasterKey::Vault(VaultKey {
                address: take("vault_address"),
                engine_path: take("engine_path"),
                key_name: take("key_name"),
            }),
            KeyKind::GcpKms => MasterKey::GcpKms {
                resource_id: take("resource_id"),
            },
            KeyKind::AzureKv => MasterKey::AzureKv(AzureKey {
                vault_url: take("vault_url"),
                name: take("name"),
                version: take("version"),
            }),
            KeyKind::Hckms => MasterKey::Hckms {
                key_id: take("key_id"),
            },
        }
    }

    /// The naming fields as sops writes them (a KMS key's role and context only when set).
    fn fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            MasterKey::Age { recipient } => vec![("recipient", recipient)],
            MasterKey::Pgp { fingerprint } => vec![("fp", fingerprint)],
            MasterKey::Kms(k) => {
                let mut f = vec![("arn", k.arn.as_str()), ("aws_profile", &k.aws_profile)];
                if !k.role.is_empty() {
                    f.push(("role", &k.role));
                }
                f
            }
            MasterKey::Vault(k) => vec![
                ("vault_address", &k.address),
                ("engine_path", &k.engine_path),
                ("key_name", &k.key_name),
            ],
            MasterKey::GcpKms { resource_id } => vec![("resource_id", resource_id)],
            MasterKey::AzureKv(k) => vec![
                ("vault_url", &k.vault_url),
                ("name", &k.name),
                ("version", &k.version),
            ],
            MasterKey::Hckms { key_id } => vec![("key_id", key_id)],
        }
    }
}

/// One master key entry as the file keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    pub key: MasterKey,
    /// The data key (or its Shamir share) wrapped for this key; empty before wrapping.
    pub enc: String,
    /// When the key was added (sops writes none for age keys).
    pub created_at: Option<String>,
    /// Fields this version does not know, kept as they were.
    pub extra: BTreeMap<String, String>,
}

impl StoredKey {
    /// A key not yet wrapped.
    pub fn new(key: MasterKey) -> Self {
        StoredKey {
            key,
            enc: String::new(),
            created_at: None,
            extra: BTreeMap::new(),
        }
    }

    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// The wrapped data key.
    pub fn enc(&self) -> &str {
        &self.enc
    }

    /// This key wrapping `enc`.
    pub fn wrapped(&self, enc: String) -> StoredKey {
        StoredKey {
            enc,
            ..self.clone()
        }
    }

    /// See [`MasterKey::id`].
    pub fn id(&self) -> String {
        self.key.id()
    }

    /// The same key, not wrapped (its naming fields and creation time kept).
    pub fn unwrapped(&self) -> StoredKey {
        StoredKey {
            enc: String::new(),
            ..self.clone()
        }
    }

    /// Read an entry of `kind` from its scalar fields and (KMS) encryption context.
    pub fn from_fields(
        kind: KeyKind,
        mut fields: BTreeMap<String, String>,
        context: BTreeMap<String, String>,
    ) -> StoredKey {
        let mut key = MasterKey::from_fields(kind, &mut fields);
        if let MasterKey::Kms(k) = &mut key {
            k.context = context;
        }
        StoredKey {
            key,
            enc: fields.remove("enc").unwrap_or_default(),
            created_at: fields.remove("created_at"),
            extra: fields,
        }
    }

    /// The scalar fields to write, sorted by name, and the KMS encryption context (empty for
    /// other kinds, and then not written).
    pub fn to_fields(&self) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut out = self.extra.clone();
        for (name, value) in self.key.fields() {
            out.insert(name.to_string(), value.to_string());
        }
        if let Some(t) = &self.created_at {
            out.insert("created_at".into(), t.clone());
        }
        out.insert("enc".into(), self.enc.clone());
        let context = match &self.key {
            MasterKey::Kms(k) => k.context.clone(),
            _ => BTreeMap::new(),
        };
        (out, context)
    }
}

/// The master keys of one group.
pub type KeyGroup = Vec<StoredKey>;

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fields_round_trip_and_unknown_ones_are_kept() {
        let f = fields(&[
            ("fp", "ABCD"),
            ("enc", "-----BEGIN PGP MESSAGE-----"),
            ("created_at", "2024-01-01T00:00:00Z"),
            ("comment", "kept"),
        ]);
        let k = StoredKey::from_fields(KeyKind::Pgp, f.clone(), BTreeMap::new());
        assert_eq!(
            k.key,
            MasterKey::Pgp {
                fingerprint: "ABCD".into()
            }
        );
        assert_eq!(k.extra.get("comment").map(String::as_str), Some("kept"));
        assert_eq!(k.to_fields().0, f);
    }

    #[test]
    fn kms_ids_and_omissions_follow_sops() {
        let k = StoredKey::from_fields(
            KeyKind::Kms,
            fields(&[("arn", "arn:a"), ("enc", "x"), ("aws_profile", "")]),
            fields(&[("app", "web")]),
        );
        assert_eq!(k.id(), "arn:a|app:web");
        let (written, context) = k.to_fields();
        assert!(!written.contains_key("role"));
        assert_eq!(written.get("aws_profile").map(String::as_str), Some(""));
        assert_eq!(context.len(), 1);
        let with_role = MasterKey::Kms(KmsKey {
            arn: "arn:a".into(),
            role: "arn:r".into(),
            aws_profile: "p".into(),
            context: BTreeMap::new(),
        });
        assert_eq!(with_role.id(), "arn:a+arn:r|p");
    }

    #[test]
    fn every_kind_names_itself() {
        for kind in KeyKind::ALL {
            let k = StoredKey::from_fields(kind, BTreeMap::new(), BTreeMap::new());
            assert_eq!(k.kind(), kind);
            assert_eq!(KeyKind::from_name(kind.name()), Some(kind));
        }
    }
}
