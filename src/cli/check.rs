//! `sepal check`: flags → [`ops::check`](crate::ops::check) options, the findings rendered as
//! linter lines or JSON, and the exit code (0 clean, 1 findings, 2 when the check cannot run).
//! `--install-hook` writes the git pre-commit hook the engine plans.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::ops::check::{self, CheckOptions, HookPlan, Report};
use crate::ops::Engine;

use super::{common, CliError, CliResult, GlobalArgs};

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// Files and folders to check (default: the files git tracks under the working folder)
    pub paths: Vec<PathBuf>,
    /// Flag files whose data key is older than this (e.g. 90d, 12w, 36h); overrides
    /// sepal.check.max_age in .sops.yaml
    #[arg(long, value_name = "AGE")]
    pub max_age: Option<String>,
    /// Output: one line per finding (text) or one JSON document (json)
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Worker threads (default: the machine's parallelism)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Write the git pre-commit hook that runs `sepal check` on staged files, then exit
    #[arg(long, conflicts_with_all = ["paths", "max_age"])]
    pub install_hook: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFormat {
    Text,
    Json,
}

/// The JSON document `--format json` prints.
#[derive(Serialize)]
struct JsonReport<'a> {
    /// The schema's version: fields are only ever added.
    version: u32,
    #[serde(flatten)]
    report: &'a Report,
}

pub fn run(global: &GlobalArgs, args: CheckArgs) -> CliResult<()> {
    if args.install_hook {
        return install_hook();
    }
    let engine =
        Engine::load(global.config.as_deref(), None, false).map_err(CliError::CheckConfig)?;
    let options = CheckOptions {
        paths: args.paths,
        max_age: args.max_age,
        workers: args.jobs,
    };
    let report = check::check(&engine, &options)?;
    let out = match args.format {
        CheckFormat::Json => {
            let mut s = serde_json::to_string_pretty(&JsonReport {
                version: 1,
                report: &report,
            })
            .map_err(CliError::CheckJson)?;
            s.push('\n');
            s
        }
        CheckFormat::Text => text(&report),
    };
    common::write_stdout(out.as_bytes())?;
    if report.clean() {
        Ok(())
    } else {
        Err(CliError::CheckFindings)
    }
}

/// `path:line: check: message` per finding, then a summary line.
fn text(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.findings {
        s.push_str(&format!(
            "{}:{}: {}: {}\n",
            f.path, f.line, f.check, f.message
        ));
    }
    let files = plural(report.files, "file");
    let allowed = if report.allowed > 0 {
        format!(", {} allowed", plural(report.allowed, "finding"))
    } else {
        String::new()
    };
    if report.clean() {
        s.push_str(&format!(
            "sepal check: {files} checked, no findings{allowed}\n"
        ));
    } else {
        s.push_str(&format!(
            "sepal check: {} in {files} checked{allowed}\n",
            plural(report.findings.len(), "finding")
        ));
    }
    s
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn install_hook() -> CliResult<()> {
    let plan = check::hook_plan(Path::new("."))?;
    match plan {
        HookPlan::AlreadyInstalled(path) => {
            eprintln!(
                "sepal's pre-commit hook is already installed in {}",
                path.display()
            );
        }
        HookPlan::Write(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| CliError::WriteFile {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            common::write_file(&path, check::HOOK_SCRIPT.as_bytes())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(
                    |source| CliError::WriteFile {
                        path: path.display().to_string(),
                        source,
                    },
                )?;
            }
            eprintln!("installed sepal's pre-commit hook in {}", path.display());
        }
    }
    Ok(())
}
