//! `sepal decrypt`.

use clap::Args;

use super::common::{self, CliResult};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::ops::decrypt::{decrypt_noting_conflicts, extract_path, DecryptRequest};

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
}

pub fn run(global: &GlobalArgs, args: DecryptArgs) -> CliResult<()> {
    let extract = args.extract.as_deref().map(extract_path).transpose()?;
    let mut source = common::read_input(&args.io, false)?;
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
