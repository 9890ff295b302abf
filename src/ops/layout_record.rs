//! The layout record: how to give back a plaintext's exact bytes where splicing the decrypted
//! values into the encrypted file cannot (a folded or multi-line scalar, an alias, a JSON escape,
//! an INI blank line inside a comment block, ...). It is a line edit script from the splice's
//! output to the original, bound to that output by its SHA-256, encrypted and authenticated
//! under the file's data key, and kept in the `sops` block under `sepal_layout`, which sops
//! ignores. A record never changes a value: it is applied only to the exact splice output it was
//! made from, and its result is used only when it reads as the same data.
//! The format is described in `docs/layout-record.md`.

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::record_diff::{self, Edit};
use crate::wipe::Wiped;

use crate::crypto::cipher::{self, DataKey, EncryptedValue};

/// The AAD the record is encrypted with (no value path can produce it: paths end in `:`).
const AAD: &str = "sops:sepal_layout";
const VERSION: u64 = 1;

/// The record that turns `spliced` (what decrypting the encrypted file gives without a record)
/// into `original`, encrypted under `key`; `None` when they are the same, or either is not text.
pub fn make(spliced: &[u8], original: &[u8], key: &DataKey) -> Option<String> {
    if spliced == original {
        return None;
    }
    let from = std::str::from_utf8(spliced).ok()?;
    let to = std::str::from_utf8(original).ok()?;
    let edits = record_diff::script(from, to);
    // The payload is written straight into one wiped buffer of its exact size: the lines it adds
    // are plaintext, and no other copy of them is made (a JSON value per edit was one).
    let payload = Payload {
        sha256: hex::encode(Sha256::digest(spliced)),
        edits: &edits,
        original: to,
    };
    let mut size = ByteCount(0);
    serde_json::to_writer(&mut size, &payload).ok()?;
    let mut bytes = Wiped::new(Vec::with_capacity(size.0));
    serde_json::to_writer(&mut *bytes, &payload).ok()?;
    let sealed = cipher::encrypt(key, &bytes, "str", AAD, None).ok()?;
    Some(sealed.to_string())
}

/// A record's payload: `{"version":1,"sha256":"…","edits":[["k",n],["d",n],["a","…"],…]}`.
struct Payload<'a> {
    sha256: String,
    edits: &'a [Edit],
    /// The text the edits add bytes of.
    original: &'a str,
}

impl serde::Serialize for Payload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        /// One edit as a pair.
        struct One<'a>(&'a Edit, &'a str);
        impl serde::Serialize for One<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut pair = serializer.serialize_seq(Some(2))?;
                match self.0 {
                    Edit::Keep(n) => {
                        pair.serialize_element("k")?;
                        pair.serialize_element(n)?;
                    }
                    Edit::Delete(n) => {
                        pair.serialize_element("d")?;
                        pair.serialize_element(n)?;
                    }
                    Edit::Add(range) => {
                        pair.serialize_element("a")?;
                        pair.serialize_element(self.1.get(range.clone()).unwrap_or_default())?;
                    }
                }
                pair.end()
            }
        }
        /// The edits as a list.
        struct All<'a>(&'a [Edit], &'a str);
        impl serde::Serialize for All<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut list = serializer.serialize_seq(Some(self.0.len()))?;
                for edit in self.0 {
                    list.serialize_element(&One(edit, self.1))?;
                }
                list.end()
            }
        }
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("version", &VERSION)?;
        map.serialize_entry("sha256", &self.sha256)?;
        map.serialize_entry("edits", &All(self.edits, self.original))?;
        map.end()
    }
}

/// A writer that only counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `spliced` with `record` applied; `None` when the record cannot be read with `key`, was made
/// for other bytes, or does not fit them.
pub fn apply(record: &str, spliced: &[u8], key: &DataKey) -> Option<Wiped<Vec<u8>>> {
    let sealed = EncryptedValue::parse(record).ok()?;
    let payload = cipher::decrypt(key, &sealed, AAD).ok()?;
    apply_payload(&payload, spliced)
}

/// [`apply`] once the record is decrypted: `None` for a payload that is not a version-1 record
/// for `spliced`, or whose edits do not fit it.
pub fn apply_payload(payload: &[u8], spliced: &[u8]) -> Option<Wiped<Vec<u8>>> {
    let payload: Json = serde_json::from_slice(payload).ok()?;
    if payload.get("version")?.as_u64()? != VERSION {
        return None;
    }
    if payload.get("sha256")?.as_str()? != hex::encode(Sha256::digest(spliced)) {
        return None;
    }
    let text = std::str::from_utf8(spliced).ok()?;
    let mut lines = text.split_inclusive('\n');
    let mut out = Wiped::new(Vec::with_capacity(spliced.len()));
    for edit in payload.get("edits")?.as_array()? {
        let edit = edit.as_array()?;
        match (edit.first()?.as_str()?, edit.get(1)?) {
            ("k", n) => {
                for _ in 0..n.as_u64()?.min(spliced.len() as u64 + 1) {
                    out.extend_from_slice(lines.next()?.as_bytes());
                }
            }
            ("d", n) => {
                for _ in 0..n.as_u64()?.min(spliced.len() as u64 + 1) {
                    lines.next()?;
                }
            }
            ("a", t) => out.extend_from_slice(t.as_str()?.as_bytes()),
            _ => return None,
        }
    }
    // Every line of the splice output is accounted for.
    if lines.next().is_some() {
        return None;
    }
    Some(out)
}

/// The same record under `to` (for a rotation of the data key); `None` when it cannot be read.
pub fn rekey(record: &str, from: &DataKey, to: &DataKey) -> Option<String> {
    let sealed = EncryptedValue::parse(record).ok()?;
    let payload = cipher::decrypt(from, &sealed, AAD).ok()?;
    let resealed = cipher::encrypt(to, &payload, "str", AAD, None).ok()?;
    Some(resealed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_record_gives_the_original_back(
            spliced in "[ab \r\n]{0,60}",
            original in "[ab \r\n]{0,60}",
        ) {
            let key = key(4);
            if let Some(record) = make(spliced.as_bytes(), original.as_bytes(), &key) {
                let back = apply(&record, spliced.as_bytes(), &key);
                prop_assert_eq!(back.as_deref().map(Vec::as_slice), Some(original.as_bytes()));
            } else {
                prop_assert_eq!(spliced, original);
            }
        }
    }

    fn key(b: u8) -> DataKey {
        DataKey::from_slice(&[b; 32]).unwrap()
    }

    #[test]
    fn gives_the_original_back() {
        let spliced = b"a: x y\nb: 1\nc: \"e\"\n";
        let original = b"a: x\n  y\nb: 1\nc: \"\\u0065\"\n";
        let record = make(spliced, original, &key(1)).unwrap();
        assert!(record.starts_with("ENC[AES256_GCM,"));
        assert!(!record.contains("x\\n  y"));
        assert_eq!(
            apply(&record, spliced, &key(1)).unwrap().as_slice(),
            original
        );
    }

    #[test]
    fn added_text_of_every_kind_is_escaped() {
        let spliced = b"a: 1\nb: 2\n";
        let original = "a: 1\nq: \"\\ \u{1}\t\u{e9}\u{1F49A} \u{2028}\nb: 2\n".as_bytes();
        let record = make(spliced, original, &key(5)).unwrap();
        assert_eq!(
            apply(&record, spliced, &key(5)).unwrap().as_slice(),
            original
        );
    }

    #[test]
    fn lone_carriage_returns_end_no_line() {
        // Found by fuzzing: the diff and the reader must split lines the same way.
        let record = make(b"\r\r", b"", &key(1)).unwrap();
        assert_eq!(apply(&record, b"\r\r", &key(1)).unwrap().as_slice(), b"");
        let record = make(b"a\rb\nc", b"a\rb\nd\r\n", &key(1)).unwrap();
        assert_eq!(
            apply(&record, b"a\rb\nc", &key(1)).unwrap().as_slice(),
            b"a\rb\nd\r\n"
        );
    }

    #[test]
    fn no_record_when_nothing_differs() {
        assert!(make(b"a: 1\n", b"a: 1\n", &key(1)).is_none());
    }

    #[test]
    fn a_record_for_other_bytes_or_another_key_is_ignored() {
        let record = make(b"a: 1\n", b"a:   1\n", &key(1)).unwrap();
        assert!(apply(&record, b"a: 2\n", &key(1)).is_none());
        assert!(apply(&record, b"a: 1\n", &key(2)).is_none());
        let moved = rekey(&record, &key(1), &key(2)).unwrap();
        assert_eq!(
            apply(&moved, b"a: 1\n", &key(2)).unwrap().as_slice(),
            b"a:   1\n"
        );
    }

    #[test]
    fn payloads_that_do_not_fit_are_refused() {
        let spliced = b"a\nb\n";
        let digest = hex::encode(Sha256::digest(spliced));
        let with = |edits: &str| {
            format!(r#"{{"version":1,"sha256":"{digest}","edits":{edits}}}"#).into_bytes()
        };
        assert!(apply_payload(&with(r#"[["k",2]]"#), spliced).is_some());
        assert!(
            apply_payload(&with(r#"[["k",1]]"#), spliced).is_none(),
            "a line left over"
        );
        assert!(
            apply_payload(&with(r#"[["k",3]]"#), spliced).is_none(),
            "past the end"
        );
        assert!(apply_payload(&with(r#"[["d",18446744073709551615]]"#), spliced).is_none());
        assert!(apply_payload(&with(r#"[["x",1]]"#), spliced).is_none());
        assert!(apply_payload(b"not json", spliced).is_none());
    }

    #[test]
    fn files_without_a_final_newline() {
        let record = make(b"a: 1\nb: 2", b"a:  1\nb:  2", &key(3)).unwrap();
        assert_eq!(
            apply(&record, b"a: 1\nb: 2", &key(3)).unwrap().as_slice(),
            b"a:  1\nb:  2"
        );
    }
}
