//! Round trips through parse and splice, the tree's shape, parse errors and the emitter, on INI
//! files written the ways ini.v1 reads them.

use super::{emit, parse, splice, Layout};
use crate::stores::testutil::*;
use crate::stores::{NewLeaf, Parsed, StoreOptions};
use crate::tree::{secret, Item, Scalar, Tree, Value};

fn layout(p: &Parsed) -> &Layout {
    p.layout.of::<Layout>().unwrap()
}

fn encrypted_by_round_trip(src: &str) -> String {
    let enc = round_trip(src, parse, |p, c, m| {
        splice(layout(p), p, c, m, &StoreOptions::default())
    });
    String::from_utf8(enc).unwrap()
}

const SAMPLE: &str = "; top comment\n# second\n[sec1]\na = 1 ; inline\n; before b\nlongkey: \"  quoted  \"\nc = `x;y`\nd = \"\"\"multi\nline\"\"\"\n\n[sec2]\nx=1\n";

fn section<'a>(p: &'a Parsed, name: &str) -> &'a [Item] {
    match crate::tree::get(&p.tree.docs[0].items, name) {
        Some(Value::Map(items)) => items,
        _ => panic!("no section {name}"),
    }
}

#[test]
fn shape() {
    let p = parse(SAMPLE.as_bytes()).unwrap();
    let names: Vec<_> = p.tree.docs[0]
        .items
        .iter()
        .map(|i| match i {
            Item::Pair { key, .. } => key.clone(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(names, ["DEFAULT", "sec1", "sec2"]);
    let s1 = section(&p, "sec1");
    let com = |t: &str| Scalar::Comment(secret(t));
    let st = |t: &str| Scalar::Str(secret(t));
    let got: Vec<(String, Scalar)> = s1
        .iter()
        .map(|i| match i {
            Item::Comment(l) => (String::new(), l.value.clone()),
            Item::Pair {
                key,
                value: Value::Leaf(l),
            } => (key.clone(), l.value.clone()),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (String::new(), com("top comment\n# second")),
            ("a".into(), st("1")),
            (String::new(), com("inline")),
            ("longkey".into(), st("  quoted  ")),
            (String::new(), com("before b")),
            ("c".into(), st("x;y")),
            ("d".into(), st("multi\nline")),
        ]
    );
    let leaves = collect(&p.tree);
    assert!(leaves.iter().enumerate().all(|(n, l)| l.id == n));
}

#[test]
fn errors() {
    for bad in [
        "[sec\n",
        "[]\n",
        "novalue\n",
        "=x\n",
        "k = \"\"\"open\nmore\n",
    ] {
        let e = parse(bad.as_bytes()).err();
        assert!(e.is_some(), "{bad}");
    }
    let e = parse(b"[s]\nSECRET\n").err().unwrap();
    assert_eq!(e.line, Some(2));
    assert!(!e.message.contains("SECRET"));
}

#[test]
fn round_trips() {
    for src in [
        SAMPLE,
        "k=v\n[s]\na=b",
        "k = v\r\n; c\r\n[s]\r\na = 'single'\r\n",
        "[s]\n  indented   =   spaced value   # trailing\nempty =\nq = \"a\" ; c\n",
        "#only comment\n",
        "",
        "[a]\nx = 1\n[a]\nx = 2\n",
        "[s]\nk = \"\"\"multi\nline\"\"\" ; after\nz = \u{e9}\u{1F600}\n",
        "[s]\n;;;\n; b\nk = v\n\n; trailing\n",
        "[s]\n- = auto\n- = auto2\n",
        "[s]\n\"quoted key\" = v\n",
    ] {
        encrypted_by_round_trip(src);
    }
    let enc = encrypted_by_round_trip("[s]\na = 1\n");
    assert!(enc.starts_with("[s]\na = ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\n\n[sops]\nage__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nYWdl"), "{enc}");
    let enc = encrypted_by_round_trip(SAMPLE);
    assert!(enc.starts_with("; ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\n[sec1]\na = ENC[AES256_GCM,data:1,iv:x,tag:y,type:str] ; ENC[AES256_GCM,data:2,iv:x,tag:y,type:str]\n"), "{enc}");
}

#[test]
fn lossy_cases_keep_tree() {
    // Continuation lines and inline section comments come back in another form.
    for src in [
        "[s]\nk = a \\\n  b\n",
        "# c\n[s] ; inline\nk = v\n",
        "[s]\n# a\n\n# b\nk = v\n",
        "[s]\ndup = 1\ndup = 2\n",
        "[s] ; header inline\nk = v\n",
        "[s]\nk = `multi\nline` ; after\n",
    ] {
        let p = parse(src.as_bytes()).unwrap();
        let leaves = collect(&p.tree);
        let ch: Vec<_> = leaves
            .iter()
            .map(|l| {
                Some(NewLeaf::Encrypted(format!(
                    "ENC[AES256_GCM,data:{},iv:x,tag:y,type:str]",
                    l.id
                )))
            })
            .collect();
        let enc = splice(
            layout(&p),
            &p,
            &ch,
            Some(&sample_metadata()),
            &StoreOptions::default(),
        )
        .unwrap();
        let p2 = parse(&enc).unwrap();
        let back: Vec<_> = leaves.iter().map(|l| Some(plain_of(l))).collect();
        let dec = splice(layout(&p2), &p2, &back, None, &StoreOptions::default()).unwrap();
        let p3 = parse(&dec).unwrap();
        assert_eq!(
            norm_tree(&p3.tree),
            norm_tree(&p.tree),
            "{}",
            String::from_utf8_lossy(&dec)
        );
    }
}

fn norm_tree(t: &Tree) -> Value {
    norm(&Value::Map(t.docs[0].items.clone()))
}

#[test]
fn emit_like_sops() {
    let p = parse(SAMPLE.as_bytes()).unwrap();
    let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "; top comment\n# second\n[sec1]\n; inline\na       = 1\n; before b\nlongkey = \"  quoted  \"\nc       = `x;y`\nd       = \"\"\"multi\nline\"\"\"\n\n[sec2]\nx = 1\n"
    );
    let p = parse(b"k=v\n[s]\na=b\n").unwrap();
    let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "k = v\n\n[s]\na = b\n");
}
