//! The checks of an encrypted file, read without any key: whether a file a creation rule covers
//! is encrypted at all, whether its master keys are the ones its rule names today, whether a
//! value its selection option says is encrypted was pasted in clear, and how old its data key is.

use std::path::Path;

use time::OffsetDateTime;

use crate::config::CreationRule;
use crate::metadata::Metadata;
use crate::stores::{Format, NewLeaf, Parsed, Store};
use crate::tree::LeafId;
use crate::walk::plaintext_selected;

use super::super::files::first_commit_adding;
use super::super::keys::key_drift;
use super::super::open::metadata_of;
use super::super::status::has_sops_metadata;
use super::super::Engine;
use super::policy::{data_key_created, Policy};
use super::report::{names, Finding};

/// A file parsed with the store its name picks.
pub struct ParsedFile {
    pub store: Store,
    pub parsed: Parsed,
}

/// Parse `bytes` as the format `path` names; `None` when they do not parse.
pub fn parse(engine: &Engine, path: &Path, bytes: &[u8]) -> Option<ParsedFile> {
    let store = engine.store(Format::of_file(path, bytes));
    let parsed = store.parse(bytes).ok()?;
    Some(ParsedFile { store, parsed })
}

/// Whether `file` is encrypted (its `sops` entry has a version and a MAC).
pub fn is_encrypted(file: &ParsedFile) -> bool {
    has_sops_metadata(&file.parsed)
}

/// Every check of a file that `rule` covers.
pub fn covered(
    engine: &Engine,
    policy: &Policy,
    now: OffsetDateTime,
    (path, shown, bytes): (&Path, &str, &[u8]),
    rule: &CreationRule,
) -> Vec<Finding> {
    let encrypt_it = format!("encrypt it with `sepal encrypt -i {shown}`");
    let Some(file) = parse(engine, path, bytes) else {
        let format = Format::from_path(path).name();
        return vec![Finding::new(
            shown,
            1,
            names::MUST_BE_ENCRYPTED,
            format!("a creation rule covers this file, but it does not read as an encrypted {format} file; {encrypt_it}"),
        )];
    };
    if !is_encrypted(&file) {
        return vec![Finding::new(
            shown,
            1,
            names::MUST_BE_ENCRYPTED,
            format!("a creation rule covers this file, but it has no sops metadata with a MAC and a version (it is in clear); {encrypt_it}"),
        )];
    }
    let meta_line = metadata_line(bytes);
    let meta = match metadata_of(&file.parsed) {
        Ok(m) => m,
        Err(e) => {
            return vec![Finding::new(
                shown,
                meta_line,
                names::UNREADABLE,
                format!("its sops metadata cannot be read: {e}"),
            )]
        }
    };
    let mut out = recipients(shown, meta_line, &meta, rule);
    out.extend(sops_cannot_read(policy, &file, shown, meta_line));
    out.extend(plaintext_values(&file, shown, &meta));
    out.extend(unresolved_merge(shown, meta_line, &meta));
    out.extend(max_age(policy, now, (path, shown, bytes), &meta));
    out
}

/// The checks of an encrypted file no rule covers: only its data key's age.
pub fn elsewhere(
    policy: &Policy,
    now: OffsetDateTime,
    file: &ParsedFile,
    (path, shown, bytes): (&Path, &str, &[u8]),
) -> Vec<Finding> {
    match metadata_of(&file.parsed) {
        Ok(meta) => {
            let mut out: Vec<Finding> = unresolved_merge(shown, metadata_line(bytes), &meta)
                .into_iter()
                .collect();
            out.extend(max_age(policy, now, (path, shown, bytes), &meta));
            out
        }
        Err(e) => vec![Finding::new(
            shown,
            metadata_line(bytes),
            names::UNREADABLE,
            format!("its sops metadata cannot be read: {e}"),
        )],
    }
}

/// A TOML file encrypted as TOML (by sepal, or rops) in a repository that runs the real sops,
/// which has no TOML store: sops takes the file for binary and cannot decrypt it.
fn sops_cannot_read(
    policy: &Policy,
    file: &ParsedFile,
    shown: &str,
    line: usize,
) -> Option<Finding> {
    if file.store.format != Format::Toml {
        return None;
    }
    let sign = policy.sops_use.sign()?;
    Some(Finding::new(
        shown,
        line,
        names::SOPS_CANNOT_READ_TOML,
        format!("this TOML file is encrypted in sepal's TOML format, which the real sops cannot read (it has no TOML store and takes the file for binary), and this repository runs sops ({sign}); decrypt and edit it with sepal only, or store it in sops's binary format (`sepal decrypt -i {shown} && sepal encrypt -i --input-type binary --output-type binary {shown}`), or allow the check in .sops.yaml (sepal: check: allow: [{{check: sops-cannot-read-toml}}])"),
    ))
}

/// A merge left the file conflicted (`sepal merge` wrote a conflict record): it holds our values
/// where both branches changed one, and must be resolved before it is committed.
fn unresolved_merge(shown: &str, line: usize, meta: &Metadata) -> Option<Finding> {
    meta.conflict_record.as_ref()?;
    Some(Finding::new(
        shown,
        line,
        names::MERGE_CONFLICT,
        format!("a merge left conflicts in this file (both branches changed a value); resolve them with `sepal edit {shown}`"),
    ))
}

/// The file's keys and Shamir threshold against the rule's (a rule naming no keys is not
/// compared).
fn recipients(shown: &str, line: usize, meta: &Metadata, rule: &CreationRule) -> Vec<Finding> {
    if rule.key_groups.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let drift = key_drift(&meta.key_groups, &rule.key_groups);
    if !drift.missing.is_empty() || !drift.departed.is_empty() {
        let mut parts = Vec::new();
        for (g, id) in &drift.departed {
            parts.push(format!(
                "{id} (group {g}) is no longer named by its creation rule"
            ));
        }
        for (g, id) in &drift.missing {
            parts.push(format!(
                "{id} (group {g}) is named by its creation rule but missing"
            ));
        }
        out.push(Finding::new(
            shown,
            line,
            names::RECIPIENTS,
            format!("{}; run `sepal updatekeys {shown}`", parts.join("; ")),
        ));
    }
    let ours = effective_threshold(meta.shamir_threshold, meta.key_groups.len());
    let theirs = effective_threshold(rule.shamir_threshold, rule.key_groups.len());
    if ours != theirs {
        out.push(Finding::new(
            shown,
            line,
            names::RECIPIENTS,
            format!("its Shamir threshold is {ours} but its creation rule asks for {theirs}; run `sepal updatekeys --shamir-secret-sharing-threshold {theirs} {shown}`"),
        ));
    }
    out
}

/// How many groups decrypt the file: one group needs no threshold, and several without one
/// need them all (as encrypting and `rotate` write it).
fn effective_threshold(threshold: usize, groups: usize) -> usize {
    match groups {
        0 | 1 => 0,
        n if threshold == 0 || threshold > n => n,
        _ => threshold,
    }
}

/// Values the selection option says are encrypted but that are in clear.
fn plaintext_values(file: &ParsedFile, shown: &str, meta: &Metadata) -> Vec<Finding> {
    let selection = meta.selection.clone().unwrap_or_default();
    let found = plaintext_selected(&file.parsed.tree, &selection);
    if found.is_empty() {
        return Vec::new();
    }
    let ids: Vec<LeafId> = found.iter().map(|(id, _)| *id).collect();
    let lines = leaf_lines(file, &ids);
    let option = selection.name().unwrap_or("selection option");
    found
        .into_iter()
        .zip(lines)
        .map(|((_, at), line)| {
            Finding::new(
                shown,
                line,
                names::PLAINTEXT_VALUE,
                format!("the value at {at} is not encrypted, but the file's {option} says it must be (pasted in by hand?); remove it and set it with `sepal set {shown} '{at}' VALUE`"),
            )
        })
        .collect()
}

/// The data key's age against the policy: the oldest `created_at` of the file's master keys, or,
/// when none has one (sops writes none for age keys), the time of the first commit that holds one
/// of the file's wrapped data keys (a key not yet committed is new).
fn max_age(
    policy: &Policy,
    now: OffsetDateTime,
    (path, shown, bytes): (&Path, &str, &[u8]),
    meta: &Metadata,
) -> Vec<Finding> {
    let Some((limit, spelled)) = &policy.max_age else {
        return Vec::new();
    };
    let (text, created, line) = match data_key_created(meta) {
        Some((text, created)) => {
            let line = find_line(bytes, text.as_bytes()).unwrap_or_else(|| metadata_line(bytes));
            (text, created, line)
        }
        None => {
            let Some((text, created)) = first_committed(path, meta) else {
                return Vec::new();
            };
            (
                format!("first committed {text}"),
                created,
                metadata_line(bytes),
            )
        }
    };
    let age = now - created;
    if age <= *limit {
        return Vec::new();
    }
    vec![Finding::new(
        shown,
        line,
        names::MAX_AGE,
        format!(
            "its data key was made {} days ago ({text}), longer ago than the policy of {spelled}; run `sepal rotate -i {shown}`",
            age.whole_days()
        ),
    )]
}

/// When the file's data key was first committed: the oldest commit whose change to `path` adds
/// one of its wrapped data keys (each is random, so it appears once, when the key was made or a
/// recipient added). `None` when git has no such commit (not committed yet, not in a repository).
fn first_committed(path: &Path, meta: &Metadata) -> Option<(String, OffsetDateTime)> {
    let needles: Vec<&str> = meta
        .key_groups
        .iter()
        .flatten()
        .filter_map(|k| {
            k.enc
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 32 && !l.starts_with("-----"))
                .max_by_key(|l| l.len())
        })
        .collect();
    let (text, time) = first_commit_adding(path, &needles)?;
    Some((text, time))
}

/// The lines of the leaves `ids`, found by splicing a marker in place of each (no store exposes
/// spans generically); line 1 where the splice cannot be made.
fn leaf_lines(file: &ParsedFile, ids: &[LeafId]) -> Vec<usize> {
    let size = ids.iter().max().map_or(0, |m| m + 1);
    let mut changes: Vec<Option<NewLeaf>> =
        vec![None; size.max(crate::tree::leaf_count(&file.parsed.tree))];
    for id in ids {
        changes[*id] = Some(NewLeaf::Encrypted(marker(*id)));
    }
    let out = file
        .store
        .splice(&file.parsed, &changes, file.parsed.metadata.as_ref())
        .ok();
    ids.iter()
        .map(|id| {
            out.as_deref()
                .and_then(|o| find_line(o, marker(*id).as_bytes()))
                .unwrap_or(1)
        })
        .collect()
}

fn marker(id: LeafId) -> String {
    format!("ENC[SEPAL_CHECK_MARK_{id}_]")
}

/// 1-based line of the first occurrence of `needle`.
fn find_line(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let at = hay.windows(needle.len()).position(|w| w == needle)?;
    Some(hay[..at].iter().filter(|b| **b == b'\n').count() + 1)
}

/// The line where the `sops` metadata starts (YAML, JSON, INI, dotenv); line 1 when not found.
fn metadata_line(bytes: &[u8]) -> usize {
    bytes
        .split(|b| *b == b'\n')
        .position(|l| {
            let l = l.trim_ascii_start();
            l.starts_with(b"sops:")
                || l.starts_with(b"\"sops\"")
                || l.starts_with(b"sops_")
                || l.starts_with(b"[sops]")
        })
        .map_or(1, |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_lines() {
        assert_eq!(effective_threshold(0, 1), 0);
        assert_eq!(effective_threshold(3, 1), 0);
        assert_eq!(effective_threshold(0, 3), 3);
        assert_eq!(effective_threshold(2, 3), 2);
        assert_eq!(metadata_line(b"a: 1\nsops:\n  mac: x\n"), 2);
        assert_eq!(metadata_line(b"{\n  \"a\": 1,\n  \"sops\": {}\n}"), 3);
        assert_eq!(metadata_line(b"A=1\nsops_mac=x\n"), 2);
        assert_eq!(find_line(b"a\nb\nc", b"c"), Some(3));
    }
}
