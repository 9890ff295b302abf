//! Test helpers shared by the JSON, dotenv, INI and binary store tests.

use crate::stores::{Changes, NewLeaf, Parsed, StoreError};
use crate::tree::{for_each_leaf, secret, Item, Leaf, Scalar, Tree, Value};

/// All leaves in walk order.
pub fn collect(tree: &Tree) -> Vec<Leaf> {
    let mut out = Vec::new();
    for d in &tree.docs {
        for_each_leaf(&d.items, &mut |l| out.push(l.clone()));
    }
    out
}

fn s(v: &str) -> Value {
    Value::Leaf(Leaf::new(usize::MAX, Scalar::Str(secret(v))))
}

/// A metadata map as the cipher layer would build it (keys sorted, as sops 3.13 writes them).
pub fn sample_metadata() -> Value {
    Value::Map(vec![
        Item::pair(
            "age",
            Value::List(vec![Item::Elem(Value::Map(vec![
                Item::pair(
                    "enc",
                    s("-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBhYmMK\nZGVm\n-----END AGE ENCRYPTED FILE-----\n"),
                ),
                Item::pair("recipient", s("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")),
            ]))]),
        ),
        Item::pair("lastmodified", s("2024-01-02T03:04:05Z")),
        Item::pair("mac", s("ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi==,type:str]")),
        Item::pair("unencrypted_suffix", s("_unencrypted")),
        Item::pair("version", s("3.11.0")),
    ])
}

/// The same value with every leaf id set to `usize::MAX` (ids of metadata do not matter).
pub fn norm(v: &Value) -> Value {
    match v {
        Value::Leaf(l) => Value::Leaf(Leaf {
            id: usize::MAX,
            value: l.value.clone(),
            text: None,
            shadowed: false,
        }),
        Value::Map(items) => Value::Map(items.iter().map(norm_item).collect()),
        Value::List(items) => Value::List(items.iter().map(norm_item).collect()),
    }
}

fn norm_item(i: &Item) -> Item {
    match i {
        Item::Comment(l) => Item::Comment(Leaf {
            id: usize::MAX,
            value: l.value.clone(),
            text: None,
            shadowed: false,
        }),
        Item::Pair { key, value } => Item::pair(key.clone(), norm(value)),
        Item::Elem(v) => Item::Elem(norm(v)),
    }
}

fn is_empty(l: &Leaf) -> bool {
    match &l.value {
        Scalar::Null => true,
        Scalar::Str(s) | Scalar::Comment(s) => s.is_empty(),
        _ => false,
    }
}

/// Plaintext as the cipher would hand it back.
pub fn plain_of(l: &Leaf) -> NewLeaf {
    let text = match (&l.value, &l.text) {
        (_, Some(t)) => t.to_string(),
        (Scalar::Bool(b), None) => if *b { "True" } else { "False" }.to_string(),
        (Scalar::Int(i), None) => i.to_string(),
        (Scalar::Float(f), None) => crate::gotext::float_f(*f),
        (v, None) => v.as_str().unwrap_or("").to_string(),
    };
    NewLeaf::Plain {
        value: l.value.clone(),
        text: secret(text),
    }
}

/// Encrypt every non-empty leaf with a fake ciphertext and add metadata, re-parse and check,
/// then decrypt back and check byte identity. Returns the encrypted bytes.
pub fn round_trip(
    src: &str,
    parse: impl Fn(&[u8]) -> Result<Parsed, StoreError>,
    splice: impl Fn(&Parsed, &Changes, Option<&Value>) -> Result<Vec<u8>, StoreError>,
) -> Vec<u8> {
    round_trip_bytes(src.as_bytes(), parse, splice)
}

pub fn round_trip_bytes(
    src: &[u8],
    parse: impl Fn(&[u8]) -> Result<Parsed, StoreError>,
    splice: impl Fn(&Parsed, &Changes, Option<&Value>) -> Result<Vec<u8>, StoreError>,
) -> Vec<u8> {
    let show = String::from_utf8_lossy(src).into_owned();
    let p = parse(src).unwrap_or_else(|e| panic!("parse {show:?}: {e}"));
    let leaves = collect(&p.tree);
    for (n, l) in leaves.iter().enumerate() {
        assert_eq!(l.id, n, "ids in walk order for {show:?}");
    }
    let meta = sample_metadata();
    let changes: Vec<Option<NewLeaf>> = leaves
        .iter()
        .map(|l| {
            (!is_empty(l)).then(|| {
                NewLeaf::Encrypted(format!("ENC[AES256_GCM,data:{},iv:x,tag:y,type:str]", l.id))
            })
        })
        .collect();
    let enc = splice(&p, &changes, Some(&meta)).unwrap_or_else(|e| panic!("splice {show:?}: {e}"));
    let encs = String::from_utf8_lossy(&enc).into_owned();
    let p2 = parse(&enc).unwrap_or_else(|e| panic!("reparse {encs:?}: {e}"));
    assert_eq!(
        p2.metadata.as_ref().map(norm),
        Some(norm(&meta)),
        "metadata of {encs}"
    );
    let leaves2 = collect(&p2.tree);
    assert_eq!(leaves2.len(), leaves.len(), "leaf count of {encs}");
    for (a, b) in leaves.iter().zip(&leaves2) {
        match &changes[a.id] {
            Some(NewLeaf::Encrypted(e)) => {
                assert_eq!(
                    b.value.as_str(),
                    Some(e.as_str()),
                    "leaf {} of {encs}",
                    a.id
                );
                assert_eq!(
                    matches!(a.value, Scalar::Comment(_)),
                    matches!(b.value, Scalar::Comment(_)),
                    "leaf kind {} of {encs}",
                    a.id
                );
            }
            _ => assert_eq!(a.value, b.value, "empty leaf {} of {encs}", a.id),
        }
    }
    let back: Vec<Option<NewLeaf>> = leaves
        .iter()
        .zip(&changes)
        .map(|(l, c)| c.as_ref().map(|_| plain_of(l)))
        .collect();
    let dec = splice(&p2, &back, None).unwrap_or_else(|e| panic!("decrypt splice {encs:?}: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&dec),
        show,
        "decrypted form of {encs}"
    );
    assert_eq!(dec, src);
    enc
}

/// Parse many small random inputs with every store, and splice them: nothing may panic.
#[test]
fn no_panics_on_noise() {
    use crate::stores::{Format, Store, StoreOptions};
    let alphabet: &[u8] = b"[]{}=:;#\"'`\\\n\r ab-1.e,s_opt\xff";
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..6000 {
        let len = (seed % 24) as usize;
        let mut input = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            input.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        for fmt in [
            Format::Json,
            Format::Dotenv,
            Format::Ini,
            Format::Toml,
            Format::Binary,
        ] {
            let st = Store::new(fmt, StoreOptions::default());
            if let Ok(p) = st.parse(&input) {
                let leaves = collect(&p.tree);
                let enc: Vec<_> = leaves
                    .iter()
                    .map(|l| {
                        Some(NewLeaf::Encrypted(format!(
                            "ENC[AES256_GCM,data:{},iv:x,tag:y,type:str]",
                            l.id
                        )))
                    })
                    .collect();
                let show = String::from_utf8_lossy(&input).into_owned();
                if let Err(e) = st.splice(&p, &enc, Some(&sample_metadata())) {
                    assert!(!e.message.contains("overlapping"), "{fmt:?} {show:?}");
                }
                let plain: Vec<_> = leaves.iter().map(|l| Some(plain_of(l))).collect();
                if let Err(e) = st.splice(&p, &plain, None) {
                    assert!(!e.message.contains("overlapping"), "{fmt:?} {show:?}");
                }
                let _ = st.emit(&p.tree, p.metadata.as_ref());
            }
        }
    }
}
