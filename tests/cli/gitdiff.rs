//! `sepal textconv` and `sepal git-setup` with the real git, in throwaway repositories: the set-up
//! is idempotent; `git diff`, `git log -p` and `git show` show the decrypted change with the key
//! and, without it, markers that differ only for the value whose ciphertext changed; files named
//! without an extension, files under the attribute that are not sops files, garbage and empty
//! input all go through without an error. Also: the regex→pattern translation of `git-setup`
//! agrees with git's own matching (`git check-attr`) on sample paths.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{keys, run, sepal_bin, Run, Sandbox};

const INSTALL_GIT: &str = "this test needs git on PATH: install git (apt-get install git)";

/// A throwaway repository in a sandbox: git with an empty global config, no system config, the
/// folder of the sepal binary first on PATH, and a HOME with or without the age key.
struct Repo {
    sandbox: Sandbox,
}

impl Repo {
    fn new() -> Repo {
        let sandbox = Sandbox::new();
        sandbox.write("gitconfig", "");
        std::fs::create_dir_all(sandbox.join("repo")).unwrap();
        let repo = Repo { sandbox };
        let init = repo.git(true, &["init", "-q", "-b", "main"]);
        assert!(init.ok(), "{}", init.describe());
        for (k, v) in [
            ("user.name", "Sepal Test"),
            ("user.email", "test@example.invalid"),
        ] {
            assert!(repo.git(true, &["config", k, v]).ok());
        }
        repo
    }

    fn dir(&self) -> PathBuf {
        self.sandbox.join("repo")
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        self.sandbox.write(&format!("repo/{rel}"), bytes);
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir().join(rel)).unwrap()
    }

    fn env(&self, c: &mut Command, with_key: bool) {
        let bin_dir = sepal_bin().parent().unwrap().to_path_buf();
        let mut path = vec![bin_dir];
        if let Some(p) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&p));
        }
        c.env_clear()
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", self.sandbox.home())
            .env("XDG_CONFIG_HOME", self.sandbox.home().join(".config"))
            .env("TMPDIR", std::env::temp_dir())
            .env("GIT_CONFIG_GLOBAL", self.sandbox.join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_PAGER", "cat")
            .env("SOPS_DISABLE_VERSION_CHECK", "true")
            .current_dir(self.dir());
        if with_key {
            c.env("SOPS_AGE_KEY_FILE", &keys().key1);
        }
    }

    fn git(&self, with_key: bool, args: &[&str]) -> Run {
        let mut c = Command::new("git");
        self.env(&mut c, with_key);
        c.args(args);
        if which_git().is_none() {
            panic!("{INSTALL_GIT}");
        }
        run(c, None)
    }

    fn git_ok(&self, with_key: bool, args: &[&str]) -> String {
        let r = self.git(with_key, args);
        assert!(r.ok(), "{}", r.describe());
        assert!(
            r.stderr.is_empty(),
            "git {args:?} wrote to stderr: {}",
            r.stderr_text()
        );
        String::from_utf8(r.stdout).unwrap()
    }

    fn sepal(&self, with_key: bool, args: &[&str]) -> Run {
        let mut c = Command::new(sepal_bin());
        self.env(&mut c, with_key);
        c.args(args);
        run(c, None)
    }

    fn sepal_in(&self, sub: &str, args: &[&str]) -> Run {
        let mut c = Command::new(sepal_bin());
        self.env(&mut c, true);
        c.current_dir(self.dir().join(sub)).args(args);
        run(c, None)
    }

    fn sepal_ok(&self, args: &[&str]) -> String {
        let r = self.sepal(true, args);
        assert!(r.ok(), "{}", r.describe());
        String::from_utf8(r.stdout).unwrap()
    }

    fn commit(&self, message: &str) {
        self.git_ok(true, &["add", "-A"]);
        self.git_ok(true, &["commit", "-q", "-m", message]);
    }
}

fn which_git() -> Option<()> {
    Command::new("git")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| ())
}

/// The added and removed lines of a diff (without the `+++`/`---` headers).
fn changed_lines(diff: &str) -> Vec<String> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(str::to_string)
        .collect()
}

const PLAIN: &str = "\
# database settings
db:
    user: admin
    password: hunter2
api_token: tok-1
";

/// A repository with `.sops.yaml`, an encrypted YAML file, an encrypted dotenv file matched by a
/// rule with no exact pattern, and a plain file named like an encrypted one, all committed.
fn repo_with_files() -> Repo {
    let repo = Repo::new();
    repo.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {age}\n  - path_regex: .*.env$\n    age: {age}\n",
            age = keys().age1
        ),
    );
    repo.write("secrets.enc.yaml", PLAIN);
    repo.sepal_ok(&["encrypt", "-i", "secrets.enc.yaml"]);
    repo.write("app.env", "A=1\nB=2\n");
    repo.sepal_ok(&["encrypt", "-i", "app.env"]);
    repo.write("plain.enc.yaml", "hello: world\n");
    repo.commit("files");
    repo
}

#[test]
fn git_setup_writes_config_and_attributes_once() {
    let repo = repo_with_files();
    let first = repo.sepal(true, &["git-setup"]);
    assert!(first.ok(), "{}", first.describe());
    let out = String::from_utf8(first.stdout).unwrap();
    assert!(
        out.contains("added *.enc.yaml diff=sepal merge=sepal"),
        "{out}"
    );
    assert!(
        out.contains("added /app.env diff=sepal merge=sepal"),
        "{out}"
    );
    assert!(out.contains("no exact gitattributes pattern"), "{out}");
    assert!(
        out.contains("git config diff.sepal.textconv: set to"),
        "{out}"
    );
    let attributes = repo.read(".gitattributes");
    assert_eq!(
        attributes,
        "*.enc.yaml diff=sepal merge=sepal\n/app.env diff=sepal merge=sepal\n"
    );
    let config = |key: &str| {
        repo.git_ok(true, &["config", "--local", "--get", key])
            .trim_end()
            .to_string()
    };
    assert_eq!(config("diff.sepal.textconv"), "sepal textconv");
    assert_eq!(config("diff.sepal.cachetextconv"), "false");
    assert_eq!(config("merge.sepal.driver"), "sepal merge %O %A %B %P");
    assert!(!config("merge.sepal.name").is_empty());

    let second = repo.sepal(true, &["git-setup"]);
    assert!(second.ok(), "{}", second.describe());
    let out = String::from_utf8(second.stdout).unwrap();
    assert!(out.contains("nothing to change: already set up"), "{out}");
    assert!(!out.contains("added"), "{out}");
    assert_eq!(repo.read(".gitattributes"), attributes);
    assert_eq!(config("diff.sepal.textconv"), "sepal textconv");

    // The attribute applies where git looks it up.
    let attr = repo.git_ok(
        true,
        &["check-attr", "diff", "--", "x/y.enc.yaml", "app.env"],
    );
    assert!(attr.contains("x/y.enc.yaml: diff: sepal"), "{attr}");
    assert!(attr.contains("app.env: diff: sepal"), "{attr}");

    // Another command, and explicit patterns.
    let custom = repo.sepal(
        true,
        &["git-setup", "--command", "/opt/my tools/sepal", "noext"],
    );
    assert!(custom.ok(), "{}", custom.describe());
    assert_eq!(
        config("diff.sepal.textconv"),
        "'/opt/my tools/sepal' textconv"
    );
    let out = String::from_utf8(custom.stdout).unwrap();
    assert!(
        out.contains("diff.sepal.textconv: changed from \"sepal textconv\" to"),
        "{out}"
    );
    assert!(repo
        .read(".gitattributes")
        .ends_with("\nnoext diff=sepal merge=sepal\n"));
}

/// `.sops.yaml` in a subfolder: its `.gitattributes` goes beside it (rules match paths relative
/// to it); a rule without `path_regex` lists only the tracked files that are sops-encrypted.
#[test]
fn git_setup_writes_beside_a_sops_yaml_in_a_subfolder() {
    let repo = Repo::new();
    repo.write(
        "infra/.sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^prod/.*\\.yaml$\n    age: {age}\n  - age: {age}\n",
            age = keys().age1
        ),
    );
    repo.write("infra/prod/a.yaml", PLAIN);
    repo.write("infra/dev.json", "{\"a\": 1}\n");
    repo.write("infra/readme.txt", "hi\n");
    repo.write("elsewhere.json", "{\"a\": 1}\n");
    for f in ["infra/prod/a.yaml", "infra/dev.json", "elsewhere.json"] {
        repo.sepal_ok(&["encrypt", "--age", &keys().age1, "-i", f]);
    }
    repo.commit("files");
    let r = repo.sepal_in("infra/prod", &["git-setup"]);
    assert!(r.ok(), "{}", r.describe());
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(
        out.contains("infra/.gitattributes: added prod/**/*.yaml"),
        "{out}"
    );
    assert!(
        out.contains("sops-encrypted files it covers, one line each: 1 file"),
        "{out}"
    );
    assert_eq!(
        repo.read("infra/.gitattributes"),
        "prod/**/*.yaml diff=sepal merge=sepal\n/dev.json diff=sepal merge=sepal\n"
    );
    assert!(!repo.dir().join(".gitattributes").exists());
    let attr = repo.git_ok(
        true,
        &[
            "check-attr",
            "diff",
            "--",
            "infra/prod/x/b.yaml",
            "infra/dev.json",
            "infra/readme.txt",
            "prod/a.yaml",
            "elsewhere.json",
        ],
    );
    assert_eq!(
        attr,
        "infra/prod/x/b.yaml: diff: sepal\ninfra/dev.json: diff: sepal\ninfra/readme.txt: diff: unspecified\nprod/a.yaml: diff: unspecified\nelsewhere.json: diff: unspecified\n"
    );
}

#[test]
fn git_setup_outside_a_repository_or_without_rules_says_what_to_do() {
    let repo = Repo::new();
    let r = repo.sepal(true, &["git-setup"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr_text().contains("no .sops.yaml"),
        "{}",
        r.describe()
    );
    let outside = Sandbox::new();
    let r = outside
        .run(
            crate::common::Tool::Sepal,
            crate::common::Identity::None,
            &["git-setup", "*.x"],
        )
        .unwrap();
    assert_ne!(r.code, 0);
    assert!(
        r.stderr_text().contains("not inside a git work tree"),
        "{}",
        r.describe()
    );
}

#[test]
fn diffs_show_the_decrypted_change_and_markers_without_the_key() {
    let repo = repo_with_files();
    repo.sepal_ok(&["git-setup"]);
    repo.commit("set-up");
    repo.sepal_ok(&[
        "set",
        "secrets.enc.yaml",
        r#"["db"]["password"]"#,
        r#""swordfish""#,
    ]);
    repo.write("plain.enc.yaml", "hello: there\n");

    // Working tree against the index, with the key.
    let diff = repo.git_ok(true, &["diff", "--", "secrets.enc.yaml"]);
    assert_eq!(
        changed_lines(&diff),
        ["-    password: hunter2", "+    password: swordfish"],
        "{diff}"
    );
    assert!(diff.contains(" # database settings"), "{diff}");
    let plain = repo.git_ok(true, &["diff", "--", "plain.enc.yaml"]);
    assert_eq!(
        changed_lines(&plain),
        ["-hello: world", "+hello: there"],
        "{plain}"
    );

    repo.commit("new password");
    for args in [
        &["log", "-p", "-1", "--", "secrets.enc.yaml"][..],
        &["show", "HEAD", "--", "secrets.enc.yaml"][..],
        &["diff", "HEAD~1", "HEAD", "--", "secrets.enc.yaml"][..],
    ] {
        let out = repo.git_ok(true, args);
        assert_eq!(
            changed_lines(&out),
            ["-    password: hunter2", "+    password: swordfish"],
            "git {args:?}: {out}"
        );
    }

    // Without the key the whole history still shows, with no error.
    let all = repo.git_ok(false, &["log", "-p"]);
    assert!(all.contains("+hello: there"), "{all}");
    assert!(all.contains("+    password: <encrypted "), "{all}");

    // Without the key: the structure with markers; only the changed value's marker and the
    // modification time differ.
    for args in [
        &["log", "-p", "-1", "-U50", "--", "secrets.enc.yaml"][..],
        &["show", "-U50", "HEAD", "--", "secrets.enc.yaml"][..],
        &["diff", "-U50", "HEAD~1", "HEAD", "--", "secrets.enc.yaml"][..],
    ] {
        let out = repo.git_ok(false, args);
        // `lastmodified` has a one-second resolution: it changes unless `set` ran within the
        // second of the encryption.
        let changed: Vec<String> = changed_lines(&out)
            .into_iter()
            .filter(|l| {
                !l.starts_with("-    lastmodified: ") && !l.starts_with("+    lastmodified: ")
            })
            .collect();
        assert_eq!(changed.len(), 2, "git {args:?}: {out}");
        assert!(
            changed[0].starts_with("-    password: <encrypted "),
            "{out}"
        );
        assert!(
            changed[1].starts_with("+    password: <encrypted "),
            "{out}"
        );
        assert_ne!(changed[0][1..], changed[1][1..]);
        assert!(
            !out.contains("hunter2") && !out.contains("swordfish"),
            "{out}"
        );
        assert!(!out.contains("ENC["), "{out}");
        for context in [
            "    user: <encrypted ",
            "api_token: <encrypted ",
            "sops:",
            &format!("- age: {}", keys().age1),
        ] {
            let line = out.lines().find(|l| l.contains(context));
            assert!(
                line.is_some_and(|l| l.starts_with(' ')),
                "{context:?} is not a context line of git {args:?}: {out}"
            );
        }
    }
}

#[test]
fn a_file_named_without_extension_is_read_from_its_content() {
    let repo = Repo::new();
    repo.write("plain.yaml", PLAIN);
    let encrypted = repo.sepal_ok(&["encrypt", "--age", &keys().age1, "plain.yaml"]);
    repo.write("noext", &encrypted);
    std::fs::remove_file(repo.dir().join("plain.yaml")).unwrap();
    repo.write(".gitattributes", "noext diff=sepal\n");
    repo.git_ok(true, &["config", "diff.sepal.textconv", "sepal textconv"]);
    repo.commit("noext");
    repo.write("plain.yaml", PLAIN.replace("tok-1", "tok-2"));
    let encrypted = repo.sepal_ok(&["encrypt", "--age", &keys().age1, "plain.yaml"]);
    std::fs::remove_file(repo.dir().join("plain.yaml")).unwrap();
    repo.write("noext", &encrypted);
    repo.commit("new token");
    let out = repo.git_ok(true, &["show", "HEAD"]);
    assert_eq!(
        changed_lines(&out),
        ["-api_token: tok-1", "+api_token: tok-2"],
        "{out}"
    );
    // Without the key every value was encrypted anew (a fresh encryption, as sops re-encrypts).
    let out = repo.git_ok(false, &["show", "HEAD"]);
    assert!(out.contains("-api_token: <encrypted "), "{out}");
    assert!(out.contains("+api_token: <encrypted "), "{out}");
}

#[test]
fn textconv_never_fails_and_prints_other_files_unchanged() {
    let repo = Repo::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.yaml", Vec::new()),
        ("garbage", vec![0, 159, 146, 150, 255, b'\n', b'{']),
        ("broken.json", b"{\"sops\": {\"mac\": 1".to_vec()),
        ("plain.yaml", b"a: 1\n".to_vec()),
        (
            "fake.yaml",
            b"a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops: {}\n".to_vec(),
        ),
    ];
    for (name, bytes) in &cases {
        repo.write(name, bytes);
        for with_key in [true, false] {
            let r = repo.sepal(with_key, &["textconv", name]);
            assert!(r.ok(), "{name}: {}", r.describe());
            assert!(r.stderr.is_empty(), "{name}: {}", r.describe());
            assert_eq!(&r.stdout, bytes, "{name}");
        }
    }
    // A tampered file: markers, no error.
    repo.write("t.yaml", PLAIN);
    repo.sepal_ok(&["encrypt", "--age", &keys().age1, "-i", "t.yaml"]);
    // One base64 digit of the password's ciphertext changed: still a well-formed value.
    let text = repo.read("t.yaml");
    let at = text.find("password: ENC[AES256_GCM,data:").unwrap() + 31;
    let flipped = if &text[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &text[..at], &text[at + 1..]);
    repo.write("t.yaml", &tampered);
    let r = repo.sepal(true, &["textconv", "t.yaml"]);
    assert!(r.ok() && r.stderr.is_empty(), "{}", r.describe());
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(out.contains("password: <encrypted "), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let verbose = repo.sepal(true, &["textconv", "--verbose", "t.yaml"]);
    assert!(verbose.ok(), "{}", verbose.describe());
    assert!(
        verbose.stderr_text().contains("markers"),
        "{}",
        verbose.describe()
    );
}

#[test]
fn textconv_prints_what_decrypt_prints_in_every_format() {
    let repo = Repo::new();
    let samples = [
        ("a.yaml", "# c\na: 1\nb: [x, y]\n"),
        ("a.json", "{\n  \"a\": 1,\n  \"b\": [\"x\"]\n}\n"),
        ("a.env", "A=1\n# note\nB=two\n"),
        ("a.ini", "[s]\na = 1\nb = two\n"),
        ("a.bin", "raw\u{1}bytes\n"),
    ];
    for (name, plain) in samples {
        repo.write(name, plain);
        repo.sepal_ok(&["encrypt", "--age", &keys().age1, "-i", name]);
        let decrypted = repo.sepal_ok(&["decrypt", name]);
        assert_eq!(decrypted, plain, "{name}");
        // Under git's temporary name, which may have lost the extension.
        let temp = format!("XyZ123_{}", name.replace('.', "_"));
        std::fs::copy(repo.dir().join(name), repo.dir().join(&temp)).unwrap();
        for file in [name, temp.as_str()] {
            let shown = repo.sepal_ok(&["textconv", file]);
            assert_eq!(shown, decrypted, "{file}");
            let marked = repo.sepal(false, &["textconv", file]);
            assert!(
                marked.ok() && marked.stderr.is_empty(),
                "{}",
                marked.describe()
            );
            let marked = String::from_utf8(marked.stdout).unwrap();
            assert!(marked.contains("<encrypted "), "{file}: {marked}");
            assert!(!marked.contains("ENC["), "{file}: {marked}");
            assert!(marked.contains(&keys().age1), "{file}: {marked}");
        }
    }
}

/// The patterns `git-setup` writes for a `path_regex` match in git exactly the paths the regex
/// matches.
#[test]
fn regex_patterns_agree_with_git_check_attr() {
    use sepal::ops::gitsetup::glob::{convert, Conversion};
    let repo = Repo::new();
    let regexes = [
        r"\.enc\.yaml$",
        r"secrets/.*\.yaml$",
        r"^secrets/.*\.yaml$",
        r".*\.sops\..*",
        r"^secrets/",
        r"secrets/",
        r"^prod\.env$",
        r"\.(yaml|json)$",
        r"\.ya?ml$",
        r"^k8s/[^/]*\.yaml$",
        r"^k8s/[^/]+\.yaml$",
        r"^a.*b$",
        r"prod",
    ];
    let paths = [
        "a.enc.yaml",
        "d/e/a.enc.yaml",
        ".enc.yaml",
        "a.enc.yaml.bak",
        "enc.yaml",
        "secrets/a.yaml",
        "secrets/x/y/a.yaml",
        "mysecrets/a.yaml",
        "x/secrets/a.yaml",
        "secrets.yaml",
        "secrets/a.json",
        "a.sops.yaml",
        "x/a.sops.d/f",
        "sops.yaml",
        "prod.env",
        "x/prod.env",
        "a.yml",
        "a.json",
        "k8s/a.yaml",
        "k8s/x/a.yaml",
        "k8s/.yaml",
        "ab",
        "a/x/b",
        "axb/c",
        "c/ab",
        "production/x",
        "x/reprod",
    ];
    for re in regexes {
        let Conversion::Globs(globs) = convert(re) else {
            panic!("{re} should convert");
        };
        let text: String = globs.iter().map(|g| format!("{g} diff=sepal\n")).collect();
        repo.write(".gitattributes", &text);
        let compiled = regex::Regex::new(re).unwrap();
        let mut args = vec!["check-attr", "diff", "--"];
        args.extend(paths);
        let out = repo.git_ok(true, &args);
        for path in paths {
            let by_git = out.lines().any(|l| l == format!("{path}: diff: sepal"));
            assert_eq!(
                by_git,
                compiled.is_match(path),
                "{re} as {globs:?} on {path}: git says {by_git}"
            );
        }
    }
}

/// `git-setup`'s merge driver configuration is the one git runs: two branches that change
/// different values of an encrypted file merge without a conflict, through `sepal merge` found on
/// PATH, and the merged file is encrypted and holds both changes.
#[test]
fn git_setup_configures_a_working_merge_driver() {
    let repo = repo_with_files();
    repo.sepal_ok(&["git-setup"]);
    repo.commit("set-up");
    repo.git_ok(true, &["checkout", "-q", "-b", "feature"]);
    repo.sepal_ok(&["set", "secrets.enc.yaml", r#"["api_token"]"#, r#""tok-2""#]);
    repo.commit("theirs");
    repo.git_ok(true, &["checkout", "-q", "main"]);
    repo.sepal_ok(&[
        "set",
        "secrets.enc.yaml",
        r#"["db"]["password"]"#,
        r#""swordfish""#,
    ]);
    repo.commit("ours");
    // Without the driver, git's line merge of the ciphertext conflicts (the MAC and lastmodified
    // lines change on both sides); with it, the merge is clean.
    let merged = repo.git(true, &["merge", "-q", "--no-edit", "feature"]);
    assert!(merged.ok(), "{}", merged.describe());
    let text = repo.read("secrets.enc.yaml");
    assert!(
        !text.contains("swordfish") && !text.contains("tok-2"),
        "{text}"
    );
    assert_eq!(
        repo.sepal_ok(&["decrypt", "secrets.enc.yaml"]),
        PLAIN
            .replace("hunter2", "swordfish")
            .replace("tok-1", "tok-2")
    );
}
