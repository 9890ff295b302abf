#![no_main]
//! The json store: its parser never panics; a file it accepts splices back to itself unchanged; and
//! encrypting it either refuses or gives an output that passes the accounted-for check (no value
//! in clear, within the expansion budget) and decrypts to the same data; read in two halves at
//! once (as a large file is), it reads as on one thread; the reading that keeps no tree (an
//! output's check) reads it as the full reading does; the reading that leaves ciphertexts in the
//! source (a decryption's) reads it as the one that copies them.

use libfuzzer_sys::fuzz_target;
use sepal::fuzzing::{encrypt_accounted, json_halves_agree, json_lean_agrees, parse_and_splice};
use sepal::stores::Format;

fuzz_target!(|data: &[u8]| {
    parse_and_splice(Format::Json, data);
    json_halves_agree(data);
    json_lean_agrees(data);
    encrypt_accounted(Format::Json, data, None);
    sepal::fuzzing::lending_agrees(Format::Json, data);
});
