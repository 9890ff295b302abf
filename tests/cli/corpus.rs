//! The corpus of real configuration files in `tests/corpus/` (see its README.md): plaintext files
//! taken byte for byte from public repositories, and files the real sops encrypted in public
//! repositories that publish the (test) keys next to them.
//!
//! * `corpus_manifest_matches_files`: the manifests, the licences and the files agree.
//! * `corpus_plain_round_trip`: `sepal encrypt` then `sepal decrypt` gives back every file byte
//!   for byte, except the losses and refusals declared in `expected-losses.tsv`; a declared loss
//!   must still give back the same data (read as sops reads the format).
//! * `corpus_sops_reads_sepal_output`: the real sops decrypts sepal's encryption of every file to
//!   the same data, except where `sops-differences.tsv` declares a limit of sops (which sops's own
//!   round trip of the file must show too).
//! * `corpus_sops_files_decrypt_like_sops`: every file of `sops-manifest.tsv` that sops decrypts,
//!   sepal decrypts to the same data; the others sepal refuses too.
//!
//! Data are compared by a python3 helper ([`CANON`]) that reads YAML as go-yaml resolves it (YAML
//! 1.2 booleans, dates as timestamps), JSON, dotenv as sops's reader and INI as gopkg.in/ini.v1
//! reads it for sops (inline comments, quoting, `\` continuations).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::common::{self, diff, Failures, Identity, Run, Sandbox, Tool};

/// Commands run by this many threads at once (the machines have two cores).
const WORKERS: usize = 2;

const FORMATS: [&str; 5] = ["yaml", "json", "dotenv", "ini", "binary"];

fn corpus() -> PathBuf {
    common::root().join("tests").join("corpus")
}

/// The rows of a TSV file of the corpus, its header checked.
fn read_tsv(name: &str, header: &[&str]) -> Vec<Vec<String>> {
    let path = corpus().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap_or_default(),
        header.join("\t"),
        "{name}: unexpected header"
    );
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| {
            let row: Vec<String> = l.split('\t').map(str::to_string).collect();
            assert_eq!(
                row.len(),
                header.len(),
                "{name} line {}: {} columns instead of {}",
                n + 2,
                row.len(),
                header.len()
            );
            row
        })
        .collect()
}

const PLAIN_HEADER: [&str; 7] = [
    "stored_path",
    "repo",
    "commit",
    "original_path",
    "licence",
    "format",
    "sha256",
];
const SOPS_HEADER: [&str; 9] = [
    "stored_path",
    "repo",
    "commit",
    "original_path",
    "licence",
    "key_files",
    "key_type",
    "expect",
    "sha256",
];
const LIST_HEADER: [&str; 2] = ["stored_path", "reason"];

/// One plaintext file of `manifest.tsv`.
struct Plain {
    stored: String,
    fmt: String,
}

impl Plain {
    fn path(&self) -> PathBuf {
        corpus().join(&self.stored)
    }

    fn name(&self) -> &str {
        self.stored.rsplit('/').next().unwrap_or(&self.stored)
    }
}

fn plain_files() -> Vec<Plain> {
    read_tsv("manifest.tsv", &PLAIN_HEADER)
        .into_iter()
        .map(|r| Plain {
            stored: r[0].clone(),
            fmt: r[5].clone(),
        })
        .collect()
}

/// One encrypted file (or key file) of `sops-manifest.tsv`.
struct SopsFile {
    stored: String,
    keys: Vec<String>,
    expect: String,
}

fn sops_files() -> Vec<SopsFile> {
    read_tsv("sops-manifest.tsv", &SOPS_HEADER)
        .into_iter()
        .map(|r| SopsFile {
            stored: r[0].clone(),
            keys: r[5]
                .split(',')
                .filter(|k| *k != "-")
                .map(str::to_string)
                .collect(),
            expect: r[7].clone(),
        })
        .collect()
}

/// `stored_path -> reason` of `expected-losses.tsv` or `sops-differences.tsv`.
fn listed(name: &str) -> BTreeMap<String, String> {
    read_tsv(name, &LIST_HEADER)
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `f(item)` for every item, on [`WORKERS`] threads; results in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(i, &items[i]);
                out.lock().unwrap()[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// A line for the test log that the harness does not capture (like `common::need_sops`).
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn crashed(r: &Run) -> bool {
    r.code == 101 || r.code < 0
}

/// Did a command refuse cleanly: a non-zero exit that is not a crash, and nothing on stdout?
fn refused_cleanly(r: &Run) -> Result<(), String> {
    if r.ok() {
        Err(format!("`{}` succeeded", r.what))
    } else if crashed(r) {
        Err(format!("CRASH: {}", r.describe()))
    } else if !r.stdout.is_empty() {
        Err(format!(
            "`{}` exited {} but printed {} bytes on stdout",
            r.what,
            r.code,
            r.stdout.len()
        ))
    } else {
        Ok(())
    }
}

/// Compare the data of pairs of files (`(format, a, b)`) with [`CANON`] in one python3 process:
/// for each pair `Ok(())` when they hold the same data, else why not.
fn same_data(pairs: &[(String, PathBuf, PathBuf)]) -> Vec<Result<(), String>> {
    if pairs.is_empty() {
        return Vec::new();
    }
    common::need_python_yaml("corpus");
    let input: String = pairs
        .iter()
        .map(|(f, a, b)| format!("{f}\t{}\t{}\n", a.display(), b.display()))
        .collect();
    let mut c = Command::new("python3");
    c.args(["-c", CANON]);
    let r = common::run(c, Some(input.as_bytes()));
    assert!(r.ok(), "python3 data helper: {}", r.describe());
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), pairs.len(), "python3 data helper: {out}");
    lines
        .into_iter()
        .map(|l| {
            if l == "same" {
                Ok(())
            } else {
                Err(l.to_string())
            }
        })
        .collect()
}

#[test]
fn corpus_manifest_matches_files() {
    let mut f = Failures::default();
    let root = corpus();
    let mut listed_files = BTreeSet::new();
    let hex40 = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let check_file =
        |f: &mut Failures, stored: &str, sha: &str| match std::fs::read(root.join(stored)) {
            Ok(bytes) if sha256_hex(&bytes) == sha => {}
            Ok(bytes) => f.add(format!(
                "{stored}: sha256 {} but the manifest says {sha}",
                sha256_hex(&bytes)
            )),
            Err(e) => f.add(format!("{stored}: {e}")),
        };
    let check_licence = |f: &mut Failures, stored: &str, repo: &str, licence: &str| {
        let file = format!("licenses/{}.txt", repo.replace('/', "__"));
        if !root.join(&file).is_file() {
            f.add(format!("{stored}: no licence file {file} for {repo}"));
        }
        if licence.is_empty() || licence.contains(' ') {
            f.add(format!("{stored}: licence {licence:?} is not an SPDX id"));
        }
    };
    for r in read_tsv("manifest.tsv", &PLAIN_HEADER) {
        let (stored, repo, commit, licence, fmt, sha) = (&r[0], &r[1], &r[2], &r[4], &r[5], &r[6]);
        if !listed_files.insert(stored.clone()) {
            f.add(format!("{stored}: listed twice"));
        }
        if !hex40(commit) || r[3].is_empty() {
            f.add(format!(
                "{stored}: bad commit {commit:?} or empty original path"
            ));
        }
        if !FORMATS.contains(&fmt.as_str()) || !stored.starts_with(&format!("plain/{fmt}/")) {
            f.add(format!(
                "{stored}: format {fmt:?} does not match its folder"
            ));
        }
        if common::format_of(stored) != fmt {
            f.add(format!(
                "{stored}: sops would read it as {}, the manifest says {fmt}",
                common::format_of(stored)
            ));
        }
        check_licence(&mut f, stored, repo, licence);
        check_file(&mut f, stored, sha);
    }
    let sops = read_tsv("sops-manifest.tsv", &SOPS_HEADER);
    let keys: BTreeSet<&str> = sops
        .iter()
        .filter(|r| r[7] == "key")
        .map(|r| r[0].as_str())
        .collect();
    for r in &sops {
        let (stored, repo, commit, licence, key_files, key_type, expect, sha) =
            (&r[0], &r[1], &r[2], &r[4], &r[5], &r[6], &r[7], &r[8]);
        if !listed_files.insert(stored.clone()) {
            f.add(format!("{stored}: listed twice"));
        }
        if !hex40(commit) || r[3].is_empty() {
            f.add(format!(
                "{stored}: bad commit {commit:?} or empty original path"
            ));
        }
        let dir = format!("sops/{}/", repo.replace('/', "__"));
        if !stored.starts_with(&dir) {
            f.add(format!("{stored}: not under {dir}"));
        }
        if !key_type
            .split(',')
            .all(|t| ["age", "pgp", "pq-age"].contains(&t))
        {
            f.add(format!("{stored}: unknown key type {key_type:?}"));
        }
        if expect == "key" {
            if key_files != "-" || !stored.starts_with(&format!("{dir}keys/")) {
                f.add(format!(
                    "{stored}: a key file is stored under {dir}keys/ with key_files -"
                ));
            }
        } else {
            if expect != "decrypts"
                && !expect.starts_with("fails-")
                && !expect.starts_with("sepal-only-")
            {
                f.add(format!(
                    "{stored}: expect {expect:?} is not decrypts, fails-…, sepal-only-… or key"
                ));
            }
            for k in key_files.split(',') {
                if !keys.contains(k) || !k.starts_with(&dir) {
                    f.add(format!("{stored}: key file {k} is not a key row of {repo}"));
                }
            }
        }
        check_licence(&mut f, stored, repo, licence);
        check_file(&mut f, stored, sha);
    }
    // Every file of plain/ and sops/ is in a manifest.
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                let rel = p.strip_prefix(base).expect("under the corpus");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut present = Vec::new();
    walk(&root.join("plain"), &root, &mut present);
    walk(&root.join("sops"), &root, &mut present);
    for p in &present {
        if !listed_files.contains(p) {
            f.add(format!("{p}: in the corpus but in no manifest"));
        }
    }
    if present.len() < 300 {
        f.add(format!("only {} corpus files", present.len()));
    }
    // The lists name manifest rows.
    for list in ["expected-losses.tsv", "sops-differences.tsv"] {
        for (stored, reason) in listed(list) {
            if !stored.starts_with("plain/") || !listed_files.contains(&stored) {
                f.add(format!(
                    "{list}: {stored} is not a plaintext file of manifest.tsv"
                ));
            }
            if reason.trim().is_empty() {
                f.add(format!("{list}: {stored} has no reason"));
            }
        }
    }
    f.finish("corpus_manifest_matches_files");
}

/// What `sepal encrypt` then `sepal decrypt` did with one file.
enum RoundTrip {
    Exact,
    /// Decrypted bytes differ from the original; they are in this file.
    Lossy(PathBuf),
    /// `sepal encrypt` failed.
    Refused(Run),
    /// Something else went wrong (decrypt failed, a crash).
    Broken(String),
}

/// Encrypt `file` with sepal for key1 into `<dir>/<name>` of the sandbox; the encrypted path, or
/// the failed run.
fn sepal_encrypt(sb: &Sandbox, dir: &str, file: &Plain) -> Result<PathBuf, Run> {
    let age1 = &common::keys().age1;
    let src = file.path();
    let enc = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["encrypt", "--age", age1, &src.to_string_lossy()],
        )
        .expect("sepal runs");
    if !enc.ok() {
        return Err(enc);
    }
    Ok(sb.write(&format!("{dir}/{}", file.name()), &enc.stdout))
}

fn round_trip(sb: &Sandbox, i: usize, file: &Plain) -> RoundTrip {
    let original = std::fs::read(file.path()).expect("corpus file");
    let encrypted = match sepal_encrypt(sb, &format!("enc/{i}"), file) {
        Ok(p) => p,
        Err(run) => return RoundTrip::Refused(run),
    };
    let dec = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["decrypt", &encrypted.to_string_lossy()],
        )
        .expect("sepal runs");
    if !dec.ok() {
        return RoundTrip::Broken(format!(
            "sepal decrypt of sepal's own file failed{}: {}",
            if crashed(&dec) { " (CRASH)" } else { "" },
            dec.describe()
        ));
    }
    if dec.stdout == original {
        RoundTrip::Exact
    } else {
        RoundTrip::Lossy(sb.write(&format!("dec/{i}/{}", file.name()), &dec.stdout))
    }
}

#[test]
fn corpus_plain_round_trip() {
    let files = plain_files();
    let losses = listed("expected-losses.tsv");
    let sb = Sandbox::new();
    let results = parallel(&files, |i, file| round_trip(&sb, i, file));
    let mut f = Failures::default();
    let mut data_checks = Vec::new();
    // format -> [exact, declared loss, refused]
    let mut counts: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for (file, result) in files.iter().zip(results) {
        let stored = &file.stored;
        let declared = losses.get(stored);
        let count = counts.entry(file.fmt.as_str()).or_default();
        match (result, declared) {
            (RoundTrip::Broken(msg), _) => f.add(format!("{stored}: {msg}")),
            (RoundTrip::Refused(run), Some(reason)) if reason.starts_with("refused:") => {
                count[2] += 1;
                if let Err(e) = refused_cleanly(&run) {
                    f.add(format!("{stored}: declared {reason:?}, but {e}"));
                }
            }
            (RoundTrip::Refused(run), _) => f.add(format!(
                "{stored}: sepal refuses to encrypt it{}: {} (if that is right, list it in \
                 expected-losses.tsv with a reason starting \"refused:\")",
                if crashed(&run) { " (CRASH)" } else { "" },
                run.describe()
            )),
            (_, Some(reason)) if reason.starts_with("refused:") => f.add(format!(
                "fixed? {stored}: declared {reason:?} but sepal encrypts it now: remove it from \
                 expected-losses.tsv"
            )),
            (RoundTrip::Exact, None) => count[0] += 1,
            (RoundTrip::Exact, Some(reason)) => f.add(format!(
                "fixed: {stored} now round-trips byte for byte (declared loss {reason:?}): remove \
                 it from expected-losses.tsv"
            )),
            (RoundTrip::Lossy(dec), declared) => {
                let original = std::fs::read(file.path()).expect("corpus file");
                let decrypted = std::fs::read(&dec).expect("decrypted file");
                if declared.is_some() {
                    count[1] += 1;
                } else {
                    f.add(format!(
                        "{stored}: sepal encrypt -> decrypt is not byte-identical (list it in \
                         expected-losses.tsv if the loss is deliberate): {}",
                        diff(&original, &decrypted)
                    ));
                }
                data_checks.push((stored.clone(), (file.fmt.clone(), file.path(), dec)));
            }
        }
    }
    let pairs: Vec<_> = data_checks.iter().map(|(_, p)| p.clone()).collect();
    for ((stored, _), same) in data_checks.iter().zip(same_data(&pairs)) {
        if let Err(why) = same {
            f.add(format!(
                "VALUE CHANGE: {stored}: sepal decrypt does not give back the original data: {why}"
            ));
        }
    }
    for stored in losses.keys() {
        if !files.iter().any(|p| &p.stored == stored) {
            f.add(format!(
                "expected-losses.tsv: {stored} is not in manifest.tsv"
            ));
        }
    }
    note(&format!(
        "corpus round trip (format: exact / declared loss / refused): {}",
        counts
            .iter()
            .map(|(k, [e, l, r])| format!("{k} {e}/{l}/{r}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    f.finish("corpus_plain_round_trip");
}

/// What the real sops made of one plaintext file.
struct SopsRead {
    /// `sops decrypt` of sepal's encrypted file: the output file, or the failed run.
    of_sepal: Result<PathBuf, Run>,
    /// For files of `sops-differences.tsv`: sops's own round trip of the original (sops encrypt,
    /// sops decrypt): the output file, or why it failed.
    own: Option<Result<PathBuf, String>>,
}

fn sops_reads(sb: &Sandbox, i: usize, file: &Plain, own: bool) -> Result<SopsRead, String> {
    let encrypted = sepal_encrypt(sb, &format!("enc/{i}"), file)
        .map_err(|run| format!("sepal encrypt: {}", run.describe()))?;
    let dec = sb
        .run(
            Tool::Sops,
            Identity::Key1,
            &["decrypt", &encrypted.to_string_lossy()],
        )
        .expect("sops is installed");
    let of_sepal = if dec.ok() {
        Ok(sb.write(&format!("sops/{i}/{}", file.name()), &dec.stdout))
    } else {
        Err(dec)
    };
    let own = own.then(|| {
        let age1 = &common::keys().age1;
        let enc = sb
            .run(
                Tool::Sops,
                Identity::Key1,
                &["encrypt", "--age", age1, &file.path().to_string_lossy()],
            )
            .expect("sops is installed");
        if !enc.ok() {
            return Err(format!("sops cannot encrypt it: {}", enc.describe()));
        }
        let mine = sb.write(&format!("sops-enc/{i}/{}", file.name()), &enc.stdout);
        let dec = sb
            .run(
                Tool::Sops,
                Identity::Key1,
                &["decrypt", &mine.to_string_lossy()],
            )
            .expect("sops is installed");
        if !dec.ok() {
            return Err(format!(
                "sops cannot decrypt its own file: {}",
                dec.describe()
            ));
        }
        Ok(sb.write(&format!("sops-own/{i}/{}", file.name()), &dec.stdout))
    });
    Ok(SopsRead { of_sepal, own })
}

#[test]
fn corpus_sops_reads_sepal_output() {
    common::need_sops("corpus");
    common::need_python_yaml("corpus");
    let losses = listed("expected-losses.tsv");
    let limits = listed("sops-differences.tsv");
    let (refused, files): (Vec<Plain>, Vec<Plain>) = plain_files().into_iter().partition(|p| {
        losses
            .get(&p.stored)
            .is_some_and(|r| r.starts_with("refused:"))
    });
    let sb = Sandbox::new();
    let results = parallel(&files, |i, file| {
        sops_reads(&sb, i, file, limits.contains_key(&file.stored))
    });
    let mut f = Failures::default();
    // (stored, is the own round trip, pair)
    let mut checks = Vec::new();
    let mut sops_failed = BTreeMap::new();
    let mut own_failed = BTreeMap::new();
    for (file, result) in files.iter().zip(results) {
        let stored = &file.stored;
        let read = match result {
            Ok(r) => r,
            Err(e) => {
                f.add(format!("{stored}: {e}"));
                continue;
            }
        };
        match read.of_sepal {
            Ok(out) => checks.push((stored.clone(), false, (file.fmt.clone(), file.path(), out))),
            Err(run) => {
                sops_failed.insert(stored.clone(), run.describe());
            }
        }
        match read.own {
            Some(Ok(out)) => {
                checks.push((stored.clone(), true, (file.fmt.clone(), file.path(), out)))
            }
            Some(Err(why)) => {
                own_failed.insert(stored.clone(), why);
            }
            None => {}
        }
    }
    let pairs: Vec<_> = checks.iter().map(|(_, _, p)| p.clone()).collect();
    let mut sops_differs = BTreeMap::new();
    let mut own_differs = BTreeMap::new();
    let mut read_same = 0;
    for ((stored, own, _), same) in checks.iter().zip(same_data(&pairs)) {
        if same.is_ok() && !own {
            read_same += 1;
        }
        if let Err(why) = same {
            if *own {
                own_differs.insert(stored.clone(), why);
            } else {
                sops_differs.insert(stored.clone(), why);
            }
        }
    }
    for file in &files {
        let stored = &file.stored;
        let problem = sops_failed
            .get(stored)
            .map(|e| format!("the real sops cannot decrypt sepal's file: {e}"))
            .or_else(|| {
                sops_differs
                    .get(stored)
                    .map(|d| format!("sops decrypts sepal's file to other data: {d}"))
            });
        match (problem, limits.get(stored)) {
            (None, None) => {}
            (Some(p), None) => f.add(format!("{stored}: {p}")),
            (None, Some(reason)) => f.add(format!(
                "fixed: sops now reads sepal's encryption of {stored} as the original data \
                 (declared {reason:?}): remove it from sops-differences.tsv"
            )),
            (Some(p), Some(reason)) => {
                // Declared as a limit of sops: sops's own round trip must show it too.
                if !own_failed.contains_key(stored) && !own_differs.contains_key(stored) {
                    f.add(format!(
                        "{stored}: declared {reason:?}, but sops's own round trip keeps the data, \
                         so the difference comes from sepal's file: {p}"
                    ));
                }
            }
        }
    }
    // Files sepal refuses: does sops refuse them too? (informative)
    let sops_accepts: Vec<&str> = refused
        .iter()
        .filter(|file| {
            let age1 = &common::keys().age1;
            sb.run(
                Tool::Sops,
                Identity::Key1,
                &["encrypt", "--age", age1, &file.path().to_string_lossy()],
            )
            .expect("sops is installed")
            .ok()
        })
        .map(|file| file.stored.as_str())
        .collect();
    note(&format!(
        "corpus: sops read sepal's encryption of {} of {} files as the original data ({} declared \
         limits of sops); sepal refuses {} files, sops accepts {} of them{}",
        read_same,
        files.len(),
        limits.len(),
        refused.len(),
        sops_accepts.len(),
        if sops_accepts.is_empty() {
            String::new()
        } else {
            format!(": {}", sops_accepts.join(", "))
        }
    ));
    f.finish("corpus_sops_reads_sepal_output");
}

/// The environment of one encrypted file's keys: an age identity file and a GnuPG home.
struct KeyEnv {
    age: Option<PathBuf>,
    gnupg: Option<PathBuf>,
}

impl KeyEnv {
    fn command(&self, sb: &Sandbox, tool: Tool) -> Command {
        let mut c = sb
            .command(tool, Identity::None)
            .expect("the tool is installed");
        if let Some(a) = &self.age {
            c.env("SOPS_AGE_KEY_FILE", a);
        }
        if let Some(g) = &self.gnupg {
            c.env("GNUPGHOME", g);
        }
        c
    }
}

/// Set up every distinct key set of `files` in the sandbox (sequentially: gpg imports).
fn key_envs(sb: &Sandbox, files: &[SopsFile]) -> Vec<KeyEnv> {
    let root = corpus();
    let mut made: BTreeMap<Vec<String>, (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    let mut out = Vec::new();
    for file in files {
        let n = made.len();
        let (age, gnupg) = made
            .entry(file.keys.clone())
            .or_insert_with(|| {
                let (pgp, age): (Vec<&String>, Vec<&String>) =
                    file.keys.iter().partition(|k| k.ends_with(".asc"));
                let age = (!age.is_empty()).then(|| {
                    let mut all = Vec::new();
                    for k in &age {
                        all.extend(std::fs::read(root.join(k)).expect("age key file"));
                        all.push(b'\n');
                    }
                    sb.write(&format!("k{n}/age.txt"), all)
                });
                let gnupg = (!pgp.is_empty()).then(|| {
                    assert!(
                        Command::new("gpg")
                            .arg("--version")
                            .stdout(Stdio::null())
                            .status()
                            .is_ok_and(|s| s.success()),
                        "the corpus's OpenPGP files need gpg (apt-get install gnupg)"
                    );
                    let home = sb.join(&format!("g{n}"));
                    std::fs::create_dir_all(&home).expect("gnupg home");
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
                        .expect("chmod gnupg home");
                    for k in &pgp {
                        let out = Command::new("gpg")
                            .env("GNUPGHOME", &home)
                            .args(["--batch", "--no-tty", "--import"])
                            .arg(root.join(k))
                            .stdin(Stdio::null())
                            .output()
                            .expect("gpg runs");
                        assert!(
                            out.status.success(),
                            "gpg --import {k}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    home
                });
                (age, gnupg)
            })
            .clone();
        out.push(KeyEnv { age, gnupg });
    }
    out
}

/// sops-made files decrypted by sepal alone (no sops needed): every file the manifest says
/// decrypts does, with no crash; every expected failure fails cleanly (exit code, nothing on
/// stdout); files only sepal reads (`sepal-only-…`) decrypt.
#[test]
fn corpus_sops_files_decrypt_with_sepal() {
    sops_made_files(false);
}

/// The same files with the real sops as the reference: sepal's output holds the same data as
/// sops's (the same bytes for most), and the expected failures still fail in sops.
#[test]
fn corpus_sops_files_decrypt_like_sops() {
    common::need_sops("corpus");
    sops_made_files(true);
}

fn sops_made_files(with_sops: bool) {
    let files: Vec<SopsFile> = sops_files()
        .into_iter()
        .filter(|r| r.expect != "key")
        .collect();
    let sb = Sandbox::new();
    let envs = key_envs(&sb, &files);
    let root = corpus();
    let runs = parallel(&files, |i, file| {
        let env = &envs[i];
        let path = root.join(&file.stored);
        let sops = with_sops.then(|| {
            let mut sops = env.command(&sb, Tool::Sops);
            sops.args(["decrypt"]).arg(&path);
            common::run(sops, None)
        });
        let mut sepal = env.command(&sb, Tool::Sepal);
        sepal.args(["decrypt"]).arg(&path);
        (sops, common::run(sepal, None))
    });
    for home in envs.iter().filter_map(|e| e.gnupg.as_ref()) {
        crate::pgp::kill_agent(home);
    }
    let mut f = Failures::default();
    let mut checks = Vec::new();
    let mut identical = 0;
    let mut failing: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (file, (sops, sepal))) in files.iter().zip(runs).enumerate() {
        let stored = &file.stored;
        let sepal_reads = file.expect == "decrypts" || file.expect.starts_with("sepal-only-");
        if sepal_reads && !sepal.ok() {
            f.add(format!(
                "{stored}: sepal does not decrypt it{}: {}",
                if crashed(&sepal) { " (CRASH)" } else { "" },
                sepal.describe()
            ));
            continue;
        }
        if !sepal_reads {
            *failing.entry(file.expect.as_str()).or_default() += 1;
            if let Err(e) = refused_cleanly(&sepal) {
                f.add(format!(
                    "{stored}: expected {} (as the real sops), but {e} ({} bytes on stdout)",
                    file.expect,
                    sepal.stdout.len()
                ));
            }
        }
        let Some(sops) = sops else {
            continue;
        };
        if file.expect == "decrypts" {
            if !sops.ok() {
                f.add(format!(
                    "{stored}: sops-manifest.tsv says sops decrypts it, but {}",
                    sops.describe()
                ));
            } else if sops.stdout == sepal.stdout {
                identical += 1;
            } else {
                let name = stored.rsplit('/').next().unwrap_or(stored);
                let a = sb.write(&format!("out/{i}/sops/{name}"), &sops.stdout);
                let b = sb.write(&format!("out/{i}/sepal/{name}"), &sepal.stdout);
                checks.push((
                    stored.clone(),
                    (common::format_of(name).to_string(), a, b),
                    diff(&sops.stdout, &sepal.stdout),
                ));
            }
        } else if file.expect != "fails-pq" && sops.ok() {
            f.add(format!(
                "{stored}: sops-manifest.tsv says {}, but the real sops decrypts it now",
                file.expect
            ));
        }
    }
    let pairs: Vec<_> = checks.iter().map(|(_, p, _)| p.clone()).collect();
    for ((stored, _, bytes), same) in checks.iter().zip(same_data(&pairs)) {
        if let Err(why) = same {
            f.add(format!(
                "DIFFERENT DATA: {stored}: sepal decrypts it to other data than sops: {why}; {bytes}"
            ));
        }
    }
    let decrypting = files.iter().filter(|x| x.expect == "decrypts").count();
    let failures = failing
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if with_sops {
        note(&format!(
            "corpus: {decrypting} sops-made files decrypt with sops; sepal gives the same bytes \
             for {identical}, the same data in another layout for {}; expected failures: \
             {failures}",
            checks.len()
        ));
    } else {
        let only = files
            .iter()
            .filter(|x| x.expect.starts_with("sepal-only-"))
            .count();
        note(&format!(
            "corpus: sepal decrypts {decrypting} sops-made files and {only} that only sepal \
             reads; expected failures: {failures}"
        ));
    }
    f.finish(if with_sops {
        "corpus_sops_files_decrypt_like_sops"
    } else {
        "corpus_sops_files_decrypt_with_sepal"
    });
}

/// Reads pairs of files (`FORMAT<TAB>A<TAB>B` per stdin line) and prints, per pair, `same` or why
/// their data differ. Formats are read as sops reads them: YAML scalars resolved as go-yaml does
/// (YAML 1.2 booleans and nulls; `0x`, `0o`, `0b`, leading-zero octal and `_` integers; dates as
/// UTC timestamps; `100.0` and `100` the same number), JSON objects in order, dotenv as sops's
/// reader (`KEY=VALUE` split at the first `=`, `\n` escapes; a CR before the LF is a line end),
/// INI as gopkg.in/ini.v1 (`=` or `:`, inline `#`/`;` comments, quotes, backticks, `"""`, `\`
/// continuations, the last of duplicate keys), binary as the bytes.
const CANON: &str = r#"
import sys, json, re, datetime, base64
def num(v):
    if isinstance(v, int): return ['num', str(v)]
    if v != v: return ['num', 'nan']
    if v in (float('inf'), float('-inf')): return ['num', repr(v)]
    if v == int(v) and abs(v) < 1e15: return ['num', str(int(v))]
    return ['num', repr(v)]
def canon(v):
    if isinstance(v, bool): return ['bool', v]
    if v is None: return None
    if isinstance(v, (int, float)): return num(v)
    if isinstance(v, str): return v
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None: v = v.replace(tzinfo=datetime.timezone.utc)
        return ['time', v.astimezone(datetime.timezone.utc).isoformat()]
    if isinstance(v, datetime.date):
        return ['time', datetime.datetime(v.year, v.month, v.day, tzinfo=datetime.timezone.utc).isoformat()]
    if isinstance(v, dict): return ['map'] + [[canon(k), canon(x)] for k, x in v.items()]
    if isinstance(v, list): return [canon(x) for x in v]
    if isinstance(v, bytes): return ['bytes', base64.b64encode(v).decode()]
    return ['other', repr(v)]
def load_yaml(raw):
    import yaml
    class L(getattr(yaml, 'CSafeLoader', yaml.SafeLoader)): pass
    L.yaml_implicit_resolvers = {}
    L.yaml_constructors = dict(L.yaml_constructors)
    def add(tag, rx, first): L.add_implicit_resolver(tag, re.compile(rx, re.X), list(first))
    add('tag:yaml.org,2002:bool', r'^(?:true|True|TRUE|false|False|FALSE)$', 'tTfF')
    add('tag:yaml.org,2002:null', r'^(?:~|null|Null|NULL|)$', ['~', 'n', 'N', ''])
    add('tag:yaml.org,2002:int', r'^(?:[-+]?[0-9][0-9_]*|[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?0x[0-9a-fA-F_]+)$', '-+0123456789')
    add('tag:yaml.org,2002:float', r'^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$', '-+0123456789.')
    add('tag:yaml.org,2002:timestamp', r'^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?)$', '0123456789')
    add('tag:yaml.org,2002:merge', r'^(?:<<)$', '<')
    def intc(loader, node):
        s = loader.construct_scalar(node).replace('_', '')
        sign = -1 if s.startswith('-') else 1
        s = s.lstrip('+-')
        if s.startswith('0b'): return sign * int(s[2:], 2)
        if s.startswith('0x'): return sign * int(s[2:], 16)
        if s.startswith('0o'): return sign * int(s[2:], 8)
        if len(s) > 1 and s.startswith('0'): return sign * int(s, 8)
        return sign * int(s)
    L.add_constructor('tag:yaml.org,2002:int', intc)
    return [canon(d) for d in yaml.load_all(raw.decode('utf-8'), Loader=L)]
def load_json(raw):
    return canon(json.loads(raw.decode('utf-8'), object_pairs_hook=lambda ps: dict(ps) if len({k for k, _ in ps}) == len(ps) else {'__duplicate_keys__': ps}))
def load_dotenv(raw):
    out = []
    for line in raw.decode('utf-8').split('\n'):
        if line.endswith('\r'): line = line[:-1]
        if not line or line.startswith('#'): continue
        k, eq, v = line.partition('=')
        if not eq: raise ValueError(f'dotenv line without "=": {line!r}')
        out.append([k, v.replace('\\n', '\n')])
    return out
def load_ini(raw):
    text = raw.decode('utf-8')
    if text.startswith('\ufeff'): text = text[1:]
    lines = text.split('\n')
    sections = [['DEFAULT', {}]]
    i = 0
    def surrounded(s, q): return len(s) >= 2 and s[0] == q and s[-1] == q and s[1:].find(q) == len(s) - 2
    def delim(s):
        return min([x for x in (s.find('='), s.find(':')) if x >= 0], default=-1)
    while i < len(lines):
        line = lines[i].rstrip('\r').lstrip(); i += 1
        if not line or line[0] in '#;': continue
        if line[0] == '[':
            close = line.rfind(']')
            if close < 0: raise ValueError(f'unclosed section: {line!r}')
            sections.append([line[1:close].strip(), {}]); continue
        if line[0] in '"`':
            q = '"""' if line.startswith('"""') and len(line) > 6 else line[0]
            end = line.find(q, len(q))
            if end < 0: raise ValueError(f'missing closing key quote: {line!r}')
            rest = line[end + len(q):]
            j = delim(rest)
            if j < 0: raise ValueError(f'key-value delimiter not found: {line!r}')
            key = line[len(q):end].strip(); val = rest[j + 1:]
        else:
            j = delim(line)
            if j <= 0: raise ValueError(f'key-value delimiter not found: {line!r}')
            key = line[:j].strip(); val = line[j + 1:]
        val = val.lstrip().rstrip('\r')
        if not val: value = ''
        else:
            vq = '"""' if val.startswith('"""') and len(val) > 3 else ('`' if val[0] == '`' else '')
            if vq:
                pos = val.rfind(vq, len(vq))
                if pos >= 0: value = val[len(vq):pos]
                else:
                    acc = val[len(vq):] + '\n'
                    while True:
                        if i >= len(lines): raise ValueError('missing closing quote')
                        nxt = lines[i]; i += 1
                        pos = nxt.rfind(vq)
                        if pos >= 0: acc += nxt[:pos]; break
                        acc += nxt + '\n'
                    value = acc
            else:
                v = val.strip()
                if v.endswith('\\'):
                    v = v[:-1]
                    while i < len(lines):
                        nxt = lines[i].strip(); i += 1
                        if not nxt: break
                        v += nxt
                        if not v.endswith('\\'): break
                        v = v[:-1]
                    value = v
                else:
                    c = min([x for x in (v.find('#'), v.find(';')) if x >= 0], default=-1)
                    if c >= 0: v = v[:c].strip()
                    if surrounded(v, "'") or surrounded(v, '"'): v = v[1:-1]
                    value = v
        sections[-1][1][key] = value
    return [[n, list(kv.items())] for n, kv in sections if kv or n != 'DEFAULT']
LOAD = {'yaml': load_yaml, 'json': load_json, 'dotenv': load_dotenv, 'ini': load_ini,
        'binary': lambda raw: ['bytes', base64.b64encode(raw).decode()]}
def first_diff(a, b, where='$'):
    if type(a) != type(b) or not isinstance(a, list):
        return None if a == b else f'{where}: {json.dumps(a)[:160]} vs {json.dumps(b)[:160]}'
    for n, (x, y) in enumerate(zip(a, b)):
        d = first_diff(x, y, f'{where}[{n}]')
        if d: return d
    return None if len(a) == len(b) else f'{where}: {len(a)} items vs {len(b)}'
for line in sys.stdin:
    fmt, a, b = line.rstrip('\n').split('\t')
    try:
        data = []
        for path in (a, b):
            try: data.append(LOAD[fmt](open(path, 'rb').read()))
            except Exception as e: raise ValueError(f'cannot read {path} as {fmt}: {type(e).__name__}: {str(e)[:300]}')
        d = first_diff(*data)
        out = 'same' if d is None else 'differ: ' + d
    except Exception as e:
        out = f'error: {e}'
    print(out.replace('\n', '\\n'), flush=True)
"#;
