//! The contract every store must pass, run over every format from one table of samples: an
//! unchanged splice gives the bytes back; encrypt then decrypt gives the bytes back (comments,
//! empty collections, unicode, CRLF, no final newline); `set` and `unset` change only what they
//! name; a tampered ciphertext is caught. A new format adds its samples here and nothing else.

use crate::crypto::DataKey;
use crate::fuzzing::test_metadata;
use crate::tree::{leaf_count, secret, Leaf, Scalar, Value, NO_LEAF};
use crate::treepath::{self, Step};
use crate::walk::{decrypt_tree, encrypt_tree, Selection, Stash};

use super::{same_documents, Format, Store, StoreOptions};

/// The formats every test runs over.
const FORMATS: [Format; 6] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Toml,
    Format::Binary,
];

/// What a sample shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Basic,
    Comments,
    EmptyCollections,
    Unicode,
    Crlf,
    NoFinalNewline,
}

const CASES: [Case; 6] = [
    Case::Basic,
    Case::Comments,
    Case::EmptyCollections,
    Case::Unicode,
    Case::Crlf,
    Case::NoFinalNewline,
];

/// A sample file of `format` showing `case`; `None` where the format has no such thing (JSON
/// has no comments, dotenv no collections). Every sample has a top-level `name` key (INI: in
/// section `s`) for the set/unset tests.
fn sample(format: Format, case: Case) -> Option<&'static str> {
    use Case::*;
    use Format::*;
    Some(match (format, case) {
        (Yaml, Basic) => "name: alpha\nport: 8080\nratio: 1.5\non: true\nlist:\n  - a\n  - b\n",
        (Yaml, Comments) => "# top\nname: alpha # inline\n# before\nport: 1\n",
        (Yaml, EmptyCollections) => "name: alpha\nmap: {}\nlist: []\n",
        (Yaml, Unicode) => "name: \"h\u{e9}llo \u{1F49A}\"\n\u{e9}t\u{e9}: \u{65e5}\u{672c}\n",
        (Yaml, Crlf) => "name: alpha\r\nport: 1\r\n",
        (Yaml, NoFinalNewline) => "name: alpha\nport: 1",
        (Json, Basic) => "{\n  \"name\": \"alpha\",\n  \"port\": 8080,\n  \"on\": true,\n  \"list\": [\"a\", \"b\"]\n}\n",
        (Json, Comments) => return None,
        (Json, EmptyCollections) => "{\"name\": \"alpha\", \"map\": {}, \"list\": []}\n",
        (Json, Unicode) => "{\"name\": \"h\u{e9}llo \u{1F49A}\", \"\u{e9}t\u{e9}\": \"\u{65e5}\"}\n",
        (Json, Crlf) => "{\r\n  \"name\": \"alpha\",\r\n  \"port\": 1\r\n}\r\n",
        (Json, NoFinalNewline) => "{\"name\": \"alpha\"}",
        (Dotenv, Basic) => "name=alpha\nPORT=8080\n",
        (Dotenv, Comments) => "# top\nname=alpha\n# before\nPORT=1\n",
        (Dotenv, EmptyCollections) => return None,
        (Dotenv, Unicode) => "name=h\u{e9}llo \u{1F49A}\n",
        // A dotenv value runs to the LF: a CR before it is part of the value, as sops reads it.
        (Dotenv, Crlf) => return None,
        (Dotenv, NoFinalNewline) => "name=alpha\nPORT=1",
        (Ini, Basic) => "[s]\nname = alpha\nport = 8080\n",
        (Ini, Comments) => "; top\n[s]\n# before\nname = alpha\n",
        (Ini, EmptyCollections) => "[empty]\n[s]\nname = alpha\n",
        (Ini, Unicode) => "[s]\nname = h\u{e9}llo \u{1F49A}\n",
        (Ini, Crlf) => "[s]\r\nname = alpha\r\n",
        (Ini, NoFinalNewline) => "[s]\nname = alpha",
        (Toml, Basic) => "name = \"alpha\"\nport = 8080\nratio = 1.5\non = true\nlist = [\"a\", \"b\"]\n\n[t]\nx = \"y\"\n\n[[arr]]\nz = 1\n",
        (Toml, Comments) => "# top\nname = \"alpha\" # inline\n# before\nport = 1\n",
        (Toml, EmptyCollections) => "name = \"alpha\"\nmap = {}\nlist = []\n\n[empty]\n",
        (Toml, Unicode) => "name = \"h\u{e9}llo \u{1F49A}\"\n\"\u{e9}t\u{e9}\" = \"\u{65e5}\u{672c}\"\n",
        (Toml, Crlf) => "name = \"alpha\"\r\nport = 1\r\n",
        (Toml, NoFinalNewline) => "name = \"alpha\"\nport = 1",
        (Binary, Basic) => "any bytes at all\n\u{1}\u{2}",
        (Binary, Unicode) => "h\u{e9}llo \u{1F49A}",
        (Binary, NoFinalNewline) => "no newline",
        (Binary, Comments | EmptyCollections | Crlf) => return None,
    })
}

fn samples() -> impl Iterator<Item = (Format, Case, &'static str)> {
    FORMATS.into_iter().flat_map(|f| {
        CASES
            .into_iter()
            .filter_map(move |c| sample(f, c).map(|s| (f, c, s)))
    })
}

fn store(format: Format) -> Store {
    Store::new(format, StoreOptions::default())
}

fn key() -> DataKey {
    DataKey::from_slice(&[9u8; 32]).unwrap_or_else(DataKey::generate)
}

/// The encrypted form of `src` (default selection, test metadata).
fn encrypt(format: Format, src: &str) -> Vec<u8> {
    let store = store(format);
    let parsed = store.parse(src.as_bytes()).unwrap();
    let sel = match format {
        Format::Binary => Selection::All,
        _ => Selection::default(),
    };
    let enc = encrypt_tree(&parsed.tree, &key(), &sel, false, &mut Stash::default()).unwrap();
    let meta = test_metadata(&sel).to_value();
    store.splice(&parsed, &enc.changes, Some(&meta)).unwrap()
}

/// The plaintext of an encrypted file, or the walk's error.
fn decrypt(format: Format, bytes: &[u8]) -> Result<Vec<u8>, crate::walk::WalkError> {
    let store = store(format);
    let parsed = store.parse(bytes).unwrap();
    let sel = match format {
        Format::Binary => Selection::All,
        _ => Selection::default(),
    };
    let dec = decrypt_tree(&parsed.tree, &key(), &sel, false, &mut Stash::off())?;
    Ok(store.splice_plain(&parsed, &dec.changes, None).unwrap())
}

#[test]
fn an_unchanged_splice_gives_the_bytes_back() {
    for (format, case, src) in samples() {
        let store = store(format);
        let parsed = store.parse(src.as_bytes()).unwrap();
        let changes = vec![None; leaf_count(&parsed.tree)];
        let out = store.splice(&parsed, &changes, None).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            src,
            "{format:?} {case:?}: an unchanged splice must give the input back"
        );
    }
}

/// A splice made only where it is not what is expected: nothing when it is exactly that (the
/// encrypted file spliced with its values decrypted, against the plaintext), else the splice
/// itself, whatever way the expected bytes differ (one byte changed anywhere, one short, one
/// more, nothing).
#[test]
fn a_splice_unless_expected_agrees_with_the_splice() {
    for (format, case, src) in samples() {
        let store = store(format);
        let encrypted = encrypt(format, src);
        let reading = store.parse_lent(&encrypted).unwrap();
        let sel = match format {
            Format::Binary => Selection::All,
            _ => Selection::default(),
        };
        let dec = decrypt_tree(&reading.tree, &key(), &sel, false, &mut Stash::off()).unwrap();
        let Some(spliced) = store.splice_from(&reading, &encrypted, &dec.changes, None) else {
            assert!(
                !matches!(format, Format::Json | Format::Yaml),
                "{format:?} splices from bytes"
            );
            continue;
        };
        let spliced = spliced.unwrap();
        assert_eq!(spliced, src.as_bytes(), "{format:?} {case:?}");
        let unless = |expected: &[u8]| {
            store
                .splice_from_unless(&reading, &encrypted, &dec.changes, None, expected)
                .unwrap()
                .unwrap()
        };
        assert_eq!(unless(&spliced), None, "{format:?} {case:?}");
        let mut others = vec![
            Vec::new(),
            spliced[1..].to_vec(),
            [&spliced[..], b" "].concat(),
        ];
        for at in 0..spliced.len() {
            let mut other = spliced.clone();
            other[at] ^= 1;
            others.push(other);
        }
        for other in others {
            assert_eq!(
                unless(&other).as_ref(),
                Some(&spliced),
                "{format:?} {case:?}"
            );
        }
    }
}

#[test]
fn decrypt_of_encrypt_gives_the_bytes_back() {
    for (format, case, src) in samples() {
        let encrypted = encrypt(format, src);
        assert_ne!(encrypted, src.as_bytes(), "{format:?} {case:?}");
        let back = decrypt(format, &encrypted).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&back),
            src,
            "{format:?} {case:?}: decrypt(encrypt(x)) must be x"
        );
    }
}

#[test]
fn the_encrypted_file_keeps_the_layout() {
    for (format, case, src) in samples() {
        if format == Format::Binary {
            continue;
        }
        let encrypted = String::from_utf8_lossy(&encrypt(format, src)).into_owned();
        let crlf = src.contains("\r\n");
        assert_eq!(
            encrypted.contains("\r\n"),
            crlf,
            "{format:?} {case:?}: line endings must be kept"
        );
        assert!(
            encrypted.contains("name"),
            "{format:?} {case:?}: keys stay readable"
        );
        assert!(
            !encrypted.contains("alpha"),
            "{format:?} {case:?}: values are encrypted"
        );
    }
}

/// The path of the `name` value in every sample.
fn name_path(format: Format) -> Vec<Step> {
    match format {
        Format::Ini => vec![Step::Key("s".into()), Step::Key("name".into())],
        _ => vec![Step::Key("name".into())],
    }
}

fn string(s: &str) -> Value {
    Value::Leaf(Leaf::new(NO_LEAF, Scalar::Str(secret(s))))
}

#[test]
fn set_changes_only_the_value_it_names() {
    for (format, case, src) in samples() {
        if format == Format::Binary {
            continue;
        }
        let store = store(format);
        let parsed = store.parse(src.as_bytes()).unwrap();
        let steps = name_path(format);
        let out = store.set(&parsed, &steps, &string("omega")).unwrap();
        let back = store.parse(&out).unwrap();
        let doc = &back.tree.docs[0].items;
        assert!(
            treepath::same_value(&treepath::lookup(doc, &steps).unwrap(), &string("omega")),
            "{format:?} {case:?}: the value is set"
        );
        let mut expected = parsed.tree.clone();
        treepath::set(&mut expected.docs[0].items, &steps, string("omega"));
        assert!(
            same_documents(&back.tree, &expected),
            "{format:?} {case:?}: nothing else changes"
        );
        let text = String::from_utf8_lossy(&out);
        if !src.contains("alpha") {
            continue;
        }
        assert_eq!(
            text.replacen("omega", "alpha", 1),
            src,
            "{format:?} {case:?}: set is a minimal text edit"
        );
    }
}

#[test]
fn unset_removes_only_the_value_it_names() {
    for (format, case, src) in samples() {
        if format == Format::Binary {
            continue;
        }
        let store = store(format);
        let parsed = store.parse(src.as_bytes()).unwrap();
        let steps = name_path(format);
        let out = store.unset(&parsed, &steps).unwrap();
        let back = store.parse(&out).unwrap();
        let doc = &back.tree.docs[0].items;
        assert!(
            treepath::lookup(doc, &steps).is_err(),
            "{format:?} {case:?}: the value is gone"
        );
        let mut expected = parsed.tree.clone();
        treepath::unset(&mut expected.docs[0].items, &steps).unwrap();
        assert!(
            same_documents(&back.tree, &expected),
            "{format:?} {case:?}: nothing else changes"
        );
        assert!(
            store.unset(&back, &steps).is_err(),
            "{format:?} {case:?}: unsetting a missing path is an error"
        );
    }
}

#[test]
fn a_tampered_value_is_caught() {
    for (format, case, src) in samples() {
        let encrypted = String::from_utf8_lossy(&encrypt(format, src)).into_owned();
        // Change one character of a value's ciphertext (the `name` value where there is one:
        // a comment that does not decrypt is kept as it is, as sops keeps it).
        let from = encrypted.find("name").unwrap_or(0);
        let start = from
            + encrypted[from..].find("ENC[AES256_GCM,data:").unwrap()
            + "ENC[AES256_GCM,data:".len();
        let mut bytes = encrypted.into_bytes();
        bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
        assert!(
            decrypt(format, &bytes).is_err(),
            "{format:?} {case:?}: a changed ciphertext must not decrypt"
        );
    }
}

#[test]
fn every_format_has_samples_of_the_basics() {
    for format in FORMATS {
        for case in [Case::Basic, Case::Unicode, Case::NoFinalNewline] {
            assert!(sample(format, case).is_some(), "{format:?} {case:?}");
        }
    }
}

#[test]
fn a_lending_reading_decrypts_as_a_copying_one() {
    for (format, case, src) in samples() {
        let encrypted = encrypt(format, src);
        let lent_leaves = crate::fuzzing::lending_agrees(format, &encrypted);
        assert_eq!(
            lent_leaves > 0,
            matches!(format, Format::Json | Format::Yaml),
            "{format:?} {case:?}"
        );
        let lent = store(format)
            .parse_owned_lending(crate::wipe::Wiped::new(encrypted.clone()).into())
            .unwrap();
        let sel = Selection::default();
        let tokens = |id| lent.lent_token(id);
        let dec = crate::walk::walk_lent(
            &lent.tree,
            Some(crate::walk::LentTokens::new(&tokens)),
            &key(),
            &sel,
            false,
            &mut Stash::off(),
            crate::walk::Mode::DECRYPT,
        );
        if format == Format::Binary {
            continue;
        }
        let dec = dec.unwrap();
        let copied = store(format).parse(&encrypted).unwrap();
        let expected = decrypt_tree(&copied.tree, &key(), &sel, false, &mut Stash::off()).unwrap();
        assert!(dec.changes == expected.changes, "{format:?} {case:?}");
        assert_eq!(dec.mac, expected.mac, "{format:?} {case:?}");
        let back = store(format)
            .splice_plain(&lent, &dec.changes, None)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&back), src, "{format:?} {case:?}");
    }
}

/// Every JSON and YAML file of the corpus, the files other projects encrypted with sops
/// among them.
#[test]
fn corpus_files_read_alike_lent_and_copied() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut dirs = vec![std::path::PathBuf::from(root)];
    let (mut files, mut lent_leaves) = (0, 0);
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder") {
            let path = entry.expect("entry").path();
            let format = match path.extension().and_then(|e| e.to_str()) {
                _ if path.is_dir() => {
                    dirs.push(path);
                    continue;
                }
                Some("json") => Format::Json,
                Some("yaml" | "yml") => Format::Yaml,
                _ => continue,
            };
            let bytes = std::fs::read(&path).expect("corpus file");
            files += 1;
            lent_leaves += crate::fuzzing::lending_agrees(format, &bytes);
        }
    }
    assert!(files > 500, "{files} files");
    // 370 when this test was written.
    assert!(lent_leaves >= 370, "{lent_leaves} leaves lent");
}
