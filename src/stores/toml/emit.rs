//! Writing TOML from scratch: a document from a tree (plain keys, then `[tables]` and
//! `[[arrays of tables]]`), the `[sops]` table, and the canonical spelling of one value (what a
//! splice writes when a decrypted value's own spelling is not known). What TOML cannot hold (a
//! null, a top-level array) is refused with the path.

use crate::stores::{StoreError, StoreOptions};
use crate::tree::{Item, Scalar, Tree, Value};
use crate::wipe::Wiped;

/// sops's path form of `path` (`["a"][0]`), for error messages.
fn path_text(path: &[String]) -> String {
    path.iter().map(|p| format!("[{p}]")).collect()
}

fn null_error(path: &[String]) -> StoreError {
    StoreError::new(format!(
        "toml: the null value at {} cannot be stored in TOML (it has no null)",
        path_text(path)
    ))
}

/// A key, bare when TOML allows it, else a basic string.
pub(super) fn push_key(out: &mut Vec<u8>, key: &str) {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        out.extend_from_slice(key.as_bytes());
    } else {
        push_basic_string(out, key);
    }
}

/// A TOML basic string (`"…"`, escapes for quotes, backslashes and control characters).
pub(super) fn push_basic_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s, false);
    out.push(b'"');
}

fn push_escaped(out: &mut Vec<u8>, s: &str, keep_lf: bool) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' if keep_lf => out.push(b'\n'),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// A string: multi-line basic (`"""` + line break) when it holds line breaks, else basic.
fn push_string(out: &mut Vec<u8>, s: &str) {
    if s.contains('\n') {
        out.extend_from_slice(b"\"\"\"\n");
        push_escaped(out, s, true);
        out.extend_from_slice(b"\"\"\"");
    } else {
        push_basic_string(out, s);
    }
}

/// A float as TOML spells it (always with a `.` or an exponent; `inf`, `nan`).
pub(super) fn float_text(f: f64) -> String {
    if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{f:?}")
    }
}

/// The canonical TOML token of a scalar (strings as basic strings; a timestamp bare when TOML
/// reads it as a date-time, else as a string).
pub(super) fn push_scalar(
    out: &mut Vec<u8>,
    value: &Scalar,
    path: &[String],
    multi_line: bool,
) -> Result<(), StoreError> {
    match value {
        Scalar::Null => return Err(null_error(path)),
        Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Scalar::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Scalar::Float(f) => out.extend_from_slice(float_text(*f).as_bytes()),
        Scalar::Time(t) if t.parse::<toml_edit::Datetime>().is_ok() => {
            out.extend_from_slice(t.as_bytes())
        }
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) if multi_line => push_string(out, s),
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => push_basic_string(out, s),
        Scalar::Bytes(b) => push_basic_string(out, &String::from_utf8_lossy(b)),
    }
    Ok(())
}

/// A value written inline (arrays `[…]`, inline tables `{…}`; comments inside are left out).
pub(super) fn push_inline(
    out: &mut Vec<u8>,
    value: &Value,
    path: &mut Vec<String>,
) -> Result<(), StoreError> {
    match value {
        Value::Leaf(l) => push_scalar(out, &l.value, path, true)?,
        Value::List(items) => {
            out.push(b'[');
            let mut n = 0;
            for item in items {
                if let Item::Elem(v) = item {
                    if n > 0 {
                        out.extend_from_slice(b", ");
                    }
                    path.push(n.to_string());
                    push_inline(out, v, path)?;
                    path.pop();
                    n += 1;
                }
            }
            out.push(b']');
        }
        Value::Map(items) => {
            out.push(b'{');
            let mut first = true;
            for item in items {
                if let Item::Pair { key, value } = item {
                    out.extend_from_slice(if first { b" " } else { b", " });
                    first = false;
                    push_key(out, key);
                    out.extend_from_slice(b" = ");
                    path.push(format!("{key:?}"));
                    push_inline(out, value, path)?;
                    path.pop();
                }
            }
            out.extend_from_slice(if first { b"}" } else { b" }" });
        }
    }
    Ok(())
}

/// Whether a list is written as an array of tables (a non-empty list of maps only).
fn is_table_array(items: &[Item]) -> bool {
    let mut any = false;
    for item in items {
        match item {
            Item::Elem(Value::Map(_)) => any = true,
            Item::Elem(_) => return false,
            _ => {}
        }
    }
    any
}

/// Whether a value can be written as a `[section]` or `[[array of tables]]`.
fn is_section(value: &Value) -> bool {
    match value {
        Value::Map(_) => true,
        Value::List(v) => is_table_array(v),
        Value::Leaf(_) => false,
    }
}

/// Writes tables with their headers; `keys` is the header path of the table being written.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn header(&mut self, keys: &[String], array: bool) {
        if !self.out.is_empty() {
            self.out.push(b'\n');
        }
        self.out.extend_from_slice(if array { b"[[" } else { b"[" });
        for (n, k) in keys.iter().enumerate() {
            if n > 0 {
                self.out.push(b'.');
            }
            push_key(&mut self.out, k);
        }
        self.out
            .extend_from_slice(if array { b"]]\n" } else { b"]\n" });
    }

    /// A table's body: comments and plain keys, then its tables and arrays of tables.
    fn body(
        &mut self,
        items: &[Item],
        keys: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        // Tables are written as sections only from the first one that no plain key follows, so
        // that the keys keep their order.
        let first_section = items
            .iter()
            .rposition(|i| matches!(i, Item::Pair { value, .. } if !is_section(value)))
            .map_or(0, |p| p + 1);
        for (n, item) in items.iter().enumerate() {
            match item {
                Item::Comment(l) => {
                    if let Some(text) = l.value.as_str() {
                        self.out.push(b'#');
                        self.out
                            .extend_from_slice(text.replace(['\n', '\r'], " ").as_bytes());
                        self.out.push(b'\n');
                    }
                }
                Item::Pair { key, value } => {
                    if n < first_section || !is_section(value) {
                        push_key(&mut self.out, key);
                        self.out.extend_from_slice(b" = ");
                        path.push(format!("{key:?}"));
                        push_inline(&mut self.out, value, path)?;
                        path.pop();
                        self.out.push(b'\n');
                    }
                }
                Item::Elem(_) => {
                    return Err(StoreError::new(format!(
                        "toml: the array at {} cannot be a table",
                        path_text(path)
                    )))
                }
            }
        }
        for item in items.iter().skip(first_section) {
            let Item::Pair { key, value } = item else {
                continue;
            };
            keys.push(key.clone());
            path.push(format!("{key:?}"));
            match value {
                Value::Map(v) => {
                    self.header(keys, false);
                    self.body(v, keys, path)?;
                }
                Value::List(v) if is_table_array(v) => {
                    for (n, e) in v.iter().enumerate() {
                        if let Item::Elem(Value::Map(m)) = e {
                            self.header(keys, true);
                            path.push(n.to_string());
                            self.body(m, keys, path)?;
                            path.pop();
                        }
                    }
                }
                _ => {}
            }
            keys.pop();
            path.pop();
        }
        Ok(())
    }
}

/// Metadata items (at every level) with plain keys before tables and arrays of tables, so that
/// key lists are written as `[[sops.age]]` sections; nulls are left out.
fn plain_keys_first(items: &[Item]) -> Vec<Item> {
    let kept = |i: &&Item| !matches!(i, Item::Pair { value: Value::Leaf(l), .. } if l.value == Scalar::Null);
    let section = |i: &&Item| matches!(i, Item::Pair { value, .. } if is_section(value));
    let inner = |v: &Value| match v {
        Value::Map(m) => Value::Map(plain_keys_first(m)),
        Value::List(l) => Value::List(
            l.iter()
                .map(|i| match i {
                    Item::Elem(Value::Map(m)) => Item::Elem(Value::Map(plain_keys_first(m))),
                    other => other.clone(),
                })
                .collect(),
        ),
        leaf => leaf.clone(),
    };
    items
        .iter()
        .filter(kept)
        .filter(|i| !section(i))
        .chain(items.iter().filter(kept).filter(section))
        .map(|i| match i {
            Item::Pair { key, value } => Item::pair(key.clone(), inner(value)),
            other => other.clone(),
        })
        .collect()
}

/// The `[sops]` table for `metadata` (a map), as the text appended to a file.
pub(super) fn sops_table(metadata: &Value) -> Result<Vec<u8>, StoreError> {
    let Value::Map(items) = metadata else {
        return Err(StoreError::new("toml: the sops metadata is not a map"));
    };
    let items = plain_keys_first(items);
    let mut w = Writer { out: Vec::new() };
    w.header(&["sops".to_string()], false);
    w.body(
        &items,
        &mut vec!["sops".to_string()],
        &mut vec!["\"sops\"".to_string()],
    )?;
    Ok(w.out)
}

/// A document from its top-level items, with the `[sops]` table at the end.
fn document(items: &[Item], metadata: Option<&Value>) -> Result<Vec<u8>, StoreError> {
    let mut w = Writer { out: Vec::new() };
    w.body(items, &mut Vec::new(), &mut Vec::new())?;
    if let Some(meta) = metadata {
        let table = sops_table(meta)?;
        if !w.out.is_empty() {
            w.out.push(b'\n');
        }
        w.out.extend_from_slice(&table);
    }
    Ok(w.out)
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let items = tree.docs.first().map_or(&[][..], |d| d.items.as_slice());
    document(items, metadata)
}

/// One value as `--extract` prints it: a table as a document, a scalar as its token; an array
/// cannot be a TOML document.
pub fn emit_value(value: &Value, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Map(items) => document(items, None),
        Value::List(_) => Err(StoreError::new(
            "toml: a top-level array cannot be stored in TOML (a document is a table)",
        )),
        Value::Leaf(l) => {
            let mut out = Wiped::new(Vec::new());
            push_scalar(&mut out, &l.value, &[], true)?;
            out.push(b'\n');
            Ok(out.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::testutil::sample_metadata;
    use crate::stores::toml::parse;

    #[test]
    fn emits_what_it_reads() {
        let src = "a = 1\nb = \"x\\ny\"\nc = [1.0, 2e300, inf]\n\n[t]\nd = { e = [] }\n\n[[arr]]\nx = true\n\n[[arr]]\nx = false\n\n[[arr.sub]]\nz = \"w\"\n";
        let p = parse::parse(src.as_bytes()).unwrap();
        let out = emit(&p.tree, Some(&sample_metadata()), &StoreOptions::default()).unwrap();
        let back = parse::parse(&out).unwrap();
        assert!(
            crate::stores::same_documents(&p.tree, &back.tree),
            "{}",
            String::from_utf8_lossy(&out)
        );
        // (The metadata's tables come after its plain keys: written again, it is the same.)
        let meta = back.metadata.unwrap();
        assert_eq!(
            sops_table(&meta).unwrap(),
            sops_table(&sample_metadata()).unwrap()
        );
    }

    #[test]
    fn refuses_null_and_arrays() {
        use crate::tree::{Leaf, NO_LEAF};
        let null = Value::Leaf(Leaf::new(NO_LEAF, Scalar::Null));
        let tree = Tree {
            docs: vec![crate::tree::Doc {
                items: vec![Item::pair("a", Value::Map(vec![Item::pair("b", null)]))],
            }],
        };
        let e = emit(&tree, None, &StoreOptions::default()).unwrap_err();
        assert!(e.message.contains("[\"a\"][\"b\"]"), "{e}");
        assert!(emit_value(&Value::List(vec![]), &StoreOptions::default()).is_err());
    }
}
