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
    // What the commands write back is metadata they could read: anything else is refused first.
    let metadata = crate::metadata::Metadata::from_value(parsed.metadata.as_ref())
        .ok()
        .map(|m| m.to_value());
    if parsed.metadata.is_some() && metadata.is_none() {
        return;
    }
    let Ok(out) = store.splice(&parsed, &changes, metadata.as_ref()) else {
        return;
    };
    if parsed.metadata.is_none() {
        assert_eq!(out, data, "an unchanged splice must give the input back");
    }
    let again = store.parse(&out);
    assert!(again.is_ok(), "spliced output must parse again");
}
