//! The `sepal` command line: the same words, flags, environment variables and exit codes as sops.

mod bulk;
mod check;
mod common;
mod decrypt;
mod deferred;
mod early;
mod edit;
mod encrypt;
mod error;
mod exec;
mod git;
mod keygen;
mod keys;
#[cfg(feature = "keyservice")]
mod keyservice;
mod legacy;
mod merge;
mod naming;
mod set;
mod write;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use deferred::Deferred;

pub use error::{CliError, CliResult};

/// Exit codes, as sops uses them.
pub use crate::ops::codes;

#[derive(Parser, Debug)]
#[command(
    name = "sepal",
    version = concat!(env!("CARGO_PKG_VERSION"), " (sops 3.13.2 compatible)"),
    about = "Keep secrets encrypted inside the files you commit (sops 3.x compatible)",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags sops takes before the command name (sepal also accepts them after it).
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Path to the .sops.yaml configuration (disables the upward search)
    #[arg(long, global = true, env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Indentation for YAML, JSON and binary output
    #[arg(long, global = true, allow_negative_numbers = true)]
    pub indent: Option<i64>,
    /// Compute the MAC over encrypted values only
    #[arg(long, global = true)]
    pub mac_only_encrypted: bool,
    /// More logging
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Accepted for compatibility (sepal never checks for updates)
    #[arg(
        long,
        global = true,
        env = "SOPS_DISABLE_VERSION_CHECK",
        hide = true,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub disable_version_check: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Encrypt a file (to stdout unless -i or --output)
    Encrypt(Deferred<encrypt::EncryptArgs>),
    /// Decrypt a file (to stdout unless -i or --output)
    Decrypt(Deferred<decrypt::DecryptArgs>),
    /// Create an age identity in the default key file and print its recipient
    Keygen(Deferred<keygen::KeygenArgs>),
    /// Edit an encrypted file in $EDITOR (creates it when missing)
    Edit(Deferred<edit::EditArgs>),
    /// Run a command with the decrypted top-level values as environment variables
    ExecEnv(Deferred<exec::ExecEnvArgs>),
    /// Run a command with the decrypted file in a FIFO or temporary file ({} is its path)
    ExecFile(Deferred<exec::ExecFileArgs>),
    /// Print {"encrypted":true} or {"encrypted":false}
    Filestatus(Deferred<FilestatusArgs>),
    /// Set the value at a path, e.g. sepal set f.yaml '["a"]["b"]' '"value"'
    // The text is `--help`'s: its brackets are a path, not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    Set(Deferred<set::SetArgs>),
    /// Remove the value at a path
    Unset(Deferred<set::UnsetArgs>),
    /// Re-encrypt a file with a new data key (optionally adding or removing master keys)
    Rotate(Deferred<keys::RotateArgs>),
    /// Sync a file's master keys and Shamir threshold with .sops.yaml
    Updatekeys(Deferred<keys::UpdateKeysArgs>),
    /// Add or delete key groups
    #[command(subcommand)]
    Groups(keys::GroupsCommand),
    /// Serve the local master keys to other machines (sops key service, gRPC)
    #[cfg(feature = "keyservice")]
    Keyservice(Deferred<keyservice::KeyserviceArgs>),
    /// Print the text git diffs for a file (git's diff.sepal.textconv): decrypted, or with markers without the keys
    Textconv(Deferred<git::TextconvArgs>),
    /// Configure git's diff and merge drivers and .gitattributes for the files .sops.yaml covers
    GitSetup(Deferred<git::GitSetupArgs>),
    /// Check the repository without any key: files that must be encrypted, recipients, values
    /// in clear, secrets outside encrypted files, key age (for pre-commit hooks and CI)
    Check(Deferred<check::CheckArgs>),
    /// git merge driver: merge.<name>.driver = "sepal merge %O %A %B %P"
    // The text is `--help`'s: `<name>` is a placeholder, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    Merge(Deferred<merge::MergeArgs>),
    /// Print a shell completion script
    Completion(Deferred<CompletionArgs>),
    /// Print the manual page (roff)
    #[command(hide = true)]
    Man,
}

#[derive(Args, Debug, Clone)]
pub struct CompletionArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

/// Parse the command line: subcommands first, then the legacy single-command form.
pub fn parse_args(args: Vec<std::ffi::OsString>) -> Cli {
    match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) || legacy::names_subcommand(&args)
            {
                e.exit();
            }
            match legacy::parse(&args) {
                Ok(c) => c,
                Err(le) => {
                    if args.len() <= 1 {
                        e.exit();
                    }
                    if le.kind() == ErrorKind::MissingRequiredArgument {
                        eprint!("{le}");
                        std::process::exit(i32::from(codes::NO_FILE));
                    }
                    le.exit()
                }
            }
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct FilestatusArgs {
    /// The file to check; with two or more paths, or a folder, one line per file and a total
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// With several files: one JSON object per line ({"file":…,"encrypted":…}), then the total
    #[arg(long)]
    pub json: bool,
    /// How many files are read at once (default: the processors, at most 16)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Input format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

/// Input and output flags shared by most commands.
#[derive(Args, Debug, Clone, Default)]
pub struct IoArgs {
    /// The file to read; standard input when omitted
    pub file: Option<PathBuf>,
    /// Write the result back to the input file
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub formats: FormatArgs,
    /// Use this name for format detection and creation rule matching
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<PathBuf>,
}

/// `--input-type` and `--output-type`, for every command that reads and writes a file.
#[derive(Args, Debug, Clone, Default)]
pub struct FormatArgs {
    /// Input format: yaml, json, dotenv, ini, toml or binary (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (default: from the file name; for exec-file, the input format)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
}

impl FormatArgs {
    /// The input format asked for; an unknown word falls back to the file name, as in sops.
    pub fn input(&self) -> Option<crate::stores::Format> {
        common::format(&self.input_type)
    }

    pub fn output(&self) -> Option<crate::stores::Format> {
        common::format(&self.output_type)
    }
}

/// Flags that tell how to find the data key.
#[derive(Args, Debug, Clone, Default)]
pub struct DecryptKeyArgs {
    /// Order in which key types are tried, e.g. age,pgp
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
    /// Key service to use besides the local keys, e.g. tcp://host:5000 or unix:///path
    /// (repeatable; SOPS_KEYSERVICE takes a comma-separated list)
    #[arg(
        long,
        env = "SOPS_KEYSERVICE",
        value_name = "URI",
        value_delimiter = ','
    )]
    pub keyservice: Vec<String>,
    /// Use the keys available on this machine
    #[arg(
        long,
        env = "SOPS_ENABLE_LOCAL_KEYSERVICE",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub enable_local_keyservice: bool,
}

/// Keep decrypted values out of core dumps, for the whole process and whatever it was doing:
/// on Unix the core size limit is set to 0 (soft and hard, so children inherit it and cannot
/// raise it), and on Linux the process is marked not dumpable, which also keeps other processes
/// of the same user from reading its memory through /proc or ptrace. A program run by `exec-env`,
/// `exec-file` or `edit` is dumpable again after exec (the kernel resets the flag), and the
/// process keeps full access to its own /proc/self. Failures are ignored: lowering a limit is
/// always permitted, and there is nothing better to do without it.
pub fn disable_core_dumps() {
    #[cfg(unix)]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid pointer to an initialised rlimit.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
        }
    }
    #[cfg(target_os = "linux")]
    {
        let off: libc::c_ulong = 0;
        // SAFETY: PR_SET_DUMPABLE takes one integer argument.
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, off, off, off, off);
        }
    }
}

/// Run the command line; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    let file = naming::file_of(&cli.command);
    let result = match cli.command {
        Command::Encrypt(Deferred(a)) => encrypt::run(&cli.global, a),
        Command::Decrypt(Deferred(a)) => decrypt::run(&cli.global, a),
        Command::Keygen(Deferred(a)) => keygen::run(a),
        Command::Edit(Deferred(a)) => edit::run(&cli.global, a),
        Command::ExecEnv(Deferred(a)) => exec::exec_env(&cli.global, a),
        Command::ExecFile(Deferred(a)) => exec::exec_file(&cli.global, a),
        Command::Filestatus(Deferred(a)) => exec::filestatus(&cli.global, a),
        Command::Set(Deferred(a)) => set::run_set(&cli.global, a),
        Command::Unset(Deferred(a)) => set::run_unset(&cli.global, a),
        Command::Textconv(Deferred(a)) => git::textconv_run(&cli.global, a),
        Command::GitSetup(Deferred(a)) => git::git_setup_run(&cli.global, a),
        Command::Completion(Deferred(a)) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "sepal", &mut buf);
            common::write_stdout(&buf)
        }
        Command::Man => {
            use clap::CommandFactory;
            let man = clap_mangen::Man::new(Cli::command());
            let mut buf = Vec::new();
            man.render(&mut buf)
                .map_err(CliError::Manual)
                .and_then(|_| common::write_stdout(&buf))
        }
        Command::Check(Deferred(a)) => check::run(&cli.global, a),
        Command::Rotate(Deferred(a)) => keys::rotate(&cli.global, a),
        Command::Updatekeys(Deferred(a)) => keys::updatekeys(&cli.global, a),
        Command::Groups(c) => keys::groups(&cli.global, c),
        Command::Merge(Deferred(a)) => merge::run(&cli.global, a),
        #[cfg(feature = "keyservice")]
        Command::Keyservice(Deferred(a)) => keyservice::run(&cli.global, a),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let message = e.to_string();
            if !message.is_empty() {
                report(&naming::with_file(&message, file.as_deref()));
            }
            e.exit_code()
        }
    }
}

/// Print an error on standard error; a closed standard error is not worth a panic.
fn report(message: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    // Nothing is left to tell the user if standard error is gone; the exit code still says it.
    writeln!(err, "{message}").ok();
}
