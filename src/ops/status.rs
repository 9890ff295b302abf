//! `filestatus`: whether a file is encrypted, read from its metadata without any key.

use crate::gotext::scalar_text;
use crate::stores::{Format, Parsed};
use crate::tree::{get, Value};

use super::{Engine, Error, Result, Source};

/// Whether `source` has sops metadata with a version and a MAC (sops's definition of an
/// encrypted file). A file that does not parse is an error, as in sops.
pub fn is_encrypted(engine: &Engine, source: &Source, input: Option<Format>) -> Result<bool> {
    let (format, _) = source.formats(input, None);
    let parsed = engine
        .store(format)
        .parse(&source.bytes)
        .map_err(|e| Error::Status {
            file: source.display(),
            source: e,
        })?;
    Ok(has_sops_metadata(&parsed))
}

/// Whether a parsed file's `sops` entry has a version and a MAC (the file is encrypted); in TOML
/// a MAC is enough, as rops writes no version.
pub fn has_sops_metadata(parsed: &Parsed) -> bool {
    let Some(Value::Map(items)) = parsed.metadata.as_ref() else {
        return false;
    };
    let present = |name: &str| {
        get(items, name)
            .and_then(|v| match v {
                Value::Leaf(l) => scalar_text(&l.value),
                _ => None,
            })
            .is_some_and(|t| !t.is_empty())
    };
    (present("version") || parsed.metadata_version_optional() && get(items, "version").is_none())
        && present("mac")
}
