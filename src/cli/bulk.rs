//! The many-file form of `updatekeys`, `rotate -i`, `filestatus` and `decrypt --check` (two or
//! more paths, or any folder): the engine (`ops::bulk`) works on every file in a bounded pool;
//! this prints one line per file on standard output in the order given and a total, draws a
//! progress bar on standard error when it is a terminal, and exits non-zero when a file failed
//! (with the code the failures share, else 1). One named file keeps the single-file commands.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;

use super::common::{self, CliResult};
use super::GlobalArgs;
use crate::ops::bulk::{self, BulkError, FileOutcome, Outcome, Target};
use crate::ops::files::FilesError;
use crate::ops::keys::RotateOptions;
use crate::ops::{batch, codes, Engine, KeyAccess};
use crate::stores::Format;

/// More paths for `rotate` and `decrypt`, and the pool's size.
#[derive(Args, Debug, Clone, Default)]
pub struct ManyArgs {
    /// More files or folders: with two or more paths, or a folder, every file gets a line and
    /// the run a total (rotate needs -i, decrypt needs --check)
    #[arg(value_name = "MORE")]
    pub more: Vec<PathBuf>,
    /// How many files are worked on at once (default: the processors, at most 16)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

impl ManyArgs {
    /// The command's file argument followed by the further paths.
    pub fn paths(&self, first: Option<&PathBuf>) -> Vec<PathBuf> {
        first.into_iter().chain(&self.more).cloned().collect()
    }
}

/// Whether `paths` ask for the many-file form: two or more, or a folder.
pub fn is_many(paths: &[PathBuf]) -> bool {
    paths.len() > 1 || paths.iter().any(|p| p.is_dir())
}

/// Why a many-file command could not run, or that some of its files failed.
#[derive(Debug, thiserror::Error)]
pub enum ManyError {
    #[error("{0}")]
    Files(#[from] FilesError),
    #[error("rotate over several files writes each back: add -i (--in-place)")]
    RotateNeedsInPlace,
    #[error("--output names one file; over several files use -i (--in-place)")]
    Output,
    #[error("decrypt over several files needs --check (it would print several documents)")]
    DecryptNeedsCheck,
    #[error("decrypt --check prints and writes nothing: drop {0}")]
    CheckConflict(&'static str),
    #[error("reading from standard input with several files is not possible; name the files")]
    Stdin,
    /// Some files failed; their lines and the total are already printed.
    #[error("")]
    Failed(u8),
}

impl ManyError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ManyError::Files(FilesError::Missing { .. }) => codes::NO_FILE,
            ManyError::Files(_) => codes::GENERIC,
            ManyError::Failed(code) => *code,
            _ => codes::CONFLICTING_PARAMETERS,
        }
    }
}

/// Draws `label [#####.....] done/total` on standard error when it is a terminal and there are
/// more than a few files; never otherwise. The line is cleared when the last file is done.
fn progress(label: &'static str, total: usize) -> impl FnMut(usize, usize) {
    let on = total > 8 && std::io::stderr().is_terminal();
    move |done, total| {
        if !on {
            return;
        }
        const WIDTH: usize = 30;
        let filled = WIDTH * done / total.max(1);
        if done >= total {
            eprint!("\r\x1b[K");
        } else {
            eprint!(
                "\r{label} [{}{}] {done}/{total}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled)
            );
        }
    }
}

/// One line of a failure: the message on one line.
fn failed_line(path: &Path, e: &BulkError) -> String {
    let message = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("{}: FAILED: {message}\n", path.display())
}

/// Print the lines of `outcomes` (`changed`/`unchanged` words) and the total; the exit.
fn report(outcomes: &[FileOutcome], changed: &str, unchanged: &str, check: bool) -> CliResult<()> {
    let mut out = String::new();
    let (mut n, mut c, mut u) = (0, 0, 0);
    let mut failures = Vec::new();
    for o in outcomes {
        let p = o.path.display();
        match &o.outcome {
            Outcome::Skipped => continue,
            Outcome::Changed => {
                c += 1;
                out.push_str(&format!("{p}: {changed}\n"));
            }
            Outcome::Unchanged => {
                u += 1;
                out.push_str(&format!("{p}: {unchanged}\n"));
            }
            Outcome::Declined => {
                u += 1;
                out.push_str(&format!("{p}: left unchanged\n"));
            }
            Outcome::Failed(e) => {
                failures.push(e);
                out.push_str(&failed_line(&o.path, e));
            }
        }
        n += 1;
    }
    let f = failures.len();
    out.push_str(&if check {
        format!("{n} files: {u} ok, {f} failed\n")
    } else {
        format!("{n} files: {c} changed, {u} unchanged, {f} failed\n")
    });
    common::write_stdout(out.as_bytes())?;
    finish(bulk::exit_code(failures))
}

fn finish(code: u8) -> CliResult<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ManyError::Failed(code).into())
    }
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::write::write_atomic(path, bytes)
}

/// The configuration in force and the files `paths` name (folders expanded).
fn prepare(global: &GlobalArgs, paths: &[PathBuf]) -> CliResult<(Engine, Vec<Target>)> {
    let engine = common::engine(global)?;
    let targets = bulk::targets(paths).map_err(ManyError::from)?;
    Ok((engine, targets))
}

/// `rotate -i PATH...`.
pub fn rotate(
    global: &GlobalArgs,
    paths: &[PathBuf],
    jobs: Option<usize>,
    options: &RotateOptions,
) -> CliResult<()> {
    let (engine, targets) = prepare(global, paths)?;
    let run = bulk::Run {
        engine: &engine,
        input: options.input,
        workers: batch::workers(jobs),
    };
    let outcomes = bulk::rotate(
        &run,
        &targets,
        options,
        &write,
        progress("rotating", targets.len()),
    );
    report(&outcomes, "rotated", "unchanged", false)
}

/// `decrypt --check PATH...`.
pub fn check(
    global: &GlobalArgs,
    paths: &[PathBuf],
    jobs: Option<usize>,
    input: Option<Format>,
    access: &KeyAccess,
) -> CliResult<()> {
    let (engine, targets) = prepare(global, paths)?;
    let run = bulk::Run {
        engine: &engine,
        input,
        workers: batch::workers(jobs),
    };
    let outcomes = bulk::check(&run, &targets, access, progress("checking", targets.len()));
    report(&outcomes, "changed", "ok", true)
}

/// What `updatekeys` over many files is asked.
pub struct UpdateKeys<'a> {
    pub paths: &'a [PathBuf],
    pub jobs: Option<usize>,
    pub yes: bool,
    pub input: Option<Format>,
    pub threshold: Option<usize>,
    pub access: KeyAccess,
}

/// `updatekeys PATH...`: plan every file, show every change, ask once, apply.
pub fn updatekeys(global: &GlobalArgs, a: UpdateKeys) -> CliResult<()> {
    let (engine, targets) = prepare(global, a.paths)?;
    let run = bulk::Run {
        engine: &engine,
        input: a.input,
        workers: batch::workers(a.jobs),
    };
    let plans = bulk::plan_updates(
        &run,
        &targets,
        a.threshold,
        progress("reading", targets.len()),
    );
    let mut shown = String::new();
    let mut pending = 0;
    for p in &plans {
        if let Ok(Some(update)) = &p.update {
            pending += 1;
            shown.push_str(&format!("{}:\n{}\n", p.path.display(), update.report));
        }
    }
    common::write_stdout(shown.as_bytes())?;
    let apply = pending == 0 || a.yes || {
        let yes =
            super::keys::ask(format!("Apply these changes to {pending} files? (y/n):").as_bytes())?;
        // A typed answer ends the line; an answer read from a pipe does not.
        if !std::io::stdin().is_terminal() {
            common::write_stdout(b"\n")?;
        }
        yes
    };
    let total = plans.len();
    let outcomes = bulk::apply_updates(
        &run,
        plans,
        apply,
        &a.access,
        &write,
        progress("updating", total),
    );
    report(&outcomes, "keys updated", "already up to date", false)
}

/// `filestatus PATH...`: every file, also those in folders that are not sops files.
pub fn filestatus(
    global: &GlobalArgs,
    paths: &[PathBuf],
    jobs: Option<usize>,
    input: Option<Format>,
    json: bool,
) -> CliResult<()> {
    let (engine, targets) = prepare(global, paths)?;
    let run = bulk::Run {
        engine: &engine,
        input,
        workers: batch::workers(jobs),
    };
    let statuses = bulk::statuses(&run, &targets, progress("reading", targets.len()));
    let mut out = String::new();
    let (mut yes, mut no) = (0, 0);
    let mut failures = Vec::new();
    for (path, status) in &statuses {
        let name = path.display().to_string();
        match status {
            Ok(e) => {
                if *e {
                    yes += 1;
                } else {
                    no += 1;
                }
                out.push_str(&if json {
                    format!("{}\n", serde_json::json!({"file": name, "encrypted": e}))
                } else if *e {
                    format!("{name}: encrypted\n")
                } else {
                    format!("{name}: not encrypted\n")
                });
            }
            Err(e) => {
                failures.push(e);
                out.push_str(&if json {
                    let message = e.to_string();
                    format!("{}\n", serde_json::json!({"file": name, "error": message}))
                } else {
                    failed_line(path, e)
                });
            }
        }
    }
    let (n, f) = (statuses.len(), failures.len());
    out.push_str(&if json {
        format!(
            "{}\n",
            serde_json::json!({"files": n, "encrypted": yes, "not_encrypted": no, "failed": f})
        )
    } else {
        format!("{n} files: {yes} encrypted, {no} not encrypted, {f} failed\n")
    });
    common::write_stdout(out.as_bytes())?;
    finish(bulk::exit_code(failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_means_two_paths_or_a_folder() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.yaml");
        assert!(!is_many(std::slice::from_ref(&f)));
        assert!(is_many(&[f.clone(), f.clone()]));
        assert!(is_many(&[d.path().to_path_buf()]));
    }

    #[test]
    fn a_failure_stays_on_one_line() {
        let e = BulkError::Read {
            path: "a.yaml".into(),
            source: std::io::Error::other("two\nlines"),
        };
        let line = failed_line(Path::new("a.yaml"), &e);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.starts_with("a.yaml: FAILED: "), "{line}");
    }
}
