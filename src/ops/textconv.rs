//! `textconv`: the text git diffs in place of an encrypted file (`diff.<driver>.textconv`). With
//! the keys it is exactly what `decrypt` prints; without them (or when anything at all fails) it
//! is the file's own structure with every encrypted value replaced by a marker derived from its
//! ciphertext (`<encrypted 3f9a1c0b>`), and a short summary of the `sops` metadata in place of
//! the metadata block, so that only values whose ciphertext changed show as changed lines. A file
//! that is not a sops file is given back byte for byte. Git hands the driver temporary files
//! whose names may have lost their extension, so the format is found from the content when the
//! name says nothing. Nothing here ever fails: `git diff`, `git log -p` and `git show` must not
//! break on one odd file.

use sha2::{Digest, Sha256};

use crate::crypto::cipher::EncryptedValue;
use crate::metadata::Metadata;
use crate::stores::{Format, NewLeaf, Parsed};
use crate::tree::{for_each_leaf, secret, Item, Leaf, Scalar, Value, NO_LEAF};
use crate::wipe::Wiped;

use super::decrypt::{decrypt, DecryptRequest};
use super::{Engine, KeyAccess, Source};

/// The formats tried, in order, when the name's format does not read as a sops file: a JSON
/// object with `sops`, a YAML mapping with `sops`, INI with a `[sops]` section, dotenv with
/// `sops_…` lines, and the JSON envelope of an encrypted binary file (a `data` key).
const CONTENT_ORDER: [Format; 5] = [
    Format::Json,
    Format::Yaml,
    Format::Ini,
    Format::Dotenv,
    Format::Binary,
];

/// How many hexadecimal digits of the ciphertext's SHA-256 a marker shows.
const MARKER_DIGITS: usize = 8;

/// What `textconv` printed, and why.
pub enum Shown {
    /// The plaintext, as `decrypt` prints it.
    Decrypted,
    /// The structure with markers: the file could not be decrypted (`reason`, for `--verbose`).
    Markers { reason: String },
    /// Not a sops file: the bytes as they are.
    Unchanged,
}

/// The text of one side of a diff.
pub struct Converted {
    pub text: Wiped<Vec<u8>>,
    pub shown: Shown,
    /// The format the content was read as (`None` for a file that is not a sops file).
    pub format: Option<Format>,
}

/// The format `bytes` read as a sops file in: the name's format first, then `CONTENT_ORDER`.
/// `None` when no format gives a tree with valid sops metadata.
pub fn detect(
    engine: &Engine,
    bytes: &[u8],
    name: Option<&std::path::Path>,
) -> Option<(Format, Parsed, Metadata)> {
    let named = name.map(Format::from_path);
    let order = named
        .into_iter()
        .chain(CONTENT_ORDER.into_iter().filter(|f| Some(*f) != named));
    for format in order {
        let Ok(parsed) = engine.store(format).parse(bytes) else {
            continue;
        };
        if parsed.metadata.is_none() {
            continue;
        }
        if let Ok(metadata) = super::open::metadata_of(&parsed) {
            return Some((format, parsed, metadata));
        }
    }
    None
}

/// The text git should diff for `bytes` (the file `name`): see the module header. Never fails.
pub fn textconv(
    engine: &Engine,
    bytes: &[u8],
    name: Option<&std::path::Path>,
    access: &KeyAccess,
) -> Converted {
    let unchanged = || Converted {
        text: Wiped::new(bytes.to_vec()),
        shown: Shown::Unchanged,
        format: None,
    };
    let Some((format, parsed, metadata)) = detect(engine, bytes, name) else {
        return unchanged();
    };
    let mut source = Source {
        path: name.map(|n| n.to_path_buf()),
        name: None,
        bytes: Wiped::new(bytes.to_vec()).into(),
    };
    let request = DecryptRequest {
        input: Some(format),
        output: Some(format),
        extract: None,
        ignore_mac: false,
        access: access.clone(),
    };
    let reason = match decrypt(engine, &mut source, &request) {
        Ok(text) => {
            return Converted {
                text,
                shown: Shown::Decrypted,
                format: Some(format),
            }
        }
        Err(e) => e.to_string(),
    };
    match markers(engine, format, bytes, parsed, &metadata) {
        Some(text) => Converted {
            text: Wiped::new(text),
            shown: Shown::Markers { reason },
            format: Some(format),
        },
        None => unchanged(),
    }
}

/// The marker that stands for the encrypted value `ciphertext`: the same ciphertext always gives
/// the same marker, a new one (almost surely) another.
pub fn marker(ciphertext: &str) -> String {
    let digest = Sha256::digest(ciphertext.as_bytes());
    let hex = hex::encode(digest);
    format!("<encrypted {}>", &hex[..MARKER_DIGITS])
}

/// The file with every encrypted value (and comment) replaced by its [`marker`] and the metadata
/// by [`summary`], in the file's own layout where the store can splice it (laid out from scratch
/// otherwise). A binary file's envelope is shown as the JSON it is.
fn markers(
    engine: &Engine,
    format: Format,
    bytes: &[u8],
    parsed: Parsed,
    metadata: &Metadata,
) -> Option<Vec<u8>> {
    let (store, parsed) = if format == Format::Binary {
        let store = engine.store(Format::Json);
        let parsed = store.parse(bytes).ok()?;
        (store, parsed)
    } else {
        (engine.store(format), parsed)
    };
    let mut leaves: Vec<&Leaf> = Vec::new();
    for doc in &parsed.tree.docs {
        for_each_leaf(&doc.items, &mut |l| leaves.push(l));
    }
    let size = leaves
        .iter()
        .map(|l| l.id)
        .filter(|id| *id != NO_LEAF)
        .max()
        .map_or(0, |m| m + 1);
    let mut changes: Vec<Option<NewLeaf>> = vec![None; size];
    for leaf in leaves {
        let (text, comment) = match &leaf.value {
            Scalar::Str(s) => (s, false),
            Scalar::Comment(s) => (s, true),
            _ => continue,
        };
        if EncryptedValue::parse(text).is_err() {
            continue;
        }
        let shown = marker(text);
        let value = if comment {
            Scalar::Comment(secret(shown.clone()))
        } else {
            Scalar::Str(secret(shown.clone()))
        };
        if let Some(slot) = changes.get_mut(leaf.id) {
            *slot = Some(NewLeaf::Plain {
                value,
                text: secret(shown),
            });
        }
    }
    let summary = summary(metadata);
    store.splice_plain(&parsed, &changes, Some(&summary)).ok()
}

/// The `sops` block shown in place of the metadata: the recipients (`- age: age1…`), per key
/// group and with the threshold when there is more than one group, and `lastmodified`. The
/// wrapped data keys and the MAC are left out: they change on every write and would only be
/// noise in a diff.
pub fn summary(metadata: &Metadata) -> Value {
    let leaf = |s: Scalar| Value::Leaf(Leaf::new(NO_LEAF, s));
    let recipients = |group: &crate::metadata::KeyGroup| {
        let keys = group
            .iter()
            .map(|k| {
                let id = leaf(Scalar::Str(secret(k.key.id())));
                Item::Elem(Value::Map(vec![Item::pair(k.kind().name(), id)]))
            })
            .collect();
        Value::List(keys)
    };
    let mut items = Vec::new();
    if let [group] = metadata.key_groups.as_slice() {
        items.push(Item::pair("recipients", recipients(group)));
    } else {
        let groups = metadata
            .key_groups
            .iter()
            .map(|g| Item::Elem(Value::Map(vec![Item::pair("recipients", recipients(g))])))
            .collect();
        items.push(Item::pair("key_groups", Value::List(groups)));
        let threshold = match metadata.shamir_threshold {
            0 => metadata.key_groups.len(),
            n => n,
        };
        items.push(Item::pair(
            "threshold",
            leaf(Scalar::Int(i64::try_from(threshold).unwrap_or(i64::MAX))),
        ));
    }
    items.push(Item::pair(
        "lastmodified",
        leaf(Scalar::Str(secret(metadata.last_modified.clone()))),
    ));
    Value::Map(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    fn meta_yaml() -> String {
        format!(
            "sops:\n    age:\n        - recipient: {AGE}\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            eA==\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    unencrypted_suffix: _unencrypted\n    version: 3.11.0\n"
        )
    }

    fn enc(data: &str) -> String {
        format!("ENC[AES256_GCM,data:{data},iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]")
    }

    fn yaml_file(a: &str) -> String {
        format!(
            "# top comment\na: {}\nb: {}\nc_unencrypted: clear\n{}",
            enc(a),
            enc("Ymbb"),
            meta_yaml()
        )
    }

    #[test]
    fn a_yaml_file_without_extension_is_detected_from_its_content() {
        let engine = Engine::default();
        let bytes = yaml_file("YWFh");
        let found = detect(
            &engine,
            bytes.as_bytes(),
            Some(std::path::Path::new("XyZ12_f")),
        );
        assert_eq!(found.map(|f| f.0), Some(Format::Yaml));
    }

    #[test]
    fn a_json_file_named_yaml_is_still_found() {
        let engine = Engine::default();
        let json = format!(
            "{{\"a\": \"{}\", \"sops\": {{\"age\": [{{\"recipient\": \"{AGE}\", \"enc\": \"x\"}}], \"lastmodified\": \"2026-01-01T00:00:00Z\", \"mac\": \"\", \"version\": \"3.11.0\"}}}}\n",
            enc("YWFh")
        );
        let found = detect(
            &engine,
            json.as_bytes(),
            Some(std::path::Path::new("f.ini")),
        );
        assert_eq!(found.map(|f| f.0), Some(Format::Json));
    }

    #[test]
    fn dotenv_and_ini_are_found_from_content() {
        let engine = Engine::default();
        let dotenv = format!(
            "A={}\nsops_age__list_0__map_recipient={AGE}\nsops_age__list_0__map_enc=x\nsops_lastmodified=2026-01-01T00:00:00Z\nsops_mac=\nsops_version=3.11.0\n",
            enc("YWFh")
        );
        let found = detect(&engine, dotenv.as_bytes(), None);
        assert_eq!(found.map(|f| f.0), Some(Format::Dotenv));
        let ini = format!(
            "[s]\na = {}\n\n[sops]\nage__list_0__map_recipient = {AGE}\nage__list_0__map_enc = x\nlastmodified = 2026-01-01T00:00:00Z\nmac =\nversion = 3.11.0\n",
            enc("YWFh")
        );
        let found = detect(&engine, ini.as_bytes(), Some(std::path::Path::new("tmp")));
        assert_eq!(found.map(|f| f.0), Some(Format::Ini));
    }

    #[test]
    fn files_that_are_not_sops_files_are_not_detected() {
        let engine = Engine::default();
        for bytes in [
            &b""[..],
            b"a: 1\n",
            b"{\"data\": \"x\"}",
            b"\x00\xff\xfe garbage",
            b"sops: 1\n",
            b"{\"sops\": {\"version\": \"3.11.0\"}}",
        ] {
            assert!(
                detect(&engine, bytes, Some(std::path::Path::new("f.yaml"))).is_none(),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn without_keys_values_become_markers_of_their_ciphertext() {
        let engine = Engine::default();
        let access = KeyAccess {
            local: false,
            ..KeyAccess::default()
        };
        let one = textconv(&engine, yaml_file("YWFh").as_bytes(), None, &access);
        let two = textconv(&engine, yaml_file("YWFi").as_bytes(), None, &access);
        assert!(matches!(one.shown, Shown::Markers { .. }));
        let one = String::from_utf8(one.text.to_vec()).unwrap();
        let two = String::from_utf8(two.text.to_vec()).unwrap();
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        let (l1, l2) = (lines(&one), lines(&two));
        assert_eq!(l1.len(), l2.len(), "{one}\n{two}");
        let differing: Vec<_> = l1.iter().zip(&l2).filter(|(a, b)| a != b).collect();
        assert_eq!(differing.len(), 1, "{one}\n{two}");
        assert!(differing[0].0.starts_with("a: <encrypted "), "{one}");
        assert!(one.contains("# top comment"), "{one}");
        assert!(one.contains("c_unencrypted: clear"), "{one}");
        assert!(
            one.contains(&format!("b: {}", marker(&enc("Ymbb")))),
            "{one}"
        );
        assert!(one.contains(AGE), "{one}");
        assert!(one.contains("2026-01-01T00:00:00Z"), "{one}");
        assert!(!one.contains("ENC["), "{one}");
        assert!(!one.contains("BEGIN AGE"), "{one}");
    }

    #[test]
    fn anything_else_is_given_back_byte_for_byte() {
        let engine = Engine::default();
        let access = KeyAccess::default();
        for bytes in [&b""[..], b"a: [1\n", b"\x00\x01\xff", b"plain: yes\n"] {
            let out = textconv(
                &engine,
                bytes,
                Some(std::path::Path::new("x.yaml")),
                &access,
            );
            assert!(matches!(out.shown, Shown::Unchanged));
            assert_eq!(out.text.as_slice(), bytes);
        }
    }
}
