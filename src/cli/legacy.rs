//! The single-command form older scripts use: `sepal -d f`, `sepal -e -i f`, `sepal -r f`,
//! `sepal --set '["a"] "v"' f`, and `sepal f` (edit). Translated into the subcommands.

use std::ffi::OsString;

use clap::Parser;

use super::decrypt::DecryptArgs;
use super::edit::EditArgs;
use super::encrypt::{EncryptArgs, KeyFlags, SelectionFlags};
use super::keys::{KmsExtras, RotateArgs, RotateKeyFlags};
use super::set::SetArgs;
use super::Deferred;
use super::{Cli, Command, DecryptKeyArgs, GlobalArgs, IoArgs};

#[derive(Parser, Debug)]
#[command(name = "sepal", disable_version_flag = true)]
struct Legacy {
    #[command(flatten)]
    global: GlobalArgs,
    /// Decrypt the file
    #[arg(short = 'd', long)]
    decrypt: bool,
    /// Encrypt the file
    #[arg(short = 'e', long)]
    encrypt: bool,
    /// Rotate the data key
    #[arg(short = 'r', long)]
    rotate: bool,
    /// Set a value: '<path> <json value>'
    #[arg(long, value_name = "PATH VALUE")]
    set: Option<String>,
    /// Show the metadata in the editor
    #[arg(short = 's', long)]
    show_master_keys: bool,
    /// With -d: print only the value at this path
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,
    /// Do not check the MAC
    #[arg(long)]
    ignore_mac: bool,
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    keys: KeyFlags,
    #[command(flatten)]
    selection: SelectionFlags,
    #[command(flatten)]
    change: RotateKeyFlags,
    #[command(flatten)]
    decrypt_keys: DecryptKeyArgs,
}

/// Parse the legacy form into the equivalent subcommand.
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let l = Legacy::try_parse_from(args)?;
    if l.io.file.is_none() {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            "Error: no file specified\n",
        ));
    }
    let command = if l.encrypt {
        Command::Encrypt(Deferred(EncryptArgs {
            io: l.io,
            keys: l.keys,
            selection: l.selection,
            services: l.decrypt_keys,
        }))
    } else if l.decrypt {
        Command::Decrypt(Deferred(DecryptArgs {
            io: l.io,
            keys: l.decrypt_keys,
            extract: l.extract,
            ignore_mac: l.ignore_mac,
            check: false,
            many: Default::default(),
        }))
    } else if l.rotate {
        Command::Rotate(Deferred(RotateArgs {
            io: l.io,
            keys: l.decrypt_keys,
            change: l.change,
            kms: KmsExtras {
                aws_profile: l.keys.aws_profile,
                encryption_context: l.keys.encryption_context,
            },
            many: Default::default(),
        }))
    } else if let Some(set) = l.set {
        // '<path> <value>', split after the path's last ']'.
        let (path, value) = match set.find("] ") {
            Some(i) => (set[..=i].to_string(), set[i + 2..].to_string()),
            None => (set.clone(), String::new()),
        };
        let file =
            l.io.file
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
        Command::Set(Deferred(SetArgs {
            args: vec![file, path, value],
            value_file: false,
            value_stdin: false,
            idempotent: false,
            ignore_mac: l.ignore_mac,
            formats: l.io.formats,
            shamir_secret_sharing_threshold: None,
            keys: l.decrypt_keys,
        }))
    } else {
        let Some(file) = l.io.file else {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::MissingRequiredArgument,
                "Error: no file specified\n",
            ));
        };
        Command::Edit(Deferred(EditArgs {
            file,
            show_master_keys: l.show_master_keys,
            ignore_mac: l.ignore_mac,
            formats: l.io.formats,
            keys: l.keys,
            selection: l.selection,
            decrypt_keys: l.decrypt_keys,
        }))
    };
    Ok(Cli {
        global: l.global,
        command,
    })
}

/// Whether the arguments name a subcommand (so their parse error is the one to show).
pub fn names_subcommand(args: &[OsString]) -> bool {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .flat_map(|s| {
            std::iter::once(s.get_name().to_string()).chain(s.get_all_aliases().map(String::from))
        })
        .collect();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" || a == "--indent" {
            it.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        return names.iter().any(|n| *n == a);
    }
    false
}
