//! Key management: `rotate` (new data key, `--add-*` / `--rm-*`), `updatekeys` and
//! `groups add` / `groups delete`, on files made by sops and by sepal, checked with the real sops.
//! Each test is split: the checks of sepal on its own files need no sops; the `_with_sops` twin
//! makes every check that involves sops (files made by sops, sops decrypting the result, sops
//! running the same command) and fails when sops is missing.

use std::path::Path;
use std::process::Command;

use regex::Regex;

use crate::common::{self, diff, keys, Failures, Identity, Part, Run, Sandbox, Tool};
use crate::pgp::PgpBox;

const PLAIN: &str = "# app settings\napp:\n    user: svc\n    password: hunter2\n    port: 8443\n    ratio: 0.25\nlist:\n    - one\n    - 2\nflag: true\n";

/// Every `ENC[...]` of a file, in order.
pub fn encs(text: &str) -> Vec<String> {
    Regex::new(r"ENC\[AES256_GCM,[^\]]*\]")
        .unwrap()
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// The lines that `updatekeys` and `groups` must leave alone: values, `mac`, `lastmodified`.
pub fn stable_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            l.contains("ENC[") || t.starts_with("mac:") || t.starts_with("lastmodified:")
        })
        .map(str::to_string)
        .collect()
}

/// The data key of an encrypted YAML file, unwrapped from its first age stanza with the `age`
/// binary and `identity` (see [`need_age`]).
fn data_key(text: &str, identity: &Path) -> Option<Vec<u8>> {
    let begin = text.find("-----BEGIN AGE ENCRYPTED FILE-----")?;
    let end = text[begin..].find("-----END AGE ENCRYPTED FILE-----")? + begin;
    let armored: String = text[begin..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "-----END AGE ENCRYPTED FILE-----\n";
    let mut c = Command::new("age");
    c.arg("-d").arg("-i").arg(identity);
    let r = common::run(c, Some(armored.as_bytes()));
    if r.code == -1 || (r.code != 0 && r.stderr_text().contains("not found")) {
        return None;
    }
    assert!(r.ok(), "age -d: {}", r.describe());
    assert_eq!(r.stdout.len(), 32, "a data key is 32 bytes");
    Some(r.stdout)
}

/// Fails the test `test` (naming what to install) unless the `age` binary is available.
fn need_age(test: &str) {
    assert!(
        Command::new("age")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "{test}: this test needs the age binary: apt-get install age"
    );
}

/// `PLAIN` encrypted by `maker` to key1 as `f.yaml`.
fn make(sb: &Sandbox, maker: Tool) -> Vec<u8> {
    sb.encrypt_for_key1(maker, "plain.yaml", PLAIN, "f.yaml")
}

fn read(sb: &Sandbox, rel: &str) -> String {
    std::fs::read_to_string(sb.join(rel)).unwrap()
}

/// sops decrypts `file` with `id` to `PLAIN`.
fn sops_gives_plain(f: &mut Failures, sb: &Sandbox, id: Identity, file: &str, what: &str) {
    let r = sb.run(Tool::Sops, id, &["decrypt", file]).unwrap();
    expect_plain(f, what, &r);
}

fn expect_plain(f: &mut Failures, what: &str, r: &Run) {
    if !r.ok() {
        f.add(format!("{what}: {}", r.describe()));
    } else if r.stdout != PLAIN.as_bytes() {
        f.add(format!("{what}: {}", diff(PLAIN.as_bytes(), &r.stdout)));
    }
}

fn expect_code(f: &mut Failures, what: &str, r: &Run, code: i32) {
    if r.code != code {
        f.add(format!("{what}: expected exit {code}: {}", r.describe()));
    }
}

/// sepal rotates files made by the tools of `part`; `own`: the checks of sepal's result, `sops`:
/// sops decrypts it.
fn rotate(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
        let sb = Sandbox::new();
        let before = String::from_utf8(make(&sb, maker)).unwrap();
        let m = maker.name();
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["rotate", "f.yaml"])
            .unwrap();
        if !r.ok() {
            f.add(format!("{m}'s file: sepal rotate: {}", r.describe()));
            continue;
        }
        let after = String::from_utf8(r.stdout).unwrap();
        if own {
            if read(&sb, "f.yaml") != before {
                f.add(format!("{m}'s file: rotate without -i changed the file"));
            }
            let (eb, ea) = (encs(&before), encs(&after));
            if eb.len() != ea.len() || eb.len() < 6 {
                f.add(format!(
                    "{m}'s file: {} values before, {} after",
                    eb.len(),
                    ea.len()
                ));
            }
            for (i, (x, y)) in eb.iter().zip(&ea).enumerate() {
                if x == y {
                    f.add(format!(
                        "{m}'s file: ciphertext {i} unchanged by rotate: {x}"
                    ));
                }
            }
            need_age(test);
            let k1 = &keys().key1;
            if data_key(&before, k1) == data_key(&after, k1) {
                f.add(format!("{m}'s file: the data key is the same after rotate"));
            }
        }
        sb.write("rotated.yaml", &after);
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key1,
                "rotated.yaml",
                &format!("{m}'s file rotated by sepal, sops decrypt"),
            );
        }
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["rotate", "-i", "f.yaml"])
            .unwrap();
        if own {
            expect_code(&mut f, &format!("{m}'s file: rotate -i"), &r, 0);
            if read(&sb, "f.yaml") == before {
                f.add(format!("{m}'s file: rotate -i did not change the file"));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key1,
                "f.yaml",
                &format!("{m}'s file after rotate -i, sops decrypt"),
            );
        }
    }
    f.finish(test);
}

#[test]
fn rotate_changes_the_data_key_and_every_ciphertext() {
    rotate(
        "keymgmt::rotate_changes_the_data_key_and_every_ciphertext",
        Part::SepalAlone,
    );
}

#[test]
fn rotate_changes_the_data_key_and_every_ciphertext_with_sops() {
    rotate(
        "keymgmt::rotate_changes_the_data_key_and_every_ciphertext_with_sops",
        Part::WithSops,
    );
}

/// sepal adds and removes age recipients of files made by the tools of `part`; `own`: the checks
/// of sepal's result, `sops`: sops decrypts it with each key.
fn rotate_age(test: &str, part: Part) {
    part.start(test);
    let (a1, a2) = (&keys().age1, &keys().age2);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
        let sb = Sandbox::new();
        make(&sb, maker);
        let m = maker.name();
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &["rotate", "-i", "--add-age", a2, "f.yaml"],
            )
            .unwrap();
        if own {
            expect_code(&mut f, &format!("{m}'s file: rotate --add-age"), &r, 0);
            let text = read(&sb, "f.yaml");
            if !(text.contains(a1.as_str()) && text.contains(a2.as_str())) {
                f.add(format!(
                    "{m}'s file: both recipients expected after --add-age"
                ));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key2,
                "f.yaml",
                &format!("{m}'s file + key2, sops with key2"),
            );
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key1,
                "f.yaml",
                &format!("{m}'s file + key2, sops with key1"),
            );
        }
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Key2,
                &["rotate", "-i", "--rm-age", a1, "f.yaml"],
            )
            .unwrap();
        if own {
            expect_code(&mut f, &format!("{m}'s file: rotate --rm-age"), &r, 0);
            if read(&sb, "f.yaml").contains(a1.as_str()) {
                f.add(format!("{m}'s file: key1 still listed after --rm-age"));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key2,
                "f.yaml",
                &format!("{m}'s file - key1, sops with key2"),
            );
            let r = sb
                .run(Tool::Sops, Identity::Key1, &["decrypt", "f.yaml"])
                .unwrap();
            expect_code(
                &mut f,
                &format!("{m}'s file - key1: sops with the removed key"),
                &r,
                128,
            );
        }
        // Both changes at once, in the legacy form too.
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Key2,
                &["-r", "-i", "--add-age", a1, "--rm-age", a2, "f.yaml"],
            )
            .unwrap();
        if own {
            expect_code(
                &mut f,
                &format!("{m}'s file: legacy -r --add-age --rm-age"),
                &r,
                0,
            );
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key1,
                "f.yaml",
                &format!("{m}'s file after -r, sops with key1"),
            );
            let r = sb
                .run(Tool::Sops, Identity::Key2, &["decrypt", "f.yaml"])
                .unwrap();
            expect_code(
                &mut f,
                &format!("{m}'s file after -r: sops with the removed key2"),
                &r,
                128,
            );
        }
    }
    f.finish(test);
}

#[test]
fn rotate_adds_and_removes_age_recipients() {
    rotate_age(
        "keymgmt::rotate_adds_and_removes_age_recipients",
        Part::SepalAlone,
    );
}

#[test]
fn rotate_adds_and_removes_age_recipients_with_sops() {
    rotate_age(
        "keymgmt::rotate_adds_and_removes_age_recipients_with_sops",
        Part::WithSops,
    );
}

/// sepal adds and removes an OpenPGP key of files made by the tools of `part`; `own`: the checks
/// of sepal's result, `sops`: sops decrypts it.
fn rotate_pgp(test: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    let fp = b.m.rsa_fp.clone();
    let mut f = Failures::default();
    for &maker in part.tools() {
        let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
        let sb = &b.sb;
        make(sb, maker);
        let m = maker.name();
        let r = b.run(
            Tool::Sepal,
            Identity::Key1,
            &[],
            &["rotate", "-i", "--add-pgp", &fp, "f.yaml"],
        );
        if own {
            expect_code(&mut f, &format!("{m}'s file: rotate --add-pgp"), &r, 0);
        }
        if sops {
            let r = b.run(Tool::Sops, Identity::None, &[], &["decrypt", "f.yaml"]);
            expect_plain(&mut f, &format!("{m}'s file + pgp: sops with gpg only"), &r);
        }
        let r = b.run(
            Tool::Sepal,
            Identity::Key1,
            &[],
            &["rotate", "-i", "--rm-pgp", &fp, "f.yaml"],
        );
        if own {
            expect_code(&mut f, &format!("{m}'s file: rotate --rm-pgp"), &r, 0);
            if read(sb, "f.yaml").contains("BEGIN PGP MESSAGE") {
                f.add(format!("{m}'s file: PGP key still present after --rm-pgp"));
            }
        }
        if sops {
            let r = b.run(Tool::Sops, Identity::None, &[], &["decrypt", "f.yaml"]);
            expect_code(
                &mut f,
                &format!("{m}'s file - pgp: sops with gpg only"),
                &r,
                128,
            );
            sops_gives_plain(
                &mut f,
                sb,
                Identity::Key1,
                "f.yaml",
                &format!("{m}'s file - pgp: sops with key1"),
            );
        }
    }
    f.finish(test);
}

#[test]
fn rotate_adds_and_removes_pgp_keys() {
    rotate_pgp(
        "keymgmt::rotate_adds_and_removes_pgp_keys",
        Part::SepalAlone,
    );
}

#[test]
fn rotate_adds_and_removes_pgp_keys_with_sops() {
    rotate_pgp(
        "keymgmt::rotate_adds_and_removes_pgp_keys_with_sops",
        Part::WithSops,
    );
}

/// `.sops.yaml` with one creation rule for these recipients.
fn rule(sb: &Sandbox, recipients: &str) {
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {recipients}\n"),
    );
}

/// sepal's `updatekeys -y` on files made by the tools of `part`; `own`: the checks of sepal's
/// result, `sops`: sops decrypts it and runs `updatekeys` too.
fn updatekeys_yes(test: &str, part: Part) {
    part.start(test);
    let (a1, a2) = (&keys().age1, &keys().age2);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
        let sb = Sandbox::new();
        let m = maker.name();
        let before = String::from_utf8(make(&sb, maker)).unwrap();
        rule(&sb, a2);
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["updatekeys", "-y", "f.yaml"])
            .unwrap();
        let after = read(&sb, "f.yaml");
        if own {
            expect_code(&mut f, &format!("{m}'s file: updatekeys -y"), &r, 0);
            if stable_lines(&before) != stable_lines(&after) {
                f.add(format!(
                    "{m}'s file: values, mac or lastmodified changed: {}",
                    diff(
                        stable_lines(&before).join("\n").as_bytes(),
                        stable_lines(&after).join("\n").as_bytes()
                    )
                ));
            }
            if after.contains(a1.as_str()) || !after.contains(a2.as_str()) {
                f.add(format!("{m}'s file: recipients not synced with .sops.yaml"));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key2,
                "f.yaml",
                &format!("{m}'s file after updatekeys: sops with key2"),
            );
            let r = sb
                .run(Tool::Sops, Identity::Key1, &["decrypt", "f.yaml"])
                .unwrap();
            expect_code(
                &mut f,
                &format!("{m}'s file after updatekeys: sops with the removed key1"),
                &r,
                128,
            );
        }
        // Now up to date: nothing to do, file untouched (sops agrees).
        let now = read(&sb, "f.yaml");
        for tool in [Tool::Sepal, Tool::Sops] {
            if !part.covers(&[maker, tool]) {
                continue;
            }
            let r = sb
                .run(tool, Identity::Key2, &["updatekeys", "-y", "f.yaml"])
                .unwrap();
            expect_code(
                &mut f,
                &format!("{m}'s file: [{}] updatekeys when up to date", tool.name()),
                &r,
                0,
            );
            if read(&sb, "f.yaml") != now {
                f.add(format!(
                    "{m}'s file: [{}] updatekeys rewrote an up-to-date file",
                    tool.name()
                ));
            }
        }
        // Two recipients in the rule: both added, values still untouched.
        rule(&sb, &format!("{a1},{a2}"));
        let r = sb
            .run(Tool::Sepal, Identity::Key2, &["updatekeys", "-y", "f.yaml"])
            .unwrap();
        if own {
            expect_code(
                &mut f,
                &format!("{m}'s file: updatekeys -y to two keys"),
                &r,
                0,
            );
            if stable_lines(&before) != stable_lines(&read(&sb, "f.yaml")) {
                f.add(format!(
                    "{m}'s file: second updatekeys changed values, mac or lastmodified"
                ));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key1,
                "f.yaml",
                &format!("{m}'s file after second updatekeys: sops with key1"),
            );
        }
    }
    f.finish(test);
}

#[test]
fn updatekeys_yes_rewraps_and_keeps_values_mac_and_lastmodified() {
    updatekeys_yes(
        "keymgmt::updatekeys_yes_rewraps_and_keeps_values_mac_and_lastmodified",
        Part::SepalAlone,
    );
}

#[test]
fn updatekeys_yes_rewraps_and_keeps_values_mac_and_lastmodified_with_sops() {
    updatekeys_yes(
        "keymgmt::updatekeys_yes_rewraps_and_keeps_values_mac_and_lastmodified_with_sops",
        Part::WithSops,
    );
}

/// `updatekeys` answered "n" or not at all, by the tools of `part`, on sepal's file.
fn updatekeys_no(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &tool in part.tools() {
        if !part.covers(&[tool]) {
            continue;
        }
        let sb = Sandbox::new();
        let before = make(&sb, Tool::Sepal);
        rule(&sb, &keys().age2);
        for (stdin, code) in [(&b"n\n"[..], 0), (&b""[..], 1)] {
            let mut c = sb.command(tool, Identity::Key1).unwrap();
            c.args(["updatekeys", "f.yaml"]);
            let r = common::run(c, Some(stdin));
            let what = format!("[{}] updatekeys with stdin {stdin:?}", tool.name());
            expect_code(&mut f, &what, &r, code);
            if !String::from_utf8_lossy(&r.stdout).contains(&keys().age2) {
                f.add(format!(
                    "{what}: the change was not shown: {:?}",
                    String::from_utf8_lossy(&r.stdout)
                ));
            }
            if std::fs::read(sb.join("f.yaml")).unwrap() != before {
                f.add(format!("{what}: the file changed"));
            }
        }
    }
    f.finish(test);
}

#[test]
fn updatekeys_answer_no_leaves_the_file_unchanged() {
    updatekeys_no(
        "keymgmt::updatekeys_answer_no_leaves_the_file_unchanged",
        Part::SepalAlone,
    );
}

#[test]
fn updatekeys_answer_no_leaves_the_file_unchanged_with_sops() {
    updatekeys_no(
        "keymgmt::updatekeys_answer_no_leaves_the_file_unchanged_with_sops",
        Part::WithSops,
    );
}

/// sepal's `groups add` and `groups delete` on files made by the tools of `part`; `own`: the
/// checks of sepal's result, `sops`: sops decrypts it with each key.
fn groups(test: &str, part: Part) {
    part.start(test);
    let a2 = &keys().age2;
    let mut f = Failures::default();
    for &maker in part.tools() {
        let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
        let sb = Sandbox::new();
        let m = maker.name();
        let before = String::from_utf8(make(&sb, maker)).unwrap();
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &["groups", "add", "--file", "f.yaml", "-i", "--age", a2],
            )
            .unwrap();
        if own {
            expect_code(&mut f, &format!("{m}'s file: groups add"), &r, 0);
            let added = read(&sb, "f.yaml");
            if stable_lines(&before) != stable_lines(&added) {
                f.add(format!(
                    "{m}'s file: groups add changed values, mac or lastmodified"
                ));
            }
            if !added.contains("shamir_threshold: 2") || !added.contains(a2.as_str()) {
                f.add(format!(
                    "{m}'s file: expected a second group and threshold 2:\n{added}"
                ));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Both,
                "f.yaml",
                &format!("{m}'s file + group: sops with both keys"),
            );
            let r = sb
                .run(Tool::Sops, Identity::Key1, &["decrypt", "f.yaml"])
                .unwrap();
            expect_code(
                &mut f,
                &format!("{m}'s file + group: sops with key1 only (threshold 2)"),
                &r,
                128,
            );
        }

        // Back to one group: the threshold must come down too (see the test below for without).
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Both,
                &[
                    "groups",
                    "delete",
                    "--shamir-secret-sharing-threshold",
                    "1",
                    "--file",
                    "f.yaml",
                    "-i",
                    "1",
                ],
            )
            .unwrap();
        if own {
            expect_code(&mut f, &format!("{m}'s file: groups delete 1"), &r, 0);
            let deleted = read(&sb, "f.yaml");
            if stable_lines(&before) != stable_lines(&deleted) {
                f.add(format!(
                    "{m}'s file: groups delete changed values, mac or lastmodified"
                ));
            }
            if deleted.contains(a2.as_str()) {
                f.add(format!(
                    "{m}'s file: key2 still present after deleting its group"
                ));
            }
        }
        if sops {
            sops_gives_plain(
                &mut f,
                &sb,
                Identity::Key1,
                "f.yaml",
                &format!("{m}'s file - group: sops with key1"),
            );
            let r = sb
                .run(Tool::Sops, Identity::Key2, &["decrypt", "f.yaml"])
                .unwrap();
            expect_code(
                &mut f,
                &format!("{m}'s file - group: sops with the deleted group's key2"),
                &r,
                128,
            );
        }
        // Out of range: an error like sops's.
        if own {
            let r = sb
                .run(
                    Tool::Sepal,
                    Identity::Key1,
                    &["groups", "delete", "--file", "f.yaml", "-i", "5"],
                )
                .unwrap();
            expect_code(&mut f, &format!("{m}'s file: groups delete 5"), &r, 1);
        }
    }
    f.finish(test);
}

#[test]
fn groups_add_and_delete() {
    groups("keymgmt::groups_add_and_delete", Part::SepalAlone);
}

#[test]
fn groups_add_and_delete_with_sops() {
    groups("keymgmt::groups_add_and_delete_with_sops", Part::WithSops);
}

/// sops refuses to delete a group when the remaining groups cannot meet the threshold
/// ("removing this key group will make the Shamir threshold impossible to satisfy", exit 1) and
/// leaves the file alone.
fn groups_delete_threshold(test: &str, part: Part) {
    part.start(test);
    let mut f = Failures::default();
    for &tool in part.tools() {
        if !part.covers(&[tool]) {
            continue;
        }
        let sb = Sandbox::new();
        make(&sb, Tool::Sepal);
        let r = sb
            .run(
                tool,
                Identity::Key1,
                &[
                    "groups",
                    "add",
                    "--file",
                    "f.yaml",
                    "-i",
                    "--age",
                    &keys().age2,
                ],
            )
            .unwrap();
        assert!(r.ok(), "groups add: {}", r.describe());
        let before = read(&sb, "f.yaml");
        let r = sb
            .run(
                tool,
                Identity::Both,
                &["groups", "delete", "--file", "f.yaml", "-i", "1"],
            )
            .unwrap();
        expect_code(
            &mut f,
            &format!(
                "[{}] groups delete leaving 1 group under threshold 2",
                tool.name()
            ),
            &r,
            1,
        );
        if read(&sb, "f.yaml") != before {
            f.add(format!("[{}] the file changed", tool.name()));
        }
    }
    f.finish(test);
}

#[test]
fn groups_delete_refuses_an_impossible_threshold() {
    groups_delete_threshold(
        "keymgmt::groups_delete_refuses_an_impossible_threshold",
        Part::SepalAlone,
    );
}

#[test]
fn groups_delete_refuses_an_impossible_threshold_with_sops() {
    groups_delete_threshold(
        "keymgmt::groups_delete_refuses_an_impossible_threshold_with_sops",
        Part::WithSops,
    );
}
