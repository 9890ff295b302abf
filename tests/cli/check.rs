//! `sepal check`, the keyless checker: every check with and without a finding, the text and JSON
//! output, the exit codes, the allow-list and the inline marker, the rotation policy, that it runs
//! with no key material at all, that the real sops ignores sepal's settings in `.sops.yaml`, the
//! hook `--install-hook` writes (with a real `git commit`), and the real pre-commit framework
//! running the `sepal-check-system` hook of `.pre-commit-hooks.yaml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{keys, need_sops, root, run, sepal_bin, Identity, Run, Sandbox, Tool};

/// A sandbox holding a git repository (no global or system git configuration).
struct Repo {
    sb: Sandbox,
}

impl Repo {
    fn new() -> Repo {
        let sb = Sandbox::new();
        std::fs::write(sb.join("home/empty-gitconfig"), "").unwrap();
        let r = Repo { sb };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.name", "Check Test"]);
        r.git(&["config", "user.email", "check@example.invalid"]);
        // The sandbox's HOME lives inside the repository: keep it out of `git ls-files`.
        r.write(".git/info/exclude", "home/\n");
        r
    }

    fn git_env(&self, c: &mut Command) {
        c.env("GIT_CONFIG_GLOBAL", self.sb.join("home/empty-gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.sb.home());
    }

    fn git(&self, args: &[&str]) -> Run {
        let mut c = Command::new("git");
        c.args(args).current_dir(self.sb.path());
        self.git_env(&mut c);
        let r = run(c, None);
        assert!(
            r.ok(),
            "git is needed by this test (apt-get install git): {}",
            r.describe()
        );
        r
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        self.sb.write(rel, text)
    }

    /// `sepal args…` with no key material at all.
    fn sepal(&self, args: &[&str]) -> Run {
        let mut c = self.sb.command(Tool::Sepal, Identity::None).unwrap();
        self.git_env(&mut c);
        c.args(args);
        run(c, None)
    }

    fn check(&self, args: &[&str]) -> Run {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        self.sepal(&all)
    }

    /// Encrypt `rel` in place for key1 (the only step that uses a key).
    fn encrypt(&self, rel: &str) {
        let r = self
            .sb
            .run(Tool::Sepal, Identity::Key1, &["encrypt", "-i", rel])
            .unwrap();
        assert!(r.ok(), "{}", r.describe());
    }

    fn add_all(&self) {
        self.git(&["add", "-A"]);
    }
}

fn out(r: &Run) -> String {
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// Standard output and error (git shows a hook's output on standard error).
fn said(r: &Run) -> String {
    format!("{}{}", out(r), r.stderr_text())
}

fn rules(extra: &str) -> String {
    format!(
        "creation_rules:\n  - path_regex: ^secrets/\n    age: {}\n{extra}",
        keys().age1
    )
}

fn aws_key() -> String {
    // Built at run time so that this source file holds no key-shaped text.
    format!("AKIA{}", "Q7ZXV2JH4KW3NMRT")
}

#[test]
fn a_plaintext_file_a_rule_covers_is_a_finding_until_encrypted() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/db.yaml", "password: hunter22\n");
    r.write("app/config.yaml", "port: 8080\n");
    r.add_all();
    let c = r.check(&[]);
    assert_eq!(c.code, 1, "{}", c.describe());
    let text = out(&c);
    assert!(
        text.contains("secrets/db.yaml:1: must-be-encrypted: "),
        "{text}"
    );
    assert!(!text.contains("hunter22"), "{text}");
    assert!(text.contains("1 finding in 2 files checked"), "{text}");
    r.encrypt("secrets/db.yaml");
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}\n{}", c.describe(), out(&c));
    assert!(out(&c).contains("no findings"), "{}", out(&c));
}

#[test]
fn runs_with_no_key_material_at_all() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/db.yaml", "password: hunter22\n");
    r.encrypt("secrets/db.yaml");
    r.add_all();
    // The same environment cannot even decrypt the file: there is no key in it.
    let d = r.sepal(&["decrypt", "secrets/db.yaml"]);
    assert_ne!(d.code, 0, "decrypt worked without a key: {}", d.describe());
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}\n{}", c.describe(), out(&c));
}

#[test]
fn recipients_must_match_the_rule() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/db.yaml", "password: hunter22\n");
    r.encrypt("secrets/db.yaml");
    r.add_all();
    assert_eq!(r.check(&[]).code, 0);
    // A new member joins, the old one leaves.
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    age: {}\n",
            keys().age2
        ),
    );
    let c = r.check(&[]);
    assert_eq!(c.code, 1, "{}", c.describe());
    let text = out(&c);
    assert!(text.contains("secrets/db.yaml:"), "{text}");
    assert!(text.contains(": recipients: "), "{text}");
    assert!(
        text.contains(&format!("{} (group 1) is no longer named", keys().age1)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} (group 1) is named by its creation rule but missing",
            keys().age2
        )),
        "{text}"
    );
    assert!(
        text.contains("run `sepal updatekeys secrets/db.yaml`"),
        "{text}"
    );
    // Two groups with a threshold the file does not have.
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    shamir_threshold: 1\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n",
            keys().age1,
            keys().age2
        ),
    );
    let text = out(&r.check(&[]));
    assert!(
        text.contains("(group 2) is named by its creation rule but missing"),
        "{text}"
    );
    assert!(
        text.contains("Shamir threshold is 0 but its creation rule asks for 1"),
        "{text}"
    );
}

#[test]
fn a_value_pasted_in_clear_is_named_with_its_path_and_line() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write(
        "secrets/db.yaml",
        "db:\n  user: admin\n  password: hunter22\nport_unencrypted: 5432\n",
    );
    r.encrypt("secrets/db.yaml");
    r.add_all();
    assert_eq!(r.check(&[]).code, 0);
    let enc = std::fs::read_to_string(r.sb.join("secrets/db.yaml")).unwrap();
    let pasted = enc.replacen("db:\n", "db:\n  token: pasted-by-hand\n", 1);
    assert_ne!(pasted, enc);
    r.write("secrets/db.yaml", &pasted);
    let c = r.check(&[]);
    assert_eq!(c.code, 1, "{}", c.describe());
    let text = out(&c);
    assert!(
        text.contains(
            r#"secrets/db.yaml:2: plaintext-value: the value at ["db"]["token"] is not encrypted"#
        ),
        "{text}"
    );
    assert!(!text.contains("pasted-by-hand"), "{text}");
    // The value left in clear on purpose is not a finding.
    assert!(!text.contains("port_unencrypted"), "{text}");
    // The inline marker silences it.
    r.write(
        "secrets/db.yaml",
        &enc.replacen("db:\n", "db:\n  token: pasted # sepal:allow\n", 1),
    );
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}", out(&c));
    assert!(out(&c).contains("1 finding allowed"), "{}", out(&c));
}

#[test]
fn secrets_outside_encrypted_files() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    let key = aws_key();
    r.write("notes.txt", &format!("deploy notes\n\naws id {key}\n"));
    r.write(
        "k/id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    r.write(
        "app/settings.yaml",
        "db:\n  password: s3cr3t-pw\n  api_key: ${API_KEY}\n  token: changeme\n",
    );
    r.write(
        "app/code.py",
        "password = os.environ[\"PW\"]\napi_key = \"live-1234abcd\"\n",
    );
    r.write(
        "README.md",
        "Set password: <your password> and api_key: \"\"\n",
    );
    r.add_all();
    let c = r.check(&[]);
    assert_eq!(c.code, 1, "{}", c.describe());
    let text = out(&c);
    assert!(
        text.contains("notes.txt:3: secret: aws-access-key-id: "),
        "{text}"
    );
    assert!(
        text.contains("k/id_ed25519:1: secret: private-key: "),
        "{text}"
    );
    assert!(
        text.contains("app/settings.yaml:2: secret: password-assignment: "),
        "{text}"
    );
    assert!(
        text.contains("app/code.py:2: secret: secret-assignment: "),
        "{text}"
    );
    assert!(!text.contains("settings.yaml:3"), "{text}");
    assert!(!text.contains("settings.yaml:4"), "{text}");
    assert!(!text.contains("code.py:1"), "{text}");
    assert!(!text.contains("README.md"), "{text}");
    for secret in [key.as_str(), "s3cr3t-pw", "live-1234abcd", "b3Blbn"] {
        assert!(
            !text.contains(secret),
            "the finding shows the secret: {text}"
        );
    }
    assert!(text.contains("4 findings in 5 files checked"), "{text}");
    // File arguments: only those files.
    let c = r.check(&["README.md", "app/code.py"]);
    assert_eq!(c.code, 1);
    assert_eq!(out(&c).lines().count(), 2, "{}", out(&c));
}

#[test]
fn plaintext_env_files() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write(".env", "PORT=8080\n");
    r.write("web/.env.production", "PORT=80\n");
    r.write(".env.example", "PORT=\n");
    r.write(".env.sample", "PORT=\n");
    r.add_all();
    let c = r.check(&[]);
    let text = out(&c);
    assert_eq!(c.code, 1, "{text}");
    assert!(text.contains(".env:1: plaintext-env: "), "{text}");
    assert!(
        text.contains("web/.env.production:1: plaintext-env: "),
        "{text}"
    );
    assert!(!text.contains(".env.example:"), "{text}");
    assert!(!text.contains(".env.sample:"), "{text}");
    // An ignored, untracked .env named on the command line is not a finding.
    r.write(".gitignore", ".env.local\n");
    r.write(".env.local", "PORT=1\n");
    let c = r.check(&[".env.local", ".env.example"]);
    assert_eq!(c.code, 0, "{}", out(&c));
    // An encrypted .env is fine.
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: (^|/)\\.env$\n    age: {}\n",
            keys().age1
        ),
    );
    r.encrypt(".env");
    let c = r.check(&[".env"]);
    assert_eq!(c.code, 0, "{}", out(&c));
}

#[test]
fn allow_list_in_sops_yaml() {
    let r = Repo::new();
    let key = aws_key();
    r.write("docs/example.md", &format!("id: {key}\n"));
    r.write("src/leak.txt", &format!("id: {key}\n"));
    r.write(
        ".sops.yaml",
        &rules("sepal:\n  check:\n    allow:\n      - path: ^docs/\n        check: aws-access-key-id\n"),
    );
    r.add_all();
    let c = r.check(&[]);
    let text = out(&c);
    assert_eq!(c.code, 1, "{text}");
    assert!(text.contains("src/leak.txt:1:"), "{text}");
    assert!(!text.contains("docs/example.md"), "{text}");
    assert!(text.contains("1 finding allowed"), "{text}");
    // A bad regex in the allow-list is a usage error.
    r.write(
        ".sops.yaml",
        &rules("sepal:\n  check:\n    allow:\n      - path: '('\n"),
    );
    let c = r.check(&[]);
    assert_eq!(c.code, 2, "{}", c.describe());
    assert!(c.stderr_text().contains("allow-list"), "{}", c.describe());
}

/// Give every master key of an encrypted YAML file a `created_at` (age entries have none): the
/// MAC covers the values only, so the file stays valid.
fn backdate(path: &Path, when: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if let Some(at) = line.find("recipient: ") {
            out.push_str(&format!("{}created_at: \"{when}\"\n", " ".repeat(at)));
        }
    }
    assert_ne!(out, text, "no age entry in {}", path.display());
    std::fs::write(path, out).unwrap();
}

#[test]
fn max_age_flags_old_data_keys() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/old.yaml", "a: b\n");
    r.write("secrets/new.yaml", "a: b\n");
    r.encrypt("secrets/old.yaml");
    r.encrypt("secrets/new.yaml");
    backdate(&r.sb.join("secrets/old.yaml"), "2020-01-02T03:04:05Z");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    backdate(&r.sb.join("secrets/new.yaml"), &now);
    r.add_all();
    // The edited metadata still decrypts (with the key).
    let d =
        r.sb.run(
            Tool::Sepal,
            Identity::Key1,
            &["decrypt", "secrets/old.yaml"],
        )
        .unwrap();
    assert!(d.ok(), "{}", d.describe());
    assert_eq!(r.check(&[]).code, 0, "no policy, no finding");
    let c = r.check(&["--max-age", "90d"]);
    let text = out(&c);
    assert_eq!(c.code, 1, "{text}");
    assert!(text.contains("secrets/old.yaml:"), "{text}");
    assert!(text.contains(": max-age: its data key was made "), "{text}");
    assert!(
        text.contains("run `sepal rotate -i secrets/old.yaml`"),
        "{text}"
    );
    assert!(!text.contains("secrets/new.yaml"), "{text}");
    assert_eq!(r.check(&["--max-age", "100000d"]).code, 0);
    // The setting in .sops.yaml, and the flag overriding it.
    r.write(".sops.yaml", &rules("sepal:\n  check:\n    max_age: 30d\n"));
    assert_eq!(r.check(&[]).code, 1);
    assert_eq!(r.check(&["--max-age", "100000d"]).code, 0);
}

#[test]
fn json_output() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/db.yaml", "a: b\n");
    r.write("notes.txt", &format!("x\n{}\n", aws_key()));
    r.add_all();
    let c = r.check(&["--format", "json"]);
    assert_eq!(c.code, 1, "{}", c.describe());
    let v: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["files"], 2);
    assert_eq!(v["allowed"], 0);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{v}");
    let secret = findings.iter().find(|f| f["check"] == "secret").unwrap();
    assert_eq!(secret["path"], "notes.txt");
    assert_eq!(secret["line"], 2);
    assert_eq!(secret["rule"], "aws-access-key-id");
    assert!(!secret["message"].as_str().unwrap().contains(&aws_key()));
    let plain = findings
        .iter()
        .find(|f| f["check"] == "must-be-encrypted")
        .unwrap();
    assert_eq!(plain["path"], "secrets/db.yaml");
    assert!(plain.get("rule").is_none());
    std::fs::remove_file(r.sb.join("notes.txt")).unwrap();
    r.encrypt("secrets/db.yaml");
    let c = r.check(&["--format", "json", "secrets"]);
    assert_eq!(c.code, 0, "{}", out(&c));
    let v: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn usage_errors_exit_2() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.add_all();
    for args in [
        &["--max-age", "soon"][..],
        &["--format", "xml"][..],
        &["no/such/file"][..],
        &["--bogus"][..],
    ] {
        let c = r.check(args);
        assert_eq!(c.code, 2, "{args:?}: {}", c.describe());
    }
    r.write(
        ".sops.yaml",
        &rules("sepal:\n  check:\n    max_age: often\n"),
    );
    assert_eq!(r.check(&[]).code, 2);
    // Outside a git repository, with no path: nothing to list.
    let sb = Sandbox::new();
    let c = sb.run(Tool::Sepal, Identity::None, &["check"]).unwrap();
    assert_eq!(c.code, 2, "{}", c.describe());
    assert!(
        c.stderr_text().contains("not inside a git repository"),
        "{}",
        c.describe()
    );
}

#[test]
fn sops_ignores_sepal_settings_in_sops_yaml() {
    let sops = need_sops("sops_ignores_sepal_settings_in_sops_yaml");
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &rules("sepal:\n  check:\n    max_age: 90d\n    allow:\n      - {path: ^docs/, check: secret}\n"),
    );
    r.write("secrets/db.yaml", "password: hunter22\n");
    let mut c = r.sb.command(Tool::Sops, Identity::Key1).unwrap();
    c.args(["encrypt", "-i", "secrets/db.yaml"]);
    let e = run(c, None);
    assert!(
        e.ok(),
        "{} with a sepal: key in .sops.yaml: {}",
        sops.display(),
        e.describe()
    );
    let mut c = r.sb.command(Tool::Sops, Identity::Key1).unwrap();
    c.args(["decrypt", "secrets/db.yaml"]);
    let d = run(c, None);
    assert!(d.ok(), "{}", d.describe());
    assert_eq!(out(&d), "password: hunter22\n");
    r.add_all();
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}", out(&c));
}

fn path_with_sepal() -> std::ffi::OsString {
    let dir = sepal_bin().parent().unwrap().to_path_buf();
    let mut parts = vec![dir];
    if let Some(p) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(parts).unwrap()
}

/// `git commit` in the repository with sepal's binary first on PATH and no key.
fn commit(r: &Repo, message: &str) -> Run {
    let mut c = Command::new("git");
    c.args(["commit", "-q", "-m", message])
        .current_dir(r.sb.path())
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env("PATH", path_with_sepal());
    r.git_env(&mut c);
    run(c, None)
}

#[test]
fn install_hook_refuses_a_leaking_commit() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    let i = r.check(&["--install-hook"]);
    assert_eq!(i.code, 0, "{}", i.describe());
    let hook = r.sb.join(".git/hooks/pre-commit");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "the hook is not executable: {mode:o}");
    }
    // Again: nothing to do.
    let again = r.check(&["--install-hook"]);
    assert_eq!(again.code, 0, "{}", again.describe());
    assert!(
        again.stderr_text().contains("already installed"),
        "{}",
        again.describe()
    );
    // A commit that adds a plaintext file a rule covers is refused.
    r.write("secrets/db.yaml", "password: hunter22\n");
    r.add_all();
    let refused = commit(&r, "leak");
    assert_ne!(
        refused.code,
        0,
        "the commit went through: {}",
        refused.describe()
    );
    assert!(
        said(&refused).contains("must-be-encrypted"),
        "{}",
        out(&refused)
    );
    // Encrypted, it passes.
    r.encrypt("secrets/db.yaml");
    r.add_all();
    let ok = commit(&r, "encrypted secrets");
    assert!(ok.ok(), "{}\n{}", ok.describe(), out(&ok));
    // A file with a name that needs care, holding an AWS key, is refused too.
    r.write("my notes.txt", &format!("{}\n", aws_key()));
    r.add_all();
    let refused = commit(&r, "key");
    assert_ne!(refused.code, 0, "{}", refused.describe());
    assert!(
        said(&refused).contains("my notes.txt:1: secret: aws-access-key-id"),
        "{}",
        out(&refused)
    );
}

#[test]
fn install_hook_never_overwrites_another_hook() {
    let r = Repo::new();
    let hook = r.write(".git/hooks/pre-commit", "#!/bin/sh\necho mine\n");
    let i = r.check(&["--install-hook"]);
    assert_eq!(i.code, 2, "{}", i.describe());
    assert!(
        i.stderr_text().contains("not sepal's hook"),
        "{}",
        i.describe()
    );
    assert_eq!(
        std::fs::read_to_string(hook).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
}

/// The real pre-commit framework (from PyPI) runs the `sepal-check-system` hook of this
/// repository's `.pre-commit-hooks.yaml`.
#[test]
fn pre_commit_framework_runs_the_hook() {
    let available = Command::new("python3")
        .args(["-m", "pre_commit", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        available,
        "this test needs the pre-commit framework: python3 -m pip install pre-commit"
    );
    // A throwaway repository holding a copy of .pre-commit-hooks.yaml.
    let hooks = Repo::new();
    let manifest = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    assert!(manifest.contains("id: sepal-check\n"), "{manifest}");
    hooks.write(".pre-commit-hooks.yaml", &manifest);
    hooks.add_all();
    hooks.git(&["commit", "-q", "-m", "hooks"]);
    let sha = out(&hooks.git(&["rev-parse", "HEAD"])).trim().to_string();

    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n  - repo: {}\n    rev: {sha}\n    hooks:\n      - id: sepal-check-system\n",
            hooks.sb.path().display()
        ),
    );
    r.add_all();
    r.git(&["commit", "-q", "-m", "config", "--no-verify"]);
    let pre_commit_home = r.sb.join("home/pre-commit-cache");
    let mut c = Command::new("python3");
    c.args(["-m", "pre_commit", "install"])
        .current_dir(r.sb.path())
        .env("PRE_COMMIT_HOME", &pre_commit_home);
    r.git_env(&mut c);
    let inst = run(c, None);
    assert!(inst.ok(), "{}", inst.describe());

    let commit_pc = |message: &str| {
        let mut c = Command::new("git");
        c.args(["commit", "-q", "-m", message])
            .current_dir(r.sb.path())
            .env("PRE_COMMIT_HOME", &pre_commit_home)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .env("PATH", path_with_sepal());
        r.git_env(&mut c);
        run(c, None)
    };
    r.write("deploy.txt", &format!("aws {}\n", aws_key()));
    r.add_all();
    let refused = commit_pc("leak");
    let said = format!("{}{}", out(&refused), refused.stderr_text());
    assert_ne!(refused.code, 0, "pre-commit let the commit through: {said}");
    assert!(
        said.contains("deploy.txt:1: secret: aws-access-key-id"),
        "{said}"
    );
    assert!(!said.contains(&aws_key()), "{said}");
    r.write("deploy.txt", "aws id comes from the environment\n");
    r.add_all();
    let ok = commit_pc("clean");
    assert!(ok.ok(), "{}\n{}", ok.describe(), out(&ok));
}

/// Age keys carry no `created_at` (sops writes none): the data key's age is then the date of the
/// first commit that holds one of its wrapped keys. A key committed long ago is flagged; after
/// `rotate` (new wrapped keys, not yet committed, then committed today) it is not.
#[test]
fn max_age_of_age_keys_comes_from_git_history() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/s.yaml", "a: b\n");
    r.encrypt("secrets/s.yaml");
    r.write("secrets/fresh.yaml", "a: b\n");
    r.encrypt("secrets/fresh.yaml");
    assert!(!std::fs::read_to_string(r.sb.join("secrets/s.yaml"))
        .unwrap()
        .contains("created_at"));
    r.add_all();
    // Not committed yet: a new key.
    assert_eq!(r.check(&["--max-age", "90d"]).code, 0);
    let mut c = Command::new("git");
    c.args([
        "commit",
        "-q",
        "-m",
        "old",
        "--",
        "secrets/s.yaml",
        ".sops.yaml",
    ])
    .current_dir(r.sb.path())
    .env("GIT_COMMITTER_DATE", "2021-03-04T05:06:07Z")
    .env("GIT_AUTHOR_DATE", "2021-03-04T05:06:07Z");
    r.git_env(&mut c);
    assert!(run(c, None).ok());
    r.git(&["commit", "-q", "-m", "today", "--", "secrets/fresh.yaml"]);
    let c = r.check(&["--max-age", "90d"]);
    let text = out(&c);
    assert_eq!(c.code, 1, "{text}");
    assert!(
        text.contains("secrets/s.yaml:")
            && text.contains("max-age: its data key was made ")
            && text.contains("first committed 2021-03-04T05:06:07"),
        "{text}"
    );
    assert!(!text.contains("secrets/fresh.yaml"), "{text}");
    // A new data key (rotate), committed today, is young again.
    let rot =
        r.sb.run(
            Tool::Sepal,
            Identity::Key1,
            &["rotate", "-i", "secrets/s.yaml"],
        )
        .unwrap();
    assert!(rot.ok(), "{}", rot.describe());
    r.git(&["commit", "-q", "-am", "rotated"]);
    let c = r.check(&["--max-age", "90d"]);
    assert_eq!(c.code, 0, "{}", out(&c));
}

#[test]
fn a_toml_file_sops_cannot_read_is_a_finding_where_sops_is_used() {
    let r = Repo::new();
    r.write(".sops.yaml", &rules(""));
    r.write("secrets/app.toml", "[db]\npassword = \"hunter22\"\n");
    r.encrypt("secrets/app.toml");
    r.add_all();
    // No sign of sops in the repository: sepal's TOML format is nobody's problem.
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}\n{}", c.describe(), out(&c));
    // A Makefile that runs sops (after a comment that only mentions it).
    r.write(
        "Makefile",
        "# we used to run sops -d here\nconfig:\n\tsops -d secrets/app.toml > app.toml\n",
    );
    r.add_all();
    let c = r.check(&[]);
    assert_eq!(c.code, 1, "{}\n{}", c.describe(), out(&c));
    let text = out(&c);
    assert!(
        text.contains("secrets/app.toml:4: sops-cannot-read-toml: ")
            && text.contains("(Makefile:3)"),
        "{text}"
    );
    assert!(!text.contains("hunter22"), "{text}");
    // Checking the TOML file alone (a pre-commit hook) still looks at the repository.
    let c = r.check(&["secrets/app.toml"]);
    assert_eq!(c.code, 1, "{}\n{}", c.describe(), out(&c));
    // An inline marker does not silence it (the [sops] table is rewritten on every write) ...
    // ... but the allow-list does.
    r.write(
        ".sops.yaml",
        &rules("sepal:\n  check:\n    allow:\n      - check: sops-cannot-read-toml\n"),
    );
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}\n{}", c.describe(), out(&c));
    assert!(out(&c).contains("1 finding allowed"), "{}", out(&c));
    // Stored in sops's binary format instead, the file is readable by sops: no finding.
    r.write(".sops.yaml", &rules(""));
    let d =
        r.sb.run(
            Tool::Sepal,
            Identity::Key1,
            &["decrypt", "-i", "secrets/app.toml"],
        )
        .unwrap();
    assert!(d.ok(), "{}", d.describe());
    let e =
        r.sb.run(
            Tool::Sepal,
            Identity::Key1,
            &[
                "encrypt",
                "-i",
                "--input-type",
                "binary",
                "--output-type",
                "binary",
                "secrets/app.toml",
            ],
        )
        .unwrap();
    assert!(e.ok(), "{}", e.describe());
    let c = r.check(&[]);
    assert_eq!(c.code, 0, "{}\n{}", c.describe(), out(&c));
}

#[test]
fn ci_workflows_and_pre_commit_configurations_are_signs_of_sops() {
    for (file, text, line) in [
        (
            ".github/workflows/deploy.yml",
            "jobs:\n  d:\n    steps:\n      - uses: mdgreenwald/mozilla-sops-action@v1\n",
            4,
        ),
        (
            ".pre-commit-config.yaml",
            "repos:\n  - repo: https://github.com/example/sops-pre-commit\n    rev: v1\n",
            2,
        ),
        (".gitattributes", "*.enc.toml diff=sopsdiffer\n", 1),
        (
            "scripts/deploy.sh",
            "#!/bin/sh\nexport TOKEN=$(sops -d --extract '[\"t\"]' s.toml)\n",
            2,
        ),
    ] {
        let r = Repo::new();
        r.write(".sops.yaml", &rules(""));
        r.write("secrets/app.toml", "token = \"t0k3n\"\n");
        r.encrypt("secrets/app.toml");
        r.write(file, text);
        r.add_all();
        let c = r.check(&[]);
        assert_eq!(c.code, 1, "{file}: {}\n{}", c.describe(), out(&c));
        assert!(
            out(&c).contains(&format!("({file}:{line})")),
            "{file}: {}",
            out(&c)
        );
    }
}
