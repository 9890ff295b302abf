//! `sepal merge %O %A %B %P`: git's merge driver for encrypted files (`merge.<name>.driver`).
//! Reads the three versions, asks the engine ([`crate::ops::merge`]) for the merged file, and
//! writes it over `%A` atomically. Exit 0 for a clean merge; 1 with the conflicting paths (never
//! values) when both sides changed a value differently; on any failure `%A` is left as it was
//! and the exit code is non-zero, so git reports a conflict.

use std::path::PathBuf;

use clap::Args;

use super::common::{self, CliError, CliResult};
use super::{DecryptKeyArgs, GlobalArgs};
use crate::ops::merge::{merge, MergeOptions, MergeRequest, Merged};
use crate::ops::Source;
use crate::wipe::Wiped;

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// The common ancestor's version (git's %O; may be empty)
    pub base: PathBuf,
    /// Our version (git's %A): the merged file is written here
    pub ours: PathBuf,
    /// Their version (git's %B)
    pub theirs: PathBuf,
    /// The file's path in the repository (git's %P): for messages, format detection and rules
    pub path: PathBuf,
    /// Format: yaml, json, dotenv, ini, toml or binary (default: from PATH)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

pub fn run(global: &GlobalArgs, args: MergeArgs) -> CliResult<()> {
    let engine = common::engine(global)?;
    // Every version is named after %P: git's temporary files have meaningless names.
    let named = |bytes: Wiped<Vec<u8>>| Source {
        path: Some(args.path.clone()),
        name: Some(args.path.clone()),
        bytes: bytes.into(),
    };
    let request = MergeRequest {
        base: named(read_optional(&args.base)?),
        ours: named(common::read_file(&args.ours)?),
        theirs: named(common::read_file(&args.theirs)?),
    };
    let options = MergeOptions {
        input: common::format(&args.input_type),
        access: common::key_access(&args.keys),
    };
    let file = args.path.display().to_string();
    match merge(&engine, &request, &options)? {
        Merged::Clean(bytes) => common::write_file(&args.ours, &bytes),
        Merged::Conflicted { bytes, paths } => {
            common::write_file(&args.ours, &bytes)?;
            Err(CliError::MergeConflicts { file, paths })
        }
    }
}

/// The ancestor's bytes; git passes an empty file when there is none, and a missing one is
/// taken as empty too.
fn read_optional(path: &std::path::Path) -> CliResult<Wiped<Vec<u8>>> {
    if !path.exists() {
        return Ok(Wiped::new(Vec::new()));
    }
    common::read_file(path)
}
