//! Key management on an encrypted file: `rotate` (a new data key, optionally adding and removing
//! master keys), `updatekeys` (the file's keys synced with its creation rule) and `groups
//! add`/`groups delete`. Only `rotate` touches the values; the others rewrite the metadata.

use std::path::Path;

use crate::config::{absolute, dedup};
use crate::crypto::cipher::DataKey;
use crate::keys::Keyring;
use crate::metadata::{KeyGroup, KeyKind, Metadata, StoredKey};
use crate::stores::{apply_changes, Format, Parsed, Store};
use crate::tree::leaf_count;
use crate::verify::Allowed;

use super::settings::KeyOptions;
use super::{
    decrypt_parsed, layout_record, now, open, reencrypt, seal, DecryptOptions, Engine, Error,
    KeyAccess, Opened, Output, Plain, Result, Source,
};

/// What `rotate` is asked.
#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    pub input: Option<Format>,
    pub output: Option<Format>,
    /// Keys added to the first group.
    pub add: KeyOptions,
    /// Keys removed from every group.
    pub remove: KeyOptions,
    pub access: KeyAccess,
}

/// Re-encrypt `source` under a new data key; returns the new file.
pub fn rotate(engine: &Engine, source: &mut Source, options: &RotateOptions) -> Result<Vec<u8>> {
    let (format, _) = source.formats(options.input, options.output);
    let store = engine.store(format);
    let file = source.display();
    let Opened { mut parsed, .. } = open(&store, source)?;
    let dec = decrypt_parsed(
        &parsed,
        &file,
        &options.access,
        DecryptOptions {
            ignore_mac: false,
            for_reencryption: true,
            changed_values_unread: false,
        },
    )?;
    let mut meta = dec.metadata.clone();
    let add = options.add.group()?;
    let remove = options.remove.group()?;
    if let Some(first) = meta.key_groups.first_mut() {
        first.extend(add);
        dedup(first);
    }
    for group in &mut meta.key_groups {
        group.retain(|k| {
            !remove
                .iter()
                .any(|r| r.kind() == k.kind() && r.id() == k.id())
        });
    }
    let new_key = DataKey::generate();
    // The layout record moves to the new data key (a record that cannot be read is dropped).
    meta.layout_record = meta
        .layout_record
        .as_deref()
        .and_then(|r| layout_record::rekey(r, &dec.data_key, &new_key));
    meta.conflict_record = meta
        .conflict_record
        .as_deref()
        .and_then(|r| super::merge::rekey_record(r, &dec.data_key, &new_key));
    rewrap(&mut meta, &new_key, &options.access.keyring()?)?;
    let plain = apply_changes(&parsed.tree, &dec.changes);
    let mut stash = dec.stash;
    reencrypt(
        &mut parsed,
        Plain::Tree(&plain),
        &new_key,
        &mut meta,
        &mut stash,
        Output {
            store: &store,
            out_store: &store,
            file: &file,
            new_file: false,
            early: None,
        },
    )
}

/// Re-wrap `key` for `meta`'s groups (keys without `created_at` get one).
fn rewrap(meta: &mut Metadata, key: &DataKey, keyring: &Keyring) -> Result<()> {
    let created = now();
    let specs: Vec<KeyGroup> = meta
        .key_groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|k| {
                    let mut k = k.unwrapped();
                    if k.kind() != KeyKind::Age && k.created_at.is_none() {
                        k.created_at = Some(created.clone());
                    }
                    k
                })
                .collect()
        })
        .collect();
    if meta.key_groups.len() > 1 && meta.shamir_threshold == 0 {
        meta.shamir_threshold = meta.key_groups.len();
    }
    meta.key_groups = keyring.wrap_data_key(key, &specs, meta.shamir_threshold)?;
    Ok(())
}

/// An encrypted file whose metadata is to be rewritten.
struct MetadataEdit {
    file: String,
    store: Store,
    parsed: Parsed,
    meta: Metadata,
}

impl MetadataEdit {
    fn open(engine: &Engine, source: &mut Source, input: Option<Format>) -> Result<Self> {
        let (format, _) = source.formats(input, None);
        let store = engine.store(format);
        let file = source.display();
        let Opened { parsed, metadata } = open(&store, source)?;
        Ok(MetadataEdit {
            file,
            store,
            parsed,
            meta: metadata,
        })
    }

    /// The data key, re-wrapped for the (changed) metadata, and the file written with it; the
    /// values are untouched.
    fn finish(mut self, key: &DataKey, access: &KeyAccess) -> Result<Vec<u8>> {
        rewrap(&mut self.meta, key, &access.keyring()?)?;
        let changes = vec![None; leaf_count(&self.parsed.tree)];
        let out = self
            .store
            .splice(&self.parsed, &changes, Some(&self.meta.to_value()))
            .map_err(Error::Marshal)?;
        let allowed = Allowed::from_changes(&self.parsed.tree, &changes);
        seal::verify(&self.store, &out, &allowed, &self.file)?;
        Ok(out)
    }

    fn data_key(&self, access: &KeyAccess) -> Result<DataKey> {
        Ok(access.keyring()?.data_key(&self.meta)?)
    }

    fn check_threshold(&self) -> Result<()> {
        if self.meta.key_groups.len() < self.meta.shamir_threshold {
            return Err(Error::ThresholdTooHigh {
                threshold: self.meta.shamir_threshold,
                groups: self.meta.key_groups.len(),
            });
        }
        Ok(())
    }
}

/// `groups add`: a new key group made of `keys`.
pub fn add_group(
    engine: &Engine,
    source: &mut Source,
    keys: &KeyOptions,
    access: &KeyAccess,
) -> Result<Vec<u8>> {
    let mut edit = MetadataEdit::open(engine, source, None)?;
    let key = edit.data_key(access)?;
    edit.meta.key_groups.push(keys.group()?);
    if let Some(t) = keys.shamir_threshold.filter(|t| *t > 0) {
        edit.meta.shamir_threshold = t;
    }
    edit.check_threshold()?;
    edit.finish(&key, access)
}

/// `groups delete`: remove the group at `index` (0-based).
pub fn delete_group(
    engine: &Engine,
    source: &mut Source,
    index: usize,
    threshold: Option<usize>,
    access: &KeyAccess,
) -> Result<Vec<u8>> {
    let mut edit = MetadataEdit::open(engine, source, None)?;
    let key = edit.data_key(access)?;
    if index >= edit.meta.key_groups.len() {
        return Err(Error::NoSuchGroup {
            groups: edit.meta.key_groups.len(),
            index,
        });
    }
    edit.meta.key_groups.remove(index);
    if let Some(t) = threshold.filter(|t| *t > 0) {
        edit.meta.shamir_threshold = t;
    }
    edit.check_threshold()?;
    edit.finish(&key, access)
}

/// `updatekeys`, planned: what would change, for the user to confirm.
pub struct KeyUpdate {
    edit: MetadataEdit,
    groups: Vec<KeyGroup>,
    threshold: usize,
    /// The changes, as sops shows them (`+++`/`---` per key, then the threshold).
    pub report: String,
}

/// Compare `source`'s keys with its creation rule. `None` when the file is up to date.
pub fn plan_update(
    engine: &Engine,
    source: &mut Source,
    path: &Path,
    input: Option<Format>,
    threshold: Option<usize>,
) -> Result<Option<KeyUpdate>> {
    let edit = MetadataEdit::open(engine, source, input)?;
    let rule = engine
        .config
        .rule_for(&absolute(path))?
        .ok_or_else(|| Error::NoCreationRule {
            config: engine
                .config
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| ".sops.yaml".into()),
        })?;
    let ours = &edit.meta.key_groups;
    let theirs = &rule.key_groups;
    let old_t = edit.meta.shamir_threshold;
    let new_t = threshold.unwrap_or(old_t).min(theirs.len());
    let (changed, groups_report) = diff_groups(ours, theirs);
    if !changed && old_t == new_t {
        return Ok(None);
    }
    let mut report = String::from("The following changes will be made to the file's groups:\n");
    if old_t > 0 && old_t == new_t {
        report.push_str(&format!("shamir_threshold: {new_t}\n"));
    } else {
        if new_t > 0 {
            report.push_str(&format!("+++ shamir_threshold: {new_t}\n"));
        }
        if old_t > 0 {
            report.push_str(&format!("--- shamir_threshold: {old_t}\n"));
        }
    }
    report.push_str(&groups_report);
    Ok(Some(KeyUpdate {
        groups: rule.key_groups,
        threshold: new_t,
        edit,
        report,
    }))
}

/// Whether two key specs name the same master key: what `updatekeys` (and `check`) compare.
pub fn same_key(a: &StoredKey, b: &StoredKey) -> bool {
    a.kind() == b.kind() && a.id() == b.id()
}

/// How a file's key groups differ from its rule's: per group (1-based), the keys the rule names
/// that the file lacks (`missing`) and the keys the file has that the rule no longer names
/// (`departed`). Both empty when `updatekeys` would leave the keys as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDrift {
    pub missing: Vec<(usize, String)>,
    pub departed: Vec<(usize, String)>,
}

/// Compare a file's key groups (`ours`) with its rule's (`theirs`), as `updatekeys` does.
pub fn key_drift(ours: &[KeyGroup], theirs: &[KeyGroup]) -> KeyDrift {
    let mut drift = KeyDrift::default();
    let empty = Vec::new();
    for i in 0..ours.len().max(theirs.len()) {
        let o = ours.get(i).unwrap_or(&empty);
        let t = theirs.get(i).unwrap_or(&empty);
        for k in t.iter().filter(|k| !o.iter().any(|x| same_key(x, k))) {
            drift.missing.push((i + 1, k.id()));
        }
        for k in o.iter().filter(|k| !t.iter().any(|x| same_key(x, k))) {
            drift.departed.push((i + 1, k.id()));
        }
    }
    drift
}

/// Whether the groups differ, and the per-group listing of kept (`    `), added (`+++`) and
/// removed (`---`) keys.
fn diff_groups(ours: &[KeyGroup], theirs: &[KeyGroup]) -> (bool, String) {
    let same = same_key;
    let mut changed = false;
    let mut report = String::new();
    let empty = Vec::new();
    for i in 0..ours.len().max(theirs.len()) {
        let o = ours.get(i).unwrap_or(&empty);
        let t = theirs.get(i).unwrap_or(&empty);
        report.push_str(&format!("Group {}\n", i + 1));
        for k in t {
            if o.iter().any(|x| same(x, k)) {
                report.push_str(&format!("    {}\n", k.id()));
            } else {
                changed = true;
                report.push_str(&format!("+++ {}\n", k.id()));
            }
        }
        for k in o {
            if !t.iter().any(|x| same(x, k)) {
                changed = true;
                report.push_str(&format!("--- {}\n", k.id()));
            }
        }
    }
    (changed, report)
}

/// Carry out a planned update; returns the new file.
pub fn apply_update(update: KeyUpdate, access: &KeyAccess) -> Result<Vec<u8>> {
    let mut edit = update.edit;
    let key = edit.data_key(access)?;
    edit.meta.key_groups = update.groups;
    edit.meta.shamir_threshold = update.threshold;
    edit.finish(&key, access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{KmsKey, MasterKey};

    fn age(r: &str) -> StoredKey {
        StoredKey::new(MasterKey::Age {
            recipient: r.into(),
        })
    }

    fn kms(role: &str) -> StoredKey {
        StoredKey::new(MasterKey::Kms(KmsKey {
            arn: "arn:aws:kms:eu-west-1:1:key/k".into(),
            role: role.into(),
            ..KmsKey::default()
        }))
    }

    #[test]
    fn drift_is_what_updatekeys_would_change() {
        let ours = vec![vec![age("age1a"), kms("r1")]];
        assert_eq!(key_drift(&ours, &ours), KeyDrift::default());
        assert!(!diff_groups(&ours, &ours).0);
        // The same ARN with another role is another key; a second group is all missing.
        let theirs = vec![vec![age("age1a"), kms("r2")], vec![age("age1b")]];
        let d = key_drift(&ours, &theirs);
        assert_eq!(
            d.missing,
            vec![
                (1, "arn:aws:kms:eu-west-1:1:key/k+r2".to_string()),
                (2, "age1b".to_string())
            ]
        );
        assert_eq!(
            d.departed,
            vec![(1, "arn:aws:kms:eu-west-1:1:key/k+r1".to_string())]
        );
        assert!(diff_groups(&ours, &theirs).0);
    }
}
