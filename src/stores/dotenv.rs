//! dotenv store (sops's line format: `KEY=value` lines, `#comment` lines), lossless where sops is
//! not: empty lines are kept (sops drops them), lines of blanks read as empty (sops rejects them).

use super::keyvalue::{set_metadata_ids, value_to_string};
use super::text::{apply_edits, into_vec, line_range, remove_lines, with_room, Edit};
use super::{Changes, FormatStore, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::filebytes::FileBytes;
use crate::stores::flat::{flatten, unflatten};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value};
use crate::treepath::Step;
use crate::wipe::Wiped;

/// What starts the name of every metadata line.
const METADATA_PREFIX: &str = "sops_";

/// Where things are in a parsed dotenv file.
pub struct Layout {
    src: FileBytes,
    /// Byte range of every leaf's text (a value, or a comment after its `#`), by leaf id.
    spans: Vec<(usize, usize)>,
    /// Byte ranges of the `sops_*` lines, each with its line break if it has one.
    metadata_lines: Vec<(usize, usize)>,
}

impl Layout {
    /// The bytes the file was parsed from.
    pub(crate) fn source(&self) -> Option<&[u8]> {
        Some(&self.src)
    }
}

pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    let mut items = Vec::new();
    let mut spans = Vec::new();
    let mut metadata_lines = Vec::new();
    let mut metadata_pairs: Vec<(String, String)> = Vec::new();
    let mut start = 0;
    let mut line_number = 0;
    while start < src.len() {
        line_number += 1;
        let (end, next) = match src[start..].iter().position(|&b| b == b'\n') {
            Some(p) => (start + p, start + p + 1),
            None => (src.len(), src.len()),
        };
        let line = &src[start..end];
        let text = std::str::from_utf8(line)
            .map_err(|_| StoreError::at_line("invalid UTF-8 in dotenv input line", line_number))?;
        if text.trim_matches([' ', '\t', '\r']).is_empty() {
            // Empty line: kept in the source bytes only.
        } else if let Some(comment) = text.strip_prefix('#') {
            let id = spans.len();
            spans.push((start + 1, end));
            items.push(Item::Comment(Leaf::new(
                id,
                Scalar::Comment(secret(comment)),
            )));
        } else {
            let Some(equals) = text.find('=') else {
                return Err(StoreError::at_line(
                    "invalid dotenv input line",
                    line_number,
                ));
            };
            let key = &text[..equals];
            let value = text[equals + 1..].replace("\\n", "\n");
            if let Some(metadata_key) = key.strip_prefix(METADATA_PREFIX) {
                let value = value.strip_suffix('\r').unwrap_or(&value).to_string();
                metadata_pairs.push((metadata_key.to_string(), value));
                metadata_lines.push((start, next));
            } else {
                let id = spans.len();
                spans.push((start + equals + 1, end));
                items.push(Item::pair(
                    key,
                    Value::Leaf(Leaf::new(id, Scalar::Str(secret(value)))),
                ));
            }
        }
        start = next;
    }
    let metadata = if metadata_pairs.is_empty() {
        None
    } else {
        let mut v = unflatten(&metadata_pairs).map_err(|e| StoreError::new(e.to_string()))?;
        set_metadata_ids(&mut v);
        Some(v)
    };
    Ok(Parsed {
        tree: Tree {
            docs: vec![Doc { items }],
        },
        metadata,
        encoding: Default::default(),
        layout: super::Layout::new(Layout {
            src: Wiped::new(src.to_vec()).into(),
            spans,
            metadata_lines,
        }),
    })
}

/// The dotenv spelling of a value (newlines escaped as `\n`).
fn value_text(value: &Scalar) -> Wiped<String> {
    match value {
        Scalar::Str(s) => Wiped::new(s.replace('\n', "\\n")),
        other => Wiped::new(value_to_string(other)),
    }
}

/// `base` with `lines` (without their line breaks) appended as the file's last lines, in a buffer
/// grown without leaving an unwiped copy of `base` behind.
fn append_lines(base: Wiped<Vec<u8>>, lines: &[Wiped<String>], newline: &str) -> Wiped<Vec<u8>> {
    if lines.is_empty() {
        return base;
    }
    let room = lines.iter().map(|l| l.len() + newline.len()).sum::<usize>() + newline.len();
    let mut out = with_room(base, room);
    let final_newline = out.is_empty() || out.ends_with(b"\n");
    if !final_newline {
        out.extend_from_slice(newline.as_bytes());
    }
    for (n, line) in lines.iter().enumerate() {
        out.extend_from_slice(line.as_bytes());
        if final_newline || n + 1 < lines.len() {
            out.extend_from_slice(newline.as_bytes());
        }
    }
    out
}

pub fn splice(
    layout: &Layout,
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let mut edits = Vec::new();
    for (id, change) in changes.iter().enumerate() {
        let (Some(change), Some(&(start, end))) = (change, layout.spans.get(id)) else {
            continue;
        };
        let text = match change {
            NewLeaf::Encrypted(enc) => Wiped::new(enc.as_bytes().to_vec()),
            NewLeaf::Plain { value, .. } => match value {
                Scalar::Comment(c) => Wiped::new(c.as_bytes().to_vec()),
                other => Wiped::new(value_text(other).as_bytes().to_vec()),
            },
        };
        edits.push(Edit { start, end, text });
    }
    remove_lines(&layout.src, &layout.metadata_lines, &mut edits);
    let mut out = apply_edits(&layout.src, &mut edits)?;
    if let Some(meta) = metadata {
        // Metadata lines end in `\n` only, so that sops reads their values without a `\r`.
        out = append_lines(out, &metadata_lines_of(meta), "\n");
    }
    Ok(into_vec(out))
}

fn complex_value_error(key: &str) -> StoreError {
    StoreError::new(format!(
        "cannot use complex value in dotenv file; offending key {key}"
    ))
}

/// The leaf of the first `key=` line.
fn find_leaf<'a>(parsed: &'a Parsed, key: &str) -> Option<&'a Leaf> {
    let items = &parsed.tree.docs.first()?.items;
    items.iter().find_map(|i| match i {
        Item::Pair {
            key: k,
            value: Value::Leaf(l),
        } if k == key => Some(l),
        _ => None,
    })
}

/// `set` as a text edit: a new `KEY=value` line at the end, or the value of the first `KEY=`
/// line replaced. Only top-level scalars exist in dotenv files.
pub(crate) fn set_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
    value: &Value,
) -> Result<Option<Vec<u8>>, StoreError> {
    let src: &[u8] = &layout.src;
    match steps {
        [Step::Key(k), rest @ ..] => {
            let Value::Leaf(new) = value else {
                return Err(complex_value_error(k));
            };
            if !rest.is_empty() {
                return Err(complex_value_error(k));
            }
            if k.is_empty() || k.contains(['=', '\n']) || k.starts_with('#') {
                return Err(StoreError::new(format!("invalid dotenv key {k:?}")));
            }
            let text = value_text(&new.value);
            if let Some(old) = find_leaf(parsed, k) {
                let Some(&(start, end)) = layout.spans.get(old.id) else {
                    return Ok(None);
                };
                let mut edits = vec![Edit {
                    start,
                    end,
                    text: Wiped::new(text.as_bytes().to_vec()),
                }];
                return Ok(Some(into_vec(apply_edits(src, &mut edits)?)));
            }
            // `\n` only, so that the value reads back without a `\r` in CRLF files.
            let out = append_lines(
                Wiped::new(src.to_vec()),
                &[Wiped::new(format!("{k}={}", text.as_str()))],
                "\n",
            );
            Ok(Some(into_vec(out)))
        }
        _ => Ok(Some(src.to_vec())),
    }
}

/// `unset` as a text edit: the first `KEY=` line removed.
pub(crate) fn unset_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
) -> Result<Option<Vec<u8>>, StoreError> {
    let [Step::Key(k)] = steps else {
        return Ok(None);
    };
    let src: &[u8] = &layout.src;
    let Some(&(start, _)) = find_leaf(parsed, k).and_then(|l| layout.spans.get(l.id)) else {
        return Ok(None);
    };
    let mut edits = Vec::new();
    remove_lines(src, &[line_range(src, start)], &mut edits);
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
}

fn metadata_lines_of(meta: &Value) -> Vec<Wiped<String>> {
    flatten(meta)
        .into_iter()
        .map(|(k, v)| Wiped::new(format!("{METADATA_PREFIX}{k}={}", v.replace('\n', "\\n"))))
        .collect()
}

pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Wiped::new(Vec::new());
    if let Some(doc) = tree.docs.first() {
        for item in &doc.items {
            match item {
                Item::Comment(l) => {
                    out.push(b'#');
                    out.extend_from_slice(l.value.as_str().unwrap_or("").as_bytes());
                    out.push(b'\n');
                }
                Item::Pair { key, value } => {
                    let Value::Leaf(l) = value else {
                        return Err(StoreError::new(format!(
                            "cannot use complex value in dotenv file; offending key {key}"
                        )));
                    };
                    out.extend_from_slice(key.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(value_text(&l.value).as_bytes());
                    out.push(b'\n');
                }
                Item::Elem(_) => {}
            }
        }
    }
    if let Some(meta) = metadata {
        for l in metadata_lines_of(meta) {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
    }
    Ok(out.to_vec())
}

pub fn emit_value(value: &Value, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let ty = match value {
        Value::Leaf(l) => match &l.value {
            Scalar::Str(s) => return Ok(s.as_bytes().to_vec()),
            Scalar::Bytes(b) => return Ok(b.to_vec()),
            Scalar::Null => "<nil>",
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float64",
            Scalar::Time(_) => "time.Time",
            Scalar::Comment(_) => "sops.Comment",
        },
        Value::Map(_) => "sops.TreeBranch",
        Value::List(_) => "[]interface {}",
    };
    Err(StoreError::new(format!(
        "the dotenv store only supports emitting strings, got {ty}"
    )))
}

/// The dotenv format behind the store contract.
pub struct DotenvStore;

impl FormatStore for DotenvStore {
    fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        parse(src)
    }

    super::hand_over_writes!(Layout);

    super::hand_over_line_edits!(Layout);

    fn splices_from_layout(&self, _parsed: &Parsed, _changes: &Changes) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::testutil::*;

    fn layout(p: &Parsed) -> &Layout {
        p.layout.of::<Layout>().unwrap()
    }

    fn encrypted_by_round_trip(src: &str) -> String {
        let enc = round_trip(src, parse, |p, c, m| {
            splice(layout(p), p, c, m, &StoreOptions::default())
        });
        String::from_utf8(enc).unwrap()
    }

    #[test]
    fn shape() {
        let p = parse(b"# hello\nA=1\n\nexport B = x=y\\nz\nEMPTY=\n").unwrap();
        let items = &p.tree.docs[0].items;
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0],
            Item::Comment(Leaf::new(0, Scalar::Comment(secret(" hello"))))
        );
        assert_eq!(
            items[2],
            Item::pair(
                "export B ",
                Value::Leaf(Leaf::new(2, Scalar::Str(secret(" x=y\nz"))))
            )
        );
        assert!(p.metadata.is_none());
    }

    #[test]
    fn bad_line() {
        let e = parse(b"A=1\nSECRETVALUE\n").err().unwrap();
        assert_eq!(e.line, Some(2));
        assert!(!e.message.contains("SECRET"));
    }

    #[test]
    fn round_trips() {
        for src in [
            "A=1\nB=two words\n",
            "# comment\nA=1\n\n\n#\nB=\nC==x=\n",
            "A=x\\ny\nU=\u{e9}\u{1F600}",
            "A=1\r\nB=2\r\n",
            "A=1\r\n#c\r\nB=2",
            "",
            "\n",
            "  \nA=1\n",
        ] {
            encrypted_by_round_trip(src);
        }
        let enc = encrypted_by_round_trip("A=1\n");
        assert!(enc.starts_with("A=ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\nsops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\n"));
        assert!(enc.ends_with("sops_version=3.11.0\n"));
        let enc = encrypted_by_round_trip("#c\nA=1");
        assert!(enc.starts_with("#ENC[AES256_GCM,data:0,iv:x,tag:y,type:str]\nA=ENC[AES256_GCM,data:1,iv:x,tag:y,type:str]\nsops_age"));
        assert!(enc.ends_with("sops_version=3.11.0"));
    }

    #[test]
    fn emit_like_sops() {
        let p = parse(b"#c\nA=x\\ny\n\nB=2\n").unwrap();
        let out = emit(&p.tree, None, &StoreOptions::default()).unwrap();
        assert_eq!(out, b"#c\nA=x\\ny\nB=2\n");
        let mut tree = p.tree.clone();
        tree.docs[0].items.push(Item::pair(
            "F",
            Value::Leaf(Leaf::new(9, Scalar::Float(3.0))),
        ));
        tree.docs[0].items.push(Item::pair(
            "T",
            Value::Leaf(Leaf::new(9, Scalar::Bool(true))),
        ));
        let out = emit(&tree, None, &StoreOptions::default()).unwrap();
        assert!(out.ends_with(b"F=3.0\nT=true\n"));
        tree.docs[0].items.push(Item::pair("M", Value::Map(vec![])));
        assert!(emit(&tree, None, &StoreOptions::default()).is_err());
    }
}
