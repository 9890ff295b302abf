//! OpenPGP fingerprints as users write them: normalizing one into a query that finds its key (or
//! subkey) in a certificate, and shortening one to the long key ID sops passes to gpg. Both back
//! ends name keys this way, so the rules live here once.

use sequoia_openpgp::{Cert, Fingerprint, KeyHandle};

use crate::keys::KeyError;

/// The last 16 characters of a fingerprint (its long key ID), ignoring a trailing `!`, as sops
/// passes it to `--trusted-key`.
pub(super) fn shorten_fingerprint(fp: &str) -> &str {
    let mut offset = fp.len() as isize - 16;
    if fp.ends_with('!') {
        offset -= 1;
    }
    if offset > 0 {
        fp.get(offset as usize..).unwrap_or(fp)
    } else {
        fp
    }
}

/// A fingerprint (or long key ID) as the user gave it, normalized for matching.
pub(super) struct FingerprintQuery {
    /// Upper-case hex without spaces, `0x` or `!`.
    hex: String,
}

impl FingerprintQuery {
    pub(super) fn parse(fp: &str) -> Result<FingerprintQuery, KeyError> {
        let mut hex: String = fp.chars().filter(|c| !c.is_whitespace()).collect();
        if hex.ends_with('!') {
            hex.pop();
        }
        if hex.starts_with("0x") || hex.starts_with("0X") {
            hex.drain(..2);
        }
        let hex = hex.to_ascii_uppercase();
        if !matches!(hex.len(), 16 | 40 | 64) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::pgp(format!(
                "{fp:?} is not an OpenPGP fingerprint (expected 40 or 64 hex digits)"
            )));
        }
        Ok(FingerprintQuery { hex })
    }

    /// Does `cert` have this fingerprint? `Some(None)`: its primary key; `Some(Some(h))`: the
    /// subkey `h`.
    pub(super) fn matches(&self, cert: &Cert) -> Option<Option<KeyHandle>> {
        let is_hit = |fingerprint: &Fingerprint| {
            let hex = fingerprint.to_hex();
            hex == self.hex || (self.hex.len() == 16 && hex.ends_with(&self.hex))
        };
        if is_hit(&cert.fingerprint()) {
            return Some(None);
        }
        cert.keys()
            .subkeys()
            .find(|subkey| is_hit(&subkey.key().fingerprint()))
            .map(|subkey| Some(subkey.key().key_handle()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_fingerprint() {
        let fp = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
        assert_eq!(shorten_fingerprint(fp), "3D16CEE4A27381B4");
        assert_eq!(shorten_fingerprint(&format!("{fp}!")), "3D16CEE4A27381B4!");
        assert_eq!(shorten_fingerprint("ABCD"), "ABCD");
    }
}
