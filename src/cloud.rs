//! The in-process backend for the keys that need a cloud SDK, an HTTPS client or gRPC: the AWS
//! SDK's KMS source, Vault transit over ureq, the key service's gRPC client and server. Only the `sepal-keys` helper executable installs it
//! (`keys::backend::install`), so only that executable links them; `sepal` asks the helper.
//! A program using sepal as a library installs it to have those keys in its own process.

use crate::keys::backend::{CloudBackend, ServeError, ServeOptions};
use crate::keys::kms::KmsSource;
use crate::keys::vault::VaultSource;
use crate::keys::{KeyError, KeySource, RemoteKeyService};

/// The AWS SDK and gRPC in this process.
pub struct InProcess;

/// The one in-process backend.
pub static IN_PROCESS: InProcess = InProcess;

impl CloudBackend for InProcess {
    fn kms(&self) -> Box<dyn KeySource> {
        Box::new(KmsSource::new())
    }

    fn vault(&self) -> Box<dyn KeySource> {
        Box::new(VaultSource::from_env())
    }

    #[cfg(feature = "keyservice")]
    fn key_service(&self, uri: &str) -> Result<Box<dyn RemoteKeyService>, KeyError> {
        crate::keyservice::Client::new(uri).map(|c| Box::new(c) as Box<dyn RemoteKeyService>)
    }

    #[cfg(not(feature = "keyservice"))]
    fn key_service(&self, uri: &str) -> Result<Box<dyn RemoteKeyService>, KeyError> {
        Err(KeyError::service(format!(
            "cannot use the key service {uri}: this build of sepal has no key service support (cargo feature `keyservice`)"
        )))
    }

    #[cfg(feature = "keyservice")]
    fn serve(&self, options: &ServeOptions) -> Result<(), ServeError> {
        crate::keyservice::serve(options.clone())
    }

    #[cfg(not(feature = "keyservice"))]
    fn serve(&self, _options: &ServeOptions) -> Result<(), ServeError> {
        Err(ServeError::Unavailable(
            "this build of sepal has no key service support (cargo feature `keyservice`)".into(),
        ))
    }
}
