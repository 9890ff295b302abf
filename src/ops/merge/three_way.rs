//! The three-way merge of decrypted documents, by path: what to change on one side ("ours") to
//! bring in the other side's ("theirs") changes since the common ancestor ("base"), and where
//! both sides changed the same value differently. Pure: no bytes, no keys; the changes are then
//! made as text edits of ours' plaintext (`super::apply`), so ours' layout and comments stay.
//!
//! Rules (`docs/merge.md`): maps merge key by key (key order and comments are not values: ours'
//! stay); a list is one value, except that lists of the same length on all three sides merge
//! element by element; a scalar changed on one side only takes that change; changed the same way
//! on both sides, it is fine; changed differently, it is a conflict.

use crate::tree::{get, Item, Leaf, Value, NO_LEAF};
use crate::treepath::{same_value, Step};

/// A change to make on ours' side.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set (add or replace) the value at the path.
    Set(Vec<Step>, Value),
    /// Remove the value at the path.
    Unset(Vec<Step>),
}

/// A path both sides changed differently; `None` where a side has no value there.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub path: Vec<Step>,
    pub base: Option<Value>,
    pub ours: Option<Value>,
    pub theirs: Option<Value>,
}

/// The outcome of a merge: the changes to make on ours' side, and the conflicts (where ours'
/// value stays).
#[derive(Debug, Default)]
pub struct Merged {
    pub ops: Vec<Op>,
    pub conflicts: Vec<Conflict>,
}

/// Merge the top-level items of three documents (`base` is empty when there is no ancestor).
pub fn merge_docs(base: &[Item], ours: &[Item], theirs: &[Item]) -> Merged {
    let mut out = Merged::default();
    merge_maps(Some(base), ours, theirs, &mut Vec::new(), &mut out);
    out
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => same_value(x, y),
        _ => false,
    }
}

fn keys(items: &[Item]) -> impl Iterator<Item = &str> {
    items.iter().filter_map(|i| match i {
        Item::Pair { key, .. } if !i.is_shadowed() => Some(key.as_str()),
        _ => None,
    })
}

fn elems(items: &[Item]) -> Vec<&Value> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Elem(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// Merge two maps key by key: ours' keys in ours' order, then the keys only theirs has.
fn merge_maps(
    base: Option<&[Item]>,
    ours: &[Item],
    theirs: &[Item],
    path: &mut Vec<Step>,
    out: &mut Merged,
) {
    let mut names: Vec<&str> = keys(ours).collect();
    for k in keys(theirs) {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    for name in names {
        path.push(Step::Key(name.to_string()));
        merge_value(
            base.and_then(|b| get(b, name)),
            get(ours, name),
            get(theirs, name),
            path,
            out,
        );
        path.pop();
    }
}

fn merge_value(
    base: Option<&Value>,
    ours: Option<&Value>,
    theirs: Option<&Value>,
    path: &mut Vec<Step>,
    out: &mut Merged,
) {
    if same(ours, theirs) || same(base, theirs) {
        return;
    }
    match (base, ours, theirs) {
        // Both sides have a map: key by key (a base that is not a map has no keys).
        (_, Some(Value::Map(o)), Some(Value::Map(t))) => {
            let b = match base {
                Some(Value::Map(b)) => Some(b.as_slice()),
                _ => None,
            };
            merge_maps(b, o, t, path, out);
        }
        // Lists of one length on all three sides: element by element.
        (Some(Value::List(b)), Some(Value::List(o)), Some(Value::List(t)))
            if elems(b).len() == elems(o).len() && elems(o).len() == elems(t).len() =>
        {
            let (b, o, t) = (elems(b), elems(o), elems(t));
            for i in 0..o.len() {
                path.push(Step::Index(i));
                merge_value(Some(b[i]), Some(o[i]), Some(t[i]), path, out);
                path.pop();
            }
        }
        _ if same(base, ours) => out.ops.push(match theirs {
            Some(v) => Op::Set(path.clone(), detached(v)),
            None => Op::Unset(path.clone()),
        }),
        _ => out.conflicts.push(Conflict {
            path: path.clone(),
            base: base.map(detached),
            ours: ours.map(detached),
            theirs: theirs.map(detached),
        }),
    }
}

/// A copy of `v` that belongs to no parsed file (every leaf id [`NO_LEAF`]), to be set into
/// another one.
pub fn detached(v: &Value) -> Value {
    fn leaf(l: &Leaf) -> Leaf {
        let mut l = l.clone();
        l.id = NO_LEAF;
        l
    }
    fn items(items: &[Item]) -> Vec<Item> {
        items
            .iter()
            .map(|i| match i {
                Item::Comment(l) => Item::Comment(leaf(l)),
                Item::Pair { key, value } => Item::pair(key.clone(), detached(value)),
                Item::Elem(v) => Item::Elem(detached(v)),
            })
            .collect()
    }
    match v {
        Value::Leaf(l) => Value::Leaf(leaf(l)),
        Value::Map(i) => Value::Map(items(i)),
        Value::List(i) => Value::List(items(i)),
    }
}

/// A path as sops writes it (`["a"][0]`), for messages: keys only, never a value.
pub fn display_path(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!("[{k:?}]"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{secret, Scalar};

    fn s(v: &str) -> Value {
        Value::Leaf(Leaf::new(NO_LEAF, Scalar::Str(secret(v))))
    }
    fn map(pairs: &[(&str, Value)]) -> Vec<Item> {
        pairs
            .iter()
            .map(|(k, v)| Item::pair(*k, v.clone()))
            .collect()
    }
    fn list(vals: &[Value]) -> Value {
        Value::List(vals.iter().cloned().map(Item::Elem).collect())
    }
    fn key(k: &str) -> Vec<Step> {
        vec![Step::Key(k.into())]
    }

    #[test]
    fn different_values_changed_on_each_side_merge() {
        let base = map(&[("a", s("1")), ("b", s("2"))]);
        let ours = map(&[("a", s("ours")), ("b", s("2"))]);
        let theirs = map(&[("a", s("1")), ("b", s("theirs"))]);
        let m = merge_docs(&base, &ours, &theirs);
        assert_eq!(m.ops, vec![Op::Set(key("b"), s("theirs"))]);
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn keys_added_and_removed() {
        let base = map(&[("a", s("1")), ("gone", s("x"))]);
        let ours = map(&[("a", s("1")), ("gone", s("x")), ("mine", s("m"))]);
        let theirs = map(&[("a", s("1")), ("yours", s("y"))]);
        let m = merge_docs(&base, &ours, &theirs);
        assert_eq!(
            m.ops,
            vec![Op::Unset(key("gone")), Op::Set(key("yours"), s("y"))]
        );
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn keys_added_on_both_sides_under_a_new_map() {
        let base = map(&[]);
        let ours = map(&[("db", Value::Map(map(&[("user", s("u"))])))]);
        let theirs = map(&[("db", Value::Map(map(&[("pass", s("p"))])))]);
        let m = merge_docs(&base, &ours, &theirs);
        let path = vec![Step::Key("db".into()), Step::Key("pass".into())];
        assert_eq!(m.ops, vec![Op::Set(path, s("p"))]);
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let base = map(&[("a", s("1"))]);
        let both = map(&[("a", s("2"))]);
        let m = merge_docs(&base, &both, &both);
        assert!(m.ops.is_empty() && m.conflicts.is_empty());
    }

    #[test]
    fn different_changes_of_one_value_conflict() {
        let base = map(&[("a", s("1")), ("b", s("1"))]);
        let ours = map(&[("a", s("ours")), ("b", s("1"))]);
        let theirs = map(&[("a", s("theirs")), ("b", s("2"))]);
        let m = merge_docs(&base, &ours, &theirs);
        assert_eq!(m.ops, vec![Op::Set(key("b"), s("2"))]);
        assert_eq!(m.conflicts.len(), 1);
        let c = &m.conflicts[0];
        assert_eq!(c.path, key("a"));
        assert_eq!(c.base, Some(s("1")));
        assert_eq!(c.theirs, Some(s("theirs")));
        assert_eq!(display_path(&c.path), r#"["a"]"#);
    }

    #[test]
    fn removed_on_one_side_and_changed_on_the_other_conflicts() {
        let base = map(&[("a", s("1"))]);
        let ours = map(&[("a", s("2"))]);
        let theirs = map(&[]);
        let m = merge_docs(&base, &ours, &theirs);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].theirs, None);
    }

    #[test]
    fn lists_of_one_length_merge_by_element_others_are_one_value() {
        let base = map(&[("l", list(&[s("a"), s("b")]))]);
        let ours = map(&[("l", list(&[s("A"), s("b")]))]);
        let theirs = map(&[("l", list(&[s("a"), s("B")]))]);
        let m = merge_docs(&base, &ours, &theirs);
        let at = vec![Step::Key("l".into()), Step::Index(1)];
        assert_eq!(m.ops, vec![Op::Set(at, s("B"))]);
        // theirs appended: a different length, so the list is one value, changed on both sides
        let theirs = map(&[("l", list(&[s("a"), s("b"), s("c")]))]);
        let m = merge_docs(&base, &ours, &theirs);
        assert!(m.ops.is_empty());
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].path, key("l"));
        // ... and taken whole when ours did not change it
        let m = merge_docs(&base, &base, &theirs);
        assert_eq!(
            m.ops,
            vec![Op::Set(key("l"), list(&[s("a"), s("b"), s("c")]))]
        );
    }

    #[test]
    fn key_order_is_not_a_change() {
        let base = map(&[("a", s("1")), ("b", s("2"))]);
        let theirs = map(&[("b", s("2")), ("a", s("1"))]);
        let ours = map(&[("a", s("1")), ("b", s("3"))]);
        let m = merge_docs(&base, &ours, &theirs);
        assert!(m.ops.is_empty() && m.conflicts.is_empty());
    }

    #[test]
    fn leaf_ids_are_detached() {
        let v = Value::Leaf(Leaf::new(7, Scalar::Int(1)));
        let base = map(&[]);
        let theirs = map(&[("n", v)]);
        let m = merge_docs(&base, &base, &theirs);
        match &m.ops[0] {
            Op::Set(_, Value::Leaf(l)) => assert_eq!(l.id, NO_LEAF),
            other => panic!("unexpected {other:?}"),
        }
    }
}
