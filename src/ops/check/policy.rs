//! The settings a check runs under: the rotation policy (`--max-age` or `sepal.check.max_age` in
//! `.sops.yaml`), the allow-list of known false positives (`sepal.check.allow`) and the inline
//! marker `sepal:allow` on a line.

use regex::Regex;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::config::Config;
use crate::metadata::Metadata;

use std::path::Path;

use super::report::Finding;
use super::sops_use::SopsUse;
use super::CheckError;

/// The inline marker: a finding on a line holding it is not reported.
pub const INLINE_MARKER: &str = "sepal:allow";

/// One compiled allow-list entry.
#[derive(Debug)]
struct Allow {
    path: Option<Regex>,
    check: Option<String>,
}

/// The policy a check applies.
#[derive(Debug)]
pub struct Policy {
    /// The oldest a data key may be, and how it was spelled (for messages).
    pub max_age: Option<(Duration, String)>,
    allow: Vec<Allow>,
    /// Whether the repository runs the real sops (looked for once, when a TOML file needs it).
    pub sops_use: SopsUse,
}

impl Policy {
    /// The policy from `.sops.yaml`, with `max_age` (the flag) overriding its setting.
    pub fn new(config: &Config, max_age: Option<&str>) -> Result<Policy, CheckError> {
        let settings = &config.sepal().check;
        let max_age = max_age
            .or(settings.max_age.as_deref())
            .map(|v| parse_age(v).map(|d| (d, v.trim().to_string())))
            .transpose()?;
        let allow = settings
            .allow
            .iter()
            .map(|a| {
                let path = a
                    .path
                    .as_deref()
                    .map(|re| {
                        Regex::new(re).map_err(|e| CheckError::AllowRegex {
                            regex: re.to_string(),
                            reason: e.to_string(),
                        })
                    })
                    .transpose()?;
                Ok(Allow {
                    path,
                    check: a.check.clone(),
                })
            })
            .collect::<Result<_, CheckError>>()?;
        let root = config
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(crate::config::absolute);
        Ok(Policy {
            max_age,
            allow,
            sops_use: SopsUse::new(root),
        })
    }

    /// Whether the allow-list suppresses `finding` in the file named `relative` (relative to the
    /// `.sops.yaml` folder).
    pub fn allows(&self, relative: &str, finding: &Finding) -> bool {
        self.allow.iter().any(|a| {
            a.path.as_ref().is_none_or(|re| re.is_match(relative))
                && a.check
                    .as_deref()
                    .is_none_or(|c| c == finding.check || Some(c) == finding.rule)
        })
    }
}

/// `90d`, `12w`, `36h` (a whole number and a unit: hours, days or weeks).
pub fn parse_age(text: &str) -> Result<Duration, CheckError> {
    let bad = || CheckError::MaxAge {
        value: text.to_string(),
    };
    let t = text.trim();
    let split = t.char_indices().last().map(|(i, _)| i).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let unit_seconds: i64 = match unit {
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_seconds)
        .map(Duration::seconds)
        .ok_or_else(bad)
}

/// The oldest `created_at` of the file's master keys (when its data key was made), as written
/// and as a time. `None` when no key has one (sops writes none for age recipients).
pub fn data_key_created(meta: &Metadata) -> Option<(String, OffsetDateTime)> {
    meta.key_groups
        .iter()
        .flatten()
        .filter_map(|k| {
            let text = k.created_at.as_deref()?;
            let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
            Some((text.to_string(), t))
        })
        .min_by_key(|(_, t)| *t)
}

/// Whether line `line` (1-based) of `bytes` holds the inline marker.
pub fn marked(bytes: &[u8], line: usize) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .nth(line.saturating_sub(1))
        .is_some_and(|l| {
            l.windows(INLINE_MARKER.len())
                .any(|w| w == INLINE_MARKER.as_bytes())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn ages() {
        assert_eq!(parse_age("90d").unwrap(), Duration::days(90));
        assert_eq!(parse_age(" 2w").unwrap(), Duration::weeks(2));
        assert_eq!(parse_age("36h").unwrap(), Duration::hours(36));
        for bad in [
            "",
            "d",
            "90",
            "-3d",
            "0d",
            "9x",
            "1.5d",
            "90é",
            "é",
            "99999999999999999w",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_list_and_marker() {
        let c = Config::parse(
            "sepal:\n  check:\n    max_age: 30d\n    allow:\n      - {path: ^docs/, check: aws-access-key-id}\n      - check: plaintext-env\n",
            Some(PathBuf::from("/r/.sops.yaml")),
        )
        .unwrap();
        let p = Policy::new(&c, None).unwrap();
        assert_eq!(p.max_age.as_ref().map(|m| m.0), Some(Duration::days(30)));
        let p2 = Policy::new(&c, Some("1w")).unwrap();
        assert_eq!(p2.max_age.map(|m| m.0), Some(Duration::weeks(1)));
        let mut f = Finding::new("docs/a.md", 3, "secret", "m");
        f.rule = Some("aws-access-key-id");
        assert!(p.allows("docs/a.md", &f));
        assert!(!p.allows("src/a.md", &f));
        f.rule = Some("private-key");
        assert!(!p.allows("docs/a.md", &f));
        assert!(p.allows("x/.env", &Finding::new("x/.env", 1, "plaintext-env", "m")));
        assert!(marked(b"a\nkey = 1 # sepal:allow\n", 2));
        assert!(!marked(b"a\nkey = 1\n", 2));
        let bad = Config::parse("sepal:\n  check:\n    allow: [{path: '('}]\n", None).unwrap();
        assert!(Policy::new(&bad, None).is_err());
    }
}
