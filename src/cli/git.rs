//! `sepal textconv` (git's diff driver: the text git diffs for an encrypted file) and
//! `sepal git-setup` (the diff and merge drivers written into the repository's git config and
//! `.gitattributes`). The rules live in `ops::textconv` and `ops::gitsetup`.

use std::path::PathBuf;

use clap::Args;

use super::common::{self, CliResult};
use super::{DecryptKeyArgs, GlobalArgs};
use crate::ops::gitsetup::{self, SetupRequest};
use crate::ops::textconv::{textconv, Shown};
use crate::ops::Engine;

#[derive(Args, Debug, Clone)]
pub struct TextconvArgs {
    /// The file git hands over (any file: one that is not a sops file is printed unchanged)
    pub file: PathBuf,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

/// Print the text to diff. Whatever the file holds, this prints something and exits 0; only a
/// path that cannot be read at all (missing, a folder) is an error. Nothing goes to standard
/// error unless `--verbose`.
pub fn textconv_run(global: &GlobalArgs, args: TextconvArgs) -> CliResult<()> {
    let bytes = common::read_file(&args.file)?;
    // A broken .sops.yaml must not break `git diff`: its store settings only change indentation.
    let engine = common::engine(global).unwrap_or_else(|e| {
        if global.verbose {
            eprintln!("sepal textconv: ignoring the configuration: {e}");
        }
        Engine::default()
    });
    let converted = textconv(
        &engine,
        &bytes,
        Some(&args.file),
        &common::key_access(&args.keys),
    );
    if global.verbose {
        let file = args.file.display();
        let format = converted.format.map_or("", |f| f.name());
        match &converted.shown {
            Shown::Decrypted => eprintln!("sepal textconv: {file}: decrypted ({format})"),
            Shown::Markers { reason } => {
                eprintln!("sepal textconv: {file}: values shown as markers ({format}): {reason}")
            }
            Shown::Unchanged => eprintln!("sepal textconv: {file}: not a sops file, unchanged"),
        }
    }
    common::write_stdout(&converted.text)
}

#[derive(Args, Debug, Clone)]
pub struct GitSetupArgs {
    /// Gitattributes patterns to mark (default: the files the .sops.yaml creation rules cover)
    pub patterns: Vec<String>,
    /// The sepal command git runs (a path when sepal is not on PATH)
    #[arg(long, value_name = "PATH", default_value = "sepal")]
    pub command: String,
}

pub fn git_setup_run(global: &GlobalArgs, args: GitSetupArgs) -> CliResult<()> {
    let engine = common::engine(global)?;
    let request = SetupRequest {
        patterns: args.patterns,
        command: args.command,
    };
    let report = gitsetup::setup(&engine, &request, &super::write::write_atomic)?;
    let mut text = String::new();
    for line in report.lines() {
        text.push_str(&line);
        text.push('\n');
    }
    common::write_stdout(text.as_bytes())
}
