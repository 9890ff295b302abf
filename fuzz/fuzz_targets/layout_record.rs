#![no_main]
//! The layout record on fuzzed input (see `sepal::fuzzing::layout_record_payload`): the input is
//! split at NUL bytes into a decrypted record's JSON, a spliced plaintext and an original.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let payload = parts.next().unwrap_or_default();
    let spliced = parts.next().unwrap_or_default();
    let original = parts.next().unwrap_or_default();
    sepal::fuzzing::layout_record_payload(payload, spliced, original);
});
