//! `sepal merge %O %A %B %P`, git's merge driver, with the real `git` in throwaway repositories
//! (configured by hand: `merge.sepal.driver` and `.gitattributes`): clean merges of values
//! changed on each side and keys added on both, a conflict resolved with `sepal edit`, a rebase,
//! one side rotated, a driver without the keys, and no plaintext anywhere in the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, keys, need_sops, run, Identity, Run, Sandbox, Tool};

/// A throwaway git repository inside a sandbox, with the sepal driver configured for YAML, JSON
/// and dotenv files, and no global or system git configuration.
struct Repo {
    sb: Sandbox,
    dir: PathBuf,
}

impl Repo {
    fn new(test: &str) -> Repo {
        let have_git = Command::new("git")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            have_git,
            "{test}: this test needs git: install git (apt-get install git)"
        );
        let sb = Sandbox::new();
        sb.write("gitconfig", "");
        let dir = sb.join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Repo { sb, dir };
        repo.git_ok(&["init", "-q", "-b", "main"]);
        repo.git_ok(&["config", "user.name", "Merge Test"]);
        repo.git_ok(&["config", "user.email", "merge@example.invalid"]);
        let driver = format!("{} merge %O %A %B %P", common::sepal_bin().display());
        repo.git_ok(&["config", "merge.sepal.driver", &driver]);
        repo.git_ok(&["config", "merge.sepal.name", "sepal"]);
        repo.write(
            ".gitattributes",
            "*.yaml merge=sepal\n*.json merge=sepal\n*.env merge=sepal\n",
        );
        repo
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.join(rel), text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).unwrap()
    }

    /// git with an empty global configuration, the sandbox's HOME, and `id`'s age keys (the
    /// merge driver inherits them).
    fn git_as(&self, id: Identity, args: &[&str]) -> Run {
        let mut c = Command::new("git");
        c.env_clear();
        if let Some(p) = std::env::var_os("PATH") {
            c.env("PATH", p);
        }
        c.env("HOME", self.sb.home())
            .env("GIT_CONFIG_GLOBAL", self.sb.join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_EDITOR", "true")
            .env("SOPS_DISABLE_VERSION_CHECK", "true")
            .current_dir(&self.dir)
            .args(args);
        if let Some(k) = self.sb.key_file(id) {
            c.env("SOPS_AGE_KEY_FILE", k);
        }
        run(c, None)
    }

    fn git(&self, args: &[&str]) -> Run {
        self.git_as(Identity::Key1, args)
    }

    fn git_ok(&self, args: &[&str]) -> Run {
        let r = self.git(args);
        assert!(r.ok(), "{}", r.describe());
        r
    }

    fn sepal_cmd(&self, id: Identity) -> Command {
        let mut c = self.sb.command(Tool::Sepal, id).unwrap();
        c.current_dir(&self.dir);
        c
    }

    fn sepal(&self, args: &[&str]) -> Run {
        let mut c = self.sepal_cmd(Identity::Key1);
        c.args(args);
        run(c, None)
    }

    fn sepal_ok(&self, args: &[&str]) -> Run {
        let r = self.sepal(args);
        assert!(r.ok(), "{}", r.describe());
        r
    }

    fn set(&self, file: &str, path: &str, json: &str) {
        self.sepal_ok(&["set", file, path, json]);
    }

    fn decrypt(&self, file: &str) -> String {
        String::from_utf8(self.sepal_ok(&["decrypt", file]).stdout).unwrap()
    }

    /// Encrypt `plain` into `file` for key1 and commit it on main.
    fn base(&self, file: &str, plain: &str) {
        self.write(file, plain);
        self.sepal_ok(&["encrypt", "-i", "--age", &keys().age1, file]);
        self.git_ok(&["add", "."]);
        self.git_ok(&["commit", "-qm", "base"]);
    }

    fn commit_all(&self, message: &str) {
        self.git_ok(&["commit", "-qam", message]);
    }

    /// The line of `file` (as committed at `rev`, or in the working tree) that starts with
    /// `prefix`.
    fn line(&self, rev: Option<&str>, file: &str, prefix: &str) -> String {
        let text = match rev {
            Some(rev) => {
                String::from_utf8(self.git_ok(&["show", &format!("{rev}:{file}")]).stdout).unwrap()
            }
            None => self.read(file),
        };
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {file}:\n{text}"))
            .to_string()
    }
}

const YAML_BASE: &str = "# database\ndb:\n  user: admin-Zq81 # who\n  password: base-pass-Zq81\napi: base-api-Zq81\nports: [1, 2]\n";

/// Two branches that change different values, add keys on both sides and remove one, for each
/// format: the merge is clean, the result has every change, unchanged values keep ours'
/// ciphertext and values only theirs changed keep theirs'.
#[test]
fn clean_merges_of_values_changed_on_each_side() {
    struct Case {
        file: &'static str,
        base: &'static str,
        unchanged: &'static str,
        ours: [(&'static str, &'static str); 2],
        theirs: [(&'static str, &'static str); 2],
        theirs_line: &'static str,
        expected: &'static str,
    }
    let cases = [
        Case {
            file: "s.yaml",
            base: YAML_BASE,
            unchanged: "user:",
            ours: [
                (r#"["db"]["password"]"#, r#""our-pass-Zq81""#),
                (r#"["ours_new"]"#, "7"),
            ],
            theirs: [
                (r#"["api"]"#, r#""their-api-Zq81""#),
                (r#"["db"]["host"]"#, r#""their-host-Zq81""#),
            ],
            theirs_line: "api:",
            expected: "# database\ndb:\n  user: admin-Zq81 # who\n  password: our-pass-Zq81\n  host: their-host-Zq81\napi: their-api-Zq81\nports: [1, 2]\nours_new: 7\n",
        },
        Case {
            file: "s.json",
            base: "{\n    \"user\": \"admin-Zq81\",\n    \"password\": \"base-pass-Zq81\",\n    \"api\": \"base-api-Zq81\"\n}\n",
            unchanged: "\"user\":",
            ours: [
                (r#"["password"]"#, r#""our-pass-Zq81""#),
                (r#"["ours_new"]"#, "true"),
            ],
            theirs: [
                (r#"["api"]"#, r#""their-api-Zq81""#),
                (r#"["theirs_new"]"#, r#""added-Zq81""#),
            ],
            theirs_line: "\"api\":",
            expected: "{\n    \"user\": \"admin-Zq81\",\n    \"password\": \"our-pass-Zq81\",\n    \"api\": \"their-api-Zq81\",\n    \"ours_new\": true,\n    \"theirs_new\": \"added-Zq81\"\n}\n",
        },
        Case {
            file: "s.env",
            base: "USER=admin-Zq81\nPASSWORD=base-pass-Zq81\nAPI=base-api-Zq81\n",
            unchanged: "USER=",
            ours: [
                (r#"["PASSWORD"]"#, r#""our-pass-Zq81""#),
                (r#"["OURS_NEW"]"#, r#""o-Zq81""#),
            ],
            theirs: [
                (r#"["API"]"#, r#""their-api-Zq81""#),
                (r#"["THEIRS_NEW"]"#, r#""t-Zq81""#),
            ],
            theirs_line: "API=",
            expected: "USER=admin-Zq81\nPASSWORD=our-pass-Zq81\nAPI=their-api-Zq81\nOURS_NEW=o-Zq81\nTHEIRS_NEW=t-Zq81\n",
        },
    ];
    for case in cases {
        let repo = Repo::new("clean_merges_of_values_changed_on_each_side");
        repo.base(case.file, case.base);
        repo.git_ok(&["checkout", "-qb", "feature"]);
        for (path, value) in case.theirs {
            repo.set(case.file, path, value);
        }
        repo.commit_all("theirs");
        repo.git_ok(&["checkout", "-q", "main"]);
        for (path, value) in case.ours {
            repo.set(case.file, path, value);
        }
        repo.commit_all("ours");
        let merged = repo.git(&["merge", "--no-edit", "feature"]);
        assert!(merged.ok(), "{}: {}", case.file, merged.describe());
        assert_eq!(repo.decrypt(case.file), case.expected, "{}", case.file);
        assert_eq!(
            repo.line(None, case.file, case.unchanged),
            repo.line(Some("HEAD^1"), case.file, case.unchanged),
            "{}: an unchanged value keeps ours' ciphertext",
            case.file
        );
        assert_eq!(
            repo.line(None, case.file, case.theirs_line),
            repo.line(Some("feature"), case.file, case.theirs_line),
            "{}: a value only theirs changed keeps theirs' ciphertext (same data key)",
            case.file
        );
        assert!(repo.git_ok(&["status", "--porcelain"]).stdout.is_empty());
    }
}

/// Keys added on both sides (a new map on each branch, with different keys) and a key removed
/// on one side merge; the same change on both sides is no conflict.
#[test]
fn keys_added_on_both_sides_merge() {
    let repo = Repo::new("keys_added_on_both_sides_merge");
    repo.base("s.yaml", YAML_BASE);
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set("s.yaml", r#"["cache"]"#, r#"{"url": "redis-Zq81"}"#);
    repo.sepal_ok(&["unset", "s.yaml", r#"["ports"]"#]);
    repo.set("s.yaml", r#"["api"]"#, r#""same-Zq81""#);
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set("s.yaml", r#"["cache"]"#, r#"{"ttl": 60}"#);
    repo.set("s.yaml", r#"["api"]"#, r#""same-Zq81""#);
    repo.commit_all("ours");
    let merged = repo.git(&["merge", "--no-edit", "feature"]);
    assert!(merged.ok(), "{}", merged.describe());
    assert_eq!(
        repo.decrypt("s.yaml"),
        "# database\ndb:\n  user: admin-Zq81 # who\n  password: base-pass-Zq81\napi: same-Zq81\ncache:\n  ttl: 60\n  url: redis-Zq81\n"
    );
}

/// An editor (for `sepal edit`) that keeps theirs' side of every conflict block.
fn keep_theirs_editor(sb: &Sandbox) -> PathBuf {
    let script = sb.write(
        "keep-theirs.py",
        "import re, sys\np = sys.argv[1]\ns = open(p).read()\ns = re.sub(r'<<<<<<< ours\\n.*?=======\\n(.*?)>>>>>>> theirs\\n', r'\\1', s, flags=re.S)\n\
         open(p, 'w').write(s)\n",
    );
    let sh = sb.write(
        "keep-theirs.sh",
        format!("#!/bin/sh\nexec python3 {} \"$1\"\n", script.display()),
    );
    make_executable(&sh);
    sh
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Both branches change one value differently: git reports the conflict, the file stays a valid
/// encrypted file (sepal and sops decrypt it) holding ours' value and every other change, the
/// paths are printed without values, `sepal edit` shows conflict markers (and refuses a buffer
/// that still has them), and resolving it is one edit, then `git add` and `git commit`.
#[test]
fn a_conflict_is_resolved_with_sepal_edit() {
    let repo = Repo::new("a_conflict_is_resolved_with_sepal_edit");
    repo.base("s.yaml", YAML_BASE);
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set("s.yaml", r#"["api"]"#, r#""their-api-Zq81""#);
    repo.set("s.yaml", r#"["db"]["host"]"#, r#""their-host-Zq81""#);
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set("s.yaml", r#"["api"]"#, r#""our-api-Zq81""#);
    repo.commit_all("ours");
    let merged = repo.git(&["merge", "--no-edit", "feature"]);
    assert!(!merged.ok(), "the merge must stop on the conflict");
    let err = merged.stderr_text();
    assert!(err.contains(r#"["api"]"#), "paths printed: {err}");
    assert!(err.contains("sepal edit s.yaml"), "how to resolve: {err}");
    for secret in ["their-api", "our-api", "base-api"] {
        assert!(!err.contains(secret), "no value in messages: {err}");
    }
    assert!(
        String::from_utf8_lossy(&repo.git_ok(&["status", "--porcelain"]).stdout)
            .contains("UU s.yaml")
    );
    // Valid and encrypted: ours' value at the conflict, theirs' other change merged.
    assert!(!repo.read("s.yaml").contains("Zq81"));
    let dec = repo.sepal(&["decrypt", "s.yaml"]);
    assert!(dec.ok(), "{}", dec.describe());
    let text = String::from_utf8(dec.stdout.clone()).unwrap();
    assert!(text.contains("api: our-api-Zq81\n") && text.contains("host: their-host-Zq81"));
    let warning = dec.stderr_text();
    assert!(
        warning.contains("unresolved merge conflicts") && warning.contains(r#"["api"]"#),
        "decrypt warns: {warning}"
    );
    assert!(!warning.contains("Zq81"));
    let sops = need_sops("a_conflict_is_resolved_with_sepal_edit");
    let mut sc = Command::new(sops);
    sc.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repo.sb.home())
        .env("SOPS_AGE_KEY_FILE", &keys().key1)
        .env("SOPS_DISABLE_VERSION_CHECK", "true")
        .current_dir(&repo.dir)
        .args(["decrypt", "s.yaml"]);
    let by_sops = run(sc, None);
    assert!(
        by_sops.ok(),
        "sops decrypts the conflicted file: {}",
        by_sops.describe()
    );
    assert!(String::from_utf8_lossy(&by_sops.stdout).contains("our-api-Zq81"));
    // `sepal check` (no key needed) refuses the conflicted file until it is resolved.
    let checked = repo
        .sepal_cmd(Identity::None)
        .args(["check", "s.yaml"])
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(1), "check flags the conflict");
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        said.contains("s.yaml") && said.contains("merge-conflict"),
        "{said}"
    );
    assert!(!said.contains("Zq81"));

    // An edit that leaves the markers is refused with a word about them.
    let append = repo.sb.write("append.sh", "#!/bin/sh\necho >> \"$1\"\n");
    make_executable(&append);
    let mut c = repo.sepal_cmd(Identity::Key1);
    c.env("EDITOR", &append).args(["edit", "s.yaml"]);
    let refused = run(c, None);
    assert!(!refused.ok());
    assert!(
        refused.stderr_text().contains("conflict markers"),
        "{}",
        refused.describe()
    );

    // Resolving: keep theirs.
    let editor = keep_theirs_editor(&repo.sb);
    let mut c = repo.sepal_cmd(Identity::Key1);
    c.env("EDITOR", &editor).args(["edit", "s.yaml"]);
    let edited = run(c, None);
    assert!(edited.ok(), "{}", edited.describe());
    assert!(
        !repo.read("s.yaml").contains("sepal_conflict"),
        "the record is dropped"
    );
    let dec = repo.sepal_ok(&["decrypt", "s.yaml"]);
    assert!(dec.stderr.is_empty(), "no warning once resolved");
    assert_eq!(
        String::from_utf8(dec.stdout).unwrap(),
        "# database\ndb:\n  user: admin-Zq81 # who\n  password: base-pass-Zq81\n  host: their-host-Zq81\napi: their-api-Zq81\nports: [1, 2]\n"
    );
    let checked = repo
        .sepal_cmd(Identity::None)
        .args(["check", "s.yaml"])
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(0), "resolved: {checked:?}");
    repo.git_ok(&["add", "s.yaml"]);
    repo.git_ok(&["commit", "--no-edit", "-q"]);
    assert!(repo.git_ok(&["status", "--porcelain"]).stdout.is_empty());
    no_plaintext_in_repo(&repo, &["Zq81"]);
}

/// The edit buffer of a conflicted JSON file, made by running the driver by hand: the markers
/// wrap the conflicting value, in JSON.
#[test]
fn the_edit_buffer_shows_conflict_markers_in_json() {
    let repo = Repo::new("the_edit_buffer_shows_conflict_markers_in_json");
    let plain = "{\n    \"a\": \"base-Zq81\",\n    \"b\": 1\n}\n";
    repo.base("s.json", plain);
    let base = repo.read("s.json");
    repo.set("s.json", r#"["a"]"#, r#""theirs-Zq81""#);
    let theirs = repo.read("s.json");
    repo.write("s.json", &base);
    repo.set("s.json", r#"["a"]"#, r#""ours-Zq81""#);
    repo.write("O", &base);
    repo.write("B", &theirs);
    let r = repo.sepal(&["merge", "O", "s.json", "B", "s.json"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    let editor = keep_theirs_editor(&repo.sb);
    let mut c = repo.sepal_cmd(Identity::Key1);
    c.env("EDITOR", &editor).args(["edit", "s.json"]);
    let edited = run(c, None);
    assert!(edited.ok(), "{}", edited.describe());
    assert_eq!(
        repo.decrypt("s.json"),
        "{\n    \"a\": \"theirs-Zq81\",\n    \"b\": 1\n}\n"
    );
}

/// A rebase replays a value change onto a branch that changed another value, through the driver.
#[test]
fn a_rebase_replays_a_change_onto_another() {
    let repo = Repo::new("a_rebase_replays_a_change_onto_another");
    repo.base("s.yaml", YAML_BASE);
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set("s.yaml", r#"["api"]"#, r#""feature-api-Zq81""#);
    repo.commit_all("feature");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set("s.yaml", r#"["db"]["password"]"#, r#""main-pass-Zq81""#);
    repo.commit_all("main");
    repo.git_ok(&["checkout", "-q", "feature"]);
    let rebased = repo.git(&["rebase", "main"]);
    assert!(rebased.ok(), "{}", rebased.describe());
    assert_eq!(
        repo.decrypt("s.yaml"),
        "# database\ndb:\n  user: admin-Zq81 # who\n  password: main-pass-Zq81\napi: feature-api-Zq81\nports: [1, 2]\n"
    );
    let log = String::from_utf8(repo.git_ok(&["log", "--format=%s"]).stdout).unwrap();
    assert_eq!(log, "feature\nmain\nbase\n", "a linear history");
}

/// One side rotated the data key and added a recipient: merging it into the side that did not
/// keeps the rotation (the result decrypts with the added key, under theirs' data key), with
/// ours' change applied; merging the other way keeps ours' (rotated) keys as well.
#[test]
fn a_rotation_on_one_side_is_kept() {
    let repo = Repo::new("a_rotation_on_one_side_is_kept");
    repo.base("s.yaml", YAML_BASE);
    repo.git_ok(&["checkout", "-qb", "rotated"]);
    repo.sepal_ok(&["rotate", "-i", "--add-age", &keys().age2, "s.yaml"]);
    repo.set("s.yaml", r#"["api"]"#, r#""rotated-api-Zq81""#);
    repo.commit_all("rotate");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set("s.yaml", r#"["db"]["password"]"#, r#""main-pass-Zq81""#);
    repo.commit_all("main");
    repo.git_ok(&["branch", "main-before"]);
    // A third branch that rotates too (no recipient change).
    repo.git_ok(&["checkout", "-qb", "rotated-too", "HEAD^"]);
    repo.sepal_ok(&["rotate", "-i", "s.yaml"]);
    repo.set("s.yaml", r#"["ports"][0]"#, "3");
    repo.commit_all("rotate too");
    repo.git_ok(&["checkout", "-q", "main"]);

    // Into main (ours did not rotate): built on theirs.
    let merged = repo.git(&["merge", "--no-edit", "rotated"]);
    assert!(merged.ok(), "{}", merged.describe());
    let expected = "# database\ndb:\n  user: admin-Zq81 # who\n  password: main-pass-Zq81\napi: rotated-api-Zq81\nports: [1, 2]\n";
    let mut c = repo.sepal_cmd(Identity::Key2);
    c.args(["decrypt", "s.yaml"]);
    let with_key2 = run(c, None);
    assert!(
        with_key2.ok(),
        "the added recipient is kept: {}",
        with_key2.describe()
    );
    assert_eq!(String::from_utf8(with_key2.stdout).unwrap(), expected);
    assert_eq!(
        repo.line(None, "s.yaml", "user:"),
        repo.line(Some("rotated"), "s.yaml", "user:"),
        "unchanged values keep the rotated side's ciphertext"
    );

    // Into the rotated branch (ours rotated): ours' keys.
    repo.git_ok(&["checkout", "-q", "rotated"]);
    let merged = repo.git(&["merge", "--no-edit", "main-before"]);
    assert!(merged.ok(), "{}", merged.describe());
    let mut c = repo.sepal_cmd(Identity::Key2);
    c.args(["decrypt", "s.yaml"]);
    let with_key2 = run(c, None);
    assert!(with_key2.ok(), "{}", with_key2.describe());
    assert_eq!(String::from_utf8(with_key2.stdout).unwrap(), expected);

    // Both sides rotated: ours wins (its data key, its recipients: key2 still decrypts).
    let merged = repo.git(&["merge", "--no-edit", "rotated-too"]);
    assert!(merged.ok(), "{}", merged.describe());
    assert_eq!(
        repo.line(None, "s.yaml", "user:"),
        repo.line(Some("HEAD^1"), "s.yaml", "user:"),
        "both rotated: ours' data key and ciphertext"
    );
    let mut c = repo.sepal_cmd(Identity::Key2);
    c.args(["decrypt", "s.yaml"]);
    let with_key2 = run(c, None);
    assert!(with_key2.ok(), "{}", with_key2.describe());
    assert!(String::from_utf8(with_key2.stdout)
        .unwrap()
        .contains("ports: [3, 2]\n"));
}

/// Without the keys the driver fails safely: git reports a conflict, the working file is ours'
/// version byte for byte (valid, encrypted), and the message says what went wrong.
#[test]
fn without_the_keys_the_driver_fails_safely() {
    let repo = Repo::new("without_the_keys_the_driver_fails_safely");
    repo.base("s.yaml", YAML_BASE);
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set("s.yaml", r#"["api"]"#, r#""their-api-Zq81""#);
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set("s.yaml", r#"["db"]["password"]"#, r#""our-pass-Zq81""#);
    repo.commit_all("ours");
    let ours = String::from_utf8(repo.git_ok(&["show", "HEAD:s.yaml"]).stdout).unwrap();
    let merged = repo.git_as(Identity::Key2, &["merge", "--no-edit", "feature"]);
    assert!(!merged.ok(), "git must stop");
    let err = merged.stderr_text();
    assert!(
        err.contains("cannot merge s.yaml") && err.contains("could not read"),
        "a clear message: {err}"
    );
    assert_eq!(repo.read("s.yaml"), ours, "%A untouched");
    assert!(
        String::from_utf8_lossy(&repo.git_ok(&["status", "--porcelain"]).stdout)
            .contains("UU s.yaml")
    );
    // Still a valid file: with the key, it decrypts (to ours').
    assert!(repo.decrypt("s.yaml").contains("our-pass-Zq81"));
}

/// Every object of the repository (loose or packed, decompressed by git), every file under
/// `.git` and every file of the working tree: none holds any of `secrets`.
fn no_plaintext_in_repo(repo: &Repo, secrets: &[&str]) {
    let objects = repo
        .git_ok(&["cat-file", "--batch-all-objects", "--batch"])
        .stdout;
    let objects = String::from_utf8_lossy(&objects);
    assert!(objects.contains("ENC[AES256_GCM"), "the objects were read");
    for s in secrets {
        assert!(!objects.contains(s), "plaintext {s:?} in a git object");
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo.dir, &mut files);
    assert!(files.iter().any(|f| f.starts_with(repo.dir.join(".git"))));
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in secrets {
            assert!(!text.contains(s), "plaintext {s:?} in {}", f.display());
        }
    }
}

/// After clean merges, a conflict, its resolution and a rebase, nothing in the repository or the
/// working tree holds a plaintext value.
#[test]
fn no_plaintext_in_the_repository() {
    let repo = Repo::new("no_plaintext_in_the_repository");
    repo.base("s.yaml", YAML_BASE);
    repo.base("s.json", "{\"k\": \"json-base-Zq81\"}\n");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set("s.yaml", r#"["api"]"#, r#""their-api-Zq81""#);
    repo.set("s.json", r#"["k"]"#, r#""json-theirs-Zq81""#);
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set("s.yaml", r#"["db"]["password"]"#, r#""our-pass-Zq81""#);
    repo.set("s.json", r#"["k"]"#, r#""json-ours-Zq81""#);
    repo.commit_all("ours");
    let merged = repo.git(&["merge", "--no-edit", "feature"]);
    assert!(!merged.ok(), "s.json conflicts");
    let editor = keep_theirs_editor(&repo.sb);
    let mut c = repo.sepal_cmd(Identity::Key1);
    c.env("EDITOR", &editor).args(["edit", "s.json"]);
    let edited = run(c, None);
    assert!(edited.ok(), "{}", edited.describe());
    repo.git_ok(&["add", "."]);
    repo.git_ok(&["commit", "--no-edit", "-q"]);
    repo.git_ok(&["gc", "-q"]);
    no_plaintext_in_repo(&repo, &["Zq81"]);
}
