//! A client of a key service, as one of the keyring's remote key services.

use std::time::Duration;

use http::uri::PathAndQuery;
use tonic::codec::ProstCodec;
use tonic::transport::{Channel, Endpoint};

use super::key_of;
use super::proto::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse};
use crate::keys::backend::Target;
use crate::keys::{KeyError, RemoteKeyService};
use crate::metadata::StoredKey;
use crate::wipe::Wiped;

/// How long to wait for a connection to a key service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often to check that a key service is still there, and how long to wait for its answer.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// A connection to one key service. The connection is made on first use, so a key service that
/// is down only matters when it is needed.
pub struct Client {
    uri: String,
    runtime: tokio::runtime::Runtime,
    channel: Channel,
}

impl Client {
    pub fn new(uri: &str) -> Result<Client, KeyError> {
        let target = Target::parse(uri)?;
        let endpoint = match &target {
            Target::Tcp(authority) => format!("http://{authority}"),
            Target::Unix(path) => format!("unix:{path}"),
        };
        let endpoint = Endpoint::from_shared(endpoint)
            .map_err(|e| KeyError::service(format!("invalid key service URI {uri:?}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            // HTTP/2 pings find a peer that is silent (not a key service, or gone) without
            // limiting how long a key service may take to answer (`--prompt` waits for a person).
            .http2_keep_alive_interval(KEEP_ALIVE)
            .keep_alive_timeout(KEEP_ALIVE)
            .keep_alive_while_idle(true);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KeyError::service(format!("cannot start the key service client: {e}")))?;
        let channel = {
            let _guard = runtime.enter();
            endpoint.connect_lazy()
        };
        Ok(Client {
            uri: uri.to_string(),
            runtime,
            channel,
        })
    }

    fn call<Req, Resp>(&self, path: &'static str, request: Req) -> Result<Resp, KeyError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.runtime.block_on(async {
            let mut grpc = tonic::client::Grpc::new(self.channel.clone());
            grpc.ready().await.map_err(|e| {
                KeyError::service(format!("could not connect to the key service: {e}"))
            })?;
            let codec: ProstCodec<Req, Resp> = ProstCodec::default();
            grpc.unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(path),
                codec,
            )
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&s))
        })
    }
}

/// A failed call as a one-line message: the server's own message, with the status code unless
/// it is the generic one, and the transport's reasons when the service could not be reached.
fn status_error(status: &tonic::Status) -> KeyError {
    let mut msg = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        let s = e.to_string();
        if !msg.contains(&s) {
            msg = if msg.is_empty() {
                s
            } else {
                format!("{msg}: {s}")
            };
        }
        source = e.source();
    }
    match status.code() {
        tonic::Code::Unknown => KeyError::service(msg),
        tonic::Code::Unavailable => {
            KeyError::service(format!("could not reach the key service: {msg}"))
        }
        code => KeyError::service(format!("{msg} ({code:?})")),
    }
}

impl RemoteKeyService for Client {
    fn name(&self) -> String {
        self.uri.clone()
    }

    fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let request = EncryptRequest {
            key: Some(key_of(spec)),
            plaintext: secret.to_vec(),
        };
        let response: EncryptResponse = self.call("/KeyService/Encrypt", request)?;
        if response.ciphertext.is_empty() {
            return Err(KeyError::service(
                "the key service returned an empty encrypted key",
            ));
        }
        let enc = String::from_utf8(response.ciphertext).map_err(|_| {
            KeyError::service("the key service returned an encrypted key that is not text")
        })?;
        Ok(spec.wrapped(enc))
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
        let request = DecryptRequest {
            key: Some(key_of(stored)),
            ciphertext: stored.enc().as_bytes().to_vec(),
        };
        let mut response: DecryptResponse = self.call("/KeyService/Decrypt", request)?;
        Ok(Wiped::new(std::mem::take(&mut response.plaintext)))
    }
}
