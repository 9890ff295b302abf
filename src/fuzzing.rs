//! Entry points shared by the fuzz targets and the tests that replay their findings.

use crate::stores::{Format, Store, StoreOptions};
use crate::tree::leaf_count;

/// Parse `data` as `format`; if it parses, splicing with no change must give `data` back, and
/// re-parsing that must give the same tree. Panics (for the fuzzer) when either fails.
pub fn parse_and_splice(format: Format, data: &[u8]) {
    let store = Store::new(format, StoreOptions::default());
    let Ok(parsed) = store.parse(data) else {
        return;
    };
    let changes = vec![None; leaf_count(&parsed.tree)];
    let Ok(out) = store.splice(&parsed, &changes, parsed.metadata.as_ref()) else {
        return;
    };
    if parsed.metadata.is_none() {
        assert_eq!(out, data, "an unchanged splice must give the input back");
    }
    let again = store.parse(&out);
    assert!(again.is_ok(), "spliced output must parse again");
}
