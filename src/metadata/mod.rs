//! The `sops` metadata block: master keys, MAC, selection options, version.
//!
//! Read from the tree [`Value`] a store found under `sops` (weakly typed, any key order, unknown
//! keys ignored), and written back as a [`Value`] with keys sorted at every level, as sops 3.13
//! writes it.

mod keys;
mod selection;

pub use keys::{AzureKey, KeyGroup, KeyKind, KmsKey, MasterKey, StoredKey, VaultKey};
pub use selection::{Selection, SelectionError};

use std::collections::BTreeMap;

use crate::tree::{secret, Item, Leaf, Scalar, Value};

/// The version written into new files.
pub const SOPS_VERSION: &str = "3.13.2";

/// A file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    pub shamir_threshold: usize,
    pub last_modified: String,
    pub mac: String,
    /// `None` only for binary files, which write no selection option.
    pub selection: Option<Selection>,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// sepal's encrypted layout record ([`LAYOUT_RECORD_KEY`]): how to give back the exact bytes
    /// of the plaintext where the splice alone cannot. sops ignores it (and drops it on write).
    pub layout_record: Option<String>,
    /// sepal's encrypted conflict record ([`CONFLICT_RECORD_KEY`]), left by `sepal merge` when both
    /// branches changed the same value: the base's and theirs' values at each conflicting path
    /// (`docs/merge.md`). sops ignores it; `sepal edit` shows it as conflict markers and drops it.
    pub conflict_record: Option<String>,
}

/// The metadata key of sepal's layout record (`sops_sepal_layout` in dotenv and INI files).
pub const LAYOUT_RECORD_KEY: &str = "sepal_layout";

/// The metadata key of sepal's merge conflict record (`sops_sepal_conflict` in dotenv and INI).
pub const CONFLICT_RECORD_KEY: &str = "sepal_conflict";

/// A metadata problem. Exit code 1 in sops unless noted by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("sops metadata not found")]
    NotFound,
    #[error("Found sops entry that is not a mapping")]
    NotAMap,
    #[error("invalid sops metadata: {0}")]
    Invalid(String),
    #[error("Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file")]
    TooManySelections,
    #[error("No keys found in file")]
    NoKeys,
    /// A version that is neither `1.x` nor `Major.Minor.Patch`: sops 0.x files (2015, before the
    /// Go rewrite). sops 3 refuses them ("No Major.Minor.Patch elements found", exit 1).
    /// No `version` at all (sops: "Version string empty", exit 1). rops writes none; sepal reads
    /// such files only in TOML ([`VersionRule::MayBeAbsent`]).
    #[error("the sops metadata has no version (sops refuses such a file: \"Version string empty\"); rops writes files without one, which sepal reads only in TOML. If the file's values are sound, add the version of the tool that wrote it (for example `version: 3.13.2` in the sops metadata; the MAC does not cover it)")]
    MissingVersion,
    #[error("the sops metadata's version is not a version sops reads (No Major.Minor.Patch elements found): the file was written by sops 0.x, whose format sops 3 and sepal do not read; decrypt it with that version and encrypt it again")]
    BadVersion,
}

/// Whether a metadata block must have a `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionRule {
    /// Every format sops reads: sops refuses a file without one.
    Required,
    /// TOML: rops, the other tool that writes encrypted TOML, writes no `version`.
    MayBeAbsent,
}

/// Versions sops 3 reads: `1.x` (sops 1 wrote no semantic versions), or `Major.Minor.Patch`
/// with an optional `v`, pre-release and build (sops compares the file's version with 3.3.0).
fn readable_version(v: &str) -> bool {
    if v.starts_with("1.") {
        return true;
    }
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

const SELECTION_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// Scalar text of a metadata leaf, weakly typed (ints, bools and strings all become text).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Leaf(l) => crate::gotext::scalar_text(&l.value),
        _ => None,
    }
}

/// Map items by lower-cased key (sops matches field names case-insensitively).
fn fields(items: &[Item]) -> Vec<(String, &Value)> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Pair { key, value } => Some((key.to_ascii_lowercase(), value)),
            _ => None,
        })
        .collect()
}

fn parse_keys(kind: KeyKind, v: &Value) -> Result<Vec<StoredKey>, MetadataError> {
    let items = match v {
        Value::List(items) => items,
        Value::Leaf(Leaf {
            value: Scalar::Null,
            ..
        }) => return Ok(Vec::new()),
        _ => {
            return Err(MetadataError::Invalid(format!(
                "{} is not a list",
                kind.name()
            )))
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Item::Elem(Value::Map(entry)) = item else {
            continue;
        };
        let mut scalars = BTreeMap::new();
        let mut context = BTreeMap::new();
        for (name, value) in fields(entry) {
            match value {
                Value::Map(ctx) if name == "context" => {
                    for (k, v) in ctx.iter().filter_map(|i| match i {
                        Item::Pair { key, value } => Some((key, value)),
                        _ => None,
                    }) {
                        context.insert(k.clone(), text_of(v).unwrap_or_default());
                    }
                }
                _ => {
                    if let Some(t) = text_of(value) {
                        scalars.insert(name, t);
                    }
                }
            }
        }
        out.push(StoredKey::from_fields(kind, scalars, context));
    }
    Ok(out)
}

fn parse_group(items: &[Item]) -> Result<KeyGroup, MetadataError> {
    let f = fields(items);
    let mut group = Vec::new();
    for kind in KeyKind::ALL {
        if let Some((_, v)) = f.iter().find(|(n, _)| n == kind.name()) {
            group.extend(parse_keys(kind, v)?);
        }
    }
    Ok(group)
}

impl Metadata {
    /// Read metadata from the `sops` value a store found; `version` is required.
    pub fn from_value(v: Option<&Value>) -> Result<Metadata, MetadataError> {
        Metadata::from_value_with(v, VersionRule::Required)
    }

    /// Read metadata from the `sops` value a store found, under `rule` for `version` (an absent
    /// one is read as the empty version, which [`Metadata::to_value`] leaves out).
    pub fn from_value_with(
        v: Option<&Value>,
        rule: VersionRule,
    ) -> Result<Metadata, MetadataError> {
        let items = match v {
            None => return Err(MetadataError::NotFound),
            Some(Value::Map(items)) => items,
            Some(_) => return Err(MetadataError::NotAMap),
        };
        let f = fields(items);
        let get = |name: &str| f.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let text = |name: &str| get(name).and_then(text_of).unwrap_or_default();

        let top = parse_group(items)?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else if let Some(Value::List(groups)) = get("key_groups") {
            let mut out = Vec::new();
            for g in groups {
                if let Item::Elem(Value::Map(gi)) = g {
                    out.push(parse_group(gi)?);
                }
            }
            out
        } else {
            Vec::new()
        };
        if key_groups.is_empty() {
            return Err(MetadataError::NoKeys);
        }
        match (get("version"), rule) {
            (None, VersionRule::MayBeAbsent) => {}
            (None, VersionRule::Required) => return Err(MetadataError::MissingVersion),
            (Some(_), _) if !readable_version(&text("version")) => {
                return Err(MetadataError::BadVersion)
            }
            (Some(_), _) => {}
        }

        let mut selection = None;
        for name in SELECTION_FIELDS {
            let t = text(name);
            if !t.is_empty() {
                if selection.is_some() {
                    return Err(MetadataError::TooManySelections);
                }
                selection = Some(
                    Selection::from_field(name, &t)
                        .map_err(|e| MetadataError::Invalid(e.to_string()))?,
                );
            }
        }
        let shamir = text("shamir_threshold");
        let shamir_threshold = if shamir.is_empty() {
            0
        } else {
            shamir
                .parse()
                .map_err(|_| MetadataError::Invalid(format!("shamir_threshold {shamir:?}")))?
        };
        let mac_only = text("mac_only_encrypted");
        let mac_only_encrypted = match mac_only.as_str() {
            "" => false,
            t => parse_weak_bool(t)
                .ok_or_else(|| MetadataError::Invalid(format!("mac_only_encrypted {t:?}")))?,
        };
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            last_modified: text("lastmodified"),
            mac: text("mac"),
            // A file without any option is read with sops's default; one rops wrote (no
            // version) had every value encrypted.
            selection: Some(selection.unwrap_or_else(|| match get("version") {
                None => Selection::All,
                Some(_) => Selection::default(),
            })),
            mac_only_encrypted,
            version: text("version"),
            layout_record: get(LAYOUT_RECORD_KEY)
                .and_then(text_of)
                .filter(|t| !t.is_empty()),
            conflict_record: get(CONFLICT_RECORD_KEY)
                .and_then(text_of)
                .filter(|t| !t.is_empty()),
        })
    }

    /// Whether the file's metadata had no `version` (a TOML file rops wrote; only
    /// [`VersionRule::MayBeAbsent`] reads such metadata).
    pub fn without_version(&self) -> bool {
        self.version.is_empty()
    }

    /// Write the metadata as a map value, keys sorted as sops 3.13 sorts them.
    pub fn to_value(&self) -> Value {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        if self.key_groups.len() == 1 {
            for (kind, list) in group_lists(&self.key_groups[0], false) {
                m.insert(kind.to_string(), list);
            }
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| Item::Elem(map_value(group_lists(g, true))))
                .collect();
            m.insert("key_groups".into(), Value::List(groups));
        }
        if let Some(sel) = &self.selection {
            if let Some(name) = sel.name() {
                m.insert(name.into(), str_value(sel.pattern()));
            }
        }
        m.insert("lastmodified".into(), str_value(&self.last_modified));
        m.insert("mac".into(), str_value(&self.mac));
        if self.mac_only_encrypted {
            m.insert("mac_only_encrypted".into(), leaf(Scalar::Bool(true)));
        }
        if self.shamir_threshold != 0 {
            m.insert(
                "shamir_threshold".into(),
                leaf(Scalar::Int(self.shamir_threshold as i64)),
            );
        }
        // A file read without a version (rops's TOML) stays without one while its values are
        // untouched (`updatekeys`); a re-encryption gives it this sepal's version first.
        if !self.version.is_empty() {
            m.insert("version".into(), str_value(&self.version));
        }
        if let Some(record) = &self.layout_record {
            m.insert(LAYOUT_RECORD_KEY.into(), str_value(record));
        }
        if let Some(record) = &self.conflict_record {
            m.insert(CONFLICT_RECORD_KEY.into(), str_value(record));
        }
        map_value(m.into_iter().collect())
    }
}

fn parse_weak_bool(t: &str) -> Option<bool> {
    match t {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn leaf(s: Scalar) -> Value {
    Value::Leaf(Leaf::new(crate::tree::NO_LEAF, s))
}

fn str_value(s: &str) -> Value {
    leaf(Scalar::Str(secret(s)))
}

fn map_value(entries: Vec<(String, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| Item::pair(k, v)).collect())
}

/// The per-type lists of a group, sorted by type name. Inside `key_groups`, `age` and `hc_vault`
/// are always present, as sops writes them.
fn group_lists(group: &KeyGroup, in_groups: bool) -> Vec<(String, Value)> {
    let mut by_kind: BTreeMap<&'static str, Vec<Item>> = BTreeMap::new();
    if in_groups {
        by_kind.insert("age", Vec::new());
        by_kind.insert("hc_vault", Vec::new());
    }
    for key in group {
        let (scalars, context) = key.to_fields();
        let mut entry: BTreeMap<String, Value> = scalars
            .iter()
            .map(|(k, v)| (k.clone(), str_value(v)))
            .collect();
        if !context.is_empty() {
            entry.insert(
                "context".into(),
                map_value(
                    context
                        .iter()
                        .map(|(k, v)| (k.clone(), str_value(v)))
                        .collect(),
                ),
            );
        }
        by_kind
            .entry(key.kind().name())
            .or_default()
            .push(Item::Elem(map_value(entry.into_iter().collect())));
    }
    by_kind
        .into_iter()
        .map(|(k, items)| (k.to_string(), Value::List(items)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sops_reads() {
        for v in [
            "3.11.0",
            "v3.7.1",
            "2.0.9",
            "3.13.2-rc.1",
            "1.7",
            "1.6",
            "3.0.0+build",
        ] {
            assert!(readable_version(v), "{v}");
        }
        for v in ["", "0.90000000000000002", "0.9", "3.7", "three", "3.x.1"] {
            assert!(!readable_version(v), "{v}");
        }
    }

    fn sample() -> Metadata {
        let mut k = StoredKey::new(MasterKey::Age {
            recipient: "age1xyz".into(),
        });
        k.enc = "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n".into();
        Metadata {
            key_groups: vec![vec![k]],
            shamir_threshold: 0,
            last_modified: "2024-01-02T03:04:05Z".into(),
            mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into(),
            selection: Some(Selection::default()),
            mac_only_encrypted: false,
            version: SOPS_VERSION.into(),
            layout_record: None,
            conflict_record: None,
        }
    }

    #[test]
    fn value_round_trip() {
        let m = sample();
        let v = m.to_value();
        assert_eq!(Metadata::from_value(Some(&v)).unwrap(), m);
        let mut g = m.clone();
        g.key_groups.push(g.key_groups[0].clone());
        g.shamir_threshold = 2;
        let v = g.to_value();
        assert_eq!(Metadata::from_value(Some(&v)).unwrap(), g);
    }

    #[test]
    fn flattened_round_trip() {
        let m = sample();
        let pairs = crate::stores::flat::flatten(&m.to_value());
        assert_eq!(pairs[0].0, "age__list_0__map_enc");
        let v = crate::stores::flat::unflatten(&pairs).unwrap();
        assert_eq!(Metadata::from_value(Some(&v)).unwrap(), m);
    }

    #[test]
    fn errors() {
        assert_eq!(Metadata::from_value(None), Err(MetadataError::NotFound));
        assert_eq!(
            Metadata::from_value(Some(&str_value("x"))),
            Err(MetadataError::NotAMap)
        );
        assert_eq!(
            Metadata::from_value(Some(&Value::Map(vec![]))),
            Err(MetadataError::NoKeys)
        );
    }

    #[test]
    fn a_missing_version_only_where_allowed() {
        let m = sample();
        let Value::Map(mut items) = m.to_value() else {
            panic!("a map")
        };
        items.retain(|i| !matches!(i, Item::Pair { key, .. } if key == "version"));
        let v = Value::Map(items);
        assert_eq!(
            Metadata::from_value(Some(&v)),
            Err(MetadataError::MissingVersion)
        );
        let read = Metadata::from_value_with(Some(&v), VersionRule::MayBeAbsent).unwrap();
        assert_eq!(read.version, "");
        // Written back without one.
        let again =
            Metadata::from_value_with(Some(&read.to_value()), VersionRule::MayBeAbsent).unwrap();
        assert_eq!(again, read);
        // With no selection option either, every value was encrypted (rops's rule).
        let Value::Map(mut items) = v else {
            panic!("a map")
        };
        items.retain(|i| !matches!(i, Item::Pair { key, .. } if key == "unencrypted_suffix"));
        let bare = Metadata::from_value_with(Some(&Value::Map(items)), VersionRule::MayBeAbsent);
        assert_eq!(bare.unwrap().selection, Some(Selection::All));
        // An empty version is still refused.
        let Value::Map(mut items) = m.to_value() else {
            panic!("a map")
        };
        for i in &mut items {
            if let Item::Pair { key, value } = i {
                if key == "version" {
                    *value = str_value("");
                }
            }
        }
        assert_eq!(
            Metadata::from_value_with(Some(&Value::Map(items)), VersionRule::MayBeAbsent),
            Err(MetadataError::BadVersion)
        );
    }
}
