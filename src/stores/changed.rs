//! Comparing a file read back with a tree and the changes made to it, without building the
//! changed tree: `same_as_changed(read, tree, changes)` is
//! `same_documents(read, &apply_changes(tree, changes))`, with no copy of every key and value.

use crate::tree::{Changes, Item, Leaf, NewLeaf, Scalar, Tree, Value};

/// Do two trees hold the same documents (comments and spellings aside)?
pub fn same_documents(a: &Tree, b: &Tree) -> bool {
    a.docs.len() == b.docs.len()
        && a.docs
            .iter()
            .zip(&b.docs)
            .all(|(x, y)| crate::treepath::same_items(&x.items, &y.items))
}

/// Does `read` hold the same documents (comments and spellings aside) as `tree` with `changes`
/// applied ([`crate::tree::apply_changes`])?
pub fn same_as_changed(read: &Tree, tree: &Tree, changes: &Changes) -> bool {
    read.docs.len() == tree.docs.len()
        && read
            .docs
            .iter()
            .zip(&tree.docs)
            .all(|(r, t)| same_items(&r.items, &t.items, changes))
}

/// A leaf's value once `changes` are applied.
enum Changed<'a> {
    Value(&'a Scalar),
    /// An `ENC[...]` string.
    Encrypted(&'a str),
}

fn changed<'a>(leaf: &'a Leaf, changes: &'a Changes) -> Changed<'a> {
    match changes.get(leaf.id) {
        Some(Some(NewLeaf::Encrypted(e))) => Changed::Encrypted(e),
        Some(Some(NewLeaf::Plain { value, .. })) => Changed::Value(value),
        _ => Changed::Value(&leaf.value),
    }
}

/// The string `leaf` holds once changed, when it holds one (an `ENC[...]` text, or a string
/// value): what [`same_leaf`] compares a read string with.
pub(super) fn changed_str<'a>(leaf: &'a Leaf, changes: &'a Changes) -> Option<&'a str> {
    match changed(leaf, changes) {
        Changed::Encrypted(e) => Some(e),
        Changed::Value(Scalar::Str(s)) => Some(s),
        Changed::Value(_) => None,
    }
}

/// Is `item` a comment once `changes` are applied? (A list element that decrypts to a comment
/// becomes one again.)
pub(super) fn is_comment(item: &Item, changes: &Changes) -> bool {
    match item {
        Item::Comment(_) => true,
        Item::Elem(Value::Leaf(l)) => {
            matches!(changed(l, changes), Changed::Value(Scalar::Comment(_)))
        }
        _ => false,
    }
}

/// [`crate::treepath::same_items`] of `read` and the changed `items`.
fn same_items(read: &[Item], items: &[Item], changes: &Changes) -> bool {
    let mut read = read.iter().filter(|i| !matches!(i, Item::Comment(_)));
    let mut items = items.iter().filter(|i| !is_comment(i, changes));
    loop {
        let same = match (read.next(), items.next()) {
            (None, None) => return true,
            (Some(Item::Pair { key: k1, value: v1 }), Some(Item::Pair { key: k2, value: v2 })) => {
                k1 == k2 && same_value(v1, v2, changes)
            }
            (Some(Item::Elem(v1)), Some(Item::Elem(v2))) => same_value(v1, v2, changes),
            _ => false,
        };
        if !same {
            return false;
        }
    }
}

/// Is the scalar `read` the value of the leaf `leaf` once `changes` are applied (spellings aside)?
pub(super) fn same_leaf(read: &Scalar, leaf: &Leaf, changes: &Changes) -> bool {
    match (read, changed(leaf, changes)) {
        (Scalar::Str(s), Changed::Encrypted(e)) => s.as_str() == e,
        (_, Changed::Encrypted(_)) => false,
        // (A NaN is the same value as a NaN: TOML spells it `nan`, `+nan`, `-nan`.)
        (Scalar::Float(a), Changed::Value(Scalar::Float(b))) => {
            a == b || (a.is_nan() && b.is_nan())
        }
        (a, Changed::Value(b)) => a == b,
    }
}

/// [`same_leaf`] for a JSON reading, where a number read as an integer is also the same as a
/// float leaf of that integer's nearest float64 (what any JSON reading of its text as a number
/// gives). sops reads every JSON number as a float64 (it encrypts `5` as `type:float`) and writes
/// a whole one as an integer (`5`), which sepal's JSON reading gives as an integer: without this,
/// every decryption of such a file failed its read-back and laid the file out again from
/// scratch (twelfth performance round).
pub(super) fn same_json_leaf(read: &Scalar, leaf: &Leaf, changes: &Changes) -> bool {
    match (read, changed(leaf, changes)) {
        (Scalar::Int(i), Changed::Value(Scalar::Float(f))) => *i as f64 == *f,
        _ => same_leaf(read, leaf, changes),
    }
}

/// [`crate::treepath::same_value`] of `read` and the changed `value`.
fn same_value(read: &Value, value: &Value, changes: &Changes) -> bool {
    match (read, value) {
        (Value::Leaf(x), Value::Leaf(y)) => same_leaf(&x.value, y, changes),
        (Value::Map(x), Value::Map(y)) | (Value::List(x), Value::List(y)) => {
            same_items(x, y, changes)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{same_documents, Format, Store};
    use crate::tree::{apply_changes, secret};

    /// Every way of changing the leaves of a few files gives the same answer both ways.
    #[test]
    fn agrees_with_the_changed_tree() {
        let files: &[(Format, &str)] = &[
            (
                Format::Json,
                r#"{"a": "x", "n": [1, 2.5, null, true, {"k": "v"}], "e": {}, "f": 1e3}"#,
            ),
            (
                Format::Yaml,
                "# top\na: x # c\nl:\n  # in list\n  - 1\n  - .nan\n  - [p, q]\nm: {k: v}\n",
            ),
            (Format::Ini, "[s]\n; note\nk = v\nk = w\n"),
        ];
        for &(format, text) in files {
            let store = Store::new(format, Default::default());
            let parsed = store.parse(text.as_bytes()).unwrap();
            let tree = &parsed.tree;
            let n = crate::tree::leaf_count(tree);
            let others = store.parse(files[0].1.as_bytes()).ok();
            let variants: Vec<Box<dyn Fn(usize) -> Option<NewLeaf>>> = vec![
                Box::new(|_| None),
                Box::new(|_| Some(NewLeaf::Encrypted("ENC[x]".into()))),
                Box::new(|i| {
                    Some(NewLeaf::Plain {
                        value: Scalar::Str(secret(format!("v{i}"))),
                        text: secret(""),
                    })
                }),
                Box::new(|_| {
                    Some(NewLeaf::Plain {
                        value: Scalar::Comment(secret("c")),
                        text: secret(""),
                    })
                }),
                Box::new(|_| {
                    Some(NewLeaf::Plain {
                        value: Scalar::Float(f64::NAN),
                        text: secret(""),
                    })
                }),
            ];
            for (v, make) in variants.iter().enumerate() {
                for only in 0..=n {
                    // All leaves changed (only == n), or just one.
                    let changes: Vec<Option<NewLeaf>> = (0..n)
                        .map(|i| {
                            if only == n || i == only {
                                make(i)
                            } else {
                                None
                            }
                        })
                        .collect();
                    let expected = apply_changes(tree, &changes);
                    let candidates = [
                        Some(expected.clone()),
                        Some(tree.clone()),
                        others.as_ref().map(|p| p.tree.clone()),
                    ];
                    for read in candidates.iter().flatten() {
                        assert_eq!(
                            same_as_changed(read, tree, &changes),
                            same_documents(read, &expected),
                            "{format:?} variant {v} leaf {only}"
                        );
                    }
                    assert!(same_as_changed(&expected, tree, &changes));
                }
            }
        }
    }
}
