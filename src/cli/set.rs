//! `set` and `unset`: change one value in place, re-encrypting only what changed.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use super::common::{self, CliError, CliResult};
use super::{DecryptKeyArgs, FormatArgs, GlobalArgs};
use crate::ops::set::{parse_path, parse_value, Change, ChangeOptions};

#[derive(Args, Debug, Clone)]
pub struct SetArgs {
    /// The encrypted file, the path (e.g. '["a"]["b"]') and the JSON value
    #[arg(num_args = 0..)]
    pub args: Vec<String>,
    /// Read the value from the file named by the third argument
    #[arg(long)]
    pub value_file: bool,
    /// Read the value from standard input
    #[arg(long)]
    pub value_stdin: bool,
    /// Do not write the file when the value is already set
    #[arg(long)]
    pub idempotent: bool,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub formats: FormatArgs,
    /// Accepted for compatibility (set and unset keep the file's threshold)
    #[arg(long, value_name = "N", hide = true)]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct UnsetArgs {
    /// The encrypted file and the path to remove
    #[arg(num_args = 0..)]
    pub args: Vec<String>,
    /// Succeed without writing when the path does not exist
    #[arg(long)]
    pub idempotent: bool,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub formats: FormatArgs,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

/// The engine's options from the flags `set` and `unset` share.
fn change_options(
    formats: &FormatArgs,
    ignore_mac: bool,
    idempotent: bool,
    keys: &DecryptKeyArgs,
) -> ChangeOptions {
    ChangeOptions {
        input: formats.input(),
        output: formats.output(),
        ignore_mac,
        idempotent,
        access: common::key_access(keys),
    }
}

/// Apply `change` to `file` and write it back in place (nothing is written for an idempotent
/// no-op).
fn change_file(
    global: &GlobalArgs,
    file: PathBuf,
    options: ChangeOptions,
    change: Change,
) -> CliResult<()> {
    if file.as_os_str() == "-" {
        return Err(CliError::InPlaceFromStdin);
    }
    let source = common::read_source(&file)?;
    let engine = common::engine(global)?;
    if let Some(out) = crate::ops::set::change_file(&engine, &source, &change, &options)? {
        common::write_file(&file, &out)?;
    }
    Ok(())
}

pub fn run_set(global: &GlobalArgs, a: SetArgs) -> CliResult<()> {
    let expected = if a.value_stdin { 2 } else { 3 };
    if a.args.len() != expected {
        return Err(CliError::ArgumentCount {
            command: "set",
            count: expected,
            what: if a.value_stdin {
                "the file, the path (the value comes from stdin)"
            } else {
                "the file, the path and the value"
            },
        });
    }
    let steps = parse_path(&a.args[1], "set")?;
    let text = if a.value_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(CliError::ReadStdin)?;
        crate::wipe::Wiped::new(s)
    } else if a.value_file {
        crate::wipe::Wiped::new(std::fs::read_to_string(&a.args[2]).map_err(|e| {
            CliError::ReadFile {
                path: a.args[2].clone(),
                source: e,
            }
        })?)
    } else {
        crate::wipe::Wiped::new(a.args[2].clone())
    };
    let value = parse_value(&text)?;
    let options = change_options(&a.formats, a.ignore_mac, a.idempotent, &a.keys);
    change_file(
        global,
        PathBuf::from(&a.args[0]),
        options,
        Change::Set(steps, value),
    )
}

pub fn run_unset(global: &GlobalArgs, a: UnsetArgs) -> CliResult<()> {
    if a.args.len() != 2 {
        return Err(CliError::ArgumentCount {
            command: "unset",
            count: 2,
            what: "the file and the path",
        });
    }
    let steps = parse_path(&a.args[1], "unset")?;
    let options = change_options(&a.formats, a.ignore_mac, a.idempotent, &a.keys);
    change_file(
        global,
        PathBuf::from(&a.args[0]),
        options,
        Change::Unset(steps),
    )
}
