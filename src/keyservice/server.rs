//! The key service server: serves `KeyService` over tcp or a unix socket with the local key
//! sources. Requests are answered one at a time by a worker thread that owns the keyring (key
//! sources are synchronous and may prompt), while tokio handles the connections.

use std::future::Future;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tonic::codec::ProstCodec;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};
use tower_service::Service;

use super::proto::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, Key};
use super::{describe, spec_of};
use crate::keys::backend::{Listen, ServeError, ServeOptions};
use crate::keys::Keyring;
use crate::metadata::StoredKey;
use crate::wipe::Wiped;

enum Op {
    Encrypt(EncryptRequest),
    Decrypt(DecryptRequest),
}

/// A refused request: the gRPC code and a message naming the key, never key material.
type Refusal = (Code, String);

type Reply = Result<Wiped<Vec<u8>>, Refusal>;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

struct Job {
    op: Op,
    reply: oneshot::Sender<Reply>,
}

/// Serve until SIGINT or SIGTERM.
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Start)?;
    let (jobs, queue) = mpsc::channel::<Job>();
    let (prompt, verbose) = (options.prompt, options.verbose);
    std::thread::Builder::new()
        .name("keyservice-worker".into())
        .spawn(move || worker(queue, prompt, verbose))
        .map_err(ServeError::Start)?;
    let service = KeyServiceServer { jobs };
    let uri = options.listen.uri();
    runtime.block_on(async move {
        let mut signals = Signals::new()?;
        let server = tonic::transport::Server::builder();
        let served = match &options.listen {
            Listen::Tcp(address) => {
                let listener = bind_tcp(address).await?;
                let shown = listener
                    .local_addr()
                    .map(|a| format!("tcp://{a}"))
                    .unwrap_or_else(|_| uri.clone());
                log(&format!("Listening on {shown}"));
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                first_of(server.serve_with_incoming(service, incoming), &mut signals).await
            }
            Listen::Unix(path) => {
                let listener = bind_unix(path).map_err(|e| ServeError::Listen {
                    address: uri.clone(),
                    source: e,
                })?;
                let _remove = RemoveOnDrop(path.clone());
                log(&format!("Listening on {uri}"));
                let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
                first_of(server.serve_with_incoming(service, incoming), &mut signals).await
            }
        };
        match served {
            Some(Err(e)) => Err(ServeError::Stopped {
                address: uri.clone(),
                reason: e.to_string(),
            }),
            Some(Ok(())) => Ok(()),
            None => {
                log("Caught a signal: shutting down.");
                Ok(())
            }
        }
    })
}

async fn bind_tcp(address: &str) -> Result<tokio::net::TcpListener, ServeError> {
    // Go's `:5000` means every interface.
    let address = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_string()
    };
    tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| ServeError::Listen {
            address: format!("tcp://{address}"),
            source: e,
        })
}

/// Listen on a new socket file of mode 0600: only our user may connect (the protocol has no
/// authentication). The umask is narrowed around `bind` so the socket never exists with a wider
/// mode; nothing else in the process creates files meanwhile.
fn bind_unix(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask has no preconditions; the previous mask is restored right after.
    let old = unsafe { libc::umask(0o177) };
    let bound = tokio::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// Removes the socket file when the server stops.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// SIGINT and SIGTERM.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, ServeError> {
        use tokio::signal::unix::{signal, SignalKind};
        let err = ServeError::Signals;
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(err)?,
            terminate: signal(SignalKind::terminate()).map_err(err)?,
        })
    }

    fn poll_any(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let a = self.interrupt.poll_recv(cx).is_ready();
        let b = self.terminate.poll_recv(cx).is_ready();
        if a || b {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Run `fut` until it ends (`Some`) or a signal comes (`None`, dropping it).
async fn first_of<F: Future>(fut: F, signals: &mut Signals) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if signals.poll_any(cx).is_ready() {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Answer requests one at a time with the local key sources.
fn worker(queue: mpsc::Receiver<Job>, prompt: bool, verbose: bool) {
    let keyring = Keyring::default();
    for job in queue {
        let what = match &job.op {
            Op::Encrypt(_) => "encrypt",
            Op::Decrypt(_) => "decrypt",
        };
        // A bug in a key source must not take the whole service down.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &job.op {
            Op::Encrypt(r) => encrypt(&keyring, r, prompt),
            Op::Decrypt(r) => decrypt(&keyring, r, prompt),
        }))
        .unwrap_or_else(|_| Err((Code::Internal, "internal error in the key service".into())));
        if verbose {
            let key = match &job.op {
                Op::Encrypt(r) => r.key.as_ref(),
                Op::Decrypt(r) => r.key.as_ref(),
            };
            let key = key.and_then(spec_of).map(|s| describe(&s));
            let key = key.as_deref().unwrap_or("no key");
            match &result {
                Ok(_) => log(&format!("{what} request with {key}: done")),
                Err((_, m)) => log(&format!("{what} request with {key}: failed: {m}")),
            }
        }
        // The client may have gone away; nothing to do then.
        let _ = job.reply.send(result);
    }
}

fn requested_key(key: Option<&Key>) -> Result<StoredKey, Refusal> {
    let key = key.ok_or_else(|| (Code::NotFound, "Must provide a key".to_string()))?;
    spec_of(key).ok_or_else(|| (Code::NotFound, "Unknown key type".to_string()))
}

fn encrypt(keyring: &Keyring, request: &EncryptRequest, prompt: bool) -> Reply {
    let spec = requested_key(request.key.as_ref())?;
    if prompt {
        confirm("encrypt", &spec)?;
    }
    let source = keyring
        .local_source(spec.kind())
        .map_err(|e| (Code::Unimplemented, e.to_string()))?;
    let stored = source
        .wrap(&spec, &request.plaintext)
        .map_err(|e| (Code::Unknown, e.to_string()))?;
    Ok(Wiped::new(stored.enc().as_bytes().to_vec()))
}

fn decrypt(keyring: &Keyring, request: &DecryptRequest, prompt: bool) -> Reply {
    let stored = requested_key(request.key.as_ref())?;
    let enc = std::str::from_utf8(&request.ciphertext).map_err(|_| {
        (
            Code::InvalidArgument,
            "the encrypted key is not text".to_string(),
        )
    })?;
    let stored = stored.wrapped(enc.to_string());
    if prompt {
        confirm("decrypt", &stored)?;
    }
    let source = keyring
        .local_source(stored.kind())
        .map_err(|e| (Code::Unimplemented, e.to_string()))?;
    source
        .unwrap(&stored)
        .map_err(|e| (Code::Unknown, e.to_string()))
}

/// A line on stderr; a closed stderr is no reason to stop serving.
fn log(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Ask on the terminal whether to answer a request.
fn confirm(what: &str, key: &StoredKey) -> Result<(), Refusal> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "\nReceived {what} request using {}. Respond to request? (y/n): ",
            describe(key)
        );
        let _ = out.flush();
        drop(out);
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                return Err((
                    Code::PermissionDenied,
                    "Request rejected: no answer on the key service's terminal".into(),
                ))
            }
            Ok(_) => {}
        }
        match line.trim() {
            "y" => return Ok(()),
            "n" => return Err((Code::PermissionDenied, "Request rejected by user".into())),
            _ => {}
        }
    }
}

/// The gRPC service: routes the two methods to the worker.
#[derive(Clone)]
struct KeyServiceServer {
    jobs: mpsc::Sender<Job>,
}

impl NamedService for KeyServiceServer {
    const NAME: &'static str = "KeyService";
}

/// Hand a request to the worker and wait for its answer.
async fn ask(jobs: mpsc::Sender<Job>, op: Op) -> Result<Wiped<Vec<u8>>, Status> {
    let (reply, answer) = oneshot::channel();
    let gone = || Status::new(Code::Internal, "the key service is shutting down");
    jobs.send(Job { op, reply }).map_err(|_| gone())?;
    answer
        .await
        .map_err(|_| gone())?
        .map_err(|(code, message)| Status::new(code, message))
}

struct EncryptMethod(mpsc::Sender<Job>);

impl UnaryService<EncryptRequest> for EncryptMethod {
    type Response = EncryptResponse;
    type Future = BoxFuture<tonic::Response<EncryptResponse>, Status>;

    fn call(&mut self, request: tonic::Request<EncryptRequest>) -> Self::Future {
        let jobs = self.0.clone();
        Box::pin(async move {
            let ciphertext = ask(jobs, Op::Encrypt(request.into_inner())).await?;
            Ok(tonic::Response::new(EncryptResponse {
                ciphertext: ciphertext.to_vec(),
            }))
        })
    }
}

struct DecryptMethod(mpsc::Sender<Job>);

impl UnaryService<DecryptRequest> for DecryptMethod {
    type Response = DecryptResponse;
    type Future = BoxFuture<tonic::Response<DecryptResponse>, Status>;

    fn call(&mut self, request: tonic::Request<DecryptRequest>) -> Self::Future {
        let jobs = self.0.clone();
        Box::pin(async move {
            let mut plaintext = ask(jobs, Op::Decrypt(request.into_inner())).await?;
            Ok(tonic::Response::new(DecryptResponse {
                plaintext: std::mem::take(&mut *plaintext),
            }))
        })
    }
}

impl<B> Service<http::Request<B>> for KeyServiceServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let jobs = self.jobs.clone();
        match request.uri().path() {
            "/KeyService/Encrypt" => Box::pin(async move {
                let codec: ProstCodec<EncryptResponse, EncryptRequest> = ProstCodec::default();
                Ok(Grpc::new(codec).unary(EncryptMethod(jobs), request).await)
            }),
            "/KeyService/Decrypt" => Box::pin(async move {
                let codec: ProstCodec<DecryptResponse, DecryptRequest> = ProstCodec::default();
                Ok(Grpc::new(codec).unary(DecryptMethod(jobs), request).await)
            }),
            path => {
                let status = Status::unimplemented(format!("unknown method {path}"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}
