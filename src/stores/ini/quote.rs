//! ini.v1's quoting rules: which quotes a key or value is written in so that it reads back as it
//! was, and whether a new text fits in the quotes a token already has.

use super::Quoting;

/// ini.v1's `hasSurroundedQuote`.
pub(super) fn has_surrounded_quote(s: &str, quote: u8) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0] == quote
        && b[b.len() - 1] == quote
        && s[1..].find(quote as char) == Some(b.len() - 2)
}

/// ini.v1's value quoting on write.
pub(super) fn quote_value(value: &str) -> String {
    let padded = value.trim().len() != value.len();
    if value.contains(['\n', '`']) {
        format!("\"\"\"{value}\"\"\"")
    } else if value.contains(['#', ';'])
        // Forms that ini.v1 would read as something else when written raw (it writes them raw,
        // so sops changes these values; sepal keeps them).
        || has_surrounded_quote(value, b'"')
        || has_surrounded_quote(value, b'\'')
        || value.ends_with('\\')
        || value.starts_with("\"\"\"")
        || (padded && value.contains('"'))
    {
        format!("`{value}`")
    } else if padded {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

/// ini.v1's key quoting on write.
pub(super) fn quote_key(key: &str) -> String {
    if key.contains(['"', '=', ':']) {
        format!("`{key}`")
    } else if key.contains('`') {
        format!("\"\"\"{key}\"\"\"")
    } else {
        key.to_string()
    }
}

/// Can `s` be written inside the quotes of a token of this kind and read back unchanged?
pub(super) fn fits(quoting: Quoting, s: &str) -> bool {
    match quoting {
        Quoting::DoubleQuoted => !s.contains(['"', '#', ';', '\n', '\r']),
        Quoting::SingleQuoted => !s.contains(['\'', '#', ';', '\n', '\r']),
        Quoting::Backticks => !s.contains('`'),
        Quoting::TripleQuoted => !s.contains("\"\"\""),
        Quoting::Raw | Quoting::Continued => false,
    }
}
