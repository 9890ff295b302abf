//! What `sepal check` reports: one [`Finding`] per problem (file, line, check, message, never a
//! secret), and the [`Report`] over all files. The command line renders them as text or JSON.

use serde::Serialize;

/// The checks, by the names findings, the allow-list and the documentation use.
pub mod names {
    /// A file a creation rule covers has no sops metadata, MAC or version.
    pub const MUST_BE_ENCRYPTED: &str = "must-be-encrypted";
    /// The file's master keys or Shamir threshold differ from what its rule names today.
    pub const RECIPIENTS: &str = "recipients";
    /// A value the file's selection option says is encrypted is not an `ENC[...]` value.
    pub const PLAINTEXT_VALUE: &str = "plaintext-value";
    /// A secret pattern in a file no rule covers (the finding's `rule` names the pattern).
    pub const SECRET: &str = "secret";
    /// A plaintext `.env` / `.env.*` file that git does not ignore.
    pub const PLAINTEXT_ENV: &str = "plaintext-env";
    /// The data key is older than the rotation policy.
    pub const MAX_AGE: &str = "max-age";
    /// `sepal merge` left the file with unresolved conflicts (a `sepal_conflict` record).
    pub const MERGE_CONFLICT: &str = "merge-conflict";
    /// A TOML file sepal encrypted (which sops cannot read) in a repository that runs sops.
    pub const SOPS_CANNOT_READ_TOML: &str = "sops-cannot-read-toml";
    /// The file could not be read or parsed.
    pub const UNREADABLE: &str = "unreadable";
}

/// One problem in one file. `line` is 1-based; a finding about the whole file is on the line of
/// its `sops` metadata when it has one, else on line 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    pub check: &'static str,
    /// For `secret` findings: the pattern that matched (`aws-access-key-id`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    pub message: String,
}

impl Finding {
    pub fn new(path: &str, line: usize, check: &'static str, message: impl Into<String>) -> Self {
        Finding {
            path: path.to_string(),
            line,
            check,
            rule: None,
            message: message.into(),
        }
    }
}

/// The result of a whole check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// How many files were checked.
    pub files: usize,
    /// How many findings the allow-list and inline markers suppressed.
    pub allowed: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn clean(&self) -> bool {
        self.findings.is_empty()
    }
}
