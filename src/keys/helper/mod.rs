//! The `sepal-keys` helper executable, seen from `sepal`: the default [`CloudBackend`]. It finds
//! the helper beside the running executable (else on `PATH`), starts it on the first request for
//! an AWS KMS or Vault transit key or a key service, and keeps it for the rest of the process: one pipe each way,
//! one request and one answer at a time ([`wire`]; threads asking at once get a helper each). `sepal keyservice` becomes the helper
//! (`exec`), so signals and the terminal reach the server directly.
//!
//! A file with only age or PGP keys never starts it, which is the point: `sepal` then starts
//! without the AWS SDK, an HTTPS client and gRPC linked at all.

pub mod serve;
pub mod wire;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, PoisonError};

use super::backend::{CloudBackend, Listen, ServeError, ServeOptions, Target};
use super::{KeyError, KeySource, RemoteKeyService};
use crate::metadata::{KeyKind, StoredKey};
use crate::wipe::Wiped;
use wire::{Reply, Request, Route};

/// The helper's file name.
pub const HELPER_NAME: &str = "sepal-keys";

/// The helper's argument that asks for requests on standard input.
pub const PIPE_ARG: &str = "--answer-on-stdio";

/// The helper's first argument for `sepal keyservice`.
pub const SERVE_ARG: &str = "keyservice";

/// Keys served by the helper executable.
pub struct Helper;

/// The one helper backend.
pub static HELPER: Helper = Helper;

/// Helpers started and waiting for a request. A request takes one (or starts one when none is
/// free, so that threads working on several files at once each have their own) and puts it back
/// after its answer.
static IDLE: Mutex<Vec<Running>> = Mutex::new(Vec::new());

/// Why the helper could not answer. Messages name the helper and what to do.
#[derive(Debug)]
pub enum HelperError {
    NotFound {
        beside: Option<PathBuf>,
    },
    Start {
        path: PathBuf,
        source: std::io::Error,
    },
    Version {
        path: PathBuf,
        theirs: String,
    },
    Stopped {
        path: PathBuf,
        source: std::io::Error,
    },
    Garbled {
        path: PathBuf,
        why: String,
    },
}

impl fmt::Display for HelperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelperError::NotFound { beside } => {
                write!(f, "AWS KMS and Vault transit keys and key services are handled by the {HELPER_NAME} helper, which was not found ")?;
                if let Some(p) = beside {
                    write!(f, "at {} or ", p.display())?;
                }
                write!(f, "on PATH: install it with sepal (`cargo install` installs both)")
            }
            HelperError::Start { path, source } => {
                write!(f, "cannot start the {HELPER_NAME} helper {}: {source}", path.display())
            }
            HelperError::Version { path, theirs } => write!(
                f,
                "the {HELPER_NAME} helper {} is version {theirs}, this sepal is {}: install both from the same build",
                path.display(),
                env!("CARGO_PKG_VERSION")
            ),
            HelperError::Stopped { path, source } => write!(
                f,
                "the {HELPER_NAME} helper {} stopped answering: {source}",
                path.display()
            ),
            HelperError::Garbled { path, why } => write!(
                f,
                "the {HELPER_NAME} helper {} sent an answer sepal cannot read: {why}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for HelperError {}

/// Where the helper is: beside this executable, else the first on `PATH`.
pub fn locate() -> Result<PathBuf, HelperError> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(HELPER_NAME));
    if let Some(p) = beside.as_ref().filter(|p| p.is_file()) {
        return Ok(p.clone());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(HELPER_NAME))
        .find(|p| p.is_file())
        .ok_or(HelperError::NotFound { beside })
}

/// A started helper and its pipes.
struct Running {
    path: PathBuf,
    child: Child,
    to: ChildStdin,
    from: ChildStdout,
}

impl Running {
    fn start() -> Result<Running, HelperError> {
        let path = locate()?;
        let mut child = Command::new(&path)
            .arg(PIPE_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| HelperError::Start {
                path: path.clone(),
                source,
            })?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            // Both were asked for as pipes; without them there is no helper to talk to.
            let _ = child.kill();
            let _ = child.wait();
            return Err(HelperError::Start {
                path,
                source: std::io::ErrorKind::BrokenPipe.into(),
            });
        };
        let mut running = Running {
            path,
            child,
            to,
            from,
        };
        let hello = running.read()?;
        let theirs = wire::greeting_version(&hello).map_err(|e| running.garbled(e))?;
        if theirs != env!("CARGO_PKG_VERSION") {
            return Err(HelperError::Version {
                path: running.path.clone(),
                theirs: theirs.to_string(),
            });
        }
        Ok(running)
    }

    fn read(&mut self) -> Result<Wiped<Vec<u8>>, HelperError> {
        let stopped = |source| HelperError::Stopped {
            path: self.path.clone(),
            source,
        };
        wire::read_frame(&mut self.from)
            .map_err(stopped)?
            .ok_or_else(|| stopped(std::io::ErrorKind::UnexpectedEof.into()))
    }

    fn garbled(&self, why: impl fmt::Display) -> HelperError {
        HelperError::Garbled {
            path: self.path.clone(),
            why: why.to_string(),
        }
    }

    fn ask(&mut self, request: &Request) -> Result<Reply, HelperError> {
        wire::write_frame(&mut self.to, &request.encode()).map_err(|source| {
            HelperError::Stopped {
                path: self.path.clone(),
                source,
            }
        })?;
        let answer = self.read()?;
        Reply::decode(&answer).map_err(|e| self.garbled(e))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only a helper that misbehaved is dropped before the process ends; idle ones see their
        // input close when it does, and exit.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ask a helper, starting one if none is idle; failures of the helper itself become `origin`
/// errors (and that helper is stopped).
fn exchange(request: &Request, origin: fn(String) -> KeyError) -> Result<Reply, KeyError> {
    let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let mut running = match idle {
        Some(r) => r,
        None => Running::start().map_err(|e| origin(e.to_string()))?,
    };
    let reply = running.ask(request).map_err(|e| origin(e.to_string()))?;
    IDLE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(running);
    match reply {
        Reply::Failed(e) => Err(e),
        reply => Ok(reply),
    }
}

fn kms_error(message: String) -> KeyError {
    KeyError::kms(message)
}

fn vault_error(message: String) -> KeyError {
    KeyError::vault(message)
}

fn service_error(message: String) -> KeyError {
    KeyError::service(message)
}

fn wrap(
    target: Route,
    spec: &StoredKey,
    secret: &[u8],
    origin: fn(String) -> KeyError,
) -> Result<StoredKey, KeyError> {
    let request = Request::Wrap {
        target,
        spec: spec.clone(),
        secret: Wiped::new(secret.to_vec()),
    };
    match exchange(&request, origin)? {
        // The entry must be the key asked for, wrapped: anything else would go into the file.
        Reply::Key(k) if k.key == spec.key && !k.enc().is_empty() => Ok(k),
        other => Err(origin(format!(
            "the {HELPER_NAME} helper answered a request to wrap for {} with {other:?}",
            spec.id()
        ))),
    }
}

fn unwrap(
    target: Route,
    stored: &StoredKey,
    origin: fn(String) -> KeyError,
) -> Result<Wiped<Vec<u8>>, KeyError> {
    let request = Request::Unwrap {
        target,
        stored: stored.clone(),
    };
    match exchange(&request, origin)? {
        Reply::Secret(s) => Ok(s),
        other => Err(origin(format!(
            "the {HELPER_NAME} helper answered a request to unwrap with {other:?}"
        ))),
    }
}

/// A key source the helper holds (AWS KMS or Vault transit): requests go to `target`, and the
/// helper's own failures become errors of `origin`'s kind.
struct SourceByHelper {
    kind: KeyKind,
    target: Route,
    origin: fn(String) -> KeyError,
}

impl KeySource for SourceByHelper {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        wrap(self.target.clone(), spec, secret, self.origin)
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        unwrap(self.target.clone(), stored, self.origin)
    }
}

/// A key service, asked through the helper.
struct ServiceByHelper {
    uri: String,
}

impl RemoteKeyService for ServiceByHelper {
    fn name(&self) -> String {
        self.uri.clone()
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        wrap(
            Route::Service(self.uri.clone()),
            spec,
            secret,
            service_error,
        )
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        unwrap(Route::Service(self.uri.clone()), stored, service_error)
    }
}

/// The helper's arguments for serving with `options`.
pub fn serve_args(options: &ServeOptions) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![SERVE_ARG.into()];
    match &options.listen {
        Listen::Tcp(address) => args.extend(["tcp".into(), address.into()]),
        Listen::Unix(path) => args.extend(["unix".into(), path.clone().into_os_string()]),
    }
    if options.prompt {
        args.push("--prompt".into());
    }
    if options.verbose {
        args.push("--verbose".into());
    }
    args
}

impl CloudBackend for Helper {
    fn kms(&self) -> Box<dyn KeySource> {
        Box::new(SourceByHelper {
            kind: KeyKind::Kms,
            target: Route::Kms,
            origin: kms_error,
        })
    }

    fn vault(&self) -> Box<dyn KeySource> {
        Box::new(SourceByHelper {
            kind: KeyKind::HcVault,
            target: Route::Vault,
            origin: vault_error,
        })
    }

    fn key_service(&self, uri: &str) -> Result<Box<dyn RemoteKeyService>, KeyError> {
        Target::parse(uri)?;
        Ok(Box::new(ServiceByHelper {
            uri: uri.to_string(),
        }))
    }

    fn serve(&self, options: &ServeOptions) -> Result<(), ServeError> {
        let path = locate().map_err(|e| ServeError::Unavailable(e.to_string()))?;
        let mut command = Command::new(&path);
        command.args(serve_args(options));
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Only returns if the helper could not be started.
            Err(ServeError::Start(command.exec()))
        }
        #[cfg(not(unix))]
        {
            let status = command.status().map_err(ServeError::Start)?;
            if status.success() {
                Ok(())
            } else {
                Err(ServeError::Unavailable(format!(
                    "the {HELPER_NAME} helper {} ended with {status}",
                    path.display()
                )))
            }
        }
    }
}
