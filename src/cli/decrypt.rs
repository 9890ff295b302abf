//! `sepal decrypt`.

use clap::Args;

use super::bulk::ManyError;
use super::common::{self, CliResult};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::ops::decrypt::{check, decrypt_noting_conflicts, extract_path, DecryptRequest};

#[derive(Args, Debug, Clone)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
    /// Print only the value at this path, e.g. '["db"]["password"]'
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    /// Only check: decrypt in memory, verify the MAC and the keys, print nothing (several files
    /// or folders: one line per file and a total)
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub many: super::bulk::ManyArgs,
}

pub fn run(global: &GlobalArgs, args: DecryptArgs) -> CliResult<()> {
    let paths = args.many.paths(args.io.file.as_ref());
    let many = super::bulk::is_many(&paths);
    // One folder without --check fails as it always did (sops cannot decrypt a folder).
    if paths.len() > 1 && !args.check {
        return Err(ManyError::DecryptNeedsCheck.into());
    }
    if args.check {
        let conflict = [
            (args.io.in_place, "-i (--in-place)"),
            (args.io.output.is_some(), "--output"),
            (args.extract.is_some(), "--extract"),
            (args.ignore_mac, "--ignore-mac"),
            (args.io.formats.output_type.is_some(), "--output-type"),
        ]
        .into_iter()
        .find_map(|(set, flag)| set.then_some(flag));
        if let Some(flag) = conflict {
            return Err(ManyError::CheckConflict(flag).into());
        }
        if many {
            if paths.iter().any(|p| p.as_os_str() == "-") {
                return Err(ManyError::Stdin.into());
            }
            let access = common::key_access(&args.keys);
            return super::bulk::check(
                global,
                &paths,
                args.many.jobs,
                args.io.formats.input(),
                &access,
            );
        }
        let mut source = common::read_input(&args.io, false)?;
        let engine = common::engine(global)?;
        let access = common::key_access(&args.keys);
        return Ok(check(
            &engine,
            &mut source,
            args.io.formats.input(),
            &access,
        )?);
    }
    let extract = args.extract.as_deref().map(extract_path).transpose()?;
    let mut source = common::read_input_once(&args.io, false)?;
    let engine = common::engine(global)?;
    let request = DecryptRequest {
        input: args.io.formats.input(),
        output: args.io.formats.output(),
        extract,
        ignore_mac: args.ignore_mac,
        access: common::key_access(&args.keys),
    };
    let (out, conflicts) = decrypt_noting_conflicts(&engine, &mut source, &request)?;
    if let Some(paths) = conflicts {
        warn_conflicts(&source.display(), &paths);
    }
    common::write_output(&args.io, &source, &out)
}

/// A file a merge left conflicted decrypts to our values at the conflicting paths: say so (paths
/// only) on standard error.
fn warn_conflicts(file: &str, paths: &[String]) {
    let at = if paths.is_empty() {
        String::new()
    } else {
        format!(" at {}", paths.join(", "))
    };
    eprintln!(
        "warning: {file} has unresolved merge conflicts{at}; this output holds our values there. Resolve with `sepal edit {file}`"
    );
}
