//! Secrets outside encrypted files: high-confidence patterns in the files no creation rule
//! covers, and plaintext `.env` files. A finding names the pattern and the line, never the text
//! that matched.
//!
//! What counts as a literal in an assignment (`password = "..."`, `api_key: ...`): a quoted
//! value, or in a configuration file (YAML, JSON, INI, dotenv, TOML, properties, `.conf`,
//! `.cfg`) an unquoted one, of at least 4 characters, that is none of: a reference
//! (`${VAR}`, `$VAR`, `{{ ... }}`, `%(name)s`, `<name>`), an `ENC[...]` value, `null`/`none`/
//! `true`/`false`/`~`, or an obvious placeholder (it contains `changeme`, `change_me`,
//! `example`, `placeholder`, `dummy`, `redacted`, `your_`/`your-`, `xxxx`, `****` or `...`).
//! An unquoted value in source code (`password = get_password()`) is not a literal.

use std::path::Path;
use std::sync::LazyLock;

use regex::bytes::RegexSet;
use regex::Regex;

use super::report::{names, Finding};

/// Files larger than this are not scanned (generated or data files, not hand-written config).
pub const MAX_SCAN_BYTES: usize = 2 * 1024 * 1024;

/// The patterns, by name.
const AWS: &str = "aws-access-key-id";
const PRIVATE_KEY: &str = "private-key";
const AGE: &str = "age-identity";
const PASSWORD: &str = "password-assignment";
const SECRET: &str = "secret-assignment";

/// Patterns: name, regex, what it is (for the message).
const PATTERNS: [(&str, &str, &str); 5] = [
    (AWS, r"\bAKIA[0-9A-Z]{16}\b", "an AWS access key id"),
    (
        PRIVATE_KEY,
        r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",
        "a private key block",
    ),
    (
        AGE,
        r"AGE-SECRET-KEY-(PQ-)?1[02-9ACDEFGHJKLMNPQRSTUVWXYZ]{20,}",
        "an age identity",
    ),
    (
        PASSWORD,
        r#"(?i)(?:^|[^a-z0-9])(?:[a-z0-9_.-]*)(?:password|passwd|pwd)(?:[a-z0-9_.-]*)["']?\s*(?::=|:|=)\s*(.*)$"#,
        "a password assigned a literal value",
    ),
    (
        SECRET,
        r#"(?i)(?:^|[^a-z0-9])(?:[a-z0-9_.-]*)(?:secret|token|api[_-]?key|access[_-]?key|private[_-]?key)(?:[a-z0-9_.-]*)["']?\s*(?::=|:|=)\s*(.*)$"#,
        "a secret assigned a literal value",
    ),
];

/// Whether a pattern's value part must be judged as a literal.
fn is_assignment(name: &str) -> bool {
    name == PASSWORD || name == SECRET
}

static SET: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(PATTERNS.iter().map(|(_, re, _)| format!("(?m){re}"))).ok());

static LINE: LazyLock<Vec<Option<Regex>>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|(_, re, _)| Regex::new(re).ok())
        .collect()
});

/// Whether `bytes` look binary (a NUL byte in the first 8 KiB).
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|b| *b == 0)
}

/// The secret patterns found in `bytes` (a file no rule covers), one finding per line and
/// pattern. Binary and very large files are skipped.
pub fn scan(path: &Path, shown: &str, bytes: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();
    if bytes.len() > MAX_SCAN_BYTES || is_binary(bytes) {
        return out;
    }
    let Some(set) = SET.as_ref() else {
        return out;
    };
    let hits = set.matches(bytes);
    if !hits.matched_any() {
        return out;
    }
    let config_file = is_config_file(path);
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let text = String::from_utf8_lossy(line);
        for i in hits.iter() {
            let (name, _, what) = PATTERNS[i];
            let Some(Some(re)) = LINE.get(i) else {
                continue;
            };
            let Some(caps) = re.captures(&text) else {
                continue;
            };
            if is_assignment(name) {
                let value = caps.get(1).map_or("", |m| m.as_str());
                if !is_literal(value, config_file) {
                    continue;
                }
            }
            out.push(Finding {
                rule: Some(name),
                ..Finding::new(
                    shown,
                    n + 1,
                    names::SECRET,
                    format!(
                        "{name}: {what} in a file no creation rule covers; move it into an encrypted file (or add a creation rule and `sepal encrypt -i` the file), or mark a false positive with `sepal:allow` on the line"
                    ),
                )
            });
        }
    }
    out
}

/// Whether the file is a configuration file (where unquoted values are literals).
fn is_config_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if is_env_name(&name) || name.starts_with(".env") {
        return true;
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "yaml" | "yml" | "json" | "ini" | "env" | "toml" | "properties" | "conf" | "cfg" | "cnf"
    )
}

/// Whether the value part of an assignment is a literal secret (see the module header).
fn is_literal(raw: &str, config_file: bool) -> bool {
    let v = raw.trim();
    let (quoted, inner) = match v.chars().next() {
        Some(q @ ('"' | '\'' | '`')) => {
            let rest = &v[1..];
            match rest.find(q) {
                Some(end) => (true, &rest[..end]),
                None => (true, rest),
            }
        }
        _ => {
            if !config_file {
                return false;
            }
            // An unquoted value ends at a comment or a separator.
            let end = v.find(" #").unwrap_or(v.len());
            (false, v[..end].trim_end_matches([',', ';']).trim())
        }
    };
    let inner = inner.trim();
    if inner.chars().count() < 4 {
        return false;
    }
    if !quoted
        && matches!(
            inner.chars().next(),
            Some('{' | '[' | '|' | '>' | '&' | '*' | '!')
        )
    {
        // A YAML block, anchor, alias, tag or a nested structure: not a one-line literal.
        return false;
    }
    let lower = inner.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "none" | "true" | "false" | "~" | "nil"
    ) {
        return false;
    }
    let reference = inner.starts_with('$')
        || inner.contains("${")
        || inner.contains("{{")
        || inner.contains("%(")
        || (inner.starts_with('<') && inner.ends_with('>'))
        || inner.starts_with("ENC[");
    if reference {
        return false;
    }
    const PLACEHOLDERS: [&str; 12] = [
        "changeme",
        "change_me",
        "change-me",
        "example",
        "placeholder",
        "dummy",
        "redacted",
        "your_",
        "your-",
        "xxxx",
        "****",
        "...",
    ];
    !PLACEHOLDERS.iter().any(|p| lower.contains(p))
}

/// `.env` and `.env.*`, except `.env.example` and `.env.sample`.
pub fn is_env_name(name: &str) -> bool {
    name == ".env" || (name.starts_with(".env.") && !matches!(name, ".env.example" | ".env.sample"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(name: &str, text: &str) -> Vec<(usize, &'static str)> {
        scan(Path::new(name), name, text.as_bytes())
            .into_iter()
            .map(|f| (f.line, f.rule.unwrap_or("")))
            .collect()
    }

    #[test]
    fn high_confidence_patterns() {
        let key = format!("AKIA{}", "ABCDEFGHIJKLMNOP");
        assert_eq!(rules("a.txt", &format!("x\nid = {key}\n")), [(2, AWS)]);
        assert_eq!(
            rules("k", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"),
            [(1, PRIVATE_KEY)]
        );
        assert_eq!(
            rules("k", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n"),
            [(1, PRIVATE_KEY)]
        );
        assert!(rules("k", "-----BEGIN PUBLIC KEY-----\n").is_empty());
        let age = format!(
            "AGE-SECRET-KEY-1{}",
            "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
        );
        assert_eq!(rules("k.txt", &age), [(1, AGE)]);
        // The message names the pattern, never the text.
        let f = scan(Path::new("a"), "a", key.as_bytes());
        assert!(!f[0].message.contains(&key), "{}", f[0].message);
    }

    #[test]
    fn assignments_with_literals_only() {
        assert_eq!(
            rules("c.yaml", "db:\n  password: hunter22\n"),
            [(2, PASSWORD)]
        );
        assert_eq!(rules("c.py", "password = \"hunter22\"\n"), [(1, PASSWORD)]);
        assert_eq!(
            rules("c.json", "{\"api_key\": \"abcd1234\"}"),
            [(1, SECRET)]
        );
        assert_eq!(rules(".env", "DB_PASSWORD=s3cr3tpw\n"), [(1, PASSWORD)]);
        for clear in [
            "password: ${DB_PASSWORD}\n",
            "password: \"\"\n",
            "password: changeme\n",
            "password: CHANGE_ME_please\n",
            "password: ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]\n",
            "password: {{ .Values.pw }}\n",
            "password: <your password>\n",
            "password: null\n",
            "password: $PW\n",
            "password: abc\n",
            "password_file: |\n",
        ] {
            assert!(rules("c.yaml", clear).is_empty(), "{clear}");
        }
        for code in [
            "password = get_password()\n",
            "if password == other:\n",
            "password: string;\n",
            "let token = req.headers.token;\n",
        ] {
            assert!(rules("c.ts", code).is_empty(), "{code}");
        }
    }

    #[test]
    fn binary_and_env_names() {
        assert!(rules("b", "password = \"hunter22\"\0").is_empty());
        assert!(is_env_name(".env"));
        assert!(is_env_name(".env.production"));
        assert!(!is_env_name(".env.example"));
        assert!(!is_env_name(".env.sample"));
        assert!(!is_env_name("env"));
    }
}
