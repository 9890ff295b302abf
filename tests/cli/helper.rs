//! The `sepal-keys` helper: `sepal` links none of the AWS SDK, tokio or gRPC (the helper does),
//! works without the helper on files that need no cloud key, and says what is wrong when a file
//! needs it and the helper is missing, of another version, or stops answering. Talking to KMS
//! and to key services through the helper is covered by `cloud.rs` and `keyservice.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, helper_bin, keys, Run, Sandbox};

const KMS_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A copy of `sepal` alone in `bin/` of the sandbox, with `helper` (a script) beside it if given.
fn lone_sepal(sb: &Sandbox, helper: Option<&str>) -> PathBuf {
    let bin = sb.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let sepal = bin.join("sepal");
    std::fs::copy(common::sepal_bin(), &sepal).expect("copy sepal");
    if let Some(script) = helper {
        let path = bin.join("sepal-keys");
        std::fs::write(&path, script).expect("helper script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        wait_until_startable(&path);
    }
    wait_until_startable(&sepal);
    sepal
}

/// A child that another test thread forks while a file is open for writing here holds that
/// descriptor until it execs, and starting the file fails with "text file busy" until then.
fn wait_until_startable(path: &Path) {
    for _ in 0..200 {
        let started = Command::new(path)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        match started {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => return,
        }
    }
}

/// Run `sepal` with only its own folder on PATH, a private HOME and key1's identity.
fn run(sb: &Sandbox, sepal: &Path, args: &[&str]) -> Run {
    let mut c = Command::new(sepal);
    c.env_clear()
        .env("PATH", sepal.parent().expect("bin"))
        .env("HOME", sb.home())
        .env("SOPS_AGE_KEY_FILE", &keys().key1)
        .current_dir(sb.path())
        .args(args);
    common::run(c, None)
}

/// A file encrypted for key1 with its age entry replaced by an AWS KMS one, so that only KMS
/// can give its data key.
fn kms_only_file(sb: &Sandbox, sepal: &Path) -> &'static str {
    sb.write("plain.json", "{\"password\": \"hunter2\"}\n");
    let r = run(
        sb,
        sepal,
        &[
            "encrypt",
            "--age",
            &keys().age1,
            "--output",
            "enc.json",
            "plain.json",
        ],
    );
    assert!(r.ok(), "{}", r.describe());
    let text = std::fs::read_to_string(sb.join("enc.json")).expect("enc.json");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let sops = doc["sops"].as_object_mut().expect("sops metadata");
    sops.remove("age");
    sops.insert(
        "kms".into(),
        serde_json::json!([{
            "arn": KMS_ARN,
            "created_at": "2026-12-03T10:00:00Z",
            "enc": "AQICAHh4cHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcA==",
            "aws_profile": ""
        }]),
    );
    sb.write(
        "kms.json",
        serde_json::to_string_pretty(&doc).expect("json"),
    );
    "kms.json"
}

/// The helper's greeting frame for `version`, as a shell `printf` argument (octal escapes).
fn greeting_printf(version: &str) -> String {
    let payload = format!("sepal-keys {version}");
    let mut out: String = (payload.len() as u32)
        .to_le_bytes()
        .iter()
        .map(|b| format!("\\{b:03o}"))
        .collect();
    out.push_str(&payload);
    out
}

#[test]
fn sepal_links_no_cloud_sdk_or_grpc_and_the_helper_does() {
    // Mangled symbol prefixes of each crate's functions (the test builds keep their symbols),
    // and whether this build has the feature that brings it into the helper.
    let cloud = cfg!(any(feature = "aws", feature = "keyservice"));
    let crates = [
        ("aws-sdk-kms", "_ZN11aws_sdk_kms", cfg!(feature = "aws")),
        (
            "aws-smithy-runtime",
            "_ZN18aws_smithy_runtime",
            cfg!(feature = "aws"),
        ),
        ("tokio", "_ZN5tokio", cloud),
        ("tonic", "_ZN5tonic", cfg!(feature = "keyservice")),
        ("h2", "_ZN2h2", cloud),
        ("hyper", "_ZN5hyper", cloud),
        ("ureq", "_ZN4ureq", true),
        ("rustls", "_ZN6rustls", true),
    ];
    let sepal = std::fs::read(common::sepal_bin()).expect("sepal binary");
    let helper = std::fs::read(helper_bin()).expect("sepal-keys binary");
    let has = |bytes: &[u8], needle: &str| memchr::memmem::find(bytes, needle.as_bytes()).is_some();
    for (name, prefix, built) in crates {
        if built {
            assert!(
                has(&helper, prefix),
                "sepal-keys should contain {name} ({prefix})"
            );
        }
        assert!(
            !has(&sepal, prefix),
            "sepal links {name} ({prefix}): something the sepal executable reaches names the in-process backend (src/cloud.rs)"
        );
    }
}

#[test]
fn files_without_cloud_keys_need_no_helper() {
    let sb = Sandbox::new();
    let sepal = lone_sepal(&sb, None);
    let plain = "user: alice\npassword: hunter2\n";
    sb.write("plain.yaml", plain);
    let r = run(
        &sb,
        &sepal,
        &[
            "encrypt",
            "--age",
            &keys().age1,
            "--output",
            "enc.yaml",
            "plain.yaml",
        ],
    );
    assert!(r.ok(), "{}", r.describe());
    let r = run(&sb, &sepal, &["decrypt", "enc.yaml"]);
    assert!(r.ok(), "{}", r.describe());
    assert_eq!(String::from_utf8_lossy(&r.stdout), plain);
}

#[test]
fn a_missing_helper_is_named_with_where_it_was_looked_for() {
    let sb = Sandbox::new();
    let sepal = lone_sepal(&sb, None);
    let file = kms_only_file(&sb, &sepal);
    let r = run(&sb, &sepal, &["decrypt", file]);
    assert_eq!(r.code, 128, "{}", r.describe());
    let err = r.stderr_text();
    assert!(err.contains(KMS_ARN), "{err}");
    assert!(
        err.contains(&format!(
            "handled by the sepal-keys helper, which was not found at {}",
            sb.join("bin/sepal-keys").display()
        )),
        "{err}"
    );
    // Encrypting for a KMS key needs it too.
    sb.write("new.yaml", "a: b\n");
    let r = run(&sb, &sepal, &["encrypt", "--kms", KMS_ARN, "new.yaml"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr_text()
            .contains("sepal-keys helper, which was not found"),
        "{}",
        r.describe()
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn a_helper_of_another_version_is_refused() {
    let sb = Sandbox::new();
    let script = format!(
        "#!/bin/sh\nprintf '{}'\ncat >/dev/null\n",
        greeting_printf("0.0.1-other")
    );
    let sepal = lone_sepal(&sb, Some(&script));
    let file = kms_only_file(&sb, &sepal);
    let r = run(&sb, &sepal, &["decrypt", file]);
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(
        r.stderr_text().contains(&format!(
            "is version 0.0.1-other, this sepal is {}: install both from the same build",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        r.describe()
    );
}

#[test]
fn a_helper_that_stops_answering_is_an_error_not_a_hang() {
    let sb = Sandbox::new();
    // Greets as this version, then reads one request and exits without answering.
    let script = format!(
        "#!/bin/sh\nprintf '{}'\nhead -c 4 >/dev/null\nexit 0\n",
        greeting_printf(env!("CARGO_PKG_VERSION"))
    );
    let sepal = lone_sepal(&sb, Some(&script));
    let file = kms_only_file(&sb, &sepal);
    let r = run(&sb, &sepal, &["decrypt", file]);
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(
        r.stderr_text().contains("stopped answering"),
        "{}",
        r.describe()
    );
}

#[test]
fn the_helper_run_by_hand_says_what_it_is() {
    let r = common::run(Command::new(helper_bin()), None);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert!(
        r.stderr_text().contains("run sepal instead"),
        "{}",
        r.describe()
    );
    let mut c = Command::new(helper_bin());
    c.args(["keyservice", "udp", "somewhere"]);
    let r = common::run(c, None);
    assert_eq!(r.code, 2, "{}", r.describe());
}
