//! Reading a spliced plaintext back and comparing it with the tree it should hold, in one pass
//! over the text: the same scanner and grammar as [`super::parse`], each value compared as it is
//! read instead of built into a second tree (which a large file would then free again).

use super::scanner::{Builder, ScalarToken, Scanner, Text, MAX_DEPTH};
use crate::stores::changed::{changed_str, is_comment, same_json_leaf};
use crate::stores::StoreError;
use crate::tree::{Changes, Item, Tree, Value};

/// Does `src` parse (as [`super::parse`] parses it) to the documents of `tree` with `changes`
/// applied, comments and spellings aside? The answer of
/// `same_as_changed(&parse(src)?.tree, tree, changes)`. A large text is read in two halves at
/// once, where the JSON reading would split it ([`in_halves`]).
pub(super) fn reads_as_changed(src: &[u8], tree: &Tree, changes: &Changes) -> bool {
    reads_as_changed_from(src, tree, changes, crate::stores::TWO_THREADS_FROM)
}

fn reads_as_changed_from(src: &[u8], tree: &Tree, changes: &Changes, halves_from: usize) -> bool {
    let [doc] = tree.docs.as_slice() else {
        return false;
    };
    let mut scanner = Scanner::new(src, 0);
    scanner.skip_blanks();
    if scanner.peek() != Some(b'{') {
        return false;
    }
    if src.len() >= halves_from {
        if let Some(answer) = in_halves(&scanner, &doc.items, changes) {
            return answer;
        }
    }
    let mut expected = doc.items.iter().filter(|i| !is_comment(i, changes));
    let mut seen_metadata = false;
    let read = scanner.members(|scanner, key, _| {
        top_member(scanner, &key, &mut expected, &mut seen_metadata, changes)
    });
    read.is_ok() && ended(&mut scanner, expected)
}

/// Compare a top-level member (the scanner after its `:`) with the next expected item. The
/// first `sops` member is the metadata, which is not part of the tree: skipped.
fn top_member<'t>(
    scanner: &mut Scanner,
    key: &Text<'_>,
    expected: &mut impl Iterator<Item = &'t Item>,
    seen_metadata: &mut bool,
    changes: &Changes,
) -> Result<(), StoreError> {
    if !*seen_metadata && key.as_str() == "sops" {
        *seen_metadata = true;
        return scanner.value(&mut Skip, 1).map(|_| ());
    }
    match expected.next() {
        Some(Item::Pair { key: k, value }) if k.as_str() == key.as_str() => {
            same(scanner, value, changes, 1)
        }
        _ => Err(mismatch()),
    }
}

/// After the top-level object: nothing more was expected, and only blanks follow.
fn ended<'t>(scanner: &mut Scanner, mut expected: impl Iterator<Item = &'t Item>) -> bool {
    if expected.next().is_some() {
        return false;
    }
    scanner.skip_blanks();
    scanner.pos == scanner.src.len()
}

/// The comparison in two halves at once, the second on another thread, split at the `,` where
/// the JSON reading in halves would split the text (`halves::split_at`). The second half is
/// compared with the items from the only expected one whose key is the one found there. Its
/// answer counts only once the first half, read from the start as on one thread, has met that
/// very `,` between two top-level members after exactly the items before that one; the first
/// half's own answer (a difference, or the whole object read) is the one-thread answer too.
/// `None` (to be compared on one thread): no such `,`, a key found more than once, or a `sops`
/// member in the second half (the metadata only when the first half has none).
fn in_halves(scanner: &Scanner, items: &[Item], changes: &Changes) -> Option<bool> {
    let open_brace = scanner.pos;
    let split = super::halves::split_at(scanner.src, open_brace)?;
    let key = {
        let mut at = scanner.at(split + 1);
        at.skip_blanks();
        at.string().ok()?
    };
    if key.as_str() == "sops" {
        return None;
    }
    let expected: Vec<&Item> = items.iter().filter(|i| !is_comment(i, changes)).collect();
    let mut with_key = expected
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i, Item::Pair { key: k, .. } if k.as_str() == key.as_str()));
    let (start, _) = with_key.next()?;
    if with_key.next().is_some() {
        return None;
    }
    std::thread::scope(|s| {
        let second = crate::threads::spawn_scoped(s, || {
            let mut scanner = scanner.at(split + 1);
            let mut rest = expected[start..].iter().copied();
            let mut sops = false;
            let read = scanner.members_on(None, |scanner, key, _| {
                if key.as_str() == "sops" {
                    sops = true;
                    return Err(mismatch());
                }
                top_member(scanner, &key, &mut rest, &mut true, changes)
            });
            (!sops).then(|| read.is_ok() && ended(&mut scanner, rest))
        });
        let mut first = scanner.at(open_brace + 1);
        let mut before = expected.iter().copied();
        let mut seen_metadata = false;
        let stopped = first.members_on(Some(split), |scanner, key, _| {
            top_member(scanner, &key, &mut before, &mut seen_metadata, changes)
        });
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match stopped {
            Err(_) => Some(false),
            // The guess was no `,` between top-level members: the first half read it all.
            Ok(true) => Some(ended(&mut first, before)),
            Ok(false) if before.len() != expected.len() - start => Some(false),
            Ok(false) => second,
        }
    })
}

/// The comparison of `read` with the reading of `expected`, in halves (whatever the size) against
/// on one thread: an error where they differ (for the fuzz target).
pub(crate) fn compared_with_one_thread(expected: &[u8], read: &[u8]) -> Result<(), &'static str> {
    let Ok(parsed) = super::parse(expected) else {
        return Ok(());
    };
    let none = vec![None; crate::tree::leaf_count(&parsed.tree)];
    let one = reads_as_changed_from(read, &parsed.tree, &none, usize::MAX);
    if reads_as_changed_from(read, &parsed.tree, &none, 0) == one {
        Ok(())
    } else {
        Err("the read-back in halves answers otherwise than on one thread")
    }
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
        // A string is compared where it is (no copy of it made).
        (Some(b'"'), Value::Leaf(leaf)) => {
            let text = scanner.string_text()?;
            if changed_str(leaf, changes) == Some(text.as_str()) {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        (Some(_), Value::Leaf(leaf)) => {
            let token = scanner.scalar()?;
            if same_json_leaf(&token.value, leaf, changes) {
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
    fn leaf_text(&mut self, _: Text<'_>, _: usize, _: usize) {}
    fn member(&mut self, _: &mut (), _: Text<'_>, _: usize, _: ()) {}
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

    /// A whole float64 written as an integer (as sops writes it, and the splice keeps its text)
    /// reads back as that float; another number, or a float that is not the integer's nearest
    /// float64, does not.
    #[test]
    fn an_integer_spelling_reads_back_as_the_float_it_is() {
        let tree = parse(br#"{"n": "ENC[...]", "m": "ENC[...]"}"#)
            .unwrap()
            .tree;
        let float = |f: f64| {
            Some(NewLeaf::Plain {
                value: Scalar::Float(f),
                text: secret(""),
            })
        };
        let reads =
            |out: &str, n: f64| reads_as_changed(out.as_bytes(), &tree, &[float(n), float(0.5)]);
        assert!(reads(r#"{"n": 5, "m": 0.5}"#, 5.0));
        assert!(reads(r#"{"n": -0, "m": 0.5}"#, 0.0));
        // 2^53 + 1 has no float64 of its own: its nearest is 2^53.
        assert!(reads(
            r#"{"n": 9007199254740993, "m": 0.5}"#,
            9007199254740992.0
        ));
        assert!(!reads(r#"{"n": 5, "m": 0.5}"#, 5.5));
        assert!(!reads(r#"{"n": 6, "m": 0.5}"#, 5.0));
        assert!(!reads(
            r#"{"n": 9007199254740995, "m": 0.5}"#,
            9007199254740992.0
        ));
        assert!(!reads(r#"{"n": "5", "m": 0.5}"#, 5.0));
        assert!(!reads(r#"{"n": true, "m": 0.5}"#, 1.0));
    }

    /// Texts laid out as a large file is (one top-level member a line), compared in halves
    /// (forced) and on one thread, against parsing and comparing.
    #[test]
    fn halves_agree_with_parsing_and_comparing() {
        let tree_src =
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4\n}\n";
        let outputs = [
            tree_src,
            // A difference in the first half, in the second, or at the split.
            "{\n  \"a\": 2,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4\n}\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 5\n}\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"q\": \"s\",\n  \"d\": 4\n}\n",
            // A member more or fewer in either half, members swapped across the split.
            "{\n  \"a\": 1,\n  \"z\": 0,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4\n}\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\"\n}\n",
            "{\n  \"a\": 1,\n  \"c\": \"s\",\n  \"b\": {\"x\": [1, 2]},\n  \"d\": 4\n}\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4,\n  \"e\": 5\n}\n",
            // The metadata in either half; a key found twice.
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"sops\": {},\n  \"d\": 4\n}\n",
            "{\n  \"sops\": 1,\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4\n}\n",
            "{\n  \"sops\": 1,\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"sops\": 2,\n  \"d\": 4\n}\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"a\": \"s\",\n  \"d\": 4\n}\n",
            // The split's pattern inside a nested object; trailing text; a broken end.
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]\n,\n  \"c\": \"s\",\n  \"d\": 4\n}}\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4\n} x\n",
            "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": \"s\",\n  \"d\": 4\n",
        ];
        let tree = parse(tree_src.as_bytes()).unwrap().tree;
        let none = vec![None; crate::tree::leaf_count(&tree)];
        let mut halves = 0;
        for out in outputs {
            let want = parse(out.as_bytes()).is_ok_and(|p| same_as_changed(&p.tree, &tree, &none));
            let mut scanner = Scanner::new(out.as_bytes(), 0);
            scanner.skip_blanks();
            halves += usize::from(in_halves(&scanner, &tree.docs[0].items, &none).is_some());
            assert_eq!(
                reads_as_changed_from(out.as_bytes(), &tree, &none, 0),
                want,
                "{out}"
            );
            assert_eq!(
                reads_as_changed(out.as_bytes(), &tree, &none),
                want,
                "{out}"
            );
        }
        assert!(halves >= 10, "{halves} compared in halves");
    }

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
                    assert_eq!(
                        reads_as_changed_from(out.as_bytes(), &tree, changes, 0),
                        want,
                        "{tree_src} / {out}"
                    );
                }
            }
        }
    }
}
