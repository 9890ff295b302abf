//! `exec-env` and `exec-file`: run a command with the decrypted values, never writing plaintext
//! anywhere but a FIFO (or a 0600 file in a private folder with `--no-fifo`), removed afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use super::common::{self, CliError, CliResult};
use super::{DecryptKeyArgs, FormatArgs, GlobalArgs};
use crate::ops::exec::{environment, plaintext, EnvVar, ExecOptions};

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
    #[command(flatten)]
    pub formats: FormatArgs,
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
impl RunAs {
    /// Run as the account `name`: its ids, and its home and name in the environment.
    fn account(name: &str, uid: u32, gid: u32, home: String) -> RunAs {
        RunAs {
            env: vec![
                ("HOME".into(), home),
                ("USER".into(), name.into()),
                ("LOGNAME".into(), name.into()),
            ],
            ids: Some((uid, gid)),
        }
    }
}

/// The account's entry in the system's user database, through `getent passwd` rather than
/// `getpwnam` on glibc: `sepal` is a static executable where the build allows (build.rs), and
/// glibc's user database inside one can read only `/etc/passwd` safely: the other sources
/// `nsswitch.conf` may name (systemd's, LDAP's) are shared libraries that glibc would load into
/// it, which crashes. `getent` asks every source, as a dynamic `getpwnam` would.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn lookup_user(name: &str) -> CliResult<RunAs> {
    if name.is_empty() || name.contains(['\0', '\n', ':']) {
        return Err(CliError::UserName(name.to_string()));
    }
    let out = Command::new("getent")
        .args(["passwd", "--", name])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|source| CliError::UserLookup {
            name: name.to_string(),
            source,
        })?;
    // getent's exit code 2: no such entry.
    if out.status.code() == Some(2) {
        return Err(CliError::UnknownUser(name.to_string()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let entry = passwd_entry(text.lines().next().unwrap_or_default());
    match entry {
        // getent also looks a number up as a user id; getpwnam (and sops) take names only.
        Some(entry) if out.status.success() && entry.name == name => Ok(RunAs::account(
            name,
            entry.uid,
            entry.gid,
            entry.home.to_string(),
        )),
        Some(_) if out.status.success() => Err(CliError::UnknownUser(name.to_string())),
        _ => Err(CliError::UserLookupFailed(name.to_string())),
    }
}

/// The fields of a `passwd` line that `--user` uses.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

/// Reads `name:password:uid:gid:gecos:home:shell`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn passwd_entry(line: &str) -> Option<PasswdEntry<'_>> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _, uid, gid, _, home, _] = fields[..] else {
        return None;
    };
    Some(PasswdEntry {
        name,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        home,
    })
}

/// The account's entry in the system's user database (other Unix systems: `getpwnam`, which
/// their dynamically linked C libraries serve from every source).
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
fn lookup_user(name: &str) -> CliResult<RunAs> {
    use std::ffi::{CStr, CString};
    let c = CString::new(name).map_err(|_| CliError::UserName(name.to_string()))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy what we need at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(CliError::UnknownUser(name.to_string()));
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
    Ok(RunAs::account(name, uid, gid, home))
}

#[cfg(not(unix))]
fn lookup_user(_name: &str) -> CliResult<RunAs> {
    Err(CliError::UserUnsupported)
}

fn shell(command: &str, pristine: bool, env: &[EnvVar], run_as: Option<&RunAs>) -> Command {
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
    for var in env {
        cmd.env(&var.name, var.value.as_str());
    }
    cmd
}

/// Run and return the child's exit code (128 + signal when it was killed).
fn wait(mut cmd: Command) -> CliResult<u8> {
    let status = cmd.status().map_err(CliError::RunCommand)?;
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
        Err(CliError::Child(code))
    }
}

pub fn exec_env(global: &GlobalArgs, args: ExecEnvArgs) -> CliResult<()> {
    let mut source = common::read_source(&args.file)?;
    let engine = common::engine(global)?;
    let options = ExecOptions {
        input: common::format(&args.input_type),
        output: None,
        ignore_mac: args.ignore_mac,
        access: common::key_access(&args.keys),
    };
    let env = environment(&engine, &mut source, &options)?;
    let run_as = args.user.as_deref().map(lookup_user).transpose()?;
    let mut cmd = shell(&args.command, args.pristine, &env, run_as.as_ref());
    drop(env);
    if args.same_process {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            return Err(CliError::RunCommand(cmd.exec()));
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
        return Err(CliError::NotLocalFilename);
    }
    Ok(())
}

pub fn exec_file(global: &GlobalArgs, args: ExecFileArgs) -> CliResult<()> {
    if let Some(n) = &args.filename {
        check_filename(n)?;
    }
    let mut source = common::read_source(&args.file)?;
    let engine = common::engine(global)?;
    let options = ExecOptions {
        input: args.formats.input(),
        output: args.formats.output(),
        ignore_mac: args.ignore_mac,
        access: common::key_access(&args.keys),
    };
    let plain = plaintext(&engine, &mut source, &options)?;

    let dir = super::write::private_tempdir_builder(".sepal")
        .tempdir()
        .map_err(|e| CliError::Temporary {
            what: "a temporary folder".into(),
            source: e,
        })?;
    let name = args.filename.clone().unwrap_or_else(|| "tmp-file".into());
    let path = dir.path().join(&name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CliError::Temporary {
            what: parent.display().to_string(),
            source: e,
        })?;
    }
    let fifo = !args.no_fifo && cfg!(unix);
    let writer = if fifo {
        make_fifo(&path)?;
        let p = path.clone();
        let data = plain.clone();
        Some(std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
                // The command may stop reading early (it closes the FIFO): not an error.
                f.write_all(&data).ok();
            }
        }))
    } else {
        common::write_new_private(&path, &plain).map_err(|e| CliError::Temporary {
            what: "the temporary file".into(),
            source: e,
        })?;
        None
    };
    let command = args.command.replace("{}", &path.to_string_lossy());
    let run_as = args.user.as_deref().map(lookup_user).transpose()?;
    let code = wait(shell(&command, false, &[], run_as.as_ref()));
    if let Some(w) = writer {
        if !w.is_finished() {
            drain_fifo(&path, &w);
        }
        // The writer returns nothing; the command's exit code is what counts.
        w.join().ok();
    }
    drop(dir);
    child_exit(code?)
}

/// The command did not read the whole FIFO: read the rest, so that the writer finishes. The read
/// end is opened without waiting (a blocking open would wait forever for a writer that has
/// already closed its end), and is kept open until the writer is done: a writer still opening
/// the FIFO finds a reader. Best effort: if the FIFO cannot be opened, the writer is blocked on
/// nothing that outlives us.
#[cfg(unix)]
fn drain_fifo(path: &Path, writer: &std::thread::JoinHandle<()>) {
    use std::io::{ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return;
    };
    let mut buf = zeroize::Zeroizing::new([0u8; 8192]);
    loop {
        match f.read(&mut buf[..]) {
            Ok(n) if n > 0 => {}
            // End of data, and no writer left to open the FIFO again.
            Ok(_) if writer.is_finished() => return,
            Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return,
            _ => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

#[cfg(not(unix))]
fn drain_fifo(_path: &Path, _writer: &std::thread::JoinHandle<()>) {}

#[cfg(unix)]
fn make_fifo(path: &Path) -> CliResult<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| CliError::TemporaryPath)?;
    // SAFETY: c is a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        return Err(CliError::Temporary {
            what: "a FIFO".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_fifo(_path: &Path) -> CliResult<()> {
    Err(CliError::NoFifo)
}

/// `filestatus`: `{"encrypted":true}` when the file has sops metadata with a version and a MAC.
pub fn filestatus(global: &GlobalArgs, args: super::FilestatusArgs) -> CliResult<()> {
    let file = match args.files.as_slice() {
        [one] if !super::bulk::is_many(&args.files) => one,
        paths => {
            let input = common::format(&args.input_type);
            return super::bulk::filestatus(global, paths, args.jobs, input, args.json);
        }
    };
    let source = common::read_source(file)?;
    let engine = common::engine(global)?;
    let encrypted =
        crate::ops::status::is_encrypted(&engine, &source, common::format(&args.input_type))?;
    common::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::passwd_entry;

    #[test]
    fn a_passwd_line_gives_name_ids_and_home() {
        let e = passwd_entry("svc:x:1001:1002:Service,,,:/srv/svc:/bin/sh").expect("an entry");
        assert_eq!(
            (e.name, e.uid, e.gid, e.home),
            ("svc", 1001, 1002, "/srv/svc")
        );
        let e = passwd_entry("n:x:1:1::/:").expect("an entry");
        assert_eq!(e.home, "/");
    }

    #[test]
    fn other_lines_are_refused() {
        for line in [
            "",
            "svc:x:1001:1002:/srv/svc:/bin/sh",
            "svc:x:1001:1002:gecos:/srv/svc:/bin/sh:extra",
            "svc:x:-1:1002:g:/h:/bin/sh",
            "svc:x:1001:abc:g:/h:/bin/sh",
        ] {
            assert!(passwd_entry(line).is_none(), "{line:?}");
        }
    }
}
