//! `sepal check`: a keyless checker for pre-commit hooks and CI. Over the files given (folders
//! expanded to their git-tracked files) or the files git tracks under the working folder, in
//! parallel, and with no key material at all (files and their metadata are parsed, never
//! decrypted):
//! - a file a creation rule covers must be encrypted (sops metadata with a MAC and a version);
//! - its master keys and Shamir threshold must be what its rule names today;
//! - no value its selection option says is encrypted may be in clear;
//! - files no rule covers are scanned for high-confidence secret patterns, and plaintext `.env`
//!   files that git does not ignore are findings;
//! - with a rotation policy, a data key older than the policy is a finding;
//! - a TOML file sepal encrypted, which the real sops cannot read, is a finding when the
//!   repository runs sops.
//!
//! Known false positives are marked by the allow-list under `sepal: check: allow:` in
//! `.sops.yaml` (sops ignores that key) or by `sepal:allow` on the line.

mod hook;
mod policy;
mod report;
mod secrets;
mod sops_file;
mod sops_use;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::config::{absolute, ConfigError};

use super::files::{self, FilesError};
use super::{batch, Engine};

pub use hook::{hook_plan, HookPlan, HOOK_SCRIPT};
pub use policy::{parse_age, INLINE_MARKER};
pub use report::{names, Finding, Report};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Files and folders; empty: the files git tracks under the working folder.
    pub paths: Vec<PathBuf>,
    /// `--max-age` (overrides `sepal.check.max_age`).
    pub max_age: Option<String>,
    /// Worker threads (default: the machine's parallelism).
    pub workers: Option<usize>,
}

/// Why a check could not run (the command exits 2; findings are not errors).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid max age {value:?}: give a whole number of hours, days or weeks, such as 36h, 90d or 12w (--max-age, or sepal.check.max_age in .sops.yaml)")]
    MaxAge { value: String },
    #[error("invalid path regex {regex:?} in the allow-list (sepal.check.allow in .sops.yaml): {reason}")]
    AllowRegex { regex: String, reason: String },
    #[error("cannot find the git hooks folder (run `sepal check --install-hook` inside a git repository): {reason}")]
    HooksDir { reason: String },
    #[error("{path} already exists and is not sepal's hook; sepal does not overwrite it. Add `sepal check` to it yourself, or remove it and run `sepal check --install-hook` again")]
    OtherHook { path: String },
}

/// Run every check over the files `options` names.
pub fn check(engine: &Engine, options: &CheckOptions) -> Result<Report, CheckError> {
    let policy = policy::Policy::new(&engine.config, options.max_age.as_deref())?;
    let config_file = engine.config.path.as_deref().map(absolute);
    let files: Vec<PathBuf> = files::expand(&options.paths)?
        .into_iter()
        .filter(|f| !is_config(f, config_file.as_deref()))
        .collect();
    let now = OffsetDateTime::now_utc();
    let results = batch::run(
        &files,
        batch::workers(options.workers),
        |path| check_file(engine, &policy, now, path),
        |_, _| {},
    );
    let mut report = Report {
        files: files.len(),
        ..Report::default()
    };
    for (path, result) in files.iter().zip(results) {
        let relative = engine.config.relative_name(path);
        let (found, marked) = result?;
        report.allowed += marked;
        for finding in found {
            if policy.allows(&relative, &finding) {
                report.allowed += 1;
            } else {
                report.findings.push(finding);
            }
        }
    }
    Ok(report)
}

/// `.sops.yaml` files (the one in force and any other) are configuration, not data.
fn is_config(path: &Path, config_file: Option<&Path>) -> bool {
    path.file_name().is_some_and(|n| n == ".sops.yaml")
        || config_file.is_some_and(|c| absolute(path) == c)
}

/// The findings of one file before the allow-list, and how many inline markers suppressed.
fn check_file(
    engine: &Engine,
    policy: &policy::Policy,
    now: OffsetDateTime,
    path: &Path,
) -> Result<(Vec<Finding>, usize), CheckError> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Ok((
                vec![Finding::new(
                    &shown,
                    1,
                    names::UNREADABLE,
                    format!("cannot read the file: {e}"),
                )],
                0,
            ))
        }
    };
    let rule = match engine.config.rule_for(path) {
        Ok(rule) => rule.filter(|r| !r.key_groups.is_empty()),
        Err(ConfigError::NoMatchingRule) => None,
        Err(e) => return Err(e.into()),
    };
    let mut found = match rule {
        Some(rule) => sops_file::covered(engine, policy, now, (path, &shown, &bytes), &rule),
        None => uncovered(engine, policy, now, path, &shown, &bytes),
    };
    // A whole-file finding is not silenced by a marker on its line.
    let before = found.len();
    found.retain(|f| {
        matches!(
            f.check,
            names::MUST_BE_ENCRYPTED | names::PLAINTEXT_ENV | names::SOPS_CANNOT_READ_TOML
        ) || !policy::marked(&bytes, f.line)
    });
    let marked = before - found.len();
    Ok((found, marked))
}

/// A file no rule covers: an encrypted one is checked for its data key's age only; the others
/// are scanned for secrets, and a `.env` file must not be in clear.
fn uncovered(
    engine: &Engine,
    policy: &policy::Policy,
    now: OffsetDateTime,
    path: &Path,
    shown: &str,
    bytes: &[u8],
) -> Vec<Finding> {
    let may_be_sops = bytes.len() <= 64 * 1024 * 1024
        && contains(bytes, b"sops")
        && contains(bytes, b"mac")
        && !secrets::is_binary(bytes);
    if may_be_sops {
        if let Some(file) = sops_file::parse(engine, path, bytes) {
            if sops_file::is_encrypted(&file) {
                return sops_file::elsewhere(policy, now, &file, (path, shown, bytes));
            }
        }
    }
    let mut out = Vec::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if secrets::is_env_name(&name) && (!files::ignored(path) || is_tracked(path)) {
        out.push(Finding::new(
            shown,
            1,
            names::PLAINTEXT_ENV,
            "a plaintext .env file that git does not ignore; encrypt it (add a creation rule for it and run `sepal encrypt -i` on it), or add it to .gitignore and commit a .env.example instead",
        ));
    }
    out.extend(secrets::scan(path, shown, bytes));
    out
}

/// Whether git tracks `path` (a file git ignores may still be tracked, and then committed).
fn is_tracked(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let wanted = absolute(path);
    files::tracked(dir).is_ok_and(|list| list.iter().any(|f| absolute(f) == wanted))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
