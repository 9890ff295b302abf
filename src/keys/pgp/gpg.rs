//! The GnuPG back end: running the gpg binary (`$SOPS_GPG_EXEC`, with `$GNUPGHOME`) with the
//! arguments sops uses, so keys in the user's keyring, in gpg-agent or on a smartcard work as they
//! do with sops, and gpg's own messages reach the user.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use sequoia_openpgp::cert::prelude::*;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::Cert;

use super::fingerprint::{shorten_fingerprint, FingerprintQuery};
use super::PgpSettings;
use crate::wipe::Wiped;

/// Why gpg could not do what was asked.
pub(super) enum GpgError {
    /// The binary does not exist.
    NotFound,
    Failed(String),
}

/// What one gpg run printed, and whether it succeeded.
struct GpgOutput {
    success: bool,
    stdout: Wiped<Vec<u8>>,
    stderr: String,
}

/// The gpg binary of some settings.
pub(super) struct Gpg<'a> {
    exec: &'a str,
    home: Option<&'a Path>,
}

impl<'a> Gpg<'a> {
    pub(super) fn new(settings: &'a PgpSettings) -> Self {
        Gpg {
            exec: &settings.gpg_exec,
            home: settings.gnupg_home.as_deref(),
        }
    }

    /// Run gpg with `args`, feeding `stdin`.
    fn run(&self, args: &[&str], stdin: &[u8]) -> Result<GpgOutput, GpgError> {
        let mut cmd = Command::new(self.exec);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(home) = self.home {
            cmd.env("GNUPGHOME", home);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                GpgError::NotFound
            } else {
                GpgError::Failed(format!("could not run {}: {e}", self.exec))
            }
        })?;
        let mut stdin_pipe = child.stdin.take();
        let out = std::thread::scope(|s| {
            s.spawn(move || {
                if let Some(pipe) = stdin_pipe.as_mut() {
                    // Best effort, deliberately unchecked: gpg may exit early (e.g. unknown key)
                    // and close its stdin, which is not our error; its exit status and stderr
                    // report what went wrong.
                    let _ = pipe.write_all(stdin);
                }
                // Close the pipe so gpg sees the end of its input.
                drop(stdin_pipe);
            });
            child.wait_with_output()
        })
        .map_err(|e| GpgError::Failed(format!("could not run {}: {e}", self.exec)))?;
        Ok(GpgOutput {
            success: out.status.success(),
            stdout: Wiped::new(out.stdout),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Encrypt to `fp` as sops does; returns the armored message without a trailing newline.
    pub(super) fn encrypt(&self, fp: &str, secret: &[u8]) -> Result<String, GpgError> {
        let short = shorten_fingerprint(fp);
        let out = self.run(
            &[
                "--no-default-recipient",
                "--yes",
                "--encrypt",
                "-a",
                "-r",
                fp,
                "--trusted-key",
                short,
                "--no-encrypt-to",
            ],
            secret,
        )?;
        if !out.success {
            return Err(GpgError::Failed(format!(
                "failed to encrypt sops data key with pgp: {}",
                out.stderr
            )));
        }
        let text = std::str::from_utf8(&out.stdout)
            .map_err(|_| GpgError::Failed("gpg printed a non-UTF-8 message".into()))?;
        let text = text.trim();
        if !text.starts_with("-----BEGIN PGP MESSAGE-----") {
            return Err(GpgError::Failed(
                "gpg did not print an armored OpenPGP message".into(),
            ));
        }
        Ok(text.to_string())
    }

    /// Decrypt (`gpg -d`, attached to gpg-agent and pinentry as sops is).
    pub(super) fn decrypt(&self, enc: &str) -> Result<Wiped<Vec<u8>>, GpgError> {
        let out = self.run(&["-d"], enc.as_bytes())?;
        if !out.success {
            return Err(GpgError::Failed(format!(
                "failed to decrypt sops data key with pgp: {}",
                out.stderr
            )));
        }
        if out.stdout.is_empty() {
            return Err(GpgError::Failed(
                "failed to decrypt sops data key with pgp: zero bytes returned".into(),
            ));
        }
        Ok(out.stdout)
    }

    /// The public key `fp` from gpg's keyring (`gpg --export`), if gpg has it.
    pub(super) fn export(&self, fp: &str) -> Result<Option<Cert>, GpgError> {
        let out = self.run(&["--batch", "--export", fp], b"")?;
        if !out.success || out.stdout.is_empty() {
            return Ok(None);
        }
        let wanted = FingerprintQuery::parse(fp).ok();
        let certs = CertParser::from_bytes(&out.stdout[..])
            .map_err(|e| GpgError::Failed(format!("could not read gpg's export of {fp}: {e}")))?;
        for cert in certs.flatten() {
            if wanted.as_ref().is_none_or(|q| q.matches(&cert).is_some()) {
                return Ok(Some(cert));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use sequoia_openpgp::cert::CipherSuite;

    use super::super::test_support::{check_armor, generate, native, spec, write_keys, SECRET};
    use super::super::{PgpSettings, PgpSource};
    use super::*;
    use crate::keys::KeySource;

    /// A throwaway GnuPG home; stops its gpg-agent when dropped.
    struct GpgHome {
        dir: tempfile::TempDir,
    }

    impl GpgHome {
        fn new() -> Option<GpgHome> {
            let ok = Command::new("gpg")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("gpg not on PATH: skipping");
                return None;
            }
            let dir = tempfile::Builder::new()
                .prefix("sepal-gpg")
                .tempdir()
                .unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                    .unwrap();
            }
            Some(GpgHome { dir })
        }

        fn gpg(&self, args: &[&str]) -> Vec<u8> {
            let out = Command::new("gpg")
                .args(["--batch", "--passphrase", ""])
                .args(args)
                .env("GNUPGHOME", self.dir.path())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }

        /// The fingerprint of the primary key of the user ID `uid`.
        fn fingerprint_of(&self, uid: &str) -> String {
            let listing =
                String::from_utf8(self.gpg(&["--with-colons", "--list-keys", uid])).unwrap();
            listing
                .lines()
                .find(|l| l.starts_with("fpr:"))
                .and_then(|l| l.split(':').nth(9))
                .unwrap()
                .to_string()
        }

        /// Generate a key; returns its fingerprint.
        fn generate(&self, uid: &str, algo: &str) -> String {
            if algo == "ed25519" {
                self.gpg(&["--quick-gen-key", uid, "ed25519", "cert", "never"]);
            } else {
                self.gpg(&["--quick-gen-key", uid, algo, "default", "never"]);
            }
            let fp = self.fingerprint_of(uid);
            let sub_algo = if algo == "ed25519" { "cv25519" } else { algo };
            self.gpg(&["--quick-add-key", &fp, sub_algo, "encr", "never"]);
            fp
        }

        fn source(&self) -> PgpSource {
            PgpSource::new(PgpSettings {
                gpg_exec: "gpg".into(),
                gnupg_home: Some(self.dir.path().to_path_buf()),
                key_files: Vec::new(),
            })
        }
    }

    impl Drop for GpgHome {
        fn drop(&mut self) {
            // Best effort, deliberately unchecked: a test must not fail because the agent was
            // already gone or gpgconf is missing; the directory is removed either way.
            let _ = Command::new("gpgconf")
                .args(["--kill", "gpg-agent"])
                .env("GNUPGHOME", self.dir.path())
                .status();
        }
    }

    #[test]
    fn gpg_interop() {
        let Some(home) = GpgHome::new() else { return };
        let files = tempfile::tempdir().unwrap();
        for (uid, algo) in [
            ("RSA <r@example.com>", "rsa3072"),
            ("Ed <e@example.com>", "ed25519"),
        ] {
            let fp = home.generate(uid, algo);
            let public = files.path().join(format!("{fp}.asc"));
            std::fs::write(&public, home.gpg(&["--armor", "--export", &fp])).unwrap();
            let secret = files.path().join(format!("{fp}.sec"));
            std::fs::write(&secret, home.gpg(&["--export-secret-keys", &fp])).unwrap();

            // gpg encrypts, native decrypts.
            let given = fp.to_lowercase();
            let stored = home.source().wrap(&spec(&given), SECRET).unwrap();
            check_armor(&stored, &given);
            assert_eq!(&native(&[&secret]).unwrap(&stored).unwrap()[..], SECRET);
            // gpg → gpg.
            assert_eq!(&home.source().unwrap(&stored).unwrap()[..], SECRET);

            // native encrypts, gpg decrypts.
            let stored = native(&[&public]).wrap(&spec(&fp), SECRET).unwrap();
            check_armor(&stored, &fp);
            assert_eq!(&home.source().unwrap(&stored).unwrap()[..], SECRET);

            // Native decryption comes first when a key file holds the secret key.
            let both = PgpSource::new(PgpSettings {
                key_files: vec![secret.clone()],
                ..home.source().settings.clone()
            });
            assert_eq!(&both.unwrap(&stored).unwrap()[..], SECRET);
        }

        // A signing-only key.
        home.gpg(&[
            "--quick-gen-key",
            "Sign <s@example.com>",
            "ed25519",
            "sign",
            "never",
        ]);
        let fp = home.fingerprint_of("Sign <s@example.com>");
        let err = home
            .source()
            .wrap(&spec(&fp), SECRET)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&fp) && err.contains("no encryption-capable") && err.contains("Unusable"),
            "{err}"
        );

        // gpg does not know the key: its message is reported.
        let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
        let err = home
            .source()
            .wrap(&spec(unknown), SECRET)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(unknown) && err.contains("GnuPG binary error"),
            "{err}"
        );
        // A message for a key gpg lacks.
        let other = generate(CipherSuite::Cv25519);
        let (p, _) = write_keys(files.path(), &other, true);
        let stored = native(&[&p])
            .wrap(&spec(&other.fingerprint().to_hex()), SECRET)
            .unwrap();
        let err = home.source().unwrap(&stored).unwrap_err().to_string();
        assert!(
            err.contains("failed to decrypt sops data key with pgp"),
            "{err}"
        );
    }
}
