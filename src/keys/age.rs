//! age master keys: X25519, post-quantum (`mlkem768x25519`, [`pq`]) and SSH recipients;
//! identities from the places sops looks ([`identities`] reads key text).

pub mod identities;
pub mod pq;

use std::cell::OnceCell;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};

use self::identities::SkippedLines;
use super::{KeyError, KeySource};
use crate::metadata::{KeyKind, MasterKey, StoredKey};
use crate::wipe::Wiped;

/// Where age identities come from (the environment, normally).
#[derive(Clone, Default)]
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

impl std::fmt::Debug for AgeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `key` holds identities: never printed.
        f.debug_struct("AgeSettings")
            .field("key", &self.key.as_ref().map(|_| ".."))
            .field("key_file", &self.key_file)
            .field("key_cmd", &self.key_cmd)
            .field("ssh_key_file", &self.ssh_key_file)
            .field("ssh_key_cmd", &self.ssh_key_cmd)
            .field("config_dir", &self.config_dir)
            .field("home", &self.home)
            .finish()
    }
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

/// The identities found, and the key-text lines skipped on the way.
struct Loaded {
    identities: Vec<Box<dyn age::Identity>>,
    skipped: Vec<SkippedLines>,
}

impl Loaded {
    /// What to add to a failure: the skipped lines, which might have held the right identity.
    fn skipped_note(&self) -> String {
        skipped_note(&self.skipped)
    }
}

fn skipped_note(skipped: &[SkippedLines]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let list: Vec<String> = skipped.iter().map(|s| s.to_string()).collect();
    format!(
        " Skipped, as holding no age identity sepal can use: {}.",
        list.join("; ")
    )
}

/// The age key source.
pub struct AgeSource {
    settings: AgeSettings,
    identities: OnceCell<Result<Loaded, KeyError>>,
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

    fn identities(&self) -> Result<&Loaded, KeyError> {
        self.identities
            .get_or_init(|| load_identities(&self.settings))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Parse a recipient as sops accepts it: `age1pq1...` (post-quantum), `age1...` (X25519) or an
/// SSH public key line.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>, KeyError> {
    let s = s.trim();
    if s.starts_with("age1pq1") || s.starts_with("AGE1PQ1") {
        return pq::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| {
                KeyError::age(format!(
                    "failed to parse post-quantum age recipient {:?}: {e}",
                    short(s)
                ))
            });
    }
    if s.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|_| KeyError::age(format!("{s:?} is not a valid SSH public key for age")));
    }
    if s.starts_with("age1") {
        return age::x25519::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| KeyError::age(format!("failed to parse age recipient {s:?}: {e}")));
    }
    Err(KeyError::age(format!(
        "{s:?} is not an age recipient (expected age1... or an ssh-ed25519/ssh-rsa public key)"
    )))
}

/// A recipient for messages: post-quantum ones (about 1960 characters) shortened.
fn short(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= 80 {
        return s.into();
    }
    let end = (0..=24).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &s[..end]).into()
}

fn load_identities(settings: &AgeSettings) -> Result<Loaded, KeyError> {
    let mut out: Vec<Box<dyn age::Identity>> = Vec::new();
    let mut skipped: Vec<SkippedLines> = Vec::new();
    let mut errors = Vec::new();
    let mut add_text = |text: &[u8], origin: String, out: &mut Vec<Box<dyn age::Identity>>| {
        let parsed = identities::parse(text);
        out.extend(parsed.identities);
        if !parsed.skipped.is_empty() {
            skipped.push(SkippedLines {
                origin,
                lines: parsed.skipped,
            });
        }
    };
    if let Some(k) = &settings.key {
        add_text(k.as_bytes(), "SOPS_AGE_KEY".into(), &mut out);
    }
    if let Some(path) = &settings.key_file {
        match std::fs::read(path) {
            Ok(t) => add_text(&Wiped::new(t), path.display().to_string(), &mut out),
            Err(e) => errors.push(format!(
                "failed to open file {} (SOPS_AGE_KEY_FILE): {e}",
                path.display()
            )),
        }
    }
    if let Some(cmd) = &settings.key_cmd {
        match run_key_cmd(cmd) {
            Ok(t) => add_text(&t, "the output of SOPS_AGE_KEY_CMD".into(), &mut out),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if let Some(path) = settings.default_key_file() {
        if let Ok(t) = std::fs::read(&path) {
            add_text(&Wiped::new(t), path.display().to_string(), &mut out);
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
                let bytes = Wiped::new(bytes);
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
        if !skipped.is_empty() {
            msg.push('.');
            msg.push_str(&skipped_note(&skipped));
        }
        return Err(KeyError::age(msg));
    }
    for s in &skipped {
        s.warn_once();
    }
    Ok(Loaded {
        identities: out,
        skipped,
    })
}

fn run_key_cmd(cmd: &str) -> Result<Wiped<Vec<u8>>, KeyError> {
    let words =
        shell_words::split(cmd).map_err(|e| KeyError::age(format!("SOPS_AGE_KEY_CMD: {e}")))?;
    let (prog, args) = words
        .split_first()
        .ok_or_else(|| KeyError::age("SOPS_AGE_KEY_CMD is empty"))?;
    let out = std::process::Command::new(prog)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| KeyError::age(format!("failed to run SOPS_AGE_KEY_CMD {prog:?}: {e}")))?;
    let stdout = Wiped::new(out.stdout);
    if !out.status.success() {
        return Err(KeyError::age(format!(
            "SOPS_AGE_KEY_CMD {prog:?} failed: {}",
            out.status
        )));
    }
    Ok(stdout)
}

/// Encrypt `secret` to one recipient as an armored age file, as sops stores it.
pub fn encrypt_armored(recipient: &str, secret: &[u8]) -> Result<String, KeyError> {
    let r = parse_recipient(recipient)?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&*r as &dyn age::Recipient))
        .map_err(|e| KeyError::age(format!("failed to encrypt for {recipient}: {e}")))?;
    let mut out = Vec::new();
    let fail = |e: std::io::Error| KeyError::age(format!("failed to encrypt for {recipient}: {e}"));
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(fail)?;
    let mut w = enc.wrap_output(armor).map_err(fail)?;
    w.write_all(secret).map_err(fail)?;
    w.finish().and_then(|a| a.finish()).map_err(fail)?;
    let mut s =
        String::from_utf8(out).map_err(|_| KeyError::age("age produced non-UTF-8 armor"))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// The recipient an entry names (empty for an entry of another kind).
fn recipient_of(key: &StoredKey) -> String {
    match &key.key {
        MasterKey::Age { recipient } => recipient.clone(),
        _ => String::new(),
    }
}

impl KeySource for AgeSource {
    fn kind(&self) -> KeyKind {
        KeyKind::Age
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        Ok(spec.wrapped(encrypt_armored(&recipient_of(spec), secret)?))
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        let loaded = self.identities()?;
        let reader = ArmoredReader::new(stored.enc().as_bytes());
        // The buffered reader parses the header once per line; `new` parses it again after
        // every byte it reads (a sixth of a one-value decryption's instructions).
        let dec = age::Decryptor::new_buffered(reader)
            .map_err(|e| KeyError::age(format!("failed to read the age-wrapped data key: {e}")))?;
        let mut r = dec
            .decrypt(loaded.identities.iter().map(|i| &**i as &dyn age::Identity))
            .map_err(|e| {
                KeyError::age(format!(
                    "failed to decrypt the data key with the age identities available: {e}. \
                     Did you set SOPS_AGE_KEY_FILE to the key file of {}?{}",
                    short(&recipient_of(stored)),
                    loaded.skipped_note()
                ))
            })?;
        let mut out = Wiped::new(Vec::new());
        r.read_to_end(&mut out).map_err(|e| {
            KeyError::age(format!("failed to decrypt the age-wrapped data key: {e}"))
        })?;
        Ok(out)
    }
}

/// A new post-quantum identity: (secret key line, recipient).
pub fn generate_pq() -> (Wiped<String>, String) {
    let id = pq::Identity::generate();
    (id.to_secret_string(), id.to_public().to_string())
}

/// A new X25519 identity: (secret key line, recipient).
pub fn generate() -> (Wiped<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    (
        Wiped::new(id.to_string().expose_secret().to_string()),
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
        let spec = StoredKey::new(MasterKey::Age {
            recipient: pk.clone(),
        });
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
            .to_string()
            .contains("failed to load age identities"));
    }

    #[test]
    fn bad_recipient() {
        assert!(parse_recipient("nope").is_err());
        assert!(parse_recipient("age1nope").is_err());
        let (_, pk) = generate_pq();
        assert!(parse_recipient(&pk).is_ok());
        assert!(parse_recipient(&format!(" {pk}\n")).is_ok());
        let broken = format!("{}q", &pk[..pk.len() - 1]);
        let broken = if broken == pk {
            format!("{}p", &pk[..pk.len() - 1])
        } else {
            broken
        };
        let e = parse_recipient(&broken)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("post-quantum") && e.len() < 200, "{e}");
    }

    fn source(key: &str) -> AgeSource {
        AgeSource::new(AgeSettings {
            key: Some(key.to_string()),
            ..AgeSettings::default()
        })
    }

    fn spec(recipient: &str) -> StoredKey {
        StoredKey::new(MasterKey::Age {
            recipient: recipient.into(),
        })
    }

    #[test]
    fn mixed_x25519_and_pq_recipients() {
        let (xsk, xpk) = generate();
        let (qsk, qpk) = generate_pq();
        let both = source(&format!("{}\n{}\n", xsk.as_str(), qsk.as_str()));
        let secret = b"0123456789abcdef0123456789abcdef";
        // A sops file wraps its data key once per recipient: X25519 and PQ side by side.
        let for_x = both.wrap(&spec(&xpk), secret).unwrap();
        let for_q = both.wrap(&spec(&qpk), secret).unwrap();
        assert!(for_q
            .enc()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert_eq!(&*both.unwrap(&for_x).unwrap(), secret);
        assert_eq!(&*both.unwrap(&for_q).unwrap(), secret);
        // Each identity opens only its own entry.
        let only_q = source(qsk.as_str());
        assert_eq!(&*only_q.unwrap(&for_q).unwrap(), secret);
        assert!(only_q.unwrap(&for_x).is_err());
        let only_x = source(xsk.as_str());
        assert!(only_x.unwrap(&for_q).is_err());
        // SOPS_AGE_KEY may separate identities by spaces.
        let spaced = source(&format!("{} {}", qsk.as_str(), xsk.as_str()));
        assert_eq!(&*spaced.unwrap(&for_q).unwrap(), secret);
    }

    #[test]
    fn unusable_lines_are_skipped_and_named_on_failure() {
        let (xsk, xpk) = generate();
        let (_, other) = generate();
        let text = format!(
            "# a comment\nAGE-PLUGIN-YUBIKEY-1QQQQQQ\n{}\nnot a key\n",
            xsk.as_str()
        );
        let src = source(&text);
        let stored = src.wrap(&spec(&xpk), b"k").unwrap();
        assert_eq!(&*src.unwrap(&stored).unwrap(), b"k");
        let foreign = source(&generate().0).wrap(&spec(&other), b"k").unwrap();
        let e = src.unwrap(&foreign).unwrap_err().to_string();
        assert!(
            e.contains("SOPS_AGE_KEY: line 2 (an age plugin identity")
                && e.contains("line 4 (not an age identity)"),
            "{e}"
        );
        assert!(!e.contains("YUBIKEY") && !e.contains("not a key"), "{e}");
        // Nothing usable at all: the load error names the lines too.
        let none = source("AGE-SECRET-KEY-1QQQQ\n");
        let e = none.unwrap(&stored).unwrap_err().to_string();
        assert!(
            e.contains("failed to load age identities") && e.contains("line 1 (a malformed"),
            "{e}"
        );
    }
}
