#![no_main]
//! The yaml store: its parser never panics; a file it accepts splices back to itself unchanged; and
//! encrypting it either refuses or gives an output that passes the accounted-for check (no value
//! in clear, within the expansion budget) and decrypts to the same data. The independent reader
//! of the accounted-for check (libyaml, event by event) reads any bytes without panicking. The
//! read-back compared event by event never confirms what the full reading refuses. The fast
//! reading of plain block YAML gives granit-parser's events wherever it reads. The system's
//! libyaml (where the build links it) reads as the translated one. The reading that leaves
//! ciphertexts in the source (a decryption's) reads as the one that copies them.

use libfuzzer_sys::fuzz_target;
use sepal::fuzzing::{encrypt_accounted, parse_and_splice};
use sepal::stores::Format;

fuzz_target!(|data: &[u8]| {
    parse_and_splice(Format::Yaml, data);
    encrypt_accounted(Format::Yaml, data, None);
    sepal::fuzzing::lending_agrees(Format::Yaml, data);
    let _ = sepal::verify::independent_reading(Format::Yaml, data, &Default::default());
    sepal::fuzzing::yaml_readback_agrees(data);
    sepal::fuzzing::yaml_fast_reading_agrees(data);
    sepal::fuzzing::libyaml_builds_agree(data);
});
