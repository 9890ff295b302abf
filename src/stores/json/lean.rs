//! Reading an encrypted output to check it, keeping no tree: the same scanner and grammar as
//! [`super::parse`], each value handed to the check as it is read and dropped, the tree's shape
//! digest computed on the way, and only the layout kept (what the splice of the decrypted view
//! reads). A 200,000-value output's tree held a copy of every ciphertext, some 60 MiB made and
//! freed again (docs/performance.md, fourteenth round).

use std::cell::RefCell;

use super::parse::TopMembers;
use super::scanner::{Builder, ScalarToken, Scanner, Text};
use super::Layout;
use crate::stores::{Lean, Parsed, StoreError, ValueCheck};
use crate::tree::{for_each_leaf, secret, shape_digest, Doc, Scalar, ShapeHasher, Tree};

/// Reads values for the check: leaf ids and spans as [`super::parse`] gives them, the shape as
/// [`crate::tree::shape_digest`] hashes the tree that reading builds.
struct CheckBuilder<'c> {
    spans: Vec<(usize, usize)>,
    /// Off inside the metadata (its leaves are not the tree's).
    record: bool,
    shape: ShapeHasher,
    check: &'c dyn ValueCheck,
    /// Every value so far passed the check.
    all_passed: bool,
}

impl CheckBuilder<'_> {
    /// A value of the tree from `start` to `end`, checked.
    fn value(&mut self, start: usize, end: usize, passed: bool) {
        self.shape.leaf(self.spans.len());
        self.spans.push((start, end));
        self.all_passed &= passed;
    }
}

impl Builder for CheckBuilder<'_> {
    type Node = ();
    type Object = ();
    type Array = ();

    fn start_object(&mut self) {
        if self.record {
            self.shape.open_map();
        }
    }

    fn start_array(&mut self) {
        if self.record {
            self.shape.open_list();
        }
    }

    fn leaf(&mut self, token: ScalarToken) {
        if self.record {
            let passed = self.check.scalar(&token.value);
            self.value(token.start, token.end, passed);
        }
    }

    fn leaf_text(&mut self, text: Text<'_>, start: usize, end: usize) {
        if self.record {
            let passed = self.check.text(text.as_str());
            self.value(start, end, passed);
        }
    }

    fn member(&mut self, _: &mut (), key: Text<'_>, _: usize, _: ()) {
        if self.record {
            self.shape.pair(key.as_str());
        }
    }

    fn element(&mut self, _: &mut (), _: ()) {
        if self.record {
            self.shape.elem();
        }
    }

    fn object(&mut self, _: (), _: usize, _: usize) {
        if self.record {
            self.shape.close();
        }
    }

    fn array(&mut self, _: (), _: usize, _: usize) {
        if self.record {
            self.shape.close();
        }
    }
}

/// Read `src` as [`super::parse_lent`] reads it, handing every value outside the `sops` member
/// to `check`: the layout (with an empty tree), the shape digest of the tree that reading gives,
/// whether every value passed and whether there is a `sops` member. An error where the text is not
/// a JSON object (the full reading then says what is wrong).
pub(super) fn read(src: &[u8], check: &dyn ValueCheck) -> Result<Lean, StoreError> {
    let mut scanner = Scanner::new(src, 0);
    scanner.skip_blanks();
    if scanner.peek() != Some(b'{') {
        return Err(scanner.unexpected("looking for beginning of object"));
    }
    let open_brace = scanner.pos;
    let mut builder = CheckBuilder {
        spans: Vec::new(),
        record: true,
        shape: ShapeHasher::default(),
        check,
        all_passed: true,
    };
    builder.shape.doc();
    let mut top = TopMembers::default();
    scanner.members(|scanner, key, key_start| {
        let ((), is_metadata) = top.read(
            scanner,
            &mut builder,
            |b| &mut b.record,
            key.as_str(),
            key_start,
        )?;
        if !is_metadata {
            builder.shape.pair(key.as_str());
        }
        Ok(())
    })?;
    let has_metadata = top.sops_member.is_some();
    let layout = top.into_layout(&mut scanner, open_brace, builder.spans)?;
    Ok(Lean {
        parsed: Parsed {
            tree: Tree {
                docs: vec![Doc { items: Vec::new() }],
            },
            metadata: None,
            encoding: Default::default(),
            layout: crate::stores::Layout::new(layout),
        },
        shape: builder.shape.finish(),
        all_passed: builder.all_passed,
        has_metadata,
    })
}

/// Keeps every value it is asked about; refuses those equal to `refused`.
#[derive(Default)]
struct Seen {
    values: RefCell<Vec<Scalar>>,
    refused: Option<Scalar>,
}

impl ValueCheck for Seen {
    fn text(&self, text: &str) -> bool {
        self.scalar(&Scalar::Str(secret(text)))
    }

    fn scalar(&self, value: &Scalar) -> bool {
        self.values.borrow_mut().push(value.clone());
        self.refused.as_ref() != Some(value)
    }
}

/// The lean reading of `src` against the full one (for the fuzz target): the same values in the
/// same order, the same layout and the full tree's shape digest; refused where the full reading
/// refuses. An error says where they differ.
pub(crate) fn compared_with_full(src: &[u8]) -> Result<(), &'static str> {
    let seen = Seen::default();
    let (full, lean) = match (super::parse(src), read(src, &seen)) {
        (Err(_), Err(_)) => return Ok(()),
        (Ok(full), Ok(lean)) => (full, lean),
        (Ok(_), Err(_)) => return Err("the lean reading refuses what the full reading reads"),
        (Err(_), Ok(_)) => return Err("the lean reading reads what the full reading refuses"),
    };
    let mut expected = Vec::new();
    for d in &full.tree.docs {
        for_each_leaf(&d.items, &mut |l| expected.push(l.value.clone()));
    }
    let values = seen.values.into_inner();
    let same_values = values.len() == expected.len()
        && values.iter().zip(&expected).all(|(a, b)| match (a, b) {
            // Compared by their bits (`-0` is not `0` here).
            (Scalar::Float(x), Scalar::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        });
    if !same_values {
        return Err("the lean reading's values differ from the full reading's");
    }
    if lean.shape != shape_digest(&full.tree) || lean.has_metadata != full.metadata.is_some() {
        return Err("the lean reading's shape differs from the full reading's");
    }
    match (
        full.layout.of::<Layout>(),
        lean.parsed.layout.of::<Layout>(),
    ) {
        (Ok(a), Ok(b))
            if a.leaf_spans == b.leaf_spans
                && a.members == b.members
                && a.sops_member == b.sops_member
                && a.open_brace == b.open_brace =>
        {
            Ok(())
        }
        _ => Err("the lean reading's layout differs from the full reading's"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::json::parse;

    const FILES: &[&[u8]] = &[
        br#"{"a": 1, "b": [true, null, 2.50, "x", {"y": "z"}], "c": {"d": 1e3, "e": []}, "sops": {"mac": "m", "l": [1, 2]}}"#,
        b"{\n  \"k\\u0041\": \"v\\n\",\n  \"sops\": {},\n  \"sops\": {\"x\": 1},\n  \"t\": {}\n}\n",
        b"{}",
        b"{\"nested\": [[[\"deep\"]], {\"o\": {\"p\": null}}], \"bad utf-8\": \"a\xffb\"}",
    ];

    /// The layout, the shape digest and the values checked are those of the full reading.
    #[test]
    fn reads_as_the_full_reading_does() {
        for &bytes in FILES {
            let text = String::from_utf8_lossy(bytes);
            let full = parse(bytes).unwrap();
            let mut expected = Vec::new();
            for d in &full.tree.docs {
                for_each_leaf(&d.items, &mut |l| expected.push(l.value.clone()));
            }
            let seen = Seen::default();
            let lean = read(bytes, &seen).unwrap();
            assert_eq!(seen.values.into_inner(), expected, "{text}");
            assert_eq!(lean.shape, shape_digest(&full.tree), "{text}");
            assert!(lean.all_passed);
            assert_eq!(lean.has_metadata, full.metadata.is_some(), "{text}");
            let (a, b) = (
                full.layout.of::<Layout>().unwrap(),
                lean.parsed.layout.of::<Layout>().unwrap(),
            );
            assert_eq!(a.leaf_spans, b.leaf_spans, "{text}");
            assert_eq!(a.members, b.members, "{text}");
            assert_eq!(a.sops_member, b.sops_member, "{text}");
            assert_eq!(a.open_brace, b.open_brace, "{text}");
            assert_eq!(compared_with_full(bytes), Ok(()), "{text}");
        }
    }

    #[test]
    fn a_failed_check_is_reported_and_shapes_differ() {
        for (text, refused) in [
            (r#"{"a": "x", "b": "y"}"#, Scalar::Str(secret("y"))),
            (r#"{"a": "x", "b": "\u0079"}"#, Scalar::Str(secret("y"))),
            (r#"{"a": "x", "b": [7]}"#, Scalar::Int(7)),
        ] {
            let check = Seen {
                refused: Some(refused),
                ..Seen::default()
            };
            assert!(!read(text.as_bytes(), &check).unwrap().all_passed, "{text}");
        }
        let lean = read(br#"{"a": "x", "b": "y"}"#, &Seen::default()).unwrap();
        for other in [
            r#"{"a": "x", "c": "y"}"#,
            r#"{"a": ["x"], "b": "y"}"#,
            r#"{"b": "y", "a": "x"}"#,
            r#"{"a": "x", "b": "y", "c": {}}"#,
        ] {
            let parsed = parse(other.as_bytes()).unwrap();
            assert_ne!(lean.shape, shape_digest(&parsed.tree), "{other}");
        }
    }

    #[test]
    fn what_the_full_reading_refuses_is_refused() {
        for bad in ["[1]", "{", "{\"a\": 1} x", "{\"a\": 01}", "", "\"s\""] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
            assert!(read(bad.as_bytes(), &Seen::default()).is_err(), "{bad}");
        }
    }
}
