//! Master keys named by their identifiers (an age recipient, a PGP fingerprint, a KMS ARN, a
//! Vault or Azure URL), as flags and the flat form of a creation rule name them: one builder
//! for both, so a key means the same wherever it is named.

use std::collections::BTreeMap;

use super::ConfigError;
use crate::metadata::{AzureKey, KeyGroup, KmsKey, MasterKey, StoredKey, VaultKey};

/// Master keys named for a file (each list is one kind's identifiers, in order).
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    pub age: Vec<String>,
    pub pgp: Vec<String>,
    /// `ARN` or `ARN+roleARN`.
    pub kms: Vec<String>,
    pub gcp_kms: Vec<String>,
    pub azure_kv: Vec<String>,
    pub hc_vault_transit: Vec<String>,
    pub hckms: Vec<String>,
    pub aws_profile: Option<String>,
    /// `key1:value1,key2:value2`, for the KMS keys.
    pub encryption_context: Option<String>,
    pub shamir_threshold: Option<usize>,
}

impl KeyOptions {
    /// The keys as one group, deduplicated (empty when none are named).
    pub fn group(&self) -> Result<KeyGroup, ConfigError> {
        let context = match &self.encryption_context {
            Some(c) => parse_context(c)?,
            None => BTreeMap::new(),
        };
        let mut g: KeyGroup = Vec::new();
        for arn in &self.kms {
            let mut k = kms_key(arn, self.aws_profile.as_deref().unwrap_or(""));
            if let MasterKey::Kms(kms) = &mut k.key {
                kms.context = context.clone();
            }
            g.push(k);
        }
        for id in &self.gcp_kms {
            g.push(StoredKey::new(MasterKey::GcpKms {
                resource_id: id.replace(' ', ""),
            }));
        }
        for id in &self.hckms {
            g.push(StoredKey::new(MasterKey::Hckms { key_id: id.clone() }));
        }
        for url in &self.azure_kv {
            g.push(azure_key(url)?);
        }
        for fp in &self.pgp {
            g.push(StoredKey::new(MasterKey::Pgp {
                fingerprint: fp.replace(' ', ""),
            }));
        }
        for uri in &self.hc_vault_transit {
            g.push(vault_key(uri)?);
        }
        for r in &self.age {
            g.push(StoredKey::new(MasterKey::Age {
                recipient: r.clone(),
            }));
        }
        dedup(&mut g);
        Ok(g)
    }
}

/// Parse a KMS encryption context, `k1:v1,k2:v2`.
pub fn parse_context(s: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let parts: Vec<&str> = pair.split(':').collect();
        let [k, v] = parts.as_slice() else {
            return Err(ConfigError::KmsContext);
        };
        out.insert((*k).to_string(), (*v).to_string());
    }
    Ok(out)
}

/// A KMS key from `ARN` or `ARN+roleARN`.
pub fn kms_key(spec: &str, profile: &str) -> StoredKey {
    let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let (arn, role) = match spec.split_once("+arn:") {
        Some((a, r)) => (a.to_string(), format!("arn:{r}")),
        None => (spec.clone(), String::new()),
    };
    StoredKey::new(MasterKey::Kms(KmsKey {
        arn,
        role,
        aws_profile: profile.to_string(),
        context: Default::default(),
    }))
}

/// A Vault transit key from its URI `https://host:port/v1/<engine>/keys/<name>`.
pub fn vault_key(uri: &str) -> Result<StoredKey, ConfigError> {
    let bad = || ConfigError::VaultUri(uri.to_string());
    let scheme_end = uri.find("://").ok_or_else(bad)? + 3;
    let path_start = uri[scheme_end..].find('/').ok_or_else(bad)? + scheme_end;
    let address = &uri[..path_start];
    let path = uri[path_start..].trim_start_matches('/');
    let rest = path.strip_prefix("v1/").ok_or_else(bad)?;
    let (engine, name) = rest.rsplit_once("/keys/").ok_or_else(bad)?;
    if engine.is_empty() || name.is_empty() {
        return Err(bad());
    }
    Ok(StoredKey::new(MasterKey::Vault(VaultKey {
        address: address.to_string(),
        engine_path: engine.to_string(),
        key_name: name.to_string(),
    })))
}

/// An Azure Key Vault key from `https://<host>/keys/<name>[/<version>]`.
pub fn azure_key(url: &str) -> Result<StoredKey, ConfigError> {
    let bad = || ConfigError::AzureUrl(url.to_string());
    let (vault, rest) = url.split_once("/keys/").ok_or_else(bad)?;
    let mut parts = rest.splitn(2, '/');
    let name = parts.next().ok_or_else(bad)?;
    let version = parts.next().unwrap_or("");
    Ok(azure(vault, name, version))
}

pub(super) fn azure(vault_url: &str, name: &str, version: &str) -> StoredKey {
    StoredKey::new(MasterKey::AzureKv(AzureKey {
        vault_url: vault_url.to_string(),
        name: name.to_string(),
        version: version.to_string(),
    }))
}

/// Drop keys of the same type and identification string, keeping the first.
pub fn dedup(group: &mut KeyGroup) {
    let mut seen = std::collections::HashSet::new();
    group.retain(|k| seen.insert((k.kind(), k.id())));
}
