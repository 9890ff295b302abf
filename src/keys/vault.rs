//! HashiCorp Vault (or OpenBao) transit master keys, over Vault's plain HTTP(S) API as sops uses
//! it (`hcvault/keysource.go`): `POST <address>/v1/<engine>/encrypt/<key>` with
//! `{"plaintext": base64(data key)}` answers `data.ciphertext` (stored verbatim, `vault:v1:…`);
//! `POST …/decrypt/<key>` with `{"ciphertext": enc}` answers base64 `data.plaintext`.
//!
//! Token: `VAULT_TOKEN`, else `~/.vault-token`. TLS: `VAULT_CACERT` (PEM file), `VAULT_CAPATH`
//! (folder of PEM files), `VAULT_CLIENT_CERT` + `VAULT_CLIENT_KEY`, `VAULT_SKIP_VERIFY`;
//! `VAULT_NAMESPACE` is sent as `X-Vault-Namespace`; `SOPS_HC_VAULT_ALLOWLIST` (`all`, `none` or
//! comma-separated URL prefixes) limits the addresses used, as in sops. Proxies come from the usual
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;

use super::{KeyError, KeySource};
use crate::metadata::{KeyKind, MasterKey, StoredKey, VaultKey};
use crate::wipe::Wiped;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ATTEMPTS: u32 = 3;

/// How to reach Vault (the environment, normally).
#[derive(Clone, Default)]
pub struct VaultSettings {
    pub token: Option<Wiped<String>>,
    pub home: Option<PathBuf>,
    pub namespace: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Raw `VAULT_SKIP_VERIFY`.
    pub skip_verify: Option<String>,
    /// Raw `SOPS_HC_VAULT_ALLOWLIST` (unset or empty = `all`).
    pub allowlist: Option<String>,
}

impl std::fmt::Debug for VaultSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("home", &self.home)
            .field("namespace", &self.namespace)
            .field("ca_cert", &self.ca_cert)
            .field("ca_path", &self.ca_path)
            .field("skip_verify", &self.skip_verify)
            .field("allowlist", &self.allowlist)
            .finish_non_exhaustive()
    }
}

impl VaultSettings {
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        VaultSettings {
            token: var("VAULT_TOKEN").map(Wiped::new),
            home: var("HOME").map(PathBuf::from),
            namespace: var("VAULT_NAMESPACE"),
            ca_cert: var("VAULT_CACERT").map(PathBuf::from),
            ca_path: var("VAULT_CAPATH").map(PathBuf::from),
            client_cert: var("VAULT_CLIENT_CERT").map(PathBuf::from),
            client_key: var("VAULT_CLIENT_KEY").map(PathBuf::from),
            skip_verify: var("VAULT_SKIP_VERIFY"),
            allowlist: var("SOPS_HC_VAULT_ALLOWLIST"),
        }
    }

    /// The token: `VAULT_TOKEN`, else the trimmed `~/.vault-token` (`None` when neither exists).
    fn token(&self) -> Result<Option<Wiped<String>>, KeyError> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        let Some(home) = &self.home else {
            return Ok(None);
        };
        let path = home.join(".vault-token");
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                let t = Wiped::new(t);
                let trimmed = t.trim();
                Ok((!trimmed.is_empty()).then(|| Wiped::new(trimmed.to_string())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyError::vault(format!(
                "cannot get Vault token: cannot read {}: {e}",
                path.display()
            ))),
        }
    }
}

/// `SOPS_HC_VAULT_ALLOWLIST`: may sepal talk to this Vault address?
pub fn allowlist_allows(allowlist: Option<&str>, address: &str) -> Result<bool, KeyError> {
    let list = allowlist.filter(|s| !s.is_empty()).unwrap_or("all");
    match list {
        "all" => return Ok(true),
        "none" => return Ok(false),
        _ => {}
    }
    let mut prefixes = Vec::new();
    for (i, uri) in list.split(',').enumerate() {
        let uri = uri.trim_matches(' ');
        if uri.is_empty() {
            return Err(KeyError::vault(format!(
                "SOPS_HC_VAULT_ALLOWLIST's entry {} is empty",
                i + 1
            )));
        }
        prefixes.push(if uri.ends_with('/') {
            uri.to_string()
        } else {
            format!("{uri}/")
        });
    }
    let address = if address.ends_with('/') {
        address.to_string()
    } else {
        format!("{address}/")
    };
    Ok(prefixes.iter().any(|p| address.starts_with(p.as_str())))
}

/// Go's `strconv.ParseBool`, which the Vault client uses for `VAULT_SKIP_VERIFY`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The Vault transit key source.
pub struct VaultSource {
    settings: VaultSettings,
    agent: OnceCell<Result<ureq::Agent, KeyError>>,
}

impl VaultSource {
    pub fn new(settings: VaultSettings) -> Self {
        VaultSource {
            settings,
            agent: OnceCell::new(),
        }
    }

    pub fn from_env() -> Self {
        VaultSource::new(VaultSettings::from_env())
    }

    fn agent(&self) -> Result<&ureq::Agent, KeyError> {
        self.agent
            .get_or_init(|| make_agent(&self.settings))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// POST `body` to `<address>/v1/<engine>/<op>/<key>` and return the `data` object's
    /// `field`. Errors name the path, the address and what Vault answered.
    fn call(
        &self,
        key: &StoredKey,
        op: &str,
        body: &[u8],
        field: &str,
    ) -> Result<Wiped<String>, KeyError> {
        let vault = match &key.key {
            MasterKey::Vault(v) => v.clone(),
            _ => VaultKey::default(),
        };
        let address = vault.address.trim_end_matches('/');
        let engine = vault.engine_path.trim_matches('/');
        let name = vault.key_name.as_str();
        let path = format!("{engine}/{op}/{name}");
        let verb = if op == "encrypt" {
            "failed to encrypt sops data key to"
        } else {
            "failed to decrypt sops data key from"
        };
        let fail = |why: String| {
            KeyError::vault(format!(
                "{verb} Vault transit backend '{path}' at {address}: {why}"
            ))
        };
        if address.is_empty() || engine.is_empty() || name.is_empty() {
            return Err(fail(
                "the key entry lacks vault_address, engine_path or key_name".into(),
            ));
        }
        if !allowlist_allows(self.settings.allowlist.as_deref(), address)? {
            return Err(fail(format!(
                "Allowlist does not allow {address} (SOPS_HC_VAULT_ALLOWLIST)"
            )));
        }
        let token = self.settings.token()?;
        let agent = self.agent()?;
        let url = format!("{address}/v1/{path}");
        let mut attempt = 0;
        let (status, text) = loop {
            attempt += 1;
            let mut req = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-Vault-Request", "true");
            if let Some(t) = &token {
                req = req.header("X-Vault-Token", t.as_str());
            }
            if let Some(ns) = &self.settings.namespace {
                req = req.header("X-Vault-Namespace", ns.as_str());
            }
            let result = req.send(body).and_then(|mut resp| {
                let status = resp.status().as_u16();
                let text = Wiped::new(resp.body_mut().read_to_string()?);
                Ok((status, text))
            });
            let retry = match &result {
                Ok((status, _)) => *status >= 500 || *status == 429,
                Err(e) => matches!(
                    e,
                    ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed
                ),
            };
            if retry && attempt < MAX_ATTEMPTS {
                std::thread::sleep(Duration::from_millis(250 * u64::from(attempt)));
                continue;
            }
            break result.map_err(|e| fail(format!("cannot reach Vault: {e}")))?;
        };
        if !(200..300).contains(&status) {
            let mut why = format!("Vault answered HTTP {status}");
            if let Some(errors) = vault_errors(&text) {
                why.push_str(&format!(": {errors}"));
            }
            if token.is_none() {
                why.push_str(
                    " (no Vault token: set VAULT_TOKEN or write the token to ~/.vault-token)",
                );
            } else if status == 403 {
                why.push_str(" (is VAULT_TOKEN / ~/.vault-token valid for this key?)");
            }
            return Err(fail(why));
        }
        data_field(&text, field).map_err(|e| fail(e.to_string()))
    }
}

/// The `errors` list of a Vault error answer, joined.
fn vault_errors(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let list: Vec<String> = v
        .get("errors")?
        .as_array()?
        .iter()
        .map(|e| match e {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (!list.is_empty()).then(|| list.join("; "))
}

#[derive(serde::Deserialize)]
struct Answer {
    data: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// What is wrong with an answer of Vault's.
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("Vault's answer is not the expected JSON: {0}")]
    Json(serde_json::Error),
    #[error("transit backend is empty")]
    Empty,
    #[error("Vault's {0} is not a string")]
    NotAString(String),
    #[error("Vault's answer has no {0}")]
    Missing(String),
}

/// `data.<field>` of a successful answer, as a string.
fn data_field(text: &str, field: &str) -> Result<Wiped<String>, AnswerError> {
    let mut answer: Answer = serde_json::from_str(text).map_err(AnswerError::Json)?;
    let data = answer.data.as_mut().ok_or(AnswerError::Empty)?;
    match data.remove(field) {
        Some(serde_json::Value::String(s)) => Ok(Wiped::new(s)),
        Some(_) => Err(AnswerError::NotAString(field.to_string())),
        None => Err(AnswerError::Missing(field.to_string())),
    }
}

fn make_agent(s: &VaultSettings) -> Result<ureq::Agent, KeyError> {
    use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig};
    let read = |p: &PathBuf, what: &str| {
        std::fs::read(p)
            .map_err(|e| KeyError::vault(format!("cannot read {what} {}: {e}", p.display())))
    };
    let certs_of = |bytes: &[u8], origin: &str| -> Result<Vec<Certificate<'static>>, KeyError> {
        let mut out = Vec::new();
        for item in ureq::tls::parse_pem(bytes) {
            match item {
                Ok(PemItem::Certificate(c)) => out.push(c),
                Ok(_) => {}
                Err(e) => return Err(KeyError::vault(format!("cannot parse {origin}: {e}"))),
            }
        }
        Ok(out)
    };
    let mut tls = TlsConfig::builder();
    let mut roots = Vec::new();
    if let Some(p) = &s.ca_cert {
        let bytes = read(p, "VAULT_CACERT")?;
        roots.extend(certs_of(&bytes, &p.display().to_string())?);
        if roots.is_empty() {
            return Err(KeyError::vault(format!(
                "VAULT_CACERT {}: no PEM certificate found",
                p.display()
            )));
        }
    } else if let Some(dir) = &s.ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            KeyError::vault(format!("cannot read VAULT_CAPATH {}: {e}", dir.display()))
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_file() {
                let bytes = read(&p, "VAULT_CAPATH file")?;
                roots.extend(certs_of(&bytes, &p.display().to_string())?);
            }
        }
    }
    if !roots.is_empty() {
        tls = tls.root_certs(RootCerts::new_with_certs(&roots));
    }
    if let (Some(cert), Some(key)) = (&s.client_cert, &s.client_key) {
        let chain = certs_of(&read(cert, "VAULT_CLIENT_CERT")?, "VAULT_CLIENT_CERT")?;
        let key_bytes = Wiped::new(read(key, "VAULT_CLIENT_KEY")?);
        let private = ureq::tls::parse_pem(&key_bytes)
            .find_map(|i| match i {
                Ok(PemItem::PrivateKey(k)) => Some(k),
                _ => None,
            })
            .ok_or_else(|| {
                KeyError::vault(format!(
                    "VAULT_CLIENT_KEY {}: no PEM private key found",
                    key.display()
                ))
            })?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, private)));
    }
    if let Some(v) = &s.skip_verify {
        let skip = parse_go_bool(v).ok_or_else(|| {
            KeyError::vault(format!("could not parse VAULT_SKIP_VERIFY value {v:?}"))
        })?;
        tls = tls.disable_verification(skip);
    }
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

impl KeySource for VaultSource {
    fn kind(&self) -> KeyKind {
        KeyKind::HcVault
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let plaintext = Wiped::new(base64::engine::general_purpose::STANDARD.encode(secret));
        let body = Wiped::new(
            serde_json::to_vec(&serde_json::json!({ "plaintext": plaintext.as_str() }))
                .map_err(|e| KeyError::vault(format!("cannot build the Vault request: {e}")))?,
        );
        let ciphertext = self.call(spec, "encrypt", &body, "ciphertext")?;
        Ok(spec.wrapped(ciphertext.to_string()))
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        let body = serde_json::to_vec(&serde_json::json!({ "ciphertext": stored.enc() }))
            .map_err(|e| KeyError::vault(format!("cannot build the Vault request: {e}")))?;
        let plaintext = self.call(stored, "decrypt", &body, "plaintext")?;
        base64::engine::general_purpose::STANDARD
            .decode(plaintext.as_bytes())
            .map(Wiped::new)
            .map_err(|_| {
                KeyError::vault(format!(
                    "failed to decrypt sops data key from Vault transit key {}: \
                     cannot decode base64 plaintext into data key bytes",
                    stored.id()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist() {
        let a = "https://vault.example.com:8200";
        assert!(allowlist_allows(None, a).unwrap());
        assert!(allowlist_allows(Some("all"), a).unwrap());
        assert!(!allowlist_allows(Some("none"), a).unwrap());
        assert!(allowlist_allows(Some("https://vault.example.com:8200"), a).unwrap());
        assert!(allowlist_allows(Some("http://x, https://vault.example.com:8200/"), a).unwrap());
        assert!(!allowlist_allows(Some("https://vault.example.com"), a).unwrap());
        assert!(!allowlist_allows(Some("https://vault.example.com:82"), a).unwrap());
        assert!(allowlist_allows(Some("http://x,,y"), a)
            .unwrap_err()
            .to_string()
            .contains("entry 2 is empty"));
    }

    #[test]
    fn answers() {
        let ok = r#"{"request_id":"x","data":{"ciphertext":"vault:v1:abc","key_version":1}}"#;
        assert_eq!(
            data_field(ok, "ciphertext").unwrap().as_str(),
            "vault:v1:abc"
        );
        assert!(data_field(ok, "plaintext").is_err());
        assert!(matches!(
            data_field(r#"{"data":null}"#, "plaintext"),
            Err(AnswerError::Empty)
        ));
        assert!(data_field("<html>", "plaintext").is_err());
        assert_eq!(
            vault_errors(r#"{"errors":["permission denied"]}"#).as_deref(),
            Some("permission denied")
        );
        assert_eq!(vault_errors("nope"), None);
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn token_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = VaultSettings {
            home: Some(dir.path().to_path_buf()),
            ..VaultSettings::default()
        };
        assert!(s.token().unwrap().is_none());
        std::fs::write(dir.path().join(".vault-token"), "  s.abc\n").unwrap();
        assert_eq!(s.token().unwrap().unwrap().as_str(), "s.abc");
        let s = VaultSettings {
            token: Some(Wiped::new("env".into())),
            ..s
        };
        assert_eq!(s.token().unwrap().unwrap().as_str(), "env");
    }

    #[test]
    fn unreachable_server_is_a_clear_error() {
        let src = VaultSource::new(VaultSettings {
            token: Some(Wiped::new("t".into())),
            ..VaultSettings::default()
        });
        let k = StoredKey::new(MasterKey::Vault(VaultKey {
            address: "http://127.0.0.1:9".into(),
            engine_path: "transit".into(),
            key_name: "k1".into(),
        }));
        let e = src.wrap(&k, b"0123").unwrap_err().to_string();
        assert!(
            e.contains("'transit/encrypt/k1' at http://127.0.0.1:9"),
            "{e}"
        );
        let allow = VaultSource::new(VaultSettings {
            allowlist: Some("none".into()),
            ..VaultSettings::default()
        });
        assert!(allow
            .wrap(&k, b"0123")
            .unwrap_err()
            .to_string()
            .contains("Allowlist"));
    }
}
