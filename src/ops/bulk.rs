//! Many files at once: `updatekeys`, `rotate -i`, `filestatus` and `decrypt --check` over a list
//! of files and folders. Each command is the single-file operation run on every file by the
//! bounded pool of [`super::batch`], going on past a failing file; every file gets a typed
//! [`Outcome`], in the order the files were given. Folders are expanded by [`super::files`]; a
//! file found in a folder is worked on only when it is a sops file (a named file always is).
//! Writing is the caller's (the command line replaces files atomically), handed in as `write`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::files::{self, FilesError};
use super::keys::{self as key_ops, KeyUpdate, RotateOptions};
use super::{batch, codes, status, Engine, Error, KeyAccess, Source};
use crate::stores::Format;
use crate::wipe::Wiped;

/// A file to work on, and whether it was named (else it was found in a folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub named: bool,
}

/// The files `paths` stand for: named files as they are (a missing one fails on its own line),
/// folders expanded (see [`files::expand`]). Duplicates are dropped, order is kept.
pub fn targets(paths: &[PathBuf]) -> Result<Vec<Target>, FilesError> {
    let mut out: Vec<Target> = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(
                files::expand(std::slice::from_ref(p))?
                    .into_iter()
                    .map(|path| Target { path, named: false }),
            );
        } else {
            out.push(Target {
                path: p.clone(),
                named: true,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.path.clone()));
    Ok(out)
}

/// Why one file of many failed. Messages name the file and never hold a value.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("{0}")]
    Op(#[from] Error),
    #[error("no such file: {path}; check the name")]
    Missing { path: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl BulkError {
    /// The exit code the single-file command gives for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            BulkError::Op(e) => e.exit_code(),
            BulkError::Missing { .. } => codes::NO_FILE,
            BulkError::Read { .. } => codes::READ_INPUT,
            BulkError::Write { .. } => codes::WRITE_OUTPUT,
        }
    }
}

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    /// Rewritten (rotated, keys updated).
    Changed,
    /// Nothing to do (keys up to date; for `decrypt --check`: verified).
    Unchanged,
    /// `updatekeys`: changes were planned, and the user said no.
    Declined,
    /// Found in a folder and not a sops file: not worked on, not reported.
    Skipped,
    Failed(BulkError),
}

/// One file's outcome.
#[derive(Debug)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub outcome: Outcome,
}

impl FileOutcome {
    fn new(path: &Path, result: Result<Outcome, BulkError>) -> Self {
        FileOutcome {
            path: path.to_path_buf(),
            outcome: result.unwrap_or_else(Outcome::Failed),
        }
    }
}

/// How to write a file (atomically, by the caller).
pub type Write<'a> = &'a (dyn Fn(&Path, &[u8]) -> std::io::Result<()> + Sync);

/// How the many-file commands run.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub engine: &'a Engine,
    /// `--input-type`.
    pub input: Option<Format>,
    /// Worker threads ([`batch::workers`]).
    pub workers: usize,
}

/// A file's bytes, or why not.
fn read(path: &Path) -> Result<Source, BulkError> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(BulkError::Missing { path: shown });
    }
    let bytes = std::fs::read(path)
        .map(Wiped::new)
        .map_err(|source| BulkError::Read {
            path: shown,
            source,
        })?;
    Ok(Source {
        path: Some(path.to_path_buf()),
        name: Some(path.to_path_buf()),
        bytes: bytes.into(),
    })
}

/// Read `target`; `None` when it was found in a folder and is not a sops file.
fn read_sops_file(run: &Run, target: &Target) -> Result<Option<Source>, BulkError> {
    let source = read(&target.path)?;
    if !target.named && !status::is_encrypted(run.engine, &source, run.input).unwrap_or(false) {
        return Ok(None);
    }
    Ok(Some(source))
}

/// `rotate -i` on every file: a new data key each, written back.
pub fn rotate(
    run: &Run,
    targets: &[Target],
    options: &RotateOptions,
    write: Write,
    progress: impl FnMut(usize, usize),
) -> Vec<FileOutcome> {
    let options = RotateOptions {
        input: run.input,
        output: None,
        ..options.clone()
    };
    batch::run(
        targets,
        run.workers,
        |t| FileOutcome::new(&t.path, rotate_one(run, t, &options, write)),
        progress,
    )
}

fn rotate_one(
    run: &Run,
    t: &Target,
    options: &RotateOptions,
    write: Write,
) -> Result<Outcome, BulkError> {
    let Some(mut source) = read_sops_file(run, t)? else {
        return Ok(Outcome::Skipped);
    };
    let out = key_ops::rotate(run.engine, &mut source, options)?;
    write_back(write, &t.path, &out)?;
    Ok(Outcome::Changed)
}

/// `decrypt --check` on every file: decrypted in memory, MAC and keys checked, nothing kept.
pub fn check(
    run: &Run,
    targets: &[Target],
    access: &KeyAccess,
    progress: impl FnMut(usize, usize),
) -> Vec<FileOutcome> {
    batch::run(
        targets,
        run.workers,
        |t| FileOutcome::new(&t.path, check_one(run, t, access)),
        progress,
    )
}

fn check_one(run: &Run, t: &Target, access: &KeyAccess) -> Result<Outcome, BulkError> {
    let Some(mut source) = read_sops_file(run, t)? else {
        return Ok(Outcome::Skipped);
    };
    super::decrypt::check(run.engine, &mut source, run.input, access)?;
    Ok(Outcome::Unchanged)
}

/// `filestatus` of every file: whether it is encrypted (every file, also those in folders).
pub fn statuses(
    run: &Run,
    targets: &[Target],
    progress: impl FnMut(usize, usize),
) -> Vec<(PathBuf, Result<bool, BulkError>)> {
    batch::run(
        targets,
        run.workers,
        |t| {
            let result = read(&t.path)
                .and_then(|source| Ok(status::is_encrypted(run.engine, &source, run.input)?));
            (t.path.clone(), result)
        },
        progress,
    )
}

/// One file's planned `updatekeys`.
pub struct Plan {
    pub path: PathBuf,
    /// The changes (`Ok(None)`: up to date; `Skipped` files are left out of the plans).
    pub update: Result<Option<KeyUpdate>, BulkError>,
}

/// Plan `updatekeys` for every file (read, compare with the creation rule); nothing is written.
/// Files found in folders that are not sops files are left out.
pub fn plan_updates(
    run: &Run,
    targets: &[Target],
    threshold: Option<usize>,
    progress: impl FnMut(usize, usize),
) -> Vec<Plan> {
    let plans = batch::run(
        targets,
        run.workers,
        |t| match plan_one(run, t, threshold) {
            Ok(None) => None,
            Ok(Some(plan)) => Some(Plan {
                path: t.path.clone(),
                update: Ok(plan),
            }),
            Err(e) => Some(Plan {
                path: t.path.clone(),
                update: Err(e),
            }),
        },
        progress,
    );
    plans.into_iter().flatten().collect()
}

/// `None`: skipped; `Some(None)`: up to date.
fn plan_one(
    run: &Run,
    t: &Target,
    threshold: Option<usize>,
) -> Result<Option<Option<KeyUpdate>>, BulkError> {
    let Some(mut source) = read_sops_file(run, t)? else {
        return Ok(None);
    };
    let plan = key_ops::plan_update(run.engine, &mut source, &t.path, run.input, threshold)?;
    Ok(Some(plan))
}

/// A plan waiting for a worker to take it.
type Slot = Mutex<Option<Result<Option<KeyUpdate>, BulkError>>>;

/// Carry out the plans (`apply`: else every planned change is declined); the key service round
/// trips of each file run in the pool.
pub fn apply_updates(
    run: &Run,
    plans: Vec<Plan>,
    apply: bool,
    access: &KeyAccess,
    write: Write,
    progress: impl FnMut(usize, usize),
) -> Vec<FileOutcome> {
    let slots: Vec<(PathBuf, Slot)> = plans
        .into_iter()
        .map(|p| (p.path, Mutex::new(Some(p.update))))
        .collect();
    batch::run(
        &slots,
        run.workers,
        |(path, slot)| {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            let result = match taken {
                None | Some(Ok(None)) => Ok(Outcome::Unchanged),
                Some(Err(e)) => Err(e),
                Some(Ok(Some(_))) if !apply => Ok(Outcome::Declined),
                Some(Ok(Some(update))) => key_ops::apply_update(update, access)
                    .map_err(BulkError::from)
                    .and_then(|out| write_back(write, path, &out))
                    .map(|_| Outcome::Changed),
            };
            FileOutcome::new(path, result)
        },
        progress,
    )
}

fn write_back(write: Write, path: &Path, bytes: &[u8]) -> Result<(), BulkError> {
    write(path, bytes).map_err(|source| BulkError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// The exit code of a run with these failures: 0 when none, the code they share when they all
/// share one, else 1.
pub fn exit_code<'a>(failures: impl IntoIterator<Item = &'a BulkError>) -> u8 {
    let mut codes_seen = failures.into_iter().map(BulkError::exit_code);
    match codes_seen.next() {
        None => 0,
        Some(first) if codes_seen.all(|c| c == first) => first,
        Some(_) => codes::GENERIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_named_files_and_mark_folder_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("s")).unwrap();
        std::fs::write(d.path().join("s/a.yaml"), "a: 1\n").unwrap();
        let named = d.path().join("missing.yaml");
        let t = targets(&[named.clone(), d.path().join("s"), named.clone()]).unwrap();
        assert_eq!(
            t,
            vec![
                Target {
                    path: named,
                    named: true
                },
                Target {
                    path: d.path().join("s/a.yaml"),
                    named: false
                }
            ]
        );
    }

    #[test]
    fn exit_code_is_the_shared_code_or_one() {
        let missing = || BulkError::Missing { path: "x".into() };
        let read = || BulkError::Read {
            path: "x".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(exit_code([]), 0);
        assert_eq!(exit_code([&missing(), &missing()]), codes::NO_FILE);
        assert_eq!(exit_code([&missing(), &read()]), codes::GENERIC);
    }

    #[test]
    fn a_missing_named_file_fails_alone_and_folder_files_that_are_not_sops_files_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("s")).unwrap();
        std::fs::write(d.path().join("s/plain.yaml"), "a: 1\n").unwrap();
        let engine = Engine::default();
        let run = Run {
            engine: &engine,
            input: None,
            workers: 2,
        };
        let t = targets(&[d.path().join("nope.yaml"), d.path().join("s")]).unwrap();
        let out = check(&run, &t, &KeyAccess::default(), |_, _| {});
        assert!(matches!(
            out[0].outcome,
            Outcome::Failed(BulkError::Missing { .. })
        ));
        assert!(matches!(out[1].outcome, Outcome::Skipped));
        let st = statuses(&run, &t, |_, _| {});
        assert!(st[0].1.is_err());
        assert!(matches!(st[1].1, Ok(false)));
    }
}
