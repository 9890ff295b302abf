//! What a command can fail with beyond the engine's own errors: flags that do not go together,
//! files and streams, the editor, the command run by `exec-*`. Each variant carries its exit
//! code; one table, [`CliError::exit_code`], maps every failure to the code sops uses.

use std::io;

use crate::ops::{self, codes};

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Op(#[from] ops::Error),
    /// The many-file form of a command (`cli/bulk.rs`).
    #[error(transparent)]
    Many(#[from] super::bulk::ManyError),
    #[error("Error: cannot operate on both --output and --in-place")]
    OutputAndInPlace,
    #[error("Error: cannot use --in-place when reading from stdin")]
    InPlaceFromStdin,
    #[error("Error: must specify --filename-override when reading from stdin")]
    StdinNeedsName,
    #[error("Error reading from stdin: {0}")]
    ReadStdin(io::Error),
    #[error("Error: cannot operate on non-existent file \"{0}\"")]
    NoFile(String),
    /// `rotate` on a file that does not exist (sops words and codes it differently).
    #[error("Error reading file: Error: cannot operate on non-existent file \"{0}\"")]
    RotateNoFile(String),
    #[error("Error reading file {path}: {source}")]
    ReadFile { path: String, source: io::Error },
    #[error("Error: {command} takes exactly {count} arguments: {what}")]
    ArgumentCount {
        command: &'static str,
        count: usize,
        what: &'static str,
    },
    #[error("can't operate on a directory")]
    Directory,
    #[error("Could not write output: {0}")]
    Stdout(io::Error),
    #[error("Could not write {path}: {source}")]
    WriteFile { path: String, source: io::Error },
    /// A temporary file or folder (edit buffer, `exec-file`, FIFO) could not be made.
    #[error("could not create {what}: {source}")]
    Temporary { what: String, source: io::Error },
    #[error("could not read the answer: {0}")]
    Answer(io::Error),
    #[error("no answer on standard input; pass -y to update without asking")]
    NoAnswer,
    #[error("File has not changed, exiting.")]
    FileNotChanged,
    #[error("Could not run editor: {0}")]
    Editor(String),
    #[error("Could not read the edited file: {0}")]
    ReadEdited(io::Error),
    #[error("{0}")]
    EditedBuffer(ops::edit::BufferProblem),
    #[error("invalid user name {0:?}")]
    UserName(String),
    #[error("user: unknown user {0}")]
    UnknownUser(String),
    #[error("cannot look up user {name}: could not run getent ({source}); it comes with the C library's tools (Debian: libc-bin)")]
    UserLookup { name: String, source: io::Error },
    #[error("cannot look up user {0}: getent failed or printed no passwd entry")]
    UserLookupFailed(String),
    #[error("--user is not supported on this platform")]
    UserUnsupported,
    #[error("could not run the command: {0}")]
    RunCommand(io::Error),
    #[error("The provided filename is not a local path.")]
    NotLocalFilename,
    #[error("invalid temporary path")]
    TemporaryPath,
    #[error("no FIFOs on this platform, use --no-fifo")]
    NoFifo,
    /// The command run by `exec-env`/`exec-file` failed with this code (nothing is printed).
    #[error("")]
    Child(u8),
    #[error("cannot tell where the age key file goes: set HOME, XDG_CONFIG_HOME or SOPS_AGE_KEY_FILE, or pass --output")]
    NoKeyFileLocation,
    #[error("{0} already exists; sepal never overwrites a key file. Use it as it is, or pass --output to write a new identity elsewhere.")]
    KeyFileExists(String),
    #[error("could not write the manual page: {0}")]
    Manual(io::Error),
    #[error("Error running keyservice: {0}")]
    KeyService(String),
    /// `check` found problems (they are printed already).
    #[error("")]
    CheckFindings,
    /// `check` could not run (a bad flag or setting, no repository, a hook in the way).
    #[error("{0}")]
    CheckUsage(#[from] crate::ops::check::CheckError),
    /// `check` could not load `.sops.yaml` (exit 2, like every reason it cannot run).
    #[error("{0}")]
    CheckConfig(crate::ops::Error),
    /// `check --format json` could not render its report.
    #[error("could not write the report as JSON: {0}")]
    CheckJson(serde_json::Error),
    /// `sepal merge` left conflicts (exit 1, so git reports them). Paths only, never values.
    #[error("CONFLICT (sepal): both branches changed {} in {file}. The file is still encrypted and holds our values there; resolve with `sepal edit {file}`, then `git add {file}`", paths.join(", "))]
    MergeConflicts { file: String, paths: Vec<String> },
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        use codes::*;
        match self {
            CliError::Op(e) => e.exit_code(),
            CliError::Many(e) => e.exit_code(),
            CliError::OutputAndInPlace | CliError::InPlaceFromStdin | CliError::StdinNeedsName => {
                CONFLICTING_PARAMETERS
            }
            CliError::ReadStdin(_)
            | CliError::RotateNoFile(_)
            | CliError::ReadFile { .. }
            | CliError::ReadEdited(_)
            | CliError::EditedBuffer(_) => READ_INPUT,
            CliError::NoFile(_) | CliError::ArgumentCount { .. } => NO_FILE,
            CliError::Stdout(_)
            | CliError::WriteFile { .. }
            | CliError::Temporary { .. }
            | CliError::Manual(_) => WRITE_OUTPUT,
            CliError::FileNotChanged => FILE_NOT_CHANGED,
            CliError::Editor(_) => NO_EDITOR,
            CliError::Child(code) => *code,
            CliError::CheckFindings => 1,
            CliError::CheckUsage(_) | CliError::CheckConfig(_) | CliError::CheckJson(_) => 2,
            CliError::Directory
            | CliError::Answer(_)
            | CliError::NoAnswer
            | CliError::UserName(_)
            | CliError::UnknownUser(_)
            | CliError::UserLookup { .. }
            | CliError::UserLookupFailed(_)
            | CliError::UserUnsupported
            | CliError::RunCommand(_)
            | CliError::NotLocalFilename
            | CliError::TemporaryPath
            | CliError::NoFifo
            | CliError::NoKeyFileLocation
            | CliError::KeyFileExists(_)
            | CliError::KeyService(_)
            | CliError::MergeConflicts { .. } => GENERIC,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;
