//! The lossless corpus `fixtures/roundtrip/`: tricky plaintext files of every format. For each,
//! `sepal encrypt` then `sepal decrypt` must give back the original bytes exactly (`yaml`, `json`,
//! … : no sops needed), and the real sops must decrypt sepal's encrypted file successfully, MAC
//! check included (`yaml_with_sops`, … : they fail when sops is missing).
//! Only for a loss that docs/compatibility.md declares deliberate, `<name>.roundtrip-expected`
//! holds the expected result instead (each listed in fixtures/README.md).

use std::path::PathBuf;

use crate::common::{self, diff, Failures, Identity, Part, Sandbox, Tool};

fn corpus(ext: &str) -> Vec<PathBuf> {
    let dir = common::fixtures().join("roundtrip");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/roundtrip")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// `SepalAlone`: sepal's round trip of every corpus file; `WithSops`: sops decrypts sepal's
/// encrypted file.
fn check(ext: &str, part: Part) {
    let files = corpus(ext);
    assert!(!files.is_empty(), "no .{ext} files in fixtures/roundtrip");
    let test = match part {
        Part::SepalAlone => format!("roundtrip::{ext}"),
        Part::WithSops => format!("roundtrip::{ext}_with_sops"),
    };
    part.start(&test);
    let sb = Sandbox::new();
    let age1 = &common::keys().age1;
    let mut f = Failures::default();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let original = std::fs::read(file).expect("read corpus file");
        let declared = file.with_file_name(format!("{name}.roundtrip-expected"));
        let (expected, against) = match std::fs::read(&declared) {
            Ok(b) => (b, "the declared loss in .roundtrip-expected"),
            Err(_) => (original.clone(), "the input"),
        };
        let input = sb.write(&format!("in/{name}"), &original);
        let enc = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &["encrypt", "--age", age1, &input.to_string_lossy()],
            )
            .unwrap();
        if !enc.ok() {
            f.add(format!("{name}: sepal encrypt: {}", enc.describe()));
            continue;
        }
        let encrypted = sb.write(&format!("enc/{name}"), &enc.stdout);
        let encrypted = encrypted.to_string_lossy().into_owned();
        if part == Part::SepalAlone {
            let dec = sb
                .run(Tool::Sepal, Identity::Key1, &["decrypt", &encrypted])
                .unwrap();
            if !dec.ok() {
                f.add(format!("{name}: sepal decrypt: {}", dec.describe()));
            } else if dec.stdout != expected {
                f.add(format!(
                    "{name}: sepal encrypt -> decrypt is not byte-identical to {against}: {}",
                    diff(&expected, &dec.stdout)
                ));
            }
        } else {
            let r = sb
                .run(Tool::Sops, Identity::Key1, &["decrypt", &encrypted])
                .unwrap();
            if !r.ok() {
                f.add(format!(
                    "{name}: the real sops cannot decrypt sepal's file: {}",
                    r.describe()
                ));
            }
        }
    }
    f.finish(&test);
}

#[test]
fn yaml() {
    check("yaml", Part::SepalAlone);
}

#[test]
fn json() {
    check("json", Part::SepalAlone);
}

#[test]
fn dotenv() {
    check("env", Part::SepalAlone);
}

#[test]
fn ini() {
    check("ini", Part::SepalAlone);
}

#[test]
fn binary() {
    check("bin", Part::SepalAlone);
}

#[test]
fn yaml_with_sops() {
    check("yaml", Part::WithSops);
}

#[test]
fn json_with_sops() {
    check("json", Part::WithSops);
}

#[test]
fn dotenv_with_sops() {
    check("env", Part::WithSops);
}

#[test]
fn ini_with_sops() {
    check("ini", Part::WithSops);
}

#[test]
fn binary_with_sops() {
    check("bin", Part::WithSops);
}
