//! The byte form of each typed value inside a ciphertext and in the MAC, as sops (Go) writes and
//! parses it.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::float::float_f;
use crate::tree::{secret, Leaf, Scalar};
use crate::wipe::Wiped;

/// The canonical bytes sops writes for a value: `True`/`False`, decimal ints, Go `'f'` floats,
/// RFC 3339 times, raw strings. This is what the MAC hashes.
pub fn canonical_bytes(value: &Scalar) -> Wiped<Vec<u8>> {
    Wiped::new(match value {
        Scalar::Null => Vec::new(),
        Scalar::Bool(true) => b"True".to_vec(),
        Scalar::Bool(false) => b"False".to_vec(),
        Scalar::Int(i) => i.to_string().into_bytes(),
        Scalar::Float(f) => float_f(*f).into_bytes(),
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => s.as_bytes().to_vec(),
        Scalar::Bytes(b) => b.to_vec(),
    })
}

/// The canonical bytes of a value that is not text (null, a bool, a number), which have to be
/// formatted; `None` for text (strings, times, comments, bytes), whose canonical bytes are the
/// text itself. Made once per value, for the MAC and the ciphertext or the display text.
pub fn formatted_bytes(value: &Scalar) -> Option<Wiped<Vec<u8>>> {
    match value {
        Scalar::Str(_) | Scalar::Time(_) | Scalar::Comment(_) | Scalar::Bytes(_) => None,
        other => Some(canonical_bytes(other)),
    }
}

/// The bytes to put inside a leaf's ciphertext: its source spelling when sops's parser for the
/// type reads it back to the same value (`100.0`, `TRUE`, `1e-7`), else the canonical bytes.
///
/// A spelling that happens to equal sops's canonical bytes is marked, because canonical bytes
/// mean "print the value as sops prints it" when decrypting (files sops wrote hold only canonical
/// bytes): a float gets an `e0` exponent (`0.0000001` → `0.0000001e0`), a bool spelled `True` /
/// `False` is stored as `T` / `F`. Go reads both to the same value; [`display_text`] undoes it.
pub fn plaintext_bytes(leaf: &Leaf) -> Wiped<Vec<u8>> {
    plaintext_bytes_from(leaf, canonical_bytes(&leaf.value))
}

/// [`plaintext_bytes`] given the leaf's canonical bytes (computed once for the MAC as well).
pub fn plaintext_bytes_from(leaf: &Leaf, canonical: Wiped<Vec<u8>>) -> Wiped<Vec<u8>> {
    match plaintext_of(leaf, &canonical) {
        Plaintext::Canonical => canonical,
        Plaintext::Text(text) => Wiped::new(text.to_vec()),
        Plaintext::Made(bytes) => bytes,
    }
}

/// Which bytes [`plaintext_bytes`] puts inside a leaf's ciphertext, without a copy of those the
/// caller has already: the canonical bytes it gave, or the leaf's own spelling.
pub enum Plaintext<'l> {
    /// The canonical bytes given to [`plaintext_of`].
    Canonical,
    /// The leaf's source spelling, as it is.
    Text(&'l [u8]),
    /// Bytes made for the leaf: a marked spelling (`100.0e0`, `T`, `2E0`).
    Made(Wiped<Vec<u8>>),
}

/// [`plaintext_bytes_from`], telling which bytes rather than copying them.
pub fn plaintext_of<'l>(leaf: &'l Leaf, canonical: &[u8]) -> Plaintext<'l> {
    let Some(text) = &leaf.text else {
        return Plaintext::Canonical;
    };
    // The canonical bytes read back as the value (the tests hold it): not parsed again.
    let same = text.as_bytes() == canonical;
    let ok = same
        || match (
            &leaf.value,
            parse_typed(leaf.value.type_tag().unwrap_or(""), text.as_bytes()),
        ) {
            (Scalar::Float(a), Some(Scalar::Float(b))) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            (a @ (Scalar::Int(_) | Scalar::Bool(_)), Some(b)) => *a == b,
            _ => false,
        };
    if !ok || !is_go_spelling(&leaf.value, text) {
        return Plaintext::Canonical;
    }
    if !same {
        // A spelling that reads as a mark (`2e0` for 2) gets a capital E, so that it is not
        // taken for one (the value and its type are kept, the case of the E is not).
        if let (Scalar::Float(_), Some(stem)) = (&leaf.value, text.strip_suffix("e0")) {
            if stem.as_bytes() == canonical {
                return Plaintext::Made(Wiped::new(format!("{stem}E0").into_bytes()));
            }
        }
        return Plaintext::Text(text.as_bytes());
    }
    match &leaf.value {
        Scalar::Float(_) => {
            Plaintext::Made(Wiped::new(format!("{}e0", text.as_str()).into_bytes()))
        }
        Scalar::Bool(true) => Plaintext::Made(Wiped::new(b"T".to_vec())),
        Scalar::Bool(false) => Plaintext::Made(Wiped::new(b"F".to_vec())),
        _ => Plaintext::Canonical,
    }
}

/// The spelling to write back for decrypted plaintext bytes: empty when the bytes are sops's
/// canonical form (the store then prints the value as sops would), the original spelling
/// otherwise (undoing the marks [`plaintext_bytes`] adds).
pub fn display_text(value: &Scalar, plain: &[u8]) -> Wiped<String> {
    display_text_and_canonical(value, plain).0
}

/// [`display_text`], and the value's [`formatted_bytes`] it compares with: what the MAC hashes
/// for the value, so that a decryption formats each number once, on the thread that decrypted it.
pub fn display_text_and_canonical(
    value: &Scalar,
    plain: &[u8],
) -> (Wiped<String>, Option<Wiped<Vec<u8>>>) {
    // Strings carry their text in the value already; keeping a second copy would only cost memory.
    if matches!(
        value,
        Scalar::Str(_) | Scalar::Comment(_) | Scalar::Bytes(_)
    ) {
        return (Wiped::new(String::new()), None);
    }
    let text = String::from_utf8_lossy(plain);
    let canonical = formatted_bytes(value);
    let is_canonical = |bytes: &[u8]| canonical.as_deref().is_some_and(|c| bytes == c.as_slice());
    let out = match value {
        Scalar::Float(_) | Scalar::Bool(_) | Scalar::Int(_) if is_canonical(plain) => String::new(),
        Scalar::Float(_) => match text.strip_suffix("e0") {
            Some(t) if is_canonical(t.as_bytes()) => t.to_string(),
            _ => text.into_owned(),
        },
        Scalar::Bool(b) if text == "T" || text == "F" => {
            if *b { "True" } else { "False" }.to_string()
        }
        _ => text.into_owned(),
    };
    (Wiped::new(out), canonical)
}

/// Whether Go's parser for the value's type accepts this spelling (a conservative subset).
fn is_go_spelling(value: &Scalar, text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Borrowed, not copied: the text is a secret value, and a copy would be left unwiped.
    fn unsigned(s: &str) -> &str {
        s.strip_prefix(['+', '-']).unwrap_or(s)
    }
    match value {
        Scalar::Int(_) => digits(unsigned(text)),
        Scalar::Bool(_) => true,
        Scalar::Float(f) => {
            if !f.is_finite() {
                return false;
            }
            let t = unsigned(text);
            let (mant, exp) = match t.find(['e', 'E']) {
                Some(p) => (&t[..p], Some(&t[p + 1..])),
                None => (t, None),
            };
            let mant_ok = match mant.split_once('.') {
                Some((a, b)) => {
                    (a.is_empty() || digits(a))
                        && (b.is_empty() || digits(b))
                        && !(a.is_empty() && b.is_empty())
                }
                None => digits(mant),
            };
            let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
            mant_ok && exp_ok
        }
        _ => false,
    }
}

/// [`parse_typed`] taking the bytes: a string keeps their buffer instead of a copy (`bytes` is
/// left empty then); any other value is parsed from them as they are.
pub fn parse_typed_taking(type_tag: &str, bytes: &mut Wiped<Vec<u8>>) -> Option<Scalar> {
    if matches!(type_tag, "str" | "bytes") {
        match String::from_utf8(std::mem::take(&mut **bytes)) {
            Ok(s) => return Some(Scalar::Str(secret(s))),
            Err(e) => **bytes = e.into_bytes(),
        }
    }
    parse_typed(type_tag, bytes)
}

/// Parse decrypted bytes as sops does for the `type:` tag. `None` if Go's parser would refuse.
pub fn parse_typed(type_tag: &str, bytes: &[u8]) -> Option<Scalar> {
    let text = || std::str::from_utf8(bytes).ok();
    Some(match type_tag {
        "str" | "bytes" => match std::str::from_utf8(bytes) {
            Ok(s) => Scalar::Str(secret(s)),
            Err(_) => Scalar::Bytes(Wiped::new(bytes.to_vec())),
        },
        "comment" => Scalar::Comment(secret(String::from_utf8_lossy(bytes))),
        "int" => {
            let t = text()?;
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Scalar::Int(t.parse().ok()?)
        }
        "float" => Scalar::Float(parse_go_float(text()?)?),
        "bool" => Scalar::Bool(match text()? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return None,
        }),
        "time" => Scalar::Time(secret(go_time_canonical(text()?)?)),
        _ => return None,
    })
}

/// Go `strconv.ParseFloat(s, 64)` for the spellings that matter (decimal, exponent, inf, nan).
pub fn parse_go_float(t: &str) -> Option<f64> {
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    match body {
        "inf" | "infinity" => {
            return Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" if body.len() == lower.len() => return Some(f64::NAN),
        _ => {}
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Parse an RFC 3339 time and print it as Go's `time.MarshalText` does (RFC3339Nano: trailing
/// zero fraction digits removed, `Z` for UTC, else `±hh:mm`).
pub fn go_time_canonical(text: &str) -> Option<String> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(format_go_time(t))
}

/// Go RFC3339Nano formatting.
pub fn format_go_time(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ns = t.nanosecond();
    if ns != 0 {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A number's or bool's canonical bytes read back as the same value and are written back as
    /// sops writes it (an empty display text): the cipher walk's view relies on both.
    fn canonical_reads_back(value: Scalar) -> Result<(), TestCaseError> {
        let bytes = canonical_bytes(&value);
        let tag = value.type_tag().unwrap_or("str");
        let back = parse_typed(tag, &bytes);
        match (&value, &back) {
            (Scalar::Float(a), Some(Scalar::Float(b))) => {
                prop_assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{a} {b}"
                );
            }
            _ => prop_assert_eq!(Some(&value), back.as_ref()),
        }
        let text = display_text(&value, &bytes);
        prop_assert_eq!(text.as_str(), "");
        // The marked forms a spelling equal to the canonical bytes is stored in.
        let marked: Option<(Vec<u8>, &str)> = match &value {
            Scalar::Float(f) if f.is_finite() => {
                let mut m = bytes.to_vec();
                m.extend_from_slice(b"e0");
                Some((m, std::str::from_utf8(&bytes).unwrap_or("")))
            }
            Scalar::Bool(true) => Some((b"T".to_vec(), "True")),
            Scalar::Bool(false) => Some((b"F".to_vec(), "False")),
            _ => None,
        };
        if let Some((m, shown)) = marked {
            let back = parse_typed(tag, &m);
            match (&value, &back) {
                (Scalar::Float(a), Some(Scalar::Float(b))) => {
                    prop_assert_eq!(a.to_bits(), b.to_bits())
                }
                _ => prop_assert_eq!(Some(&value), back.as_ref()),
            }
            let text = display_text(&value, &m);
            prop_assert_eq!(text.as_str(), shown);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn canonical_bytes_read_back_as_the_value(
            bits in any::<u64>(),
            f in any::<f64>(),
            i in any::<i64>(),
            b in any::<bool>(),
        ) {
            canonical_reads_back(Scalar::Float(f64::from_bits(bits)))?;
            canonical_reads_back(Scalar::Float(f))?;
            canonical_reads_back(Scalar::Int(i))?;
            canonical_reads_back(Scalar::Bool(b))?;
        }
    }

    #[test]
    fn canonical_bytes_of_special_numbers_read_back() {
        for f in [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            1e21,
            1e-7,
            0.1 + 0.2,
        ] {
            canonical_reads_back(Scalar::Float(f)).unwrap();
        }
        for i in [0, -1, i64::MIN, i64::MAX] {
            canonical_reads_back(Scalar::Int(i)).unwrap();
        }
    }

    fn leaf(v: Scalar, t: &str) -> Leaf {
        Leaf {
            id: 0,
            value: v,
            text: Some(secret(t)),
            shadowed: false,
        }
    }

    #[test]
    fn spelling_is_kept_where_go_reads_it() {
        assert_eq!(
            &*plaintext_bytes(&leaf(Scalar::Float(100.0), "100.0")),
            b"100.0"
        );
        assert_eq!(
            &*plaintext_bytes(&leaf(Scalar::Float(1e-7), "1e-7")),
            b"1e-7"
        );
        assert_eq!(
            &*plaintext_bytes(&leaf(Scalar::Float(2500.0), "2.5E+3")),
            b"2.5E+3"
        );
        assert_eq!(
            &*plaintext_bytes(&leaf(Scalar::Bool(true), "TRUE")),
            b"TRUE"
        );
        assert_eq!(&*plaintext_bytes(&leaf(Scalar::Int(31), "0x1F")), b"31");
        assert_eq!(
            &*plaintext_bytes(&leaf(Scalar::Int(1000), "1_000")),
            b"1000"
        );
        assert_eq!(
            &*plaintext_bytes(&leaf(Scalar::Float(f64::INFINITY), ".inf")),
            b"+Inf"
        );
        assert_eq!(&*plaintext_bytes(&leaf(Scalar::Int(5), "+5")), b"+5");
    }

    #[test]
    fn plaintext_of_names_the_bytes_it_does_not_copy() {
        let cases: [(Scalar, Option<&str>, &str, &[u8]); 9] = [
            (Scalar::Int(1001), Some("1001"), "canonical", b"1001"),
            (Scalar::Int(31), Some("0x1F"), "canonical", b"31"),
            (Scalar::Int(5), None, "canonical", b"5"),
            (Scalar::Int(5), Some("+5"), "text", b"+5"),
            (Scalar::Bool(false), Some("false"), "text", b"false"),
            (Scalar::Bool(true), Some("True"), "made", b"T"),
            (Scalar::Float(0.5), Some("0.5"), "made", b"0.5e0"),
            (Scalar::Float(2.0), Some("2e0"), "made", b"2E0"),
            (Scalar::Float(100.0), Some("100.0"), "text", b"100.0"),
        ];
        for (value, text, kind, bytes) in cases {
            let l = Leaf {
                id: 0,
                value,
                text: text.map(secret),
                shadowed: false,
            };
            let canonical = canonical_bytes(&l.value);
            let (got_kind, got): (&str, Vec<u8>) = match plaintext_of(&l, &canonical) {
                Plaintext::Canonical => ("canonical", canonical.to_vec()),
                Plaintext::Text(t) => ("text", t.to_vec()),
                Plaintext::Made(b) => ("made", b.to_vec()),
            };
            assert_eq!((got_kind, got.as_slice()), (kind, bytes), "{text:?}");
            // The copying form gives the same bytes.
            assert_eq!(plaintext_bytes(&l).as_slice(), bytes, "{text:?}");
        }
    }

    #[test]
    fn canonical_spellings_are_marked_and_unmarked() {
        for (v, t) in [
            (Scalar::Float(1e-7), "0.0000001"),
            (Scalar::Float(1e21), "1000000000000000000000"),
            (Scalar::Bool(true), "True"),
            (Scalar::Bool(false), "False"),
            (Scalar::Float(1e-7), "1e-7"),
            (Scalar::Bool(true), "TRUE"),
        ] {
            let l = leaf(v.clone(), t);
            let stored = plaintext_bytes(&l);
            let back = parse_typed(v.type_tag().unwrap_or(""), &stored).unwrap();
            assert_eq!(back, v, "{t}");
            assert_eq!(display_text(&v, &stored).as_str(), t);
        }
        // What sops writes (canonical) comes back empty: print as sops prints.
        assert_eq!(display_text(&Scalar::Bool(true), b"True").as_str(), "");
        assert_eq!(
            display_text(&Scalar::Float(1e-7), b"0.0000001").as_str(),
            ""
        );
        assert_eq!(display_text(&Scalar::Int(42), b"42").as_str(), "");
        assert_eq!(display_text(&Scalar::Int(42), b"+42").as_str(), "+42");
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(&*canonical_bytes(&Scalar::Bool(true)), b"True");
        assert_eq!(&*canonical_bytes(&Scalar::Float(100.0)), b"100");
        assert_eq!(
            &*canonical_bytes(&Scalar::Float(1e21)),
            b"1000000000000000000000"
        );
    }

    #[test]
    fn typed_parse() {
        assert_eq!(parse_typed("bool", b"T"), Some(Scalar::Bool(true)));
        assert_eq!(parse_typed("bool", b"yes"), None);
        assert_eq!(parse_typed("int", b"-42"), Some(Scalar::Int(-42)));
        assert_eq!(parse_typed("int", b"4.2"), None);
        assert_eq!(
            parse_typed("float", b"+Inf"),
            Some(Scalar::Float(f64::INFINITY))
        );
        assert_eq!(
            parse_typed("time", b"2024-01-02T03:04:05.120+02:00"),
            Some(Scalar::Time(secret("2024-01-02T03:04:05.12+02:00")))
        );
        assert_eq!(parse_typed("wat", b"x"), None);
    }
}
