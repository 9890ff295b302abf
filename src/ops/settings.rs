//! What a new file gets: master keys named by options merged with the matching `.sops.yaml`
//! creation rule, the Shamir threshold, the selection option and the MAC mode, combined as sops
//! combines them. Key specs from options are built here; those from `.sops.yaml` in `config`.

use std::path::Path;

use crate::config::CreationRule;
pub use crate::config::{parse_context, KeyOptions};
use crate::metadata::KeyGroup;
use crate::metadata::Selection;
use crate::stores::Format;

use super::{Engine, Error, Result};

/// The selection options (at most one may be set, by option or by the creation rule).
#[derive(Debug, Clone, Default)]
pub struct SelectionOptions {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<String>,
    pub encrypted_regex: Option<String>,
    pub unencrypted_comment_regex: Option<String>,
    pub encrypted_comment_regex: Option<String>,
}

impl SelectionOptions {
    /// Each option with its metadata field name.
    fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
    }
}

/// What a new file gets: key groups, threshold, selection option and MAC mode.
pub struct NewFileSettings {
    pub key_groups: Vec<KeyGroup>,
    pub threshold: usize,
    pub selection: Selection,
    pub mac_only_encrypted: bool,
}

/// Combine the options and the creation rule matching `name` as sops does: keys named by option
/// replace the rule's; each selection option wins over the rule's value of the same option.
pub fn new_file_settings(
    engine: &Engine,
    name: Option<&Path>,
    keys: &KeyOptions,
    selection: &SelectionOptions,
    format: Format,
) -> Result<NewFileSettings> {
    let rule = match name {
        Some(n) => engine.config.rule_for(n)?,
        None => None,
    };
    let (key_groups, threshold) = key_groups(keys, rule.as_ref())?;
    let chosen = chosen_selection(selection, rule.as_ref())?;
    // A binary file's one value is encrypted whatever the options say (they still conflict).
    let selection = match (chosen, format) {
        (_, Format::Binary) => Selection::All,
        (Some((name, value)), _) => Selection::from_field(name, &value)?,
        (None, _) => Selection::default(),
    };
    Ok(NewFileSettings {
        threshold: if key_groups.len() > 1 { threshold } else { 0 },
        key_groups,
        selection,
        mac_only_encrypted: engine.mac_only_encrypted
            || rule.as_ref().is_some_and(|r| r.mac_only_encrypted),
    })
}

/// The key groups and threshold: the option keys as one group, else the rule's groups.
fn key_groups(keys: &KeyOptions, rule: Option<&CreationRule>) -> Result<(Vec<KeyGroup>, usize)> {
    let flag_group = keys.group()?;
    let (groups, rule_threshold) = if !flag_group.is_empty() {
        (vec![flag_group], 0)
    } else {
        match rule {
            Some(r) if r.key_groups.is_empty() || r.key_groups.iter().any(|g| g.is_empty()) => {
                return Err(Error::EmptyKeyGroup)
            }
            Some(r) => (r.key_groups.clone(), r.shamir_threshold),
            None => return Err(Error::NoKeys),
        }
    };
    let threshold = keys.shamir_threshold.unwrap_or(rule_threshold);
    let threshold = if groups.len() > 1 && threshold == 0 {
        groups.len()
    } else {
        threshold
    };
    if groups.len() > 1 && (threshold < 2 || threshold > groups.len()) {
        return Err(Error::ImpossibleThreshold {
            threshold,
            groups: groups.len(),
        });
    }
    Ok((groups, threshold))
}

/// The one selection option in force, if any, as (field name, value).
fn chosen_selection(
    options: &SelectionOptions,
    rule: Option<&CreationRule>,
) -> Result<Option<(&'static str, String)>> {
    let mut chosen: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in options.fields() {
        let value = value.clone().filter(|v| !v.is_empty()).or_else(|| {
            rule.and_then(|r| {
                r.selection
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
        });
        if let Some(v) = value {
            chosen.push((name, v));
        }
    }
    if chosen.len() > 1 {
        return Err(Error::ConflictingSelection);
    }
    Ok(chosen.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_pairs() {
        let c = parse_context("a:b,c:d").unwrap();
        assert_eq!(c.get("a").map(String::as_str), Some("b"));
        assert!(matches!(
            parse_context("a:b:c"),
            Err(crate::config::ConfigError::KmsContext)
        ));
        assert!(matches!(
            parse_context("ab"),
            Err(crate::config::ConfigError::KmsContext)
        ));
    }

    #[test]
    fn option_keys_replace_the_rules() {
        let engine = Engine::default();
        let keys = KeyOptions {
            age: vec!["age1example".into()],
            ..KeyOptions::default()
        };
        let s = new_file_settings(
            &engine,
            None,
            &keys,
            &SelectionOptions::default(),
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(s.key_groups.len(), 1);
        assert_eq!(s.threshold, 0);
        assert!(matches!(
            new_file_settings(
                &engine,
                None,
                &KeyOptions::default(),
                &SelectionOptions::default(),
                Format::Yaml
            ),
            Err(Error::NoKeys)
        ));
    }

    #[test]
    fn one_selection_option_at_most() {
        let engine = Engine::default();
        let keys = KeyOptions {
            age: vec!["age1example".into()],
            ..KeyOptions::default()
        };
        let two = SelectionOptions {
            encrypted_regex: Some("^a".into()),
            unencrypted_suffix: Some("_x".into()),
            ..SelectionOptions::default()
        };
        assert!(matches!(
            new_file_settings(&engine, None, &keys, &two, Format::Yaml),
            Err(Error::ConflictingSelection)
        ));
    }
}
