//! Reading a spliced plaintext back and comparing it with the tree it should hold, in one pass
//! over the text: the same scanner and grammar as [`super::parse`], each value compared as it is
//! read instead of built into a second tree (which a large file would then free again).

use super::scanner::{Builder, ScalarToken, Scanner, MAX_DEPTH};
use crate::stores::changed::{is_comment, same_leaf};
use crate::stores::StoreError;
use crate::tree::{Changes, Item, Secret, Tree, Value};

/// Does `src` parse (as [`super::parse`] parses it) to the documents of `tree` with `changes`
/// applied, comments and spellings aside? The answer of
/// `same_as_changed(&parse(src)?.tree, tree, changes)`.
pub(super) fn reads_as_changed(src: &[u8], tree: &Tree, changes: &Changes) -> bool {
    let [doc] = tree.docs.as_slice() else {
        return false;
    };
    let mut scanner = Scanner::new(src, 0);
    scanner.skip_blanks();
    if scanner.peek() != Some(b'{') {
        return false;
    }
    let mut expected = doc.items.iter().filter(|i| !is_comment(i, changes));
    let mut seen_metadata = false;
    let read = scanner.members(|scanner, key, _| {
        // The first `sops` member is the metadata, which is not part of the tree.
        if !seen_metadata && key.as_str() == "sops" {
            seen_metadata = true;
            return scanner.value(&mut Skip, 1).map(|_| ());
        }
        match expected.next() {
            Some(Item::Pair { key: k, value }) if k.as_str() == key.as_str() => {
                same(scanner, value, changes, 1)
            }
            _ => Err(mismatch()),
        }
    });
    if read.is_err() || expected.next().is_some() {
        return false;
    }
    scanner.skip_blanks();
    scanner.pos == src.len()
}

/// Not an error of the text: the sign that it does not read as expected (stops the scan).
fn mismatch() -> StoreError {
    StoreError::new("the output does not read back as the expected values")
}

/// Read the value at the scanner and compare it with `expected`; an error when it differs.
fn same(
    scanner: &mut Scanner,
    expected: &Value,
    changes: &Changes,
    depth: usize,
) -> Result<(), StoreError> {
    if depth > MAX_DEPTH {
        return Err(mismatch());
    }
    scanner.skip_blanks();
    match (scanner.peek(), expected) {
        (Some(b'{'), Value::Map(items)) => {
            let mut items = items.iter().filter(|i| !is_comment(i, changes));
            scanner.members(|scanner, key, _| match items.next() {
                Some(Item::Pair { key: k, value }) if k.as_str() == key.as_str() => {
                    same(scanner, value, changes, depth + 1)
                }
                _ => Err(mismatch()),
            })?;
            match items.next() {
                None => Ok(()),
                Some(_) => Err(mismatch()),
            }
        }
        (Some(b'['), Value::List(items)) => {
            let mut items = items.iter().filter(|i| !is_comment(i, changes));
            scanner.elements(|scanner| match items.next() {
                Some(Item::Elem(value)) => same(scanner, value, changes, depth + 1),
                _ => Err(mismatch()),
            })?;
            match items.next() {
                None => Ok(()),
                Some(_) => Err(mismatch()),
            }
        }
        (Some(b'{' | b'['), _) | (None, _) => Err(mismatch()),
        (Some(_), Value::Leaf(leaf)) => {
            let token = scanner.scalar()?;
            if same_leaf(&token.value, leaf, changes) {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        (Some(_), _) => Err(mismatch()),
    }
}

/// Reads a value without keeping anything of it (the metadata).
struct Skip;

impl Builder for Skip {
    type Node = ();
    type Object = ();
    type Array = ();

    fn leaf(&mut self, _: ScalarToken) {}
    fn member(&mut self, _: &mut (), _: Secret, _: usize, _: ()) {}
    fn element(&mut self, _: &mut (), _: ()) {}
    fn object(&mut self, _: (), _: usize, _: usize) {}
    fn array(&mut self, _: (), _: usize, _: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::json::parse;
    use crate::stores::same_as_changed;
    use crate::tree::{secret, NewLeaf, Scalar};

    #[test]
    fn agrees_with_parsing_and_comparing() {
        let trees = [
            r#"{"a": "x", "n": [1, 2.5, null, true, {"k": "v"}], "e": {}, "l": [], "f": 1e3}"#,
            r#"{"a": "x", "n": [1, 2.5, null, true, {"k": "v"}], "e": {}, "l": []}"#,
            r#"{"a": "y", "n": [1, 2.5, null, true, {"k": "v"}], "e": {}, "l": [], "f": 1e3}"#,
            r#"{"n": [1, 2.5, null, true, {"k": "v"}], "a": "x", "e": {}, "l": [], "f": 1e3}"#,
        ];
        let outputs = [
            trees[0],
            trees[1],
            trees[2],
            trees[3],
            r#"{"a": "x", "sops": {"mac": 1}, "n": [1, 2.5, null, true, {"k": "v"}], "e": {}, "l": [], "f": 1e3}"#,
            r#"{"a": "x", "n": [1, 2.5, null, true, {"k": "v"}], "e": {}, "l": [], "f": 1e3} x"#,
            r#"{"a": "x", "n": [1, 2.5, null, true, {"k": "v", "z": 1}], "e": {}, "l": [], "f": 1e3}"#,
            r#"{"a": "x", "n": [1, 2.5, null, true], "e": {}, "l": [], "f": 1000}"#,
            r#"{"a": "x", "n": [1, 2.5, null, true, {"k": "v"}], "e": [], "l": {}, "f": 1e3}"#,
            r#"{"a": "x", "n": {"0": 1}, "e": {}, "l": [], "f": 1e3}"#,
            r#"["a"]"#,
            r#"{"a": "#,
            "",
        ];
        for tree_src in trees {
            let tree = parse(tree_src.as_bytes()).unwrap().tree;
            let n = crate::tree::leaf_count(&tree);
            let none = vec![None; n];
            let first_changed: Vec<Option<NewLeaf>> = (0..n)
                .map(|i| {
                    (i == 0).then(|| NewLeaf::Plain {
                        value: Scalar::Str(secret("y")),
                        text: secret("y"),
                    })
                })
                .collect();
            for changes in [&none, &first_changed] {
                for out in outputs {
                    let want = parse(out.as_bytes())
                        .is_ok_and(|p| same_as_changed(&p.tree, &tree, changes));
                    assert_eq!(
                        reads_as_changed(out.as_bytes(), &tree, changes),
                        want,
                        "{tree_src} / {out}"
                    );
                }
            }
        }
    }
}
