//! `set`/`unset` as text edits: original text → edit → exact expected text.

use super::{Format, Store, StoreOptions};
use crate::tree::{secret, Leaf, Scalar, Value};
use crate::treepath;

/// A `set` value as `sops set` reads it (numbers are floats, objects through the JSON store).
fn val(json: &str) -> Value {
    let leaf = |s: Scalar| Value::Leaf(Leaf::new(0, s));
    match serde_json::from_str::<serde_json::Value>(json).unwrap() {
        serde_json::Value::Null => leaf(Scalar::Null),
        serde_json::Value::Bool(b) => leaf(Scalar::Bool(b)),
        serde_json::Value::Number(n) => leaf(Scalar::Float(n.as_f64().unwrap())),
        serde_json::Value::String(s) => leaf(Scalar::Str(secret(s))),
        serde_json::Value::Array(_) => panic!("arrays are refused"),
        serde_json::Value::Object(_) => {
            let p = Store::new(Format::Json, StoreOptions::default())
                .parse(json.as_bytes())
                .unwrap();
            Value::Map(p.tree.docs.into_iter().next().unwrap().items)
        }
    }
}

fn store(f: Format) -> Store {
    Store::new(f, StoreOptions::default())
}

/// `set` through the text edit (no fallback allowed), checked against the tree semantics.
fn set(f: Format, src: &str, path: &str, value: &str) -> String {
    let st = store(f);
    let parsed = st.parse(src.as_bytes()).unwrap();
    let steps = treepath::parse(path).unwrap();
    let v = val(value);
    let out = st
        .set_at(&parsed, &steps, &v)
        .unwrap()
        .expect("no text edit");
    let mut expected = parsed.tree.clone();
    if expected.docs.is_empty() {
        expected.docs.push(Default::default());
    }
    treepath::set(&mut expected.docs[0].items, &steps, v.clone());
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        st.reads_as(&out, &expected),
        "reads back differently:\n{text}"
    );
    assert_eq!(st.set(&parsed, &steps, &v).unwrap(), out);
    text
}

fn unset(f: Format, src: &str, path: &str) -> String {
    let st = store(f);
    let parsed = st.parse(src.as_bytes()).unwrap();
    let steps = treepath::parse(path).unwrap();
    let out = st.unset_at(&parsed, &steps).unwrap().expect("no text edit");
    let mut expected = parsed.tree.clone();
    treepath::unset(&mut expected.docs[0].items, &steps).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        st.reads_as(&out, &expected),
        "reads back differently:\n{text}"
    );
    assert_eq!(st.unset(&parsed, &steps).unwrap(), out);
    text
}

const Y: Format = Format::Yaml;

const DOC: &str = "\
# head comment
a: 1 # one
b:
  # inner
  c: x
  d: [1, 2]
list:
  - p
  - q # last

# foot
z: {k: v}
";

#[test]
fn yaml_add_keys() {
    assert_eq!(
        set(Y, DOC, r#"["new"]["deep"]"#, r#""v""#),
        DOC.replace("z: {k: v}\n", "z: {k: v}\nnew:\n  deep: v\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["b"]["e"]"#, "true"),
        DOC.replace("  d: [1, 2]\n", "  d: [1, 2]\n  e: true\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["z"]["m"]"#, "5"),
        DOC.replace("{k: v}", "{k: v, m: 5}")
    );
    assert_eq!(
        set(Y, DOC, r#"["b"]["x"][3]"#, r#""s""#),
        DOC.replace("  d: [1, 2]\n", "  d: [1, 2]\n  x:\n    - s\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["m"]"#, r#"{"k": 1, "l": {"x": "w"}}"#),
        format!("{DOC}m:\n  k: 1\n  l:\n    x: w\n")
    );
}

#[test]
fn yaml_lists() {
    assert_eq!(
        set(Y, DOC, r#"["list"][99]"#, "5"),
        DOC.replace("  - q # last\n", "  - q # last\n  - 5\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["b"]["d"][7]"#, r#""w""#),
        DOC.replace("[1, 2]", "[1, 2, w]")
    );
    assert_eq!(unset(Y, DOC, r#"["list"][0]"#), DOC.replace("  - p\n", ""));
    assert_eq!(
        unset(Y, DOC, r#"["list"][1]"#),
        DOC.replace("  - q # last\n", "")
    );
    assert_eq!(
        unset(Y, DOC, r#"["b"]["d"][0]"#),
        DOC.replace("[1, 2]", "[2]")
    );
    assert_eq!(
        unset(Y, DOC, r#"["b"]["d"][1]"#),
        DOC.replace("[1, 2]", "[1]")
    );
    let one = "l:\n  - only\nk: 1\n";
    assert_eq!(unset(Y, one, r#"["l"][0]"#), "l: []\nk: 1\n");
    let maps = "l:\n  - name: a\n    v: 1\n  - name: b\n";
    assert_eq!(
        unset(Y, maps, r#"["l"][0]["name"]"#),
        "l:\n  - v: 1\n  - name: b\n"
    );
    assert_eq!(
        unset(Y, maps, r#"["l"][0]["v"]"#),
        "l:\n  - name: a\n  - name: b\n"
    );
    assert_eq!(
        set(Y, maps, r#"["l"][1]["v"]"#, "2"),
        "l:\n  - name: a\n    v: 1\n  - name: b\n    v: 2\n"
    );
    assert_eq!(
        set(Y, maps, r#"["l"][5]"#, r#"{"name": "c"}"#),
        "l:\n  - name: a\n    v: 1\n  - name: b\n  - name: c\n"
    );
    // A compact (non-indented) sequence under a key.
    let compact = "l:\n- a\n- b\nk: 1\n";
    assert_eq!(
        set(Y, compact, r#"["l"][2]"#, r#""c""#),
        "l:\n- a\n- b\n- c\nk: 1\n"
    );
}

#[test]
fn yaml_replace_shapes() {
    assert_eq!(
        set(Y, DOC, r#"["a"]"#, r#"{"x": 1}"#),
        DOC.replace("a: 1 # one\n", "a: # one\n  x: 1\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["b"]"#, r#""flat""#),
        DOC.replace("b:\n  # inner\n  c: x\n  d: [1, 2]\n", "b: flat\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["a"]["x"]"#, r#""w""#),
        DOC.replace("a: 1 # one\n", "a: # one\n  x: w\n")
    );
    assert_eq!(
        set(Y, DOC, r#"["z"]"#, r#"{}"#),
        DOC.replace("{k: v}", "{}")
    );
    assert_eq!(
        set(
            Y,
            DOC,
            r#"["z"]["k"]"#,
            r#"{"q": [1]}"#.replace("[1]", "1").as_str()
        ),
        DOC.replace("{k: v}", "{k: {q: 1}}")
    );
    assert_eq!(
        set(Y, DOC, r#"["a"]"#, r#""two\nlines""#),
        DOC.replace("a: 1 # one\n", "a: |- # one\n  two\n  lines\n")
    );
    let block = "k: |\n  text\n  more\nn: 1\n";
    assert_eq!(set(Y, block, r#"["k"]["x"]"#, "1"), "k:\n    x: 1\nn: 1\n");
    let empty = "k:\nn: 1\n";
    assert_eq!(set(Y, empty, r#"["k"]["x"]"#, "1"), "k:\n    x: 1\nn: 1\n");
}

#[test]
fn yaml_unset_entries() {
    assert_eq!(unset(Y, DOC, r#"["a"]"#), DOC.replace("a: 1 # one\n", ""));
    assert_eq!(
        unset(Y, DOC, r#"["b"]"#),
        DOC.replace("b:\n  # inner\n  c: x\n  d: [1, 2]\n", "")
    );
    assert_eq!(unset(Y, DOC, r#"["b"]["c"]"#), DOC.replace("  c: x\n", ""));
    assert_eq!(unset(Y, DOC, r#"["z"]["k"]"#), DOC.replace("{k: v}", "{}"));
    assert_eq!(unset(Y, DOC, r#"["z"]"#), DOC.replace("z: {k: v}\n", ""));
    let one = "a:\n  only: 1\nb: 2\n";
    assert_eq!(unset(Y, one, r#"["a"]["only"]"#), "a: {}\nb: 2\n");
    let flow = "f: {a: 1, b: 2, c: 3}\n";
    assert_eq!(unset(Y, flow, r#"["f"]["b"]"#), "f: {a: 1, c: 3}\n");
    assert_eq!(unset(Y, flow, r#"["f"]["c"]"#), "f: {a: 1, b: 2}\n");
    assert_eq!(unset(Y, "only: 1\n", r#"["only"]"#), "");
}

#[test]
fn yaml_line_endings_and_docs() {
    let crlf = "a: 1\r\nb:\r\n    c: 2\r\n";
    assert_eq!(
        set(Y, crlf, r#"["b"]["d"]"#, r#"{"e": 1}"#),
        "a: 1\r\nb:\r\n    c: 2\r\n    d:\r\n        e: 1\r\n"
    );
    assert_eq!(unset(Y, crlf, r#"["a"]"#), "b:\r\n    c: 2\r\n");
    let no_nl = "a: 1\nb: 2";
    assert_eq!(set(Y, no_nl, r#"["c"]"#, "3"), "a: 1\nb: 2\nc: 3");
    assert_eq!(unset(Y, no_nl, r#"["b"]"#), "a: 1");
    assert_eq!(set(Y, "", r#"["c"]"#, "3"), "c: 3\n");
    assert_eq!(set(Y, "# only\n", r#"["c"]"#, "3"), "# only\nc: 3\n");
    let multi = "a: 1\n---\nb: 2\n";
    assert_eq!(
        set(Y, multi, r#"["c"]"#, r#""x""#),
        "a: 1\nc: x\n---\nb: 2\n"
    );
    assert_eq!(
        unset(Y, "a: 1\nc: 2\n---\nb: 2\n", r#"["c"]"#),
        "a: 1\n---\nb: 2\n"
    );
    let bom = "\u{feff}a: 1\n";
    assert_eq!(set(Y, bom, r#"["b"]"#, "2"), "\u{feff}a: 1\nb: 2\n");
    let flow_root = "{a: 1}\n";
    assert_eq!(set(Y, flow_root, r#"["b"]"#, r#""x""#), "{a: 1, b: x}\n");
    // Keys and values that need quoting.
    assert_eq!(
        set(Y, "a: 1\n", r#"["has: colon"]"#, r#""yes""#),
        "a: 1\n'has: colon': \"yes\"\n"
    );
    // The file's indent step (2 here) is used for new nested maps.
    assert_eq!(
        set(Y, "x:\n  y: 1\n", r#"["p"]["q"]["r"]"#, "1"),
        "x:\n  y: 1\np:\n  q:\n    r: 1\n"
    );
}

const J: Format = Format::Json;

const JDOC: &str = "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": \"x\"\n  },\n  \"l\": [\n    1,\n    2\n  ],\n  \"one\": {\"k\": [1, 2]},\n  \"e\": {}\n}\n";

#[test]
fn json_edits() {
    assert_eq!(
        set(J, JDOC, r#"["new"]["deep"]"#, r#""v""#),
        JDOC.replace(
            "\"e\": {}\n",
            "\"e\": {},\n  \"new\": {\n    \"deep\": \"v\"\n  }\n"
        )
    );
    assert_eq!(
        set(J, JDOC, r#"["b"]["d"]"#, "2"),
        JDOC.replace("\"c\": \"x\"\n", "\"c\": \"x\",\n    \"d\": 2\n")
    );
    assert_eq!(
        set(J, JDOC, r#"["l"][9]"#, "3.5"),
        JDOC.replace("    2\n", "    2,\n    3.5\n")
    );
    assert_eq!(
        set(J, JDOC, r#"["one"]["k"][5]"#, "true"),
        JDOC.replace("[1, 2]", "[1, 2, true]")
    );
    assert_eq!(
        set(J, JDOC, r#"["one"]["z"]"#, r#"{"q": 1}"#),
        JDOC.replace("{\"k\": [1, 2]}", "{\"k\": [1, 2], \"z\": { \"q\": 1 }}")
    );
    assert_eq!(
        set(J, JDOC, r#"["e"]["x"]"#, "null"),
        JDOC.replace("\"e\": {}\n", "\"e\": {\n    \"x\": null\n  }\n")
    );
    assert_eq!(
        set(J, JDOC, r#"["a"]"#, r#"{"x": "<y>"}"#),
        JDOC.replace(
            "\"a\": 1,",
            "\"a\": {\n    \"x\": \"\\u003cy\\u003e\"\n  },"
        )
    );
    assert_eq!(
        set(J, JDOC, r#"["b"]"#, r#""s""#),
        JDOC.replace("{\n    \"c\": \"x\"\n  }", "\"s\"")
    );
    assert_eq!(
        unset(J, JDOC, r#"["a"]"#),
        JDOC.replace("  \"a\": 1,\n", "")
    );
    assert_eq!(
        unset(J, JDOC, r#"["e"]"#),
        JDOC.replace(",\n  \"e\": {}", "")
    );
    assert_eq!(
        unset(J, JDOC, r#"["b"]["c"]"#),
        JDOC.replace("{\n    \"c\": \"x\"\n  }", "{}")
    );
    assert_eq!(unset(J, JDOC, r#"["l"][0]"#), JDOC.replace("    1,\n", ""));
    assert_eq!(unset(J, JDOC, r#"["l"][1]"#), JDOC.replace(",\n    2", ""));
    assert_eq!(
        unset(J, JDOC, r#"["one"]["k"][0]"#),
        JDOC.replace("[1, 2]", "[2]")
    );
    let crlf = "{\r\n\t\"a\": 1\r\n}";
    assert_eq!(
        set(J, crlf, r#"["b"]"#, r#""x""#),
        "{\r\n\t\"a\": 1,\r\n\t\"b\": \"x\"\r\n}"
    );
    assert_eq!(set(J, "{}", r#"["b"]"#, r#""x""#), "{\n\t\"b\": \"x\"\n}");
}

const D: Format = Format::Dotenv;

#[test]
fn dotenv_edits() {
    let src = "# c\nA=1\n\nB=2\n";
    assert_eq!(
        set(D, src, r#"["C"]"#, r#""x\ny""#),
        "# c\nA=1\n\nB=2\nC=x\\ny\n"
    );
    assert_eq!(set(D, "A=1", r#"["C"]"#, "5"), "A=1\nC=5.0");
    assert_eq!(unset(D, src, r#"["A"]"#), "# c\n\nB=2\n");
    assert_eq!(unset(D, "A=1\nB=2", r#"["B"]"#), "A=1");
    let st = store(D);
    let parsed = st.parse(src.as_bytes()).unwrap();
    let err = st
        .set_at(
            &parsed,
            &treepath::parse(r#"["A"]["x"]"#).unwrap(),
            &val("1"),
        )
        .unwrap_err();
    assert_eq!(
        err.message,
        "cannot use complex value in dotenv file; offending key A"
    );
    assert!(st
        .set_at(
            &parsed,
            &treepath::parse(r#"["N"]"#).unwrap(),
            &val(r#"{"a": 1}"#)
        )
        .is_err());
}

const I: Format = Format::Ini;

#[test]
fn ini_edits() {
    let src = "top=1\n\n[s]\n; about a\na = 1 ; inline\nb = 2\n\n[t]\nx=y\n";
    assert_eq!(
        set(I, src, r#"["s"]["c"]"#, r#""v""#),
        src.replace("b = 2\n", "b = 2\nc = v\n")
    );
    assert_eq!(set(I, src, r#"["t"]["z"]"#, "1.5"), format!("{src}z=1.5\n"));
    assert_eq!(
        set(I, src, r#"["DEFAULT"]["k"]"#, r#""v""#),
        src.replace("top=1\n", "top=1\nk=v\n")
    );
    assert_eq!(
        set(I, src, r#"["u"]["k"]"#, r#""v""#),
        format!("{src}\n[u]\nk = v\n")
    );
    assert_eq!(
        set(I, src, r#"["u"]"#, r#"{"k": "v", "n": 2}"#),
        format!("{src}\n[u]\nk = v\nn = 2\n")
    );
    assert_eq!(
        unset(I, src, r#"["s"]["a"]"#),
        src.replace("a = 1 ; inline\n", "")
    );
    assert_eq!(unset(I, src, r#"["t"]"#), src.replace("[t]\nx=y\n", ""));
    assert_eq!(set(I, "[s]\na=1", r#"["s"]["b"]"#, "2"), "[s]\na=1\nb=2.0");
}

#[test]
fn binary_edits() {
    let st = store(Format::Binary);
    let parsed = st.parse(b"old bytes").unwrap();
    let out = st
        .set_at(
            &parsed,
            &treepath::parse(r#"["data"]"#).unwrap(),
            &val(r#""new""#),
        )
        .unwrap();
    assert_eq!(out.as_deref(), Some(&b"new"[..]));
    assert!(st
        .set_at(
            &parsed,
            &treepath::parse(r#"["x"]"#).unwrap(),
            &val(r#""new""#)
        )
        .is_err());
    assert!(st
        .unset_at(&parsed, &treepath::parse(r#"["data"]"#).unwrap())
        .is_err());
}

#[test]
fn yaml_block_scalars_and_aliases() {
    let keep = "a: |+\n  text\n\n";
    assert_eq!(set(Y, keep, r#"["b"]"#, "1"), "a: |+\n  text\n\nb: 1\n");
    let clip = "a: |\n  text\n\n# end\n";
    assert_eq!(
        set(Y, clip, r#"["b"]"#, "1"),
        "a: |\n  text\nb: 1\n\n# end\n"
    );
    assert_eq!(
        unset(Y, "x: 1\na: |\n  text\n  more\nb: 2\n", r#"["a"]"#),
        "x: 1\nb: 2\n"
    );
    // Through an alias: no text edit; `set` falls back to writing the tree out.
    let st = store(Y);
    let src = "base: &b {x: 1}\nuse: *b\n";
    let parsed = st.parse(src.as_bytes()).unwrap();
    let steps = treepath::parse(r#"["use"]["y"]"#).unwrap();
    assert_eq!(st.set_at(&parsed, &steps, &val("2")).unwrap(), None);
    let out = st.set(&parsed, &steps, &val("2")).unwrap();
    let back = st.parse(&out).unwrap();
    assert!(treepath::same_value(
        &treepath::lookup(&back.tree.docs[0].items, &steps).unwrap(),
        &Value::Leaf(Leaf::new(0, Scalar::Int(2)))
    ));
}
