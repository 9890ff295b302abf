//! Binary store: the whole file is one string `data`; encrypted, it becomes a JSON envelope
//! `{"data": "ENC[...]", "sops": {...}}` written as sops writes it.

use super::json::{self, emit_items};
use super::{Changes, FormatStore, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::tree::{get, secret, Doc, Item, Leaf, Scalar, Tree, Value};
use crate::treepath::Step;
use crate::wipe::Wiped;

const EMIT_ERROR: &str = "error emitting binary store";

/// A plaintext file, or a parsed JSON envelope.
pub enum Layout {
    Plain(Wiped<Vec<u8>>),
    Envelope(json::Layout),
}

impl Layout {
    /// The bytes of a plaintext file (an envelope's are not the plaintext's).
    pub(crate) fn source(&self) -> Option<&[u8]> {
        match self {
            Layout::Plain(bytes) => Some(bytes),
            Layout::Envelope(_) => None,
        }
    }
}

/// Does `src` look like an encrypted envelope (a JSON object with `data` and `sops`)?
fn read_envelope(src: &[u8]) -> Option<json::TopObject> {
    let first = src.iter().find(|b| !b" \t\r\n".contains(b))?;
    if *first != b'{' {
        return None;
    }
    let top = json::parse_top(src).ok()?;
    (top.metadata.is_some() && get(&top.items, "data").is_some()).then_some(top)
}

pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    if let Some(top) = read_envelope(src) {
        return Ok(Parsed {
            tree: Tree {
                docs: vec![Doc { items: top.items }],
            },
            metadata: top.metadata,
            encoding: Default::default(),
            layout: super::Layout::new(Layout::Envelope(top.layout)),
        });
    }
    let value = match std::str::from_utf8(src) {
        Ok(s) => Scalar::Str(secret(s)),
        Err(_) => Scalar::Bytes(Wiped::new(src.to_vec())),
    };
    Ok(Parsed {
        tree: Tree {
            docs: vec![Doc {
                items: vec![Item::pair("data", Value::Leaf(Leaf::new(0, value)))],
            }],
        },
        metadata: None,
        encoding: Default::default(),
        layout: super::Layout::new(Layout::Plain(Wiped::new(src.to_vec()))),
    })
}

/// Bytes of a plaintext leaf.
fn plain_bytes(value: &Scalar, text: &str) -> Wiped<Vec<u8>> {
    Wiped::new(match value {
        Scalar::Str(s) => s.as_bytes().to_vec(),
        Scalar::Bytes(b) => b.to_vec(),
        _ => text.as_bytes().to_vec(),
    })
}

/// The id of the top-level `data` leaf.
fn data_leaf(parsed: &Parsed) -> Option<&Leaf> {
    match get(&parsed.tree.docs.first()?.items, "data")? {
        Value::Leaf(l) => Some(l),
        _ => None,
    }
}

fn write_envelope(
    data: Scalar,
    meta: &Value,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let items = vec![Item::pair(
        "data",
        Value::Leaf(Leaf::new(crate::tree::NO_LEAF, data)),
    )];
    emit_items(&items, Some(meta), options)
}

pub fn splice(
    layout: &Layout,
    parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    match layout {
        Layout::Plain(src) => {
            let change = changes.first().and_then(|c| c.as_ref());
            match (metadata, change) {
                (Some(meta), Some(NewLeaf::Encrypted(enc))) => {
                    write_envelope(Scalar::Str(secret(enc.as_str())), meta, options)
                }
                (Some(meta), Some(NewLeaf::Plain { value, text })) => {
                    let bytes = plain_bytes(value, text);
                    let data = secret(String::from_utf8_lossy(&bytes).into_owned());
                    write_envelope(Scalar::Str(data), meta, options)
                }
                (Some(meta), None) => {
                    let data = secret(String::from_utf8_lossy(src).into_owned());
                    write_envelope(Scalar::Str(data), meta, options)
                }
                (None, Some(NewLeaf::Plain { value, text })) => {
                    Ok(plain_bytes(value, text).to_vec())
                }
                (None, Some(NewLeaf::Encrypted(enc))) => Ok(enc.as_bytes().to_vec()),
                (None, None) => Ok(src.to_vec()),
            }
        }
        Layout::Envelope(envelope) => match metadata {
            Some(_) => json::splice(envelope, parsed, changes, metadata, options),
            None => {
                let Some(leaf) = data_leaf(parsed) else {
                    return Err(StoreError::new(format!(
                        "{EMIT_ERROR}: no binary data found in tree"
                    )));
                };
                match (changes.get(leaf.id).and_then(|c| c.as_ref()), &leaf.value) {
                    (Some(NewLeaf::Plain { value, text }), _) => {
                        Ok(plain_bytes(value, text).to_vec())
                    }
                    (Some(NewLeaf::Encrypted(enc)), _) => Ok(enc.as_bytes().to_vec()),
                    (None, Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
                    (None, _) => Err(StoreError::new(format!(
                        "{EMIT_ERROR}: 'data' key in tree does not have a string value"
                    ))),
                }
            }
        },
    }
}

/// `set` of `["data"]` (the whole file) as a text edit; nothing else exists in a binary file.
pub(crate) fn set_at(steps: &[Step], value: &Value) -> Result<Option<Vec<u8>>, StoreError> {
    match (steps, value) {
        ([Step::Key(k)], Value::Leaf(l)) if k == "data" => {
            let text = crate::gotext::canonical_bytes(&l.value);
            Ok(Some(plain_bytes(&l.value, &String::from_utf8_lossy(&text)).to_vec()))
        }
        _ => Err(StoreError::new(
            "Binary files are not structured: only the whole file, [\"data\"], can be set to a value",
        )),
    }
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    if tree.docs.len() != 1 {
        return Err(StoreError::new(format!(
            "{EMIT_ERROR}: there must be exactly one tree branch"
        )));
    }
    let items = &tree.docs[0].items;
    if let Some(meta) = metadata {
        return emit_items(items, Some(meta), options);
    }
    match get(items, "data") {
        Some(Value::Leaf(Leaf {
            value: Scalar::Str(s),
            ..
        })) => Ok(s.as_bytes().to_vec()),
        Some(Value::Leaf(Leaf {
            value: Scalar::Bytes(b),
            ..
        })) => Ok(b.to_vec()),
        Some(_) => Err(StoreError::new(format!(
            "{EMIT_ERROR}: 'data' key in tree does not have a string value"
        ))),
        None => Err(StoreError::new(format!(
            "{EMIT_ERROR}: no binary data found in tree"
        ))),
    }
}

pub fn emit_value(_value: &Value, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::new(
        "Binary files are not structured and extracting a single value is not possible",
    ))
}

/// The binary format behind the store contract: the whole file is one value.
pub struct BinaryStore;

impl FormatStore for BinaryStore {
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        parse(src)
    }

    super::hand_over_writes!(Layout);

    fn set_at(
        &self,
        _parsed: &Parsed,
        steps: &[Step],
        value: &Value,
        _options: &StoreOptions,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        set_at(steps, value)
    }

    fn unset_at(&self, _parsed: &Parsed, _steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
        Err(StoreError::new(
            "Binary files are not structured and unsetting a single value is not possible",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::testutil::*;

    fn layout(p: &Parsed) -> &Layout {
        p.layout.of::<Layout>().unwrap()
    }

    #[test]
    fn round_trips() {
        for src in [
            &b"hello\nworld"[..],
            b"",
            b"\xff\xfe\x00binary",
            b"{\"data\": 1}\n",
            b"x\n",
        ] {
            let enc = round_trip_bytes(src, parse, |p, c, m| {
                splice(layout(p), p, c, m, &StoreOptions::default())
            });
            let s = String::from_utf8(enc).unwrap();
            if !src.is_empty() {
                assert!(s.starts_with("{\n\t\"data\": \"ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\",\n\t\"sops\": {\n\t\t\"age\": [\n\t\t\t{\n\t\t\t\t\"enc\": \"-----BEGIN AGE ENCRYPTED FILE-----\\n"), "{s}");
                assert!(s.ends_with("\t\t\"version\": \"3.11.0\"\n\t}\n}\n"));
            }
        }
    }

    #[test]
    fn emit_errors() {
        let p = parse(b"abc").unwrap();
        assert_eq!(
            emit(&p.tree, None, &StoreOptions::default()).unwrap(),
            b"abc"
        );
        assert!(emit_value(&Value::Map(vec![]), &StoreOptions::default()).is_err());
        let t = Tree {
            docs: vec![Doc { items: vec![] }],
        };
        assert!(emit(&t, None, &StoreOptions::default()).is_err());
    }
}
