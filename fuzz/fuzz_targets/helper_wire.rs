#![no_main]
//! The messages between sepal and its `sepal-keys` helper: decoding any bytes never panics, and
//! what decodes encodes to bytes that decode to the same message.

use libfuzzer_sys::fuzz_target;
use sepal::keys::helper::wire::{Reply, Request};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Request::decode(data) {
        assert_eq!(Request::decode(&r.encode()).as_ref(), Ok(&r));
    }
    if let Ok(r) = Reply::decode(data) {
        assert_eq!(Reply::decode(&r.encode()).as_ref(), Ok(&r));
    }
});
