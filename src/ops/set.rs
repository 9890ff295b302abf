//! `set` and `unset`: change one value of an encrypted file as a text edit of its plaintext (a
//! minimal diff), then re-encrypt with the same data key, so every other value keeps its exact
//! ciphertext.

use crate::stores::{Format, Parsed, Store, StoreOptions};
use crate::tree::{secret, Leaf, Scalar, Value, NO_LEAF};
use crate::treepath::{self, Step};
use crate::wipe::Wiped;

use super::{
    decrypt_parsed, open, plaintext, reencrypt, DecryptOptions, Engine, Error, KeyAccess, Output,
    Plain, Result, Source,
};

/// How the value at a path is changed.
pub enum Change {
    Set(Vec<Step>, Value),
    Unset(Vec<Step>),
}

/// What `set`/`unset` is asked.
#[derive(Debug, Clone, Default)]
pub struct ChangeOptions {
    pub input: Option<Format>,
    pub output: Option<Format>,
    pub ignore_mac: bool,
    /// Succeed without a change when the value is already set (set) or absent (unset).
    pub idempotent: bool,
    pub access: KeyAccess,
}

/// Parse a `set` value as sops does: JSON; objects with the JSON store (ordered); top-level
/// arrays are refused. sops decodes every number as a float, so `6543` would print back as
/// `6543` but be a float: sepal keeps a whole number an integer, so that it reads back with the
/// type it was written with (the MAC is the same either way).
pub fn parse_value(text: &str) -> Result<Value> {
    let generic: serde_json::Value = serde_json::from_str(text).map_err(|_| Error::SetValue)?;
    let leaf = |s: Scalar| Value::Leaf(Leaf::new(NO_LEAF, s));
    Ok(match generic {
        serde_json::Value::Null => leaf(Scalar::Null),
        serde_json::Value::Bool(b) => leaf(Scalar::Bool(b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => leaf(Scalar::Int(i)),
            None => leaf(Scalar::Float(n.as_f64().unwrap_or(0.0))),
        },
        serde_json::Value::String(s) => leaf(Scalar::Str(secret(s))),
        serde_json::Value::Array(_) => return Err(Error::SetArray),
        serde_json::Value::Object(_) => {
            let store = Store::new(Format::Json, StoreOptions::default());
            let parsed = store.parse(text.as_bytes()).map_err(|_| Error::SetValue)?;
            let items = parsed
                .tree
                .docs
                .into_iter()
                .next()
                .map(|d| d.items)
                .unwrap_or_default();
            Value::Map(items)
        }
    })
}

/// Parse a `set`/`unset` path (`command` names the command in the error).
pub fn parse_path(text: &str, command: &'static str) -> Result<Vec<Step>> {
    let steps = treepath::parse(text).map_err(|e| Error::SetPath { command, source: e })?;
    if steps.is_empty() {
        return Err(Error::SetPath {
            command,
            source: treepath::PathError::Empty,
        });
    }
    Ok(steps)
}

/// Apply `change` to an encrypted file; returns the new file, or `None` when nothing changed
/// and `idempotent` asked not to write.
pub fn change_file(
    engine: &Engine,
    source: &Source,
    change: &Change,
    options: &ChangeOptions,
) -> Result<Option<Vec<u8>>> {
    let (format, out_format) = source.formats(options.input, options.output);
    let store = engine.store(format);
    let file = source.display();
    let parsed = open::parse_kept(&store, source, false)?;
    let mut dec = decrypt_parsed(
        &parsed,
        &file,
        &options.access,
        DecryptOptions {
            ignore_mac: options.ignore_mac,
            for_reencryption: true,
            changed_values_unread: false,
        },
    )?;
    // The plaintext file, exactly as decrypt prints it, then the change applied to it.
    let plain = plaintext(&store, &parsed, &dec, None)?;
    let plain_parsed = store.parse(&plain).map_err(Error::Marshal)?;
    let Some(new_plain) =
        edit_plaintext(&store, &plain, &plain_parsed, change, options.idempotent)?
    else {
        return Ok(None);
    };
    let mut new_parsed = store.parse(&new_plain).map_err(Error::Marshal)?;
    if new_parsed.metadata.is_some() {
        return Err(Error::ReservedKey);
    }
    // Re-encrypt with the same data key; unchanged values keep their ciphertext.
    let mut meta = dec.metadata.clone();
    let out_store = engine.store(out_format);
    reencrypt(
        &mut new_parsed,
        Plain::Parsed,
        &dec.data_key,
        &mut meta,
        &mut dec.stash,
        Output {
            store: &store,
            out_store: &out_store,
            file: &file,
            new_file: false,
            early: None,
        },
    )
    .map(Some)
}

/// The plaintext with `change` applied, or `None` for an idempotent no-op.
fn edit_plaintext(
    store: &Store,
    plain: &Wiped<Vec<u8>>,
    plain_parsed: &Parsed,
    change: &Change,
    idempotent: bool,
) -> Result<Option<Wiped<Vec<u8>>>> {
    let doc_items = plain_parsed
        .tree
        .docs
        .first()
        .map(|d| d.items.as_slice())
        .unwrap_or(&[]);
    match change {
        Change::Set(steps, value) => {
            let existing = treepath::lookup(doc_items, steps).ok();
            match (&existing, value) {
                (Some(old), _) if treepath::same_value(old, value) => {
                    if idempotent {
                        return Ok(None);
                    }
                    Ok(Some(plain.clone()))
                }
                // The one value replaced in place, else a text edit of the plaintext (a
                // minimal diff).
                _ => {
                    let out = match store
                        .replace_scalar(plain_parsed, steps, value)
                        .map_err(Error::Marshal)?
                    {
                        Some(out) => out,
                        None => store
                            .set(plain_parsed, steps, value)
                            .map_err(Error::Marshal)?,
                    };
                    Ok(Some(Wiped::new(out)))
                }
            }
        }
        Change::Unset(steps) => {
            // The path must exist (errors worded as sops words them).
            let mut items = doc_items.to_vec();
            let found = if plain_parsed.tree.docs.is_empty() {
                Err(treepath::PathError::NoDocument)
            } else {
                treepath::unset(&mut items, steps)
            };
            if let Err(e) = found {
                if idempotent {
                    return Ok(None);
                }
                return Err(Error::Unset(e));
            }
            let out = store.unset(plain_parsed, steps).map_err(Error::Marshal)?;
            Ok(Some(Wiped::new(out)))
        }
    }
}
