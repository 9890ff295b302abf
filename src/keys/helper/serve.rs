//! The `sepal-keys` executable's side: answer `sepal`'s requests on standard input and output
//! with the backend its `main` installs (the AWS SDK and the gRPC client in this process), or
//! serve `sepal keyservice`. It is started by `sepal` only; its arguments are not a user
//! interface.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};

use super::wire::{self, Reply, Request, Route};
use super::{HELPER_NAME, PIPE_ARG, SERVE_ARG};
use crate::keys::backend::{install, CloudBackend, Listen, ServeOptions};
use crate::keys::{KeyError, KeySource, RemoteKeyService};

/// Run the helper with its command line (`args[0]` is its name). Returns the exit code.
pub fn main(args: Vec<OsString>, backend: &'static dyn CloudBackend) -> u8 {
    install(backend);
    let mut args = args.into_iter().skip(1);
    let first = args.next();
    if first.as_deref() == Some(PIPE_ARG.as_ref()) && args.next().is_none() {
        return match answer(backend, io::stdin().lock(), io::stdout().lock()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{HELPER_NAME}: the pipe to sepal failed: {e}");
                1
            }
        };
    }
    if first.as_deref() == Some(SERVE_ARG.as_ref()) {
        if let Some(options) = serve_options(args.collect()) {
            return match backend.serve(&options) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            };
        }
    }
    eprintln!(
        "{HELPER_NAME} serves AWS KMS and Vault transit keys and key services for sepal, which starts it itself; run sepal instead."
    );
    2
}

/// `keyservice` options as `super::serve_args` writes them; `None` for anything else.
fn serve_options(args: Vec<OsString>) -> Option<ServeOptions> {
    let mut args = args.into_iter();
    let network = args.next()?;
    let address = args.next()?;
    let listen = match network.to_str()? {
        "tcp" => Listen::Tcp(address.into_string().ok()?),
        "unix" => Listen::Unix(address.into()),
        _ => return None,
    };
    let mut options = ServeOptions {
        listen,
        prompt: false,
        verbose: false,
    };
    for flag in args {
        match flag.to_str()? {
            "--prompt" => options.prompt = true,
            "--verbose" => options.verbose = true,
            _ => return None,
        }
    }
    Some(options)
}

/// Greet, then answer each request until `sepal` closes the pipe.
pub fn answer(
    backend: &dyn CloudBackend,
    mut input: impl Read,
    mut output: impl Write,
) -> io::Result<()> {
    wire::write_frame(&mut output, &wire::greeting())?;
    let mut keys = Keys {
        backend,
        kms: backend.kms(),
        vault: backend.vault(),
        services: HashMap::new(),
    };
    while let Some(frame) = wire::read_frame(&mut input)? {
        let reply = match Request::decode(&frame) {
            Ok(request) => keys.answer(request),
            Err(e) => Reply::Failed(KeyError::keyring(format!(
                "{HELPER_NAME} could not read sepal's request: {e}"
            ))),
        };
        wire::write_frame(&mut output, &reply.encode())?;
    }
    Ok(())
}

/// The KMS and Vault sources and the key service clients, each made once.
struct Keys<'a> {
    backend: &'a dyn CloudBackend,
    kms: Box<dyn KeySource>,
    vault: Box<dyn KeySource>,
    services: HashMap<String, Box<dyn RemoteKeyService>>,
}

impl Keys<'_> {
    fn answer(&mut self, request: Request) -> Reply {
        let result = match request {
            Request::Wrap {
                target,
                spec,
                secret,
            } => match target {
                Route::Kms => self.kms.wrap(&spec, &secret),
                Route::Vault => self.vault.wrap(&spec, &secret),
                Route::Service(uri) => self.service(&uri).and_then(|s| s.wrap(&spec, &secret)),
            }
            .map(Reply::Key),
            Request::Unwrap { target, stored } => match target {
                Route::Kms => self.kms.unwrap(&stored),
                Route::Vault => self.vault.unwrap(&stored),
                Route::Service(uri) => self.service(&uri).and_then(|s| s.unwrap(&stored)),
            }
            .map(Reply::Secret),
        };
        result.unwrap_or_else(Reply::Failed)
    }

    fn service(&mut self, uri: &str) -> Result<&dyn RemoteKeyService, KeyError> {
        if !self.services.contains_key(uri) {
            let client = self.backend.key_service(uri)?;
            self.services.insert(uri.to_string(), client);
        }
        self.services
            .get(uri)
            .map(|s| s.as_ref())
            .ok_or_else(|| KeyError::service(format!("no client for the key service {uri}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::serve_args;
    use super::*;
    use crate::keys::backend::ServeError;
    use crate::metadata::{KeyKind, KmsKey, MasterKey, StoredKey};
    use crate::wipe::Wiped;

    /// Wraps by reversing the secret into `enc` as hex; refuses keys whose ARN ends in `denied`.
    struct FakeSource;

    impl KeySource for FakeSource {
        fn kind(&self) -> KeyKind {
            KeyKind::Kms
        }

        fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
            if spec.id().ends_with("denied") {
                return Err(KeyError::kms(format!(
                    "AWS KMS key {}: access denied",
                    spec.id()
                )));
            }
            Ok(spec.wrapped(secret.iter().rev().map(|b| format!("{b:02x}")).collect()))
        }

        fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
            let hex = stored.enc().as_bytes();
            let mut out: Vec<u8> = hex
                .chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("zz"), 16))
                .collect::<Result<_, _>>()
                .map_err(|_| KeyError::kms("not hex"))?;
            out.reverse();
            Ok(Wiped::new(out))
        }
    }

    /// Refuses everything, naming itself.
    struct FakeVault;

    impl KeySource for FakeVault {
        fn kind(&self) -> KeyKind {
            KeyKind::HcVault
        }
        fn wrap(&self, _spec: &StoredKey, _secret: &[u8]) -> Result<StoredKey, KeyError> {
            Err(KeyError::vault("vault: sealed"))
        }
        fn unwrap(&self, _stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
            Err(KeyError::vault("vault: sealed"))
        }
    }

    struct FakeService(String);

    impl RemoteKeyService for FakeService {
        fn name(&self) -> String {
            self.0.clone()
        }
        fn wrap(&self, spec: &StoredKey, _secret: &[u8]) -> Result<StoredKey, KeyError> {
            Ok(spec.wrapped(format!("by {}", self.0)))
        }
        fn unwrap(&self, _stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
            Err(KeyError::service("could not reach the key service"))
        }
    }

    struct Fake {
        clients_made: AtomicUsize,
    }

    impl CloudBackend for Fake {
        fn kms(&self) -> Box<dyn KeySource> {
            Box::new(FakeSource)
        }
        fn vault(&self) -> Box<dyn KeySource> {
            Box::new(FakeVault)
        }
        fn key_service(&self, uri: &str) -> Result<Box<dyn RemoteKeyService>, KeyError> {
            crate::keys::backend::Target::parse(uri)?;
            self.clients_made.fetch_add(1, Ordering::Relaxed);
            Ok(Box::new(FakeService(uri.to_string())))
        }
        fn serve(&self, _options: &ServeOptions) -> Result<(), ServeError> {
            Err(ServeError::Unavailable("fake".into()))
        }
    }

    fn kms(arn: &str) -> StoredKey {
        StoredKey::new(MasterKey::Kms(KmsKey {
            arn: arn.into(),
            ..KmsKey::default()
        }))
    }

    /// Send `requests` to `answer` and read its greeting and replies back.
    fn converse(fake: &Fake, requests: &[Vec<u8>]) -> (Vec<u8>, Vec<Reply>) {
        let mut input = Vec::new();
        for r in requests {
            wire::write_frame(&mut input, r).unwrap();
        }
        let mut output = Vec::new();
        answer(fake, input.as_slice(), &mut output).unwrap();
        let mut out = output.as_slice();
        let hello = wire::read_frame(&mut out).unwrap().unwrap().to_vec();
        let mut replies = Vec::new();
        while let Some(f) = wire::read_frame(&mut out).unwrap() {
            replies.push(Reply::decode(&f).unwrap());
        }
        (hello, replies)
    }

    #[test]
    fn answers_each_request_in_order_with_the_backend() {
        let fake = Fake {
            clients_made: AtomicUsize::new(0),
        };
        let key = kms("arn:aws:kms:eu-west-1:1:key/k");
        let wrapped = key.wrapped("030201".into());
        let requests = [
            Request::Wrap {
                target: Route::Kms,
                spec: key.clone(),
                secret: Wiped::new(vec![1, 2, 3]),
            },
            Request::Unwrap {
                target: Route::Kms,
                stored: wrapped.clone(),
            },
            Request::Wrap {
                target: Route::Kms,
                spec: kms("arn:denied"),
                secret: Wiped::new(vec![1]),
            },
            Request::Unwrap {
                target: Route::Vault,
                stored: wrapped.clone(),
            },
            Request::Wrap {
                target: Route::Service("tcp://127.0.0.1:5000".into()),
                spec: key.clone(),
                secret: Wiped::new(vec![1]),
            },
            Request::Unwrap {
                target: Route::Service("tcp://127.0.0.1:5000".into()),
                stored: wrapped.clone(),
            },
            Request::Unwrap {
                target: Route::Service("http://nowhere".into()),
                stored: wrapped.clone(),
            },
        ];
        let mut frames: Vec<Vec<u8>> = requests.iter().map(|r| r.encode().to_vec()).collect();
        frames.push(vec![42]);
        let (hello, replies) = converse(&fake, &frames);
        assert_eq!(
            wire::greeting_version(&hello),
            Ok(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            replies,
            vec![
                Reply::Key(wrapped.clone()),
                Reply::Secret(Wiped::new(vec![1, 2, 3])),
                Reply::Failed(KeyError::kms("AWS KMS key arn:denied: access denied")),
                Reply::Failed(KeyError::vault("vault: sealed")),
                Reply::Key(key.wrapped("by tcp://127.0.0.1:5000".into())),
                Reply::Failed(KeyError::service("could not reach the key service")),
                Reply::Failed(KeyError::service(
                    "invalid key service URI \"http://nowhere\": unsupported scheme \"http\" (use tcp://host:port or unix:///path/to/socket)"
                )),
                Reply::Failed(KeyError::keyring(
                    "sepal-keys could not read sepal's request: unknown message tag 42"
                )),
            ]
        );
        // One client per key service, made on its first request.
        assert_eq!(fake.clients_made.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_request_cut_short_ends_the_conversation_with_an_error() {
        let fake = Fake {
            clients_made: AtomicUsize::new(0),
        };
        let mut input = Vec::new();
        wire::write_frame(&mut input, &[1, 2, 3]).unwrap();
        input.truncate(input.len() - 1);
        let mut output = Vec::new();
        assert!(answer(&fake, input.as_slice(), &mut output).is_err());
    }

    #[test]
    fn serve_options_read_back_as_sepal_writes_them() {
        for options in [
            ServeOptions {
                listen: Listen::Tcp("127.0.0.1:5000".into()),
                prompt: false,
                verbose: true,
            },
            ServeOptions {
                listen: Listen::Unix("/run/user/1000/sepal/keyservice.sock".into()),
                prompt: true,
                verbose: false,
            },
        ] {
            let args = serve_args(&options);
            assert_eq!(args[0], SERVE_ARG);
            assert_eq!(serve_options(args[1..].to_vec()), Some(options));
        }
        for bad in [
            vec![],
            vec!["tcp"],
            vec!["udp", "x"],
            vec!["tcp", "a:1", "--force"],
        ] {
            let bad: Vec<OsString> = bad.into_iter().map(OsString::from).collect();
            assert_eq!(serve_options(bad.clone()), None, "{bad:?}");
        }
    }
}
