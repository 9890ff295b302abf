//! Which values of a file are encrypted: the one selection option a file may carry in its
//! metadata (`encrypted_regex`, `unencrypted_suffix`, ...), and how it decides for a path.

use regex::Regex;

/// Which values are encrypted: sops allows at most one of these per file.
#[derive(Clone, Debug)]
pub enum Selection {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
    /// Binary files: everything is encrypted and nothing is written to the metadata.
    All,
}

impl Default for Selection {
    fn default() -> Self {
        Selection::UnencryptedSuffix("_unencrypted".into())
    }
}

impl PartialEq for Selection {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name() && self.pattern() == other.pattern()
    }
}

impl Selection {
    /// The metadata field name of this option (`None` for [`Selection::All`]).
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            Selection::UnencryptedSuffix(_) => "unencrypted_suffix",
            Selection::EncryptedSuffix(_) => "encrypted_suffix",
            Selection::UnencryptedRegex(_) => "unencrypted_regex",
            Selection::EncryptedRegex(_) => "encrypted_regex",
            Selection::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Selection::EncryptedCommentRegex(_) => "encrypted_comment_regex",
            Selection::All => return None,
        })
    }

    pub fn pattern(&self) -> &str {
        match self {
            Selection::UnencryptedSuffix(s) | Selection::EncryptedSuffix(s) => s,
            Selection::UnencryptedRegex(r)
            | Selection::EncryptedRegex(r)
            | Selection::UnencryptedCommentRegex(r)
            | Selection::EncryptedCommentRegex(r) => r.as_str(),
            Selection::All => "",
        }
    }

    /// Build from a metadata/config field name and its value.
    pub fn from_field(name: &str, value: &str) -> Result<Selection, SelectionError> {
        let re = || {
            Regex::new(value).map_err(|e| SelectionError::Regex {
                option: name.to_string(),
                pattern: value.to_string(),
                reason: e.to_string(),
            })
        };
        Ok(match name {
            "unencrypted_suffix" => Selection::UnencryptedSuffix(value.into()),
            "encrypted_suffix" => Selection::EncryptedSuffix(value.into()),
            "unencrypted_regex" => Selection::UnencryptedRegex(re()?),
            "encrypted_regex" => Selection::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => Selection::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => Selection::EncryptedCommentRegex(re()?),
            _ => return Err(SelectionError::Unknown(name.to_string())),
        })
    }

    /// sops's `shouldBeEncrypted`.
    pub(crate) fn should_encrypt(
        &self,
        path: &[&str],
        comments: &[Vec<&str>],
        is_comment: bool,
    ) -> bool {
        match self {
            Selection::All => true,
            Selection::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Selection::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Selection::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Selection::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
            Selection::UnencryptedCommentRegex(r) => {
                !comments.iter().flatten().any(|c| r.is_match(c))
            }
            Selection::EncryptedCommentRegex(r) => {
                let last = comments.len().saturating_sub(1);
                comments.iter().enumerate().any(|(i, level)| {
                    let skip_own = is_comment && i == last;
                    let n = if skip_own {
                        level.len().saturating_sub(1)
                    } else {
                        level.len()
                    };
                    level[..n].iter().any(|c| r.is_match(c))
                })
            }
        }
    }
}

/// A selection option that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("invalid {option} {pattern:?}: {reason}")]
    Regex {
        option: String,
        pattern: String,
        reason: String,
    },
    #[error("unknown selection option {0}")]
    Unknown(String),
}
