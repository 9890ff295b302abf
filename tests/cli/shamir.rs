//! Key groups and Shamir's secret sharing with an age group and an OpenPGP group, both ways with
//! the real sops; `--decryption-order` / `SOPS_DECRYPTION_ORDER`. Every test needs gpg; the checks
//! of sepal on its own files need no sops, those that involve sops (`made_by_sops`, `_with_sops`,
//! `_like_sops`) fail when it is missing.

use crate::common::{self, diff, Failures, Identity, Part, Run, Tool};
use crate::pgp::{native, EnvPair, PgpBox};

const PLAIN: &str = "db:\n    user: admin\n    password: s3cret-ShAmIr\nport: 5432\n";

/// Write `PLAIN` to `g.yaml` and a `.sops.yaml` with the given groups body.
fn setup(b: &PgpBox, rule: &str) {
    b.sb.write("g.yaml", PLAIN);
    b.sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: g\\.yaml$\n{rule}"),
    );
}

fn two_groups(b: &PgpBox, threshold: u32) -> String {
    format!(
        "    shamir_threshold: {threshold}\n    key_groups:\n      - age:\n          - {}\n      - pgp:\n          - {}\n",
        crate::common::keys().age1,
        b.m.rsa_fp
    )
}

/// Without a usable gpg and without key files: OpenPGP cannot decrypt.
const NO_PGP: [(&str, &str); 1] = [("SOPS_GPG_EXEC", "/nonexistent/gpg")];

fn expect_plain(f: &mut Failures, what: &str, r: &Run) {
    if !r.ok() {
        f.add(format!("{what}: {}", r.describe()));
    } else if r.stdout != PLAIN.as_bytes() {
        f.add(format!("{what}: {}", diff(PLAIN.as_bytes(), &r.stdout)));
    }
}

/// Exit 128, nothing on stdout, and (for sepal) every needle in stderr.
fn expect_no_key(f: &mut Failures, what: &str, r: &Run, needles: &[&str]) {
    if r.code != 128 || !r.stdout.is_empty() {
        f.add(format!(
            "{what}: expected exit 128 and no stdout: {}",
            r.describe()
        ));
    }
    let e = r.stderr_text();
    for n in needles {
        if !e.contains(n) {
            f.add(format!("{what}: stderr lacks {n:?}: {e}"));
        }
    }
}

/// The tools of `part`, on a two-group threshold-2 file made by `maker`: both keys → plaintext;
/// one key → 128 naming the group that failed.
fn check_two_group_file(b: &PgpBox, file: &str, f: &mut Failures, maker: Tool, part: Part) {
    let who = format!("{}'s", maker.name());
    let rsa = b.p("rsa-secret.asc");
    for tool in [Tool::Sepal, Tool::Sops] {
        if !part.covers(&[maker, tool]) {
            continue;
        }
        let t = format!("{who} file, {}", tool.name());
        let r = b.run(tool, Identity::Key1, &[], &["decrypt", file]);
        expect_plain(f, &format!("{t}: age + gpg"), &r);
        let sepal = tool == Tool::Sepal;
        let r = b.run(tool, Identity::Key1, &NO_PGP, &["decrypt", file]);
        let needles: &[&str] = if sepal {
            &[
                "Failed to get the data key",
                "Group 0: SUCCESS",
                "Group 1: FAILED",
                &b.m.rsa_fp,
                "Shamir threshold of 2",
            ]
        } else {
            &[]
        };
        expect_no_key(f, &format!("{t}: age only"), &r, needles);
        let r = b.run(tool, Identity::None, &[], &["decrypt", file]);
        let needles: &[&str] = if sepal {
            &[
                "Group 0: FAILED",
                "Group 1: SUCCESS",
                &crate::common::keys().age1,
            ]
        } else {
            &[]
        };
        expect_no_key(f, &format!("{t}: pgp only"), &r, needles);
        let r = b.run(tool, Identity::None, &NO_PGP, &["decrypt", file]);
        let needles: &[&str] = if sepal {
            &["Group 0: FAILED", "Group 1: FAILED"]
        } else {
            &[]
        };
        expect_no_key(f, &format!("{t}: no key"), &r, needles);
    }
    if !part.covers(&[maker, Tool::Sepal]) {
        return;
    }
    // sepal natively: age + the OpenPGP secret key file, no gpg.
    let r = b.run(
        Tool::Sepal,
        Identity::Key1,
        &native(&rsa),
        &["decrypt", file],
    );
    expect_plain(f, &format!("{who} file, sepal: age + native OpenPGP"), &r);
}

#[test]
fn two_groups_threshold_two_made_by_sops() {
    common::need_sops("shamir::made_by_sops");
    let b = PgpBox::new("shamir::made_by_sops", true);
    setup(&b, &two_groups(&b, 2));
    let r = b.run(
        Tool::Sops,
        Identity::Key1,
        &[],
        &["encrypt", "--output", "s.yaml", "g.yaml"],
    );
    assert!(r.ok(), "sops encrypt: {}", r.describe());
    let mut f = Failures::default();
    check_two_group_file(&b, "s.yaml", &mut f, Tool::Sops, Part::WithSops);
    f.finish("shamir: made by sops");
}

/// `SepalAlone`: the metadata, and sepal decrypts; `WithSops`: sops decrypts.
fn made_by_sepal(test: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    setup(&b, &two_groups(&b, 2));
    let r = b.run(
        Tool::Sepal,
        Identity::Key1,
        &[],
        &["encrypt", "--output", "s.yaml", "g.yaml"],
    );
    assert!(r.ok(), "sepal encrypt: {}", r.describe());
    let text = std::fs::read_to_string(b.sb.join("s.yaml")).unwrap();
    let mut f = Failures::default();
    if part == Part::SepalAlone
        && (!text.contains("shamir_threshold: 2")
            || text.matches("-----BEGIN PGP MESSAGE-----").count() != 1)
    {
        f.add(format!(
            "metadata: threshold 2 and one PGP key expected:\n{text}"
        ));
    }
    check_two_group_file(&b, "s.yaml", &mut f, Tool::Sepal, part);
    f.finish(test);
}

#[test]
fn two_groups_threshold_two_made_by_sepal() {
    made_by_sepal(
        "shamir::two_groups_threshold_two_made_by_sepal",
        Part::SepalAlone,
    );
}

#[test]
fn two_groups_threshold_two_made_by_sepal_with_sops() {
    made_by_sepal(
        "shamir::two_groups_threshold_two_made_by_sepal_with_sops",
        Part::WithSops,
    );
}

/// Encrypting with threshold 1 over two groups, by the tools of `part`.
fn threshold_one(test: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    setup(&b, &two_groups(&b, 1));
    let mut f = Failures::default();
    for &tool in part.tools() {
        if !part.covers(&[tool]) {
            continue;
        }
        let r = b.run(tool, Identity::Key1, &[], &["encrypt", "g.yaml"]);
        if r.code != 1 || !r.stdout.is_empty() {
            f.add(format!(
                "[{}] expected exit 1 (sops: threshold must be at least 2): {}",
                tool.name(),
                r.describe()
            ));
        }
    }
    f.finish(test);
}

#[test]
fn threshold_one_with_two_groups_is_refused() {
    threshold_one(
        "shamir::threshold_one_with_two_groups_is_refused",
        Part::SepalAlone,
    );
}

#[test]
fn threshold_one_with_two_groups_is_refused_with_sops() {
    threshold_one(
        "shamir::threshold_one_with_two_groups_is_refused_with_sops",
        Part::WithSops,
    );
}

/// One group with an age and an OpenPGP key: files made by the tools of `part`, each decrypted
/// by the tools of `part` with either key (only the pairs `part` covers).
fn one_group(test: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    let rule = format!(
        "    key_groups:\n      - age:\n          - {}\n        pgp:\n          - {}\n",
        crate::common::keys().age1,
        b.m.rsa_fp
    );
    setup(&b, &rule);
    let mut f = Failures::default();
    for &maker in part.tools() {
        let out = format!("{}.yaml", maker.name());
        let r = b.run(
            maker,
            Identity::Key1,
            &[],
            &["encrypt", "--output", &out, "g.yaml"],
        );
        assert!(r.ok(), "{} encrypt: {}", maker.name(), r.describe());
        for tool in [Tool::Sepal, Tool::Sops] {
            if !part.covers(&[maker, tool]) {
                continue;
            }
            let t = format!("{}'s file, {}", maker.name(), tool.name());
            let r = b.run(tool, Identity::Key1, &NO_PGP, &["decrypt", &out]);
            expect_plain(&mut f, &format!("{t}: age alone"), &r);
            let r = b.run(tool, Identity::None, &[], &["decrypt", &out]);
            expect_plain(&mut f, &format!("{t}: pgp alone"), &r);
        }
    }
    f.finish(test);
}

#[test]
fn one_group_with_age_and_pgp_opens_with_either_key() {
    one_group(
        "shamir::one_group_with_age_and_pgp_opens_with_either_key",
        Part::SepalAlone,
    );
}

#[test]
fn one_group_with_age_and_pgp_opens_with_either_key_with_sops() {
    one_group(
        "shamir::one_group_with_age_and_pgp_opens_with_either_key_with_sops",
        Part::WithSops,
    );
}

#[test]
fn decryption_order_flag_and_env() {
    common::need_sops("shamir::decryption_order");
    let b = PgpBox::new("shamir::decryption_order", true);
    let rule = format!(
        "    key_groups:\n      - age:\n          - {}\n        pgp:\n          - {}\n",
        crate::common::keys().age1,
        b.m.rsa_fp
    );
    setup(&b, &rule);
    let r = b.run(
        Tool::Sops,
        Identity::Key1,
        &[],
        &["encrypt", "--output", "s.yaml", "g.yaml"],
    );
    assert!(r.ok(), "sops encrypt: {}", r.describe());
    // A gpg wrapper that records each call, so the order is observable.
    let log = b.p("gpg.log");
    let wrapper = b.sb.write(
        "gpg-wrapper.sh",
        format!("#!/bin/sh\necho called >> '{log}'\nexec gpg \"$@\"\n"),
    );
    set_exec(&wrapper);
    let wrapper = wrapper.to_string_lossy().into_owned();
    let mut f = Failures::default();
    let variants: [(&str, &[&str], &[EnvPair]); 4] = [
        (
            "--decryption-order age,pgp",
            &["decrypt", "--decryption-order", "age,pgp", "s.yaml"],
            &[],
        ),
        (
            "SOPS_DECRYPTION_ORDER=age,pgp",
            &["decrypt", "s.yaml"],
            &[("SOPS_DECRYPTION_ORDER", "age,pgp")],
        ),
        (
            "--decryption-order pgp,age",
            &["decrypt", "--decryption-order", "pgp,age", "s.yaml"],
            &[],
        ),
        (
            "SOPS_DECRYPTION_ORDER=pgp",
            &["decrypt", "s.yaml"],
            &[("SOPS_DECRYPTION_ORDER", "pgp")],
        ),
    ];
    for (what, args, env) in variants {
        for tool in [Tool::Sops, Tool::Sepal] {
            let _ = std::fs::remove_file(&log);
            let mut env = env.to_vec();
            env.push(("SOPS_GPG_EXEC", &wrapper));
            let r = b.run(tool, Identity::Key1, &env, args);
            expect_plain(&mut f, &format!("[{}] {what}", tool.name()), &r);
            let gpg_called = std::path::Path::new(&log).exists();
            let pgp_first = what.contains("pgp,age") || what.ends_with("=pgp");
            if gpg_called != pgp_first {
                f.add(format!(
                    "[{}] {what}: gpg called: {gpg_called}, expected {pgp_first}",
                    tool.name()
                ));
            }
        }
    }
    // Duplicates: 112 from the flag and from the environment.
    let dups: [(&[&str], &[EnvPair]); 2] = [
        (
            &["decrypt", "--decryption-order", "pgp,age,pgp", "s.yaml"],
            &[],
        ),
        (
            &["decrypt", "s.yaml"],
            &[("SOPS_DECRYPTION_ORDER", "age,pgp,age")],
        ),
    ];
    for (args, env) in dups {
        for tool in [Tool::Sops, Tool::Sepal] {
            let r = b.run(tool, Identity::Key1, env, args);
            if r.code != 112
                || !r.stdout.is_empty()
                || !r.stderr_text().contains("Duplicate decryption key type")
            {
                f.add(format!(
                    "[{}] duplicates {args:?} {env:?}: expected 112: {}",
                    tool.name(),
                    r.describe()
                ));
            }
        }
    }
    f.finish("shamir: decryption order");
}

pub fn set_exec(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
