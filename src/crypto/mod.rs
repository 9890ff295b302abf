//! Cryptography: the per-value AES-256-GCM cipher, the data key, the MAC and Shamir sharing.

pub mod cipher;
pub mod gotext;
pub mod mac;

pub use cipher::{DataKey, EncryptedValue};
