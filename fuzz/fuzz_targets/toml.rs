#![no_main]
//! The TOML store: its parser never panics; a file it accepts splices back to itself unchanged; and
//! encrypting it either refuses or gives an output that passes the accounted-for check (no value
//! in clear, within the expansion budget) and decrypts to the same data.

use libfuzzer_sys::fuzz_target;
use sepal::fuzzing::{encrypt_accounted, parse_and_splice};
use sepal::stores::Format;

fuzz_target!(|data: &[u8]| {
    parse_and_splice(Format::Toml, data);
    encrypt_accounted(Format::Toml, data, None);
});
