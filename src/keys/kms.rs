//! AWS KMS master keys: the data key is wrapped with KMS `Encrypt` and unwrapped with `Decrypt`
//! under the key's ARN and encryption context, as sops does (`kms/keysource.go`).
//!
//! The region comes from the ARN, credentials from the AWS SDK's standard chain (environment,
//! shared config and credentials files, web identity, container and instance metadata), the
//! `aws_profile` field picks a shared-config profile and `role` is assumed through STS first
//! (session name `sops@<hostname>`). The SDK honours `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_KMS`. It is asynchronous: it runs on a small current-thread tokio runtime
//! created the first time a KMS key is used.
//!
//! Built only with the cargo feature `aws` (on by default); without it KMS keys fail with a
//! clear error.

use std::sync::OnceLock;

use super::KeyError;

/// sops's pattern for KMS key ARNs; capture 1 is the region.
const ARN_PATTERN: &str = r"^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$";

/// The region named by a KMS key ARN (or alias ARN), as sops extracts it.
pub fn region_of(arn: &str) -> Result<String, KeyError> {
    static RE: OnceLock<Result<regex::Regex, regex::Error>> = OnceLock::new();
    let re = RE
        .get_or_init(|| regex::Regex::new(ARN_PATTERN))
        .as_ref()
        .map_err(|e| KeyError::kms(format!("internal error in the KMS ARN pattern: {e}")))?;
    re.captures(arn)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .ok_or_else(|| KeyError::kms(format!("no valid ARN found in '{arn}'")))
}

/// The STS session name sops uses: `sops@<hostname>`, keeping only the characters sops keeps
/// (its Go character class `[a-zA-Z0-9=,.@-_]`, where `@-_` is the range 0x40..=0x5F), at most
/// 64 bytes.
pub fn session_name_for(hostname: &str) -> String {
    let kept: String = hostname
        .chars()
        .filter(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '=' | ',' | '.') || ('@'..='_').contains(c)
        })
        .collect();
    let mut name = format!("sops@{kept}");
    name.truncate(64);
    name
}

/// This machine's host name (empty if it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that many
    // bytes and we stop at the first NUL or at the end of the buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The AWS KMS key source.
#[derive(Default)]
pub struct KmsSource {
    #[cfg(feature = "aws")]
    runtime: std::cell::OnceCell<Result<tokio::runtime::Runtime, KeyError>>,
}

impl KmsSource {
    pub fn new() -> Self {
        KmsSource::default()
    }
}

#[cfg(not(feature = "aws"))]
mod stub {
    use super::KmsSource;
    use crate::keys::{KeyError, KeySource};
    use crate::metadata::{KeyKind, StoredKey};
    use crate::wipe::Wiped;

    impl KeySource for KmsSource {
        fn kind(&self) -> KeyKind {
            KeyKind::Kms
        }

        fn wrap(&self, spec: &StoredKey, _secret: &[u8]) -> Result<StoredKey, KeyError> {
            Err(not_built(spec))
        }

        fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
            Err(not_built(stored))
        }
    }

    fn not_built(key: &StoredKey) -> KeyError {
        KeyError::kms(format!(
            "AWS KMS key {}: this sepal was built without AWS KMS support (cargo feature `aws`)",
            key.id()
        ))
    }
}

#[cfg(feature = "aws")]
mod imp {
    use std::collections::HashMap;
    use std::future::Future;
    use std::time::Duration;

    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    use aws_config::retry::RetryConfig;
    use aws_config::sts::AssumeRoleProvider;
    use aws_config::timeout::TimeoutConfig;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_kms::config::ProvideCredentials;
    use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_kms::primitives::Blob;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use base64::Engine as _;

    use super::{hostname, region_of, session_name_for, KmsSource};
    use crate::keys::{KeyError, KeySource};
    use crate::metadata::{KeyKind, KmsKey, MasterKey, StoredKey};
    use crate::wipe::Wiped;

    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
    const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
    const MAX_ATTEMPTS: u32 = 3;

    impl KmsSource {
        fn runtime(&self) -> Result<&tokio::runtime::Runtime, KeyError> {
            self.runtime
                .get_or_init(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| {
                            KeyError::kms(format!("cannot start the runtime for AWS KMS: {e}"))
                        })
                })
                .as_ref()
                .map_err(Clone::clone)
        }

        /// Run a future to completion on the source's runtime. From inside another tokio
        /// runtime (the key service), the work moves to a helper thread, as a runtime cannot
        /// block inside another.
        fn block_on<T: Send>(
            &self,
            fut: impl Future<Output = Result<T, KeyError>> + Send,
        ) -> Result<T, KeyError> {
            let rt = self.runtime()?;
            let panicked = || KeyError::kms("the AWS SDK failed unexpectedly (it panicked)");
            if tokio::runtime::Handle::try_current().is_err() {
                // A panic inside the SDK becomes this key's error; other keys may still work.
                return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(fut)))
                    .unwrap_or_else(|_| Err(panicked()));
            }
            std::thread::scope(|s| {
                s.spawn(|| rt.block_on(fut))
                    .join()
                    .unwrap_or_else(|_| Err(panicked()))
            })
        }
    }

    fn set_but_empty(var: &str) -> bool {
        std::env::var_os(var).is_some_and(|v| v.is_empty())
    }

    /// Where a key lives, for messages.
    fn describe(key: &KmsKey, region: &str) -> String {
        let mut s = format!("AWS KMS key {} (region {region}", key.arn);
        if !key.role.is_empty() {
            s.push_str(&format!(", role {}", key.role));
        }
        if !key.aws_profile.is_empty() {
            s.push_str(&format!(", profile {}", key.aws_profile));
        }
        s.push(')');
        s
    }

    /// What AWS answered: the error code and message of a service error, else the chain of a
    /// transport or timeout failure.
    fn answer<E, R>(e: &SdkError<E, R>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match (e.code(), e.message()) {
            (Some(code), Some(msg)) => format!("AWS answered {code}: {msg}"),
            (Some(code), None) => format!("AWS answered {code}"),
            _ => chain(e),
        }
    }

    /// An error and its sources, `a: b: c`, each said once.
    fn chain(e: &(dyn std::error::Error + 'static)) -> String {
        let mut out = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            let t = c.to_string();
            if !t.is_empty() && !out.contains(&t) {
                out.push_str(": ");
                out.push_str(&t);
            }
            cur = c.source();
        }
        out
    }

    /// The KMS key an entry names (empty fields for an entry of another kind).
    fn kms_of(key: &StoredKey) -> KmsKey {
        match &key.key {
            MasterKey::Kms(k) => k.clone(),
            _ => KmsKey::default(),
        }
    }

    fn context_of(key: &KmsKey) -> Option<HashMap<String, String>> {
        if key.context.is_empty() {
            None
        } else {
            Some(
                key.context
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
    }

    /// A KMS client for a key: the region of its ARN, its profile, its role assumed first.
    async fn client(key: &KmsKey, region: &str) -> Result<aws_sdk_kms::Client, KeyError> {
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https.clone())
            .region(Region::new(region.to_string()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        let profile = key.aws_profile.as_str();
        if !profile.is_empty() {
            // As the Go SDK does for an explicitly chosen profile: its credentials win over the
            // environment's.
            loader = loader.profile_name(profile).credentials_provider(
                ProfileFileCredentialsProvider::builder()
                    .configure(&ProviderConfig::without_region().with_http_client(https))
                    .profile_name(profile)
                    .build(),
            );
        }
        if set_but_empty("AWS_ENDPOINT_URL_STS") && !key.role.is_empty() {
            return Err(KeyError::kms(format!(
                "{}: AWS_ENDPOINT_URL_STS is set but empty: unset it or give it a URL",
                describe(key, region)
            )));
        }
        let conf = loader.load().await;
        let mut builder = aws_sdk_kms::config::Builder::from(&conf);
        // The SDK takes a set-but-empty AWS_ENDPOINT_URL(_KMS) for a URL (and then panics);
        // Go's SDK, and so sops, treat it as unset.
        if set_but_empty("AWS_ENDPOINT_URL") || set_but_empty("AWS_ENDPOINT_URL_KMS") {
            let url = ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
            builder.set_endpoint_url(url);
        }
        // Load the credentials now, so a failure is reported as such rather than as a failed
        // request.
        let base = conf.credentials_provider().ok_or_else(|| {
            KeyError::kms(format!(
                "{}: no AWS credentials provider",
                describe(key, region)
            ))
        })?;
        let creds = base.provide_credentials().await.map_err(|e| {
            let whose = if profile.is_empty() {
                String::new()
            } else {
                format!(
                    " of profile '{profile}' (is it defined in the shared config or credentials \
                     file?)"
                )
            };
            KeyError::kms(format!(
                "{}: could not load AWS credentials{whose}: {}",
                describe(key, region),
                chain(&e)
            ))
        })?;
        let role = key.role.as_str();
        let creds = if role.is_empty() {
            creds
        } else {
            // Assume the role first (as sops does), authorised by those credentials.
            let provider = AssumeRoleProvider::builder(role)
                .session_name(session_name_for(&hostname()))
                .configure(&conf)
                .build_from_provider(creds)
                .await;
            provider.provide_credentials().await.map_err(|e| {
                KeyError::kms(format!(
                    "{}: failed to assume role '{role}': {}",
                    describe(key, region),
                    chain(&e)
                ))
            })?
        };
        builder = builder.credentials_provider(creds);
        Ok(aws_sdk_kms::Client::from_conf(builder.build()))
    }

    impl KeySource for KmsSource {
        fn kind(&self) -> KeyKind {
            KeyKind::Kms
        }

        fn wrap(&self, spec: &StoredKey, secret: &[u8]) -> Result<StoredKey, KeyError> {
            let key = kms_of(spec);
            let arn = key.arn.as_str();
            let region = region_of(arn)?;
            let blob = self.block_on(async {
                let client = client(&key, &region).await?;
                let out = client
                    .encrypt()
                    .key_id(arn)
                    .plaintext(Blob::new(secret.to_vec()))
                    .set_encryption_context(context_of(&key))
                    .send()
                    .await
                    .map_err(|e| {
                        KeyError::kms(format!(
                            "failed to encrypt sops data key with {}: {}",
                            describe(&key, &region),
                            answer(&e)
                        ))
                    })?;
                out.ciphertext_blob.map(Blob::into_inner).ok_or_else(|| {
                    KeyError::kms(format!(
                        "failed to encrypt sops data key with {}: AWS KMS returned no ciphertext",
                        describe(&key, &region)
                    ))
                })
            })?;
            Ok(spec.wrapped(base64::engine::general_purpose::STANDARD.encode(blob)))
        }

        fn unwrap(&self, stored: &StoredKey) -> Result<Wiped<Vec<u8>>, KeyError> {
            let key = kms_of(stored);
            let arn = key.arn.as_str();
            let region = region_of(arn)?;
            let blob = base64::engine::general_purpose::STANDARD
                .decode(stored.enc())
                .map_err(|e| {
                    KeyError::kms(format!(
                        "error base64-decoding encrypted data key of {}: {e}",
                        describe(&key, &region)
                    ))
                })?;
            self.block_on(async {
                let client = client(&key, &region).await?;
                let out = client
                    .decrypt()
                    .key_id(arn)
                    .ciphertext_blob(Blob::new(blob))
                    .set_encryption_context(context_of(&key))
                    .send()
                    .await
                    .map_err(|e| {
                        KeyError::kms(format!(
                            "failed to decrypt sops data key with {}: {}",
                            describe(&key, &region),
                            answer(&e)
                        ))
                    })?;
                out.plaintext
                    .map(|b| Wiped::new(b.into_inner()))
                    .ok_or_else(|| {
                        KeyError::kms(format!(
                            "failed to decrypt sops data key with {}: AWS KMS returned no plaintext",
                            describe(&key, &region)
                        ))
                    })
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert_eq!(
            region_of("arn:aws:kms:us-east-1:123456789012:key/1234").unwrap(),
            "us-east-1"
        );
        assert_eq!(
            region_of("arn:aws-us-gov:kms:us-gov-west-1:1:alias/x").unwrap(),
            "us-gov-west-1"
        );
        assert_eq!(
            region_of("arn:aws-cn:kms:cn-north-1:1:key/k").unwrap(),
            "cn-north-1"
        );
        let e = region_of("arn:aws:s3:::bucket").unwrap_err();
        assert_eq!(e.to_string(), "no valid ARN found in 'arn:aws:s3:::bucket'");
        assert!(region_of("").is_err());
    }

    #[test]
    fn session_names() {
        // sops's class keeps `@` to `_` as a range, not `-`: dashes are dropped, as sops does.
        assert_eq!(
            session_name_for("host-1.example.com"),
            "sops@host1.example.com"
        );
        assert_eq!(session_name_for("my host_[x]!~é"), "sops@myhost_[x]");
        let long = "a".repeat(100);
        assert_eq!(session_name_for(&long).len(), 64);
        assert!(session_name_for(&hostname()).starts_with("sops@"));
    }

    #[cfg(not(feature = "aws"))]
    #[test]
    fn not_built_errors() {
        use crate::keys::KeySource;
        let k = crate::config::kms_key("arn:aws:kms:us-east-1:1:key/x", "");
        assert!(KmsSource::new()
            .wrap(&k, b"x")
            .unwrap_err()
            .to_string()
            .contains("feature `aws`"));
    }
}
