//! What the commands share: flags turned into the engine's options, reading the input (a file
//! or standard input), and writing results (standard output, or a file replaced atomically).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::encrypt::{KeyFlags, SelectionFlags};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::config::absolute;
use crate::filebytes::FileBytes;
use crate::ops::settings::{KeyOptions, SelectionOptions};
use crate::ops::{Engine, KeyAccess, Source};
use crate::stores::Format;
use crate::wipe::Wiped;

use super::early::{EarlyStdout, Finished};
pub use super::error::{CliError, CliResult};

/// The engine with `.sops.yaml` and the global flags.
pub fn engine(global: &GlobalArgs) -> CliResult<Engine> {
    Ok(Engine::load(
        global.config.as_deref(),
        global.indent,
        global.mac_only_encrypted,
    )?)
}

/// A `--input-type`/`--output-type` word; an unknown word falls back to the file name, as in sops.
pub fn format(word: &Option<String>) -> Option<Format> {
    word.as_deref().and_then(Format::from_name)
}

/// How to reach the master keys, from the flags.
pub fn key_access(args: &DecryptKeyArgs) -> KeyAccess {
    KeyAccess {
        decryption_order: args.decryption_order.clone(),
        keyservices: args.keyservice.clone(),
        local: args.enable_local_keyservice,
    }
}

/// A comma-separated flag as a list.
fn items(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Master keys named by flags.
pub fn key_options(f: &KeyFlags) -> KeyOptions {
    KeyOptions {
        age: items(&f.age),
        pgp: items(&f.pgp),
        kms: items(&f.kms),
        gcp_kms: items(&f.gcp_kms),
        azure_kv: items(&f.azure_kv),
        hc_vault_transit: items(&f.hc_vault_transit),
        hckms: items(&f.hckms),
        aws_profile: f.aws_profile.clone(),
        encryption_context: f.encryption_context.clone(),
        shamir_threshold: f.shamir_secret_sharing_threshold,
    }
}

/// The selection flags.
pub fn selection_options(f: &SelectionFlags) -> SelectionOptions {
    SelectionOptions {
        unencrypted_suffix: f.unencrypted_suffix.clone(),
        encrypted_suffix: f.encrypted_suffix.clone(),
        unencrypted_regex: f.unencrypted_regex.clone(),
        encrypted_regex: f.encrypted_regex.clone(),
        unencrypted_comment_regex: f.unencrypted_comment_regex.clone(),
        encrypted_comment_regex: f.encrypted_comment_regex.clone(),
    }
}

/// Check the output flags and read the input (a file, or stdin when no file is named).
pub fn read_input(io: &IoArgs, stdin_needs_name: bool) -> CliResult<Source> {
    read_input_with(io, stdin_needs_name, false)
}

/// [`read_input`] for a command that reads its input once and writes its output after the last
/// reading (`encrypt`, `decrypt`): a large file is mapped ([`FileBytes::map_or_read`]).
pub fn read_input_once(io: &IoArgs, stdin_needs_name: bool) -> CliResult<Source> {
    read_input_with(io, stdin_needs_name, true)
}

fn read_input_with(io: &IoArgs, stdin_needs_name: bool, map: bool) -> CliResult<Source> {
    if io.in_place && io.output.is_some() {
        return Err(CliError::OutputAndInPlace);
    }
    let path = io.file.clone().filter(|p| p.as_os_str() != "-");
    let Some(p) = path else {
        if io.in_place {
            return Err(CliError::InPlaceFromStdin);
        }
        if stdin_needs_name && io.filename_override.is_none() && io.formats.input_type.is_none() {
            return Err(CliError::StdinNeedsName);
        }
        let mut buf = Wiped::new(Vec::new());
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(CliError::ReadStdin)?;
        return Ok(Source {
            path: None,
            name: io.filename_override.clone(),
            bytes: buf.into(),
        });
    };
    let bytes = if map {
        read_file_with(&p, FileBytes::map_or_read)?
    } else {
        read_file(&p)?.into()
    };
    Ok(Source {
        name: Some(io.filename_override.clone().unwrap_or_else(|| p.clone())),
        bytes,
        path: Some(p),
    })
}

/// A named file's bytes (exit 100 when it does not exist).
pub fn read_file(path: &Path) -> CliResult<Wiped<Vec<u8>>> {
    read_file_with(path, |p| std::fs::read(p).map(Wiped::new))
}

/// The file at `path` as `read` gives it (exit 100 when it does not exist).
fn read_file_with<T>(path: &Path, read: impl FnOnce(&Path) -> std::io::Result<T>) -> CliResult<T> {
    if !path.exists() {
        return Err(CliError::NoFile(absolute(path).display().to_string()));
    }
    read(path).map_err(|e| CliError::ReadFile {
        path: path.display().to_string(),
        source: e,
    })
}

/// A named file as a [`Source`] (its own name for detection and rules).
pub fn read_source(path: &Path) -> CliResult<Source> {
    Ok(Source {
        bytes: read_file(path)?.into(),
        path: Some(path.to_path_buf()),
        name: Some(path.to_path_buf()),
    })
}

/// Write to standard output; a closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Stdout(e)),
    }
}

/// Where a command's result goes: back into the file (`-i`), `--output`, or standard output.
pub fn write_output(io: &IoArgs, source: &Source, bytes: &[u8]) -> CliResult<()> {
    match target(io, source) {
        None => write_stdout(bytes),
        Some(path) => write_file(&path, bytes),
    }
}

/// The file a command's result replaces (`None`: standard output).
fn target(io: &IoArgs, source: &Source) -> Option<std::path::PathBuf> {
    if io.in_place {
        source.path.clone()
    } else {
        io.output.clone()
    }
}

/// Standard output as a destination an operation may write early, when the result goes there.
pub fn early_output(io: &IoArgs, source: &Source) -> Option<Arc<EarlyStdout>> {
    target(io, source)
        .is_none()
        .then(|| Arc::new(EarlyStdout::default()))
}

/// [`write_output`] of a result that `early` may hold already.
pub fn write_output_after(
    io: &IoArgs,
    source: &Source,
    bytes: &[u8],
    early: Option<&EarlyStdout>,
) -> CliResult<()> {
    match early.map(|early| early.finish(bytes)).transpose() {
        Ok(Some(Finished::Written)) => Ok(()),
        Ok(_) => write_output(io, source, bytes),
        Err(e) => Err(CliError::Stdout(e)),
    }
}

/// Replace a file atomically (see [`super::write`]).
pub fn write_file(path: &Path, bytes: &[u8]) -> CliResult<()> {
    super::write::write_atomic(path, bytes).map_err(|e| CliError::WriteFile {
        path: path.display().to_string(),
        source: e,
    })
}

/// Create a new file readable only by its owner (0600 on Unix) holding `bytes`; fails if the file
/// exists. For plaintext (edit buffers, `exec-file`) and key files.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
