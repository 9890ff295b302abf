//! Reading age identities from key text (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`,
//! the default `keys.txt`). One line sepal cannot use — an identity type it does not know (a
//! future one), a plugin identity (`AGE-PLUGIN-…`, plugins are not run), a malformed line — must
//! not make every file undecryptable, as the age crate's all-or-nothing `IdentityFile` would: such
//! lines are skipped and reported by line number, never by content (they may be secrets).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use super::pq;

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `AGE-PLUGIN-…`: would need its `age-plugin-…` program, which sepal does not run.
    Plugin,
    /// `AGE-…` with a prefix sepal does not know: another (future) identity type.
    UnknownType,
    /// A known identity type that does not parse (bad checksum, wrong length).
    Malformed,
    /// Not an age identity at all (or not UTF-8).
    NotAnIdentity,
}

impl SkipReason {
    fn describe(self) -> &'static str {
        match self {
            SkipReason::Plugin => "an age plugin identity: plugins are not supported",
            SkipReason::UnknownType => "an age identity of a type sepal does not know",
            SkipReason::Malformed => "a malformed age identity",
            SkipReason::NotAnIdentity => "not an age identity",
        }
    }
}

/// One skipped line (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: SkipReason,
}

/// The lines of one source that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLines {
    /// The key file's path, or the variable the text came from.
    pub origin: String,
    pub lines: Vec<Skipped>,
}

impl fmt::Display for SkippedLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        for (i, s) in self.lines.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "line {} ({})", s.line, s.reason.describe())?;
        }
        Ok(())
    }
}

impl SkippedLines {
    /// Print the warning for these lines on stderr, once per origin in this process (several
    /// files decrypted in one run share the key files).
    pub fn warn_once(&self) {
        static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        let first = match WARNED.lock() {
            Ok(mut set) => set.insert(self.origin.clone()),
            Err(poisoned) => poisoned.into_inner().insert(self.origin.clone()),
        };
        if first {
            let n = self.lines.len();
            eprintln!(
                "warning: skipped {n} line{} holding no age identity sepal can use in {self}",
                if n == 1 { "" } else { "s" }
            );
        }
    }
}

/// The identities of one source and the lines skipped.
pub struct Parsed {
    pub identities: Vec<Box<dyn age::Identity>>,
    pub skipped: Vec<Skipped>,
}

/// Does `s` start with `prefix`, ignoring ASCII case (bech32 is either case)?
fn has_prefix(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// One white-space-free word of key text.
fn parse_word(word: &str) -> Result<Box<dyn age::Identity>, SkipReason> {
    if has_prefix(word, "AGE-SECRET-KEY-PQ-1") {
        pq::Identity::from_str(word)
            .map(|i| Box::new(i) as Box<dyn age::Identity>)
            .map_err(|_| SkipReason::Malformed)
    } else if has_prefix(word, "AGE-SECRET-KEY-1") {
        age::x25519::Identity::from_str(word)
            .map(|i| Box::new(i) as Box<dyn age::Identity>)
            .map_err(|_| SkipReason::Malformed)
    } else if has_prefix(word, "AGE-PLUGIN-") {
        Err(SkipReason::Plugin)
    } else if has_prefix(word, "AGE-") {
        Err(SkipReason::UnknownType)
    } else {
        Err(SkipReason::NotAnIdentity)
    }
}

/// Parse key text: one identity a line (blank lines and `#` comments ignored). Like sops with
/// `SOPS_AGE_KEY`, identities may also be separated by any white space on a line. A line with an
/// unusable word is reported once (with the first reason); its usable words still count.
pub fn parse(text: &[u8]) -> Parsed {
    let mut out = Parsed {
        identities: Vec::new(),
        skipped: Vec::new(),
    };
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = n + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            out.skipped.push(Skipped {
                line: line_no,
                reason: SkipReason::NotAnIdentity,
            });
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut bad = None;
        for word in line.split_whitespace() {
            match parse_word(word) {
                Ok(id) => out.identities.push(id),
                Err(r) => {
                    bad.get_or_insert(r);
                }
            }
        }
        if let Some(reason) = bad {
            out.skipped.push(Skipped {
                line: line_no,
                reason,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn skips_what_it_cannot_use() {
        let x = age::x25519::Identity::generate();
        let pq = pq::Identity::generate();
        let text = format!(
            "# created: now\n\n{}\r\n  {}  \nAGE-PLUGIN-YUBIKEY-1QQQQQQ\ngarbage\nAGE-SECRET-KEY-ZZ-1ABC\n\
             AGE-SECRET-KEY-1QQQQ\n\u{0}\n{} {}\n",
            x.to_string().expose_secret(),
            pq.to_secret_string().as_str(),
            x.to_string().expose_secret().to_lowercase(),
            pq.to_secret_string().as_str(),
        );
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        let p = parse(&bytes);
        assert_eq!(p.identities.len(), 4);
        let lines: Vec<(usize, SkipReason)> =
            p.skipped.iter().map(|s| (s.line, s.reason)).collect();
        assert_eq!(
            lines,
            [
                (5, SkipReason::Plugin),
                (6, SkipReason::NotAnIdentity),
                (7, SkipReason::UnknownType),
                (8, SkipReason::Malformed),
                (9, SkipReason::NotAnIdentity),
                (11, SkipReason::NotAnIdentity),
            ]
        );
        let report = SkippedLines {
            origin: "/k/keys.txt".into(),
            lines: p.skipped[..2].to_vec(),
        }
        .to_string();
        assert_eq!(
            report,
            "/k/keys.txt: line 5 (an age plugin identity: plugins are not supported), \
             line 6 (not an age identity)"
        );
    }

    #[test]
    fn a_line_with_one_bad_word_is_reported() {
        let x = age::x25519::Identity::generate();
        let text = format!("{} nonsense\n", x.to_string().expose_secret());
        let p = parse(text.as_bytes());
        assert_eq!(p.identities.len(), 1);
        assert_eq!(
            p.skipped,
            [Skipped {
                line: 1,
                reason: SkipReason::NotAnIdentity
            }]
        );
    }
}
