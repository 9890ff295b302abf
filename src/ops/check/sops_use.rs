//! Whether a repository is used with the real sops: the sign that a TOML file sepal encrypted
//! (which sops cannot read: it has no TOML store and takes a `.toml` file for binary) will reach
//! someone who cannot open it. Read once per run, only when such a file is checked, from the
//! places a repository says how it is built and run: pre-commit configuration, Makefiles and task
//! runners, CI workflows, `.envrc`, shell scripts at the top and in `scripts/`, `bin/`, `hack/`,
//! and `.gitattributes` (sops's documented `diff=sopsdiffer`).
//!
//! A sign is a line, not a comment, that runs `sops` as a command (`sops -d`, `sops decrypt`,
//! `$(sops …)`, `apt-get install sops`), names sops in a pre-commit `repo:` or a CI `uses:`, or
//! sets sops's git diff driver. Other encrypted files cannot tell: sepal writes the same metadata
//! (version and layout) as the sops release it follows.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

/// Files (relative to the repository root) that say how a repository is built and run.
const PLACES: &[&str] = &[
    ".pre-commit-config.yaml",
    ".pre-commit-config.yml",
    "Makefile",
    "makefile",
    "GNUmakefile",
    "justfile",
    "Justfile",
    ".justfile",
    "Taskfile.yml",
    "Taskfile.yaml",
    ".gitlab-ci.yml",
    "Jenkinsfile",
    ".envrc",
    ".drone.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".circleci/config.yml",
    ".gitattributes",
];

/// Folders whose workflow files or shell scripts are read too, and the endings read there.
const FOLDERS: &[(&str, &[&str])] = &[
    (".github/workflows", &[".yml", ".yaml"]),
    ("", &[".sh"]),
    ("scripts", &[".sh"]),
    ("bin", &[".sh"]),
    ("hack", &[".sh"]),
];

/// Larger files are not read.
const MAX_BYTES: u64 = 1024 * 1024;

fn patterns() -> &'static [Regex] {
    static P: OnceLock<Vec<Regex>> = OnceLock::new();
    P.get_or_init(|| {
        [
            // `sops` run as a command: a word of its own, followed by a space or the line's end.
            r#"(?:^|[\s;&|(`'"=])sops(?:[ \t]|$)"#,
            // A pre-commit hook repository or a CI action named after sops.
            r"^\s*-?\s*(?:repo|uses)\s*:.*sops",
            // sops's documented git diff driver.
            r"diff=sopsdiffer",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    })
}

/// The files under `root` that are read for signs, in a fixed order.
fn candidates(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = PLACES.iter().map(|p| root.join(p)).collect();
    for (folder, endings) in FOLDERS {
        let dir = root.join(folder);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| endings.iter().any(|e| n.ends_with(e)))
            })
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// The first sign that the repository at `root` runs sops, as `path:line` (relative to `root`).
pub fn find(root: &Path) -> Option<String> {
    for path in candidates(root) {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_BYTES {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with('#') || code.starts_with("//") {
                continue;
            }
            if patterns().iter().any(|p| p.is_match(line)) {
                let shown = path.strip_prefix(root).unwrap_or(&path).display();
                return Some(format!("{shown}:{}", n + 1));
            }
        }
    }
    None
}

/// The sign for one run, looked for at most once (and only when a TOML file needs it).
#[derive(Debug, Default)]
pub struct SopsUse {
    root: Option<PathBuf>,
    found: OnceLock<Option<String>>,
}

impl SopsUse {
    /// For the repository whose root is `root` (the `.sops.yaml` folder).
    pub fn new(root: Option<PathBuf>) -> Self {
        SopsUse {
            root,
            found: OnceLock::new(),
        }
    }

    /// Where the repository runs sops, if it does.
    pub fn sign(&self) -> Option<&str> {
        self.found
            .get_or_init(|| self.root.as_deref().and_then(find))
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(line: &str) -> bool {
        patterns().iter().any(|p| p.is_match(line))
    }

    #[test]
    fn commands_that_run_sops() {
        for yes in [
            "\tsops -d secrets/app.yaml > app.yaml",
            "      - run: sops decrypt --output x x.enc",
            "export X=$(sops -d --extract '[\"a\"]' f)",
            "RUN apt-get install -y sops",
            "sops",
            "  - repo: https://github.com/k8s-at-home/sops-pre-commit",
            "      - uses: mdgreenwald/mozilla-sops-action@v1",
            "*.enc.yaml diff=sopsdiffer",
        ] {
            assert!(matches(yes), "{yes}");
        }
        for no in [
            "creation_rules: # .sops.yaml",
            "sops:",
            "  sops_version: 3",
            "SOPS_AGE_KEY_FILE=keys.txt sepal decrypt x",
            "alias sops=sepal",
            "cp .sops.yaml backup/",
            "sepal-sops-compat",
        ] {
            assert!(!matches(no), "{no}");
        }
    }

    #[test]
    fn finds_the_first_sign_and_skips_comments() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Makefile"),
            "# sops -d is not used here\nall:\n\techo ok\n",
        )
        .unwrap();
        assert_eq!(find(root), None);
        std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
        std::fs::write(
            root.join(".github/workflows/ci.yml"),
            "jobs:\n  a:\n    steps:\n      - run: sops -d x.enc.yaml\n",
        )
        .unwrap();
        assert_eq!(find(root).as_deref(), Some(".github/workflows/ci.yml:4"));
        let once = SopsUse::new(Some(root.to_path_buf()));
        assert_eq!(once.sign(), Some(".github/workflows/ci.yml:4"));
        assert_eq!(SopsUse::new(None).sign(), None);
    }
}
