//! OpenPGP master keys.
//!
//! The data key (or a Shamir share of it) is encrypted to one OpenPGP key, named by its
//! fingerprint, and stored as an ASCII-armored message without a trailing newline, as sops
//! stores it. Two back ends do the work:
//!
//! * the GnuPG binary (`$SOPS_GPG_EXEC`, default `gpg`, with `$GNUPGHOME` honoured), run the way
//!   sops runs it, so keys kept in the user's keyring, in gpg-agent or on a smartcard work;
//! * a native implementation (sequoia-openpgp), for machines without gpg and for keys kept in
//!   files named by `SEPAL_PGP_KEY_FILE`.
//!
//! # `SEPAL_PGP_KEY_FILE`
//!
//! One or more paths to OpenPGP key files, separated by `:` (`;` on Windows). Each file may be
//! ASCII-armored or binary and may hold several keys, public (certificates) or secret
//! (transferable secret keys, e.g. from `gpg --export-secret-keys`). Secret keys must not be
//! passphrase-protected to be used natively; protected keys are left to gpg.
//!
//! Order of the back ends:
//! * encrypt: gpg when it can be run (as sops does); if gpg fails or is missing, the native back
//!   end with the keys from `SEPAL_PGP_KEY_FILE` and, when gpg is installed, `gpg --export <fp>`;
//! * decrypt: natively when `SEPAL_PGP_KEY_FILE` holds a secret key the message is encrypted to,
//!   else gpg.
//!
//! Keys are never fetched from key servers.

use std::cell::OnceCell;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::SessionKey;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient};
use openpgp::types::{RevocationStatus, SymmetricAlgorithm};
use openpgp::{Cert, KeyHandle};
use zeroize::Zeroizing;

use super::{KeyError, KeySource};
use crate::metadata::{KeyKind, StoredKey};

/// The environment variable naming key files for the native back end.
pub const KEY_FILE_ENV: &str = "SEPAL_PGP_KEY_FILE";

/// Where OpenPGP keys come from (the environment, normally).
#[derive(Clone, Debug)]
pub struct PgpSettings {
    /// The GnuPG binary: `$SOPS_GPG_EXEC` or `gpg`.
    pub gpg_exec: String,
    /// `$GNUPGHOME`, passed to every gpg run; `None` lets gpg use its default.
    pub gnupg_home: Option<PathBuf>,
    /// Key files from `SEPAL_PGP_KEY_FILE`.
    pub key_files: Vec<PathBuf>,
}

impl Default for PgpSettings {
    fn default() -> Self {
        PgpSettings {
            gpg_exec: "gpg".into(),
            gnupg_home: None,
            key_files: Vec::new(),
        }
    }
}

impl PgpSettings {
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
        PgpSettings {
            gpg_exec: var("SOPS_GPG_EXEC")
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_else(|| "gpg".into()),
            gnupg_home: var("GNUPGHOME").map(PathBuf::from),
            key_files: var(KEY_FILE_ENV)
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// A certificate read from a key file, with the file it came from.
struct FileCert {
    cert: Cert,
    origin: String,
}

/// What the key files held: their certificates, and why some could not be read.
#[derive(Default)]
struct KeyFiles {
    certs: Vec<FileCert>,
    errors: Vec<String>,
}

/// The OpenPGP key source.
pub struct PgpSource {
    settings: PgpSettings,
    key_files: OnceCell<KeyFiles>,
}

impl PgpSource {
    pub fn new(settings: PgpSettings) -> Self {
        PgpSource {
            settings,
            key_files: OnceCell::new(),
        }
    }

    pub fn from_env() -> Self {
        PgpSource::new(PgpSettings::from_env())
    }

    /// The certificates of `SEPAL_PGP_KEY_FILE` (none when it is not set). A file that cannot be
    /// read does not hide the others; its error is reported when no key file served.
    fn key_files(&self) -> &KeyFiles {
        self.key_files
            .get_or_init(|| load_key_files(&self.settings.key_files))
    }

    /// Run gpg with `args`, feeding `stdin`.
    fn gpg(&self, args: &[&str], stdin: &[u8]) -> Result<GpgOutput, GpgError> {
        let mut cmd = Command::new(&self.settings.gpg_exec);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(home) = &self.settings.gnupg_home {
            cmd.env("GNUPGHOME", home);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                GpgError::NotFound
            } else {
                GpgError::Failed(format!("could not run {}: {e}", self.settings.gpg_exec))
            }
        })?;
        let mut input = child.stdin.take();
        let out = std::thread::scope(|s| {
            s.spawn(move || {
                if let Some(i) = input.as_mut() {
                    // gpg may exit early (e.g. unknown key) and close its stdin: not our error.
                    let _ = i.write_all(stdin);
                }
                drop(input);
            });
            child.wait_with_output()
        })
        .map_err(|e| GpgError::Failed(format!("could not run {}: {e}", self.settings.gpg_exec)))?;
        Ok(GpgOutput {
            success: out.status.success(),
            stdout: Zeroizing::new(out.stdout),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Encrypt with the gpg binary, as sops does.
    fn gpg_encrypt(&self, fp: &str, secret: &[u8]) -> Result<String, GpgError> {
        let short = shorten_fingerprint(fp);
        let out = self.gpg(
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

    /// Decrypt with the gpg binary (`gpg -d`, attached to gpg-agent and pinentry as sops is).
    fn gpg_decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, GpgError> {
        let out = self.gpg(&["-d"], enc.as_bytes())?;
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
    fn gpg_export(&self, fp: &str) -> Result<Option<Cert>, GpgError> {
        let out = self.gpg(&["--batch", "--export", fp], b"")?;
        if !out.success || out.stdout.is_empty() {
            return Ok(None);
        }
        let want = FpQuery::parse(fp).ok();
        let certs = CertParser::from_bytes(&out.stdout[..])
            .map_err(|e| GpgError::Failed(format!("could not read gpg's export of {fp}: {e}")))?;
        for cert in certs.flatten() {
            if want.as_ref().is_none_or(|q| q.matches(&cert).is_some()) {
                return Ok(Some(cert));
            }
        }
        Ok(None)
    }

    /// Encrypt natively to `fp`, finding its certificate in the key files, then (when
    /// `gpg_available`) in gpg's keyring.
    fn native_encrypt(
        &self,
        fp: &str,
        secret: &[u8],
        gpg_available: bool,
    ) -> Result<String, KeyError> {
        let query = FpQuery::parse(fp)?;
        let files = self.key_files();
        let mut found: Option<Cert> = None;
        if let Some(fc) = files
            .certs
            .iter()
            .find(|c| query.matches(&c.cert).is_some())
        {
            found = Some(fc.cert.clone());
        }
        if found.is_none() && gpg_available {
            found = self.gpg_export(fp).ok().flatten();
        }
        let cert = found.ok_or_else(|| {
            let mut places = Vec::new();
            if gpg_available {
                places.push("the GnuPG keyring".to_string());
            }
            if !self.settings.key_files.is_empty() {
                places.push(format!("the key files of {KEY_FILE_ENV}"));
            }
            let mut msg = format!(
                "PGP key with fingerprint {fp} not found in {}",
                if places.is_empty() {
                    "any keyring".to_string()
                } else {
                    places.join(" or ")
                }
            );
            for e in &files.errors {
                msg.push_str("; ");
                msg.push_str(e);
            }
            KeyError(msg)
        })?;
        encrypt_to_cert(&cert, &query, fp, secret)
    }

    /// Decrypt natively with the secret keys of the key files. `Ok(None)`: no key file holds a
    /// usable secret key the message is encrypted to.
    fn native_decrypt(
        &self,
        enc: &str,
        notes: &mut Vec<String>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        let files = self.key_files();
        let mut keys = Vec::new();
        let mut protected = Vec::new();
        for fc in &files.certs {
            for ka in fc.cert.keys().secret() {
                let key = ka.key().clone().role_into_unspecified();
                if key.has_unencrypted_secret() {
                    keys.push(key);
                } else {
                    protected.push((key.fingerprint(), fc.origin.clone()));
                }
            }
        }
        if keys.is_empty() && protected.is_empty() {
            notes.extend(files.errors.iter().cloned());
            return Ok(None);
        }
        let state = std::cell::RefCell::new(HelperState::default());
        let helper = Helper {
            keys: &keys,
            protected: &protected,
            state: &state,
        };
        let policy = StandardPolicy::new();
        let result = DecryptorBuilder::from_bytes(enc.as_bytes())
            .and_then(|b| b.with_policy(&policy, None, helper))
            .and_then(|mut d| {
                let mut out = Zeroizing::new(Vec::new());
                d.read_to_end(&mut out)?;
                Ok(out)
            });
        let st = state.into_inner();
        if let Some((fpr, origin)) = st.protected_hit {
            notes.push(format!(
                "the secret key {fpr} in {origin} is passphrase-protected; \
                 sepal only uses unprotected key files natively"
            ));
        }
        if !st.matched {
            notes.extend(files.errors.iter().cloned());
            return Ok(None);
        }
        match result {
            Ok(out) if out.is_empty() => {
                Err(KeyError("the PGP message decrypted to zero bytes".into()))
            }
            Ok(out) => Ok(Some(out)),
            Err(e) => Err(KeyError(format!(
                "failed to decrypt the data key with the key files of {KEY_FILE_ENV}: {e}"
            ))),
        }
    }
}

struct GpgOutput {
    success: bool,
    stdout: Zeroizing<Vec<u8>>,
    stderr: String,
}

enum GpgError {
    /// The binary does not exist.
    NotFound,
    Failed(String),
}

/// The last 16 characters of a fingerprint (its long key ID), ignoring a trailing `!`, as sops
/// passes it to `--trusted-key`.
fn shorten_fingerprint(fp: &str) -> &str {
    let mut offset = fp.len() as isize - 16;
    if fp.ends_with('!') {
        offset -= 1;
    }
    if offset > 0 {
        fp.get(offset as usize..).unwrap_or(fp)
    } else {
        fp
    }
}

/// A fingerprint (or long key ID) as the user gave it, normalized for matching.
struct FpQuery {
    /// Upper-case hex without spaces, `0x` or `!`.
    hex: String,
}

impl FpQuery {
    fn parse(fp: &str) -> Result<FpQuery, KeyError> {
        let mut s: String = fp.chars().filter(|c| !c.is_whitespace()).collect();
        if s.ends_with('!') {
            s.pop();
        }
        if s.starts_with("0x") || s.starts_with("0X") {
            s.drain(..2);
        }
        let s = s.to_ascii_uppercase();
        if !matches!(s.len(), 16 | 40 | 64) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError(format!(
                "{fp:?} is not an OpenPGP fingerprint (expected 40 or 64 hex digits)"
            )));
        }
        Ok(FpQuery { hex: s })
    }

    /// Does `cert` have this fingerprint? `Some(None)`: its primary key; `Some(Some(h))`: the
    /// subkey `h`.
    fn matches(&self, cert: &Cert) -> Option<Option<KeyHandle>> {
        let hit = |fpr: &openpgp::Fingerprint| {
            let hex = fpr.to_hex();
            hex == self.hex || (self.hex.len() == 16 && hex.ends_with(&self.hex))
        };
        if hit(&cert.fingerprint()) {
            return Some(None);
        }
        cert.keys()
            .subkeys()
            .find(|k| hit(&k.key().fingerprint()))
            .map(|k| Some(k.key().key_handle()))
    }
}

/// Encrypt `secret` to the encryption key of `cert` that `query` designates: the subkey it
/// names, or the newest valid encryption-capable key of the certificate (as gpg picks it).
fn encrypt_to_cert(
    cert: &Cert,
    query: &FpQuery,
    fp: &str,
    secret: &[u8],
) -> Result<String, KeyError> {
    let policy = StandardPolicy::new();
    let vc = cert
        .with_policy(&policy, None)
        .map_err(|e| KeyError(format!("PGP key {fp} is not usable: {e}")))?;
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return Err(KeyError(format!("PGP key {fp} has been revoked")));
    }
    if vc.alive().is_err() {
        return Err(KeyError(format!("PGP key {fp} has expired")));
    }
    let wanted_sub = query.matches(cert).flatten();
    let capable: Vec<_> = vc
        .keys()
        .for_transport_encryption()
        .for_storage_encryption()
        .filter(|ka| {
            wanted_sub
                .as_ref()
                .is_none_or(|h| h.aliases(ka.key().key_handle()))
        })
        .collect();
    if capable.is_empty() {
        return Err(KeyError(if wanted_sub.is_some() {
            format!("PGP subkey {fp} is not encryption-capable")
        } else {
            format!("PGP key {fp} has no encryption-capable (sub)key")
        }));
    }
    let usable: Vec<_> = capable
        .into_iter()
        .filter(|ka| {
            ka.alive().is_ok() && !matches!(ka.revocation_status(), RevocationStatus::Revoked(_))
        })
        .collect();
    if usable.is_empty() {
        return Err(KeyError(format!(
            "the encryption (sub)keys of PGP key {fp} have expired or been revoked"
        )));
    }
    let chosen = usable
        .into_iter()
        .filter(|ka| ka.key().pk_algo().is_supported())
        .max_by_key(|ka| ka.key().creation_time())
        .ok_or_else(|| {
            KeyError(format!(
                "PGP key {fp} uses an encryption algorithm sepal does not support"
            ))
        })?;
    let recipient: Recipient = chosen.into();
    let fail =
        |e: &dyn std::fmt::Display| KeyError(format!("failed to encrypt for PGP key {fp}: {e}"));
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message)
            .kind(openpgp::armor::Kind::Message)
            .build()
            .map_err(|e| fail(&e))?;
        let message = Encryptor::for_recipients(message, [recipient])
            .build()
            .map_err(|e| fail(&e))?;
        let mut w = LiteralWriter::new(message).build().map_err(|e| fail(&e))?;
        w.write_all(secret).map_err(|e| fail(&e))?;
        w.finalize().map_err(|e| fail(&e))?;
    }
    let text = String::from_utf8(sink)
        .map_err(|_| KeyError("the OpenPGP armor writer produced non-UTF-8 text".into()))?;
    Ok(text.trim().to_string())
}

/// Read every certificate of the key files.
fn load_key_files(paths: &[PathBuf]) -> KeyFiles {
    let mut out = KeyFiles::default();
    for path in paths {
        let origin = path.display().to_string();
        let fail = |e: &dyn std::fmt::Display| {
            format!("failed to read PGP key file {origin} ({KEY_FILE_ENV}): {e}")
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) => {
                out.errors.push(fail(&e));
                continue;
            }
        };
        let parser = match CertParser::from_bytes(&bytes[..]) {
            Ok(p) => p,
            Err(e) => {
                out.errors.push(fail(&e));
                continue;
            }
        };
        let before = out.certs.len();
        for cert in parser {
            match cert {
                Ok(cert) => out.certs.push(FileCert {
                    cert,
                    origin: origin.clone(),
                }),
                Err(e) => out.errors.push(fail(&e)),
            }
        }
        if out.certs.len() == before {
            out.errors.push(fail(&"the file holds no OpenPGP key"));
        }
    }
    out
}

#[derive(Default)]
struct HelperState {
    /// A secret key of the key files is a recipient of the message.
    matched: bool,
    /// A passphrase-protected secret key is a recipient of the message.
    protected_hit: Option<(openpgp::Fingerprint, String)>,
}

/// Feeds the key files' secret keys to sequoia's decryptor.
struct Helper<'a> {
    keys: &'a [Key<SecretParts, UnspecifiedRole>],
    protected: &'a [(openpgp::Fingerprint, String)],
    state: &'a std::cell::RefCell<HelperState>,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let mut state = self.state.borrow_mut();
        for pkesk in pkesks {
            let rcpt = pkesk.recipient();
            for key in self.keys {
                let named = rcpt.as_ref().is_some_and(|r| r.aliases(key.key_handle()));
                if !named && rcpt.is_some() {
                    continue;
                }
                let Ok(mut pair) = key.clone().into_keypair() else {
                    continue;
                };
                if named {
                    state.matched = true;
                }
                if let Some((algo, sk)) = pkesk.decrypt(&mut pair, sym_algo) {
                    if decrypt(algo, &sk) {
                        state.matched = true;
                        return Ok(None);
                    }
                }
            }
            if let Some(r) = &rcpt {
                if let Some((fpr, origin)) = self
                    .protected
                    .iter()
                    .find(|(f, _)| r.aliases(KeyHandle::from(f)))
                {
                    state
                        .protected_hit
                        .get_or_insert((fpr.clone(), origin.clone()));
                }
            }
        }
        Err(openpgp::Error::InvalidOperation(
            "no secret key in the key files can open this message".into(),
        )
        .into())
    }
}

impl KeySource for PgpSource {
    fn kind(&self) -> KeyKind {
        KeyKind::Pgp
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let fp = spec.field("fp");
        if fp.is_empty() {
            return Err(KeyError("PGP key without a fingerprint".into()));
        }
        let enc = match self.gpg_encrypt(fp, secret) {
            Ok(enc) => enc,
            Err(GpgError::NotFound) => {
                if self.settings.key_files.is_empty() {
                    return Err(KeyError(format!(
                        "could not encrypt data key with PGP key {fp}: the GnuPG binary {:?} \
                         was not found (set SOPS_GPG_EXEC) and {KEY_FILE_ENV} names no key file",
                        self.settings.gpg_exec
                    )));
                }
                self.native_encrypt(fp, secret, false).map_err(|e| {
                    KeyError(format!("could not encrypt data key with PGP key: {}", e.0))
                })?
            }
            Err(GpgError::Failed(gpg_err)) => match self.native_encrypt(fp, secret, true) {
                Ok(enc) => enc,
                Err(native) => {
                    return Err(KeyError(format!(
                    "could not encrypt data key with PGP key: {}; GnuPG binary error: {gpg_err}",
                    native.0
                )))
                }
            },
        };
        let mut out = spec.clone();
        out.fields.insert("enc".into(), enc);
        Ok(out)
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let fp = stored.field("fp");
        let enc = stored.enc();
        if enc.is_empty() {
            return Err(KeyError(format!("PGP key {fp} has no encrypted data key")));
        }
        let mut notes = Vec::new();
        match self.native_decrypt(enc, &mut notes) {
            Ok(Some(secret)) => return Ok(secret),
            Ok(None) => {}
            Err(e) => notes.push(e.0),
        }
        match self.gpg_decrypt(enc) {
            Ok(secret) => Ok(secret),
            Err(GpgError::NotFound) => {
                let mut msg = format!(
                    "could not decrypt data key with PGP key {fp}: the GnuPG binary {:?} was not \
                     found (set SOPS_GPG_EXEC)",
                    self.settings.gpg_exec
                );
                if self.settings.key_files.is_empty() {
                    msg.push_str(&format!(
                        " and {KEY_FILE_ENV} names no key file holding its secret key"
                    ));
                } else {
                    msg.push_str(&format!(
                        " and no key file of {KEY_FILE_ENV} holds its secret key"
                    ));
                }
                for n in notes {
                    msg.push_str("; ");
                    msg.push_str(&n);
                }
                Err(KeyError(msg))
            }
            Err(GpgError::Failed(gpg_err)) => {
                let mut msg = format!("could not decrypt data key with PGP key {fp}: ");
                for n in notes {
                    msg.push_str(&n);
                    msg.push_str("; ");
                }
                msg.push_str("GnuPG binary error: ");
                msg.push_str(&gpg_err);
                Err(KeyError(msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openpgp::cert::CipherSuite;
    use openpgp::serialize::SerializeInto;
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
    const NO_GPG: &str = "/nonexistent/sepal-test/gpg";

    fn generate(cs: CipherSuite) -> Cert {
        CertBuilder::general_purpose(Some("Test <t@example.com>"))
            .set_cipher_suite(cs)
            .generate()
            .unwrap()
            .0
    }

    /// Write the public and the secret key of `cert` to files in `dir`.
    fn write_keys(dir: &Path, cert: &Cert, armored: bool) -> (PathBuf, PathBuf) {
        let name = cert.fingerprint().to_hex();
        let public = dir.join(format!("{name}.pub"));
        let secret = dir.join(format!("{name}.sec"));
        if armored {
            std::fs::write(&public, cert.armored().to_vec().unwrap()).unwrap();
            std::fs::write(&secret, cert.as_tsk().armored().to_vec().unwrap()).unwrap();
        } else {
            std::fs::write(&public, cert.to_vec().unwrap()).unwrap();
            std::fs::write(&secret, cert.as_tsk().to_vec().unwrap()).unwrap();
        }
        (public, secret)
    }

    fn native(files: &[&Path]) -> PgpSource {
        PgpSource::new(PgpSettings {
            gpg_exec: NO_GPG.into(),
            gnupg_home: None,
            key_files: files.iter().map(|p| p.to_path_buf()).collect(),
        })
    }

    fn spec(fp: &str) -> StoredKey {
        let mut k = StoredKey::new(KeyKind::Pgp);
        k.fields.insert("fp".into(), fp.into());
        k.fields
            .insert("created_at".into(), "2024-01-01T00:00:00Z".into());
        k
    }

    fn check_armor(stored: &StoredKey, fp: &str) {
        let enc = stored.enc();
        assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n"), "{enc}");
        assert!(enc.ends_with("\n-----END PGP MESSAGE-----"), "{enc}");
        assert_eq!(stored.field("fp"), fp);
        assert_eq!(stored.field("created_at"), "2024-01-01T00:00:00Z");
    }

    #[test]
    fn native_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for (cs, armored) in [(CipherSuite::RSA3k, true), (CipherSuite::Cv25519, false)] {
            let cert = generate(cs);
            let (public, secret) = write_keys(dir.path(), &cert, armored);
            let fp = cert.fingerprint().to_hex();
            let policy = StandardPolicy::new();
            let sub = cert
                .keys()
                .subkeys()
                .with_policy(&policy, None)
                .for_storage_encryption()
                .next()
                .unwrap()
                .key()
                .fingerprint()
                .to_hex();
            // Primary fingerprint in any case, subkey fingerprint, exact-subkey syntax.
            for given in [
                fp.clone(),
                fp.to_lowercase(),
                sub.clone(),
                format!("{sub}!"),
            ] {
                for key_file in [&public, &secret] {
                    let stored = native(&[key_file]).wrap(&spec(&given), SECRET).unwrap();
                    check_armor(&stored, &given);
                    let other = generate(CipherSuite::Cv25519);
                    let (_, other_secret) = write_keys(dir.path(), &other, true);
                    let out = native(&[&other_secret, &secret]).unwrap(&stored).unwrap();
                    assert_eq!(&out[..], SECRET);
                }
            }
            // A Shamir share.
            let share = [7u8; 33];
            let stored = native(&[&public]).wrap(&spec(&fp), &share).unwrap();
            assert_eq!(&native(&[&secret]).unwrap(&stored).unwrap()[..], &share);
            // A public key cannot decrypt, and without gpg the error says so.
            let err = native(&[&public]).unwrap(&stored).unwrap_err().0;
            assert!(err.contains(&fp) && err.contains("not found"), "{err}");
        }
    }

    #[test]
    fn native_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert = generate(CipherSuite::Cv25519);
        let (public, _) = write_keys(dir.path(), &cert, true);
        let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
        let err = native(&[&public])
            .wrap(&spec(unknown), SECRET)
            .unwrap_err()
            .0;
        assert!(err.contains(unknown) && err.contains("not found"), "{err}");

        let err = native(&[]).wrap(&spec(unknown), SECRET).unwrap_err().0;
        assert!(
            err.contains("was not found") && err.contains(KEY_FILE_ENV),
            "{err}"
        );

        let err = native(&[&dir.path().join("missing")])
            .wrap(&spec(unknown), SECRET)
            .unwrap_err()
            .0;
        assert!(err.contains("failed to read PGP key file"), "{err}");

        let err = native(&[&public])
            .wrap(&spec("nothex"), SECRET)
            .unwrap_err()
            .0;
        assert!(err.contains("not an OpenPGP fingerprint"), "{err}");

        // Expired.
        let day = Duration::from_secs(86400);
        let expired = CertBuilder::general_purpose(Some("Old <o@example.com>"))
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(SystemTime::now() - 3 * day)
            .set_validity_period(day)
            .generate()
            .unwrap()
            .0;
        let (p, _) = write_keys(dir.path(), &expired, true);
        let fp = expired.fingerprint().to_hex();
        let err = native(&[&p]).wrap(&spec(&fp), SECRET).unwrap_err().0;
        assert!(err.contains(&fp) && err.contains("expired"), "{err}");

        // Revoked.
        let (cert, rev) = CertBuilder::general_purpose(Some("Rev <r@example.com>"))
            .set_cipher_suite(CipherSuite::Cv25519)
            .generate()
            .unwrap();
        let revoked = cert.insert_packets(rev).unwrap().0;
        let (p, _) = write_keys(dir.path(), &revoked, true);
        let fp = revoked.fingerprint().to_hex();
        let err = native(&[&p]).wrap(&spec(&fp), SECRET).unwrap_err().0;
        assert!(err.contains(&fp) && err.contains("revoked"), "{err}");

        // Signing only.
        let signer = CertBuilder::new()
            .add_userid("Sign <s@example.com>")
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_signing_subkey()
            .generate()
            .unwrap()
            .0;
        let (p, _) = write_keys(dir.path(), &signer, true);
        let fp = signer.fingerprint().to_hex();
        let err = native(&[&p]).wrap(&spec(&fp), SECRET).unwrap_err().0;
        assert!(
            err.contains(&fp) && err.contains("no encryption-capable"),
            "{err}"
        );
    }

    #[test]
    fn short_fingerprint() {
        let fp = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
        assert_eq!(shorten_fingerprint(fp), "3D16CEE4A27381B4");
        assert_eq!(shorten_fingerprint(&format!("{fp}!")), "3D16CEE4A27381B4!");
        assert_eq!(shorten_fingerprint("ABCD"), "ABCD");
    }

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

        /// Generate a key; returns its fingerprint.
        fn generate(&self, uid: &str, algo: &str) -> String {
            if algo == "ed25519" {
                self.gpg(&["--quick-gen-key", uid, "ed25519", "cert", "never"]);
            } else {
                self.gpg(&["--quick-gen-key", uid, algo, "default", "never"]);
            }
            let listing =
                String::from_utf8(self.gpg(&["--with-colons", "--list-keys", uid])).unwrap();
            let fp = listing
                .lines()
                .find(|l| l.starts_with("fpr:"))
                .and_then(|l| l.split(':').nth(9))
                .unwrap()
                .to_string();
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
        let listing =
            String::from_utf8(home.gpg(&["--with-colons", "--list-keys", "Sign <s@example.com>"]))
                .unwrap();
        let fp = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_string();
        let err = home.source().wrap(&spec(&fp), SECRET).unwrap_err().0;
        assert!(
            err.contains(&fp) && err.contains("no encryption-capable") && err.contains("Unusable"),
            "{err}"
        );

        // gpg does not know the key: its message is reported.
        let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
        let err = home.source().wrap(&spec(unknown), SECRET).unwrap_err().0;
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
        let err = home.source().unwrap(&stored).unwrap_err().0;
        assert!(
            err.contains("failed to decrypt sops data key with pgp"),
            "{err}"
        );
    }
}
