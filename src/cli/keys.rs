//! Key management: `rotate`, `updatekeys`, `groups add`, `groups delete`.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::common::{self, CliError, CliResult};
use super::encrypt::KeyFlags;
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::ops::keys::{self as key_ops, RotateOptions};

/// `--add-*` and `--rm-*` flags of `rotate`.
#[derive(Args, Debug, Clone, Default)]
pub struct RotateKeyFlags {
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Option<String>,
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Option<String>,
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub add_gcp_kms: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub rm_gcp_kms: Option<String>,
    #[arg(long, value_name = "URLS")]
    pub add_azure_kv: Option<String>,
    #[arg(long, value_name = "URLS")]
    pub rm_azure_kv: Option<String>,
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub add_hckms: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub rm_hckms: Option<String>,
}

impl RotateKeyFlags {
    fn as_key_flags(&self, add: bool, extra: &KmsExtras) -> KeyFlags {
        let pick = |a: &Option<String>, r: &Option<String>| if add { a.clone() } else { r.clone() };
        KeyFlags {
            age: pick(&self.add_age, &self.rm_age),
            pgp: pick(&self.add_pgp, &self.rm_pgp),
            kms: pick(&self.add_kms, &self.rm_kms),
            gcp_kms: pick(&self.add_gcp_kms, &self.rm_gcp_kms),
            azure_kv: pick(&self.add_azure_kv, &self.rm_azure_kv),
            hc_vault_transit: pick(&self.add_hc_vault_transit, &self.rm_hc_vault_transit),
            hckms: pick(&self.add_hckms, &self.rm_hckms),
            aws_profile: extra.aws_profile.clone(),
            encryption_context: extra.encryption_context.clone(),
            shamir_secret_sharing_threshold: None,
        }
    }

    /// Whether any key is added or removed.
    fn any(&self) -> bool {
        let none = KmsExtras::default();
        [true, false].into_iter().any(|add| {
            common::key_options(&self.as_key_flags(add, &none))
                .group()
                .is_ok_and(|g| !g.is_empty())
        })
    }
}

/// KMS settings for keys added by `rotate`.
#[derive(Args, Debug, Clone, Default)]
pub struct KmsExtras {
    /// AWS profile for added KMS keys
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context for added KMS keys
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RotateArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
    #[command(flatten)]
    pub change: RotateKeyFlags,
    #[command(flatten)]
    pub kms: KmsExtras,
    #[command(flatten)]
    pub many: super::bulk::ManyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct UpdateKeysArgs {
    /// Files or folders to update (two or more paths, or a folder: planned together, one
    /// question for all, one line per file and a total)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// How many files are worked on at once (default: the processors, at most 16)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Do not ask before changing a file
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Format of the files (default: from their names)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Shamir threshold to set
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum GroupsCommand {
    /// Add a key group to a file
    Add(Box<GroupsAddArgs>),
    /// Delete the key group at INDEX (0-based) from a file
    Delete(GroupsDeleteArgs),
}

#[derive(Args, Debug, Clone)]
pub struct GroupsAddArgs {
    /// The file to change
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// Write the result back to the file instead of standard output
    #[arg(short = 'i', long)]
    pub in_place: bool,
    #[command(flatten)]
    pub new_keys: KeyFlags,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct GroupsDeleteArgs {
    /// The file to change
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// Write the result back to the file instead of standard output
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Shamir threshold to set
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    /// The index of the group to delete
    pub index: usize,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

pub fn rotate(global: &GlobalArgs, args: RotateArgs) -> CliResult<()> {
    let paths = args.many.paths(args.io.file.as_ref());
    // One folder without -i fails as it always did (sops cannot rotate a folder).
    if super::bulk::is_many(&paths) && (paths.len() > 1 || args.io.in_place) {
        return rotate_many(global, &args, &paths);
    }
    if let Some(f) = args.io.file.as_ref().filter(|f| !f.exists()) {
        if args.change.any() {
            return Err(crate::ops::Error::RotateMissingFile {
                file: crate::config::absolute(f).display().to_string(),
            }
            .into());
        }
    }
    let mut source = common::read_input(&args.io, false).map_err(|e| match e {
        CliError::NoFile(f) => CliError::RotateNoFile(f),
        e => e,
    })?;
    let engine = common::engine(global)?;
    let options = RotateOptions {
        input: args.io.formats.input(),
        output: args.io.formats.output(),
        add: common::key_options(&args.change.as_key_flags(true, &args.kms)),
        remove: common::key_options(&args.change.as_key_flags(false, &args.kms)),
        access: common::key_access(&args.keys),
    };
    let out = key_ops::rotate(&engine, &mut source, &options)?;
    common::write_output(&args.io, &source, &out)
}

/// `rotate -i` over several files or a folder.
fn rotate_many(global: &GlobalArgs, args: &RotateArgs, paths: &[PathBuf]) -> CliResult<()> {
    use super::bulk::ManyError;
    if args.io.output.is_some() {
        return Err(ManyError::Output.into());
    }
    if !args.io.in_place {
        return Err(ManyError::RotateNeedsInPlace.into());
    }
    if paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(ManyError::Stdin.into());
    }
    let options = RotateOptions {
        input: args.io.formats.input(),
        output: None,
        add: common::key_options(&args.change.as_key_flags(true, &args.kms)),
        remove: common::key_options(&args.change.as_key_flags(false, &args.kms)),
        access: common::key_access(&args.keys),
    };
    super::bulk::rotate(global, paths, args.many.jobs, &options)
}

pub fn updatekeys(global: &GlobalArgs, args: UpdateKeysArgs) -> CliResult<()> {
    if super::bulk::is_many(&args.files) {
        return super::bulk::updatekeys(
            global,
            super::bulk::UpdateKeys {
                paths: &args.files,
                jobs: args.jobs,
                yes: args.yes,
                input: common::format(&args.input_type),
                threshold: args.shamir_secret_sharing_threshold,
                access: common::key_access(&args.keys),
            },
        );
    }
    let engine = common::engine(global)?;
    let access = common::key_access(&args.keys);
    for file in &args.files {
        if file.is_dir() {
            return Err(CliError::Directory);
        }
        let mut source = common::read_source(file)?;
        let plan = key_ops::plan_update(
            &engine,
            &mut source,
            file,
            common::format(&args.input_type),
            args.shamir_secret_sharing_threshold,
        )?;
        let Some(plan) = plan else {
            eprintln!("File {} already up to date", file.display());
            continue;
        };
        common::write_stdout(plan.report.as_bytes())?;
        if !args.yes && !confirm()? {
            eprintln!("File {} left unchanged", file.display());
            continue;
        }
        let out = key_ops::apply_update(plan, &access)?;
        common::write_file(file, &out)?;
        eprintln!("File {} synced with new keys", file.display());
    }
    Ok(())
}

fn confirm() -> CliResult<bool> {
    ask(b"Is this okay? (y/n):")
}

/// Ask `prompt` until the answer is `y` or `n`; no answer (end of input) is an error.
pub(super) fn ask(prompt: &[u8]) -> CliResult<bool> {
    let stdin = std::io::stdin();
    loop {
        common::write_stdout(prompt)?;
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(CliError::Answer)?;
        if n == 0 {
            return Err(CliError::NoAnswer);
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

pub fn groups(global: &GlobalArgs, cmd: GroupsCommand) -> CliResult<()> {
    let engine = common::engine(global)?;
    let (io, out, source) = match cmd {
        GroupsCommand::Add(a) => {
            let io = in_place_io(&a.file, a.in_place);
            let mut source = common::read_input(&io, false)?;
            let keys = common::key_options(&a.new_keys);
            let access = common::key_access(&a.keys);
            let out = key_ops::add_group(&engine, &mut source, &keys, &access)?;
            (io, out, source)
        }
        GroupsCommand::Delete(a) => {
            let io = in_place_io(&a.file, a.in_place);
            let mut source = common::read_input(&io, false)?;
            let access = common::key_access(&a.keys);
            let out = key_ops::delete_group(
                &engine,
                &mut source,
                a.index,
                a.shamir_secret_sharing_threshold,
                &access,
            )?;
            (io, out, source)
        }
    };
    common::write_output(&io, &source, &out)
}

fn in_place_io(file: &std::path::Path, in_place: bool) -> IoArgs {
    IoArgs {
        file: Some(file.to_path_buf()),
        in_place,
        ..IoArgs::default()
    }
}
