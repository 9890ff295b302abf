//! Writing a command's result over a file (`-i`, `--output`, `edit`, `rotate`, ...) without
//! losing the file or leaking plaintext: the new bytes go to a temporary file in the target's
//! folder which replaces the target by rename only once it is complete and on disk.
//!
//! - The replacement keeps the file's owner, group and mode.
//! - A symlink is written through: its final target is replaced, the link stays a link.
//! - A file with several hard links is rewritten in place (open, truncate, write, fsync), as sops
//!   does, so every name keeps seeing it. That path is not atomic.
//! - On Linux the temporary file is made with `O_TMPFILE`: it has no name until it is complete,
//!   so a process killed while writing leaves nothing behind. It is named
//!   (`.sepal-<pid>-<random>.tmp`) through `/proc/self/fd` just before the rename. Elsewhere, or
//!   when the file system lacks `O_TMPFILE`, a named temporary file with the same prefix is used.
//! - Each write first removes the `.sepal-<pid>-*.tmp` files that processes no longer alive left
//!   in the target's folder (a kill between naming and renaming, or the named fallback).
//! - Devices and FIFOs (`--output /dev/stdout`) are written to directly.
//!
//! It also makes the private folders that hold plaintext for `edit` and `exec-file`.

use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many symlinks are followed before giving up (as the kernel's `ELOOP` limit).
const MAX_LINKS: usize = 40;

/// Every temporary file of a write starts with this, then `<pid>-`.
const TEMP_PREFIX: &str = ".sepal-";
/// ... and ends with this.
const TEMP_SUFFIX: &str = ".tmp";

/// How [`replace`] wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An `O_TMPFILE` file, named and renamed over the target once complete.
    Unnamed,
    /// A named temporary file renamed over the target.
    Named,
    /// The existing file rewritten (several hard links).
    InPlace,
    /// Written straight into a device or FIFO.
    Direct,
}

/// Replace `path` with `bytes` (see the module documentation). A new file gets mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes).map(|_| ())
}

/// [`write_atomic`], telling how the file was written.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<Method> {
    // `metadata` follows links, including the magic ones of /proc (`/dev/stdout`).
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(io::Error::from(io::ErrorKind::IsADirectory)),
        Ok(m) if !m.is_file() => {
            write_direct(path, bytes)?;
            return Ok(Method::Direct);
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let target = resolve_links(path)?;
    let existing = match std::fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let (dir, name) = split(&target)?;
    remove_stale_temps(&dir);
    if existing.as_ref().is_some_and(|m| link_count(m) > 1) {
        rewrite_in_place(&target, bytes)?;
        return Ok(Method::InPlace);
    }
    #[cfg(target_os = "linux")]
    if unnamed::replace(&dir, &name, bytes, existing.as_ref())? {
        return Ok(Method::Unnamed);
    }
    replace_named(&dir, &name, bytes, existing.as_ref())?;
    Ok(Method::Named)
}

/// Follow `path` while it is a symlink; a relative link is read from the link's folder. The
/// final target need not exist (a dangling link creates it).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) => dir.join(to),
                    None => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links to follow"
    )))
}

/// The folder and the file name of `target`.
fn split(target: &Path) -> io::Result<(PathBuf, OsString)> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_os_string()))
}

#[cfg(unix)]
fn link_count(m: &Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(m)
}

#[cfg(not(unix))]
fn link_count(_m: &Metadata) -> u64 {
    1
}

/// Several names share the file: rewrite it so that all of them see the new bytes. Not atomic: a
/// crash or a full disk can leave it truncated or partly written (sops behaves the same).
fn rewrite_in_place(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(target)?;
    f.set_len(0)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A device or FIFO: write into it (no rename, no fsync).
fn write_direct(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(bytes)?;
    f.flush()
}

/// Give the replacement the owner, group and mode of the file it replaces. Changing the owner
/// needs privileges: without them (not root) the replacement keeps our user, and the group only
/// when the group cannot be kept either.
#[cfg(unix)]
fn keep_owner_and_mode(file: &File, existing: Option<&Metadata>) -> io::Result<()> {
    use std::os::unix::fs::{fchown, MetadataExt, PermissionsExt};
    let Some(m) = existing else {
        return Ok(());
    };
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let not_permitted = |e: &io::Error| e.raw_os_error() == Some(libc::EPERM) && !root;
    match fchown(file, Some(m.uid()), Some(m.gid())) {
        Ok(()) => {}
        Err(e) if not_permitted(&e) => match fchown(file, None, Some(m.gid())) {
            Ok(()) => {}
            Err(e) if not_permitted(&e) => {}
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    }
    // After the owner: a change of owner clears the set-id bits.
    file.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))
}

#[cfg(not(unix))]
fn keep_owner_and_mode(file: &File, existing: Option<&Metadata>) -> io::Result<()> {
    match existing {
        Some(m) => file.set_permissions(m.permissions()),
        None => Ok(()),
    }
}

/// `.sepal-<pid>-`: the start of this process's temporary file names.
fn own_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// The process id in a temporary file name `.sepal-<pid>-<anything>.tmp`; `None` for any other
/// name.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let (pid, tail) = rest.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !tail.ends_with(TEMP_SUFFIX) {
        return None;
    }
    pid.parse().ok().filter(|p| *p > 0)
}

/// Whether no process has this id (`kill(pid, 0)` fails with `ESRCH`). A process of another user
/// is alive too (`EPERM`).
#[cfg(unix)]
fn process_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_gone(_pid: u32) -> bool {
    false
}

/// Remove the regular files named `.sepal-<pid>-*.tmp` in `dir` whose process is gone: what a
/// write killed between naming its temporary file and the rename (or killed while writing a named
/// one) left behind. Nothing else is touched, and failures are ignored. (A folder shared with
/// other machines or pid namespaces can make a live writer's file look stale: its rename then
/// fails, and its target is left as it was.)
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        if pid == own || !process_gone(pid) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The fallback: a named temporary file `.sepal-<pid>-<random>.tmp` in `dir`, written, given the
/// old file's owner and mode, fsynced and renamed over `name`, then the folder fsynced.
fn replace_named(
    dir: &Path,
    name: &OsString,
    bytes: &[u8],
    existing: Option<&Metadata>,
) -> io::Result<()> {
    let prefix = own_prefix();
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    keep_owner_and_mode(tmp.as_file(), existing)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// A builder for temporary folders only their owner can enter (0700 on Unix), so the plaintext
/// file inside is out of reach of other users even for the moment before its own mode is set.
pub fn private_tempdir_builder(prefix: &str) -> tempfile::Builder<'_, '_> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o700));
    }
    b
}

/// fsync a folder so that a rename in it is on disk; some file systems refuse, which is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `O_TMPFILE` replacement (Linux).
#[cfg(target_os = "linux")]
mod unnamed {
    use std::ffi::{CString, OsString};
    use std::fs::{File, Metadata, OpenOptions};
    use std::io::{self, Write};
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    use super::{keep_owner_and_mode, own_prefix, TEMP_SUFFIX};

    /// Attempts at a free temporary name before giving up.
    const NAME_ATTEMPTS: usize = 8;

    /// Replace `dir/name` through an unnamed temporary file. `Ok(false)`: the file system or the
    /// system cannot (no `O_TMPFILE`, no `/proc`), use a named temporary file instead.
    pub(super) fn replace(
        dir: &Path,
        name: &OsString,
        bytes: &[u8],
        existing: Option<&Metadata>,
    ) -> io::Result<bool> {
        let folder = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)?;
        let dirfd = folder.as_raw_fd();
        const MODE: libc::c_uint = 0o600;
        // SAFETY: a valid folder descriptor and a NUL-terminated path; the mode is given as
        // O_TMPFILE requires.
        let fd = unsafe {
            libc::openat(
                dirfd,
                c".".as_ptr(),
                libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
                MODE,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL) => Ok(false),
                _ => Err(e),
            };
        }
        // SAFETY: fd was just opened and is owned by nothing else.
        let mut file = unsafe { File::from_raw_fd(fd) };
        file.write_all(bytes)?;
        keep_owner_and_mode(&file, existing)?;
        file.sync_all()?;

        // Complete and on disk: give it a name, then move it over the target.
        let proc_path = CString::new(format!("/proc/self/fd/{fd}"))
            .map_err(|_| io::Error::other("invalid descriptor path"))?;
        let target = CString::new(name.as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the file name"))?;
        let mut temp = None;
        for _ in 0..NAME_ATTEMPTS {
            let candidate = CString::new(format!(
                "{}{:016x}{TEMP_SUFFIX}",
                own_prefix(),
                rand::random::<u64>()
            ))
            .map_err(|_| io::Error::other("invalid temporary name"))?;
            // SAFETY: valid NUL-terminated paths and a valid folder descriptor.
            let rc = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    proc_path.as_ptr(),
                    dirfd,
                    candidate.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            };
            if rc == 0 {
                temp = Some(candidate);
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EEXIST) => continue,
                // No /proc: the file cannot be named this way.
                Some(libc::ENOENT) => return Ok(false),
                _ => return Err(e),
            }
        }
        let temp = temp.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "no free temporary file name in the folder",
            )
        })?;
        drop(file);
        // SAFETY: valid NUL-terminated names relative to a valid folder descriptor.
        let rc = unsafe { libc::renameat(dirfd, temp.as_ptr(), dirfd, target.as_ptr()) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: as above; removing the name we just made.
            unsafe { libc::unlinkat(dirfd, temp.as_ptr(), 0) };
            return Err(e);
        }
        // Some file systems refuse to fsync a folder; the rename is done either way.
        let _ = folder.sync_all();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn temp_names_are_recognised_exactly() {
        assert_eq!(temp_owner(".sepal-123-abcdef.tmp"), Some(123));
        assert_eq!(temp_owner(".sepal-123-.tmp"), Some(123));
        assert_eq!(temp_owner(".sepal-123-abc"), None);
        assert_eq!(temp_owner(".sepal-abc-def.tmp"), None);
        assert_eq!(temp_owner(".sepal--1-x.tmp"), None);
        assert_eq!(temp_owner(".sepal-0-x.tmp"), None);
        assert_eq!(temp_owner(".sepal-Xy12ab"), None);
        assert_eq!(temp_owner("sepal-123-x.tmp"), None);
        assert_eq!(temp_owner(".sepal-99999999999999999999-x.tmp"), None);
    }

    #[test]
    fn new_and_existing_files_without_temp_leftovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.yaml");
        let method = replace(&p, b"one\n").expect("create");
        assert_eq!(std::fs::read(&p).expect("read"), b"one\n");
        replace(&p, b"two\n").expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"two\n");
        assert_eq!(names(dir.path()), ["f.yaml"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "a new file is private");
        }
        // Linux file systems with O_TMPFILE (ext4, tmpfs, xfs, btrfs) take the unnamed path.
        if cfg!(target_os = "linux") {
            assert!(
                matches!(method, Method::Unnamed | Method::Named),
                "{method:?}"
            );
            eprintln!("temporary folder written with {method:?}");
        }
    }

    #[test]
    fn named_fallback_keeps_mode_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.env");
        std::fs::write(&p, b"old").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        }
        let meta = std::fs::metadata(&p).expect("meta");
        replace_named(dir.path(), &OsString::from("f.env"), b"new", Some(&meta)).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"new");
        assert_eq!(names(dir.path()), ["f.env"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o7777, 0o640);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn unnamed_temp_file_where_supported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.json");
        std::fs::write(&p, b"{}").expect("write");
        let meta = std::fs::metadata(&p).expect("meta");
        match unnamed::replace(dir.path(), &OsString::from("f.json"), b"[1]", Some(&meta)) {
            Ok(true) => {
                assert_eq!(std::fs::read(&p).expect("read"), b"[1]");
                assert_eq!(names(dir.path()), ["f.json"]);
            }
            Ok(false) => eprintln!("no O_TMPFILE on this file system: fallback tested elsewhere"),
            Err(e) => panic!("O_TMPFILE write failed: {e}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn stale_temps_of_dead_processes_only_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        // No process has an id this large (Linux caps pids at 2^22).
        let dead = 2_000_000_000u32;
        let own = std::process::id();
        let keep = [
            format!(".sepal-{own}-abc.tmp"),
            format!(".sepal-{dead}-abc"),
            format!("sepal-{dead}-abc.tmp"),
            ".sepal-Ab12Cd".to_string(),
            "f.yaml".to_string(),
        ];
        for n in &keep {
            std::fs::write(dir.path().join(n), b"x").expect("write");
        }
        // A folder with a stale-looking name is not a file: kept.
        let folder = format!(".sepal-{dead}-dir.tmp");
        std::fs::create_dir(dir.path().join(&folder)).expect("mkdir");
        let stale = format!(".sepal-{dead}-0123456789abcdef.tmp");
        std::fs::write(dir.path().join(&stale), b"plaintext").expect("write");

        replace(&dir.path().join("f.yaml"), b"new").expect("replace");
        let mut want: Vec<String> = keep.to_vec();
        want.push(folder);
        want.sort();
        assert_eq!(names(dir.path()), want);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_written_through_and_hard_links_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("real")).expect("mkdir");
        let real = dir.path().join("real/f.yaml");
        std::fs::write(&real, b"a").expect("write");
        // A chain of two links, relative.
        std::os::unix::fs::symlink("real/f.yaml", dir.path().join("l1")).expect("symlink");
        std::os::unix::fs::symlink("l1", dir.path().join("l2")).expect("symlink");
        replace(&dir.path().join("l2"), b"b").expect("write");
        assert_eq!(std::fs::read(&real).expect("read"), b"b");
        for l in ["l1", "l2"] {
            let m = std::fs::symlink_metadata(dir.path().join(l)).expect("lstat");
            assert!(m.file_type().is_symlink(), "{l} is still a link");
        }
        assert_eq!(names(dir.path()), ["l1", "l2", "real"]);
        assert_eq!(names(&dir.path().join("real")), ["f.yaml"]);

        // A dangling link creates its target.
        std::os::unix::fs::symlink("real/new.yaml", dir.path().join("l3")).expect("symlink");
        replace(&dir.path().join("l3"), b"c").expect("write");
        assert_eq!(
            std::fs::read(dir.path().join("real/new.yaml")).expect("read"),
            b"c"
        );

        // Hard links: both names, one inode.
        let other = dir.path().join("other.yaml");
        std::fs::hard_link(&real, &other).expect("link");
        let inode = std::fs::metadata(&real).expect("meta").ino();
        assert_eq!(replace(&real, b"dd").expect("write"), Method::InPlace);
        for p in [&real, &other] {
            assert_eq!(std::fs::read(p).expect("read"), b"dd");
            assert_eq!(std::fs::metadata(p).expect("meta").ino(), inode);
        }

        // A loop of links is an error, not a hang.
        std::os::unix::fs::symlink("loop-b", dir.path().join("loop-a")).expect("symlink");
        std::os::unix::fs::symlink("loop-a", dir.path().join("loop-b")).expect("symlink");
        assert!(replace(&dir.path().join("loop-a"), b"x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn fifos_are_written_directly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).expect("read fifo"))
        };
        assert_eq!(replace(&fifo, b"hello").expect("write"), Method::Direct);
        assert_eq!(reader.join().expect("reader"), b"hello");
        assert_eq!(names(dir.path()), ["pipe"]);
    }

    #[cfg(unix)]
    #[test]
    fn owner_and_group_are_kept() {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: cannot give a file to another user; skipped");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.ini");
        std::fs::write(&p, b"a").expect("write");
        std::os::unix::fs::chown(&p, Some(4321), Some(8765)).expect("chown");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        }
        replace(&p, b"b").expect("write");
        let m = std::fs::metadata(&p).expect("meta");
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (4321, 8765, 0o640));
        let meta = m.clone();
        replace_named(dir.path(), &OsString::from("f.ini"), b"c", Some(&meta)).expect("write");
        let m = std::fs::metadata(&p).expect("meta");
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (4321, 8765, 0o640));
    }
}
