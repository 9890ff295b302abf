//! The conflict record: what `sepal merge` keeps of a conflict in the merged file, so that
//! `sepal edit` can show it. Per conflicting path, the base's and theirs' values (ours' value is
//! the file's own), as typed JSON, encrypted and authenticated under the file's data key with
//! its own AAD, in the `sops` block under `sepal_conflict` (which sops ignores, and which is not
//! part of the MAC). The format is described in `docs/merge.md`.

use serde_json::{json, Map, Value as Json};

use crate::crypto::cipher::{self, DataKey, EncryptedValue};
use crate::tree::{secret, Item, Leaf, Scalar, Value, NO_LEAF};
use crate::treepath::Step;
use crate::wipe::Wiped;

use super::three_way::Conflict;

/// The AAD the record is encrypted with (no value path can produce it: paths end in `:`).
const AAD: &str = "sops:sepal_conflict";
const VERSION: u64 = 1;

/// One conflicting path as the record keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: Vec<Step>,
    pub base: Option<Value>,
    pub theirs: Option<Value>,
}

/// The record of `conflicts`, encrypted under `key`; `None` when there is nothing to record or
/// the encryption fails.
pub fn make(conflicts: &[Conflict], key: &DataKey) -> Option<String> {
    if conflicts.is_empty() {
        return None;
    }
    let entries: Vec<Json> = conflicts
        .iter()
        .map(|c| {
            json!({
                "path": c.path.iter().map(step_json).collect::<Vec<_>>(),
                "base": c.base.as_ref().map(value_json),
                "theirs": c.theirs.as_ref().map(value_json),
            })
        })
        .collect();
    let payload = Wiped::new(json!({"version": VERSION, "conflicts": entries}).to_string());
    let sealed = cipher::encrypt(key, payload.as_bytes(), "str", AAD, None).ok()?;
    Some(sealed.to_string())
}

/// The entries of `record`; `None` when it cannot be read with `key` or is not a version-1
/// record.
pub fn read(record: &str, key: &DataKey) -> Option<Vec<Entry>> {
    let sealed = EncryptedValue::parse(record).ok()?;
    let payload = cipher::decrypt(key, &sealed, AAD).ok()?;
    let payload: Json = serde_json::from_slice(&payload).ok()?;
    if payload.get("version")?.as_u64()? != VERSION {
        return None;
    }
    payload
        .get("conflicts")?
        .as_array()?
        .iter()
        .map(|e| {
            let path = e
                .get("path")?
                .as_array()?
                .iter()
                .map(json_step)
                .collect::<Option<Vec<_>>>()?;
            let side = |name: &str| match e.get(name) {
                None | Some(Json::Null) => Some(None),
                Some(v) => json_value(v).map(Some),
            };
            Some(Entry {
                path,
                base: side("base")?,
                theirs: side("theirs")?,
            })
        })
        .collect()
}

/// The same record under `to` (for a rotation of the data key); `None` when it cannot be read.
pub fn rekey(record: &str, from: &DataKey, to: &DataKey) -> Option<String> {
    let sealed = EncryptedValue::parse(record).ok()?;
    let payload = cipher::decrypt(from, &sealed, AAD).ok()?;
    let resealed = cipher::encrypt(to, &payload, "str", AAD, None).ok()?;
    Some(resealed.to_string())
}

fn step_json(s: &Step) -> Json {
    match s {
        Step::Key(k) => Json::String(k.clone()),
        Step::Index(i) => json!(i),
    }
}

fn json_step(j: &Json) -> Option<Step> {
    match j {
        Json::String(k) => Some(Step::Key(k.clone())),
        Json::Number(n) => Some(Step::Index(usize::try_from(n.as_u64()?).ok()?)),
        _ => None,
    }
}

/// A value as typed JSON: `{"s": ...}` strings, `{"i"}` integers, `{"f"}` floats (as text, for
/// NaN and the infinities), `{"b"}` booleans, `{"n"}` null, `{"t"}` times, `{"x"}` bytes (hex),
/// `{"m": [[key, value], ...]}` maps, `{"l": [...]}` lists; `"p"` keeps a scalar's spelling.
/// Comments are left out.
fn value_json(v: &Value) -> Json {
    match v {
        Value::Leaf(l) => {
            let mut m = Map::new();
            let (tag, val) = match &l.value {
                Scalar::Null => ("n", Json::Null),
                Scalar::Bool(b) => ("b", json!(b)),
                Scalar::Int(i) => ("i", json!(i)),
                Scalar::Float(f) => ("f", json!(f.to_string())),
                Scalar::Str(s) => ("s", json!(s.as_str())),
                Scalar::Time(s) => ("t", json!(s.as_str())),
                Scalar::Comment(s) => ("c", json!(s.as_str())),
                Scalar::Bytes(b) => ("x", json!(hex::encode(b.as_slice()))),
            };
            m.insert(tag.into(), val);
            if let Some(text) = &l.text {
                m.insert("p".into(), json!(text.as_str()));
            }
            Json::Object(m)
        }
        Value::Map(items) => json!({"m": items.iter().filter_map(|i| match i {
            Item::Pair { key, value } => Some(json!([key, value_json(value)])),
            _ => None,
        }).collect::<Vec<_>>()}),
        Value::List(items) => json!({"l": items.iter().filter_map(|i| match i {
            Item::Elem(v) => Some(value_json(v)),
            _ => None,
        }).collect::<Vec<_>>()}),
    }
}

fn json_value(j: &Json) -> Option<Value> {
    let o = j.as_object()?;
    if let Some(items) = o.get("m") {
        let items = items
            .as_array()?
            .iter()
            .map(|p| {
                let p = p.as_array()?;
                Some(Item::pair(p.first()?.as_str()?, json_value(p.get(1)?)?))
            })
            .collect::<Option<Vec<_>>>()?;
        return Some(Value::Map(items));
    }
    if let Some(items) = o.get("l") {
        let items = items
            .as_array()?
            .iter()
            .map(|v| json_value(v).map(Item::Elem))
            .collect::<Option<Vec<_>>>()?;
        return Some(Value::List(items));
    }
    let text = |v: &Json| v.as_str().map(secret);
    let scalar = if o.contains_key("n") {
        Scalar::Null
    } else if let Some(b) = o.get("b") {
        Scalar::Bool(b.as_bool()?)
    } else if let Some(i) = o.get("i") {
        Scalar::Int(i.as_i64()?)
    } else if let Some(f) = o.get("f") {
        Scalar::Float(f.as_str()?.parse().ok()?)
    } else if let Some(s) = o.get("s") {
        Scalar::Str(text(s)?)
    } else if let Some(s) = o.get("t") {
        Scalar::Time(text(s)?)
    } else if let Some(s) = o.get("c") {
        Scalar::Comment(text(s)?)
    } else if let Some(x) = o.get("x") {
        Scalar::Bytes(Wiped::new(hex::decode(x.as_str()?).ok()?))
    } else {
        return None;
    };
    let mut leaf = Leaf::new(NO_LEAF, scalar);
    leaf.text = o.get("p").and_then(text);
    Some(Value::Leaf(leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> DataKey {
        DataKey::from_slice(&[b; 32]).unwrap()
    }

    fn leaf(s: Scalar) -> Value {
        Value::Leaf(Leaf::new(NO_LEAF, s))
    }

    #[test]
    fn round_trip_of_every_kind_of_value() {
        let mut spelled = Leaf::new(NO_LEAF, Scalar::Float(1.0));
        spelled.text = Some(secret("1.0"));
        let theirs = Value::Map(vec![
            Item::pair("s", leaf(Scalar::Str(secret("top secret")))),
            Item::pair("i", leaf(Scalar::Int(-3))),
            Item::pair("f", Value::Leaf(spelled)),
            Item::pair("nan", leaf(Scalar::Float(f64::INFINITY))),
            Item::pair("b", leaf(Scalar::Bool(true))),
            Item::pair("n", leaf(Scalar::Null)),
            Item::pair("t", leaf(Scalar::Time(secret("2024-01-01T00:00:00Z")))),
            Item::pair("x", leaf(Scalar::Bytes(Wiped::new(vec![0, 255])))),
            Item::pair(
                "l",
                Value::List(vec![
                    Item::Elem(leaf(Scalar::Int(1))),
                    Item::Elem(leaf(Scalar::Null)),
                ]),
            ),
        ]);
        let conflicts = vec![Conflict {
            path: vec![Step::Key("a".into()), Step::Index(2)],
            base: None,
            ours: Some(leaf(Scalar::Int(1))),
            theirs: Some(theirs.clone()),
        }];
        let record = make(&conflicts, &key(1)).unwrap();
        assert!(record.starts_with("ENC[AES256_GCM,"));
        assert!(!record.contains("top secret"));
        let back = read(&record, &key(1)).unwrap();
        assert_eq!(
            back,
            vec![Entry {
                path: conflicts[0].path.clone(),
                base: None,
                theirs: Some(theirs),
            }]
        );
        assert!(read(&record, &key(2)).is_none());
        let moved = rekey(&record, &key(1), &key(2)).unwrap();
        assert_eq!(read(&moved, &key(2)).unwrap(), back);
    }

    #[test]
    fn no_record_without_conflicts() {
        assert!(make(&[], &key(1)).is_none());
    }

    #[test]
    fn a_layout_record_is_not_a_conflict_record() {
        let layout = crate::ops::layout_record::make(b"a\n", b"b\n", &key(1)).unwrap();
        assert!(read(&layout, &key(1)).is_none());
    }
}
