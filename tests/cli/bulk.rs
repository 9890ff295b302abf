//! Many files at once: `updatekeys`, `rotate -i`, `filestatus` and `decrypt --check` over several
//! files and folders (in a throwaway git repository and outside git). One line per file in the
//! order given, a total, a failing file in the middle that does not stop the others, the exit
//! code, the one question of `updatekeys`, and no progress bar when standard error is not a
//! terminal (and one when it is, through `script`). One file keeps the single-file behaviour
//! (the other test modules check it; here: `filestatus` and `decrypt --check` of one file).

use std::path::Path;
use std::process::Command;

use crate::common::{self, keys, Identity, Run, Sandbox, Tool};

const SECRET: &str = "hunter2-bulk";

fn plain(n: usize) -> String {
    format!("# settings {n}\napp:\n    user: svc{n}\n    password: {SECRET}\n    port: {n}\n")
}

/// A sandbox whose `.sops.yaml` encrypts every YAML file for `recipient`.
fn sandbox(recipient: &str) -> Sandbox {
    let sb = Sandbox::new();
    rule(&sb, recipient);
    sb
}

fn rule(sb: &Sandbox, recipient: &str) {
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {recipient}\n"),
    );
}

/// Write and encrypt (in place, with sepal, for key1 by the rule) each of `names`.
fn encrypted(sb: &Sandbox, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        sb.write(name, plain(i));
        let r = sepal(sb, Identity::Key1, &["encrypt", "-i", name]);
        assert!(r.ok(), "encrypt {name}: {}", r.describe());
    }
}

fn sepal(sb: &Sandbox, id: Identity, args: &[&str]) -> Run {
    sb.run(Tool::Sepal, id, args).unwrap()
}

fn sepal_stdin(sb: &Sandbox, id: Identity, args: &[&str], stdin: &[u8]) -> Run {
    let mut c = sb.command(Tool::Sepal, id).unwrap();
    c.args(args);
    common::run(c, Some(stdin))
}

fn out(r: &Run) -> String {
    String::from_utf8_lossy(&r.stdout).into_owned()
}

fn lines(r: &Run) -> Vec<String> {
    out(r).lines().map(str::to_string).collect()
}

fn read(sb: &Sandbox, name: &str) -> String {
    std::fs::read_to_string(sb.join(name)).unwrap()
}

/// A throwaway git repository at `dir`, with no global or system configuration.
fn git(dir: &Path, args: &[&str]) {
    let empty = dir.join(".git-empty-config");
    if !empty.exists() {
        std::fs::write(&empty, "").unwrap();
    }
    let r = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", &empty)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("this test needs git (apt-get install git): {e}"));
    assert!(
        r.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
}

#[test]
fn rotate_check_and_filestatus_over_a_folder_outside_git() {
    let sb = sandbox(&keys().age1);
    let names = ["s/b.yaml", "s/a.yaml", "s/sub/c.yaml"];
    encrypted(&sb, &names);
    sb.write("s/notes.txt", "not a sops file\n");
    sb.write("s/plain.yaml", plain(9));
    let before: Vec<String> = names.iter().map(|n| read(&sb, n)).collect();

    let r = sepal(&sb, Identity::Key1, &["rotate", "-i", "s"]);
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(
        lines(&r),
        [
            "s/a.yaml: rotated",
            "s/b.yaml: rotated",
            "s/sub/c.yaml: rotated",
            "3 files: 3 changed, 0 unchanged, 0 failed"
        ],
        "rotate over a folder: only its sops files, in name order"
    );
    assert!(
        r.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        r.describe()
    );
    for (n, b) in names.iter().zip(&before) {
        let after = read(&sb, n);
        assert_ne!(&after, b, "{n} was not rotated");
        assert!(!after.contains(SECRET), "{n} holds plaintext after rotate");
    }
    assert_eq!(
        read(&sb, "s/plain.yaml"),
        plain(9),
        "a plain file was touched"
    );

    let r = sepal(&sb, Identity::Key1, &["decrypt", "--check", "s"]);
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(
        lines(&r),
        [
            "s/a.yaml: ok",
            "s/b.yaml: ok",
            "s/sub/c.yaml: ok",
            "3 files: 3 ok, 0 failed"
        ]
    );
    assert!(!out(&r).contains(SECRET));

    let r = sepal(&sb, Identity::None, &["filestatus", "s"]);
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(
        lines(&r),
        [
            "s/a.yaml: encrypted",
            "s/b.yaml: encrypted",
            "s/notes.txt: not encrypted",
            "s/plain.yaml: not encrypted",
            "s/sub/c.yaml: encrypted",
            "5 files: 3 encrypted, 2 not encrypted, 0 failed"
        ],
        "filestatus reports every file of a folder"
    );
}

#[test]
fn a_folder_in_git_gives_its_tracked_files_only() {
    let sb = sandbox(&keys().age1);
    encrypted(&sb, &["r/t1.yaml", "r/t2.yaml", "r/untracked.yaml"]);
    git(&sb.join("r"), &["init", "-q"]);
    git(&sb.join("r"), &["add", "t1.yaml", "t2.yaml"]);
    let untracked = read(&sb, "r/untracked.yaml");
    for args in [
        &["rotate", "-i", "r"][..],
        &["decrypt", "--check", "r"],
        &["updatekeys", "-y", "r"],
    ] {
        let r = sepal(&sb, Identity::Key1, args);
        assert!(r.ok(), "{}", r.describe());
        let l = lines(&r);
        assert_eq!(l.len(), 3, "{args:?}: {l:?}");
        assert!(
            l[0].starts_with("r/t1.yaml: ") && l[1].starts_with("r/t2.yaml: "),
            "{l:?}"
        );
        assert!(l[2].starts_with("2 files: "), "{l:?}");
    }
    assert_eq!(read(&sb, "r/untracked.yaml"), untracked);
}

#[test]
fn a_failing_file_in_the_middle_does_not_stop_the_others() {
    let sb = sandbox(&keys().age1);
    encrypted(&sb, &["c.yaml", "a.yaml"]);
    sb.write("b.yaml", plain(5));
    // The single-file command's code for the failing file, for comparison.
    let single = sepal(&sb, Identity::Key1, &["rotate", "-i", "b.yaml"]);
    assert!(!single.ok(), "rotate of a plain file succeeded");
    let before_a = read(&sb, "a.yaml");
    let r = sepal(
        &sb,
        Identity::Key1,
        &["rotate", "-i", "c.yaml", "b.yaml", "a.yaml", "--jobs", "2"],
    );
    assert_eq!(r.code, single.code, "{}", r.describe());
    let l = lines(&r);
    assert_eq!(l.len(), 4, "{l:?}");
    assert_eq!(l[0], "c.yaml: rotated");
    assert!(l[1].starts_with("b.yaml: FAILED: "), "{l:?}");
    assert!(
        !out(&r).contains(SECRET),
        "a failure line shows a value: {l:?}"
    );
    assert_eq!(l[2], "a.yaml: rotated");
    assert_eq!(l[3], "3 files: 2 changed, 0 unchanged, 1 failed");
    assert_ne!(read(&sb, "a.yaml"), before_a);
    assert_eq!(
        read(&sb, "b.yaml"),
        plain(5),
        "the failing file was changed"
    );

    // A missing named file fails on its own line (exit 100, as for one file).
    let r = sepal(
        &sb,
        Identity::Key1,
        &["decrypt", "--check", "a.yaml", "gone.yaml"],
    );
    assert_eq!(r.code, 100, "{}", r.describe());
    assert_eq!(lines(&r)[0], "a.yaml: ok");
    assert!(
        lines(&r)[1].starts_with("gone.yaml: FAILED: "),
        "{}",
        out(&r)
    );
}

#[test]
fn decrypt_check_finds_a_tampered_mac_among_many_and_prints_no_plaintext() {
    let sb = sandbox(&keys().age1);
    encrypted(&sb, &["a.yaml", "b.yaml", "c.yaml"]);
    // b's MAC replaced by a's: a valid ciphertext under another key, so it cannot be checked.
    let mac = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("mac:"))
            .unwrap()
            .to_string()
    };
    let (a, b) = (read(&sb, "a.yaml"), read(&sb, "b.yaml"));
    sb.write("b.yaml", b.replace(&mac(&b), &mac(&a)));
    let single = sepal(&sb, Identity::Key1, &["decrypt", "b.yaml"]);
    assert!(!single.ok(), "sepal decrypts a file with a foreign MAC");
    let one = sepal(&sb, Identity::Key1, &["decrypt", "--check", "b.yaml"]);
    assert_eq!(one.code, single.code, "{}", one.describe());
    assert!(one.stdout.is_empty());

    let r = sepal(
        &sb,
        Identity::Key1,
        &["decrypt", "--check", "a.yaml", "b.yaml", "c.yaml"],
    );
    assert_eq!(r.code, single.code, "{}", r.describe());
    let l = lines(&r);
    assert_eq!(l[0], "a.yaml: ok");
    assert!(
        l[1].starts_with("b.yaml: FAILED: ") && l[1].contains("MAC"),
        "{l:?}"
    );
    assert_eq!(l[2], "c.yaml: ok");
    assert_eq!(l[3], "3 files: 2 ok, 1 failed");
    assert!(!out(&r).contains(SECRET));

    // One good file: nothing printed at all, exit 0; wrong key: decrypt's code.
    let r = sepal(&sb, Identity::Key1, &["decrypt", "--check", "a.yaml"]);
    assert!(r.ok() && r.stdout.is_empty(), "{}", r.describe());
    let plain_code = sepal(&sb, Identity::Key2, &["decrypt", "a.yaml"]).code;
    let r = sepal(&sb, Identity::Key2, &["decrypt", "--check", "a.yaml"]);
    assert_eq!(r.code, plain_code);
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty());
}

#[test]
fn filestatus_json_and_one_file_as_sops() {
    let sb = sandbox(&keys().age1);
    encrypted(&sb, &["a.yaml"]);
    sb.write("p.yaml", plain(1));
    sb.write("broken.json", "{ not json");
    let r = sepal(&sb, Identity::None, &["filestatus", "a.yaml"]);
    assert_eq!(out(&r), "{\"encrypted\":true}\n", "{}", r.describe());
    let r = sepal(
        &sb,
        Identity::None,
        &["filestatus", "--json", "a.yaml", "p.yaml", "broken.json"],
    );
    assert_ne!(r.code, 0, "a file that does not parse is a failure");
    let values: Vec<serde_json::Value> = out(&r)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(
        values[0],
        serde_json::json!({"file": "a.yaml", "encrypted": true})
    );
    assert_eq!(
        values[1],
        serde_json::json!({"file": "p.yaml", "encrypted": false})
    );
    assert_eq!(values[2]["file"], "broken.json");
    assert!(values[2]["error"].is_string(), "{}", values[2]);
    assert_eq!(
        values[3],
        serde_json::json!({"files": 3, "encrypted": 1, "not_encrypted": 1, "failed": 1})
    );
}

#[test]
fn updatekeys_over_many_files_asks_once() {
    let sb = sandbox(&keys().age1);
    let names = ["a.yaml", "b.yaml", "c.yaml"];
    encrypted(&sb, &names);
    rule(&sb, &keys().age2);
    let before: Vec<String> = names.iter().map(|n| read(&sb, n)).collect();
    let args = ["updatekeys", "a.yaml", "b.yaml", "c.yaml"];

    let r = sepal_stdin(&sb, Identity::Key1, &args, b"n\n");
    assert!(r.ok(), "{}", r.describe());
    let o = out(&r);
    assert_eq!(
        o.matches("Apply these changes to 3 files? (y/n):").count(),
        1,
        "{o}"
    );
    assert_eq!(
        o.matches(&keys().age2).count(),
        3,
        "every file's change is shown: {o}"
    );
    assert!(o.contains("b.yaml: left unchanged"), "{o}");
    assert!(
        o.ends_with("3 files: 0 changed, 3 unchanged, 0 failed\n"),
        "{o}"
    );
    for (n, b) in names.iter().zip(&before) {
        assert_eq!(&read(&sb, n), b, "{n} changed after no");
    }

    let r = sepal_stdin(&sb, Identity::Key1, &args, b"");
    assert_eq!(r.code, 1, "no answer: {}", r.describe());
    for (n, b) in names.iter().zip(&before) {
        assert_eq!(&read(&sb, n), b, "{n} changed without an answer");
    }

    let r = sepal_stdin(&sb, Identity::Key1, &args, b"y\n");
    assert!(r.ok(), "{}", r.describe());
    let l = lines(&r);
    let tail = &l[l.len() - 4..];
    assert_eq!(
        tail,
        [
            "a.yaml: keys updated",
            "b.yaml: keys updated",
            "c.yaml: keys updated",
            "3 files: 3 changed, 0 unchanged, 0 failed"
        ]
    );
    for n in names {
        let t = read(&sb, n);
        assert!(
            t.contains(&keys().age2) && !t.contains(&keys().age1),
            "{n}: {t}"
        );
        let d = sepal(&sb, Identity::Key2, &["decrypt", n]);
        assert!(d.ok() && out(&d).contains(SECRET), "{n}: {}", d.describe());
    }

    // Up to date: no question, no change.
    let r = sepal(
        &sb,
        Identity::Key2,
        &["updatekeys", "-y", "a.yaml", "b.yaml"],
    );
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(
        lines(&r),
        [
            "a.yaml: already up to date",
            "b.yaml: already up to date",
            "2 files: 0 changed, 2 unchanged, 0 failed"
        ]
    );
}

#[test]
fn usage_errors_of_the_many_file_form() {
    let sb = sandbox(&keys().age1);
    encrypted(&sb, &["a.yaml", "b.yaml"]);
    let before = read(&sb, "a.yaml");
    for args in [
        &["rotate", "a.yaml", "b.yaml"][..],
        &["rotate", "-i", "--output", "x.yaml", "a.yaml", "b.yaml"],
        &["decrypt", "a.yaml", "b.yaml"],
        &["decrypt", "--check", "-i", "a.yaml"],
        &["decrypt", "--check", "--extract", "[\"app\"]", "a.yaml"],
    ] {
        let r = sepal(&sb, Identity::Key1, args);
        assert_eq!(r.code, 8, "{args:?}: {}", r.describe());
        assert!(r.stdout.is_empty(), "{args:?} printed {}", out(&r));
    }
    assert_eq!(read(&sb, "a.yaml"), before);
}

#[test]
fn progress_bar_only_on_a_terminal() {
    let sb = sandbox(&keys().age1);
    let names: Vec<String> = (0..12).map(|i| format!("m/f{i:02}.yaml")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    encrypted(&sb, &refs);
    let r = sepal(&sb, Identity::Key1, &["decrypt", "--check", "m"]);
    assert!(r.ok(), "{}", r.describe());
    assert!(
        r.stderr.is_empty(),
        "progress drawn off a terminal: {:?}",
        r.stderr_text()
    );
    assert_eq!(lines(&r).len(), 13);

    // Under `script`, standard error is a terminal: the bar is drawn there.
    Command::new("script")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("this test needs `script` (apt-get install util-linux): {e}"));
    let base = sb.command(Tool::Sepal, Identity::Key1).unwrap();
    let mut c = Command::new("script");
    c.env_clear().current_dir(sb.path());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let cmd = format!(
        "{} decrypt --check m 2>&1 >/dev/null",
        common::sepal_bin().display()
    );
    c.args(["-qec", &cmd, "/dev/null"]);
    let r = common::run(c, None);
    assert!(r.ok(), "{}", r.describe());
    assert!(
        out(&r).contains("checking ["),
        "no progress bar on a terminal: {:?}",
        out(&r)
    );
}
