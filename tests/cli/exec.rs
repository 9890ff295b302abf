//! `exec-env` and `exec-file`, run side by side with the real sops on the same files (made by
//! sops and by sepal): values in the environment, `--pristine`, the child's exit code, the FIFO
//! or private temporary file, `--filename`, the temporary folder removed afterwards. `exec_env` and
//! `exec_file` run sepal on its own files (no sops needed); their `_with_sops` twins cover every
//! pair that involves sops and fail when sops is missing.

use std::path::Path;

use crate::common::{Failures, Identity, Part, Run, Sandbox, Tool};

const PLAIN: &str = "{\n    \"user\": \"svc\",\n    \"password\": \"p w $x 'q'\",\n    \"n\": 5,\n    \"ok\": true\n}\n";

fn make(sb: &Sandbox, maker: Tool) {
    sb.encrypt_for_key1(maker, "plain.json", PLAIN, "f.json");
}

fn out(r: &Run) -> String {
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// `exec-env` by each tool of `part` on each one's file (the pairs `part` covers).
fn exec_env_checks(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let sb = Sandbox::new();
        make(&sb, maker);
        for &tool in part.tools() {
            if !part.covers(&[maker, tool]) {
                continue;
            }
            let what = format!("[{}] {}'s file", tool.name(), maker.name());
            let r = sb
                .run(
                    tool,
                    Identity::Key1,
                    &[
                        "exec-env",
                        "f.json",
                        r#"printf '%s|%s|%s|%s' "$user" "$password" "$ok" "${HOME:-nohome}""#,
                    ],
                )
                .unwrap();
            let home = sb.home().display().to_string();
            let want = format!("svc|p w $x 'q'|true|{home}");
            if !r.ok() || out(&r) != want {
                f.add(format!(
                    "{what}: exec-env gave {:?}, expected {want:?}: {}",
                    out(&r),
                    r.describe()
                ));
            }
            let r = sb
                .run(
                    tool,
                    Identity::Key1,
                    &[
                        "exec-env",
                        "--pristine",
                        "f.json",
                        r#"printf '%s|%s' "$user" "${HOME:-nohome}""#,
                    ],
                )
                .unwrap();
            if !r.ok() || out(&r) != "svc|nohome" {
                f.add(format!(
                    "{what}: exec-env --pristine gave {:?}: {}",
                    out(&r),
                    r.describe()
                ));
            }
            let r = sb
                .run(tool, Identity::Key1, &["exec-env", "f.json", "exit 7"])
                .unwrap();
            if r.code != 7 {
                f.add(format!("{what}: exec-env 'exit 7' exited {}", r.code));
            }
            // Values must not leak into the parent's output or errors.
            if r.stderr_text().contains("p w $x") {
                f.add(format!("{what}: a secret on stderr"));
            }
        }
    }
    f.finish(test);
}

#[test]
fn exec_env() {
    exec_env_checks("exec::exec_env", Part::SepalAlone);
}

#[test]
fn exec_env_with_sops() {
    exec_env_checks("exec::exec_env_with_sops", Part::WithSops);
}

/// `exec-file` by each tool of `part` on each one's file (the pairs `part` covers).
fn exec_file_checks(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let sb = Sandbox::new();
        make(&sb, maker);
        for &tool in part.tools() {
            if !part.covers(&[maker, tool]) {
                continue;
            }
            let what = format!("[{}] {}'s file", tool.name(), maker.name());
            let plain = sb
                .run(tool, Identity::Key1, &["decrypt", "f.json"])
                .unwrap();
            assert!(plain.ok(), "{what}: decrypt: {}", plain.describe());
            let plain = out(&plain);

            // Default: a FIFO; the command sees the plaintext.
            let r = sb
                .run(
                    tool,
                    Identity::Key1,
                    &[
                        "exec-file",
                        "f.json",
                        "test -p {} && echo FIFO; cat {}; echo; echo {}",
                    ],
                )
                .unwrap();
            let o = out(&r);
            let path = o.lines().last().unwrap_or("").to_string();
            let want = format!("FIFO\n{plain}\n{path}\n");
            if !r.ok() || o != want {
                f.add(format!(
                    "{what}: exec-file (FIFO) printed {o:?}, expected {want:?}: {}",
                    r.describe()
                ));
            }
            gone(&mut f, &what, &path);

            // --no-fifo: a regular file of mode 600; --filename names it.
            let r = sb
                .run(
                    tool,
                    Identity::Key1,
                    &[
                        "exec-file",
                        "--no-fifo",
                        "--filename",
                        "x.json",
                        "f.json",
                        "test -f {} && stat -c %a {}; basename {}; cat {}; echo; echo {}",
                    ],
                )
                .unwrap();
            let o = out(&r);
            let path = o.lines().last().unwrap_or("").to_string();
            let want = format!("600\nx.json\n{plain}\n{path}\n");
            if !r.ok() || o != want {
                f.add(format!(
                    "{what}: exec-file --no-fifo printed {o:?}, expected {want:?}: {}",
                    r.describe()
                ));
            }
            gone(&mut f, &what, &path);

            let r = sb
                .run(tool, Identity::Key1, &["exec-file", "f.json", "exit 9"])
                .unwrap();
            if r.code != 9 {
                f.add(format!("{what}: exec-file 'exit 9' exited {}", r.code));
            }
        }
    }
    f.finish(test);
}

#[test]
fn exec_file() {
    exec_file_checks("exec::exec_file", Part::SepalAlone);
}

#[test]
fn exec_file_with_sops() {
    exec_file_checks("exec::exec_file_with_sops", Part::WithSops);
}

fn gone(f: &mut Failures, what: &str, path: &str) {
    let p = Path::new(path);
    if path.is_empty() || p.exists() || p.parent().is_some_and(|d| d.exists()) {
        f.add(format!(
            "{what}: the temporary file or its folder is still there: {path:?}"
        ));
    }
}

/// The account's passwd entry through the system's tools (`id`, `getent`), for `--user`.
#[cfg(target_os = "linux")]
fn this_account() -> (String, String) {
    let text = |c: &mut std::process::Command| {
        let o = c.output().expect("id and getent (coreutils, libc-bin)");
        assert!(o.status.success(), "{c:?} failed");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let name = text(std::process::Command::new("id").arg("-un"));
    let entry = text(std::process::Command::new("getent").args(["passwd", &name]));
    let home = entry.split(':').nth(5).expect("a passwd entry").to_string();
    (name, home)
}

#[cfg(target_os = "linux")]
#[test]
fn exec_env_user_takes_the_accounts_name_and_home() {
    // `--user` looks the account up in the system's user database (getpwnam, inside the static
    // executable too); running as one's own account needs no privilege.
    let sb = Sandbox::new();
    make(&sb, Tool::Sepal);
    let (name, home) = this_account();
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &[
                "exec-env",
                "--user",
                &name,
                "f.json",
                r#"printf '%s|%s|%s' "$user" "$USER" "$HOME""#,
            ],
        )
        .unwrap();
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(out(&r), format!("svc|{name}|{home}"));
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["exec-env", "--user", "no-such-user-sepal", "f.json", "true"],
        )
        .unwrap();
    assert_ne!(r.code, 0);
    assert!(
        r.stderr_text().contains("no-such-user-sepal"),
        "{}",
        r.describe()
    );
}
