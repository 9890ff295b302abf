//! Which files a whole-repository command works on: the paths given, with folders expanded to
//! the files git tracks in them (or, outside a git repository, every file below them but those
//! in `.git` folders), or by default the files git tracks under the working folder.
//! `check`, `updatekeys`, `rotate`, `filestatus`, `decrypt --check` and `git-setup` share it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Why the files to work on could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{path}: no such file or folder")]
    Missing { path: String },
    #[error("cannot read the folder {path}: {source}")]
    ReadDir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot run git to list the files of {path}: {source}; install git, or name the files"
    )]
    GitMissing {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not inside a git repository; name the files or folders to work on")]
    NotARepository { path: String },
    #[error("git could not list the files of {path}: {message}")]
    Git { path: String, message: String },
}

/// The files git tracks under `dir` (relative names joined onto `dir`), or
/// [`FilesError::NotARepository`] when `dir` is not in a work tree.
pub fn tracked(dir: &Path) -> Result<Vec<PathBuf>, FilesError> {
    git_list(dir, &["ls-files", "-z", "--cached", "--"])
}

/// The files under `dir` git neither tracks nor ignores (new files, not yet added).
pub fn untracked(dir: &Path) -> Result<Vec<PathBuf>, FilesError> {
    git_list(
        dir,
        &["ls-files", "-z", "--others", "--exclude-standard", "--"],
    )
}

/// Whether git ignores `path` (by `.gitignore`, `.git/info/exclude` or the global excludes).
/// Outside a repository nothing is ignored.
pub fn ignored(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["check-ignore", "-q", "--no-index", "--"])
        .arg(path.file_name().unwrap_or(path.as_os_str()))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The oldest commit whose change to `path` adds or removes a line holding one of `needles`
/// (literal texts), as its RFC 3339 committer date and time. `None` when there is none, when
/// `path` is not in a repository, or when git cannot be run.
pub fn first_commit_adding(path: &Path, needles: &[&str]) -> Option<(String, OffsetDateTime)> {
    if needles.is_empty() {
        return None;
    }
    let pattern = needles
        .iter()
        .map(|n| regex::escape(n))
        .collect::<Vec<_>>()
        .join("|");
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "--reverse", "--format=%cI", "-G"])
        .arg(pattern)
        .arg("--")
        .arg(path.file_name()?)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8(output.stdout).ok()?;
    let first = text.lines().next()?.trim().to_string();
    let time = OffsetDateTime::parse(&first, &Rfc3339).ok()?;
    Some((first, time))
}

/// `paths` as a list of files: files as given, folders expanded (see the module header); the
/// working folder's tracked files when `paths` is empty. Duplicates are dropped, order is kept.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FilesError> {
    let mut out = Vec::new();
    if paths.is_empty() {
        out = tracked(Path::new("."))?;
    }
    for p in paths {
        if p.is_dir() {
            match tracked(p) {
                Ok(files) => out.extend(files),
                Err(FilesError::NotARepository { .. } | FilesError::GitMissing { .. }) => {
                    walk(p, &mut out)?
                }
                Err(e) => return Err(e),
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(FilesError::Missing {
                path: p.display().to_string(),
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

/// Every file below `dir`, in name order, skipping `.git` folders and not following links to
/// folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FilesError> {
    let read_err = |source| FilesError::ReadDir {
        path: dir.display().to_string(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let kind = e.file_type().map_err(read_err)?;
        if kind.is_dir() {
            if e.file_name() != OsStr::new(".git") {
                walk(&path, out)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Run `git -C dir <args>` and split its NUL-separated output into paths under `dir`.
fn git_list(dir: &Path, args: &[&str]) -> Result<Vec<PathBuf>, FilesError> {
    let shown = dir.display().to_string();
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| FilesError::GitMissing {
            path: shown.clone(),
            source,
        })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        if message.contains("not a git repository") {
            return Err(FilesError::NotARepository { path: shown });
        }
        return Err(FilesError::Git {
            path: shown,
            message: message.trim().to_string(),
        });
    }
    Ok(output
        .stdout
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let name = Path::new(bytes_as_os_str(name));
            if dir == Path::new(".") {
                name.to_path_buf()
            } else {
                dir.join(name)
            }
        })
        .collect())
}

#[cfg(unix)]
fn bytes_as_os_str(b: &[u8]) -> &OsStr {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(b)
}

#[cfg(not(unix))]
fn bytes_as_os_str(b: &[u8]) -> &OsStr {
    OsStr::new(std::str::from_utf8(b).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?} failed (git is needed by these tests)");
    }

    #[test]
    fn folders_outside_git_are_walked_without_dot_git() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/.git")).unwrap();
        std::fs::write(d.path().join("a/x.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("a/.git/config"), "").unwrap();
        std::fs::write(d.path().join("b.json"), "{}").unwrap();
        let files = expand(&[d.path().to_path_buf(), d.path().join("b.json")]).unwrap();
        assert_eq!(
            files,
            vec![d.path().join("a/x.yaml"), d.path().join("b.json")]
        );
    }

    #[test]
    fn folders_in_git_give_tracked_files_only() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        std::fs::create_dir_all(d.path().join("s")).unwrap();
        std::fs::write(d.path().join("s/t.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("s/new.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join(".gitignore"), "s/ign.yaml\n").unwrap();
        std::fs::write(d.path().join("s/ign.yaml"), "a: 1\n").unwrap();
        git(d.path(), &["add", "s/t.yaml"]);
        let dir = d.path().join("s");
        assert_eq!(tracked(&dir).unwrap(), vec![dir.join("t.yaml")]);
        assert_eq!(untracked(&dir).unwrap(), vec![dir.join("new.yaml")]);
        assert!(ignored(&dir.join("ign.yaml")));
        assert!(!ignored(&dir.join("new.yaml")));
    }

    #[test]
    fn a_missing_path_is_named() {
        let e = expand(&[PathBuf::from("/nonexistent/sepal/x")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/sepal/x"), "{e}");
    }
}
