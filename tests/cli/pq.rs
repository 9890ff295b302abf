//! Post-quantum age keys (`mlkem768x25519`, sops 3.11) and key files with lines sepal cannot use.
//!
//! sepal alone: `keygen --pq` → `encrypt --age age1pq1…` → `decrypt` through every identity
//! source; the committed sops-made file of `fixtures/pq/`; a key file holding a PQ identity beside
//! an X25519 one; unusable key-file lines skipped with one warning (file and line number, never
//! the content). With the real sops (`…_with_sops`): sops encrypts to a sepal-made PQ recipient
//! and sepal decrypts, and the reverse.

use std::path::{Path, PathBuf};

use crate::common::{self, keys, Identity, Run, Sandbox, Tool};

const PLAIN: &str = "# service settings\ndb:\n    user: app\n    password: hunter2\nport: 8443\n";

/// The committed post-quantum fixtures.
fn pq_fixture(name: &str) -> PathBuf {
    common::fixtures().join("pq").join(name)
}

/// The recipient on a key file's `# public key:` line.
fn public_key(key_file: &Path) -> String {
    std::fs::read_to_string(key_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", key_file.display()))
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap_or_else(|| panic!("no public key line in {}", key_file.display()))
        .trim()
        .to_string()
}

/// Run `tool args…` in the sandbox with `SOPS_AGE_KEY_FILE=key_file` (or no age identity).
fn run_with(sb: &Sandbox, tool: Tool, key_file: Option<&Path>, args: &[&str]) -> Run {
    let mut c = sb
        .command(tool, Identity::None)
        .expect("the tool is installed");
    if let Some(k) = key_file {
        c.env("SOPS_AGE_KEY_FILE", k);
    }
    c.args(args);
    common::run(c, None)
}

/// `sepal keygen --pq -o <rel>` in the sandbox; returns the key file and the recipient.
fn keygen_pq(sb: &Sandbox, rel: &str) -> (PathBuf, String) {
    let path = sb.join(rel);
    let r = run_with(
        sb,
        Tool::Sepal,
        None,
        &["keygen", "--pq", "-o", &path.display().to_string()],
    );
    assert!(r.ok(), "keygen --pq: {}", r.describe());
    let recipient = String::from_utf8(r.stdout).expect("UTF-8 recipient");
    let recipient = recipient.trim().to_string();
    assert_eq!(recipient, public_key(&path));
    (path, recipient)
}

fn assert_decrypts(r: &Run, plain: &str) {
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        plain,
        "{}: not the plaintext",
        r.what
    );
}

/// The `warning:` lines of a run's stderr.
fn warnings(r: &Run) -> Vec<String> {
    r.stderr_text()
        .lines()
        .filter(|l| l.contains("warning"))
        .map(str::to_string)
        .collect()
}

#[test]
fn pq_keygen_encrypt_decrypt() {
    let sb = Sandbox::new();
    let (key, recipient) = keygen_pq(&sb, "k/pq.txt");
    let text = std::fs::read_to_string(&key).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("# created: "), "{}", lines[0]);
    assert_eq!(lines[1], format!("# public key: {recipient}"));
    assert!(lines[2].starts_with("AGE-SECRET-KEY-PQ-1"));
    assert!(recipient.starts_with("age1pq1") && recipient.len() > 1900);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }

    sb.write("plain.yaml", PLAIN);
    let r = run_with(
        &sb,
        Tool::Sepal,
        None,
        &[
            "encrypt",
            "--age",
            &recipient,
            "--output",
            "enc.yaml",
            "plain.yaml",
        ],
    );
    assert!(r.ok(), "encrypt: {}", r.describe());
    let enc = std::fs::read_to_string(sb.join("enc.yaml")).unwrap();
    assert!(enc.contains(&format!("recipient: {recipient}")));
    assert!(!enc.contains("hunter2"));

    // SOPS_AGE_KEY_FILE.
    assert_decrypts(
        &run_with(&sb, Tool::Sepal, Some(&key), &["decrypt", "enc.yaml"]),
        PLAIN,
    );
    // SOPS_AGE_KEY and SOPS_AGE_KEY_CMD.
    let secret = text.lines().last().unwrap();
    let mut c = sb.command(Tool::Sepal, Identity::None).unwrap();
    c.env("SOPS_AGE_KEY", secret).args(["decrypt", "enc.yaml"]);
    assert_decrypts(&common::run(c, None), PLAIN);
    let mut c = sb.command(Tool::Sepal, Identity::None).unwrap();
    c.env("SOPS_AGE_KEY_CMD", format!("cat {}", key.display()))
        .args(["decrypt", "enc.yaml"]);
    assert_decrypts(&common::run(c, None), PLAIN);
    // No identity, another PQ identity, an X25519 one: exit 128.
    let (other, _) = keygen_pq(&sb, "k/other.txt");
    for k in [None, Some(other.as_path()), Some(keys().key1.as_path())] {
        let r = run_with(&sb, Tool::Sepal, k, &["decrypt", "enc.yaml"]);
        assert_eq!(r.code, 128, "{}", r.describe());
        assert!(r.stdout.is_empty());
        assert!(r.stderr_text().contains("Failed to get the data key"));
    }
    // The default key file: `keygen --pq` writes it, decrypt finds it.
    let r = run_with(&sb, Tool::Sepal, None, &["keygen", "--pq"]);
    assert!(r.ok(), "keygen --pq: {}", r.describe());
    let default = sb.home().join(".config/sops/age/keys.txt");
    let recipient2 = public_key(&default);
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), recipient2);
    let r = run_with(
        &sb,
        Tool::Sepal,
        None,
        &[
            "encrypt",
            "--age",
            &recipient2,
            "--output",
            "enc2.yaml",
            "plain.yaml",
        ],
    );
    assert!(r.ok(), "encrypt: {}", r.describe());
    assert_decrypts(
        &run_with(&sb, Tool::Sepal, None, &["decrypt", "enc2.yaml"]),
        PLAIN,
    );
    // A broken recipient is refused without printing 2000 characters of it.
    // (The last character changed to another of bech32's: a checksum that no longer matches.)
    let other = if recipient.ends_with('q') { 'p' } else { 'q' };
    let broken = format!("{}{other}", &recipient[..recipient.len() - 1]);
    let r = run_with(
        &sb,
        Tool::Sepal,
        None,
        &["encrypt", "--age", &broken, "plain.yaml"],
    );
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty());
    assert!(r.stderr_text().contains("post-quantum"), "{}", r.describe());
}

/// `.sops.yaml` rules may name PQ recipients beside X25519 ones; each identity opens the file.
#[test]
fn pq_creation_rule_with_x25519() {
    let sb = Sandbox::new();
    let (key, recipient) = keygen_pq(&sb, "pq.txt");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: secrets/\n    age: >-\n      {recipient},\n      {}\n",
            keys().age1
        ),
    );
    sb.write("secrets/app.yaml", PLAIN);
    let r = run_with(
        &sb,
        Tool::Sepal,
        None,
        &["encrypt", "-i", "secrets/app.yaml"],
    );
    assert!(r.ok(), "encrypt -i: {}", r.describe());
    let enc = std::fs::read_to_string(sb.join("secrets/app.yaml")).unwrap();
    assert_eq!(enc.matches("recipient: ").count(), 2, "{enc}");
    for k in [&key, &keys().key1] {
        assert_decrypts(
            &run_with(&sb, Tool::Sepal, Some(k), &["decrypt", "secrets/app.yaml"]),
            PLAIN,
        );
    }
}

/// The committed file the real sops 3.11 made for a PQ and an X25519 recipient: sepal opens it
/// with either identity (no sops needed).
#[test]
fn pq_sops_made_fixture_decrypts() {
    let sb = Sandbox::new();
    let expected = std::fs::read_to_string(pq_fixture("sops-made.yaml.expected")).unwrap();
    let file = pq_fixture("sops-made.yaml").display().to_string();
    let enc = std::fs::read_to_string(&file).unwrap();
    assert!(enc.contains(&format!(
        "recipient: {}",
        public_key(&pq_fixture("key.txt"))
    )));
    for k in [pq_fixture("key.txt"), keys().key1.clone()] {
        let r = run_with(&sb, Tool::Sepal, Some(&k), &["decrypt", &file]);
        assert_decrypts(&r, &expected);
        assert!(warnings(&r).is_empty(), "{}", r.describe());
    }
    let r = run_with(&sb, Tool::Sepal, Some(&keys().key2), &["decrypt", &file]);
    assert_eq!(r.code, 128, "{}", r.describe());
}

#[test]
fn pq_sops_encrypts_sepal_decrypts_with_sops() {
    common::need_sops("pq_sops_encrypts_sepal_decrypts_with_sops");
    let sb = Sandbox::new();
    let (key, recipient) = keygen_pq(&sb, "pq.txt");
    sb.write("plain.yaml", PLAIN);
    // PQ alone, then PQ beside X25519.
    for (out, age) in [
        ("s1.yaml", recipient.clone()),
        ("s2.yaml", format!("{},{recipient}", keys().age1)),
    ] {
        let r = run_with(
            &sb,
            Tool::Sops,
            None,
            &["encrypt", "--age", &age, "--output", out, "plain.yaml"],
        );
        assert!(r.ok(), "sops encrypt: {}", r.describe());
        assert_decrypts(
            &run_with(&sb, Tool::Sepal, Some(&key), &["decrypt", out]),
            PLAIN,
        );
        // sops itself reads it with the same key (the reference).
        let r = run_with(&sb, Tool::Sops, Some(&key), &["decrypt", out]);
        assert!(r.ok(), "sops decrypt: {}", r.describe());
    }
}

#[test]
fn pq_sepal_encrypts_sops_decrypts_with_sops() {
    common::need_sops("pq_sepal_encrypts_sops_decrypts_with_sops");
    let sb = Sandbox::new();
    let (key, recipient) = keygen_pq(&sb, "pq.txt");
    sb.write("plain.yaml", PLAIN);
    for (out, age) in [
        ("e1.yaml", recipient.clone()),
        ("e2.yaml", format!("{recipient},{}", keys().age1)),
    ] {
        let r = run_with(
            &sb,
            Tool::Sepal,
            None,
            &["encrypt", "--age", &age, "--output", out, "plain.yaml"],
        );
        assert!(r.ok(), "sepal encrypt: {}", r.describe());
        let r = run_with(&sb, Tool::Sops, Some(&key), &["decrypt", out]);
        assert!(r.ok(), "sops decrypt: {}", r.describe());
        // sops prints YAML its own way; the values are what matter.
        let text = String::from_utf8_lossy(&r.stdout);
        assert!(
            text.contains("password: hunter2") && text.contains("port: 8443"),
            "{text}"
        );
    }
    // The committed key opens what sepal makes for it, in sops too.
    let fixed = public_key(&pq_fixture("key.txt"));
    let r = run_with(
        &sb,
        Tool::Sepal,
        None,
        &[
            "encrypt",
            "--age",
            &fixed,
            "--output",
            "e3.yaml",
            "plain.yaml",
        ],
    );
    assert!(r.ok(), "sepal encrypt: {}", r.describe());
    let r = run_with(
        &sb,
        Tool::Sops,
        Some(&pq_fixture("key.txt")),
        &["decrypt", "e3.yaml"],
    );
    assert!(r.ok(), "sops decrypt: {}", r.describe());
}

/// A key file holding a PQ identity beside an X25519 one opens X25519 files (made by sepal and
/// by sops), with no warning: both lines are usable.
#[test]
fn pq_identity_beside_x25519_decrypts_x25519_file() {
    let sb = Sandbox::new();
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(pq_fixture("key.txt")).unwrap(),
        std::fs::read_to_string(&keys().key1).unwrap()
    );
    let key = sb.write("mixed-keys.txt", both);
    sb.encrypt_for_key1(Tool::Sepal, "plain.yaml", PLAIN, "x.yaml");
    let r = run_with(&sb, Tool::Sepal, Some(&key), &["decrypt", "x.yaml"]);
    assert_decrypts(&r, PLAIN);
    assert!(r.stderr.is_empty(), "{}", r.describe());
    // A file the real sops made for key1 (committed fixture).
    let fixture = common::fixtures().join("sops/basic.yaml");
    let expected =
        std::fs::read_to_string(common::fixtures().join("sops/basic.yaml.expected")).unwrap();
    let r = run_with(
        &sb,
        Tool::Sepal,
        Some(&key),
        &["decrypt", &fixture.display().to_string()],
    );
    assert_decrypts(&r, &expected);
    assert!(r.stderr.is_empty(), "{}", r.describe());
}

/// Lines sepal cannot use are skipped with one warning naming the file and the line numbers,
/// never their content; when no identity opens the file, the usual error names them too.
#[test]
fn unusable_key_file_lines_are_skipped_with_one_warning() {
    let sb = Sandbox::new();
    let garbage = "this-is-not-a-key-SECRETWORD";
    let plugin = "AGE-PLUGIN-YUBIKEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQG";
    let key1 = std::fs::read_to_string(&keys().key1).unwrap();
    let key = sb.write(
        "keys.txt",
        format!("# my keys\n{garbage}\n\n{plugin}\n{key1}"),
    );
    sb.encrypt_for_key1(Tool::Sepal, "plain.yaml", PLAIN, "x.yaml");
    let r = run_with(&sb, Tool::Sepal, Some(&key), &["decrypt", "x.yaml"]);
    assert_decrypts(&r, PLAIN);
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "one warning: {}", r.describe());
    let shown = key.display().to_string();
    assert!(
        w[0].contains(&shown) && w[0].contains("line 2") && w[0].contains("line 4"),
        "{}",
        w[0]
    );
    let err = r.stderr_text();
    assert!(
        !err.contains("SECRETWORD") && !err.contains("YUBIKEY") && !err.contains("QYQSZQ"),
        "{err}"
    );

    // Several files opened in one run (updatekeys adding key2 to two files): still one warning.
    sb.encrypt_for_key1(Tool::Sepal, "plain2.yaml", PLAIN, "y.yaml");
    std::fs::copy(sb.join("x.yaml"), sb.join("x2.yaml")).unwrap();
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {},{}\n",
            keys().age1,
            keys().age2
        ),
    );
    let r = run_with(
        &sb,
        Tool::Sepal,
        Some(&key),
        &["updatekeys", "-y", "x2.yaml", "y.yaml"],
    );
    assert!(r.ok(), "{}", r.describe());
    // Two files: the many-file form (docs/bulk.md), one line per file on stdout.
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        stdout.matches(": keys updated").count(),
        2,
        "{stdout}{}",
        r.describe()
    );
    assert_eq!(warnings(&r).len(), 1, "{}", r.describe());

    // The same file with key2 instead of key1: nothing opens it; the error names the lines.
    let key2 = std::fs::read_to_string(&keys().key2).unwrap();
    let only2 = sb.write(
        "keys2.txt",
        format!("# my keys\n{garbage}\n\n{plugin}\n{key2}"),
    );
    let r = run_with(&sb, Tool::Sepal, Some(&only2), &["decrypt", "x.yaml"]);
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(r.stdout.is_empty());
    let err = r.stderr_text();
    assert!(err.contains("Failed to get the data key"), "{err}");
    assert!(
        err.contains("line 2 (not an age identity)")
            && err.contains("line 4 (an age plugin identity"),
        "{err}"
    );
    assert!(
        !err.contains("SECRETWORD") && !err.contains("QYQSZQ"),
        "{err}"
    );

    // Only unusable lines: the load error names them.
    let none = sb.write("none.txt", format!("{garbage}\n{plugin}\n"));
    let r = run_with(&sb, Tool::Sepal, Some(&none), &["decrypt", "x.yaml"]);
    assert_eq!(r.code, 128, "{}", r.describe());
    let err = r.stderr_text();
    assert!(
        err.contains("line 1 (not an age identity)") && err.contains(&none.display().to_string()),
        "{err}"
    );
}
