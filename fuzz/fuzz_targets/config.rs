#![no_main]
//! `.sops.yaml` parsing and rule matching must never panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = sepal::config::Config::parse(text, Some("/r/.sops.yaml".into())) {
            let _ = c.rule_for(std::path::Path::new("/r/a/b.yaml"));
        }
    }
});
