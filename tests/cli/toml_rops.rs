//! TOML files written by rops 0.1.7 (`tests/corpus/toml/rops/`, made with the rops binary; see its
//! README): each decrypts with sepal to its plaintext's values (rops rewrites the layout, so values
//! are compared, not bytes), `--extract`, `filestatus`, `edit`, `set` and `rotate` work on them, a
//! change the MAC covers is caught, and a rewrite is in sops's format (with `version`). None of
//! these needs rops; the one test that runs rops (rops reads sepal's rewrite) is ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Identity, Run, Sandbox, Tool};

fn rops_dir() -> PathBuf {
    common::root().join("tests/corpus/toml/rops")
}

/// The `rops-encrypted` rows of the manifest: (file, plaintext, key files), relative to
/// `tests/corpus/toml/`.
fn encrypted_rows() -> Vec<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(rops_dir().join("manifest.tsv")).expect("the rops manifest");
    let rows: Vec<(String, String, Vec<String>)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.get(1) == Some(&"rops-encrypted")).then(|| {
                (
                    f[0].to_string(),
                    f[2].to_string(),
                    f[3].split(',').map(str::to_string).collect(),
                )
            })
        })
        .collect();
    assert_eq!(rows.len(), 5, "the manifest lists five rops files");
    rows
}

fn plain_text(rel: &str) -> String {
    std::fs::read_to_string(corpus(rel)).expect("a plaintext")
}

fn corpus(rel: &str) -> PathBuf {
    common::root().join("tests/corpus/toml").join(rel)
}

/// A TOML value for comparison: date-times as their text (rops encrypts them as strings), floats
/// by bits (so `nan` equals `nan`), tables as sorted maps.
#[derive(Debug, PartialEq)]
enum Norm {
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
    Array(Vec<Norm>),
    Table(BTreeMap<String, Norm>),
}

fn norm(v: &toml::Value) -> Norm {
    match v {
        toml::Value::String(s) => Norm::Str(s.clone()),
        toml::Value::Integer(i) => Norm::Int(*i),
        toml::Value::Float(f) if f.is_nan() => Norm::Float(f64::NAN.to_bits()),
        toml::Value::Float(f) => Norm::Float(f.to_bits()),
        toml::Value::Boolean(b) => Norm::Bool(*b),
        toml::Value::Datetime(d) => Norm::Str(d.to_string()),
        toml::Value::Array(a) => Norm::Array(a.iter().map(norm).collect()),
        toml::Value::Table(t) => Norm::Table(t.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
    }
}

fn values_of(bytes: &[u8], what: &str) -> Norm {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let table: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    norm(&toml::Value::Table(table))
}

/// `sepal args…` in `sb` with `key` (relative to `tests/corpus/toml/`) as the age key file.
fn sepal_with(sb: &Sandbox, key: &str, args: &[&str]) -> Run {
    let mut c = sb.command(Tool::Sepal, Identity::None).expect("sepal");
    c.env("SOPS_AGE_KEY_FILE", corpus(key)).args(args);
    common::run(c, None)
}

/// Copy a corpus file into the sandbox under its own name.
fn copy_in(sb: &Sandbox, rel: &str) -> PathBuf {
    let name = Path::new(rel)
        .file_name()
        .expect("a name")
        .to_string_lossy();
    sb.write(&name, std::fs::read(corpus(rel)).expect("a corpus file"))
}

const KEY1: &str = "rops/age-key-1.txt";

#[test]
fn every_rops_file_decrypts_to_its_plaintext() {
    let sb = Sandbox::new();
    for (file, plain, keys) in encrypted_rows() {
        let expected = values_of(&std::fs::read(corpus(&plain)).expect("plaintext"), &plain);
        let path = copy_in(&sb, &file);
        for key in &keys {
            let r = sepal_with(&sb, key, &["decrypt", &path.to_string_lossy()]);
            assert!(r.ok(), "{file} with {key}: {}", r.describe());
            assert_eq!(
                values_of(&r.stdout, &file),
                expected,
                "{file} with {key}: not the plaintext's values"
            );
            // And through JSON, for files JSON can hold (it has no infinities or NaN).
            if plain_text(&plain).contains("inf") {
                continue;
            }
            let r = sepal_with(
                &sb,
                key,
                &["decrypt", "--output-type", "json", &path.to_string_lossy()],
            );
            assert!(r.ok(), "{file} as JSON: {}", r.describe());
        }
    }
}

#[test]
fn extract_and_filestatus_read_rops_files() {
    let sb = Sandbox::new();
    let path = copy_in(&sb, "rops/values.enc.toml");
    let p = path.to_string_lossy();
    for (at, want) in [
        (r#"["database"]["port"]"#, "5432"),
        (r#"["servers"][1]["name"]"#, "beta"),
        (r#"["empty"]"#, ""),
        (r#"["positive_infinity"]"#, "inf"),
        (r#"["born"]"#, "1979-05-27T07:32:00Z"),
    ] {
        let r = sepal_with(&sb, KEY1, &["decrypt", "--extract", at, &p]);
        assert!(r.ok(), "--extract {at}: {}", r.describe());
        // (Non-string values end with a line break, as sops prints them.)
        let got = String::from_utf8_lossy(&r.stdout);
        assert_eq!(
            got.strip_suffix('\n').unwrap_or(&got),
            want,
            "--extract {at}"
        );
    }
    let r = sepal_with(&sb, KEY1, &["filestatus", &p]);
    assert!(r.ok(), "filestatus: {}", r.describe());
    assert_eq!(
        String::from_utf8_lossy(&r.stdout).trim(),
        r#"{"encrypted":true}"#
    );
}

/// Replace the first occurrence of `from` in a copy of `rel`, write it as `name`.
fn tampered(sb: &Sandbox, rel: &str, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(corpus(rel)).expect("a corpus file");
    let changed = edit(&text);
    assert_ne!(changed, text, "{name}: the edit changed nothing");
    sb.write(name, changed)
}

#[test]
fn tampering_with_a_rops_file_is_caught() {
    let sb = Sandbox::new();
    // Two encrypted elements of one array swapped: each still decrypts (an array element's AAD is
    // its parent's path), but the MAC, over the values in order, no longer matches.
    let swapped = tampered(&sb, "rops/values.enc.toml", "swapped.toml", |t| {
        let start = t.find("ports = [\n").expect("ports") + "ports = [\n".len();
        let lines: Vec<&str> = t[start..].lines().take(2).collect();
        let (a, b) = (lines[0], lines[1]);
        t.replacen(&format!("{a}\n{b}\n"), &format!("{b}\n{a}\n"), 1)
    });
    // A value the selection leaves in clear (covered by the MAC without mac_only_encrypted).
    let clear = tampered(&sb, "rops/unencrypted_suffix.enc.toml", "clear.toml", |t| {
        t.replacen("retries_public = 5", "retries_public = 6", 1)
    });
    // An infinity left in clear, its sign flipped (rops hashes `inf` and `-inf`).
    let inf = tampered(&sb, "rops/unencrypted_suffix.enc.toml", "inf.toml", |t| {
        t.replacen("ceiling_public = inf", "ceiling_public = -inf", 1)
    });
    // lastmodified is the MAC's additional data.
    let stamp = tampered(&sb, "rops/partial_regex.enc.toml", "stamp.toml", |t| {
        let at = t.find("lastmodified = \"").expect("lastmodified") + "lastmodified = \"".len();
        format!("{}1999{}", &t[..at], &t[at + 4..])
    });
    for (path, want) in [(&swapped, 51), (&clear, 51), (&inf, 51), (&stamp, 51)] {
        let r = sepal_with(&sb, KEY1, &["decrypt", &path.to_string_lossy()]);
        assert_eq!(r.code, want, "{}: {}", path.display(), r.describe());
        assert!(r.stdout.is_empty(), "{}: printed values", path.display());
    }
    // A changed ciphertext fails its own tag.
    let bad = tampered(&sb, "rops/values.enc.toml", "bad.toml", |t| {
        t.replacen("data:", "data:AAAA", 1)
    });
    let r = sepal_with(&sb, KEY1, &["decrypt", &bad.to_string_lossy()]);
    assert_eq!(r.code, 25, "{}", r.describe());
    // What rops leaves outside its MAC is not caught: its `null` strings (documented in
    // docs/compatibility.md), and with mac_only_encrypted the values in clear.
    let null = tampered(&sb, "rops/null_string.enc.toml", "null.toml", |t| {
        t.replacen("mode = \"null\"\n", "", 1)
    });
    let r = sepal_with(&sb, KEY1, &["decrypt", &null.to_string_lossy()]);
    assert!(r.ok(), "a rops null is outside the MAC: {}", r.describe());
}

#[test]
fn a_missing_version_is_refused_outside_toml() {
    // sops 3.11 refuses a YAML file without `version` ("Version string empty"), and so does sepal.
    let sb = Sandbox::new();
    let enc = sb.encrypt_for_key1(Tool::Sepal, "p.yaml", "a: secret\n", "e.yaml");
    let text = String::from_utf8(enc).expect("UTF-8");
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("version:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, text);
    sb.write("nov.yaml", &without);
    let r = sb
        .run(Tool::Sepal, Identity::Key1, &["decrypt", "nov.yaml"])
        .expect("sepal");
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr_text().contains("has no version"),
        "{}",
        r.describe()
    );
    // An empty version is refused in TOML too (only an absent one is rops's).
    let toml = tampered(
        &sb,
        "rops/partial_regex.enc.toml",
        "empty-version.toml",
        |t| t.replacen("[sops]\n", "[sops]\nversion = \"\"\n", 1),
    );
    let r = sepal_with(&sb, KEY1, &["decrypt", &toml.to_string_lossy()]);
    assert_eq!(r.code, 1, "{}", r.describe());
}

/// The `[sops]` table of a TOML file, as text.
fn sops_table(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.find("[sops]")
        .map(|at| text[at..].to_string())
        .unwrap_or_default()
}

#[test]
fn set_rotate_and_edit_write_a_rops_file_in_sops_format() {
    let sb = Sandbox::new();
    let expected_after_set = |file: &str| {
        let mut v = values_of(
            &std::fs::read(corpus(&file.replace(".enc.toml", ".toml"))).expect("plaintext"),
            file,
        );
        if let Norm::Table(t) = &mut v {
            if let Some(Norm::Table(db)) = t.get_mut("db") {
                db.insert("user".into(), Norm::Str("root".into()));
            }
        }
        v
    };
    let path = copy_in(&sb, "rops/partial_regex.enc.toml");
    let p = path.to_string_lossy().into_owned();
    let before = std::fs::read(&path).expect("copy");
    let r = sepal_with(&sb, KEY1, &["set", &p, r#"["db"]["user"]"#, r#""root""#]);
    assert!(r.ok(), "set: {}", r.describe());
    let after = std::fs::read(&path).expect("set output");
    let meta = sops_table(&after);
    assert!(meta.contains("version = \""), "no version written:\n{meta}");
    assert!(
        meta.contains("encrypted_regex = \"^(password|token)$\""),
        "{meta}"
    );
    // The data part is rops's layout with the one value changed; the untouched ciphertexts stay.
    let data_before = String::from_utf8_lossy(&before[..before.len() - sops_table(&before).len()])
        .replace("user = \"app\"", "user = \"root\"");
    let data_after = String::from_utf8_lossy(&after[..after.len() - meta.len()]).into_owned();
    assert_eq!(data_after, data_before, "set changed more than the value");
    let r = sepal_with(&sb, KEY1, &["decrypt", &p]);
    assert!(r.ok(), "decrypt after set: {}", r.describe());
    assert_eq!(
        values_of(&r.stdout, "after set"),
        expected_after_set("rops/partial_regex.enc.toml")
    );

    // rotate: a new data key, the same values, sops's format.
    for (file, key) in [
        ("rops/values.enc.toml", KEY1),
        ("rops/null_string.enc.toml", "rops/age-key-2.txt"),
        ("rops/mac_only_encrypted.enc.toml", KEY1),
    ] {
        let path = copy_in(&sb, file);
        let p = path.to_string_lossy().into_owned();
        let r = sepal_with(&sb, key, &["rotate", "-i", &p]);
        assert!(r.ok(), "rotate {file}: {}", r.describe());
        let after = std::fs::read(&path).expect("rotated");
        assert!(sops_table(&after).contains("version = \""), "{file}");
        let r = sepal_with(&sb, key, &["decrypt", &p]);
        assert!(r.ok(), "decrypt after rotate {file}: {}", r.describe());
        let plain = file.replace(".enc.toml", ".toml");
        assert_eq!(
            values_of(&r.stdout, file),
            values_of(&std::fs::read(corpus(&plain)).expect("plaintext"), &plain),
            "{file} after rotate"
        );
    }

    // edit: the editor appends a key; the file is written in sops's format.
    let path = copy_in(&sb, "rops/mac_only_encrypted.enc.toml");
    let editor = sb.write(
        "editor.sh",
        "#!/bin/sh\nfor a; do f=\"$a\"; done\nprintf 'added_secret = \"new\"\\n' >> \"$f\"\n",
    );
    let mut perms = std::fs::metadata(&editor).expect("editor").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&editor, perms).expect("chmod");
    let mut c = sb.command(Tool::Sepal, Identity::None).expect("sepal");
    c.env("SOPS_AGE_KEY_FILE", corpus(KEY1))
        .env("EDITOR", &editor)
        .args(["edit", &path.to_string_lossy()]);
    let r = common::run(c, None);
    assert!(r.ok(), "edit: {}", r.describe());
    let r = sepal_with(
        &sb,
        KEY1,
        &[
            "decrypt",
            "--extract",
            r#"["stripe"]["added_secret"]"#,
            &path.to_string_lossy(),
        ],
    );
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(r.stdout, b"new");
}

/// The rops binary: `ROPS_BIN`, else `rops` on PATH.
fn rops_bin() -> PathBuf {
    std::env::var_os("ROPS_BIN").map_or_else(|| PathBuf::from("rops"), PathBuf::from)
}

#[test]
#[ignore = "needs the rops 0.1.7 binary (cargo install rops-cli; ROPS_BIN names it), which CI does not build"]
fn rops_decrypts_what_sepal_rewrote() {
    let sb = Sandbox::new();
    let secret = std::fs::read_to_string(corpus(KEY1))
        .expect("key")
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("an identity")
        .to_string();
    // Files without an empty string or an infinity (docs/compatibility.md: rops 0.1.7 reads
    // neither as sops writes them).
    for file in [
        "rops/partial_regex.enc.toml",
        "rops/mac_only_encrypted.enc.toml",
        "rops/null_string.enc.toml",
    ] {
        let path = copy_in(&sb, file);
        let r = sepal_with(&sb, KEY1, &["rotate", "-i", &path.to_string_lossy()]);
        assert!(r.ok(), "rotate {file}: {}", r.describe());
        let mut c = Command::new(rops_bin());
        c.env("ROPS_AGE", &secret)
            .args(["decrypt", "--format", "toml"]);
        let r = common::run(c, Some(&std::fs::read(&path).expect("rotated")));
        assert!(r.ok(), "rops decrypt {file}: {}", r.describe());
        let plain = file.replace(".enc.toml", ".toml");
        assert_eq!(
            values_of(&r.stdout, file),
            values_of(&std::fs::read(corpus(&plain)).expect("plaintext"), &plain),
            "rops reading sepal's {file}"
        );
    }
}

#[test]
fn updatekeys_keeps_a_rops_file_rops() {
    // updatekeys rewraps the data key and leaves the values (and rops's MAC) alone, so the file
    // stays rops's: no version is written, and it still decrypts to the same values.
    let sb = Sandbox::new();
    let path = copy_in(&sb, "rops/unencrypted_suffix.enc.toml");
    let p = path.to_string_lossy().into_owned();
    let recipient = |key: &str| {
        std::fs::read_to_string(corpus(key))
            .expect("key")
            .lines()
            .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
            .expect("a recipient")
    };
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.toml$\n    age: {},{}\n",
            recipient(KEY1),
            recipient("rops/age-key-2.txt")
        ),
    );
    let r = sepal_with(&sb, KEY1, &["updatekeys", "-y", &p]);
    assert!(r.ok(), "updatekeys: {}", r.describe());
    let after = std::fs::read(&path).expect("updated");
    let meta = sops_table(&after);
    assert!(!meta.contains("version"), "a version was written:\n{meta}");
    assert_eq!(meta.matches("[[sops.age]]").count(), 2, "{meta}");
    let plain = values_of(
        &std::fs::read(corpus("rops/unencrypted_suffix.toml")).expect("plaintext"),
        "plaintext",
    );
    for key in [KEY1, "rops/age-key-2.txt"] {
        let r = sepal_with(&sb, key, &["decrypt", &p]);
        assert!(r.ok(), "decrypt with {key}: {}", r.describe());
        assert_eq!(values_of(&r.stdout, "updated"), plain, "with {key}");
    }
}
