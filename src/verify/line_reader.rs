//! The independent reading of INI and dotenv output: line readers that split lines at CR, LF
//! and CRLF as configparser does, and must find only encrypted or allowed values.

use super::{comment_body, fail, Allowed, Unaccounted};
use crate::stores::Format;

/// Lines as readers that accept any of CR, LF and CRLF split them.
fn any_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

pub(super) fn ini_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    const READER: &str = "read line by line as INI";
    let text = std::str::from_utf8(output)
        .map_err(|_| fail(Format::Ini, READER, "a byte that is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut in_sops = false;
    for (n, line) in any_lines(text).enumerate() {
        let t = line.trim();
        let at = || fail(Format::Ini, READER, format!("line {}", n + 1));
        if t.is_empty() {
            continue;
        }
        if t.starts_with('#') || t.starts_with(';') {
            if !in_sops && !allowed.has_text(comment_body(t)) {
                return Err(at());
            }
            continue;
        }
        if t.starts_with('[') {
            let Some(close) = t.rfind(']') else {
                return Err(at());
            };
            in_sops = &t[1..close] == "sops";
            let rest = t[close + 1..].trim();
            if !rest.is_empty()
                && (!(rest.starts_with('#') || rest.starts_with(';'))
                    || !allowed.has_text(comment_body(rest)))
            {
                return Err(at());
            }
            continue;
        }
        if in_sops {
            continue;
        }
        let value = match key_end(t) {
            Some(d) => t[d + 1..].trim(),
            None => t,
        };
        if !ini_value_ok(value, allowed) {
            return Err(at());
        }
    }
    Ok(())
}

/// Where the key of an INI key line ends (its delimiter), quoted keys skipped.
fn key_end(t: &str) -> Option<usize> {
    for q in ["\"\"\"", "\"", "`"] {
        if let Some(rest) = t.strip_prefix(q) {
            let close = rest.find(q)? + q.len();
            return t[close + q.len()..]
                .find(['=', ':'])
                .map(|p| p + close + q.len());
        }
    }
    t.find(['=', ':'])
}

fn ini_value_ok(value: &str, allowed: &Allowed) -> bool {
    if allowed.has_text(value) {
        return true;
    }
    let quoted = ["\"\"\"", "`", "\"", "'"].iter().any(|q| {
        value
            .strip_prefix(q)
            .and_then(|v| v.strip_suffix(q))
            .is_some_and(|u| allowed.has_text(u))
    });
    if quoted {
        return true;
    }
    // A value with an inline comment: both parts must be accounted for.
    match value.find(['#', ';']) {
        Some(i) if i > 0 => {
            let (v, c) = value.split_at(i);
            ini_value_ok(v.trim(), allowed) && allowed.has_text(comment_body(c))
        }
        _ => false,
    }
}

pub(super) fn dotenv_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    const READER: &str = "read line by line as dotenv";
    let text = std::str::from_utf8(output)
        .map_err(|_| fail(Format::Dotenv, READER, "a byte that is not UTF-8"))?;
    for (n, line) in text.split('\n').enumerate() {
        let at = || fail(Format::Dotenv, READER, format!("line {}", n + 1));
        let t = line.trim_matches([' ', '\t', '\r']);
        if t.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            if !allowed.has_text(c) && !allowed.has_text(c.trim_end_matches('\r')) {
                return Err(at());
            }
            continue;
        }
        let Some(eq) = line.find('=') else {
            return Err(at());
        };
        if line.starts_with("sops_") {
            continue;
        }
        let value = &line[eq + 1..];
        let value = value.replace("\\n", "\n");
        if !allowed.has_text(&value) && !allowed.has_text(value.trim_end_matches('\r')) {
            return Err(at());
        }
    }
    Ok(())
}
