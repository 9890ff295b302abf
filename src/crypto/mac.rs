//! sops's MAC: SHA-512 over the typed plaintext of every value, in walk order.

use sha2::{Digest, Sha256, Sha512};

/// Accumulates the MAC while a tree is walked.
pub struct MacHasher {
    hasher: Sha512,
    only_encrypted: bool,
}

impl MacHasher {
    pub fn new(only_encrypted: bool) -> Self {
        let mut hasher = Sha512::new();
        if only_encrypted {
            hasher.update(Sha256::digest(b"sops"));
        }
        MacHasher {
            hasher,
            only_encrypted,
        }
    }

    /// Feed one non-comment, non-null value's canonical bytes.
    pub fn feed(&mut self, bytes: &[u8], encrypted: bool) {
        if encrypted || !self.only_encrypted {
            self.hasher.update(bytes);
        }
    }

    /// The MAC as sops writes it: 128 uppercase hex digits.
    pub fn finish(self) -> String {
        hex::encode_upper(self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_prefix() {
        let m = MacHasher::new(false).finish();
        assert_eq!(m.len(), 128);
        assert!(m.starts_with("CF83E1357EEFB8BD"));
        let a = MacHasher::new(true).finish();
        assert_ne!(a, m);
    }
}
