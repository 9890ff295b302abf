#![no_main]
//! The dotenv parser must never panic, and a file it accepts must splice back to itself unchanged.

use libfuzzer_sys::fuzz_target;
use sepal::fuzzing::parse_and_splice;
use sepal::stores::Format;

fuzz_target!(|data: &[u8]| {
    parse_and_splice(Format::Dotenv, data);
});
