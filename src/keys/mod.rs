//! Master keys: each key source wraps and unwraps the data key (or a Shamir share of it) behind
//! one trait, [`KeySource`]. Stores and the cipher walk never see key types.

pub mod age;
pub mod backend;
pub mod helper;
pub mod kms;
pub mod pgp;
pub mod vault;

use crate::crypto::cipher::DataKey;
use crate::metadata::{KeyGroup, KeyKind, Metadata, StoredKey};
use crate::wipe::Wiped;

/// Where a key error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A local key source of this kind.
    Source(KeyKind),
    /// A key service (`--keyservice`).
    Service,
    /// The keyring itself (choosing sources, splitting and combining Shamir shares).
    Keyring,
}

/// A key source failed. The message names the key and says what to do, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KeyError {
    pub origin: KeyOrigin,
    message: String,
}

impl KeyError {
    pub fn new(origin: KeyOrigin, message: impl Into<String>) -> Self {
        KeyError {
            origin,
            message: message.into(),
        }
    }

    pub fn age(message: impl Into<String>) -> Self {
        Self::new(KeyOrigin::Source(KeyKind::Age), message)
    }

    pub fn pgp(message: impl Into<String>) -> Self {
        Self::new(KeyOrigin::Source(KeyKind::Pgp), message)
    }

    pub fn kms(message: impl Into<String>) -> Self {
        Self::new(KeyOrigin::Source(KeyKind::Kms), message)
    }

    pub fn vault(message: impl Into<String>) -> Self {
        Self::new(KeyOrigin::Source(KeyKind::HcVault), message)
    }

    pub fn service(message: impl Into<String>) -> Self {
        Self::new(KeyOrigin::Service, message)
    }

    pub fn keyring(message: impl Into<String>) -> Self {
        Self::new(KeyOrigin::Keyring, message)
    }

    /// The message alone.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// One kind of master key.
pub trait KeySource {
    fn kind(&self) -> KeyKind;

    /// Wrap `secret` for the key described by `spec` (its naming fields, no `enc` yet) and return
    /// the complete stored entry.
    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError>;

    /// Recover the secret from an entry of this kind.
    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError>;
}

/// A key service in another process or on another machine (`--keyservice`), which wraps and
/// unwraps data keys for master keys of any kind it holds.
pub trait RemoteKeyService {
    /// How to name the service in messages (its URI).
    fn name(&self) -> String;
    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError>;
    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError>;
}

/// All the key sources this build knows, and the key services to ask.
pub struct Keyring {
    sources: Vec<Box<dyn KeySource>>,
    /// Remote key services, tried in order after the local sources.
    pub remotes: Vec<Box<dyn RemoteKeyService>>,
    /// Whether the local sources are used (`--enable-local-keyservice`).
    pub local: bool,
    /// `--decryption-order`: kinds tried first within each group, in this order.
    pub decryption_order: Vec<KeyKind>,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring {
            sources: vec![
                Box::new(age::AgeSource::from_env()),
                Box::new(pgp::PgpSource::from_env()),
                backend::current().kms(),
                backend::current().vault(),
            ],
            remotes: Vec::new(),
            local: true,
            decryption_order: vec![KeyKind::Age, KeyKind::Pgp],
        }
    }
}

impl Keyring {
    pub fn with_sources(sources: Vec<Box<dyn KeySource>>) -> Self {
        Keyring {
            sources,
            ..Keyring::default()
        }
    }

    /// Wrap with the first service (local, then remotes) that succeeds.
    fn wrap_one(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let mut errors = Vec::new();
        if self.local {
            match self.source(spec.kind()).and_then(|s| s.wrap(spec, secret)) {
                Ok(k) => return Ok(k),
                Err(e) => errors.push(e.to_string()),
            }
        }
        for r in &self.remotes {
            match r.wrap(spec, secret) {
                Ok(k) => return Ok(k),
                Err(e) => errors.push(format!("key service {}: {}", r.name(), e)),
            }
        }
        if errors.is_empty() {
            errors.push("no key service available (the local one is disabled)".into());
        }
        Err(KeyError::keyring(errors.join("; ")))
    }

    /// Unwrap with the first service (local, then remotes) that succeeds.
    fn unwrap_one(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        let mut errors = Vec::new();
        if self.local {
            match self.source(stored.kind()).and_then(|s| s.unwrap(stored)) {
                Ok(k) => return Ok(k),
                Err(e) => errors.push(e.to_string()),
            }
        }
        for r in &self.remotes {
            match r.unwrap(stored) {
                Ok(k) => return Ok(k),
                Err(e) => errors.push(format!("key service {}: {}", r.name(), e)),
            }
        }
        if errors.is_empty() {
            errors.push("no key service available (the local one is disabled)".into());
        }
        Err(KeyError::keyring(errors.join("\n")))
    }

    /// The local source for a kind (used by the key service server).
    pub fn local_source(&self, kind: KeyKind) -> Result<&dyn KeySource, KeyError> {
        self.source(kind)
    }

    fn source(&self, kind: KeyKind) -> Result<&dyn KeySource, KeyError> {
        self.sources
            .iter()
            .find(|s| s.kind() == kind)
            .map(|s| s.as_ref())
            .ok_or_else(|| {
                KeyError::keyring(format!(
                    "{} keys are not supported by this version of sepal yet",
                    kind.name()
                ))
            })
    }

    /// Wrap a new data key for every key of every group (Shamir shares when there are several
    /// groups). Returns the groups with their `enc` fields filled.
    pub fn wrap_data_key(
        &self,
        key: &DataKey,
        groups: &[KeyGroup],
        threshold: usize,
    ) -> Result<Vec<KeyGroup>, KeyError> {
        let secrets: Vec<Wiped<Vec<u8>>> = if groups.len() <= 1 {
            vec![Wiped::new(key.as_bytes().to_vec())]
        } else {
            let shares = shamir_vault::split(
                key.as_bytes(),
                groups.len(),
                threshold,
                &mut rand::rngs::OsRng,
            )
            .map_err(|e| KeyError::keyring(format!("could not split the data key: {e}")))?;
            shares.into_iter().map(Wiped::new).collect()
        };
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (group, secret) in groups.iter().zip(&secrets) {
            let mut g = Vec::new();
            for spec in group {
                match self.wrap_one(spec, secret) {
                    Ok(k) => g.push(k),
                    Err(e) => errors.push(format!("{}: {}", spec.id(), e)),
                }
            }
            out.push(g);
        }
        if !errors.is_empty() {
            return Err(KeyError::keyring(format!(
                "Could not generate data key: [{}]",
                errors.join(", ")
            )));
        }
        Ok(out)
    }

    /// Recover the data key of a file: try every group, each key in decryption order, and combine
    /// Shamir shares. On failure the error lists every group and key with why it failed.
    pub fn data_key(&self, meta: &Metadata) -> Result<DataKey, RecoveryError> {
        let mut parts: Vec<Wiped<Vec<u8>>> = Vec::new();
        let mut reports = Vec::new();
        let required = if meta.key_groups.len() > 1 {
            if meta.shamir_threshold == 0 {
                meta.key_groups.len()
            } else {
                meta.shamir_threshold
            }
        } else {
            1
        };
        for group in &meta.key_groups {
            if parts.len() >= required {
                break;
            }
            let mut keys: Vec<&StoredKey> = group.iter().collect();
            keys.sort_by_key(|k| {
                self.decryption_order
                    .iter()
                    .position(|o| *o == k.kind())
                    .unwrap_or(usize::MAX)
            });
            let mut failures = Vec::new();
            let mut got = None;
            for k in keys {
                match self.unwrap_one(k) {
                    Ok(secret) => {
                        got = Some(secret);
                        break;
                    }
                    Err(e) => failures.push((k.id(), e.to_string())),
                }
            }
            match got {
                Some(s) => {
                    parts.push(s);
                    reports.push(None);
                }
                None => reports.push(Some(failures)),
            }
        }
        let fail = |parts: usize| DataKeyError {
            required: if meta.key_groups.len() > 1 {
                required
            } else {
                0
            },
            recovered: parts,
            groups: reports.clone(),
        };
        if parts.len() < required {
            return Err(RecoveryError::NoKey(fail(parts.len())));
        }
        let bytes = if meta.key_groups.len() > 1 {
            let shares: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
            let combined =
                shamir_vault::combine(&shares).map_err(|_| RecoveryError::NoKey(fail(0)));
            let mut shares = shares;
            for s in &mut shares {
                zeroize::Zeroize::zeroize(s);
            }
            Wiped::new(combined?)
        } else {
            parts.swap_remove(0)
        };
        DataKey::from_slice(&bytes).ok_or(RecoveryError::KeySize(bytes.len()))
    }
}

/// Why a file's data key could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// No group (or not enough groups) could be opened: exit 128.
    #[error("{0}")]
    NoKey(DataKeyError),
    /// A key opened, but what it held is not a 32-byte AES-256 key (old sops 2.0/3.0 files carry
    /// a 31-byte one): exit 25, as sops fails on its first value.
    #[error("invalid key size {0}: the data key recovered from the file's master keys is {0} bytes long, where AES-256 needs 32. Some files written by old sops versions (2.0, 3.0) carry such a key; no version of sops can decrypt their values either")]
    KeySize(usize),
}

impl RecoveryError {
    /// The exit code sops uses for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RecoveryError::NoKey(_) => 128,
            RecoveryError::KeySize(_) => 25,
        }
    }
}

/// No group (or not enough groups) could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyError {
    /// Groups needed (0 = one group, any key).
    pub required: usize,
    pub recovered: usize,
    /// Per group tried: `None` if it opened, else each key's id and error.
    pub groups: Vec<Option<Vec<(String, String)>>>,
}

impl std::fmt::Display for DataKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Failed to get the data key required to decrypt the SOPS file.\n"
        )?;
        for (i, g) in self.groups.iter().enumerate() {
            match g {
                None => writeln!(f, "Group {i}: SUCCESS\n")?,
                Some(fails) => {
                    writeln!(f, "Group {i}: FAILED")?;
                    if fails.is_empty() {
                        writeln!(f, "  (no keys in this group)")?;
                    }
                    for (id, err) in fails {
                        writeln!(f, "  {id}: FAILED")?;
                        for (n, line) in err.lines().enumerate() {
                            let mark = if n == 0 { "-" } else { "|" };
                            writeln!(f, "    {mark} {line}")?;
                        }
                    }
                    writeln!(f)?;
                }
            }
        }
        if self.required == 0 {
            write!(
                f,
                "Recovery failed because no master key was able to decrypt the file. In\n\
                 order for SOPS to recover the file, at least one key has to be successful,\n\
                 but none were."
            )
        } else {
            write!(
                f,
                "Recovery failed because the file was encrypted with a Shamir threshold of {}, \
                 but only {} part(s) were successfully recovered, one for each successful key \
                 group. In order for SOPS to recover the file, at least {} groups have to be \
                 successful. In order for a group to be successful, decryption has to succeed \
                 with any of the keys in that key group.",
                self.required, self.recovered, self.required
            )
        }
    }
}

impl std::error::Error for DataKeyError {}

/// A `--decryption-order` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptionOrderError {
    #[error("Unknown decryption key type: {0}")]
    Unknown(String),
    /// sops exits 112 for this one.
    #[error("Duplicate decryption key type: {0}")]
    Duplicate(String),
}

/// Parse `--decryption-order` / `SOPS_DECRYPTION_ORDER`.
pub fn parse_decryption_order(s: &str) -> Result<Vec<KeyKind>, DecryptionOrderError> {
    let mut out = Vec::new();
    for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let kind = KeyKind::from_name(word)
            .ok_or_else(|| DecryptionOrderError::Unknown(word.to_string()))?;
        if out.contains(&kind) {
            return Err(DecryptionOrderError::Duplicate(word.to_string()));
        }
        out.push(kind);
    }
    Ok(out)
}
