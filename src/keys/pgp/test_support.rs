//! What the OpenPGP tests share: throwaway keys written to files, a key source without gpg, and
//! the checks every stored entry must pass.

use std::path::{Path, PathBuf};

use sequoia_openpgp::cert::prelude::*;
use sequoia_openpgp::cert::CipherSuite;
use sequoia_openpgp::serialize::SerializeInto;
use sequoia_openpgp::Cert;

use super::{PgpSettings, PgpSource};
use crate::metadata::{MasterKey, StoredKey};

pub(super) const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
pub(super) const NO_GPG: &str = "/nonexistent/sepal-test/gpg";

pub(super) fn generate(cs: CipherSuite) -> Cert {
    CertBuilder::general_purpose(Some("Test <t@example.com>"))
        .set_cipher_suite(cs)
        .generate()
        .unwrap()
        .0
}

/// Write the public and the secret key of `cert` to files in `dir`.
pub(super) fn write_keys(dir: &Path, cert: &Cert, armored: bool) -> (PathBuf, PathBuf) {
    let name = cert.fingerprint().to_hex();
    let public = dir.join(format!("{name}.pub"));
    let secret = dir.join(format!("{name}.sec"));
    if armored {
        std::fs::write(&public, cert.armored().to_vec().unwrap()).unwrap();
        std::fs::write(&secret, cert.as_tsk().armored().to_vec().unwrap()).unwrap();
    } else {
        std::fs::write(&public, cert.to_vec().unwrap()).unwrap();
        std::fs::write(&secret, cert.as_tsk().to_vec().unwrap()).unwrap();
    }
    (public, secret)
}

/// A key source that only has the native back end, with the key files `files`.
pub(super) fn native(files: &[&Path]) -> PgpSource {
    PgpSource::new(PgpSettings {
        gpg_exec: NO_GPG.into(),
        gnupg_home: None,
        key_files: files.iter().map(|p| p.to_path_buf()).collect(),
    })
}

pub(super) fn spec(fp: &str) -> StoredKey {
    let mut k = StoredKey::new(MasterKey::Pgp {
        fingerprint: fp.into(),
    });
    k.created_at = Some("2024-01-01T00:00:00Z".into());
    k
}

pub(super) fn check_armor(stored: &StoredKey, fp: &str) {
    let enc = stored.enc();
    assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n"), "{enc}");
    assert!(enc.ends_with("\n-----END PGP MESSAGE-----"), "{enc}");
    assert_eq!(stored.id(), fp);
    assert_eq!(stored.created_at.as_deref(), Some("2024-01-01T00:00:00Z"));
}
