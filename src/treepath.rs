//! sops's tree path syntax (`["a"][0]["b"]`) for `--extract`, `set` and `unset`.

use crate::tree::{Item, Scalar, Value};

/// Why a path could not be parsed or followed. Names the path's keys, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '[': {0}")]
    NoBracket(String),
    #[error("component does not end with ']': [{0}")]
    Unclosed(String),
    #[error("invalid index {0:?}: must be a number or a quoted key")]
    BadIndex(String),
    #[error("empty path")]
    Empty,
    #[error("component {0} not found")]
    NotFound(String),
    #[error("Key not found: {0}")]
    KeyNotFound(String),
    #[error("Index {0} out of bounds")]
    IndexOutOfBounds(usize),
    #[error("Unsupported type for item {0}")]
    Unsupported(String),
    #[error("the file has no document")]
    NoDocument,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parse `["key"][0]['other']`: every component is `[...]`; quoted ones are keys (no escapes),
/// others are base-10 indices.
pub fn parse(path: &str) -> Result<Vec<Step>, PathError> {
    let mut steps = Vec::new();
    let mut parts = path.split('[');
    if let Some(first) = parts.next() {
        if !first.is_empty() {
            return Err(PathError::NoBracket(path.to_string()));
        }
    }
    for part in parts {
        let inner = part
            .strip_suffix(']')
            .ok_or_else(|| PathError::Unclosed(part.to_string()))?;
        let quoted = inner.len() >= 2
            && ((inner.starts_with('"') && inner.ends_with('"'))
                || (inner.starts_with('\'') && inner.ends_with('\'')));
        if quoted {
            steps.push(Step::Key(inner[1..inner.len() - 1].to_string()));
        } else {
            let i: usize = inner
                .parse()
                .map_err(|_| PathError::BadIndex(inner.to_string()))?;
            steps.push(Step::Index(i));
        }
    }
    Ok(steps)
}

fn describe(step: &Step) -> String {
    match step {
        Step::Key(k) => format!("['{k}']"),
        Step::Index(i) => format!("[{i}]"),
    }
}

/// Follow `steps` from a document's top-level items. Comments are skipped when indexing lists.
pub fn lookup(items: &[Item], steps: &[Step]) -> Result<Value, PathError> {
    let mut current = Value::Map(items.to_vec());
    for step in steps {
        let next = match (&current, step) {
            (Value::Map(items), Step::Key(k)) => items.iter().find_map(|i| match i {
                Item::Pair { key, value } if key == k && !i.is_shadowed() => Some(value.clone()),
                _ => None,
            }),
            (Value::List(items), Step::Index(n)) => items
                .iter()
                .filter_map(|i| match i {
                    Item::Elem(v) => Some(v),
                    _ => None,
                })
                .nth(*n)
                .cloned(),
            _ => None,
        };
        current = next.ok_or_else(|| PathError::NotFound(describe(step)))?;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            parse(r#"["a"][0]['b']"#).unwrap(),
            vec![Step::Key("a".into()), Step::Index(0), Step::Key("b".into())]
        );
        assert!(parse("a").is_err());
        assert!(parse("[x]").is_err());
        assert!(parse("[\"a\"").is_err());
        assert_eq!(parse("").unwrap(), vec![]);
    }
}

/// The value a missing path creates: maps for key steps, lists for index steps.
pub fn build(steps: &[Step], value: Value) -> Value {
    match steps.split_first() {
        None => value,
        Some((Step::Key(k), rest)) => Value::Map(vec![Item::pair(k.clone(), build(rest, value))]),
        Some((Step::Index(_), rest)) => Value::List(vec![Item::Elem(build(rest, value))]),
    }
}

fn elem_positions(items: &[Item]) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i, Item::Elem(_)))
        .map(|(n, _)| n)
        .collect()
}

/// Set the value at `steps` (sops semantics: missing keys are created, an index past the end
/// appends). Returns whether anything changed.
pub fn set(items: &mut Vec<Item>, steps: &[Step], value: Value) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return false;
    };
    let Step::Key(k) = first else {
        return false;
    };
    for item in items.iter_mut() {
        if let Item::Pair { key, value: v } = item {
            if key == k {
                return set_in(v, rest, value);
            }
        }
    }
    items.push(Item::pair(k.clone(), build(rest, value)));
    true
}

fn set_in(target: &mut Value, steps: &[Step], value: Value) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        let changed = !same_value(target, &value);
        *target = value;
        return changed;
    };
    match (target, first) {
        (Value::Map(items), Step::Key(_)) => set(items, steps, value),
        (Value::List(items), Step::Index(i)) => {
            let pos = elem_positions(items);
            match pos.get(*i) {
                Some(&p) => match &mut items[p] {
                    Item::Elem(v) => set_in(v, rest, value),
                    _ => false,
                },
                None => {
                    items.push(Item::Elem(build(rest, value)));
                    true
                }
            }
        }
        (t, _) => {
            *t = build(steps, value);
            true
        }
    }
}

/// Compare values ignoring leaf ids and spellings.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Leaf(x), Value::Leaf(y)) => match (&x.value, &y.value) {
            // (A NaN is the same value as a NaN: TOML spells it `nan`, `+nan`, `-nan`.)
            (Scalar::Float(a), Scalar::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        },
        (Value::Map(x), Value::Map(y)) | (Value::List(x), Value::List(y)) => same_items(x, y),
        _ => false,
    }
}

/// [`same_value`] with the keys of maps in any order (TOML: a new key goes before the tables,
/// where the tree appended it; lists keep their order).
pub fn same_value_any_order(a: &Value, b: &Value) -> bool {
    let pairs = |items: &[Item]| -> Vec<(String, Value)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Pair { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect()
    };
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (pairs(x), pairs(y));
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .any(|(k2, v2)| k == k2 && same_value_any_order(v, v2))
                })
        }
        (Value::List(x), Value::List(y)) => {
            let elems = |items: &[Item]| -> Vec<Value> {
                items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Elem(v) => Some(v.clone()),
                        _ => None,
                    })
                    .collect()
            };
            let (x, y) = (elems(x), elems(y));
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| same_value_any_order(p, q))
        }
        _ => same_value(a, b),
    }
}

/// [`same_value`] for the items of two maps or lists (comments aside).
pub fn same_items(x: &[Item], y: &[Item]) -> bool {
    let x: Vec<&Item> = x
        .iter()
        .filter(|i| !matches!(i, Item::Comment(_)))
        .collect();
    let y: Vec<&Item> = y
        .iter()
        .filter(|i| !matches!(i, Item::Comment(_)))
        .collect();
    x.len() == y.len()
        && x.iter().zip(&y).all(|(p, q)| match (p, q) {
            (Item::Pair { key: k1, value: v1 }, Item::Pair { key: k2, value: v2 }) => {
                k1 == k2 && same_value(v1, v2)
            }
            (Item::Elem(v1), Item::Elem(v2)) => same_value(v1, v2),
            _ => false,
        })
}

/// Remove the value at `steps`. Errors as sops words them (`Key not found: x`,
/// `Index 3 out of bounds`).
pub fn unset(items: &mut Vec<Item>, steps: &[Step]) -> Result<(), PathError> {
    let Some((first, rest)) = steps.split_first() else {
        return Err(PathError::Empty);
    };
    match first {
        Step::Key(k) => {
            let pos = items
                .iter()
                .position(|i| matches!(i, Item::Pair { key, .. } if key == k))
                .ok_or_else(|| PathError::KeyNotFound(k.clone()))?;
            if rest.is_empty() {
                items.remove(pos);
                Ok(())
            } else {
                match &mut items[pos] {
                    Item::Pair { value, .. } => unset_in(value, rest),
                    _ => Err(PathError::KeyNotFound(k.clone())),
                }
            }
        }
        Step::Index(i) => Err(PathError::IndexOutOfBounds(*i)),
    }
}

fn unset_in(target: &mut Value, steps: &[Step]) -> Result<(), PathError> {
    match (target, steps.first()) {
        (Value::Map(items), Some(Step::Key(_))) => unset(items, steps),
        (Value::List(items), Some(Step::Index(i))) => {
            let pos = elem_positions(items);
            let p = *pos.get(*i).ok_or(PathError::IndexOutOfBounds(*i))?;
            if steps.len() == 1 {
                items.remove(p);
                Ok(())
            } else {
                match &mut items[p] {
                    Item::Elem(v) => unset_in(v, &steps[1..]),
                    _ => Err(PathError::IndexOutOfBounds(*i)),
                }
            }
        }
        (_, Some(s)) => Err(PathError::Unsupported(describe(s))),
        (_, None) => Err(PathError::Empty),
    }
}

#[cfg(test)]
mod edit_tests {
    use super::*;
    use crate::tree::{secret, Leaf, Scalar};

    fn s(v: &str) -> Value {
        Value::Leaf(Leaf::new(0, Scalar::Str(secret(v))))
    }

    #[test]
    fn set_creates_and_appends() {
        let mut items = vec![Item::pair("a", s("1"))];
        assert!(set(&mut items, &parse(r#"["b"]["c"][0]"#).unwrap(), s("x")));
        assert_eq!(
            lookup(&items, &parse(r#"["b"]["c"][0]"#).unwrap()).unwrap(),
            s("x")
        );
        assert!(set(&mut items, &parse(r#"["b"]["c"][5]"#).unwrap(), s("y")));
        assert_eq!(
            lookup(&items, &parse(r#"["b"]["c"][1]"#).unwrap()).unwrap(),
            s("y")
        );
        assert!(!set(&mut items, &parse(r#"["a"]"#).unwrap(), s("1")));
        assert!(set(&mut items, &parse(r#"["a"]"#).unwrap(), s("2")));
    }

    #[test]
    fn unset_errors() {
        let mut items = vec![Item::pair("a", Value::List(vec![Item::Elem(s("1"))]))];
        assert_eq!(
            unset(&mut items, &parse(r#"["b"]"#).unwrap()),
            Err(PathError::KeyNotFound("b".into()))
        );
        assert_eq!(
            unset(&mut items, &parse(r#"["a"][3]"#).unwrap()),
            Err(PathError::IndexOutOfBounds(3))
        );
        unset(&mut items, &parse(r#"["a"][0]"#).unwrap()).unwrap();
        assert_eq!(
            lookup(&items, &parse(r#"["a"]"#).unwrap()).unwrap(),
            Value::List(vec![])
        );
    }
}
