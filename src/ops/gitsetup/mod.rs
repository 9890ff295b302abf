//! `git-setup`: the diff and merge drivers in the repository's own git config, and
//! `<pattern> diff=sepal merge=sepal` lines in `.gitattributes` for the files the `.sops.yaml`
//! creation rules cover (or for patterns given). A rule's `path_regex` becomes gitattributes
//! patterns where that is exact ([`glob`]); otherwise the tracked files the rule matches are
//! listed one per line. Running it again changes nothing; every change and every kept setting is
//! reported.

pub mod glob;

use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

use super::files::{self, FilesError};
use super::Engine;
use glob::Conversion;

/// The attributes every marked pattern gets.
pub const ATTRIBUTES: &str = "diff=sepal merge=sepal";

/// The merge driver's description (`merge.sepal.name`).
pub const MERGE_NAME: &str = "sepal: merge sops-encrypted files value by value";

/// What `git-setup` is asked.
#[derive(Debug, Clone, Default)]
pub struct SetupRequest {
    /// Gitattributes patterns to mark instead of the files the creation rules cover.
    pub patterns: Vec<String>,
    /// How git runs sepal (`sepal`, or a path).
    pub command: String,
}

/// Why the set-up could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GitSetupError {
    #[error("cannot run git: {0}; install git")]
    GitMissing(std::io::Error),
    #[error("{dir} is not inside a git work tree; run sepal git-setup inside the repository")]
    NotARepository { dir: String },
    #[error("git {args} failed: {message}")]
    Git { args: String, message: String },
    #[error("no .sops.yaml with creation rules found from {dir} upward; name the patterns to mark, e.g. sepal git-setup '*.enc.yaml'")]
    NoRules { dir: String },
    #[error("the pattern {0:?} cannot be written in .gitattributes (empty, or with spaces or quotes); name the files another way")]
    Pattern(String),
    #[error("invalid path_regex {regex:?} in {config}: {reason}; fix the creation rule")]
    Regex {
        config: String,
        regex: String,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Files(#[from] FilesError),
}

type Result<T> = std::result::Result<T, GitSetupError>;

/// What was done, in order, as lines for the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One line per setting, pattern or note.
    pub steps: Vec<String>,
    /// How many settings and lines were added or changed.
    pub changed: usize,
}

impl Report {
    /// The lines to print, with a last line saying whether anything changed.
    pub fn lines(&self) -> Vec<String> {
        let mut out = self.steps.clone();
        out.push(match self.changed {
            0 => "nothing to change: already set up".to_string(),
            1 => "1 change".to_string(),
            n => format!("{n} changes"),
        });
        out
    }
}

/// Set the repository up (see the module header). `write` writes a file atomically.
pub fn setup(
    engine: &Engine,
    request: &SetupRequest,
    write: &dyn Fn(&Path, &[u8]) -> std::io::Result<()>,
) -> std::result::Result<Report, super::Error> {
    Ok(run(engine, request, write)?)
}

fn run(
    engine: &Engine,
    request: &SetupRequest,
    write: &dyn Fn(&Path, &[u8]) -> std::io::Result<()>,
) -> Result<Report> {
    let cwd = std::env::current_dir().map_err(|e| GitSetupError::Read {
        path: ".".into(),
        source: e,
    })?;
    let root = toplevel(&cwd)?;
    let mut report = Report::default();
    let (attributes, patterns) = if request.patterns.is_empty() {
        from_rules(engine, &root, &cwd, &mut report)?
    } else {
        (root.join(".gitattributes"), request.patterns.clone())
    };
    for p in &patterns {
        if p.is_empty() || p.contains(char::is_whitespace) || p.contains('"') {
            return Err(GitSetupError::Pattern(p.clone()));
        }
    }
    add_attributes(&root, &attributes, &patterns, write, &mut report)?;
    let command = shell_word(&request.command);
    let settings = [
        ("diff.sepal.textconv", format!("{command} textconv")),
        // Cached conversions are kept in git notes: plaintext in the object store, and a stale
        // marker view once the keys are there. Never cache.
        ("diff.sepal.cachetextconv", "false".to_string()),
        ("merge.sepal.name", MERGE_NAME.to_string()),
        ("merge.sepal.driver", format!("{command} merge %O %A %B %P")),
    ];
    for (key, value) in settings {
        set_config(&root, key, &value, &mut report)?;
    }
    Ok(report)
}

/// The work tree's top folder.
fn toplevel(dir: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(GitSetupError::GitMissing)?;
    if !out.status.success() {
        return Err(GitSetupError::NotARepository {
            dir: dir.display().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(PathBuf::from(text.trim_end_matches(['\n', '\r'])))
}

/// The `.gitattributes` to write (beside `.sops.yaml` when it is in the work tree) and its
/// patterns, one or more per creation rule.
fn from_rules(
    engine: &Engine,
    root: &Path,
    cwd: &Path,
    report: &mut Report,
) -> Result<(PathBuf, Vec<String>)> {
    let config = &engine.config;
    let (Some(path), Some(regexes)) = (config.path.as_ref(), config.path_regexes()) else {
        return Err(GitSetupError::NoRules {
            dir: cwd.display().to_string(),
        });
    };
    let config_dir = crate::config::absolute(path.parent().unwrap_or(Path::new(".")));
    let inside = config_dir.strip_prefix(root).is_ok()
        || canonical(&config_dir).is_some_and(|d| d.starts_with(canonical_or(root)));
    let attributes_dir = if inside {
        config_dir.clone()
    } else {
        root.to_path_buf()
    };
    let shown_config = path.display().to_string();
    let mut compiled = Vec::new();
    for re in &regexes {
        compiled.push(match re.as_deref() {
            None | Some("") => None,
            Some(r) => Some(Regex::new(r).map_err(|e| GitSetupError::Regex {
                config: shown_config.clone(),
                regex: r.to_string(),
                reason: e.to_string(),
            })?),
        });
    }
    let mut listing: Option<Vec<(PathBuf, Option<usize>)>> = None;
    let mut patterns = Vec::new();
    for (index, re) in regexes.iter().enumerate() {
        let shown = re.as_deref().unwrap_or("");
        let conversion = match re.as_deref() {
            None | Some("") => Conversion::Everything,
            Some(r) if inside => glob::convert(r),
            Some(_) => Conversion::Inexact,
        };
        match conversion {
            Conversion::Globs(globs) => {
                report.steps.push(format!(
                    "creation rule {}: path_regex '{shown}' as {}",
                    index + 1,
                    globs.join(", ")
                ));
                patterns.extend(globs);
            }
            Conversion::Everything | Conversion::Inexact => {
                let everything = conversion == Conversion::Everything;
                let files = match &listing {
                    Some(l) => l,
                    None => listing.insert(first_rules(root, &config_dir, &compiled)?),
                };
                let mut listed = Vec::new();
                for (file, rule) in files.iter() {
                    if *rule != Some(index) {
                        continue;
                    }
                    if everything && !is_sops_file(engine, file) {
                        continue;
                    }
                    if let Some(p) = file_pattern(&attributes_dir, file) {
                        listed.push(p);
                    }
                }
                report.steps.push(if everything {
                    format!(
                        "creation rule {}: matches every file; listing the tracked sops-encrypted files it covers, one line each: {}",
                        index + 1,
                        count(listed.len())
                    )
                } else {
                    format!(
                        "creation rule {}: path_regex '{shown}' has no exact gitattributes pattern; listing the tracked files it matches, one line each (run sepal git-setup again after adding files): {}",
                        index + 1,
                        count(listed.len())
                    )
                });
                patterns.extend(listed);
            }
        }
    }
    Ok((attributes_dir.join(".gitattributes"), patterns))
}

fn count(n: usize) -> String {
    match n {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    }
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

fn canonical_or(p: &Path) -> PathBuf {
    canonical(p).unwrap_or_else(|| p.to_path_buf())
}

/// Every tracked file of the work tree, with the first creation rule matching it (matched as
/// sops matches: the path relative to the folder of `.sops.yaml`).
fn first_rules(
    root: &Path,
    config_dir: &Path,
    rules: &[Option<Regex>],
) -> Result<Vec<(PathBuf, Option<usize>)>> {
    let files = files::tracked(root)?;
    let config_dir = canonical_or(config_dir);
    Ok(files
        .into_iter()
        .map(|f| {
            let abs = canonical_or(&crate::config::absolute(&f));
            let subject = abs
                .strip_prefix(&config_dir)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| abs.clone());
            let subject = subject.to_string_lossy();
            let rule = rules.iter().position(|r| match r {
                None => true,
                Some(r) => r.is_match(&subject),
            });
            (abs, rule)
        })
        .collect())
}

/// Whether `file` reads as a sops-encrypted file (in any format).
fn is_sops_file(engine: &Engine, file: &Path) -> bool {
    std::fs::read(file)
        .is_ok_and(|bytes| super::textconv::detect(engine, &bytes, Some(file)).is_some())
}

/// The pattern naming exactly `file` in the `.gitattributes` of `dir`.
fn file_pattern(dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(canonical_or(dir)).ok()?;
    let mut out = String::from("/");
    for c in rel.to_str()?.chars() {
        if c.is_whitespace() || c.is_control() || c == '"' {
            return None;
        }
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '#' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    Some(out)
}

/// Append the lines for `patterns` that `.gitattributes` lacks.
fn add_attributes(
    root: &Path,
    path: &Path,
    patterns: &[String],
    write: &dyn Fn(&Path, &[u8]) -> std::io::Result<()>,
    report: &mut Report,
) -> Result<()> {
    let shown = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(GitSetupError::Read {
                path: path.display().to_string(),
                source: e,
            })
        }
    };
    let mut text = old.clone();
    for p in patterns {
        let line = format!("{p} {ATTRIBUTES}");
        if text.lines().any(|l| normalise(l) == line) {
            report.steps.push(format!("{shown}: already has {line}"));
            continue;
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        text.push('\n');
        report.steps.push(format!("{shown}: added {line}"));
        report.changed += 1;
    }
    if text != old {
        write(path, text.as_bytes()).map_err(|e| GitSetupError::Write {
            path: path.display().to_string(),
            source: e,
        })?;
    }
    Ok(())
}

fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Set `key` in the repository's own config unless it already has `value`.
fn set_config(root: &Path, key: &str, value: &str, report: &mut Report) -> Result<()> {
    let current = git(root, &["config", "--local", "--get", key])?;
    match current {
        Some(v) if v == value => {
            report
                .steps
                .push(format!("git config {key}: already {value:?}"));
            return Ok(());
        }
        Some(v) => report
            .steps
            .push(format!("git config {key}: changed from {v:?} to {value:?}")),
        None => report
            .steps
            .push(format!("git config {key}: set to {value:?}")),
    }
    git(root, &["config", "--local", key, value])?;
    report.changed += 1;
    Ok(())
}

/// Run `git -C root args`: its output without the final newline, `None` when git exits 1 (a
/// missing config key), an error otherwise.
fn git(root: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(GitSetupError::GitMissing)?;
    match out.status.code() {
        Some(0) => Ok(Some(
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        )),
        Some(1) => Ok(None),
        _ => Err(GitSetupError::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// `word` as one word for the shell git runs drivers with (quoted when it needs to be).
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./+=:@,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("sepal"), "sepal");
        assert_eq!(shell_word("/opt/bin/sepal"), "/opt/bin/sepal");
        assert_eq!(shell_word("/my tools/sepal"), "'/my tools/sepal'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn listed_files_are_anchored_and_escaped() {
        let dir = Path::new("/nonexistent-sepal-dir");
        assert_eq!(
            file_pattern(dir, Path::new("/nonexistent-sepal-dir/a/b[1].yaml")).as_deref(),
            Some(r"/a/b\[1\].yaml")
        );
        assert_eq!(
            file_pattern(dir, Path::new("/nonexistent-sepal-dir/a b.yaml")),
            None
        );
        assert_eq!(file_pattern(dir, Path::new("/elsewhere/a.yaml")), None);
    }

    #[test]
    fn lines_already_there_are_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitattributes");
        std::fs::write(&path, "*.png binary\n*.enc.yaml   diff=sepal merge=sepal").unwrap();
        let write = |p: &Path, b: &[u8]| std::fs::write(p, b);
        let mut report = Report::default();
        let patterns = vec!["*.enc.yaml".to_string(), "*.enc.json".to_string()];
        add_attributes(dir.path(), &path, &patterns, &write, &mut report).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "*.png binary\n*.enc.yaml   diff=sepal merge=sepal\n*.enc.json diff=sepal merge=sepal\n"
        );
        assert_eq!(report.changed, 1);
        let mut again = Report::default();
        add_attributes(dir.path(), &path, &patterns, &write, &mut again).unwrap();
        assert_eq!(again.changed, 0);
    }
}
