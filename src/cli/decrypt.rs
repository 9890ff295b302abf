//! `sepal decrypt`.

use clap::Args;

use super::codes;
use super::common::{self, CliError, CliResult};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::stores::apply_changes;
use crate::tree::{Scalar, Value};
use crate::treepath;

#[derive(Args, Debug, Clone)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
    /// Print only the value at this path, e.g. '["db"]["password"]'
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Do not check the MAC
    #[arg(long)]
    pub ignore_mac: bool,
}

pub fn run(global: &GlobalArgs, args: DecryptArgs) -> CliResult<()> {
    let steps = match &args.extract {
        Some(p) => Some(treepath::parse(p).map_err(|e| {
            CliError::new(
                codes::INVALID_TREE_PATH,
                format!("error parsing --extract path: {e}"),
            )
        })?),
        None => None,
    };
    let mut input = common::read_input(&args.io, false)?;
    let (in_format, out_format) = common::formats(&args.io, &input);
    let config = common::load_config(global)?;
    let in_store = common::store(&config, global, in_format);
    let out_store = common::store(&config, global, out_format);
    // sops exits 1 when the file it is asked to decrypt does not parse.
    let parsed = common::parse_taking(&in_store, &mut input).map_err(|e| CliError {
        code: codes::GENERIC,
        ..e
    })?;
    let dec = common::decrypt_for_output(&parsed, &input, &args.keys, args.ignore_mac)?;

    let out = if let Some(steps) = steps {
        let tree = apply_changes(&parsed.tree, &dec.changes);
        let doc = tree.docs.first().map(|d| d.items.as_slice()).unwrap_or(&[]);
        let value = treepath::lookup(doc, &steps)
            .map_err(|e| CliError::new(codes::GENERIC, format!("error truncating tree: {e}")))?;
        match &value {
            Value::Leaf(l) => match &l.value {
                Scalar::Str(s) => s.as_bytes().to_vec(),
                Scalar::Bytes(b) => b.to_vec(),
                _ => emit_value(&out_store, &value)?,
            },
            Value::Map(items) => out_store
                .emit(
                    &crate::tree::Tree {
                        docs: vec![crate::tree::Doc {
                            items: items.clone(),
                        }],
                    },
                    None,
                )
                .map_err(dump_error)?,
            Value::List(_) => emit_value(&out_store, &value)?,
        }
    } else if out_format == in_format && global.indent.is_none() {
        // The file's own layout, byte for byte; `--indent` asks for sops's layout instead.
        in_store
            .splice_plain(&parsed, &dec.changes, None)
            .map_err(dump_error)?
    } else {
        let tree = apply_changes(&parsed.tree, &dec.changes);
        out_store.emit(&tree, None).map_err(dump_error)?
    };
    let out = zeroize::Zeroizing::new(out);
    common::write_output(&args.io, &input, &out)
}

fn emit_value(store: &crate::stores::Store, v: &Value) -> CliResult<Vec<u8>> {
    store.emit_value(v).map_err(dump_error)
}

fn dump_error(e: crate::stores::StoreError) -> CliError {
    CliError::new(codes::DUMP_TREE, format!("Error dumping file: {e}"))
}
