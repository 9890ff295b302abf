//! The messages between `sepal` and the `sepal-keys` helper, and their bytes on the pipe.
//!
//! A frame is a little-endian `u32` length and that many bytes. Texts and byte strings inside
//! are length-prefixed the same way; a map is a count and its pairs. Each message is built in,
//! and read from, one [`Wiped`] buffer, because requests to wrap carry the data key and
//! answers to unwrap return it.
//!
//! The helper's first frame is a greeting naming its version; `sepal` refuses a helper of
//! another version, since both sides are built from one source and nothing else is promised.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::keys::{KeyError, KeyOrigin};
use crate::metadata::{KeyKind, StoredKey};
use crate::wipe::Wiped;

/// The largest frame either side accepts (a wrapped data key is a few KiB at most).
const MAX_FRAME: usize = 1 << 24;

/// What the greeting frame starts with; the version follows.
const GREETING: &[u8] = b"sepal-keys ";

const TO_KMS: u8 = 1;
const TO_VAULT: u8 = 2;
const TO_SERVICE: u8 = 3;

const WRAP: u8 = 1;
const UNWRAP: u8 = 2;

const KEY: u8 = 1;
const SECRET: u8 = 2;
const FAILED: u8 = 3;

/// A message that is not one of this protocol's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the message ends early")]
    Truncated,
    #[error("the message has {0} bytes after its end")]
    Trailing(usize),
    #[error("unknown message tag {0}")]
    Tag(u8),
    #[error("a text field is not UTF-8")]
    NotText,
    #[error("unknown key kind {0:?}")]
    Kind(String),
    #[error("a frame of {0} bytes is larger than the limit")]
    TooLarge(usize),
    #[error("the greeting is not sepal-keys's")]
    Greeting,
}

/// Where a request goes: the helper's own KMS or Vault transit source, or a key service by URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Kms,
    Vault,
    Service(String),
}

/// A request from `sepal`. (`Debug` leaves the secret out.)
#[derive(PartialEq)]
pub enum Request {
    /// Wrap `secret` for the key named by `spec`.
    Wrap {
        target: Route,
        spec: StoredKey,
        secret: Wiped<Vec<u8>>,
    },
    /// Recover the secret from `stored`.
    Unwrap { target: Route, stored: StoredKey },
}

/// The helper's answer. (`Debug` leaves the secret out.)
#[derive(PartialEq)]
pub enum Reply {
    Key(StoredKey),
    Secret(Wiped<Vec<u8>>),
    Failed(KeyError),
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Wrap { target, spec, .. } => {
                write!(f, "Wrap {{ target: {target:?}, spec: {} }}", spec.id())
            }
            Request::Unwrap { target, stored } => {
                write!(
                    f,
                    "Unwrap {{ target: {target:?}, stored: {} }}",
                    stored.id()
                )
            }
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Key(k) => write!(f, "Key({})", k.id()),
            Reply::Secret(s) => write!(f, "Secret({} bytes)", s.len()),
            Reply::Failed(e) => write!(f, "Failed({e:?})"),
        }
    }
}

/// Read one frame; `None` at the end of the stream before a frame starts.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Wiped<Vec<u8>>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            WireError::TooLarge(len),
        ));
    }
    let mut frame = Wiped::new(vec![0u8; len]);
    input.read_exact(&mut frame)?;
    Ok(Some(frame))
}

/// Write `payload` as one frame, with a single write of one buffer.
pub fn write_frame(output: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                WireError::TooLarge(payload.len()),
            )
        })?;
    let mut frame = Wiped::new(Vec::with_capacity(4 + payload.len()));
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(payload);
    output.write_all(&frame)?;
    output.flush()
}

/// The greeting's payload for this build.
pub fn greeting() -> Vec<u8> {
    [GREETING, env!("CARGO_PKG_VERSION").as_bytes()].concat()
}

/// The version a greeting names.
pub fn greeting_version(frame: &[u8]) -> Result<&str, WireError> {
    let version = frame.strip_prefix(GREETING).ok_or(WireError::Greeting)?;
    std::str::from_utf8(version).map_err(|_| WireError::Greeting)
}

impl Request {
    pub fn encode(&self) -> Wiped<Vec<u8>> {
        let mut out = Writer::default();
        match self {
            Request::Wrap {
                target,
                spec,
                secret,
            } => {
                out.u8(WRAP);
                out.target(target);
                out.key(spec);
                out.bytes(secret);
            }
            Request::Unwrap { target, stored } => {
                out.u8(UNWRAP);
                out.target(target);
                out.key(stored);
            }
        }
        out.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        let mut r = Reader(bytes);
        let request = match r.u8()? {
            WRAP => Request::Wrap {
                target: r.target()?,
                spec: r.key()?,
                secret: Wiped::new(r.bytes()?.to_vec()),
            },
            UNWRAP => Request::Unwrap {
                target: r.target()?,
                stored: r.key()?,
            },
            tag => return Err(WireError::Tag(tag)),
        };
        r.end()?;
        Ok(request)
    }
}

impl Reply {
    pub fn encode(&self) -> Wiped<Vec<u8>> {
        let mut out = Writer::default();
        match self {
            Reply::Key(k) => {
                out.u8(KEY);
                out.key(k);
            }
            Reply::Secret(s) => {
                out.u8(SECRET);
                out.bytes(s);
            }
            Reply::Failed(e) => {
                out.u8(FAILED);
                out.str(match e.origin {
                    KeyOrigin::Source(kind) => kind.name(),
                    KeyOrigin::Service => "service",
                    KeyOrigin::Keyring => "keyring",
                });
                out.str(e.message());
            }
        }
        out.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Reply, WireError> {
        let mut r = Reader(bytes);
        let reply = match r.u8()? {
            KEY => Reply::Key(r.key()?),
            SECRET => Reply::Secret(Wiped::new(r.bytes()?.to_vec())),
            FAILED => {
                let origin = match r.str()? {
                    "service" => KeyOrigin::Service,
                    "keyring" => KeyOrigin::Keyring,
                    name => KeyOrigin::Source(
                        KeyKind::from_name(name).ok_or_else(|| WireError::Kind(name.into()))?,
                    ),
                };
                Reply::Failed(KeyError::new(origin, r.str()?))
            }
            tag => return Err(WireError::Tag(tag)),
        };
        r.end()?;
        Ok(reply)
    }
}

/// Builds one message in a buffer that is wiped when dropped.
#[derive(Default)]
struct Writer(Wiped<Vec<u8>>);

impl Writer {
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        // Frames are capped far below 4 GiB, so a field's length always fits.
        self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.0.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn map(&mut self, m: &BTreeMap<String, String>) {
        self.0.extend_from_slice(&(m.len() as u32).to_le_bytes());
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }

    fn target(&mut self, t: &Route) {
        match t {
            Route::Kms => self.u8(TO_KMS),
            Route::Vault => self.u8(TO_VAULT),
            Route::Service(uri) => {
                self.u8(TO_SERVICE);
                self.str(uri);
            }
        }
    }

    fn key(&mut self, k: &StoredKey) {
        let (fields, context) = k.to_fields();
        self.str(k.kind().name());
        self.map(&fields);
        self.map(&context);
    }
}

/// Reads one message's fields in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| WireError::NotText)
    }

    fn map(&mut self) -> Result<BTreeMap<String, String>, WireError> {
        let n = self.u32()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            m.insert(k.to_string(), self.str()?.to_string());
        }
        Ok(m)
    }

    fn target(&mut self) -> Result<Route, WireError> {
        Ok(match self.u8()? {
            TO_KMS => Route::Kms,
            TO_VAULT => Route::Vault,
            TO_SERVICE => Route::Service(self.str()?.to_string()),
            tag => return Err(WireError::Tag(tag)),
        })
    }

    fn key(&mut self) -> Result<StoredKey, WireError> {
        let name = self.str()?;
        let kind = KeyKind::from_name(name).ok_or_else(|| WireError::Kind(name.into()))?;
        let fields = self.map()?;
        let context = self.map()?;
        Ok(StoredKey::from_fields(kind, fields, context))
    }

    fn end(&self) -> Result<(), WireError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{KmsKey, MasterKey};

    fn kms_key() -> StoredKey {
        let mut context = BTreeMap::new();
        context.insert("app".to_string(), "web".to_string());
        context.insert("env".to_string(), "prod".to_string());
        let mut k = StoredKey::new(MasterKey::Kms(KmsKey {
            arn: "arn:aws:kms:eu-west-1:111122223333:key/abc".into(),
            role: "arn:aws:iam::111122223333:role/r".into(),
            context,
            aws_profile: "dev".into(),
        }))
        .wrapped("AQICAHh...".into());
        k.created_at = Some("2026-12-03T10:00:00Z".into());
        k.extra.insert("future_field".into(), "kept".into());
        k
    }

    fn pgp_key() -> StoredKey {
        StoredKey::new(MasterKey::Pgp {
            fingerprint: "ABCDEF0123456789".into(),
        })
    }

    #[test]
    fn requests_and_replies_read_back_as_written() {
        let requests = [
            Request::Wrap {
                target: Route::Kms,
                spec: kms_key().unwrapped(),
                secret: Wiped::new((0..32).collect()),
            },
            Request::Unwrap {
                target: Route::Kms,
                stored: kms_key(),
            },
            Request::Unwrap {
                target: Route::Vault,
                stored: pgp_key().wrapped("vault:v1:abc".into()),
            },
            Request::Wrap {
                target: Route::Service("unix:///run/ks.sock".into()),
                spec: pgp_key(),
                secret: Wiped::new(vec![]),
            },
            Request::Unwrap {
                target: Route::Service("tcp://127.0.0.1:5000".into()),
                stored: pgp_key().wrapped("-----BEGIN PGP MESSAGE-----\n...".into()),
            },
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
        let replies = [
            Reply::Key(kms_key()),
            Reply::Secret(Wiped::new(vec![7; 32])),
            Reply::Failed(KeyError::kms("AWS KMS key arn:a: access denied")),
            Reply::Failed(KeyError::service("could not reach the key service")),
            Reply::Failed(KeyError::keyring("no key")),
            Reply::Failed(KeyError::new(KeyOrigin::Source(KeyKind::HcVault), "sealed")),
        ];
        for r in replies {
            assert_eq!(Reply::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn every_cut_and_every_extra_byte_is_refused() {
        let whole = Request::Wrap {
            target: Route::Kms,
            spec: kms_key(),
            secret: Wiped::new(vec![1; 32]),
        }
        .encode();
        for cut in 0..whole.len() {
            assert_eq!(
                Request::decode(&whole[..cut]),
                Err(WireError::Truncated),
                "cut at {cut}"
            );
        }
        let mut longer = whole.to_vec();
        longer.push(0);
        assert_eq!(Request::decode(&longer), Err(WireError::Trailing(1)));
        assert_eq!(Request::decode(&[9]), Err(WireError::Tag(9)));
        assert_eq!(Request::decode(&[UNWRAP, 7]), Err(WireError::Tag(7)));
        assert_eq!(Reply::decode(&[0]), Err(WireError::Tag(0)));
        let mut bad_kind = Writer::default();
        bad_kind.u8(UNWRAP);
        bad_kind.u8(TO_KMS);
        bad_kind.str("rot13");
        assert_eq!(
            Request::decode(&bad_kind.0),
            Err(WireError::Kind("rot13".into()))
        );
        let mut not_text = Writer::default();
        not_text.u8(FAILED);
        not_text.bytes(&[0xff]);
        assert_eq!(Reply::decode(&not_text.0), Err(WireError::NotText));
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut pipe = Vec::new();
        write_frame(&mut pipe, b"one").unwrap();
        write_frame(&mut pipe, b"").unwrap();
        let mut input = pipe.as_slice();
        assert_eq!(
            read_frame(&mut input)
                .unwrap()
                .as_deref()
                .map(Vec::as_slice),
            Some(&b"one"[..])
        );
        assert_eq!(
            read_frame(&mut input)
                .unwrap()
                .as_deref()
                .map(Vec::as_slice),
            Some(&b""[..])
        );
        assert!(read_frame(&mut input).unwrap().is_none());
        // A frame cut short is an error, not the end.
        let mut cut = &pipe[..5];
        assert_eq!(
            read_frame(&mut cut).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut half_length = &pipe[..2];
        assert!(read_frame(&mut half_length).is_err());
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert_eq!(
            read_frame(&mut &huge[..]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, .. Default::default() })]

        /// Any bytes: decoding never panics, and what decodes encodes to the same message.
        #[test]
        fn any_bytes_decode_without_panic_and_round_trip(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(r) = Request::decode(&data) {
                let again = Request::decode(&r.encode());
                proptest::prop_assert_eq!(again.as_ref(), Ok(&r));
            }
            if let Ok(r) = Reply::decode(&data) {
                let again = Reply::decode(&r.encode());
                proptest::prop_assert_eq!(again.as_ref(), Ok(&r));
            }
        }

        /// Random keys and secrets survive a request's and a reply's round trip.
        #[test]
        fn random_keys_round_trip(
            arn in "[ -~]{0,20}",
            context in proptest::collection::btree_map("[a-z]{1,4}", "[ -~é]{0,6}", 0..3),
            extra in proptest::collection::btree_map("x_[a-z]{1,4}", "[ -~]{0,6}", 0..3),
            secret in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            uri in "(unix:///[a-z]{1,8}|tcp://h:[0-9]{1,4})?",
        ) {
            let mut key = StoredKey::new(MasterKey::Kms(KmsKey {
                arn,
                context,
                ..KmsKey::default()
            }));
            key.extra = extra;
            let target = if uri.is_empty() { Route::Kms } else { Route::Service(uri) };
            let request = Request::Wrap { target, spec: key.clone(), secret: Wiped::new(secret.clone()) };
            proptest::prop_assert_eq!(Request::decode(&request.encode()), Ok(request));
            let reply = Reply::Secret(Wiped::new(secret));
            proptest::prop_assert_eq!(Reply::decode(&reply.encode()), Ok(reply));
            let reply = Reply::Key(key);
            proptest::prop_assert_eq!(Reply::decode(&reply.encode()), Ok(reply));
        }
    }

    #[test]
    fn greetings_name_the_version() {
        assert_eq!(greeting_version(&greeting()), Ok(env!("CARGO_PKG_VERSION")));
        assert_eq!(greeting_version(b"hello"), Err(WireError::Greeting));
    }
}
