//! `edit` with a scripted editor (`EDITOR` / `SOPS_EDITOR` = a small shell script in the sandbox):
//! no-op edits, one changed value (minimal diff of the encrypted file, sops decrypts the result),
//! the private temporary file, invalid YAML from the editor, new files, `-s`. The checks of sepal
//! on its own files need no sops; their `_with_sops` twins make every check that involves sops
//! (files made by sops, sops editing or decrypting) and fail when sops is missing.

use std::path::{Path, PathBuf};

use crate::common::{self, diff, keys, Failures, Identity, Part, Run, Sandbox, Tool};
use crate::shamir::set_exec;

const PLAIN: &str = "# app settings\napp:\n    user: svc\n    password: hunter2\n    port: 8443\nlist:\n    - one\n    - two\nflag: true\n";

/// An editor script: records the mode and path of the file it is given (in `edit-mode.log` and
/// `edit-path.log`), copies the buffer to `buffer.snapshot`, then runs `action` (shell, `$f` is
/// the file).
fn editor(sb: &Sandbox, action: &str) -> PathBuf {
    let dir = sb.path().display();
    let script = format!(
        "#!/bin/sh\nfor a; do f=\"$a\"; done\nstat -c %a \"$f\" >> '{dir}/edit-mode.log'\n\
         printf '%s\\n' \"$f\" >> '{dir}/edit-path.log'\ncp \"$f\" '{dir}/buffer.snapshot'\n{action}\n"
    );
    let p = sb.write("editor.sh", script);
    set_exec(&p);
    p
}

fn run_edit(
    sb: &Sandbox,
    tool: Tool,
    id: Identity,
    editor_env: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let mut c = sb.command(tool, id).unwrap();
    c.envs(editor_env.iter().copied()).args(args);
    common::run(c, None)
}

fn log_lines(sb: &Sandbox, name: &str) -> Vec<String> {
    std::fs::read_to_string(sb.join(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The editor saw a mode-600 file, and neither the file nor its folder remains.
fn check_temp_file(f: &mut Failures, sb: &Sandbox, what: &str) {
    let modes = log_lines(sb, "edit-mode.log");
    let paths = log_lines(sb, "edit-path.log");
    if modes.is_empty() || modes.iter().any(|m| m != "600") {
        f.add(format!(
            "{what}: the editor's file had mode(s) {modes:?}, expected 600"
        ));
    }
    for p in &paths {
        let p = Path::new(p);
        if p.exists() {
            f.add(format!(
                "{what}: the temporary file {} was left behind",
                p.display()
            ));
        }
        if p.parent()
            .is_some_and(|d| d.exists() && d != std::env::temp_dir())
        {
            f.add(format!(
                "{what}: the temporary folder of {} was left behind",
                p.display()
            ));
        }
    }
    let _ = std::fs::remove_file(sb.join("edit-mode.log"));
    let _ = std::fs::remove_file(sb.join("edit-path.log"));
}

/// `PLAIN` encrypted by `maker` to key1 as `f.yaml`.
fn make(sb: &Sandbox, maker: Tool) -> Vec<u8> {
    sb.encrypt_for_key1(maker, "plain.yaml", PLAIN, "f.yaml")
}

/// Indices of lines that differ between two texts of the same line count (`None` otherwise).
fn changed_lines(a: &str, b: &str) -> Option<Vec<String>> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    (la.len() == lb.len()).then(|| {
        la.iter()
            .zip(&lb)
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.trim_start().split(':').next().unwrap_or("").to_string())
            .collect()
    })
}

/// A no-op edit, by each tool of `part` of each one's file (the pairs `part` covers).
fn noop_edit(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &maker in part.tools() {
        for &tool in part.tools() {
            if !part.covers(&[maker, tool]) {
                continue;
            }
            let sb = Sandbox::new();
            let before = make(&sb, maker);
            let ed = editor(&sb, ":");
            let ed = ed.to_str().unwrap();
            let what = format!("[{}] no-op edit of {}'s file", tool.name(), maker.name());
            let r = run_edit(
                &sb,
                tool,
                Identity::Key1,
                &[("EDITOR", ed)],
                &["edit", "f.yaml"],
            );
            if r.code != 200 || !r.stderr_text().contains("File has not changed") {
                f.add(format!(
                    "{what}: expected exit 200 'File has not changed': {}",
                    r.describe()
                ));
            }
            if std::fs::read(sb.join("f.yaml")).unwrap() != before {
                f.add(format!("{what}: the file changed"));
            }
            if std::fs::read(sb.join("buffer.snapshot")).unwrap_or_default() != PLAIN.as_bytes()
                && tool == Tool::Sepal
            {
                f.add(format!("{what}: the editor's buffer is not the plaintext"));
            }
            check_temp_file(&mut f, &sb, &what);
            // The legacy form `sepal f.yaml` is edit too; SOPS_EDITOR wins over EDITOR.
            let r = run_edit(
                &sb,
                tool,
                Identity::Key1,
                &[("EDITOR", "/bin/false"), ("SOPS_EDITOR", ed)],
                &["f.yaml"],
            );
            if r.code != 200 {
                f.add(format!(
                    "{what}: legacy form with SOPS_EDITOR: {}",
                    r.describe()
                ));
            }
        }
    }
    f.finish(test);
}

#[test]
fn noop_edit_exits_200_and_leaves_the_file_alone() {
    noop_edit(
        "edit::noop_edit_exits_200_and_leaves_the_file_alone",
        Part::SepalAlone,
    );
}

#[test]
fn noop_edit_exits_200_and_leaves_the_file_alone_with_sops() {
    noop_edit(
        "edit::noop_edit_exits_200_and_leaves_the_file_alone_with_sops",
        Part::WithSops,
    );
}

/// sepal edits one value of files made by the tools of `part`; `own`: the checks of sepal's
/// result, `sops`: sops decrypts it.
fn one_value(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
        let sb = Sandbox::new();
        let before = String::from_utf8(make(&sb, maker)).unwrap();
        // An editor given as a command with an argument (split like a shell would).
        let ed = editor(&sb, "sed -i 's/hunter2/changed-pw/' \"$f\"");
        let ed = format!("sh {}", ed.display());
        let what = format!("editing {}'s file", maker.name());
        let r = run_edit(
            &sb,
            Tool::Sepal,
            Identity::Key1,
            &[("EDITOR", &ed)],
            &["edit", "f.yaml"],
        );
        if !r.ok() {
            f.add(format!("{what}: {}", r.describe()));
            continue;
        }
        if own {
            check_temp_file(&mut f, &sb, &what);
        }
        let after = std::fs::read_to_string(sb.join("f.yaml")).unwrap();
        // The values: only the password's line. (IV reuse keeps every unchanged value's
        // ciphertext, as sops does.)
        let split = |t: &str| -> (String, String) {
            let i = t.find("\nsops:\n").expect("sops block");
            (t[..i].to_string(), t[i..].to_string())
        };
        let ((vb, mb), (va, ma)) = (split(&before), split(&after));
        if own {
            match changed_lines(&vb, &va) {
                Some(keys) if keys == ["password"] => {}
                Some(keys) => f.add(format!(
                    "{what}: changed value lines {keys:?}, expected only password"
                )),
                None => f.add(format!(
                    "{what}: the line count changed: {}",
                    diff(vb.as_bytes(), va.as_bytes())
                )),
            }
        }
        // The metadata: `mac` and (unless still the same second) `lastmodified`. Only for
        // sepal's own file: on a sops 3.11 file sepal, as sops 3.13 does, raises `version` and
        // writes the metadata keys sorted.
        if own && maker == Tool::Sepal {
            match changed_lines(&mb, &ma) {
                Some(keys) if keys == ["lastmodified", "mac"] || keys == ["mac"] => {}
                other => f.add(format!(
                    "{what}: metadata lines changed: {other:?}, expected lastmodified and mac"
                )),
            }
        }
        if sops {
            let want = PLAIN.replace("hunter2", "changed-pw");
            let r = sb
                .run(Tool::Sops, Identity::Key1, &["decrypt", "f.yaml"])
                .unwrap();
            if !r.ok() || String::from_utf8_lossy(&r.stdout) != want {
                f.add(format!(
                    "{what}: sops decrypt after the edit: {} {}",
                    r.describe(),
                    diff(want.as_bytes(), &r.stdout)
                ));
            }
        }
    }
    f.finish(test);
}

#[test]
fn changing_one_value_changes_only_its_line_lastmodified_and_mac() {
    one_value(
        "edit::changing_one_value_changes_only_its_line_lastmodified_and_mac",
        Part::SepalAlone,
    );
}

#[test]
fn changing_one_value_changes_only_its_line_lastmodified_and_mac_with_sops() {
    one_value(
        "edit::changing_one_value_changes_only_its_line_lastmodified_and_mac_with_sops",
        Part::WithSops,
    );
}

#[test]
fn invalid_yaml_from_the_editor_is_reported_and_nothing_is_written() {
    let sb = Sandbox::new();
    let before = make(&sb, Tool::Sepal);
    let ed = editor(&sb, "printf 'app: [unclosed\\n  - : :\\n' > \"$f\"");
    // stdin is not a terminal (null): sepal must not wait for Enter forever.
    let r = run_edit(
        &sb,
        Tool::Sepal,
        Identity::Key1,
        &[("EDITOR", ed.to_str().unwrap())],
        &["edit", "f.yaml"],
    );
    let mut f = Failures::default();
    if r.ok() || r.code == 200 {
        f.add(format!("expected a failure: {}", r.describe()));
    }
    if !r.stderr_text().contains("Could not load tree") {
        f.add(format!("the parse error is not reported: {}", r.describe()));
    }
    if std::fs::read(sb.join("f.yaml")).unwrap() != before {
        f.add("the file changed");
    }
    check_temp_file(&mut f, &sb, "invalid YAML");
    f.finish("edit: invalid YAML");
}

/// `SepalAlone`: sepal creates new files through its editor and decrypts them; an untouched new
/// file is not created. `WithSops`: sops decrypts sepal's new files, and leaves an untouched new
/// file uncreated too.
fn new_file(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for (name, content) in [
        ("new.yaml", "secret: xyz\nlist:\n    - 1\n"),
        ("new.json", "{\n    \"secret\": \"xyz\"\n}\n"),
    ] {
        let sb = Sandbox::new();
        let ed = editor(&sb, &format!("printf '%s' '{content}' > \"$f\""));
        let r = run_edit(
            &sb,
            Tool::Sepal,
            Identity::None,
            &[("EDITOR", ed.to_str().unwrap())],
            &["edit", "--age", &keys().age1, name],
        );
        if !r.ok() {
            f.add(format!("{name}: {}", r.describe()));
            continue;
        }
        if part == Part::WithSops {
            let r = sb
                .run(Tool::Sops, Identity::Key1, &["decrypt", name])
                .unwrap();
            if !r.ok() || !String::from_utf8_lossy(&r.stdout).contains("xyz") {
                f.add(format!(
                    "{name}: sops cannot decrypt the new file: {}",
                    r.describe()
                ));
            }
            continue;
        }
        check_temp_file(&mut f, &sb, name);
        let text = std::fs::read_to_string(sb.join(name)).unwrap();
        if text.contains("xyz") || !text.contains("ENC[") || !text.contains(&keys().age1) {
            f.add(format!("{name}: not encrypted to key1:\n{text}"));
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sb.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        if mode != 0o600 {
            f.add(format!(
                "{name}: a new file should have mode 600, has {mode:o}"
            ));
        }
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["decrypt", name])
            .unwrap();
        if r.stdout != content.as_bytes() {
            f.add(format!(
                "{name}: sepal decrypt: {}",
                diff(content.as_bytes(), &r.stdout)
            ));
        }
    }
    // A new file left as the example: nothing changed, exit 200 and no file (as sops).
    for &tool in part.tools() {
        if !part.covers(&[tool]) {
            continue;
        }
        let sb = Sandbox::new();
        let ed = editor(&sb, ":");
        let r = run_edit(
            &sb,
            tool,
            Identity::None,
            &[("EDITOR", ed.to_str().unwrap())],
            &["edit", "--age", &keys().age1, "n.yaml"],
        );
        if r.code != 200 || sb.join("n.yaml").exists() {
            f.add(format!(
                "[{}] untouched new file: expected 200 and no file: {}",
                tool.name(),
                r.describe()
            ));
        }
        check_temp_file(
            &mut f,
            &sb,
            &format!("[{}] untouched new file", tool.name()),
        );
    }
    f.finish(test);
}

#[test]
fn editing_a_missing_file_creates_it_encrypted() {
    new_file(
        "edit::editing_a_missing_file_creates_it_encrypted",
        Part::SepalAlone,
    );
}

#[test]
fn editing_a_missing_file_creates_it_encrypted_with_sops() {
    new_file(
        "edit::editing_a_missing_file_creates_it_encrypted_with_sops",
        Part::WithSops,
    );
}

/// `edit -s` by the tools of `part`, on sepal's file.
fn show_master_keys(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &tool in part.tools() {
        if !part.covers(&[tool]) {
            continue;
        }
        let sb = Sandbox::new();
        let before = make(&sb, Tool::Sepal);
        let ed = editor(&sb, ":");
        let r = run_edit(
            &sb,
            tool,
            Identity::Key1,
            &[("EDITOR", ed.to_str().unwrap())],
            &["edit", "-s", "f.yaml"],
        );
        let what = format!("[{}] edit -s", tool.name());
        if r.code != 200 {
            f.add(format!("{what}: no-op: expected 200: {}", r.describe()));
        }
        let buf = std::fs::read_to_string(sb.join("buffer.snapshot")).unwrap_or_default();
        for needle in [
            "sops:",
            "mac:",
            "lastmodified:",
            keys().age1.as_str(),
            "hunter2",
        ] {
            if !buf.contains(needle) {
                f.add(format!("{what}: the buffer lacks {needle:?}:\n{buf}"));
            }
        }
        if buf.contains("ENC[AES256_GCM,data:") && buf.contains("password: ENC[") {
            f.add(format!("{what}: values should be in clear in the buffer"));
        }
        if std::fs::read(sb.join("f.yaml")).unwrap() != before {
            f.add(format!("{what}: the file changed"));
        }
        // Legacy form.
        let r = run_edit(
            &sb,
            tool,
            Identity::Key1,
            &[("EDITOR", ed.to_str().unwrap())],
            &["-s", "f.yaml"],
        );
        if r.code != 200 {
            f.add(format!(
                "{what}: legacy -s f.yaml: expected 200: {}",
                r.describe()
            ));
        }
    }
    f.finish(test);
}

#[test]
fn show_master_keys_puts_the_metadata_in_the_buffer() {
    show_master_keys(
        "edit::show_master_keys_puts_the_metadata_in_the_buffer",
        Part::SepalAlone,
    );
}

#[test]
fn show_master_keys_puts_the_metadata_in_the_buffer_with_sops() {
    show_master_keys(
        "edit::show_master_keys_puts_the_metadata_in_the_buffer_with_sops",
        Part::WithSops,
    );
}
