#![no_main]
//! Parsing `ENC[...]` strings must never panic, and what parses prints back the same way.

use libfuzzer_sys::fuzz_target;
use sepal::crypto::EncryptedValue;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = EncryptedValue::parse(text) {
            let again = EncryptedValue::parse(&v.to_string());
            assert_eq!(again.as_ref(), Ok(&v));
        }
    }
});
