#![no_main]
//! A decrypted layout record applied to a spliced plaintext must never panic (the input is split
//! at its first NUL: the record's JSON, then the plaintext).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (payload, spliced) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    sepal::fuzzing::layout_record_payload(payload, spliced);
});
