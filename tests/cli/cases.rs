//! Data-driven CLI cases: every `tests/cases/*.toml` describes one command and what it must do.
//! `cli_cases` runs each case with sepal (no sops needed); `cli_cases_agree_with_sops` runs each
//! case (unless `sops = false`) with the real sops, which must meet the same expectations (the
//! exit code, and stdout when the case names an exact stdout), so the expectations are checked
//! against the reference too; it fails when sops is missing. All failures are reported together.
//!
//! Fields (all optional except `args` and `expect.code`):
//!   description   free text
//!   args          arguments after the program name
//!   sops_args     arguments for sops when they must differ
//!   sops          run the real sops too (default: true for encrypt/decrypt)
//!   identity      "key1" (default), "key2", "both" or "none": the SOPS_AGE_KEY_FILE given
//!   stdin / stdin_file
//!   cwd           working directory (default {tmp})
//!   [env]         extra environment variables
//!   [files]       name -> text written under {tmp} first
//!   [copy]        name -> source file copied under {tmp} first
//!   [[replace]]   file, from, to: replace the first `from` in a prepared file (tampering)
//!   [expect]      code, stdout, stdout_file, stdout_empty, stdout_contains, stdout_not_contains,
//!                 stderr_contains, stderr_not_contains
//!   [expect.files."<path>"]  exists, contains, not_contains, equals_file
//! Placeholders in every string: {fixtures} {tmp} {age1} {age2} {key1} {key2}.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::common::{self, clip, diff, keys, Failures, Identity, Sandbox, Tool};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    args: Vec<String>,
    sops_args: Option<Vec<String>>,
    sops: Option<bool>,
    identity: Option<String>,
    stdin: Option<String>,
    stdin_file: Option<String>,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    copy: BTreeMap<String, String>,
    #[serde(default)]
    replace: Vec<Replace>,
    expect: Expect,
}

/// A literal text replacement in a prepared file (to tamper with a copy of a fixture).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Replace {
    file: String,
    from: String,
    to: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Expect {
    code: i32,
    stdout: Option<String>,
    stdout_file: Option<String>,
    #[serde(default)]
    stdout_empty: bool,
    #[serde(default)]
    stdout_contains: Vec<String>,
    #[serde(default)]
    stdout_not_contains: Vec<String>,
    #[serde(default)]
    stderr_contains: Vec<String>,
    #[serde(default)]
    stderr_not_contains: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, FileExpect>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileExpect {
    exists: Option<bool>,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    not_contains: Vec<String>,
    equals_file: Option<String>,
}

fn cases_dir() -> PathBuf {
    common::root().join("tests/cases")
}

struct Subst<'a> {
    tmp: &'a Path,
}

impl Subst<'_> {
    fn apply(&self, s: &str) -> String {
        let k = keys();
        s.replace("{fixtures}", &common::fixtures().to_string_lossy())
            .replace("{tmp}", &self.tmp.to_string_lossy())
            .replace("{age1}", &k.age1)
            .replace("{age2}", &k.age2)
            .replace("{key1}", &k.key1.to_string_lossy())
            .replace("{key2}", &k.key2.to_string_lossy())
    }
}

/// Run one case with one tool; returns its failures (prefixed by the tool name).
fn run_case(case: &Case, tool: Tool) -> Vec<String> {
    let sb = Sandbox::new();
    let sub = Subst { tmp: sb.path() };
    let mut fails = Vec::new();
    for (name, text) in &case.files {
        sb.write(&sub.apply(name), sub.apply(text));
    }
    for (name, src) in &case.copy {
        let src = sub.apply(src);
        let bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("copy source {src}: {e}"));
        sb.write(&sub.apply(name), bytes);
    }
    for r in &case.replace {
        let file = sb.join(&sub.apply(&r.file));
        let text = std::fs::read_to_string(&file).expect("replace: read");
        let from = sub.apply(&r.from);
        assert!(
            text.contains(&from),
            "replace: {from:?} not in {}",
            file.display()
        );
        std::fs::write(&file, text.replacen(&from, &sub.apply(&r.to), 1)).expect("replace: write");
    }
    let identity = match case.identity.as_deref().unwrap_or("key1") {
        "none" => Identity::None,
        "key1" => Identity::Key1,
        "key2" => Identity::Key2,
        "both" => Identity::Both,
        other => panic!("unknown identity {other:?}"),
    };
    let mut cmd = sb.command(tool, identity).expect("a command");
    let args = match (tool, &case.sops_args) {
        (Tool::Sops, Some(a)) => a,
        _ => &case.args,
    };
    cmd.args(args.iter().map(|a| sub.apply(a)));
    for (k, v) in &case.env {
        cmd.env(k, sub.apply(v));
    }
    if let Some(cwd) = &case.cwd {
        let cwd = sub.apply(cwd);
        std::fs::create_dir_all(&cwd).expect("cwd");
        cmd.current_dir(cwd);
    }
    let stdin: Option<Vec<u8>> = match (&case.stdin, &case.stdin_file) {
        (Some(s), _) => Some(sub.apply(s).into_bytes()),
        (None, Some(f)) => {
            Some(std::fs::read(sub.apply(f)).unwrap_or_else(|e| panic!("stdin_file {f}: {e}")))
        }
        (None, None) => None,
    };
    let r = common::run(cmd, stdin.as_deref());
    let stdout = String::from_utf8_lossy(&r.stdout).into_owned();
    let stderr = r.stderr_text();
    let e = &case.expect;
    let mut fail = |m: String| fails.push(format!("[{}] {m}", tool.name()));
    if r.code != e.code {
        fail(format!(
            "exit code {} instead of {}; stderr: {}",
            r.code,
            e.code,
            clip(&stderr, 500)
        ));
    }
    if let Some(want) = &e.stdout {
        let want = sub.apply(want);
        if stdout != want {
            fail(format!(
                "stdout differs: {}",
                diff(want.as_bytes(), &r.stdout)
            ));
        }
    }
    if let Some(f) = &e.stdout_file {
        let f = sub.apply(f);
        let want = std::fs::read(&f).unwrap_or_else(|e| panic!("stdout_file {f}: {e}"));
        if r.stdout != want {
            fail(format!(
                "stdout differs from {f}: {}",
                diff(&want, &r.stdout)
            ));
        }
    }
    if e.stdout_empty && !r.stdout.is_empty() {
        fail(format!(
            "stdout should be empty, got {:?}",
            clip(&stdout, 300)
        ));
    }
    for s in &e.stdout_contains {
        let s = sub.apply(s);
        if !stdout.contains(&s) {
            fail(format!("stdout lacks {s:?}: {:?}", clip(&stdout, 300)));
        }
    }
    for s in &e.stdout_not_contains {
        let s = sub.apply(s);
        if stdout.contains(&s) {
            fail(format!("stdout contains {s:?}"));
        }
    }
    for s in &e.stderr_contains {
        let s = sub.apply(s);
        if !stderr.contains(&s) {
            fail(format!("stderr lacks {s:?}: {:?}", clip(&stderr, 500)));
        }
    }
    for s in &e.stderr_not_contains {
        let s = sub.apply(s);
        if stderr.contains(&s) {
            fail(format!("stderr contains {s:?}"));
        }
    }
    for (path, fe) in &e.files {
        let path = sub.apply(path);
        let bytes = std::fs::read(&path).ok();
        if let Some(want) = fe.exists {
            if want != bytes.is_some() {
                fail(format!(
                    "file {path} exists: {} (expected {want})",
                    bytes.is_some()
                ));
            }
        }
        let text = bytes
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        for s in &fe.contains {
            let s = sub.apply(s);
            if !text.contains(&s) {
                fail(format!("file {path} lacks {s:?}"));
            }
        }
        for s in &fe.not_contains {
            let s = sub.apply(s);
            if text.contains(&s) {
                fail(format!("file {path} contains {s:?}"));
            }
        }
        if let Some(f) = &fe.equals_file {
            let f = sub.apply(f);
            let want = std::fs::read(&f).unwrap_or_else(|e| panic!("equals_file {f}: {e}"));
            if bytes.as_deref() != Some(&want[..]) {
                fail(format!(
                    "file {path} differs from {f}: {}",
                    diff(&want, bytes.as_deref().unwrap_or(b""))
                ));
            }
        }
    }
    fails
}

/// Every case file, parsed, by name; a case file that does not parse is a failure.
fn load_cases(failures: &mut Failures) -> Vec<(String, Case)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no cases in tests/cases");
    let mut cases = Vec::new();
    for path in &names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).expect("read case");
        match toml::from_str(&text) {
            Ok(c) => cases.push((name, c)),
            Err(e) => failures.add(format!("{name}: bad case file: {e}")),
        }
    }
    cases
}

/// Every case with sepal.
#[test]
fn cli_cases() {
    let mut failures = Failures::default();
    let cases = load_cases(&mut failures);
    for (name, case) in &cases {
        let fails = run_case(case, Tool::Sepal);
        if !fails.is_empty() {
            failures.add(format!("{name}:\n  {}", fails.join("\n  ")));
        }
    }
    eprintln!("cli_cases: ran {} cases", cases.len());
    failures.finish("cli cases");
}

/// Every case that is meant for sops too (`sops`, by default true for encrypt/decrypt) with the
/// real sops: a failure means the case's expectation is wrong, not sepal.
#[test]
fn cli_cases_agree_with_sops() {
    common::need_sops("cli_cases_agree_with_sops");
    let mut failures = Failures::default();
    let cases = load_cases(&mut failures);
    let mut ran = 0;
    for (name, case) in &cases {
        let with_sops = case.sops.unwrap_or(matches!(
            case.args.first().map(String::as_str),
            Some("encrypt" | "decrypt")
        ));
        if !with_sops {
            continue;
        }
        ran += 1;
        let fails = run_case(case, Tool::Sops);
        if !fails.is_empty() {
            failures.add(format!(
                "{name}:\n  {}",
                fails
                    .iter()
                    .map(|f| format!("{f}  (the expectation does not match the real sops)"))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
    }
    eprintln!("cli_cases_agree_with_sops: ran {ran} cases with sops");
    failures.finish("cli cases with sops");
}
