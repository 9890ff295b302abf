//! `set` and `unset`: change one value in place, re-encrypting only what changed.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use super::codes;
use super::common::{self, CliError, CliResult, Input};
use super::encrypt::seal_metadata;
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::stores::{Format, NewLeaf, Store, StoreOptions};
use crate::tree::{secret, Leaf, Scalar, Tree, Value};
use crate::treepath::{self, Step};
use crate::walk::{encrypt_tree, Selection};

#[derive(Args, Debug, Clone)]
pub struct SetArgs {
    /// The encrypted file, the path (e.g. '["a"]["b"]') and the JSON value
    #[arg(num_args = 0..)]
    pub args: Vec<String>,
    /// Read the value from the file named by the third argument
    #[arg(long)]
    pub value_file: bool,
    /// Read the value from standard input
    #[arg(long)]
    pub value_stdin: bool,
    /// Do not write the file when the value is already set
    #[arg(long)]
    pub idempotent: bool,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    /// Input format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Accepted for compatibility (set and unset keep the file's threshold)
    #[arg(long, value_name = "N", hide = true)]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct UnsetArgs {
    /// The encrypted file and the path to remove
    #[arg(num_args = 0..)]
    pub args: Vec<String>,
    /// Succeed without writing when the path does not exist
    #[arg(long)]
    pub idempotent: bool,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
    /// Input format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (default: from the file name)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

fn set_format_error(msg: &str) -> CliError {
    CliError::new(codes::INVALID_SET_FORMAT, msg)
}

/// Parse a `--set` value as sops does: JSON; objects with the JSON store (ordered; integers stay
/// integers); top-level arrays are refused. sops decodes every number as a float, so `6543`
/// would print back as `6543` but be a float: sepal keeps a whole number an integer, so that it
/// reads back with the type it was written with (the MAC is the same either way).
pub fn parse_value(text: &str) -> CliResult<Value> {
    let generic: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| set_format_error("Value for --set is not valid JSON"))?;
    let leaf = |s: Scalar| Value::Leaf(Leaf::new(0, s));
    Ok(match generic {
        serde_json::Value::Null => leaf(Scalar::Null),
        serde_json::Value::Bool(b) => leaf(Scalar::Bool(b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => leaf(Scalar::Int(i)),
            None => leaf(Scalar::Float(n.as_f64().unwrap_or(0.0))),
        },
        serde_json::Value::String(s) => leaf(Scalar::Str(secret(s))),
        serde_json::Value::Array(_) => return Err(set_format_error("Invalid --set value format")),
        serde_json::Value::Object(_) => {
            let store = Store::new(Format::Json, StoreOptions::default());
            let parsed = store
                .parse(text.as_bytes())
                .map_err(|_| set_format_error("Value for --set is not valid JSON"))?;
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

fn parse_path(p: &str) -> CliResult<Vec<Step>> {
    let steps = treepath::parse(p)
        .map_err(|e| set_format_error(&format!("Invalid set index format: {e}")))?;
    if steps.is_empty() {
        return Err(set_format_error("Invalid set index format: empty path"));
    }
    Ok(steps)
}

/// How the value at a path is changed.
pub enum Change {
    Set(Vec<Step>, Value),
    Unset(Vec<Step>),
}

/// Apply `change` to an encrypted file and write it back in place. `Ok(false)` when nothing
/// changed and `idempotent` asked not to write.
#[allow(clippy::too_many_arguments)]
pub fn change_file(
    global: &GlobalArgs,
    file: PathBuf,
    input_type: Option<String>,
    output_type: Option<String>,
    keys: &DecryptKeyArgs,
    ignore_mac: bool,
    change: Change,
    idempotent: bool,
) -> CliResult<bool> {
    let io = IoArgs {
        file: Some(file.clone()),
        input_type,
        output_type,
        in_place: true,
        ..IoArgs::default()
    };
    let input = common::read_input(&io, false)?;
    let (format, out_format) = common::formats(&io, &input);
    let config = common::load_config(global)?;
    let store = common::store(&config, global, format);
    let parsed = common::parse(&store, &input)?;
    let mut dec = common::decrypt_parsed(&parsed, &input, keys, ignore_mac)?;
    let dump = |e: crate::stores::StoreError| {
        CliError::new(codes::DUMP_TREE, format!("Could not marshal tree: {e}"))
    };

    // The plaintext file, exactly as decrypt prints it, then the change applied to it.
    let plain = zeroize::Zeroizing::new(
        store
            .splice_plain(&parsed, &dec.changes, None)
            .map_err(dump)?,
    );
    let plain_parsed = store.parse(&plain).map_err(dump)?;
    let doc_items = plain_parsed
        .tree
        .docs
        .first()
        .map(|d| d.items.clone())
        .unwrap_or_default();
    let new_plain: zeroize::Zeroizing<Vec<u8>> = match &change {
        Change::Set(steps, value) => {
            let existing = treepath::lookup(&doc_items, steps).ok();
            match (&existing, value) {
                (Some(old), _) if treepath::same_value(old, value) => {
                    if idempotent {
                        return Ok(false);
                    }
                    plain.clone()
                }
                (Some(Value::Leaf(old)), Value::Leaf(new)) if old.id != usize::MAX => {
                    // Replace the one value in place.
                    let mut changes = vec![None; crate::tree::leaf_count(&plain_parsed.tree)];
                    let text = crate::crypto::gotext::canonical_bytes(&new.value);
                    if let Some(slot) = changes.get_mut(old.id) {
                        *slot = Some(NewLeaf::Plain {
                            value: new.value.clone(),
                            text: secret(String::from_utf8_lossy(&text)),
                        });
                    }
                    zeroize::Zeroizing::new(
                        store.splice(&plain_parsed, &changes, None).map_err(dump)?,
                    )
                }
                _ => {
                    // Everything else is a text edit of the plaintext (minimal diff).
                    zeroize::Zeroizing::new(store.set(&plain_parsed, steps, value).map_err(dump)?)
                }
            }
        }
        Change::Unset(steps) => {
            // The path must exist (errors worded as sops words them).
            let mut tree: Tree = plain_parsed.tree.clone();
            let result = match tree.docs.first_mut() {
                Some(doc) => treepath::unset(&mut doc.items, steps),
                None => Err("the file has no document".into()),
            };
            if let Err(e) = result {
                if idempotent {
                    return Ok(false);
                }
                return Err(CliError::new(codes::GENERIC, e));
            }
            zeroize::Zeroizing::new(store.unset(&plain_parsed, steps).map_err(dump)?)
        }
    };

    // Re-encrypt with the same data key; unchanged values keep their ciphertext.
    let new_parsed = store.parse(&new_plain).map_err(dump)?;
    if new_parsed.metadata.is_some() {
        return Err(CliError::new(
            codes::GENERIC,
            "the change would create a top-level 'sops' entry, which is reserved for the metadata",
        ));
    }
    let mut meta = dec.metadata.clone();
    let selection = meta.selection.clone().unwrap_or(Selection::All);
    let r = encrypt_tree(
        &new_parsed.tree,
        &dec.data_key,
        &selection,
        meta.mac_only_encrypted,
        &mut dec.stash,
    )
    .map_err(|e| CliError::new(codes::ENCRYPT_TREE, format!("Error encrypting tree: {e}")))?;
    seal_metadata(&mut meta, &dec.data_key, &r.mac)?;
    let allowed = crate::verify::Allowed::from_changes(&new_parsed.tree, &r.changes);
    let out = if out_format == format {
        store
            .splice(&new_parsed, &r.changes, Some(&meta.to_value()))
            .map_err(dump)?
    } else {
        // `--output-type`: the file is rewritten in the other format, as sops does.
        let out_store = common::store(&config, global, out_format);
        let tree = crate::stores::apply_changes(&new_parsed.tree, &r.changes);
        out_store
            .emit(&tree, Some(&meta.to_value()))
            .map_err(dump)?
    };
    common::verify_output(out_format, &out, &allowed, &input)?;
    common::write_output(&io, &input_from(&input), &out)?;
    Ok(true)
}

fn input_from(i: &Input) -> Input {
    Input {
        path: i.path.clone(),
        name: i.name.clone(),
        bytes: zeroize::Zeroizing::new(Vec::new()),
    }
}

pub fn run_set(global: &GlobalArgs, a: SetArgs) -> CliResult<()> {
    let expected = if a.value_stdin { 2 } else { 3 };
    if a.args.len() != expected {
        return Err(CliError::new(
            codes::NO_FILE,
            format!(
                "Error: set takes exactly {expected} arguments: the file, the path{}",
                if a.value_stdin {
                    " (the value comes from stdin)"
                } else {
                    " and the value"
                }
            ),
        ));
    }
    let steps = parse_path(&a.args[1])?;
    let text = if a.value_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            CliError::new(codes::READ_INPUT, format!("Error reading from stdin: {e}"))
        })?;
        zeroize::Zeroizing::new(s)
    } else if a.value_file {
        zeroize::Zeroizing::new(std::fs::read_to_string(&a.args[2]).map_err(|e| {
            CliError::new(
                codes::READ_INPUT,
                format!("Error reading file {}: {e}", a.args[2]),
            )
        })?)
    } else {
        zeroize::Zeroizing::new(a.args[2].clone())
    };
    let value = parse_value(&text)?;
    change_file(
        global,
        PathBuf::from(&a.args[0]),
        a.input_type,
        a.output_type,
        &a.keys,
        a.ignore_mac,
        Change::Set(steps, value),
        a.idempotent,
    )
    .map(|_| ())
}

pub fn run_unset(global: &GlobalArgs, a: UnsetArgs) -> CliResult<()> {
    if a.args.len() != 2 {
        return Err(CliError::new(
            codes::NO_FILE,
            "Error: unset takes exactly 2 arguments: the file and the path",
        ));
    }
    let steps = treepath::parse(&a.args[1])
        .map_err(|e| set_format_error(&format!("Invalid unset index format: {e}")))?;
    if steps.is_empty() {
        return Err(set_format_error("Invalid unset index format: empty path"));
    }
    change_file(
        global,
        PathBuf::from(&a.args[0]),
        a.input_type,
        a.output_type,
        &a.keys,
        a.ignore_mac,
        Change::Unset(steps),
        a.idempotent,
    )
    .map(|_| ())
}
