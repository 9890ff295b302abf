//! Laying a tree out from scratch as ini.v1's writer does when sops drives it (aligned `=`,
//! comments above what they belong to), and `emit_value` as sops's INI store prints a value.

use super::quote::{quote_key, quote_value};
use crate::stores::flat::flatten;
use crate::stores::gojson::GoJsonWriter;
use crate::stores::keyvalue::value_to_string;
use crate::stores::{StoreError, StoreOptions};
use crate::tree::{secret, Item, Leaf, Scalar, Tree, Value};
use crate::wipe::Wiped;

/// Write key lines as ini.v1 does (aligned `=`, comments above keys): (key, value, comment).
pub(super) fn write_keys(out: &mut String, keys: &[(&str, &str, Option<&str>)], newline: &str) {
    let align = keys
        .iter()
        .map(|(key, _, _)| quote_key(key).len())
        .max()
        .unwrap_or(0);
    for (key, value, comment) in keys {
        if let Some(comment) = comment {
            push_comment_lines(out, comment, true, newline);
        }
        let quoted = quote_key(key);
        out.push_str(&quoted);
        for _ in quoted.len()..align {
            out.push(' ');
        }
        out.push_str(" = ");
        out.push_str(&quote_value(value));
        out.push_str(newline);
    }
}

/// A section to write: its name, comment and keys (key, value, comment), each key once.
struct OutputSection {
    name: String,
    comment: Option<String>,
    keys: Vec<(String, Wiped<String>, Option<String>)>,
}

/// The section to write for the tree's section `name` (`entries`): a key given twice keeps its
/// place with its last value, as ini.v1 reads it.
fn output_section(name: &str, entries: &[Item]) -> OutputSection {
    let mut section = OutputSection {
        name: name.to_string(),
        comment: None,
        keys: Vec::new(),
    };
    let mut rest = entries;
    if let Some(Item::Comment(l)) = entries.first() {
        section.comment = Some(l.value.as_str().unwrap_or("").to_string());
        rest = &entries[1..];
    }
    let mut last: Option<usize> = None;
    for entry in rest {
        match entry {
            Item::Comment(l) => {
                if let Some(i) = last {
                    section.keys[i].2 = Some(l.value.as_str().unwrap_or("").to_string());
                }
            }
            Item::Pair { key, value } => {
                let text = match value {
                    Value::Leaf(l) => match &l.value {
                        Scalar::Str(s) => Wiped::new(s.to_string()),
                        other => Wiped::new(value_to_string(other)),
                    },
                    _ => Wiped::new(go_format(value)),
                };
                if let Some(i) = section.keys.iter().position(|k| &k.0 == key) {
                    section.keys[i].1 = text;
                    last = Some(i);
                } else {
                    section.keys.push((key.clone(), text, None));
                    last = Some(section.keys.len() - 1);
                }
            }
            Item::Elem(_) => {}
        }
    }
    section
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let empty = Vec::new();
    let items = tree.docs.first().map(|d| &d.items).unwrap_or(&empty);
    let mut sections: Vec<OutputSection> = Vec::new();
    for item in items {
        let Item::Pair { key, value } = item else {
            continue;
        };
        if key.is_empty() {
            return Err(StoreError::new(format!(
                "Error marshaling to INI: Error encoding section {key}: empty section name"
            )));
        }
        let Value::Map(entries) = value else {
            return Err(StoreError::new(
                "Error marshaling to INI: Error encoding section: Section values should always be TreeBranches",
            ));
        };
        sections.push(output_section(key, entries));
    }
    if let Some(meta) = metadata {
        let keys = flatten(meta)
            .into_iter()
            .map(|(k, v)| (k, Wiped::new(v.replace('\n', "\\n")), None))
            .collect();
        sections.push(OutputSection {
            name: "sops".to_string(),
            comment: None,
            keys,
        });
    }
    let mut out = String::new();
    let count = sections.len();
    for (i, section) in sections.iter().enumerate() {
        if let Some(c) = &section.comment {
            push_comment_lines(&mut out, c, false, "\n");
        }
        if i > 0 || section.name.to_uppercase() != "DEFAULT" {
            out.push('[');
            out.push_str(&section.name);
            out.push_str("]\n");
        } else if section.keys.is_empty() {
            continue;
        }
        let keys: Vec<(&str, &str, Option<&str>)> = section
            .keys
            .iter()
            .map(|(k, v, c)| (k.as_str(), v.as_str(), c.as_deref()))
            .collect();
        write_keys(&mut out, &keys, "\n");
        if i + 1 < count {
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// Go's `%v` of a list or map value (what `ValToString` gives for a nested value).
fn go_format(v: &Value) -> String {
    match v {
        Value::Leaf(l) => value_to_string(&l.value),
        Value::List(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Elem(v) => Some(go_format(v)),
                    _ => None,
                })
                .collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Pair { key, value } => Some(format!("{{{key} {}}}", go_format(value))),
                    _ => None,
                })
                .collect();
            format!("[{}]", parts.join(" "))
        }
    }
}

/// `json.Marshal` of the value (what sops's INI `EmitValue` prints), compact.
pub fn emit_value(value: &Value, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    marshal_json(&mut out, value)?;
    Ok(out)
}

/// Go's `json.Marshal` of a sops tree value.
fn marshal_json(out: &mut Vec<u8>, v: &Value) -> Result<(), StoreError> {
    let compact = GoJsonWriter::COMPACT;
    match v {
        Value::Leaf(_) => compact.value(out, v, 0)?,
        Value::List(items) => {
            out.push(b'[');
            let mut first = true;
            for i in items {
                if let Item::Elem(e) = i {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    marshal_json(out, e)?;
                }
            }
            out.push(b']');
        }
        Value::Map(items) => {
            // A sops TreeBranch marshals as a list of {"Key":…,"Value":…} objects.
            out.push(b'[');
            for (n, i) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"Key\":");
                match i {
                    Item::Comment(l) => {
                        out.extend_from_slice(b"{\"Value\":");
                        compact.value(out, &Value::Leaf(l.clone()), 0)?;
                        out.extend_from_slice(b"},\"Value\":null}");
                        continue;
                    }
                    Item::Pair { key, value } => {
                        let k = Value::Leaf(Leaf::new(
                            crate::tree::NO_LEAF,
                            Scalar::Str(secret(key.as_str())),
                        ));
                        compact.value(out, &k, 0)?;
                        out.extend_from_slice(b",\"Value\":");
                        marshal_json(out, value)?;
                    }
                    Item::Elem(value) => {
                        out.extend_from_slice(b"null,\"Value\":");
                        marshal_json(out, value)?;
                    }
                }
                out.push(b'}');
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// Comment lines as ini.v1 writes them: a line with its own `#`/`;` marker keeps it (one space
/// after), others get `; `; `trim_unmarked` also trims the unmarked lines (key comments).
fn push_comment_lines(out: &mut String, comment: &str, trim_unmarked: bool, newline: &str) {
    if comment.is_empty() {
        return;
    }
    for line in comment.split('\n') {
        match line.as_bytes().first() {
            Some(b'#') | Some(b';') => {
                out.push_str(&line[..1]);
                out.push(' ');
                out.push_str(line[1..].trim());
            }
            _ => {
                out.push_str("; ");
                out.push_str(if trim_unmarked { line.trim() } else { line });
            }
        }
        out.push_str(newline);
    }
}
