//! sops's tree path syntax (`["a"][0]["b"]`) for `--extract`, `set` and `unset`.

use crate::tree::{Item, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parse `["key"][0]['other']`: every component is `[...]`; quoted ones are keys (no escapes),
/// others are base-10 indices.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut parts = path.split('[');
    if let Some(first) = parts.next() {
        if !first.is_empty() {
            return Err(format!("path must start with '[': {path}"));
        }
    }
    for part in parts {
        let inner = part
            .strip_suffix(']')
            .ok_or_else(|| format!("component does not end with ']': [{part}"))?;
        let quoted = inner.len() >= 2
            && ((inner.starts_with('"') && inner.ends_with('"'))
                || (inner.starts_with('\'') && inner.ends_with('\'')));
        if quoted {
            steps.push(Step::Key(inner[1..inner.len() - 1].to_string()));
        } else {
            let i: usize = inner
                .parse()
                .map_err(|_| format!("invalid index {inner:?}: must be a number or a quoted key"))?;
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
pub fn lookup<'a>(items: &'a [Item], steps: &[Step]) -> Result<Value, String> {
    let mut current = Value::Map(items.to_vec());
    for step in steps {
        let next = match (&current, step) {
            (Value::Map(items), Step::Key(k)) => items.iter().find_map(|i| match i {
                Item::Pair { key, value } if key == k => Some(value.clone()),
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
        current = next.ok_or_else(|| format!("component {} not found", describe(step)))?;
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
