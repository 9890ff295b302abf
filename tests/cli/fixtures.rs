//! Decrypt every committed file of `fixtures/sops/` (made by the real sops 3.11, see
//! `fixtures/regenerate.sh`) with sepal and compare with what `sops decrypt` printed
//! (`<file>.expected`), or with `<file>.sepal-expected` where sepal legitimately keeps more
//! (explained in `fixtures/README.md`). No network and no sops needed.

use std::path::PathBuf;

use crate::common::{self, diff, Failures, Identity, Sandbox, Tool};

/// The encrypted fixtures whose name ends with one of `exts`.
fn encrypted_fixtures(exts: &[&str]) -> Vec<PathBuf> {
    let dir = common::fixtures().join("sops");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/sops")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            exts.iter().any(|e| n.ends_with(&format!(".{e}")))
        })
        .collect();
    v.sort();
    v
}

fn check(exts: &[&str]) {
    let files = encrypted_fixtures(exts);
    assert!(!files.is_empty(), "no fixtures for {exts:?}");
    let sb = Sandbox::new();
    let mut failures = Failures::default();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let sepal_expected = f.with_file_name(format!("{name}.sepal-expected"));
        let expected_path = if sepal_expected.exists() {
            sepal_expected
        } else {
            f.with_file_name(format!("{name}.expected"))
        };
        let expected = std::fs::read(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Both,
                &["decrypt", &f.to_string_lossy()],
            )
            .expect("sepal");
        if !r.ok() {
            failures.add(format!("{name}: {}", r.describe()));
        } else if r.stdout != expected {
            failures.add(format!(
                "{name}: output differs from {}: {}",
                expected_path.file_name().unwrap().to_string_lossy(),
                diff(&expected, &r.stdout)
            ));
        }
    }
    failures.finish(&format!("decrypting sops-made fixtures {exts:?}"));
}

#[test]
fn sops_fixtures_yaml() {
    check(&["yaml"]);
}

#[test]
fn sops_fixtures_json() {
    check(&["json"]);
}

#[test]
fn sops_fixtures_dotenv() {
    check(&["env"]);
}

#[test]
fn sops_fixtures_ini() {
    check(&["ini"]);
}

#[test]
fn sops_fixtures_binary() {
    check(&["bin"]);
}
