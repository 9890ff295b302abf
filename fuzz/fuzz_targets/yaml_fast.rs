#![no_main]
//! The fast reading of plain block YAML: on any text it reads through, it gives granit-parser's
//! events with their spans, in order; on any text it declines, the events it gave first are
//! granit-parser's first ones. (The `yaml` target checks the same among its other checks; this
//! one runs many more inputs a second.)

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sepal::fuzzing::yaml_fast_reading_agrees(data);
});
