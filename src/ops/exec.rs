//! The decrypted values `exec-env` and `exec-file` hand to a command: top-level values as
//! environment variables, or the whole plaintext file. Running the command is the CLI's job.

use crate::gotext::scalar_text;
use crate::stores::{apply_changes, Format, Parsed, Store};
use crate::tree::{Item, Value};
use crate::wipe::Wiped;

use super::{
    parse_and_decrypt, DecryptOptions, Decrypted, Engine, Error, KeyAccess, Result, Source,
};

/// Which file and how to decrypt it.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub input: Option<Format>,
    /// The format of the decrypted file (`exec-file`).
    pub output: Option<Format>,
    pub ignore_mac: bool,
    pub access: KeyAccess,
}

impl ExecOptions {
    /// Parse and decrypt the file (for output only: no values kept for re-encryption).
    fn open(&self, store: &Store, source: &mut Source) -> Result<(Parsed, Decrypted)> {
        let options = DecryptOptions {
            ignore_mac: self.ignore_mac,
            for_reencryption: false,
            changed_values_unread: false,
        };
        parse_and_decrypt(store, source, false, &self.access, options)
    }
}

/// A variable for the command's environment; the value is a secret.
pub struct EnvVar {
    pub name: String,
    pub value: Wiped<String>,
}

/// The top-level values of `source` as environment variables (`<nil>` for a null, as sops).
pub fn environment(
    engine: &Engine,
    source: &mut Source,
    options: &ExecOptions,
) -> Result<Vec<EnvVar>> {
    let (format, _) = source.formats(options.input, None);
    let (parsed, dec) = options.open(&engine.store(format), source)?;
    let tree = apply_changes(&parsed.tree, &dec.changes);
    let mut env = Vec::new();
    for item in tree.docs.first().map(|d| d.items.as_slice()).unwrap_or(&[]) {
        let Item::Pair { key, value } = item else {
            continue;
        };
        let Value::Leaf(leaf) = value else {
            return Err(Error::ComplexEnvValue { key: key.clone() });
        };
        if key.contains('=') {
            return Err(Error::EnvKeyWithEquals { key: key.clone() });
        }
        env.push(EnvVar {
            name: key.clone(),
            value: Wiped::new(scalar_text(&leaf.value).unwrap_or_else(|| "<nil>".into())),
        });
    }
    Ok(env)
}

/// The decrypted file, in the output format (the input's layout when the formats are the same).
pub fn plaintext(
    engine: &Engine,
    source: &mut Source,
    options: &ExecOptions,
) -> Result<Wiped<Vec<u8>>> {
    let (in_format, out_format) = source.formats(options.input, options.output);
    let in_store = engine.store(in_format);
    let (parsed, dec) = options.open(&in_store, source)?;
    if in_format == out_format {
        return super::plaintext(&in_store, &parsed, &dec, None);
    }
    engine
        .store(out_format)
        .emit(&apply_changes(&parsed.tree, &dec.changes), None)
        .map(Wiped::new)
        .map_err(Error::Dump)
}
