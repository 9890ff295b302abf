//! `sepal check --install-hook`: the git pre-commit hook that runs `sepal check` on the files a
//! commit adds or changes. Where it goes is git's answer (`git rev-parse --git-path hooks`, which
//! follows `core.hooksPath` and worktrees); an existing hook that is not sepal's is never
//! overwritten, and installing again is a no-op.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::CheckError;

/// The hook. `SEPAL` picks the binary (default: `sepal` on PATH).
pub const HOOK_SCRIPT: &str = r#"#!/bin/sh
# sepal-check pre-commit hook (written by `sepal check --install-hook`).
# Refuses a commit that adds a secret in clear: runs `sepal check` on the staged files.
files=$(git -c core.quotePath=false diff --cached --name-only --diff-filter=ACMR)
[ -z "$files" ] && exit 0
IFS='
'
set -f
set -- $files
exec "${SEPAL:-sepal}" check -- "$@"
"#;

/// What installing the hook comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookPlan {
    /// Write [`HOOK_SCRIPT`] to this (new) file.
    Write(PathBuf),
    /// sepal's hook is already there.
    AlreadyInstalled(PathBuf),
}

/// Where the pre-commit hook of the repository around `dir` goes, and whether to write it.
pub fn hook_plan(dir: &Path) -> Result<HookPlan, CheckError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--git-path", "hooks"])
        .output()
        .map_err(|e| CheckError::HooksDir {
            reason: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(CheckError::HooksDir {
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let hooks = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let hooks = if hooks.is_absolute() {
        hooks
    } else {
        dir.join(hooks)
    };
    let path = hooks.join("pre-commit");
    match std::fs::read(&path) {
        Ok(existing) if existing == HOOK_SCRIPT.as_bytes() => Ok(HookPlan::AlreadyInstalled(path)),
        Ok(_) => Err(CheckError::OtherHook {
            path: path.display().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HookPlan::Write(path)),
        Err(e) => Err(CheckError::HooksDir {
            reason: format!("cannot read {}: {e}", path.display()),
        }),
    }
}
