//! Scalar typing as go-yaml v3 resolves plain scalars (`resolve.go`), and the timestamp forms it
//! accepts, printed as Go's `time.MarshalText` does.

/// What a plain scalar resolves to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An unsigned integer above `i64::MAX` (Go `uint64`).
    Uint(u64),
    Float(f64),
    /// RFC 3339 text with nanoseconds.
    Time(String),
    Merge,
    Str,
}

/// go-yaml v3 `resolve("", s)`.
pub(crate) fn resolve_plain(s: &str) -> Resolved {
    let hint = match s.as_bytes().first() {
        None => return Resolved::Null,
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => return Resolved::Str,
    };
    match s {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    match hint {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return Resolved::Float(f);
            }
        }
        b'D' | b'S' => {
            if let Some(t) = parse_timestamp(s) {
                return Resolved::Time(t);
            }
            // The scalar may be a secret value: a copy without its underscores is wiped.
            let stripped;
            let plain: &str = if s.contains('_') {
                stripped =
                    crate::wipe::Wiped::new(s.chars().filter(|&c| c != '_').collect::<String>());
                &stripped
            } else {
                s
            };
            match go_parse_int(plain) {
                IntResult::Int(i) => return Resolved::Int(i),
                IntResult::Uint(u) => return Resolved::Uint(u),
                IntResult::None => {}
            }
            if yaml_style_float(plain) {
                if let Some(f) = go_parse_float(plain) {
                    return Resolved::Float(f);
                }
            }
        }
        _ => {}
    }
    Resolved::Str
}

enum IntResult {
    Int(i64),
    Uint(u64),
    None,
}

/// Go `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)` (underscores already removed).
fn go_parse_int(s: &str) -> IntResult {
    let (neg, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    // The prefix in either case (digits of any radix are read in either case).
    let prefix = |p: &str| {
        body.get(..2)
            .filter(|b| b.eq_ignore_ascii_case(p))
            .map(|_| &body[2..])
    };
    let (radix, digits) = if let Some(d) = prefix("0x") {
        (16, d)
    } else if let Some(d) = prefix("0b") {
        (2, d)
    } else if let Some(d) = prefix("0o") {
        (8, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return IntResult::None;
    }
    match u128::from_str_radix(digits, radix) {
        Ok(v) => {
            if neg {
                if v <= (i64::MAX as u128) + 1 {
                    IntResult::Int((-(v as i128)) as i64)
                } else {
                    IntResult::None
                }
            } else if v <= i64::MAX as u128 {
                IntResult::Int(v as i64)
            } else if !signed && v <= u64::MAX as u128 {
                IntResult::Uint(v as u64)
            } else {
                IntResult::None
            }
        }
        Err(_) => IntResult::None,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go `strconv.ParseFloat(s, 64)` for decimal forms; out-of-range values are errors in Go.
fn go_parse_float(s: &str) -> Option<f64> {
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() {
        return None;
    }
    Some(f)
}

fn num(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let st = *i;
    while *i < b.len() && *i - st < max && b[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i - st < min {
        return None;
    }
    std::str::from_utf8(&b[st..*i]).ok()?.parse().ok()
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) {
                29
            } else {
                28
            }
        }
    }
}

/// go-yaml's `parseTimestamp`: `2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00` (or `t`),
/// `2006-1-2 15:4:5.999999999`. Returns Go's `MarshalText` form.
pub(crate) fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    let year = num(b, &mut i, 4, 4)?;
    if i != 4 || b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let month = num(b, &mut i, 1, 2)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = num(b, &mut i, 1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    i += 1;
    let h = num(b, &mut i, 1, 2)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let m = num(b, &mut i, 1, 2)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let sec = num(b, &mut i, 1, 2)?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut frac = String::new();
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            if frac.len() < 9 {
                frac.push(b[i] as char);
            }
            i += 1;
        }
    }
    let frac = frac.trim_end_matches('0');
    let time = if frac.is_empty() {
        format!("{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}.{frac}")
    };
    let zone = if sep == b' ' {
        if i != b.len() {
            return None;
        }
        "Z".to_string()
    } else {
        match b.get(i) {
            Some(b'Z') if i + 1 == b.len() => "Z".to_string(),
            Some(c @ (b'+' | b'-')) => {
                let c = *c;
                i += 1;
                let st = i;
                let oh = num(b, &mut i, 2, 2)?;
                if i != st + 2 || b.get(i) != Some(&b':') {
                    return None;
                }
                i += 1;
                let om = num(b, &mut i, 2, 2)?;
                if i != b.len() || oh > 24 || om > 59 {
                    return None;
                }
                if oh == 0 && om == 0 {
                    "Z".to_string()
                } else {
                    format!("{}{oh:02}:{om:02}", c as char)
                }
            }
            _ => return None,
        }
    };
    Some(format!("{date}T{time}{zone}"))
}

/// go-yaml's `isBase60Float`.
pub(crate) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if *c == b'+' || *c == b'-' || c.is_ascii_digit() => {}
        _ => return false,
    }
    if !s.contains(':') {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = 0;
    if matches!(b[0], b'+' | b'-') {
        i = 1;
    }
    if !b.get(i).is_some_and(|c| c.is_ascii_digit()) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        match i - st {
            1 => {}
            2 if b[st] <= b'5' => {}
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml's `isOldBool`.
pub(crate) fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The integer parsing as it was written first (lower-casing a copy), for the property test.
    fn go_parse_int_reference(s: &str) -> IntResult {
        let (neg, signed, body) = match s.as_bytes().first() {
            Some(b'-') => (true, true, &s[1..]),
            Some(b'+') => (false, true, &s[1..]),
            _ => (false, false, s),
        };
        let lower = body.to_ascii_lowercase();
        let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
            (16, d)
        } else if let Some(d) = lower.strip_prefix("0b") {
            (2, d)
        } else if let Some(d) = lower.strip_prefix("0o") {
            (8, d)
        } else if lower.len() > 1 && lower.starts_with('0') {
            (8, &lower[1..])
        } else {
            (10, lower.as_str())
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return IntResult::None;
        }
        match u128::from_str_radix(digits, radix) {
            Ok(v) if neg && v <= (i64::MAX as u128) + 1 => IntResult::Int((-(v as i128)) as i64),
            Ok(v) if !neg && v <= i64::MAX as u128 => IntResult::Int(v as i64),
            Ok(v) if !neg && !signed && v <= u64::MAX as u128 => IntResult::Uint(v as u64),
            _ => IntResult::None,
        }
    }

    fn int_answer(r: IntResult) -> Option<(bool, i128)> {
        match r {
            IntResult::Int(i) => Some((false, i128::from(i))),
            IntResult::Uint(u) => Some((true, i128::from(u))),
            IntResult::None => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// Parsing without the lower-cased copy reads the same numbers.
        #[test]
        fn int_prefixes_in_either_case(
            s in "[-+]?(0[xXbBoO])?[0-9a-fA-FxXoObB_.é]{0,8}|[-+]?[0-9]{17,22}"
        ) {
            prop_assert_eq!(
                int_answer(go_parse_int(&s)),
                int_answer(go_parse_int_reference(&s)),
                "{:?}", s
            );
        }
    }

    #[test]
    fn resolves() {
        assert_eq!(resolve_plain("0777"), Resolved::Int(511));
        assert_eq!(resolve_plain("0x1F"), Resolved::Int(31));
        assert_eq!(resolve_plain("-0b11"), Resolved::Int(-3));
        assert_eq!(resolve_plain("1_000"), Resolved::Int(1000));
        assert_eq!(resolve_plain("+5"), Resolved::Int(5));
        assert_eq!(resolve_plain("08"), Resolved::Float(8.0));
        assert_eq!(resolve_plain("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve_plain(".5"), Resolved::Float(0.5));
        assert_eq!(resolve_plain("1e400"), Resolved::Str);
        assert_eq!(resolve_plain("yes"), Resolved::Str);
        assert_eq!(resolve_plain("TRUE"), Resolved::Bool(true));
        assert_eq!(resolve_plain(""), Resolved::Null);
        assert_eq!(
            resolve_plain("18446744073709551615"),
            Resolved::Uint(u64::MAX)
        );
        assert_eq!(
            resolve_plain("18446744073709551617"),
            Resolved::Float(18446744073709551617.0)
        );
        assert_eq!(
            resolve_plain("-9223372036854775808"),
            Resolved::Int(i64::MIN)
        );
        assert_eq!(
            resolve_plain("2024-01-02"),
            Resolved::Time("2024-01-02T00:00:00Z".into())
        );
        assert_eq!(
            resolve_plain("2001-12-14t21:59:43.10-05:00"),
            Resolved::Time("2001-12-14T21:59:43.1-05:00".into())
        );
        assert_eq!(
            resolve_plain("2001-12-14 21:59:43.10"),
            Resolved::Time("2001-12-14T21:59:43.1Z".into())
        );
        assert_eq!(resolve_plain("2024-02-30"), Resolved::Str);
        assert!(is_base60_float("1:20"));
        assert!(!is_base60_float("1:70"));
    }
}
