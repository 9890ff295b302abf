//! `.sops.yaml`: creation rules (which keys and options a new file gets) and store settings.
//! Master keys named by their identifiers (in a rule, or by flags) are built in `keys`.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

mod keys;

use keys::azure;
pub use keys::{azure_key, dedup, kms_key, parse_context, vault_key, KeyOptions};

use crate::metadata::{KeyGroup, MasterKey, StoredKey};
use crate::stores::{Format, StoreOptions};

/// A problem with the configuration file or a key named in it. The CLI exits 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("error loading config: could not read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("error loading config: {path}: {reason}")]
    Syntax { path: String, reason: String },
    #[error("error loading config: invalid path_regex {regex:?}: {reason}")]
    PathRegex { regex: String, reason: String },
    #[error("error loading config: no matching creation rules found")]
    NoMatchingRule,
    #[error("invalid Vault transit URI {0:?}: expected https://host:port/v1/<engine path>/keys/<key name>")]
    VaultUri(String),
    #[error("invalid Azure Key Vault key URL {0:?}")]
    AzureUrl(String),
    /// sops exits 6 for this one.
    #[error("Invalid KMS encryption context format")]
    KmsContext,
}

/// A string, a comma-separated string, or a list of strings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(untagged)]
pub enum StringOrList {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(&self) -> Vec<String> {
        let raw: Vec<&str> = match self {
            StringOrList::None => vec![],
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v.iter().map(String::as_str).collect(),
        };
        raw.iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawKms {
    #[serde(default)]
    arn: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    context: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    aws_profile: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawGcp {
    #[serde(default)]
    resource_id: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawAzure {
    #[serde(default, rename = "vaultUrl")]
    vault_url: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    version: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawHckms {
    #[serde(default)]
    key_id: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawGroup {
    #[serde(default)]
    age: StringOrList,
    #[serde(default)]
    pgp: StringOrList,
    #[serde(default)]
    kms: Vec<RawKms>,
    #[serde(default)]
    gcp_kms: Vec<RawGcp>,
    #[serde(default)]
    azure_keyvault: Vec<RawAzure>,
    #[serde(default)]
    hc_vault: StringOrList,
    #[serde(default)]
    hckms: Vec<RawHckms>,
    #[serde(default)]
    merge: Vec<RawGroup>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawRule {
    path_regex: Option<String>,
    #[serde(default)]
    age: StringOrList,
    #[serde(default)]
    pgp: StringOrList,
    #[serde(default)]
    kms: StringOrList,
    #[serde(default)]
    gcp_kms: StringOrList,
    #[serde(default)]
    azure_keyvault: StringOrList,
    #[serde(default)]
    hc_vault_transit_uri: StringOrList,
    #[serde(default)]
    hckms: StringOrList,
    #[serde(default)]
    aws_profile: String,
    #[serde(default)]
    key_groups: Vec<RawGroup>,
    #[serde(default)]
    shamir_threshold: usize,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<String>,
    encrypted_regex: Option<String>,
    unencrypted_comment_regex: Option<String>,
    encrypted_comment_regex: Option<String>,
    #[serde(default)]
    mac_only_encrypted: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawIndent {
    indent: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawStores {
    #[serde(default)]
    yaml: RawIndent,
    #[serde(default)]
    json: RawIndent,
    #[serde(default)]
    json_binary: RawIndent,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawConfig {
    creation_rules: Option<Vec<RawRule>>,
    #[serde(default)]
    stores: RawStores,
    /// sepal's own settings (sops ignores keys it does not know).
    #[serde(default)]
    sepal: SepalSettings,
}

/// The top-level `sepal:` key of `.sops.yaml`: settings only sepal reads.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
pub struct SepalSettings {
    /// `sepal check`'s settings.
    #[serde(default)]
    pub check: CheckSettings,
}

/// `sepal: {check: {...}}`: the rotation policy and the known false positives of `sepal check`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
pub struct CheckSettings {
    /// The oldest a file's data key may be (`90d`, `12w`, `36h`); `--max-age` overrides it.
    pub max_age: Option<String>,
    /// Findings not to report.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
}

/// One known false positive: findings of `check` (a check name such as `secret`, or a secret
/// pattern name such as `aws-access-key-id`; every check when absent) in the files whose path
/// relative to the `.sops.yaml` folder matches the regex `path` (every file when absent).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
pub struct AllowEntry {
    pub path: Option<String>,
    pub check: Option<String>,
}

/// A loaded `.sops.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from (`None` when there is none).
    pub path: Option<PathBuf>,
    raw: RawConfig,
    /// The rules' `path_regex`es, compiled once on first use (a command over many files matches
    /// every file against them).
    regexes: std::sync::OnceLock<Vec<Option<Result<Regex, ConfigError>>>>,
}

/// What a matching creation rule gives a new file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreationRule {
    pub key_groups: Vec<KeyGroup>,
    pub shamir_threshold: usize,
    /// The selection option the rule sets, as (field name, value).
    pub selection: Vec<(String, String)>,
    pub mac_only_encrypted: bool,
}

/// Look for `.sops.yaml` from `start` upward (at most 100 levels).
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    for _ in 0..100 {
        let d = dir?;
        let candidate = d.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

impl Config {
    /// Load the configuration: `explicit` (`--config`/`SOPS_CONFIG`) or the first `.sops.yaml`
    /// found from the working directory upward. No file is fine.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => std::env::current_dir().ok().and_then(|d| find(&d)),
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Config::parse(&text, Some(path))
    }

    pub fn parse(text: &str, path: Option<PathBuf>) -> Result<Config, ConfigError> {
        let where_ = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config".into());
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax {
                path: where_,
                reason: e.to_string(),
            })?
        };
        Ok(Config {
            path,
            raw,
            regexes: std::sync::OnceLock::new(),
        })
    }

    /// sepal's own settings (the top-level `sepal:` key).
    pub fn sepal(&self) -> &SepalSettings {
        &self.raw.sepal
    }

    /// `file` as creation rules see it: relative to the configuration's folder (absolute when
    /// it is outside that folder or there is no configuration file).
    pub fn relative_name(&self, file: &Path) -> String {
        let abs = absolute(file);
        self.path
            .as_ref()
            .and_then(|p| p.parent())
            .map(absolute)
            .and_then(|dir| abs.strip_prefix(&dir).ok().map(Path::to_path_buf))
            .unwrap_or(abs)
            .to_string_lossy()
            .into_owned()
    }

    /// Indent setting of a store (`stores.yaml.indent`, ...).
    pub fn store_options(&self, format: Format) -> StoreOptions {
        let indent = match format {
            Format::Yaml => self.raw.stores.yaml.indent,
            Format::Json => self.raw.stores.json.indent,
            Format::Binary => self.raw.stores.json_binary.indent,
            _ => None,
        };
        StoreOptions { indent }
    }

    /// Whether the file has creation rules at all (a file without behaves as absent).
    pub fn has_rules(&self) -> bool {
        self.raw.creation_rules.is_some()
    }

    /// The `path_regex` of each creation rule, in order (`None` for a rule without one, which
    /// matches every file); `None` when the file has no rules.
    pub fn path_regexes(&self) -> Option<Vec<Option<String>>> {
        self.raw
            .creation_rules
            .as_ref()
            .map(|rules| rules.iter().map(|r| r.path_regex.clone()).collect())
    }

    /// The first rule whose `path_regex` matches `file` (made relative to the config's folder).
    /// `Ok(None)` when there are no rules; an error when rules exist but none matches.
    pub fn rule_for(&self, file: &Path) -> Result<Option<CreationRule>, ConfigError> {
        let Some(rules) = &self.raw.creation_rules else {
            return Ok(None);
        };
        let subject = self.relative_name(file);
        let regexes = self.regexes.get_or_init(|| {
            rules
                .iter()
                .map(|rule| match rule.path_regex.as_deref() {
                    None | Some("") => None,
                    Some(re) => Some(Regex::new(re).map_err(|e| ConfigError::PathRegex {
                        regex: re.to_string(),
                        reason: e.to_string(),
                    })),
                })
                .collect()
        });
        for (rule, re) in rules.iter().zip(regexes) {
            let matched = match re {
                None => true,
                Some(re) => re.as_ref().map_err(Clone::clone)?.is_match(&subject),
            };
            if matched {
                return convert_rule(rule).map(Some);
            }
        }
        Err(ConfigError::NoMatchingRule)
    }
}

/// `path` made absolute against the working directory, with `.` and `..` folded.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn convert_group(g: &RawGroup) -> Result<KeyGroup, ConfigError> {
    let mut out: KeyGroup = Vec::new();
    for m in &g.merge {
        out.extend(convert_group(m)?);
    }
    for r in g.age.items() {
        out.push(StoredKey::new(MasterKey::Age { recipient: r }));
    }
    for fp in g.pgp.items() {
        out.push(StoredKey::new(MasterKey::Pgp {
            fingerprint: fp.replace(' ', ""),
        }));
    }
    for k in &g.kms {
        let mut s = kms_key(&k.arn, &k.aws_profile);
        if let MasterKey::Kms(kms) = &mut s.key {
            if !k.role.is_empty() {
                kms.role = k.role.clone();
            }
            kms.context = k.context.clone();
        }
        out.push(s);
    }
    for k in &g.gcp_kms {
        out.push(StoredKey::new(MasterKey::GcpKms {
            resource_id: k.resource_id.clone(),
        }));
    }
    for k in &g.hckms {
        out.push(StoredKey::new(MasterKey::Hckms {
            key_id: k.key_id.clone(),
        }));
    }
    for k in &g.azure_keyvault {
        out.push(azure(&k.vault_url, &k.key, &k.version));
    }
    for uri in g.hc_vault.items() {
        out.push(vault_key(&uri)?);
    }
    dedup(&mut out);
    Ok(out)
}

fn convert_rule(r: &RawRule) -> Result<CreationRule, ConfigError> {
    let key_groups = if !r.key_groups.is_empty() {
        r.key_groups
            .iter()
            .map(convert_group)
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let g = KeyOptions {
            age: r.age.items(),
            pgp: r.pgp.items(),
            kms: r.kms.items(),
            gcp_kms: r.gcp_kms.items(),
            azure_kv: r.azure_keyvault.items(),
            hc_vault_transit: r.hc_vault_transit_uri.items(),
            hckms: r.hckms.items(),
            aws_profile: Some(r.aws_profile.clone()),
            encryption_context: None,
            shamir_threshold: None,
        }
        .group()?;
        if g.is_empty() {
            vec![]
        } else {
            vec![g]
        }
    };
    let mut selection = Vec::new();
    for (name, v) in [
        ("unencrypted_suffix", &r.unencrypted_suffix),
        ("encrypted_suffix", &r.encrypted_suffix),
        ("unencrypted_regex", &r.unencrypted_regex),
        ("encrypted_regex", &r.encrypted_regex),
        ("unencrypted_comment_regex", &r.unencrypted_comment_regex),
        ("encrypted_comment_regex", &r.encrypted_comment_regex),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            selection.push((name.to_string(), v.clone()));
        }
    }
    Ok(CreationRule {
        key_groups,
        shamir_threshold: r.shamir_threshold,
        selection,
        mac_only_encrypted: r.mac_only_encrypted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::VaultKey;

    const CFG: &str = r#"
creation_rules:
  - path_regex: \.prod\.yaml$
    key_groups:
      - age: [age1aaa, "age1bbb,age1ccc"]
        pgp: ["AB CD"]
      - age: [age1ddd]
        merge:
          - kms: [{arn: "arn:aws:kms:us-east-1:1:key/x", role: r, context: {b: "2", a: "1"}}]
    shamir_threshold: 2
  - path_regex: secrets/
    age: age1eee, age1fff
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
  - path_regex: ""
    age: [age1ggg]
stores:
  yaml:
    indent: 2
  json:
    indent: 4
"#;

    fn cfg() -> Config {
        Config::parse(CFG, Some(PathBuf::from("/repo/.sops.yaml"))).unwrap()
    }

    #[test]
    fn rules_match_in_order() {
        let c = cfg();
        let r = c
            .rule_for(Path::new("/repo/a/b.prod.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!(r.key_groups.len(), 2);
        assert_eq!(r.key_groups[0].len(), 4);
        assert_eq!(
            r.key_groups[0][3].key,
            MasterKey::Pgp {
                fingerprint: "ABCD".into()
            }
        );
        assert!(matches!(&r.key_groups[1][0].key, MasterKey::Kms(k) if k.role == "r"));
        assert_eq!(r.shamir_threshold, 2);
        let r = c
            .rule_for(Path::new("/repo/secrets/x.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!(r.key_groups[0].len(), 2);
        assert_eq!(
            r.selection,
            vec![("encrypted_regex".into(), "^(data|stringData)$".into())]
        );
        assert!(r.mac_only_encrypted);
        let r = c.rule_for(Path::new("/elsewhere/x.yaml")).unwrap().unwrap();
        assert_eq!(r.key_groups[0][0].id(), "age1ggg");
        assert_eq!(c.store_options(Format::Yaml).indent, Some(2));
        assert_eq!(c.store_options(Format::Json).indent, Some(4));
    }

    #[test]
    fn no_match_is_an_error() {
        let c = Config::parse(
            "creation_rules:\n  - path_regex: nope\n    age: age1x\n",
            Some(PathBuf::from("/r/.sops.yaml")),
        )
        .unwrap();
        assert!(c.rule_for(Path::new("/r/x.yaml")).is_err());
        let empty = Config::parse("stores: {}\n", None).unwrap();
        assert_eq!(empty.rule_for(Path::new("/r/x.yaml")).unwrap(), None);
    }

    #[test]
    fn vault_uri() {
        let k = vault_key("https://v.example:8200/v1/a/b/keys/k1").unwrap();
        assert_eq!(
            k.key,
            MasterKey::Vault(VaultKey {
                address: "https://v.example:8200".into(),
                engine_path: "a/b".into(),
                key_name: "k1".into(),
            })
        );
        assert!(vault_key("https://v/keys/x").is_err());
    }

    #[test]
    fn syntax_error() {
        assert!(Config::parse("creation_rules: [", None).is_err());
    }

    #[test]
    fn sepal_settings() {
        let c = Config::parse(
            "creation_rules:\n  - age: age1x\nsepal:\n  check:\n    max_age: 90d\n    allow:\n      - {path: ^docs/, check: secret}\n      - check: aws-access-key-id\n",
            Some(PathBuf::from("/r/.sops.yaml")),
        )
        .unwrap();
        let check = &c.sepal().check;
        assert_eq!(check.max_age.as_deref(), Some("90d"));
        assert_eq!(check.allow.len(), 2);
        assert_eq!(check.allow[0].path.as_deref(), Some("^docs/"));
        assert_eq!(check.allow[1].path, None);
        assert_eq!(c.relative_name(Path::new("/r/a/b.yaml")), "a/b.yaml");
        assert_eq!(c.relative_name(Path::new("/x/b.yaml")), "/x/b.yaml");
        let none = Config::parse("creation_rules: []\n", None).unwrap();
        assert_eq!(none.sepal(), &SepalSettings::default());
    }
}
