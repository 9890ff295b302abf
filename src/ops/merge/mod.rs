//! `sepal merge`: git's merge driver for encrypted files. Decrypts the common ancestor, ours and
//! theirs (each with its own data key), merges the three documents by path
//! ([`three_way`]), makes the changes as text edits of ours' plaintext, and encrypts the result
//! with the one [`super::reencrypt`], so unchanged values keep their ciphertext and the diff stays
//! minimal. Conflicts leave ours' values in place and an encrypted conflict record ([`record`])
//! that `sepal edit` shows as conflict markers ([`markers`]). Nothing here writes a file: every
//! plaintext stays in memory. The rules are in `docs/merge.md`.

pub mod markers;
pub mod record;
pub mod three_way;

use std::path::Path;

use crate::crypto::cipher::DataKey;
use crate::metadata::{KeyKind, Metadata};
use crate::stores::{apply_changes, Format, Parsed, Store};
use crate::tree::{Item, Tree};
use crate::wipe::Wiped;

use self::three_way::{display_path, merge_docs, Conflict, Op};
use super::{
    decrypt_parsed, open, plaintext, reencrypt, DecryptOptions, Decrypted, Engine, Error,
    KeyAccess, Output, Plain, Result, Source,
};

/// The three versions git hands the driver (`%O`, `%A`, `%B`), read into memory. Name each
/// source after the file's path in the repository (`%P`): it is what messages show.
pub struct MergeRequest {
    pub base: Source,
    pub ours: Source,
    pub theirs: Source,
}

/// What `merge` is asked besides the files.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The format; else from the file's path (`%P`).
    pub input: Option<Format>,
    pub access: KeyAccess,
}

/// The merged file, encrypted.
pub enum Merged {
    /// Every change of both sides is in it.
    Clean(Vec<u8>),
    /// Both sides changed the values at `paths` differently: the file holds ours' values there
    /// and a conflict record with theirs'.
    Conflicted { bytes: Vec<u8>, paths: Vec<String> },
}

/// One side, decrypted.
struct Side {
    parsed: Parsed,
    dec: Decrypted,
    plain: Tree,
}

impl Side {
    fn items(&self) -> &[Item] {
        self.plain
            .docs
            .first()
            .map(|d| d.items.as_slice())
            .unwrap_or(&[])
    }
}

const BASE: &str = "the common ancestor's version (%O)";
const OURS: &str = "our version (%A)";
const THEIRS: &str = "their version (%B)";

/// Merge `request` as git's merge driver: the merged file (written over `%A` by the caller), or
/// an error when a side cannot be read (then nothing is to be written).
pub fn merge(engine: &Engine, request: &MergeRequest, options: &MergeOptions) -> Result<Merged> {
    let file = request.ours.display();
    let name = request.ours.name.as_deref().unwrap_or(Path::new(""));
    let format = options.input.unwrap_or_else(|| Format::from_path(name));
    let store = engine.store(format);
    let base = if request.base.bytes.iter().all(u8::is_ascii_whitespace) {
        // No common ancestor (both branches added the file).
        None
    } else {
        Some(side(&store, &request.base, BASE, &options.access, &file)?)
    };
    let ours = side(&store, &request.ours, OURS, &options.access, &file)?;
    let theirs = side(&store, &request.theirs, THEIRS, &options.access, &file)?;

    // The result is ours' file, unless only theirs changed the data key or the recipients: then
    // it is theirs' with ours' changes, so a merge never undoes a rotation or a key removal.
    let on_theirs = base
        .as_ref()
        .is_some_and(|b| same_keys(&b.dec, &ours.dec) && !same_keys(&b.dec, &theirs.dec));
    let (mut target, mut other) = if on_theirs {
        (theirs, ours)
    } else {
        (ours, theirs)
    };
    let empty: &[Item] = &[];
    let base_items = base.as_ref().map(Side::items).unwrap_or(empty);
    let merged = merge_docs(base_items, target.items(), other.items());
    let mut ops = merged.ops;
    // The record holds theirs' values; the file, ours'.
    let conflicts: Vec<Conflict> = if on_theirs {
        merged
            .conflicts
            .into_iter()
            .map(|c| {
                ops.push(match &c.theirs {
                    Some(v) => Op::Set(c.path.clone(), v.clone()),
                    None => Op::Unset(c.path.clone()),
                });
                Conflict {
                    path: c.path,
                    base: c.base,
                    ours: c.theirs,
                    theirs: c.ours,
                }
            })
            .collect()
    } else {
        merged.conflicts
    };

    // Values the other side encrypted under the same data key keep their ciphertext too.
    let mut stash = std::mem::take(&mut target.dec.stash);
    if other.dec.data_key == target.dec.data_key {
        stash.absorb(&mut other.dec.stash);
    }
    let plain = plaintext(&store, &target.parsed, &target.dec, None)?;
    let new_plain = apply_ops(&store, plain, &ops)?;
    let mut new_parsed = store.parse(&new_plain).map_err(Error::Marshal)?;
    let mut meta: Metadata = target.dec.metadata.clone();
    meta.conflict_record = if conflicts.is_empty() {
        None
    } else {
        Some(
            record::make(&conflicts, &target.dec.data_key)
                .ok_or_else(|| Error::MergeRecord { file: file.clone() })?,
        )
    };
    let bytes = reencrypt(
        &mut new_parsed,
        Plain::Parsed,
        &target.dec.data_key,
        &mut meta,
        &mut stash,
        Output {
            store: &store,
            out_store: &store,
            file: &file,
            new_file: false,
            early: None,
        },
    )?;
    if conflicts.is_empty() {
        Ok(Merged::Clean(bytes))
    } else {
        let paths = conflicts.iter().map(|c| display_path(&c.path)).collect();
        Ok(Merged::Conflicted { bytes, paths })
    }
}

/// Parse and decrypt one side; every failure names the side.
fn side(
    store: &Store,
    source: &Source,
    which: &'static str,
    access: &KeyAccess,
    file: &str,
) -> Result<Side> {
    let wrap = |e: Error| Error::MergeSide {
        file: file.to_string(),
        side: which,
        source: Box::new(e),
    };
    let parsed = open::parse_kept(store, source, true).map_err(wrap)?;
    if parsed.metadata.is_none() {
        return Err(Error::MergeNotEncrypted {
            file: file.to_string(),
            side: which,
        });
    }
    let dec = decrypt_parsed(
        &parsed,
        file,
        access,
        DecryptOptions {
            ignore_mac: false,
            for_reencryption: true,
            changed_values_unread: false,
        },
    )
    .map_err(wrap)?;
    if dec.metadata.conflict_record.is_some() {
        return Err(Error::MergeUnresolved {
            file: file.to_string(),
            side: which,
        });
    }
    let plain = apply_changes(&parsed.tree, &dec.changes);
    if plain.docs.len() > 1 {
        return Err(Error::MergeDocuments {
            file: file.to_string(),
            side: which,
            count: plain.docs.len(),
        });
    }
    Ok(Side { parsed, dec, plain })
}

/// Whether two versions have the same data key, recipients and threshold.
fn same_keys(a: &Decrypted, b: &Decrypted) -> bool {
    fn recipients(m: &Metadata) -> Vec<Vec<(KeyKind, String)>> {
        m.key_groups
            .iter()
            .map(|g| {
                let mut ids: Vec<(KeyKind, String)> =
                    g.iter().map(|k| (k.kind(), k.id())).collect();
                ids.sort_by(|x, y| (x.0.name(), &x.1).cmp(&(y.0.name(), &y.1)));
                ids
            })
            .collect()
    }
    a.data_key == b.data_key
        && a.metadata.shamir_threshold == b.metadata.shamir_threshold
        && recipients(&a.metadata) == recipients(&b.metadata)
}

/// `plain` (a plaintext file) with `ops` made as text edits, one at a time, each checked by
/// re-parsing (see [`Store::set`]).
pub(crate) fn apply_ops(
    store: &Store,
    plain: Wiped<Vec<u8>>,
    ops: &[Op],
) -> Result<Wiped<Vec<u8>>> {
    let mut current = plain;
    for op in ops {
        let parsed = store.parse(&current).map_err(Error::Marshal)?;
        let next = match op {
            Op::Set(steps, value) => match store
                .replace_scalar(&parsed, steps, value)
                .map_err(Error::Marshal)?
            {
                Some(out) => out,
                None => store.set(&parsed, steps, value).map_err(Error::Marshal)?,
            },
            Op::Unset(steps) => store.unset(&parsed, steps).map_err(Error::Marshal)?,
        };
        current = Wiped::new(next);
    }
    Ok(current)
}

/// The conflicting paths a decrypted file's conflict record names (paths only); `None` when it
/// has no record, and an empty list when its record cannot be read.
pub fn conflict_paths(dec: &Decrypted) -> Option<Vec<String>> {
    let record = dec.metadata.conflict_record.as_deref()?;
    Some(
        record::read(record, &dec.data_key)
            .map(|entries| entries.iter().map(|e| display_path(&e.path)).collect())
            .unwrap_or_default(),
    )
}

/// The same conflict record under a new data key (rotate); `None` when it cannot be read.
pub fn rekey_record(record: &str, from: &DataKey, to: &DataKey) -> Option<String> {
    record::rekey(record, from, to)
}
