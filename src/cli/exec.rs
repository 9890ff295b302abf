//! `exec-env` and `exec-file`: run a command with the decrypted values, never writing plaintext
//! anywhere but a FIFO (or a 0600 file in a private folder with `--no-fifo`), removed afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use super::codes;
use super::common::{self, CliError, CliResult};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::metadata::flat::scalar_text;
use crate::stores::apply_changes;
use crate::tree::{Item, Value};

#[derive(Args, Debug, Clone)]
pub struct ExecEnvArgs {
    /// The encrypted file
    pub file: PathBuf,
    /// The command, run with /bin/sh -c
    pub command: String,
    /// Pass only the decrypted values, not this process's environment
    #[arg(long)]
    pub pristine: bool,
    /// Run the command as this user
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Accepted for compatibility; sepal always waits for the command
    #[arg(long, hide = true)]
    pub background: bool,
    /// Replace this process with the command
    #[arg(long)]
    pub same_process: bool,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    /// Input format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ExecFileArgs {
    /// The encrypted file
    pub file: PathBuf,
    /// The command, run with /bin/sh -c; `{}` becomes the decrypted file's path
    pub command: String,
    /// Use a regular 0600 file instead of a FIFO
    #[arg(long)]
    pub no_fifo: bool,
    /// Run the command as this user
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Accepted for compatibility; sepal always waits for the command
    #[arg(long, hide = true)]
    pub background: bool,
    /// Name of the temporary file (a relative local path)
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    /// Input format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Format of the decrypted file (default: the input format)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

/// Environment additions and the uid/gid for `--user`.
struct RunAs {
    env: Vec<(String, String)>,
    #[cfg(unix)]
    ids: Option<(u32, u32)>,
}

#[cfg(unix)]
fn lookup_user(name: &str) -> CliResult<RunAs> {
    use std::ffi::{CStr, CString};
    let c = CString::new(name)
        .map_err(|_| CliError::new(codes::GENERIC, format!("invalid user name {name:?}")))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy what we need at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(CliError::new(
            codes::GENERIC,
            format!("user: unknown user {name}"),
        ));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid, home) = unsafe {
        let p = &*pw;
        (
            p.pw_uid,
            p.pw_gid,
            CStr::from_ptr(p.pw_dir).to_string_lossy().into_owned(),
        )
    };
    Ok(RunAs {
        env: vec![
            ("HOME".into(), home),
            ("USER".into(), name.into()),
            ("LOGNAME".into(), name.into()),
        ],
        ids: Some((uid, gid)),
    })
}

#[cfg(not(unix))]
fn lookup_user(_name: &str) -> CliResult<RunAs> {
    Err(CliError::new(
        codes::GENERIC,
        "--user is not supported on this platform",
    ))
}

fn shell(
    command: &str,
    pristine: bool,
    env: &[(String, String)],
    run_as: Option<&RunAs>,
) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    if pristine {
        cmd.env_clear();
    }
    if let Some(r) = run_as {
        for (k, v) in &r.env {
            cmd.env(k, v);
        }
        #[cfg(unix)]
        if let Some((uid, gid)) = r.ids {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run and return the child's exit code (128 + signal when it was killed).
fn wait(mut cmd: Command) -> CliResult<u8> {
    let status = cmd
        .status()
        .map_err(|e| CliError::new(codes::GENERIC, format!("could not run the command: {e}")))?;
    if let Some(c) = status.code() {
        return Ok(u8::try_from(c).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return Ok(u8::try_from(128 + sig).unwrap_or(1));
        }
    }
    Ok(1)
}

fn child_exit(code: u8) -> CliResult<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::new(code, String::new()))
    }
}

pub fn exec_env(global: &GlobalArgs, args: ExecEnvArgs) -> CliResult<()> {
    let io = IoArgs {
        file: Some(args.file.clone()),
        input_type: args.input_type.clone(),
        ..IoArgs::default()
    };
    let input = common::read_input(&io, false)?;
    let (format, _) = common::formats(&io, &input);
    let config = common::load_config(global)?;
    let store = common::store(&config, global, format);
    let parsed = common::parse(&store, &input)?;
    let dec = common::decrypt_for_output(&parsed, &input, &args.keys, args.ignore_mac)?;
    let tree = apply_changes(&parsed.tree, &dec.changes);
    let mut env = Vec::new();
    for item in tree.docs.first().map(|d| d.items.as_slice()).unwrap_or(&[]) {
        let Item::Pair { key, value } = item else {
            continue;
        };
        let Value::Leaf(leaf) = value else {
            return Err(CliError::new(
                codes::GENERIC,
                format!("cannot use complex value in environment; offending key {key}"),
            ));
        };
        if key.contains('=') {
            return Err(CliError::new(
                codes::GENERIC,
                format!("cannot use keys with '=' in environment: {key}"),
            ));
        }
        env.push((
            key.clone(),
            scalar_text(&leaf.value).unwrap_or_else(|| "<nil>".into()),
        ));
    }
    let run_as = args.user.as_deref().map(lookup_user).transpose()?;
    let mut cmd = shell(&args.command, args.pristine, &env, run_as.as_ref());
    if args.same_process {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            let e = cmd.exec();
            return Err(CliError::new(
                codes::GENERIC,
                format!("could not run the command: {e}"),
            ));
        }
    }
    child_exit(wait(cmd)?)
}

/// `--filename` must be a local relative path.
fn check_filename(name: &str) -> CliResult<()> {
    let p = Path::new(name);
    let local = !p.is_absolute()
        && !name.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !local {
        return Err(CliError::new(
            codes::GENERIC,
            "The provided filename is not a local path.",
        ));
    }
    Ok(())
}

pub fn exec_file(global: &GlobalArgs, args: ExecFileArgs) -> CliResult<()> {
    if let Some(n) = &args.filename {
        check_filename(n)?;
    }
    let io = IoArgs {
        file: Some(args.file.clone()),
        input_type: args.input_type.clone(),
        output_type: args.output_type.clone(),
        ..IoArgs::default()
    };
    let input = common::read_input(&io, false)?;
    let (in_format, out_format) = common::formats(&io, &input);
    let config = common::load_config(global)?;
    let in_store = common::store(&config, global, in_format);
    let out_store = common::store(&config, global, out_format);
    let parsed = common::parse(&in_store, &input)?;
    let dec = common::decrypt_for_output(&parsed, &input, &args.keys, args.ignore_mac)?;
    let dump = |e: crate::stores::StoreError| {
        CliError::new(codes::DUMP_TREE, format!("Error dumping file: {e}"))
    };
    let plain = zeroize::Zeroizing::new(if in_format == out_format {
        in_store
            .splice_plain(&parsed, &dec.changes, None)
            .map_err(dump)?
    } else {
        out_store
            .emit(&apply_changes(&parsed.tree, &dec.changes), None)
            .map_err(dump)?
    });

    let dir = super::write::private_tempdir_builder(".sepal")
        .tempdir()
        .map_err(|e| {
            CliError::new(
                codes::WRITE_OUTPUT,
                format!("could not create a temporary folder: {e}"),
            )
        })?;
    let name = args.filename.clone().unwrap_or_else(|| "tmp-file".into());
    let path = dir.path().join(&name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            CliError::new(
                codes::WRITE_OUTPUT,
                format!("could not create {}: {e}", parent.display()),
            )
        })?;
    }
    let fifo = !args.no_fifo && cfg!(unix);
    let writer = if fifo {
        make_fifo(&path)?;
        let p = path.clone();
        let data = plain.clone();
        Some(std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
                let _ = f.write_all(&data);
            }
        }))
    } else {
        common::write_new_private(&path, &plain).map_err(|e| {
            CliError::new(
                codes::WRITE_OUTPUT,
                format!("could not write the temporary file: {e}"),
            )
        })?;
        None
    };
    let command = args.command.replace("{}", &path.to_string_lossy());
    let run_as = args.user.as_deref().map(lookup_user).transpose()?;
    let code = wait(shell(&command, false, &[], run_as.as_ref()));
    if let Some(w) = writer {
        // If the command never opened the FIFO, open it for reading once so the writer finishes.
        if !w.is_finished() {
            let _ =
                std::fs::File::open(&path).map(|mut f| std::io::copy(&mut f, &mut std::io::sink()));
        }
        let _ = w.join();
    }
    drop(dir);
    child_exit(code?)
}

#[cfg(unix)]
fn make_fifo(path: &Path) -> CliResult<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| CliError::new(codes::GENERIC, "invalid temporary path"))?;
    // SAFETY: c is a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        return Err(CliError::new(
            codes::WRITE_OUTPUT,
            format!(
                "could not create a FIFO: {}",
                std::io::Error::last_os_error()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_fifo(_path: &Path) -> CliResult<()> {
    Err(CliError::new(
        codes::GENERIC,
        "no FIFOs on this platform, use --no-fifo",
    ))
}

/// `filestatus`: `{"encrypted":true}` when the file has sops metadata with a version and a MAC.
pub fn filestatus(global: &GlobalArgs, io: IoArgs) -> CliResult<()> {
    let input = common::read_input(&io, false)?;
    let (format, _) = common::formats(&io, &input);
    let config = common::load_config(global)?;
    let store = common::store(&config, global, format);
    let encrypted = match store.parse(&input.bytes) {
        Ok(p) => p.metadata.as_ref().is_some_and(|m| {
            let f = |name: &str| match m {
                Value::Map(items) => crate::tree::get(items, name)
                    .and_then(|v| match v {
                        Value::Leaf(l) => scalar_text(&l.value),
                        _ => None,
                    })
                    .is_some_and(|t| !t.is_empty()),
                _ => false,
            };
            f("version") && f("mac")
        }),
        // sops exits 1 when the file does not parse.
        Err(e) => {
            return Err(CliError::new(
                codes::GENERIC,
                format!("Error unmarshalling file {}: {e}", input.display()),
            ))
        }
    };
    common::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())
}
