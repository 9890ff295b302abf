//! The TOML store through the command line (issue 13): every real file of
//! `tests/corpus/toml/plain/` round-trips byte for byte and its encrypted form keeps the
//! plaintext's layout (the same table headers, in the same order, and no value in clear); the
//! toml-test suite's valid files round-trip and its invalid files are refused cleanly (never a
//! crash); `set`, `unset`, `--extract` and `--output-type json` work on a TOML file.

use std::path::{Path, PathBuf};

use crate::common::{self, diff, Failures, Identity, Run, Sandbox, Tool};

fn toml_corpus() -> PathBuf {
    common::root().join("tests/corpus/toml")
}

/// The files of a folder, recursively, with the given ending, sorted.
fn files_under(dir: &Path, ending: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(ending) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn crashed(r: &Run) -> bool {
    r.code == 101 || r.code < 0
}

fn encrypt(sb: &Sandbox, path: &Path) -> Run {
    sb.run(
        Tool::Sepal,
        Identity::Key1,
        &[
            "encrypt",
            "--input-type",
            "toml",
            "--output-type",
            "toml",
            "--age",
            &common::keys().age1,
            &path.to_string_lossy(),
        ],
    )
    .expect("sepal runs")
}

/// Encrypt then decrypt `path`: `Ok(encrypted)` when the decryption is the original bytes.
fn round_trip(sb: &Sandbox, n: usize, path: &Path) -> Result<Vec<u8>, String> {
    let original = std::fs::read(path).expect("a corpus file");
    let enc = encrypt(sb, path);
    if !enc.ok() {
        return Err(format!("encrypt failed: {}", enc.describe()));
    }
    let stored = sb.write(&format!("toml-rt/{n}.toml"), &enc.stdout);
    let dec = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["decrypt", &stored.to_string_lossy()],
        )
        .expect("sepal runs");
    if !dec.ok() {
        return Err(format!("decrypt failed: {}", dec.describe()));
    }
    if dec.stdout != original {
        return Err(format!(
            "decrypt(encrypt(x)) is not x: {}",
            diff(&original, &dec.stdout)
        ));
    }
    Ok(enc.stdout)
}

/// The table header lines of a TOML text, trimmed (lines inside multi-line strings skipped:
/// a line with an odd number of `"""` or `\'\'\'` delimiters opens or closes one).
fn headers(text: &str) -> Vec<String> {
    let mut inside: Option<&str> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        // (An array's elements on their own lines end in a comma.)
        if inside.is_none()
            && t.starts_with('[')
            && !t.ends_with(',')
            && !t.starts_with("[sops")
            && !t.starts_with("[[sops")
        {
            out.push(t.split('#').next().unwrap_or(t).trim().to_string());
        }
        for delim in ["\"\"\"", "\'\'\'"] {
            if inside.is_none_or(|d| d == delim) && line.matches(delim).count() % 2 == 1 {
                inside = if inside.is_some() { None } else { Some(delim) };
            }
        }
    }
    out
}

/// Corpus files sepal refuses, with the reason.
const REFUSED: &[(&str, &str)] = &[(
    "toml-lang__toml__examples__example-v0.4.0.toml",
    "a float (`1e1_000`) that overflows binary64: toml_edit refuses it, Python's tomllib reads inf",
)];

#[test]
fn toml_corpus_round_trips_and_keeps_the_layout() {
    let sb = Sandbox::new();
    let mut f = Failures::default();
    let files = files_under(&toml_corpus().join("plain"), ".toml");
    assert!(files.len() >= 50, "the corpus has its files");
    for (n, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let refused = REFUSED.iter().any(|(r, _)| *r == name);
        match round_trip(&sb, n, path) {
            Err(e) if refused && e.starts_with("encrypt failed") && !e.contains("exited 101") => {}
            Err(e) => f.add(format!("{name}: {e}")),
            Ok(_) if refused => f.add(format!("{name}: listed as refused, but round-trips now")),
            Ok(enc) => {
                let plain =
                    String::from_utf8_lossy(&std::fs::read(path).expect("file")).into_owned();
                let enc = String::from_utf8_lossy(&enc).into_owned();
                if headers(&plain) != headers(&enc) {
                    f.add(format!("{name}: the encrypted file's table headers differ"));
                }
                if !enc.contains("ENC[AES256_GCM,data:") || !enc.contains("\n[sops]\n") {
                    f.add(format!("{name}: no encrypted value or no [sops] table"));
                }
            }
        }
    }
    f.finish("toml_corpus_round_trips_and_keeps_the_layout");
}

/// Files of the toml-test suite (TOML 1.0) that the parser (TOML 1.1) reads, and that 1.1 allows.
const VALID_IN_TOML_1_1: &[&str] = &[
    "invalid/datetime/no-secs.toml",
    "invalid/inline-table/linebreak-01.toml",
    "invalid/inline-table/linebreak-02.toml",
    "invalid/inline-table/linebreak-03.toml",
    "invalid/inline-table/linebreak-04.toml",
    "invalid/inline-table/trailing-comma.toml",
    "invalid/local-datetime/no-secs.toml",
    "invalid/local-time/no-secs.toml",
    "invalid/string/basic-byte-escapes.toml",
];

#[test]
fn toml_test_suite_valid_round_trip_and_invalid_are_refused() {
    let sb = Sandbox::new();
    let mut f = Failures::default();
    let root = toml_corpus().join("toml-test");
    for (n, path) in files_under(&root.join("valid"), ".toml").iter().enumerate() {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        if let Err(e) = round_trip(&sb, n, path) {
            f.add(format!("{rel}: {e}"));
        }
    }
    for path in files_under(&root.join("invalid"), ".toml") {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let run = encrypt(&sb, &path);
        if crashed(&run) {
            f.add(format!("{rel}: CRASH: {}", run.describe()));
        } else if run.ok() && !VALID_IN_TOML_1_1.contains(&rel.as_str()) {
            f.add(format!("{rel}: accepted"));
        } else if !run.ok() && !run.stdout.is_empty() {
            f.add(format!("{rel}: refused but wrote to stdout"));
        }
    }
    f.finish("toml_test_suite_valid_round_trip_and_invalid_are_refused");
}

fn run_ok(sb: &Sandbox, args: &[&str]) -> Vec<u8> {
    let run = sb
        .run(Tool::Sepal, Identity::Key1, args)
        .expect("sepal runs");
    assert!(run.ok(), "{}", run.describe());
    run.stdout
}

#[test]
fn toml_set_unset_extract_and_output_type() {
    let sb = Sandbox::new();
    let plain = "# settings\ntitle = \"demo\"\nport = 0x1F90\n\n[db]\nuser = 'admin' # who\npassword = \"hunter2\"\n\n[[servers]]\nname = \"a\"\n";
    let src = sb.write("app.toml", plain);
    let enc = run_ok(
        &sb,
        &[
            "encrypt",
            "--age",
            &common::keys().age1,
            &src.to_string_lossy(),
        ],
    );
    let enc_text = String::from_utf8_lossy(&enc).into_owned();
    assert!(
        !enc_text.contains("hunter2") && !enc_text.contains("admin"),
        "{enc_text}"
    );
    assert!(
        enc_text.starts_with("#ENC["),
        "comments are encrypted: {enc_text}"
    );
    let file = sb.write("enc/app.toml", &enc);
    let f = file.to_string_lossy().into_owned();
    assert_eq!(run_ok(&sb, &["decrypt", &f]), plain.as_bytes());
    assert_eq!(
        run_ok(&sb, &["decrypt", "--extract", "[\"db\"][\"password\"]", &f]),
        b"hunter2"
    );
    assert_eq!(
        run_ok(&sb, &["decrypt", "--extract", "[\"port\"]", &f]),
        b"8080\n"
    );
    let db =
        String::from_utf8(run_ok(&sb, &["decrypt", "--extract", "[\"db\"]", &f])).expect("utf-8");
    assert!(
        db.contains("user = \"admin\"") && db.contains("password = \"hunter2\""),
        "{db}"
    );
    let json = run_ok(&sb, &["decrypt", "--output-type", "json", &f]);
    let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(v["port"], 8080);
    assert_eq!(v["db"]["user"], "admin");
    assert_eq!(v["servers"][0]["name"], "a");
    run_ok(&sb, &["set", &f, "[\"db\"][\"password\"]", "\"s3cret\""]);
    let after = String::from_utf8(run_ok(&sb, &["decrypt", &f])).expect("utf-8");
    assert_eq!(after, plain.replace("hunter2", "s3cret"));
    run_ok(&sb, &["unset", &f, "[\"title\"]"]);
    let after = String::from_utf8(run_ok(&sb, &["decrypt", &f])).expect("utf-8");
    assert_eq!(
        after,
        plain
            .replace("hunter2", "s3cret")
            .replace("title = \"demo\"\n", ""),
        "unset removes only its line"
    );
    // From JSON to TOML and back to the same data.
    let j = sb.write("d.json", "{\"a\": {\"b\": [1, 2]}, \"c\": \"x\"}\n");
    let t = run_ok(
        &sb,
        &[
            "encrypt",
            "--age",
            &common::keys().age1,
            "--output-type",
            "toml",
            &j.to_string_lossy(),
        ],
    );
    let t = sb.write("enc/d.toml", &t);
    let back = run_ok(
        &sb,
        &["decrypt", "--output-type", "json", &t.to_string_lossy()],
    );
    let v: serde_json::Value = serde_json::from_slice(&back).expect("json");
    assert_eq!(v, serde_json::json!({"a": {"b": [1, 2]}, "c": "x"}));
    // What TOML cannot hold is refused with its path.
    let n = sb.write("n.json", "{\"a\": {\"b\": null}}\n");
    let run = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &[
                "encrypt",
                "--age",
                &common::keys().age1,
                "--output-type",
                "toml",
                &n.to_string_lossy(),
            ],
        )
        .expect("sepal runs");
    assert!(!run.ok() && !crashed(&run), "{}", run.describe());
    assert!(
        run.stderr_text().contains("[\"a\"][\"b\"]"),
        "{}",
        run.describe()
    );
}

/// Encrypt `plain` as `name`, apply `sepal args… FILE PATH [VALUE]`, and return the decryption.
fn edited(sb: &Sandbox, name: &str, plain: &str, args: &[&str]) -> String {
    let p = sb.write(&format!("plain/{name}"), plain);
    let enc = encrypt(sb, &p);
    assert!(enc.ok(), "{}", enc.describe());
    let f = sb.write(&format!("enc/{name}"), &enc.stdout);
    let f = f.to_string_lossy().into_owned();
    let mut all = vec![args[0], f.as_str()];
    all.extend_from_slice(&args[1..]);
    run_ok(sb, &all);
    String::from_utf8(run_ok(sb, &["decrypt", &f])).expect("utf-8")
}

#[test]
fn toml_set_and_unset_keep_the_rest_of_the_file() {
    let sb = Sandbox::new();
    let plain = "# Service settings\ntitle = \"demo\" # shown in the UI\nport   = 8080\n\n\
                 # where the data lives\n[db]\n  user = 'admin'\n  pass.word = \"hunter2\"\n\n\
                 [db.replica]\nhost = \"r1\"\n\n[[servers]]\nname = \"a\"\n\n[[servers]]\n\
                 name = \"b\"\n\n# the end\n[extra]\nk = 1\n";
    // A new top-level key goes after the last top-level line, before the first table.
    assert_eq!(
        edited(&sb, "a.toml", plain, &["set", "[\"region\"]", "\"eu\""]),
        plain.replace("port   = 8080\n", "port   = 8080\nregion = \"eu\"\n")
    );
    // A new key of a table that has a sub-table goes into its own section, indented like it.
    assert_eq!(
        edited(&sb, "b.toml", plain, &["set", "[\"db\"][\"pool\"]", "5"]),
        plain.replace("hunter2\"\n", "hunter2\"\n  pool = 5\n")
    );
    // unset of a dotted key removes its line only.
    assert_eq!(
        edited(
            &sb,
            "c.toml",
            plain,
            &["unset", "[\"db\"][\"pass\"][\"word\"]"]
        ),
        plain.replace("  pass.word = \"hunter2\"\n", "  pass = {}\n")
    );
    // unset of a whole table removes its header, its lines, its sub-tables and the comment above.
    assert_eq!(
        edited(&sb, "d.toml", plain, &["unset", "[\"db\"]"]),
        plain.replace(
            "# where the data lives\n[db]\n  user = 'admin'\n  pass.word = \"hunter2\"\n\n\
             [db.replica]\nhost = \"r1\"\n\n",
            ""
        )
    );
    // ... one element of an array of tables, and the last table of the file.
    assert_eq!(
        edited(&sb, "e.toml", plain, &["unset", "[\"servers\"][0]"]),
        plain.replace("[[servers]]\nname = \"a\"\n\n", "")
    );
    assert_eq!(
        edited(&sb, "f.toml", plain, &["unset", "[\"extra\"]"]),
        plain.replace("\n# the end\n[extra]\nk = 1\n", "")
    );
}
