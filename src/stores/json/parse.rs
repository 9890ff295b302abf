//! Reading a JSON file into the store's tree: the top-level object member by member (its `sops`
//! member becomes the metadata), with the byte range of every leaf kept for splicing.

use super::scanner::{Builder, ScalarToken, Scanner, Text, PARSE_PREFIX};
use super::{Layout, Member};
use crate::filebytes::FileBytes;
use crate::stores::lent::lends;
use crate::stores::{Parsed, StoreError};
use crate::tree::{Doc, Item, Leaf, Scalar, Tree, Value};
use crate::wipe::Wiped;

/// Builds the store's tree; while `record` is set, leaves get ids in walk order and their token
/// ranges are kept (off inside the metadata, whose leaves are never spliced).
pub(super) struct TreeBuilder {
    pub spans: Vec<(usize, usize)>,
    record: bool,
    /// Whether `ENC[...]` values of the data are left in the source (see [`lends`]).
    lend: bool,
    /// The items of the objects and arrays being read, innermost last: each is moved out into a
    /// list of its exact size when it ends (no list grown item by item, then shrunk).
    stack: Vec<Item>,
}

impl TreeBuilder {
    fn new(lend: bool) -> Self {
        TreeBuilder {
            spans: Vec::new(),
            record: true,
            lend,
            stack: Vec::new(),
        }
    }

    /// The items from `start` on, taken off the stack.
    fn take_from(&mut self, start: usize) -> Vec<Item> {
        self.stack.drain(start.min(self.stack.len())..).collect()
    }
}

impl Builder for TreeBuilder {
    type Node = Value;
    /// Where the object's items start on the stack.
    type Object = usize;
    /// Where the array's items start on the stack.
    type Array = usize;

    fn start_object(&mut self) -> usize {
        self.stack.len()
    }

    fn start_array(&mut self) -> usize {
        self.stack.len()
    }

    fn leaf(&mut self, token: ScalarToken) -> Value {
        let id = if self.record {
            self.spans.push((token.start, token.end));
            self.spans.len() - 1
        } else {
            crate::tree::NO_LEAF
        };
        Value::Leaf(Leaf {
            id,
            value: token.value,
            text: token.text,
            shadowed: false,
        })
    }

    fn leaf_text(&mut self, text: Text<'_>, start: usize, end: usize) -> Value {
        let lent = self.record && self.lend && matches!(text, Text::Source(s) if lends(s));
        let value = if lent {
            // Read again from the source by the cipher walk (`Parsed::lent_token`).
            Scalar::Str(crate::tree::secret(String::new()))
        } else {
            Scalar::Str(text.into_secret())
        };
        self.leaf(ScalarToken {
            value,
            text: None,
            start,
            end,
        })
    }

    fn member(&mut self, _object: &mut usize, key: Text<'_>, _key_start: usize, value: Value) {
        // Keys are plain `String`s in the tree: a decoded one is moved, not copied.
        self.stack.push(Item::Pair {
            key: key.into_string(),
            value,
        });
    }

    fn element(&mut self, _array: &mut usize, value: Value) {
        self.stack.push(Item::Elem(value));
    }

    fn object(&mut self, first: usize, _start: usize, _end: usize) -> Value {
        Value::Map(self.take_from(first))
    }

    fn array(&mut self, first: usize, _start: usize, _end: usize) -> Value {
        Value::List(self.take_from(first))
    }
}

/// Parsed top-level object, shared with the binary store.
pub(crate) struct TopObject {
    pub items: Vec<Item>,
    pub metadata: Option<Value>,
    pub layout: Layout,
}

pub(crate) fn parse_top(src: &[u8]) -> Result<TopObject, StoreError> {
    let mut top = parse_top_borrowed(src, false)?;
    top.layout.src = Wiped::new(src.to_vec()).into();
    Ok(top)
}

/// [`parse_top`] with the layout's copy of the source left empty (the caller fills it); the
/// data's `ENC[...]` values left in the source when `lend`.
pub(super) fn parse_top_borrowed(src: &[u8], lend: bool) -> Result<TopObject, StoreError> {
    let mut scanner = Scanner::new(src, 0);
    scanner.skip_blanks();
    match scanner.peek() {
        Some(b'{') => {}
        Some(b'[') => {
            return Err(scanner.error(
                "SOPS only supports JSON files with a top-level object (starting with '{'), not arrays or other types. \
                 Got delimiter [ instead. To encrypt this file, wrap it in an object, e.g., {\"data\": [...]}",
            ))
        }
        None => return Err(StoreError::new(format!("{PARSE_PREFIX}EOF"))),
        Some(_) => {
            let start = scanner.pos;
            let token = scanner.scalar()?;
            let desc = match token.value {
                Scalar::Null => "<nil> of type <nil>".to_string(),
                Scalar::Bool(b) => format!("{b} of type bool"),
                Scalar::Int(i) => format!("{i} of type int"),
                Scalar::Float(_) => format!(
                    "{} of type float64",
                    token.text.as_ref().map(|t| t.as_str()).unwrap_or("")
                ),
                _ => "a value of type string".to_string(),
            };
            scanner.pos = start;
            return Err(scanner.error(format!(
                "SOPS only supports JSON files with a top-level object (starting with '{{'), not other JSON types. Got {desc} instead"
            )));
        }
    }
    let open_brace = scanner.pos;
    if let Some(top) = super::halves::read_in_halves(&scanner, open_brace, lend) {
        return Ok(top);
    }
    let mut top = Top::new(lend);
    scanner.members(|scanner, key, key_start| top.member(scanner, key, key_start))?;
    top.finish(&mut scanner, open_brace)
}

/// Where the top-level members are, and which of them is the `sops` entry (the first member of
/// that name): what every reading of a file's top level (this one, and the check's without a
/// tree, `lean`) records the same way.
#[derive(Default)]
pub(super) struct TopMembers {
    pub members: Vec<Member>,
    pub sops_member: Option<usize>,
}

impl TopMembers {
    /// Read a member's value with `builder` (the scanner just after its key's `:`), with the
    /// builder's `record` flag off while it reads the `sops` entry's (its leaves are not the
    /// tree's): the value, and whether it is the `sops` entry's.
    pub fn read<B: Builder>(
        &mut self,
        scanner: &mut Scanner,
        builder: &mut B,
        record: fn(&mut B) -> &mut bool,
        key: &str,
        key_start: usize,
    ) -> Result<(B::Node, bool), StoreError> {
        scanner.skip_blanks();
        let value_start = scanner.pos;
        let is_metadata = self.sops_member.is_none() && key == "sops";
        *record(builder) = !is_metadata;
        let value = scanner.value(builder, 1)?;
        self.members.push(Member {
            key_start,
            value_start,
            value_end: scanner.pos,
        });
        if is_metadata {
            self.sops_member = Some(self.members.len() - 1);
        }
        Ok((value, is_metadata))
    }

    /// The layout of the object whose `{` is at `open_brace`, the scanner after its `}`.
    pub fn into_layout(
        self,
        scanner: &mut Scanner,
        open_brace: usize,
        leaf_spans: Vec<(usize, usize)>,
    ) -> Result<Layout, StoreError> {
        // Only blanks may follow: text after the object is something no JSON reader accepts
        // (sops exits 1 on it), and copying it through would put it in the output unencrypted.
        scanner.skip_blanks();
        if scanner.pos < scanner.src.len() {
            return Err(scanner.unexpected("after top-level value"));
        }
        Ok(Layout {
            src: FileBytes::default(),
            lent: false,
            leaf_spans,
            open_brace,
            members: self.members,
            sops_member: self.sops_member,
        })
    }
}

/// The top-level members read so far: the tree's items, the metadata, and where each is.
pub(super) struct Top {
    pub builder: TreeBuilder,
    pub items: Vec<Item>,
    pub at: TopMembers,
    pub metadata: Option<Value>,
}

impl Top {
    pub fn new(lend: bool) -> Self {
        Top {
            builder: TreeBuilder::new(lend),
            items: Vec::new(),
            at: TopMembers::default(),
            metadata: None,
        }
    }

    /// Read a member's value (the scanner just after its key's `:`).
    pub fn member(
        &mut self,
        scanner: &mut Scanner,
        key: Text<'_>,
        key_start: usize,
    ) -> Result<(), StoreError> {
        let (value, is_metadata) = self.at.read(
            scanner,
            &mut self.builder,
            |b| &mut b.record,
            key.as_str(),
            key_start,
        )?;
        if is_metadata {
            self.metadata = Some(value);
        } else {
            self.items.push(Item::Pair {
                key: key.into_string(),
                value,
            });
        }
        Ok(())
    }

    /// The object read, the scanner after its `}`.
    pub fn finish(self, scanner: &mut Scanner, open_brace: usize) -> Result<TopObject, StoreError> {
        let layout = self
            .at
            .into_layout(scanner, open_brace, self.builder.spans)?;
        Ok(TopObject {
            items: self.items,
            metadata: self.metadata,
            layout,
        })
    }
}

/// Parse a JSON file. Only blanks may follow the top-level object: anything else is an error (sops's
/// encoder silently drops it on encryption and fails on decryption; copying it through would leave
/// it in clear).
pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    parse_owned(FileBytes::from(Wiped::new(src.to_vec())))
}

/// [`parse`] keeping `src` itself as the layout's copy (no second copy of a large file).
pub fn parse_owned(src: FileBytes) -> Result<Parsed, StoreError> {
    parse_owned_with(src, false)
}

/// [`parse_owned`] of a file to decrypt once: the data's `ENC[...]` values are left in the source,
/// each an empty string in the tree that [`Parsed::lent_token`](crate::stores::Parsed) gives
/// back.
pub fn parse_owned_lending(src: FileBytes) -> Result<Parsed, StoreError> {
    parse_owned_with(src, true)
}

fn parse_owned_with(src: FileBytes, lend: bool) -> Result<Parsed, StoreError> {
    let mut top = parse_top_borrowed(&src, lend)?;
    top.layout.src = src;
    top.layout.lent = lend;
    Ok(parsed_top(top))
}

/// [`parse`] keeping no copy of the bytes (the layout's source is empty until it is lent them).
pub fn parse_lent(src: &[u8]) -> Result<Parsed, StoreError> {
    parse_top_borrowed(src, false).map(parsed_top)
}

fn parsed_top(top: TopObject) -> Parsed {
    Parsed {
        tree: Tree {
            docs: vec![Doc { items: top.items }],
        },
        metadata: top.metadata,
        encoding: Default::default(),
        layout: crate::stores::Layout::new(top.layout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::testutil::collect;
    use crate::tree::secret;

    fn parse_ok(src: &str) -> Parsed {
        parse(src.as_bytes()).unwrap()
    }

    #[test]
    fn shapes_and_ids() {
        let p = parse_ok(
            r#"{"a": 1, "b": [true, null, 2.50, "x"], "c": {"d": 1e3, "e": 12345678901234567890123}}"#,
        );
        let leaves = collect(&p.tree);
        let vals: Vec<_> = leaves
            .iter()
            .map(|l| {
                (
                    l.id,
                    l.value.clone(),
                    l.text.as_ref().map(|t| t.to_string()),
                )
            })
            .collect();
        assert_eq!(vals[0], (0, Scalar::Int(1), Some("1".into())));
        assert_eq!(vals[1], (1, Scalar::Bool(true), Some("true".into())));
        assert_eq!(vals[2], (2, Scalar::Null, None));
        assert_eq!(vals[3], (3, Scalar::Float(2.5), Some("2.50".into())));
        assert_eq!(vals[4], (4, Scalar::Str(secret("x")), None));
        assert_eq!(vals[5], (5, Scalar::Float(1000.0), Some("1e3".into())));
        assert!(matches!(vals[6].1, Scalar::Float(_)));
        assert!(p.metadata.is_none());
    }

    #[test]
    fn errors() {
        let e = parse(b"[1]").err().unwrap();
        assert!(e.message.contains("not arrays or other types"));
        let e = parse(b"\"secret\"").err().unwrap();
        assert!(!e.message.contains("secret\""));
        for bad in [
            "{",
            "{\"a\"",
            "{\"a\":}",
            "{\"a\":01}",
            "{\"a\":\"\\x\"}",
            "",
            "{\"a\":1,}",
            "{\"a\":-}",
            "{\"a\":1e999}",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = "[".repeat(5000);
        assert!(parse(format!("{{\"a\":{deep}").as_bytes()).is_err());
    }

    #[test]
    fn duplicates_kept() {
        let p = parse_ok(r#"{"a": 1, "a": 2}"#);
        assert_eq!(p.tree.docs[0].items.len(), 2);
    }
}
