//! Cryptography: the per-value AES-256-GCM cipher and the data key, and the MAC. (Shamir
//! sharing of the data key is the keyring's job, in `keys`.)

pub mod cipher;
pub mod mac;

pub use cipher::{DataKey, EncryptedValue};
