//! Flattening of the metadata map for the dotenv and INI stores (`age__list_0__map_enc`).

use crate::gotext::scalar_text;
use crate::tree::{secret, Item, Leaf, Scalar, Value};

const MAP: &str = "__map_";
const LIST: &str = "__list_";

/// Flatten a metadata map into `(key, text)` pairs, depth first. Empty lists and maps give nothing.
pub fn flatten(meta: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Map(items) = meta {
        for item in items {
            if let Item::Pair { key, value } = item {
                flatten_into(key, value, &mut out);
            }
        }
    }
    out
}

fn flatten_into(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Leaf(l) => {
            if let Some(s) = scalar_text(&l.value) {
                out.push((prefix.to_string(), s));
            }
        }
        Value::Map(items) => {
            for item in items {
                if let Item::Pair { key, value } = item {
                    flatten_into(&format!("{prefix}{MAP}{key}"), value, out);
                }
            }
        }
        Value::List(items) => {
            let mut i = 0;
            for item in items {
                if let Item::Elem(v) = item {
                    flatten_into(&format!("{prefix}{LIST}{i}"), v, out);
                    i += 1;
                }
            }
        }
    }
}

/// Flattened metadata keys that do not make one map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlatError {
    #[error("malformed flattened metadata key {0:?}")]
    Malformed(String),
    #[error("bad list index in metadata key {0:?}")]
    BadIndex(String),
    #[error("conflicting flattened metadata key {0:?}")]
    Conflict(String),
    #[error("Incomplete list in flattened metadata")]
    IncompleteList,
}

enum Part {
    Map(String),
    List(usize),
}

/// Rebuild the metadata map from flattened `(key, text)` pairs. Every leaf is a string; the
/// metadata reader converts types weakly, as sops does.
pub fn unflatten(pairs: &[(String, String)]) -> Result<Value, FlatError> {
    let mut root = Value::Map(Vec::new());
    for (key, text) in pairs {
        let parts = split_key(key)?;
        insert(&mut root, &parts, text, key)?;
    }
    check_lists(&root)?;
    Ok(root)
}

fn split_key(key: &str) -> Result<Vec<Part>, FlatError> {
    let mut parts = Vec::new();
    let first_end = next_marker(key).unwrap_or(key.len());
    parts.push(Part::Map(key[..first_end].to_string()));
    let mut rest = &key[first_end..];
    while !rest.is_empty() {
        let (is_map, body) = if let Some(b) = rest.strip_prefix(MAP) {
            (true, b)
        } else if let Some(b) = rest.strip_prefix(LIST) {
            (false, b)
        } else {
            return Err(FlatError::Malformed(key.to_string()));
        };
        let end = next_marker(body).unwrap_or(body.len());
        let name = &body[..end];
        parts.push(if is_map {
            Part::Map(name.to_string())
        } else {
            Part::List(
                name.parse()
                    .map_err(|_| FlatError::BadIndex(key.to_string()))?,
            )
        });
        rest = &body[end..];
    }
    Ok(parts)
}

fn next_marker(s: &str) -> Option<usize> {
    match (s.find(MAP), s.find(LIST)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn insert(node: &mut Value, parts: &[Part], text: &str, key: &str) -> Result<(), FlatError> {
    let clash = || FlatError::Conflict(key.to_string());
    let Some((first, rest)) = parts.split_first() else {
        return Err(clash());
    };
    let child_template = || match rest.first() {
        None => Value::Leaf(Leaf::new(crate::tree::NO_LEAF, Scalar::Str(secret(text)))),
        Some(Part::Map(_)) => Value::Map(Vec::new()),
        Some(Part::List(_)) => Value::List(Vec::new()),
    };
    let slot: &mut Value = match (node, first) {
        (Value::Map(items), Part::Map(name)) => {
            let pos = items
                .iter()
                .position(|i| matches!(i, Item::Pair { key, .. } if key == name));
            let pos = match pos {
                Some(p) => p,
                None => {
                    let at = items
                        .iter()
                        .position(
                            |i| matches!(i, Item::Pair { key, .. } if key.as_str() > name.as_str()),
                        )
                        .unwrap_or(items.len());
                    items.insert(at, Item::pair(name.clone(), child_template()));
                    at
                }
            };
            match &mut items[pos] {
                Item::Pair { value, .. } => value,
                _ => return Err(clash()),
            }
        }
        (Value::List(items), Part::List(i)) => {
            while items.len() <= *i {
                items.push(Item::Elem(Value::Leaf(Leaf::new(
                    crate::tree::NO_LEAF,
                    Scalar::Null,
                ))));
            }
            if let Item::Elem(Value::Leaf(Leaf {
                value: Scalar::Null,
                ..
            })) = &items[*i]
            {
                items[*i] = Item::Elem(child_template());
            }
            match &mut items[*i] {
                Item::Elem(v) => v,
                _ => return Err(clash()),
            }
        }
        _ => return Err(clash()),
    };
    if rest.is_empty() {
        return match slot {
            Value::Leaf(_) => Ok(()),
            _ => Err(clash()),
        };
    }
    insert(slot, rest, text, key)
}

fn check_lists(v: &Value) -> Result<(), FlatError> {
    match v {
        Value::Leaf(_) => Ok(()),
        Value::Map(items) | Value::List(items) => {
            for item in items {
                match item {
                    Item::Elem(Value::Leaf(Leaf {
                        value: Scalar::Null,
                        ..
                    })) if matches!(v, Value::List(_)) => return Err(FlatError::IncompleteList),
                    Item::Pair { value, .. } | Item::Elem(value) => check_lists(value)?,
                    Item::Comment(_) => {}
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let pairs: Vec<(String, String)> = [
            ("age__list_0__map_enc", "E0"),
            ("age__list_0__map_recipient", "R0"),
            ("age__list_1__map_enc", "E1"),
            ("age__list_1__map_recipient", "R1"),
            ("lastmodified", "2024-01-01T00:00:00Z"),
            ("mac", "ENC[x]"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let v = unflatten(&pairs).unwrap();
        assert_eq!(flatten(&v), pairs);
    }

    #[test]
    fn gaps_are_refused() {
        let pairs = vec![("age__list_1__map_enc".to_string(), "x".to_string())];
        assert!(unflatten(&pairs).is_err());
    }
}
