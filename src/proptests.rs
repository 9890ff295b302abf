//! Property tests: random trees and random files survive encrypt → decrypt unchanged.

use proptest::prelude::*;

use crate::crypto::DataKey;
use crate::stores::{apply_changes, Format, NewLeaf, Store, StoreOptions};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value};
use crate::walk::{decrypt_tree, encrypt_tree, Selection, Stash};

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        Just(Scalar::Null),
        any::<bool>().prop_map(Scalar::Bool),
        any::<i64>().prop_map(Scalar::Int),
        (-1e15f64..1e15).prop_map(Scalar::Float),
        // Printable text, quotes, backslashes, newlines and non-ASCII; not `<>&`, which sops's
        // JSON writer escapes and sepal's splice writes raw (docs/compatibility.md).
        "[a-zA-Z0-9 _.:/@\"'\\\\\n\té€#-]{0,12}".prop_map(|s| Scalar::Str(secret(s))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = scalar().prop_map(|s| Value::Leaf(Leaf::new(0, s)));
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(("[a-z_]{1,6}", inner.clone()), 0..4).prop_map(|kv| {
                Value::Map(
                    dedup(kv)
                        .into_iter()
                        .map(|(k, v)| Item::pair(k, v))
                        .collect(),
                )
            }),
            prop::collection::vec(inner, 0..4)
                .prop_map(|vs| Value::List(vs.into_iter().map(Item::Elem).collect())),
        ]
    })
}

fn dedup(kv: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut seen = std::collections::HashSet::new();
    kv.into_iter()
        .filter(|(k, _)| k != "sops" && seen.insert(k.clone()))
        .collect()
}

fn tree() -> impl Strategy<Value = Tree> {
    prop::collection::vec(("[a-z_]{1,6}", value()), 1..5).prop_map(|kv| {
        let mut t = Tree {
            docs: vec![Doc {
                items: dedup(kv)
                    .into_iter()
                    .map(|(k, v)| Item::pair(k, v))
                    .collect(),
            }],
        };
        renumber(&mut t);
        t
    })
}

fn renumber(t: &mut Tree) {
    fn go(items: &mut [Item], n: &mut usize) {
        for i in items {
            match i {
                Item::Comment(l) => {
                    l.id = *n;
                    *n += 1;
                }
                Item::Pair { value, .. } | Item::Elem(value) => match value {
                    Value::Leaf(l) => {
                        l.id = *n;
                        *n += 1;
                    }
                    Value::Map(xs) | Value::List(xs) => go(xs, n),
                },
            }
        }
    }
    let mut n = 0;
    for d in &mut t.docs {
        go(&mut d.items, &mut n);
    }
}

/// Values only (the `text` spellings differ between a tree and its decryption).
fn values(t: &Tree) -> Vec<Scalar> {
    let mut out = Vec::new();
    for d in &t.docs {
        crate::tree::for_each_leaf(&d.items, &mut |l| out.push(l.value.clone()));
    }
    out
}

/// Encrypt then decrypt a file's bytes through a store, returning the decrypted bytes.
fn store_round_trip(format: Format, src: &[u8]) -> Vec<u8> {
    let store = Store::new(format, StoreOptions::default());
    let key = DataKey::generate();
    let sel = Selection::default();
    let parsed = store.parse(src).expect("plaintext parses");
    let enc =
        encrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::default()).expect("encrypts");
    let meta = crate::fuzzing::test_metadata(&sel);
    let bytes = store
        .splice(&parsed, &enc.changes, Some(&meta.to_value()))
        .expect("splices encrypted");
    let parsed2 = store.parse(&bytes).expect("encrypted output parses");
    assert!(parsed2.metadata.is_some(), "metadata found again");
    let dec =
        decrypt_tree(&parsed2.tree, &key, &sel, false, &mut Stash::default()).expect("decrypts");
    assert_eq!(
        dec.mac, enc.mac,
        "MAC of the decryption equals the MAC of the encryption"
    );
    store
        .splice(&parsed2, &dec.changes, None)
        .expect("splices decrypted")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn tree_round_trip(t in tree()) {
        let key = DataKey::generate();
        let sel = Selection::default();
        let enc = encrypt_tree(&t, &key, &sel, false, &mut Stash::default()).unwrap();
        let et = apply_changes(&t, &enc.changes);
        for c in enc.changes.iter().flatten() {
            prop_assert!(matches!(c, NewLeaf::Encrypted(_)));
        }
        let dec = decrypt_tree(&et, &key, &sel, false, &mut Stash::default()).unwrap();
        prop_assert_eq!(&dec.mac, &enc.mac);
        let dt = apply_changes(&et, &dec.changes);
        prop_assert_eq!(values(&dt), values(&t));
    }

    #[test]
    fn json_file_round_trip(t in tree()) {
        let store = Store::new(Format::Json, StoreOptions::default());
        let src = store.emit(&t, None).unwrap();
        prop_assert_eq!(store_round_trip(Format::Json, &src), src);
    }

    #[test]
    fn yaml_file_round_trip(t in tree()) {
        let store = Store::new(Format::Yaml, StoreOptions::default());
        let src = store.emit(&t, None).unwrap();
        prop_assert_eq!(store_round_trip(Format::Yaml, &src), src);
    }

    #[test]
    fn dotenv_file_round_trip(lines in prop::collection::vec(("[A-Z_]{1,8}", "[^\\n\\r]{0,16}"), 1..8)) {
        let mut src = String::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in lines {
            if k.starts_with("SOPS_") || k.to_lowercase().starts_with("sops_") || !seen.insert(k.clone()) {
                continue;
            }
            src.push_str(&format!("{k}={v}\n"));
        }
        prop_assume!(!src.is_empty());
        prop_assert_eq!(store_round_trip(Format::Dotenv, src.as_bytes()), src.as_bytes());
    }

    #[test]
    fn parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        for f in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
            crate::fuzzing::parse_and_splice(f, &data);
        }
    }
}
