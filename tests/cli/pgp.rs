//! OpenPGP master keys, both ways with the real sops: through GnuPG and natively
//! (`SEPAL_PGP_KEY_FILE`, with `SOPS_GPG_EXEC` pointing nowhere), with an RSA key and a
//! Curve25519 key, fingerprints written with spaces and in lowercase, unknown keys.
//!
//! Throwaway keys are generated once per test run by gpg in a temporary home; every test then
//! gets its own GnuPG home (a copy of that keyring, with or without the secret keys) inside its
//! sandbox, and kills that home's gpg-agent when it ends (see [`PgpBox`]). Every test fails when
//! gpg is missing; the tests that run the real sops fail when sops is missing (the sepal part of a
//! split test needs no sops).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use regex::Regex;

use crate::common::{self, diff, Failures, Identity, Part, Run, Sandbox, Tool};

/// The keys made once per run: fingerprints, exported key files and the GnuPG home's files.
pub struct Material {
    /// RSA 3072 primary (sign) with an RSA 3072 encryption subkey.
    pub rsa_fp: String,
    /// Ed25519 primary (sign) with a Curve25519 encryption subkey.
    pub cv_fp: String,
    rsa_secret: Vec<u8>,
    rsa_public: Vec<u8>,
    cv_secret: Vec<u8>,
    cv_public: Vec<u8>,
    /// Files of the GnuPG home (relative path, bytes), sockets and revocation certificates left out.
    home_files: Vec<(PathBuf, Vec<u8>)>,
}

fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--no-tty"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run gpg: {e}"));
    assert!(
        out.status.success(),
        "gpg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn kill_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home)
        .args(["--kill", "gpg-agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn have_gpg() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        Command::new("gpg")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn generate() -> Material {
    let tmp = tempfile::Builder::new()
        .prefix("sepal-gpg-")
        .tempdir()
        .expect("temp dir");
    let home = tmp.path().join("g");
    std::fs::create_dir(&home).expect("gnupg home");
    set_mode(&home, 0o700);
    let fp_of = |email: &str| -> String {
        let out = gpg(&home, &["--with-colons", "--list-keys", email]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("fingerprint")
    };
    let p = ["--passphrase", ""];
    let made = std::panic::catch_unwind(|| {
        gpg(
            &home,
            &[
                p[0],
                p[1],
                "--quick-gen-key",
                "T1 <t1@example.com>",
                "rsa3072",
                "sign",
                "never",
            ],
        );
        let rsa_fp = fp_of("t1@example.com");
        gpg(
            &home,
            &[
                p[0],
                p[1],
                "--quick-add-key",
                &rsa_fp,
                "rsa3072",
                "encr",
                "never",
            ],
        );
        gpg(
            &home,
            &[
                p[0],
                p[1],
                "--quick-gen-key",
                "T2 <t2@example.com>",
                "ed25519",
                "sign",
                "never",
            ],
        );
        let cv_fp = fp_of("t2@example.com");
        gpg(
            &home,
            &[
                p[0],
                p[1],
                "--quick-add-key",
                &cv_fp,
                "cv25519",
                "encr",
                "never",
            ],
        );
        let export = |what: &str, fp: &str| gpg(&home, &["--armor", what, fp]).stdout;
        Material {
            rsa_secret: export("--export-secret-keys", &rsa_fp),
            rsa_public: export("--export", &rsa_fp),
            cv_secret: export("--export-secret-keys", &cv_fp),
            cv_public: export("--export", &cv_fp),
            rsa_fp,
            cv_fp,
            home_files: Vec::new(),
        }
    });
    kill_agent(&home);
    let mut m = made.unwrap_or_else(|e| std::panic::resume_unwind(e));
    collect(&home, Path::new(""), &mut m.home_files);
    m
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(root.join(rel)).expect("read gnupg home") {
        let e = e.expect("entry");
        let name = e.file_name();
        let r = rel.join(&name);
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            if name != "openpgp-revocs.d" {
                collect(root, &r, out);
            }
        } else if ft.is_file() && !name.to_string_lossy().ends_with(".lock") {
            out.push((r, std::fs::read(e.path()).expect("read")));
        }
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The per-run keys; fails the test `test` (naming what to install) when gpg is missing.
pub fn material(test: &str) -> &'static Material {
    static M: OnceLock<Option<Material>> = OnceLock::new();
    M.get_or_init(|| have_gpg().then(generate))
        .as_ref()
        .unwrap_or_else(|| panic!("{test}: this test needs gpg (GnuPG 2): apt-get install gnupg"))
}

/// A sandbox with its own GnuPG home (`<sandbox>/gnupg`) and the exported key files
/// `rsa-secret.asc`, `rsa-public.asc`, `cv-secret.asc`, `cv-public.asc` at its root. The home's
/// gpg-agent is killed on drop (the home is dropped before the sandbox's folder).
pub struct PgpBox {
    pub home: PathBuf,
    pub m: &'static Material,
    pub sb: Sandbox,
}

impl Drop for PgpBox {
    fn drop(&mut self) {
        kill_agent(&self.home);
    }
}

impl PgpBox {
    /// Fails the test `test` when gpg is missing. `secrets`: whether the GnuPG home holds the
    /// secret keys (else only the public keys).
    pub fn new(test: &str, secrets: bool) -> PgpBox {
        let m = material(test);
        let sb = Sandbox::new();
        let home = sb.join("gnupg");
        std::fs::create_dir(&home).expect("gnupg home");
        set_mode(&home, 0o700);
        for (rel, bytes) in &m.home_files {
            if !secrets && rel.starts_with("private-keys-v1.d") {
                continue;
            }
            let p = home.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).expect("mkdir");
                set_mode(d, 0o700);
            }
            std::fs::write(&p, bytes).expect("write gnupg file");
        }
        sb.write("rsa-secret.asc", &m.rsa_secret);
        sb.write("rsa-public.asc", &m.rsa_public);
        sb.write("cv-secret.asc", &m.cv_secret);
        sb.write("cv-public.asc", &m.cv_public);
        PgpBox { home, m, sb }
    }

    /// A command with this GnuPG home and the extra environment.
    pub fn command(&self, tool: Tool, id: Identity, env: &[(&str, &str)]) -> Command {
        let mut c = self.sb.command(tool, id).expect("a command");
        c.env("GNUPGHOME", &self.home);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, tool: Tool, id: Identity, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut c = self.command(tool, id, env);
        c.args(args);
        common::run(c, None)
    }

    /// A path inside the sandbox, as a string.
    pub fn p(&self, rel: &str) -> String {
        self.sb.join(rel).to_string_lossy().into_owned()
    }
}

/// One environment variable.
pub type EnvPair<'a> = (&'a str, &'a str);

/// Environment for sepal's native OpenPGP back end only: no usable gpg, these key files.
pub fn native(files: &str) -> [(&str, &str); 2] {
    [
        ("SOPS_GPG_EXEC", "/nonexistent/gpg"),
        ("SEPAL_PGP_KEY_FILE", files),
    ]
}

/// Every `fp` stored in an encrypted YAML file.
pub fn stored_fps(text: &str) -> Vec<String> {
    let re = Regex::new(r"(?m)^\s*(?:- )?fp: (\S+)\s*$").unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

const PLAIN: &str = "# settings\napp:\n    user: svc\n    password: hunter2 with spaces\n    port: 8443\nlist:\n    - a\n    - 2.5\n";

/// sops encrypts `PLAIN` to both keys (through gpg); returns the file's path in the box.
fn sops_file_two_keys(b: &PgpBox) -> String {
    b.sb.write("plain.yaml", PLAIN);
    let fps = format!("{},{}", b.m.rsa_fp, b.m.cv_fp);
    let r = b.run(
        Tool::Sops,
        Identity::None,
        &[],
        &["encrypt", "--pgp", &fps, "plain.yaml"],
    );
    assert!(r.ok(), "sops could not encrypt with PGP: {}", r.describe());
    b.sb.write("by-sops.yaml", &r.stdout);
    b.p("by-sops.yaml")
}

#[test]
fn sops_encrypts_to_two_keys_sepal_decrypts_through_gpg_and_natively() {
    common::need_sops("pgp::sops_two_keys");
    let b = PgpBox::new("pgp::sops_two_keys", true);
    let file = sops_file_two_keys(&b);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        stored_fps(&text),
        vec![b.m.rsa_fp.clone(), b.m.cv_fp.clone()]
    );
    let reference = b.run(Tool::Sops, Identity::None, &[], &["decrypt", &file]);
    assert!(reference.ok(), "sops decrypt: {}", reference.describe());
    assert_eq!(reference.stdout, PLAIN.as_bytes());
    let mut f = Failures::default();
    let mut expect_plain = |what: &str, r: Run| {
        if !r.ok() {
            f.add(format!("{what}: {}", r.describe()));
        } else if r.stdout != PLAIN.as_bytes() {
            f.add(format!("{what}: {}", diff(PLAIN.as_bytes(), &r.stdout)));
        }
    };
    expect_plain(
        "through gpg",
        b.run(Tool::Sepal, Identity::None, &[], &["decrypt", &file]),
    );
    let rsa = b.p("rsa-secret.asc");
    let cv = b.p("cv-secret.asc");
    expect_plain(
        "natively, RSA secret key file",
        b.run(
            Tool::Sepal,
            Identity::None,
            &native(&rsa),
            &["decrypt", &file],
        ),
    );
    expect_plain(
        "natively, Curve25519 secret key file",
        b.run(
            Tool::Sepal,
            Identity::None,
            &native(&cv),
            &["decrypt", &file],
        ),
    );
    let both = format!("{}:{}", b.p("rsa-public.asc"), cv);
    expect_plain(
        "natively, public key file then secret key file (':'-separated)",
        b.run(
            Tool::Sepal,
            Identity::None,
            &native(&both),
            &["decrypt", &file],
        ),
    );
    // Native only, without GNUPGHOME at all.
    let mut c = b.sb.command(Tool::Sepal, Identity::None).unwrap();
    c.envs(native(&rsa)).args(["decrypt", &file]);
    expect_plain("natively, no GNUPGHOME", common::run(c, None));

    // Only public keys at hand: no secret anywhere → 128, like sops.
    let pubs = format!("{}:{}", b.p("rsa-public.asc"), b.p("cv-public.asc"));
    let r = b.run(
        Tool::Sepal,
        Identity::None,
        &native(&pubs),
        &["decrypt", &file],
    );
    if r.code != 128 || !r.stdout.is_empty() {
        f.add(format!(
            "public keys only: expected exit 128 and no output: {}",
            r.describe()
        ));
    }
    let r = b.run(
        Tool::Sops,
        Identity::None,
        &native(&pubs),
        &["decrypt", &file],
    );
    if r.code != 128 {
        f.add(format!("(reference) sops without gpg: {}", r.describe()));
    }
    f.finish("pgp: sops encrypts to two keys, sepal decrypts");
}

#[test]
fn gpg_home_without_secret_keys_cannot_decrypt() {
    common::need_sops("pgp::no_secret");
    let b = PgpBox::new("pgp::no_secret", false);
    let file = sops_file_two_keys(&b);
    let mut f = Failures::default();
    for tool in [Tool::Sops, Tool::Sepal] {
        let r = b.run(tool, Identity::None, &[], &["decrypt", &file]);
        if r.code != 128 || !r.stdout.is_empty() {
            f.add(format!(
                "[{}] expected exit 128 and no stdout: {}",
                tool.name(),
                r.describe()
            ));
        }
        let e = r.stderr_text();
        if tool == Tool::Sepal
            && !(e.contains("Failed to get the data key") && e.contains(&b.m.rsa_fp))
        {
            f.add(format!(
                "sepal's error should say it failed and name the key: {e}"
            ));
        }
    }
    f.finish("pgp: no secret keys");
}

/// sepal encrypts to one key, through gpg or natively (`how`); `SepalAlone`: sepal stores the
/// key and decrypts its own file; `WithSops`: sops decrypts it through gpg.
fn sepal_encrypts(test: &str, rsa: bool, how: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    let fp = if rsa { &b.m.rsa_fp } else { &b.m.cv_fp };
    let public = b.p(if rsa {
        "rsa-public.asc"
    } else {
        "cv-public.asc"
    });
    b.sb.write("plain.yaml", PLAIN);
    let r = match how {
        "gpg" => b.run(
            Tool::Sepal,
            Identity::None,
            &[],
            &["encrypt", "--pgp", fp, "plain.yaml"],
        ),
        _ => {
            // No gpg at all: only the public key file.
            let mut c = b.sb.command(Tool::Sepal, Identity::None).unwrap();
            c.envs(native(&public))
                .args(["encrypt", "--pgp", fp, "plain.yaml"]);
            common::run(c, None)
        }
    };
    assert!(r.ok(), "{test}: sepal could not encrypt: {}", r.describe());
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    let mut f = Failures::default();
    b.sb.write("by-sepal.yaml", &r.stdout);
    if part == Part::SepalAlone {
        if stored_fps(&text) != vec![fp.clone()] {
            f.add(format!("stored fingerprints: {:?}", stored_fps(&text)));
        }
        if !text.contains("-----BEGIN PGP MESSAGE-----") {
            f.add("no armored PGP message in the file");
        }
        let own = b.run(
            Tool::Sepal,
            Identity::None,
            &[],
            &["decrypt", "by-sepal.yaml"],
        );
        if own.stdout != PLAIN.as_bytes() {
            f.add(format!(
                "sepal cannot decrypt its own file: {}",
                own.describe()
            ));
        }
    } else {
        let back = b.run(
            Tool::Sops,
            Identity::None,
            &[],
            &["decrypt", "by-sepal.yaml"],
        );
        if !back.ok() {
            f.add(format!("sops cannot decrypt: {}", back.describe()));
        } else if back.stdout != PLAIN.as_bytes() {
            f.add(format!(
                "sops decrypts other bytes: {}",
                diff(PLAIN.as_bytes(), &back.stdout)
            ));
        }
    }
    f.finish(test);
}

#[test]
fn sepal_encrypts_rsa_through_gpg() {
    sepal_encrypts(
        "pgp::sepal_encrypts_rsa_through_gpg",
        true,
        "gpg",
        Part::SepalAlone,
    );
}

#[test]
fn sepal_encrypts_curve25519_through_gpg() {
    sepal_encrypts(
        "pgp::sepal_encrypts_curve25519_through_gpg",
        false,
        "gpg",
        Part::SepalAlone,
    );
}

#[test]
fn sepal_encrypts_rsa_natively() {
    sepal_encrypts(
        "pgp::sepal_encrypts_rsa_natively",
        true,
        "native",
        Part::SepalAlone,
    );
}

#[test]
fn sepal_encrypts_curve25519_natively() {
    sepal_encrypts(
        "pgp::sepal_encrypts_curve25519_natively",
        false,
        "native",
        Part::SepalAlone,
    );
}

#[test]
fn sepal_encrypts_rsa_through_gpg_sops_decrypts() {
    sepal_encrypts(
        "pgp::sepal_encrypts_rsa_through_gpg_sops_decrypts",
        true,
        "gpg",
        Part::WithSops,
    );
}

#[test]
fn sepal_encrypts_curve25519_through_gpg_sops_decrypts() {
    sepal_encrypts(
        "pgp::sepal_encrypts_curve25519_through_gpg_sops_decrypts",
        false,
        "gpg",
        Part::WithSops,
    );
}

#[test]
fn sepal_encrypts_rsa_natively_sops_decrypts() {
    sepal_encrypts(
        "pgp::sepal_encrypts_rsa_natively_sops_decrypts",
        true,
        "native",
        Part::WithSops,
    );
}

#[test]
fn sepal_encrypts_curve25519_natively_sops_decrypts() {
    sepal_encrypts(
        "pgp::sepal_encrypts_curve25519_natively_sops_decrypts",
        false,
        "native",
        Part::WithSops,
    );
}

/// `18c1 3485 …`: lowercase, in groups of four (two spaces in the middle, as gpg prints it).
fn spaced_lower(fp: &str) -> String {
    let lower = fp.to_lowercase();
    let groups: Vec<&str> = (0..lower.len() / 4)
        .map(|i| &lower[i * 4..i * 4 + 4])
        .collect();
    format!("{}  {}", groups[..5].join(" "), groups[5..].join(" "))
}

/// Fingerprints written with spaces and in lowercase, through `--pgp`, `SOPS_PGP_FP` and
/// `.sops.yaml`. `SepalAlone`: sepal encrypts with each; `WithSops`: sops does too, both store the
/// same fingerprints, and each tool decrypts the other's file.
fn fingerprint_spelling(test: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    let spaced = spaced_lower(&b.m.rsa_fp);
    let spaced_cv = spaced_lower(&b.m.cv_fp);
    b.sb.write("plain.yaml", PLAIN);
    b.sb.write(
        "cfg/.sops.yaml",
        format!("creation_rules:\n  - pgp: '{spaced}, {spaced_cv}'\n"),
    );
    let mut f = Failures::default();
    // (description, args, env) — each run by both tools.
    let list = format!("{spaced},{spaced_cv}");
    let ways: Vec<(&str, Vec<&str>, Vec<EnvPair>)> = vec![
        (
            "--pgp",
            vec!["encrypt", "--pgp", &list, "plain.yaml"],
            vec![],
        ),
        (
            "SOPS_PGP_FP",
            vec!["encrypt", "plain.yaml"],
            vec![("SOPS_PGP_FP", &list)],
        ),
        (
            ".sops.yaml pgp:",
            vec!["--config", "cfg/.sops.yaml", "encrypt", "plain.yaml"],
            vec![],
        ),
    ];
    for (what, args, env) in &ways {
        let ours = b.run(Tool::Sepal, Identity::None, env, args);
        if part == Part::SepalAlone {
            if !ours.ok() {
                f.add(format!("{what}: sepal failed: {}", ours.describe()));
            }
            continue;
        }
        let theirs = b.run(Tool::Sops, Identity::None, env, args);
        if !theirs.ok() {
            f.add(format!(
                "{what}: (reference) sops failed: {}",
                theirs.describe()
            ));
            continue;
        }
        if !ours.ok() {
            f.add(format!("{what}: sepal failed: {}", ours.describe()));
            continue;
        }
        let (o, t) = (
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
        );
        if stored_fps(&o) != stored_fps(&t) {
            f.add(format!(
                "{what}: stored fingerprints differ: sepal {:?}, sops {:?}",
                stored_fps(&o),
                stored_fps(&t)
            ));
        }
        b.sb.write("by-sepal.yaml", &ours.stdout);
        b.sb.write("by-sops.yaml", &theirs.stdout);
        let r = b.run(
            Tool::Sops,
            Identity::None,
            &[],
            &["decrypt", "by-sepal.yaml"],
        );
        if r.stdout != PLAIN.as_bytes() {
            f.add(format!(
                "{what}: sops cannot decrypt sepal's file: {}",
                r.describe()
            ));
        }
        // Natively, so the lowercase fingerprint must be matched against the key file.
        let rsa = b.p("rsa-secret.asc");
        let r = b.run(
            Tool::Sepal,
            Identity::None,
            &native(&rsa),
            &["decrypt", "by-sops.yaml"],
        );
        if r.stdout != PLAIN.as_bytes() {
            f.add(format!(
                "{what}: sepal (native) cannot decrypt sops's file: {}",
                r.describe()
            ));
        }
    }
    f.finish(test);
}

#[test]
fn fingerprints_with_spaces_and_lowercase() {
    fingerprint_spelling(
        "pgp::fingerprints_with_spaces_and_lowercase",
        Part::SepalAlone,
    );
}

#[test]
fn fingerprints_with_spaces_and_lowercase_with_sops() {
    fingerprint_spelling(
        "pgp::fingerprints_with_spaces_and_lowercase_with_sops",
        Part::WithSops,
    );
}

/// Encrypting to an unknown fingerprint. `SepalAlone`: sepal fails, names the key and prints
/// nothing; `WithSops`: sepal exits with sops's (non-zero) code.
fn unknown_fingerprint(test: &str, part: Part) {
    part.start(test);
    let b = PgpBox::new(test, true);
    b.sb.write("plain.yaml", PLAIN);
    let unknown = "DEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF";
    let mut f = Failures::default();
    let mut codes = Vec::new();
    let with_native = format!("{}:{}", b.p("rsa-public.asc"), b.p("cv-public.asc"));
    let envs: [&[(&str, &str)]; 2] = [&[], &native(&with_native)];
    for env in envs {
        for &tool in part.tools() {
            if tool == Tool::Sops && !env.is_empty() {
                continue;
            }
            let r = b.run(
                tool,
                Identity::None,
                env,
                &["encrypt", "--pgp", unknown, "plain.yaml"],
            );
            codes.push((tool, r.code));
            if part == Part::SepalAlone {
                let e = r.stderr_text();
                if !r.stdout.is_empty() {
                    f.add(format!("sepal printed something on stdout (env {env:?})"));
                }
                if !(e.contains("Could not generate data key") && e.contains(unknown)) {
                    f.add(format!(
                        "sepal's error (env {env:?}) should name the key: {e}"
                    ));
                }
            }
        }
    }
    let sops_code = codes.iter().find(|(t, _)| *t == Tool::Sops).map(|c| c.1);
    for (t, c) in &codes {
        if part == Part::SepalAlone {
            if *c == 0 {
                f.add(format!("{}: exit {c}, expected a failure", t.name()));
            }
        } else if Some(*c) != sops_code || *c == 0 {
            f.add(format!("{}: exit {c}, sops exits {sops_code:?}", t.name()));
        }
    }
    f.finish(test);
}

#[test]
fn unknown_fingerprint_is_a_clear_error() {
    unknown_fingerprint(
        "pgp::unknown_fingerprint_is_a_clear_error",
        Part::SepalAlone,
    );
}

#[test]
fn unknown_fingerprint_is_a_clear_error_with_sops() {
    unknown_fingerprint(
        "pgp::unknown_fingerprint_is_a_clear_error_with_sops",
        Part::WithSops,
    );
}
