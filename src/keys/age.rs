//! age master keys: X25519 and SSH recipients; identities from the places sops looks.

use std::cell::OnceCell;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use super::{KeyError, KeySource};
use crate::metadata::{KeyKind, StoredKey};

/// Where age identities come from (the environment, normally).
#[derive(Clone, Debug, Default)]
pub struct AgeSettings {
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_cmd: Option<String>,
    pub ssh_key_file: Option<PathBuf>,
    pub ssh_key_cmd: Option<String>,
    /// `$XDG_CONFIG_HOME` or `~/.config`.
    pub config_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl AgeSettings {
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let config_dir = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        AgeSettings {
            key: var("SOPS_AGE_KEY"),
            key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            key_cmd: var("SOPS_AGE_KEY_CMD"),
            ssh_key_file: var("SOPS_AGE_SSH_PRIVATE_KEY_FILE").map(PathBuf::from),
            ssh_key_cmd: var("SOPS_AGE_SSH_PRIVATE_KEY_CMD"),
            config_dir,
            home,
        }
    }

    /// The default identity file: `<config dir>/sops/age/keys.txt`.
    pub fn default_key_file(&self) -> Option<PathBuf> {
        self.config_dir
            .as_ref()
            .map(|d| d.join("sops").join("age").join("keys.txt"))
    }
}

/// The age key source.
pub struct AgeSource {
    settings: AgeSettings,
    identities: OnceCell<Result<Vec<Box<dyn age::Identity>>, String>>,
}

impl AgeSource {
    pub fn new(settings: AgeSettings) -> Self {
        AgeSource {
            settings,
            identities: OnceCell::new(),
        }
    }

    pub fn from_env() -> Self {
        AgeSource::new(AgeSettings::from_env())
    }

    fn identities(&self) -> Result<&[Box<dyn age::Identity>], KeyError> {
        self.identities
            .get_or_init(|| load_identities(&self.settings))
            .as_ref()
            .map(|v| v.as_slice())
            .map_err(|e| KeyError(e.clone()))
    }
}

/// Parse a recipient as sops accepts it: `age1...` (X25519) or an SSH public key line.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>, KeyError> {
    let s = s.trim();
    if s.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|_| KeyError(format!("{s:?} is not a valid SSH public key for age")));
    }
    if s.starts_with("age1") {
        return age::x25519::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| KeyError(format!("failed to parse age recipient {s:?}: {e}")));
    }
    Err(KeyError(format!(
        "{s:?} is not an age recipient (expected age1... or an ssh-ed25519/ssh-rsa public key)"
    )))
}

fn load_identities(settings: &AgeSettings) -> Result<Vec<Box<dyn age::Identity>>, String> {
    let mut out: Vec<Box<dyn age::Identity>> = Vec::new();
    let mut errors = Vec::new();
    let add_text = |text: &str, origin: &str, out: &mut Vec<_>, errors: &mut Vec<String>| {
        match parse_identity_text(text) {
            Ok(ids) => out.extend(ids),
            Err(e) => errors.push(format!("{origin}: {e}")),
        }
    };
    if let Some(k) = &settings.key {
        add_text(k, "SOPS_AGE_KEY", &mut out, &mut errors);
    }
    if let Some(path) = &settings.key_file {
        match std::fs::read_to_string(path) {
            Ok(t) => add_text(&t, &path.display().to_string(), &mut out, &mut errors),
            Err(e) => errors.push(format!(
                "failed to open file {} (SOPS_AGE_KEY_FILE): {e}",
                path.display()
            )),
        }
    }
    if let Some(cmd) = &settings.key_cmd {
        match run_key_cmd(cmd) {
            Ok(t) => add_text(&t, "SOPS_AGE_KEY_CMD", &mut out, &mut errors),
            Err(e) => errors.push(e),
        }
    }
    if let Some(path) = settings.default_key_file() {
        if let Ok(t) = std::fs::read_to_string(&path) {
            add_text(&t, &path.display().to_string(), &mut out, &mut errors);
        }
    }
    let mut ssh_files = Vec::new();
    if let Some(p) = &settings.ssh_key_file {
        ssh_files.push((p.clone(), true));
    } else if let Some(h) = &settings.home {
        ssh_files.push((h.join(".ssh").join("id_ed25519"), false));
        ssh_files.push((h.join(".ssh").join("id_rsa"), false));
    }
    for (path, required) in ssh_files {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                match age::ssh::Identity::from_buffer(&bytes[..], Some(path.display().to_string()))
                {
                    Ok(id) => out.push(Box::new(id)),
                    Err(e) => errors.push(format!("{}: {e}", path.display())),
                }
            }
            Err(e) if required => errors.push(format!("{}: {e}", path.display())),
            Err(_) => {}
        }
    }
    if out.is_empty() {
        let mut msg = String::from("failed to load age identities");
        if errors.is_empty() {
            msg.push_str(
                ": none found (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_CMD, or create one with `sepal keygen`)",
            );
        } else {
            msg.push_str(": ");
            msg.push_str(&errors.join("; "));
        }
        return Err(msg);
    }
    Ok(out)
}

fn parse_identity_text(text: &str) -> Result<Vec<Box<dyn age::Identity>>, String> {
    // SOPS_AGE_KEY may separate identities by any white space.
    let normalized: Zeroizing<String> = Zeroizing::new(
        text.lines()
            .flat_map(|l| {
                if l.trim_start().starts_with('#') {
                    vec![l]
                } else {
                    l.split_whitespace().collect()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let file = age::IdentityFile::from_buffer(normalized.as_bytes())
        .map_err(|e| format!("failed to parse age identities: {e}"))?;
    file.into_identities()
        .map_err(|e| format!("failed to parse age identities: {e}"))
}

fn run_key_cmd(cmd: &str) -> Result<String, String> {
    let words = shell_words::split(cmd).map_err(|e| format!("SOPS_AGE_KEY_CMD: {e}"))?;
    let (prog, args) = words
        .split_first()
        .ok_or_else(|| "SOPS_AGE_KEY_CMD is empty".to_string())?;
    let out = std::process::Command::new(prog)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("failed to run SOPS_AGE_KEY_CMD {prog:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("SOPS_AGE_KEY_CMD {prog:?} failed: {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| "SOPS_AGE_KEY_CMD printed non-UTF-8 output".into())
}

/// Encrypt `secret` to one recipient as an armored age file, as sops stores it.
pub fn encrypt_armored(recipient: &str, secret: &[u8]) -> Result<String, KeyError> {
    let r = parse_recipient(recipient)?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&*r as &dyn age::Recipient))
        .map_err(|e| KeyError(format!("failed to encrypt for {recipient}: {e}")))?;
    let mut out = Vec::new();
    let fail = |e: std::io::Error| KeyError(format!("failed to encrypt for {recipient}: {e}"));
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(fail)?;
    let mut w = enc.wrap_output(armor).map_err(fail)?;
    w.write_all(secret).map_err(fail)?;
    w.finish().and_then(|a| a.finish()).map_err(fail)?;
    let mut s =
        String::from_utf8(out).map_err(|_| KeyError("age produced non-UTF-8 armor".into()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

impl KeySource for AgeSource {
    fn kind(&self) -> KeyKind {
        KeyKind::Age
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let recipient = spec.field("recipient");
        let mut out = spec.clone();
        out.fields
            .insert("enc".into(), encrypt_armored(recipient, secret)?);
        Ok(out)
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let ids = self.identities()?;
        let reader = ArmoredReader::new(stored.enc().as_bytes());
        let dec = age::Decryptor::new(reader)
            .map_err(|e| KeyError(format!("failed to read the age-wrapped data key: {e}")))?;
        let mut r = dec
            .decrypt(ids.iter().map(|i| &**i as &dyn age::Identity))
            .map_err(|e| {
                KeyError(format!(
                    "failed to decrypt the data key with the age identities available: {e}. \
                     Did you set SOPS_AGE_KEY_FILE to the key file of {}?",
                    stored.field("recipient")
                ))
            })?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out)
            .map_err(|e| KeyError(format!("failed to decrypt the age-wrapped data key: {e}")))?;
        Ok(out)
    }
}

/// A new X25519 identity: (secret key line, recipient).
pub fn generate() -> (Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    (
        Zeroizing::new(id.to_string().expose_secret().to_string()),
        public,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap() {
        let (sk, pk) = generate();
        let src = AgeSource::new(AgeSettings {
            key: Some(sk.to_string()),
            ..AgeSettings::default()
        });
        let mut spec = StoredKey::new(KeyKind::Age);
        spec.fields.insert("recipient".into(), pk.clone());
        let stored = src
            .wrap(&spec, b"0123456789abcdef0123456789abcdef")
            .unwrap();
        assert!(stored
            .enc()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(stored.enc().ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert_eq!(
            &*src.unwrap(&stored).unwrap(),
            b"0123456789abcdef0123456789abcdef"
        );
        let (other, _) = generate();
        let wrong = AgeSource::new(AgeSettings {
            key: Some(other.to_string()),
            ..AgeSettings::default()
        });
        assert!(wrong.unwrap(&stored).is_err());
        let none = AgeSource::new(AgeSettings::default());
        assert!(none
            .unwrap(&stored)
            .unwrap_err()
            .0
            .contains("failed to load age identities"));
    }

    #[test]
    fn bad_recipient() {
        assert!(parse_recipient("nope").is_err());
        assert!(parse_recipient("age1nope").is_err());
    }
}
