//! What sepal does to keep plaintext and files safe on disk, through the binary: in-place writes
//! (symlinks written through, hard links kept, owner/group/mode kept, no temporary files left
//! behind, stale ones cleaned up, a kill mid-write never leaves partial plaintext), core dumps
//! disabled, private temporary folders for `edit` and `exec-file`, and a closed standard output
//! that is not a crash. None of it needs the real sops.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{self, keys, Identity, Run, Sandbox, Tool};
use crate::shamir::set_exec;

const PLAIN: &str = "user: svc\npassword: hunter2\nport: 8443\n";

/// The uid and gid of `nobody` on Debian.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sepal(sb: &Sandbox, args: &[&str]) -> Run {
    sb.run(Tool::Sepal, Identity::Key1, args).expect("sepal")
}

fn encrypt_in_place(sb: &Sandbox, file: &str) -> Run {
    sepal(sb, &["encrypt", "-i", "--age", &keys().age1, file])
}

/// The plaintext of an encrypted file (decrypted with key1), or the failure.
fn decrypted(sb: &Sandbox, file: &Path) -> Result<String, String> {
    let r = sepal(
        sb,
        &[
            "decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            &file.display().to_string(),
        ],
    );
    if r.ok() {
        Ok(String::from_utf8_lossy(&r.stdout).into_owned())
    } else {
        Err(r.describe())
    }
}

/// Names in `dir` that start with `.sepal-`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".sepal-"))
        })
        .collect();
    v.sort();
    v
}

fn is_encrypted(bytes: &[u8]) -> bool {
    let t = String::from_utf8_lossy(bytes);
    t.contains("ENC[AES256_GCM,") && !t.contains("hunter2")
}

#[test]
fn in_place_write_goes_through_a_symlink() {
    let sb = Sandbox::new();
    sb.write("real/plain.yaml", PLAIN);
    std::os::unix::fs::symlink("real/plain.yaml", sb.join("link.yaml")).expect("symlink");
    let r = encrypt_in_place(&sb, "link.yaml");
    assert!(r.ok(), "{}", r.describe());
    let link = std::fs::symlink_metadata(sb.join("link.yaml")).expect("lstat");
    assert!(
        link.file_type().is_symlink(),
        "link.yaml is no longer a link"
    );
    assert_eq!(
        std::fs::read_link(sb.join("link.yaml")).expect("readlink"),
        Path::new("real/plain.yaml")
    );
    let target = std::fs::read(sb.join("real/plain.yaml")).expect("read");
    assert!(is_encrypted(&target), "the target was not encrypted");
    assert_eq!(decrypted(&sb, &sb.join("link.yaml")).as_deref(), Ok(PLAIN));
    assert!(temp_files(sb.path()).is_empty());
    assert!(temp_files(&sb.join("real")).is_empty());
}

#[test]
fn in_place_write_keeps_hard_links() {
    let sb = Sandbox::new();
    let a = sb.write("a.yaml", PLAIN);
    let b = sb.join("b.yaml");
    std::fs::hard_link(&a, &b).expect("link");
    let inode = std::fs::metadata(&a).expect("meta").ino();
    let r = encrypt_in_place(&sb, "a.yaml");
    assert!(r.ok(), "{}", r.describe());
    for p in [&a, &b] {
        let m = std::fs::metadata(p).expect("meta");
        assert_eq!((m.ino(), m.nlink()), (inode, 2), "{}", p.display());
        assert!(is_encrypted(&std::fs::read(p).expect("read")));
    }
    assert_eq!(decrypted(&sb, &b).as_deref(), Ok(PLAIN));
    assert!(temp_files(sb.path()).is_empty());
}

#[test]
fn in_place_write_keeps_owner_group_and_mode() {
    let sb = Sandbox::new();
    let p = sb.write("f.yaml", PLAIN);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let owner = if is_root() {
        std::os::unix::fs::chown(&p, Some(4321), Some(8765)).expect("chown");
        (4321, 8765)
    } else {
        let m = std::fs::metadata(&p).expect("meta");
        (m.uid(), m.gid())
    };
    for args in [
        vec!["encrypt", "-i", "--age", &keys().age1, "f.yaml"],
        vec!["decrypt", "-i", "f.yaml"],
    ] {
        let r = sepal(&sb, &args);
        assert!(r.ok(), "{}", r.describe());
        let m = std::fs::metadata(&p).expect("meta");
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (owner.0, owner.1, 0o640),
            "after {args:?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&p).expect("read"), PLAIN);
}

#[test]
fn stale_temp_files_of_dead_processes_are_removed() {
    let sb = Sandbox::new();
    sb.write("f.yaml", PLAIN);
    // No process has such an id (Linux caps pids at 2^22); ours is alive.
    let stale = sb.write(
        ".sepal-2000000000-0123456789abcdef.tmp",
        "password: hunter2\n",
    );
    let alive = sb.write(
        &format!(".sepal-{}-0123456789abcdef.tmp", std::process::id()),
        "x",
    );
    let other = sb.write(".sepal-notours", "x");
    let r = encrypt_in_place(&sb, "f.yaml");
    assert!(r.ok(), "{}", r.describe());
    assert!(!stale.exists(), "a dead process's temporary file remains");
    assert!(alive.exists() && other.exists(), "removed too much");
    assert_eq!(temp_files(sb.path()), vec![alive, other]);
}

/// SIGKILL `encrypt -i` at many moments: the file is always either the old plaintext or a
/// complete encrypted file, and any `.sepal-*` file left is a complete encrypted copy (never
/// partial plaintext). The next write removes those leftovers.
#[test]
fn a_kill_during_an_in_place_write_leaves_no_partial_plaintext() {
    let sb = Sandbox::new();
    let plain: String = (0..4000)
        .map(|i| format!("key{i}: value-{i}-abcdefghijklmnopqrstuvwxyz\n"))
        .collect();
    let file = sb.write("big.yaml", &plain);
    let command = || {
        let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
        c.args(["encrypt", "-i", "--age", &keys().age1, "big.yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let started = Instant::now();
    let status = command().status().expect("run");
    assert!(status.success());
    let whole = started.elapsed();

    let rounds = 12u32;
    for i in 0..rounds {
        std::fs::write(&file, &plain).expect("reset");
        let mut child = command().spawn().expect("spawn");
        // Mostly late, where the write happens.
        std::thread::sleep(whole * (rounds / 2 + i) / (rounds + rounds / 4));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&file).expect("read");
        if now != plain.as_bytes() {
            assert!(
                is_encrypted(&now),
                "round {i}: the file is neither old nor new"
            );
            assert_eq!(
                decrypted(&sb, &file).as_deref(),
                Ok(plain.as_str()),
                "round {i}"
            );
        }
        for t in temp_files(sb.path()) {
            let bytes = std::fs::read(&t).expect("read leftover");
            assert!(
                is_encrypted(&bytes),
                "round {i}: {} holds plaintext",
                t.display()
            );
            assert_eq!(
                decrypted(&sb, &t).as_deref(),
                Ok(plain.as_str()),
                "round {i}: {} is incomplete",
                t.display()
            );
        }
    }
    std::fs::write(&file, &plain).expect("reset");
    assert!(command().status().expect("run").success());
    assert!(temp_files(sb.path()).is_empty(), "leftovers not cleaned up");
}

/// `ulimit -c` in a child: the soft and hard core size limits sepal set (0 0).
#[test]
fn core_dumps_are_disabled() {
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let r = sepal(&sb, &["encrypt", "--age", &keys().age1, "plain.yaml"]);
    assert!(r.ok(), "{}", r.describe());
    sb.write("f.yaml", &r.stdout);
    let r = sepal(
        &sb,
        &[
            "exec-env",
            "f.yaml",
            r#"printf '%s %s|%s' "$(ulimit -c)" "$(ulimit -H -c)" "$port""#,
        ],
    );
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(String::from_utf8_lossy(&r.stdout), "0 0|8443");
    // And sepal itself, seen by the child.
    let r = sepal(&sb, &["exec-env", "f.yaml", "cat /proc/$PPID/limits"]);
    assert!(r.ok(), "{}", r.describe());
    let limits = String::from_utf8_lossy(&r.stdout).into_owned();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_default();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>(),
        ["Max", "core", "file", "size", "0", "0", "bytes"],
        "{limits}"
    );
}

/// As an unprivileged user (run as `nobody` when the tests run as root): sepal is not dumpable
/// (its /proc files belong to root), yet `exec-env` works and an in-place write through the
/// unnamed temporary file (named through /proc/self/fd) succeeds and leaves nothing behind.
#[test]
fn not_dumpable_and_still_working_as_an_ordinary_user() {
    let sb = Sandbox::new();
    let dir = sb.join("work");
    std::fs::create_dir(&dir).expect("mkdir");
    let drop_to_nobody = is_root();
    if drop_to_nobody {
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
        // The sandbox itself must be traversable.
        let mode = std::fs::metadata(sb.path()).expect("meta").mode();
        std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(mode | 0o711))
            .expect("chmod");
    }
    let run = |args: &[&str]| {
        let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
        c.current_dir(&dir).args(args);
        if drop_to_nobody {
            c.uid(NOBODY).gid(NOBODY);
        }
        common::run(c, None)
    };
    let plain = dir.join("f.yaml");
    std::fs::write(&plain, PLAIN).expect("write");
    if drop_to_nobody {
        std::os::unix::fs::chown(&plain, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let r = run(&["encrypt", "-i", "--age", &keys().age1, "f.yaml"]);
    assert!(r.ok(), "{}", r.describe());
    assert!(is_encrypted(&std::fs::read(&plain).expect("read")));
    assert!(temp_files(&dir).is_empty());

    let r = run(&[
        "exec-env",
        "f.yaml",
        r#"printf '%s|%s|%s' "$(stat -c %u /proc/$PPID/status)" "$(id -u)" "$user""#,
    ]);
    assert!(r.ok(), "{}", r.describe());
    let me = if drop_to_nobody {
        NOBODY
    } else {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() }
    };
    // A process that is not dumpable has its /proc entries owned by root.
    assert_eq!(String::from_utf8_lossy(&r.stdout), format!("0|{me}|svc"));
}

#[test]
fn plaintext_folders_are_private() {
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let r = sepal(&sb, &["encrypt", "--age", &keys().age1, "plain.yaml"]);
    assert!(r.ok(), "{}", r.describe());
    sb.write("f.yaml", &r.stdout);

    for extra in [&[][..], &["--no-fifo"][..]] {
        let mut args = vec!["exec-file"];
        args.extend_from_slice(extra);
        args.extend(["f.yaml", r#"stat -c %a "$(dirname {})""#]);
        let r = sepal(&sb, &args);
        assert!(r.ok(), "{}", r.describe());
        assert_eq!(String::from_utf8_lossy(&r.stdout), "700\n", "{args:?}");
    }

    // edit: the editor records its file's folder mode and the file's mode, changing nothing.
    let editor = sb.write(
        "editor.sh",
        format!(
            "#!/bin/sh\nfor a; do f=\"$a\"; done\nstat -c %a \"$(dirname \"$f\")\" \"$f\" > '{}'\n",
            sb.join("modes.log").display()
        ),
    );
    set_exec(&editor);
    let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
    c.env("EDITOR", &editor).args(["edit", "f.yaml"]);
    let r = common::run(c, None);
    assert_eq!(r.code, 200, "{}", r.describe());
    let modes = std::fs::read_to_string(sb.join("modes.log")).expect("editor ran");
    assert_eq!(modes.split_whitespace().collect::<Vec<_>>(), ["700", "600"]);
}

/// Run with standard output a pipe whose reading end is already closed.
fn with_closed_stdout(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            break child.wait_with_output().expect("output");
        }
        assert!(Instant::now() < deadline, "sepal {args:?} hangs");
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let (code, err) = with_closed_stdout(&sb, &["filestatus", "plain.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let key = sb.join("new-key.txt");
    let (code, err) = with_closed_stdout(&sb, &["keygen", "-o", &key.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let text = std::fs::read_to_string(&key).expect("key written");
    assert!(text.contains("AGE-SECRET-KEY-1"));
    // What stderr says names the recipient, never the identity.
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
}
