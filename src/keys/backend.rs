//! Where the master keys that need a cloud SDK, an HTTPS client or gRPC are served: AWS KMS and
//! Vault transit keys, `--keyservice` clients and the `sepal keyservice` server. The `sepal`
//! executable does not link that code (the AWS SDK, tokio, tonic, h2, ureq and rustls cost every
//! start their relocations and pages, although no age or PGP file uses them); it asks the `sepal-keys` helper executable ([`super::helper`]), started
//! only when a file needs one of those keys. The helper installs the in-process backend
//! (the top-level `cloud` module) and answers over a pipe.
//!
//! What decides which code an executable contains is what its `main` names: the default backend
//! here is the helper, so only an executable that installs the in-process one links the SDKs.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::{KeyError, KeySource, RemoteKeyService};

/// The keys this backend serves.
pub trait CloudBackend: Sync {
    /// The AWS KMS key source.
    fn kms(&self) -> Box<dyn KeySource>;

    /// The Vault transit key source (settings from the environment: `VAULT_ADDR`, ...).
    fn vault(&self) -> Box<dyn KeySource>;

    /// A client of the key service at `uri` (checked here; it connects on first use).
    fn key_service(&self, uri: &str) -> Result<Box<dyn RemoteKeyService>, KeyError>;

    /// Serve the local keys over gRPC until a signal (`sepal keyservice`).
    fn serve(&self, options: &ServeOptions) -> Result<(), ServeError>;
}

static INSTALLED: OnceLock<&'static dyn CloudBackend> = OnceLock::new();

/// Use `backend` for the rest of the process instead of the helper executable. Only the first
/// call counts; later ones return `false`.
pub fn install(backend: &'static dyn CloudBackend) -> bool {
    INSTALLED.set(backend).is_ok()
}

/// The installed backend, else the helper executable.
pub fn current() -> &'static dyn CloudBackend {
    match INSTALLED.get() {
        Some(b) => *b,
        None => &super::helper::HELPER,
    }
}

/// Where a key service listens, from its URI (`--keyservice`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `tcp://host:port`
    Tcp(String),
    /// `unix:///path` (or `unix:path`)
    Unix(String),
}

impl Target {
    pub fn parse(uri: &str) -> Result<Target, KeyError> {
        let bad = |why: &str| {
            KeyError::service(format!("invalid key service URI {uri:?}: {why} (use tcp://host:port or unix:///path/to/socket)"))
        };
        let (scheme, rest) = uri.split_once(':').ok_or_else(|| bad("no scheme"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" | "tcp4" | "tcp6" => {
                let rest = rest.strip_prefix("//").ok_or_else(|| bad("no host"))?;
                let authority = rest.split('/').next().unwrap_or_default();
                let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
                    !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
                });
                if !has_port {
                    return Err(bad("expected host:port"));
                }
                Ok(Target::Tcp(authority.to_string()))
            }
            "unix" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(bad("no socket path"));
                }
                Ok(Target::Unix(path.to_string()))
            }
            other => Err(bad(&format!("unsupported scheme {other:?}"))),
        }
    }
}

/// Where `sepal keyservice` listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `host:port`
    Tcp(String),
    /// A socket file (created; removed again on exit).
    Unix(PathBuf),
}

impl Listen {
    pub fn uri(&self) -> String {
        match self {
            Listen::Tcp(a) => format!("tcp://{a}"),
            Listen::Unix(p) => format!("unix://{}", p.display()),
        }
    }
}

/// `sepal keyservice` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    pub listen: Listen,
    /// Ask on the terminal before answering each request.
    pub prompt: bool,
    /// Log every request (key names and outcomes, never key material) on stderr.
    pub verbose: bool,
}

/// Why the key service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the key service: {0}")]
    Start(std::io::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    #[error("the key service on {address} stopped: {reason}")]
    Stopped { address: String, reason: String },
    #[error("cannot serve keys: {0}")]
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            Target::parse("tcp://127.0.0.1:5000"),
            Ok(Target::Tcp("127.0.0.1:5000".into()))
        );
        assert_eq!(
            Target::parse("tcp://[::1]:5000/"),
            Ok(Target::Tcp("[::1]:5000".into()))
        );
        assert_eq!(
            Target::parse("unix:///tmp/ks.sock"),
            Ok(Target::Unix("/tmp/ks.sock".into()))
        );
        assert_eq!(
            Target::parse("unix:ks.sock"),
            Ok(Target::Unix("ks.sock".into()))
        );
        for bad in [
            "127.0.0.1:5000",
            "tcp://host",
            "http://h:1",
            "unix://",
            "tcp:1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_helper_is_the_default() {
        // Nothing in the library's tests installs a backend.
        let helper: *const super::super::helper::Helper = &super::super::helper::HELPER;
        let current: *const dyn CloudBackend = current();
        assert_eq!(current.cast::<()>(), helper.cast::<()>());
    }
}
