//! The accounted-for check: before an encrypted file is written, read it back and prove that it
//! holds no plaintext the selection options did not leave in clear.
//!
//! Two independent readings of the output are checked:
//! 1. sepal's own (strict) store parser: every value and comment leaf is an `ENC[...]` value, or a
//!    value that the encryption left in clear on purpose (selection options, empty strings, nulls).
//! 2. a reference reader that shares no code with the store: `serde_json` for JSON (and the
//!    binary store's envelope), libyaml's event parser for YAML (event by event), and line readers
//!    with the splitting rules of the format's other readers for INI (any of CR, LF, CRLF ends a
//!    line, as Python's configparser reads it) and dotenv. Every scalar that reader sees outside
//!    the `sops` metadata must be encrypted or one of the values left in clear.
//!
//! A failure is a bug in a store (text copied through that its parser did not understand): the
//! file is not written, and the error names the file and where, never the value.

use std::collections::HashSet;

mod libyaml_events;
mod line_reader;
mod serde_reader;
mod yaml_reader;

#[cfg(sepal_libyaml)]
pub(crate) use libyaml_events::assert_builds_agree as assert_libyaml_builds_agree;
use line_reader::{dotenv_reading, ini_reading};
use serde_reader::{json_reading, toml_reading, yaml_reading};

use crate::stores::{Changes, Format, NewLeaf, Parsed, Store, ValueCheck};
use crate::tree::{for_each_leaf, Leaf, Scalar, Tree};

/// Output that failed the check. Never holds a value: only where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {format} output {reader} holds text that is not encrypted at {place}")]
pub struct Unaccounted {
    pub format: &'static str,
    /// Which reading found it.
    pub reader: &'static str,
    /// A path (`a.b[2]`), a line (`line 3`), or a parse failure.
    pub place: String,
}

/// The values that the encryption left in clear (so may appear in the output as they are).
#[derive(Default)]
pub struct Allowed {
    texts: HashSet<String>,
    numbers: HashSet<u64>,
    bools: [bool; 2],
    nan: bool,
    time: bool,
}

pub(super) fn comment_body(s: &str) -> &str {
    s.trim_start_matches(['#', ';', ' ', '\t'])
        .trim_end_matches([' ', '\t', '\r'])
}

impl Allowed {
    /// The leaves of `tree` that `changes` leaves as they are.
    pub fn from_changes(tree: &Tree, changes: &Changes) -> Self {
        let mut a = Allowed::default();
        for d in &tree.docs {
            for_each_leaf(&d.items, &mut |l: &Leaf| {
                let changed = matches!(changes.get(l.id), Some(Some(NewLeaf::Encrypted(_))));
                if !changed {
                    a.add(l);
                }
            });
        }
        a
    }

    fn add(&mut self, l: &Leaf) {
        if let Some(t) = &l.text {
            self.texts.insert(t.to_string());
        }
        match &l.value {
            Scalar::Null => {}
            Scalar::Bool(b) => {
                self.bools[usize::from(*b)] = true;
                self.texts.insert(b.to_string());
            }
            Scalar::Int(i) => {
                self.number(*i as f64);
                self.texts.insert(i.to_string());
            }
            Scalar::Float(f) => {
                self.number(*f);
                self.texts.insert(f.to_string());
            }
            Scalar::Str(s) | Scalar::Comment(s) => {
                self.texts.insert(s.to_string());
                self.texts.insert(comment_body(s).to_string());
                if let Ok(f) = s.trim().parse::<f64>() {
                    self.number(f);
                }
            }
            Scalar::Time(s) => {
                self.time = true;
                self.texts.insert(s.to_string());
            }
            Scalar::Bytes(b) => {
                self.texts.insert(String::from_utf8_lossy(b).into_owned());
            }
        }
        if let Some(f) = l.text.as_deref().and_then(|t| t.trim().parse::<f64>().ok()) {
            self.number(f);
        }
    }

    fn number(&mut self, f: f64) {
        if f.is_nan() {
            self.nan = true;
        } else {
            self.numbers.insert(f.to_bits());
        }
    }

    fn has_number(&self, f: f64) -> bool {
        if f.is_nan() {
            self.nan
        } else {
            self.numbers.contains(&f.to_bits())
                || self.numbers.contains(&(f as f32 as f64).to_bits())
        }
    }

    fn has_text(&self, s: &str) -> bool {
        if s.is_empty() || is_encrypted(s) || self.texts.contains(s) {
            return true;
        }
        let trimmed = s.trim();
        if self.texts.contains(trimmed) || self.texts.contains(comment_body(trimmed)) {
            return true;
        }
        if self.time && looks_like_time(trimmed) {
            return true;
        }
        // A piece of a value left in clear that spans lines (INI continuations, block scalars).
        trimmed.len() >= 2
            && self
                .texts
                .iter()
                .any(|t| t.len() > trimmed.len() && t.contains(trimmed))
    }

    fn has_scalar(&self, s: &Scalar) -> bool {
        match s {
            Scalar::Null => true,
            Scalar::Bool(b) => self.bools[usize::from(*b)],
            Scalar::Int(i) => self.has_number(*i as f64) || self.has_text(&i.to_string()),
            Scalar::Float(f) => self.has_number(*f),
            Scalar::Str(t) | Scalar::Comment(t) | Scalar::Time(t) => self.has_text(t),
            Scalar::Bytes(b) => b.is_empty() || self.has_text(&String::from_utf8_lossy(b)),
        }
    }
}

impl ValueCheck for Allowed {
    fn text(&self, text: &str) -> bool {
        self.has_text(text)
    }

    fn scalar(&self, value: &Scalar) -> bool {
        self.has_scalar(value)
    }
}

fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

/// A sops-encrypted value (syntactically: the cipher checks the rest on decryption): one
/// `ENC[...]` token and nothing else, its fields made only of base64, commas, colons and the
/// field names. (Two tokens run together, `ENC[...]#ENC[...]`, read as one value that does not
/// decrypt: an output holding one is refused.)
fn is_encrypted(s: &str) -> bool {
    s.trim()
        .strip_prefix("ENC[AES256_GCM,data:")
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|fields| fields.bytes().fold(true, |ok, b| ok & is_token_byte(b)))
}

/// A byte of an `ENC[...]` token's fields (base64, `,` and `:`). Written without a branch, so
/// that checking a whole token compiles to vector instructions (every value of a large output
/// is checked twice: a byte at a time was a tenth of an encryption's time).
fn is_token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'+') | (b == b'/') | (b == b'=') | (b == b',') | (b == b':')
}

/// Check `output` (what `store` wrote for an encryption whose input tree and changes are given).
pub fn check_encrypted(
    store: &Store,
    output: &[u8],
    tree: &Tree,
    changes: &Changes,
) -> Result<(), Unaccounted> {
    let allowed = Allowed::from_changes(tree, changes);
    check_output(store.format, output, &allowed)
}

/// [`check_encrypted`] with the allowed values already gathered.
pub fn check_output(format: Format, output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    // The own reading's verdict comes first, as when the two run one after the other.
    let (own, independent) = independent_reading_beside(
        format,
        output,
        allowed,
        |_, _| {},
        || own_reading_of(format, output, allowed),
    );
    own?;
    independent
}

/// Who tells the verdict of [`independent_reading_beside`]: the reading's own thread, which ends
/// once it has, or the calling thread, which goes on working (an early write of the output is
/// then moved off its processor: `ops/early.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Teller {
    Ending,
    GoingOn,
}

/// Run `work` while the independent reading of `output` runs: the two share nothing, so for an
/// output of [`BESIDE_MIN`] bytes or more the reading runs on a second thread; a smaller one is
/// read after `work`, on this thread. A large YAML output is read in pieces
/// (`yaml_reader::piece_starts`), each by whichever thread is free: the second thread, and this
/// one once `work` is done. Gives both results (a failure of the reader's thread is an
/// [`Unaccounted`]). `told` hears whether the independent reading passed as soon as it is known,
/// and from which thread.
pub fn independent_reading_beside<T>(
    format: Format,
    output: &[u8],
    allowed: &Allowed,
    told: impl Fn(bool, Teller) + Sync,
    work: impl FnOnce() -> T,
) -> (T, Result<(), Unaccounted>) {
    independent_reading_beside_with(format, output, allowed, told, || {}, work)
}

/// [`independent_reading_beside`], with `first` done before the reading on the reading's thread:
/// work that is not `work`'s and must be done before the reading's verdict is known (an
/// encryption's check digests the plaintext tree's shape there, which its own reading waits
/// for, and frees what is spent). Where the output is read on this thread, `first` is done
/// before `work`.
pub fn independent_reading_beside_with<T>(
    format: Format,
    output: &[u8],
    allowed: &Allowed,
    told: impl Fn(bool, Teller) + Sync,
    first: impl FnOnce() + Send,
    work: impl FnOnce() -> T,
) -> (T, Result<(), Unaccounted>) {
    let reading = || {
        let verdict = independent_reading(format, output, allowed);
        told(verdict.is_ok(), Teller::Ending);
        verdict
    };
    if output.len() < BESIDE_MIN {
        first();
        let done = work();
        let verdict = independent_reading(format, output, allowed);
        told(verdict.is_ok(), Teller::GoingOn);
        return (done, verdict);
    }
    // The second thread cuts a large YAML output into pieces (the search is its, not this
    // thread's) and reads them as this thread does once `work` is done; any other output it
    // reads whole.
    let pieces = Pieces::default();
    std::thread::scope(|scope| {
        let independent = crate::threads::spawn_scoped(scope, || {
            first();
            match pieces.cut(format, output) {
                Some(bounds) => {
                    pieces.read(bounds, output, allowed);
                    None
                }
                None => Some(reading()),
            }
        });
        let done = work();
        if let Some(bounds) = pieces.bounds() {
            pieces.read(bounds, output, allowed);
        }
        let joined = independent.join();
        let verdict = match (joined, pieces.bounds()) {
            (Ok(Some(verdict)), _) => verdict,
            // Every piece passed: the output passed. Any other outcome is the whole reading's
            // to tell (read again whole, here).
            (joined, Some(_)) => {
                let verdict = if joined.is_ok() && !pieces.failed() {
                    Ok(())
                } else {
                    independent_reading(format, output, allowed)
                };
                told(verdict.is_ok(), Teller::GoingOn);
                verdict
            }
            (_, None) => {
                told(false, Teller::GoingOn);
                Err(fail(
                    format,
                    "read by the independent reader",
                    "a failure of the reader itself",
                ))
            }
        };
        (done, verdict)
    })
}

/// YAML outputs from this size on are read in pieces by libyaml (the check's longest reading:
/// about 150 ms of a 200,000-value encryption, against 100 ms for sepal's own reading beside it).
const PIECES_FROM: usize = 1024 * 1024;

/// About this many bytes a piece, and at most [`MAX_PIECES`] pieces: small enough that the
/// thread done first takes the last ones, few enough that each piece's start costs nothing.
const PIECE_LEN: usize = 384 * 1024;
const MAX_PIECES: usize = 16;

/// A large YAML output's pieces ([`yaml_reader::piece_starts`]), claimed in order by whichever
/// thread is free.
#[derive(Default)]
struct Pieces {
    /// Where each piece starts and ends, once the output is cut (`None`: it is read whole).
    bounds: std::sync::OnceLock<Option<Vec<(usize, usize)>>>,
    next: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
}

impl Pieces {
    /// Cut `output`, if it is read in pieces.
    fn cut(&self, format: Format, output: &[u8]) -> Option<&[(usize, usize)]> {
        self.bounds
            .get_or_init(|| {
                if format != Format::Yaml || output.len() < PIECES_FROM {
                    return None;
                }
                let pieces = (output.len() / PIECE_LEN).clamp(2, MAX_PIECES);
                let starts = yaml_reader::piece_starts(output, pieces)?;
                Some(
                    std::iter::once(0)
                        .chain(starts.iter().copied())
                        .zip(starts.iter().copied().chain(std::iter::once(output.len())))
                        .collect(),
                )
            })
            .as_deref()
    }

    /// The pieces, when the output was cut already.
    fn bounds(&self) -> Option<&[(usize, usize)]> {
        self.bounds.get().and_then(|b| b.as_deref())
    }

    /// Read the pieces no thread has claimed yet, until one fails.
    fn read(&self, bounds: &[(usize, usize)], output: &[u8], allowed: &Allowed) {
        use std::sync::atomic::Ordering::Relaxed;
        while let Some(&(start, end)) = bounds.get(self.next.fetch_add(1, Relaxed)) {
            if self.failed.load(Relaxed) {
                return;
            }
            let piece = output.get(start..end).unwrap_or_default();
            if !yaml_reader::piece_passes(piece, allowed) {
                self.failed.store(true, Relaxed);
            }
        }
    }

    fn failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Outputs smaller than this are read twice on one thread (starting a thread would cost more).
pub const BESIDE_MIN: usize = 64 * 1024;

/// Sepal's own reading of an output, as the check made it.
pub enum OwnReading {
    /// Without a tree ([`Store::lean_reading`]): its layout, and the shape digest of the tree the
    /// full reading would give.
    Lean { parsed: Parsed, shape: [u8; 32] },
    /// The full reading (by [`Store::parse_lent_lending`]: lend it the output with
    /// [`Store::with_source`] to splice it; the data's `ENC[...]` values may be left in the
    /// output, [`Parsed::restore_lent_from`] puts back those a caller reads).
    Full(Parsed),
}

/// The first half of [`check_output`]: sepal's own reading of the output, without a tree where
/// the format can read so.
pub fn own_reading_of(
    format: Format,
    output: &[u8],
    allowed: &Allowed,
) -> Result<OwnReading, Unaccounted> {
    let store = Store::new(format, Default::default());
    let lean = store.lean_reading(output, allowed);
    match lean {
        None => own_reading(format, output, allowed).map(OwnReading::Full),
        Some(Ok(lean)) if lean.all_passed && lean.has_metadata => Ok(OwnReading::Lean {
            parsed: lean.parsed,
            shape: lean.shape,
        }),
        // The full reading says where (or what) the failure is.
        Some(_) => match own_reading(format, output, allowed) {
            Err(e) => Err(e),
            // Never the case (the two readings share their scanner and grammar): refused all
            // the same.
            Ok(_) => Err(fail(
                format,
                "read back by sepal",
                "a value the two readings of the output disagree on",
            )),
        },
    }
}

/// The second half: the independent reader's (it may run beside other work).
pub fn independent_reading(
    format: Format,
    output: &[u8],
    allowed: &Allowed,
) -> Result<(), Unaccounted> {
    match format {
        Format::Json | Format::Binary => json_reading(output, allowed),
        Format::Yaml => yaml_reading(output, allowed),
        Format::Ini => ini_reading(output, allowed),
        Format::Toml => toml_reading(output, allowed),
        Format::Dotenv => dotenv_reading(output, allowed),
    }
}

fn fail(format: Format, reader: &'static str, place: impl Into<String>) -> Unaccounted {
    Unaccounted {
        format: format.name(),
        reader,
        place: place.into(),
    }
}

/// Reading 1: the store's own parser.
fn own_reading(format: Format, output: &[u8], allowed: &Allowed) -> Result<Parsed, Unaccounted> {
    const READER: &str = "read back by sepal";
    let store = Store::new(format, Default::default());
    // The reading keeps no copy of the output (a caller that needs its bytes lends them), and
    // leaves the `ENC[...]` values in it where the format can: each is checked where it is.
    let parsed = store
        .parse_lent_lending(output)
        .map_err(|e| fail(format, READER, format!("a parse error ({e})")))?;
    if parsed.metadata.is_none() {
        return Err(fail(format, READER, "the metadata (no sops entry)"));
    }
    let passes = |leaf: &Leaf| {
        let lent = match &leaf.value {
            Scalar::Str(s) if s.is_empty() => parsed.lent_token_from(leaf.id, output),
            _ => None,
        };
        match lent {
            Some(token) => allowed.has_text(token),
            None => allowed.has_scalar(&leaf.value),
        }
    };
    let mut all_pass = true;
    for d in &parsed.tree.docs {
        for_each_leaf(&d.items, &mut |leaf| all_pass &= passes(leaf));
    }
    if all_pass {
        return Ok(parsed);
    }
    // The walk again, naming where the first value that fails is (each leaf's path was half
    // of the walk's time when it was made for every leaf).
    let mut bad: Option<String> = None;
    for (n, d) in parsed.tree.docs.iter().enumerate() {
        walk_paths(&d.items, &mut String::new(), &mut |path, leaf| {
            if bad.is_none() && !passes(leaf) {
                bad = Some(format!("document {}, {}", n + 1, display(path)));
            }
        });
    }
    Err(fail(
        format,
        READER,
        bad.unwrap_or_else(|| "a value".to_string()),
    ))
}

fn display(path: &str) -> String {
    if path.is_empty() {
        "the top level".into()
    } else {
        path.to_string()
    }
}

fn walk_paths(items: &[crate::tree::Item], path: &mut String, f: &mut impl FnMut(&str, &Leaf)) {
    use crate::tree::{Item, Value};
    for (i, item) in items.iter().enumerate() {
        let len = path.len();
        match item {
            Item::Comment(l) => {
                path.push_str(if len == 0 { "(comment)" } else { " (comment)" });
                f(path, l);
            }
            Item::Pair { key, value } => {
                if len > 0 {
                    path.push('.');
                }
                path.push_str(key);
                match value {
                    Value::Leaf(l) => f(path, l),
                    Value::Map(v) | Value::List(v) => walk_paths(v, path, f),
                }
            }
            Item::Elem(value) => {
                path.push_str(&format!("[{i}]"));
                match value {
                    Value::Leaf(l) => f(path, l),
                    Value::Map(v) | Value::List(v) => walk_paths(v, path, f),
                }
            }
        }
        path.truncate(len);
    }
}

/// For tests: the values allowed when these strings are left in clear.
#[cfg(test)]
pub(super) fn allowed_texts(texts: &[&str]) -> Allowed {
    use crate::tree::{secret, Doc, Item, Value};
    let items = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Item::pair(
                format!("k{i}"),
                Value::Leaf(Leaf::new(i, Scalar::Str(secret(*t)))),
            )
        })
        .collect();
    let tree = Tree {
        docs: vec![Doc { items }],
    };
    Allowed::from_changes(&tree, &vec![None; texts.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `first` is done before the reading's verdict is known: on the reading's thread for a large
    /// output, before `work` for a small one read on this thread.
    #[test]
    fn first_is_done_before_the_reading_where_the_reading_runs() {
        let allowed = allowed_texts(&[]);
        let token = "\"ENC[AES256_GCM,data:AA==,type:str]\"";
        for (count, beside) in [(3, false), (BESIDE_MIN / token.len() + 1, true)] {
            let text = format!("{{\"a\": [{}{token}]}}", format!("{token}, ").repeat(count));
            assert_eq!(text.len() >= BESIDE_MIN, beside);
            let done = std::sync::Mutex::new(None);
            let first = || *done.lock().unwrap() = Some(std::thread::current().id());
            let work = || *done.lock().unwrap();
            let (seen, verdict) = independent_reading_beside_with(
                Format::Json,
                text.as_bytes(),
                &allowed,
                |_, _| {},
                first,
                work,
            );
            assert!(verdict.is_ok());
            let here = std::thread::current().id();
            let by = done.lock().unwrap().expect("first was done");
            assert_eq!(by != here, beside, "{count}");
            if !beside {
                assert_eq!(seen, Some(here), "before `work`");
            }
        }
    }

    #[test]
    fn a_large_yaml_output_read_in_pieces_gives_the_whole_readings_verdict() {
        let enc = "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]";
        let mut text = String::new();
        for i in 0.. {
            if text.len() > PIECES_FROM * 2 {
                break;
            }
            text.push_str(&format!("key{i}:\n    a: {enc}\n    b: {enc}\n"));
        }
        assert!(yaml_reader::piece_starts(text.as_bytes(), 4).is_some());
        let allowed = allowed_texts(&[]);
        let told = std::sync::Mutex::new(Vec::new());
        let tell = |passed, teller| told.lock().unwrap().push((passed, teller));
        let (_, verdict) =
            independent_reading_beside(Format::Yaml, text.as_bytes(), &allowed, tell, || ());
        assert!(verdict.is_ok());
        assert_eq!(*told.lock().unwrap(), [(true, Teller::GoingOn)]);
        // A value in clear in the last piece: refused, with the whole reading's words.
        let bad = format!("{text}last: hunter2\n");
        let (_, verdict) =
            independent_reading_beside(Format::Yaml, bad.as_bytes(), &allowed, |_, _| {}, || ());
        let whole = independent_reading(Format::Yaml, bad.as_bytes(), &allowed);
        let (verdict, whole) = (verdict.unwrap_err(), whole.unwrap_err());
        assert_eq!(verdict.to_string(), whole.to_string());
        assert!(!verdict.to_string().contains("hunter2"));
    }

    const ENC: &str = "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]";

    fn allowed(texts: &[&str]) -> Allowed {
        allowed_texts(texts)
    }

    fn meta_json() -> String {
        r#""sops": {"mac": "x", "lastmodified": "2020-01-01T00:00:00Z", "version": "3.11.0", "age": [{"recipient": "age1x", "enc": "y"}]}"#.into()
    }

    #[test]
    fn only_one_whole_token_counts_as_encrypted() {
        assert!(is_encrypted(ENC));
        assert!(is_encrypted(&format!(" {ENC} ")));
        // rops's empty data.
        assert!(is_encrypted(
            "ENC[AES256_GCM,data:,iv:AAAA,tag:AAAA,type:str]"
        ));
        for bad in [
            format!("{ENC}#{ENC}"),
            format!("{ENC} # hunter2"),
            format!("{ENC}]"),
            "ENC[AES256_GCM,data:hunter 2,iv:A,tag:A,type:str]".to_string(),
            "ENC[AES256_GCM,data:A\nB,iv:A,tag:A,type:str]".to_string(),
            "ENC[AES256_GCM,data:AAAA".to_string(),
        ] {
            assert!(!is_encrypted(&bad), "{bad:?}");
        }
    }

    #[test]
    fn token_bytes_are_base64_commas_and_colons() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b"+/=,:".contains(&b);
            assert_eq!(is_token_byte(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn json_trailing_object_is_refused() {
        let ok = format!("{{\"a\": \"{ENC}\", {}}}\n", meta_json());
        assert!(json_reading(ok.as_bytes(), &allowed(&[])).is_ok());
        let bad = format!("{ok}{{\"password\": \"hunter2\"}}\n");
        assert!(json_reading(bad.as_bytes(), &allowed(&[])).is_err());
        let clear = format!("{{\"a\": \"hunter2\", {}}}\n", meta_json());
        assert!(json_reading(clear.as_bytes(), &allowed(&[])).is_err());
        assert!(json_reading(clear.as_bytes(), &allowed(&["hunter2"])).is_ok());
    }

    #[test]
    fn yaml_values_in_clear_are_found_in_every_document() {
        let doc = format!("a: {ENC}\nsops:\n    mac: x\n");
        assert!(yaml_reading(doc.as_bytes(), &allowed(&[])).is_ok());
        let two = format!("{doc}---\nb: secret\n");
        let e = yaml_reading(two.as_bytes(), &allowed(&[])).unwrap_err();
        assert!(e.place.contains("document 2"), "{e}");
        assert!(!e.to_string().contains("secret"));
        assert!(yaml_reading(b"a: !custom secret\n", &allowed(&[])).is_err());
        assert!(yaml_reading(b"a: 1234\n", &allowed(&[])).is_err());
        let bom = format!("\u{feff}a: {ENC}\nsops:\n    mac: x\n");
        assert!(yaml_reading(bom.as_bytes(), &allowed(&[])).is_ok());
    }

    /// sepal's own reading of a YAML output leaves its `ENC[...]` values in the output and checks
    /// each there: a token that only looks like one is refused unless it is a value left in
    /// clear.
    #[test]
    fn yaml_ciphertexts_are_checked_where_they_are() {
        let ok = format!("a: {ENC}\nb:\n  - {ENC}\nsops:\n    mac: x\n");
        let parsed = own_reading(Format::Yaml, ok.as_bytes(), &allowed(&[])).unwrap();
        assert_eq!(parsed.lent_token_from(0, ok.as_bytes()), Some(ENC));
        assert_eq!(parsed.lent_token_from(1, ok.as_bytes()), Some(ENC));
        let fake = "ENC[AES256_GCM,data:hunter 2,iv:A,tag:A,type:str]";
        let text = format!("a: {ENC}\nb:\n  - {fake}\nsops:\n    mac: x\n");
        let Err(e) = own_reading(Format::Yaml, text.as_bytes(), &allowed(&[])) else {
            panic!("a token that only looks encrypted passed");
        };
        assert!(e.place.contains("b[0]"), "{e}");
        assert!(!e.to_string().contains("hunter"), "{e}");
        assert!(own_reading(Format::Yaml, text.as_bytes(), &allowed(&[fake])).is_ok());
    }

    #[test]
    fn ini_lines_split_on_lone_cr() {
        let ok = format!("[api]\nurl = {ENC}\n\n[sops]\nmac = x\n");
        assert!(ini_reading(ok.as_bytes(), &allowed(&[])).is_ok());
        let bad = format!("[api]\rurl = https://evil.example\nx = {ENC}\n");
        assert!(ini_reading(bad.as_bytes(), &allowed(&[])).is_err());
        let after_header = format!("[db] password = hunter2\nuser = {ENC}\n");
        assert!(ini_reading(after_header.as_bytes(), &allowed(&[])).is_err());
        let comment =
            format!("[db]\n; {ENC}\nuser = {ENC} ; {ENC}\nq = \"\"\"{ENC}\"\"\" ; {ENC}\n");
        assert!(ini_reading(comment.as_bytes(), &allowed(&[])).is_ok());
    }

    #[test]
    fn dotenv_lines() {
        let ok = format!("A={ENC}\n#{ENC}\n\nsops_mac=x\n");
        assert!(dotenv_reading(ok.as_bytes(), &allowed(&[])).is_ok());
        assert!(dotenv_reading(b"A=secret\n", &allowed(&[])).is_err());
        assert!(dotenv_reading(b"#note\n", &allowed(&[])).is_err());
        assert!(dotenv_reading(b"#note\n", &allowed(&["note"])).is_ok());
        assert!(dotenv_reading(b"garbage\n", &allowed(&[])).is_err());
    }
}
