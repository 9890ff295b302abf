//! `sepal edit` (also `sepal FILE`): decrypt into a private temporary file, run the editor,
//! re-encrypt what comes back. Unchanged values keep their exact ciphertext.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Args;
use sha2::{Digest, Sha256};

use super::common::{self, CliError, CliResult};
use super::encrypt::{KeyFlags, SelectionFlags};
use super::{DecryptKeyArgs, FormatArgs, GlobalArgs};
use crate::ops::edit::{begin, EditOptions, Editing};
use crate::stores::Parsed;
use crate::wipe::Wiped;

#[derive(Args, Debug, Clone)]
pub struct EditArgs {
    /// The file to edit (created when missing)
    pub file: PathBuf,
    /// Show the sops metadata in the editor buffer
    #[arg(short = 's', long)]
    pub show_master_keys: bool,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub formats: FormatArgs,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub selection: SelectionFlags,
    #[command(flatten)]
    pub decrypt_keys: DecryptKeyArgs,
}

/// The temporary folder of the running edit, removed by the signal handler too.
static TEMP_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Remove the edit's temporary folder when the process is interrupted or terminated.
fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            if let Ok(mut guard) = TEMP_DIR.lock() {
                if let Some(dir) = guard.take() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            eprintln!("User canceled operation");
            std::process::exit(i32::from(crate::ops::codes::GENERIC));
        }
    });
}

/// A private folder for the plaintext: on a RAM-backed file system when there is one.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        bases.push(PathBuf::from(t));
    } else {
        if let Some(r) = std::env::var_os("XDG_RUNTIME_DIR").filter(|t| !t.is_empty()) {
            bases.push(PathBuf::from(r));
        }
        bases.push(PathBuf::from("/dev/shm"));
    }
    bases.push(std::env::temp_dir());
    let mut last = None;
    for b in bases {
        if !b.is_dir() {
            continue;
        }
        match super::write::private_tempdir_builder("sepal-edit-").tempdir_in(&b) {
            Ok(d) => return Ok(d),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary folder is writable")))
}

/// The editor command: `SOPS_EDITOR`, then `EDITOR` (split like a shell), then vim, nano, vi.
fn editor_command() -> CliResult<Vec<String>> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
            let words =
                shell_words::split(&v).map_err(|e| CliError::Editor(format!("{var}: {e}")))?;
            if !words.is_empty() {
                return Ok(words);
            }
        }
    }
    for name in ["vim", "nano", "vi"] {
        if find_in_path(name) {
            return Ok(vec![name.to_string()]);
        }
    }
    Err(CliError::Editor(
        "no editor found: set SOPS_EDITOR or EDITOR".into(),
    ))
}

fn find_in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

fn run_editor(path: &Path) -> CliResult<()> {
    let cmd = editor_command()?;
    let (prog, args) = cmd
        .split_first()
        .ok_or_else(|| CliError::Editor("empty command".into()))?;
    let status = std::process::Command::new(prog)
        .args(args)
        .arg(path)
        .status()
        .map_err(|e| CliError::Editor(format!("{prog:?}: {e}")))?;
    if !status.success() {
        return Err(CliError::Editor(format!("{prog} exited with {status}")));
    }
    Ok(())
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn run(global: &GlobalArgs, args: EditArgs) -> CliResult<()> {
    let engine = common::engine(global)?;
    let options = EditOptions {
        input: args.formats.input(),
        show_master_keys: args.show_master_keys,
        ignore_mac: args.ignore_mac,
        keys: common::key_options(&args.keys),
        selection: common::selection_options(&args.selection),
        access: common::key_access(&args.decrypt_keys),
    };
    let existing = if args.file.exists() {
        Some(common::read_source(&args.file)?)
    } else {
        None
    };
    let (editing, buffer) = begin(&engine, &args.file, existing, &options)?;

    install_signal_cleanup();
    let dir = private_dir().map_err(|e| CliError::Temporary {
        what: "temporary folder".into(),
        source: e,
    })?;
    if let Ok(mut g) = TEMP_DIR.lock() {
        *g = Some(dir.path().to_path_buf());
    }
    let name = args
        .file
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tmp-file"));
    let tmp = dir.path().join(name);
    let result = common::write_new_private(&tmp, &buffer)
        .map_err(|e| CliError::Temporary {
            what: "temporary file".into(),
            source: e,
        })
        .and_then(|()| edit_loop(&tmp, &editing, sha(&buffer)))
        .and_then(|edited| {
            let parsed = edited.ok_or(CliError::FileNotChanged)?;
            let out = editing.finish(parsed)?;
            common::write_file(&args.file, &out)
        });
    if let Ok(mut g) = TEMP_DIR.lock() {
        *g = None;
    }
    // The folder goes on every path; failing to remove it is reported, not hidden.
    if let Err(e) = dir.close() {
        eprintln!("could not remove the temporary folder of the edit: {e}");
    }
    result
}

/// Run the editor until the buffer parses (or is unchanged: `None`). When standard input is not a
/// terminal, a buffer that does not parse is an error instead of a new round in the editor.
fn edit_loop(tmp: &Path, editing: &Editing, before: [u8; 32]) -> CliResult<Option<Parsed>> {
    loop {
        run_editor(tmp)?;
        let bytes = Wiped::new(std::fs::read(tmp).map_err(CliError::ReadEdited)?);
        if sha(&bytes) == before {
            return Ok(None);
        }
        let problem = match editing.check(&bytes) {
            Ok(parsed) => return Ok(Some(parsed)),
            Err(problem) => problem,
        };
        if !std::io::stdin().is_terminal() {
            return Err(CliError::EditedBuffer(problem));
        }
        eprintln!("{problem}");
        eprintln!("Press enter to return to the editor, or Ctrl+C to exit.");
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return Err(CliError::EditedBuffer(problem));
        }
    }
}
