//! Laying a tree out from scratch as sops writes JSON (Go's `json.Marshal` + `json.Indent`), with
//! the indentation the options ask for.

use crate::stores::gojson::GoJsonWriter;
use crate::stores::{StoreError, StoreOptions};
use crate::tree::{Item, Tree, Value};

/// Indentation unit of a JSON output: `-1` (or unset) = tab, `N` = N spaces.
pub(super) fn indent_unit(indent: Option<i64>) -> Result<String, StoreError> {
    match indent {
        None | Some(-1) => Ok("\t".to_string()),
        Some(n) if n >= 0 => Ok(" ".repeat(n.min(1 << 16) as usize)),
        Some(_) => Err(StoreError::new(
            "JSON Indentation parameter smaller than -1 is not accepted",
        )),
    }
}

/// Write a whole document as sops does.
pub(crate) fn emit_items(
    items: &[Item],
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let unit = indent_unit(options.indent)?;
    let writer = GoJsonWriter {
        indent_unit: &unit,
        newline: "\n",
    };
    let sops_key = "sops".to_string();
    let mut pairs: Vec<(&String, &Value)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Pair { key, value } => Some((key, value)),
            _ => None,
        })
        .collect();
    if let Some(m) = metadata {
        pairs.push((&sops_key, m));
    }
    let mut out = Vec::new();
    writer.map(&mut out, &pairs, 0)?;
    out.push(b'\n');
    Ok(out)
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let empty = Vec::new();
    let items = tree.docs.first().map(|d| &d.items).unwrap_or(&empty);
    emit_items(items, metadata, options)
}

pub fn emit_value(value: &Value, options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let unit = indent_unit(options.indent)?;
    let writer = GoJsonWriter {
        indent_unit: &unit,
        newline: "\n",
    };
    let mut out = Vec::new();
    writer.value(&mut out, value, 0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::json::parse;
    use crate::stores::Parsed;

    fn parse_ok(src: &str) -> Parsed {
        parse(src.as_bytes()).unwrap()
    }

    #[test]
    fn emit_like_go() {
        let p = parse_ok(
            r#"{"a": "<x>", "n": 1.0, "f": 0.00000025, "l": [], "m": {}, "k": [1, {"z": null}]}"#,
        );
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\t\"a\": \"\\u003cx\\u003e\",\n\t\"n\": 1,\n\t\"f\": 2.5e-7,\n\t\"l\": [],\n\t\"m\": {},\n\t\"k\": [\n\t\t1,\n\t\t{\n\t\t\t\"z\": null\n\t\t}\n\t]\n}\n"
        );
        let v = emit_value(
            &p.tree.docs[0]
                .items
                .iter()
                .find_map(|i| match i {
                    Item::Pair { key, value } if key == "k" => Some(value.clone()),
                    _ => None,
                })
                .unwrap(),
            &StoreOptions { indent: Some(2) },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "[\n  1,\n  {\n    \"z\": null\n  }\n]"
        );
    }

    // Output of `sops decrypt` (3.11) for SOPS_IN encrypted by sops.
    const SOPS_IN: &str = "{\"a\": \"<x> & \\u0001 \\b \\f \\u2028 \u{e9}\", \"n\": 1.0, \"f\": 0.00000025, \"big\": 1e21, \"i\": 12345678901234567890, \"l\": [], \"m\": {}, \"k\": [1, {\"z\": null}], \"t\": true}";
    const SOPS_OUT: &str = "{\n\t\"a\": \"\\u003cx\\u003e \\u0026 \\u0001 \\b \\f \\u2028 \u{e9}\",\n\t\"n\": 1,\n\t\"f\": 2.5e-7,\n\t\"big\": 1e+21,\n\t\"i\": 12345678901234567000,\n\t\"l\": [],\n\t\"m\": {},\n\t\"k\": [\n\t\t1,\n\t\t{\n\t\t\t\"z\": null\n\t\t}\n\t],\n\t\"t\": true\n}\n";

    #[test]
    fn emit_matches_sops() {
        let p = parse_ok(SOPS_IN);
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), SOPS_OUT);
    }
}
