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
