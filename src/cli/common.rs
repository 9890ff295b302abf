//! What the commands share: reading input, choosing stores, loading the data key, decrypting a
//! file, and writing results atomically.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::codes;
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::config::{absolute, Config};
use crate::crypto::cipher::{self, DataKey, EncryptedValue};
use crate::crypto::gotext::format_go_time;
use crate::keys::{parse_decryption_order, Keyring};
use crate::metadata::Metadata;
use crate::stores::{Format, NewLeaf, Parsed, Store, StoreOptions};
use crate::walk::{decrypt_tree, Stash};

/// A failed command: what to print on stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// The input of a command: where it came from and its bytes.
pub struct Input {
    /// The file, or `None` for standard input.
    pub path: Option<PathBuf>,
    /// The name used for format detection and rule matching.
    pub name: Option<PathBuf>,
    pub bytes: Zeroizing<Vec<u8>>,
}

impl Input {
    /// How to name the input in messages.
    pub fn display(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "standard input".into(),
        }
    }
}

/// Check the output flags and read the input (a file, or stdin when no file is named).
pub fn read_input(io: &IoArgs, stdin_needs_name: bool) -> CliResult<Input> {
    if io.in_place && io.output.is_some() {
        return Err(CliError::new(
            codes::CONFLICTING_PARAMETERS,
            "Error: cannot operate on both --output and --in-place",
        ));
    }
    let path = io.file.clone().filter(|p| p.as_os_str() != "-");
    match path {
        None => {
            if io.in_place {
                return Err(CliError::new(
                    codes::CONFLICTING_PARAMETERS,
                    "Error: cannot use --in-place when reading from stdin",
                ));
            }
            if stdin_needs_name && io.filename_override.is_none() && io.input_type.is_none() {
                return Err(CliError::new(
                    codes::CONFLICTING_PARAMETERS,
                    "Error: must specify --filename-override when reading from stdin",
                ));
            }
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                CliError::new(codes::READ_INPUT, format!("Error reading from stdin: {e}"))
            })?;
            Ok(Input {
                path: None,
                name: io.filename_override.clone(),
                bytes: buf,
            })
        }
        Some(p) => {
            if !p.exists() {
                return Err(CliError::new(
                    codes::NO_FILE,
                    format!(
                        "Error: cannot operate on non-existent file \"{}\"",
                        absolute(&p).display()
                    ),
                ));
            }
            let bytes = std::fs::read(&p).map_err(|e| {
                CliError::new(
                    codes::READ_INPUT,
                    format!("Error reading file {}: {e}", p.display()),
                )
            })?;
            Ok(Input {
                name: Some(io.filename_override.clone().unwrap_or_else(|| p.clone())),
                path: Some(p),
                bytes: Zeroizing::new(bytes),
            })
        }
    }
}

/// The input and output formats: `--input-type`/`--output-type`, else from the (overridden) name;
/// stdin without a name is binary.
pub fn formats(io: &IoArgs, input: &Input) -> (Format, Format) {
    let detected = input
        .name
        .as_deref()
        .map(Format::from_path)
        .unwrap_or(Format::Binary);
    let inp = io
        .input_type
        .as_deref()
        .and_then(Format::from_name)
        .unwrap_or(detected);
    let out = io
        .output_type
        .as_deref()
        .and_then(Format::from_name)
        .unwrap_or(match io.input_type.as_deref().and_then(Format::from_name) {
            Some(f) if input.name.is_none() => f,
            _ => detected,
        });
    (inp, out)
}

/// Load `.sops.yaml` (exit 1 on a broken one).
pub fn load_config(global: &GlobalArgs) -> CliResult<Config> {
    Config::load(global.config.as_deref()).map_err(|e| CliError::new(codes::GENERIC, e.0))
}

/// A store for `format` with the config's settings and `--indent`.
pub fn store(config: &Config, global: &GlobalArgs, format: Format) -> Store {
    let mut options: StoreOptions = config.store_options(format);
    if global.indent.is_some() {
        options.indent = global.indent;
    }
    Store::new(format, options)
}

/// Parse a file with a store; parse errors are exit 2 and name the file and line.
pub fn parse(store: &Store, input: &Input) -> CliResult<Parsed> {
    store.parse(&input.bytes).map_err(|e| {
        CliError::new(
            codes::READ_INPUT,
            format!(
                "Error unmarshalling file {} as {}: {e}",
                input.display(),
                store.format.name()
            ),
        )
    })
}

/// [`parse`] handing the input's bytes to the store (they are gone from `input` afterwards): for
/// commands that do not need them again, so a large file is held once, not twice.
pub fn parse_taking(store: &Store, input: &mut Input) -> CliResult<Parsed> {
    let bytes = std::mem::take(&mut input.bytes);
    store.parse_owned(bytes).map_err(|e| {
        CliError::new(
            codes::READ_INPUT,
            format!(
                "Error unmarshalling file {} as {}: {e}",
                input.display(),
                store.format.name()
            ),
        )
    })
}

/// The key sources, with `--decryption-order`.
pub fn keyring(args: &DecryptKeyArgs) -> CliResult<Keyring> {
    let mut k = Keyring::default();
    if let Some(order) = args.decryption_order.as_deref().filter(|o| !o.is_empty()) {
        k.decryption_order = parse_decryption_order(order).map_err(|e| {
            let code = if e.starts_with("Duplicate") {
                codes::DUPLICATE_DECRYPTION_KEY_TYPE
            } else {
                codes::GENERIC
            };
            CliError::new(code, e)
        })?;
    }
    k.local = args.enable_local_keyservice;
    for uri in &args.keyservice {
        k.remotes.push(connect_keyservice(uri)?);
    }
    Ok(k)
}

/// A client for the key service at `uri` (`tcp://host:port` or `unix:///path`). It connects on
/// first use.
#[cfg(feature = "keyservice")]
fn connect_keyservice(uri: &str) -> CliResult<Box<dyn crate::keys::RemoteKeyService>> {
    crate::keyservice::Client::new(uri)
        .map(|c| Box::new(c) as Box<dyn crate::keys::RemoteKeyService>)
        .map_err(|e| CliError::new(codes::GENERIC, e))
}

#[cfg(not(feature = "keyservice"))]
fn connect_keyservice(uri: &str) -> CliResult<Box<dyn crate::keys::RemoteKeyService>> {
    Err(CliError::new(
        codes::GENERIC,
        format!("cannot use the key service {uri}: this build of sepal has no key service support (cargo feature `keyservice`)"),
    ))
}

/// A decrypted file.
pub struct Decrypted {
    pub metadata: Metadata,
    pub data_key: DataKey,
    pub changes: Vec<Option<NewLeaf>>,
    pub stash: Stash,
}

/// Decrypt a parsed file: metadata, data key, every value, and the MAC check.
pub fn decrypt_parsed(
    parsed: &Parsed,
    input: &Input,
    keys: &DecryptKeyArgs,
    ignore_mac: bool,
) -> CliResult<Decrypted> {
    decrypt_parsed_with(parsed, input, keys, ignore_mac, Stash::default())
}

/// [`decrypt_parsed`] for output only: no values are kept for re-encryption.
pub fn decrypt_for_output(
    parsed: &Parsed,
    input: &Input,
    keys: &DecryptKeyArgs,
    ignore_mac: bool,
) -> CliResult<Decrypted> {
    decrypt_parsed_with(parsed, input, keys, ignore_mac, Stash::off())
}

fn decrypt_parsed_with(
    parsed: &Parsed,
    input: &Input,
    keys: &DecryptKeyArgs,
    ignore_mac: bool,
    mut stash: Stash,
) -> CliResult<Decrypted> {
    let metadata = Metadata::from_value(parsed.metadata.as_ref())
        .map_err(|e| CliError::new(codes::GENERIC, format!("{e} (in {})", input.display())))?;
    let keyring = keyring(keys)?;
    let data_key = keyring
        .data_key(&metadata)
        .map_err(|e| CliError::new(e.exit_code(), e.to_string()))?;
    let selection = metadata.selection.clone().unwrap_or_default();
    let result = decrypt_tree(
        &parsed.tree,
        &data_key,
        &selection,
        metadata.mac_only_encrypted,
        &mut stash,
    )
    .map_err(|e| {
        CliError::new(
            codes::DECRYPT_TREE,
            format!("Error decrypting tree of {}: {e}", input.display()),
        )
    })?;
    if !ignore_mac {
        check_mac(&metadata, &data_key, &result.mac, input)?;
    }
    Ok(Decrypted {
        metadata,
        data_key,
        changes: result.changes,
        stash,
    })
}

/// Check an encrypted output before it is written ([`crate::verify`]): every value in it is
/// encrypted or one that `allowed` leaves in clear. Exit 23 otherwise; nothing is written.
pub fn verify_output(
    format: Format,
    out: &[u8],
    allowed: &crate::verify::Allowed,
    input: &Input,
) -> CliResult<()> {
    crate::verify::check_output(format, out, allowed).map_err(|e| {
        CliError::new(
            codes::ENCRYPT_TREE,
            format!(
                "Refusing to write the encrypted form of {}: {e}. Nothing was written. This is a bug in sepal's {} store: please report it with the file's structure (never its values)",
                input.display(),
                format.name()
            ),
        )
    })
}

/// Decrypt the stored MAC and compare it with the computed one (exit 51 on any mismatch). Neither
/// MAC is ever printed: each is an unsalted hash of the plaintext values, which a log would keep
/// for an offline guess of a low-entropy secret.
fn check_mac(meta: &Metadata, key: &DataKey, computed: &str, input: &Input) -> CliResult<()> {
    let mismatch = |msg: String| CliError::new(codes::MAC_MISMATCH, msg);
    let aad = reformat_time(&meta.last_modified).ok_or_else(|| {
        CliError::new(
            codes::GENERIC,
            format!(
                "parsing time {:?} as \"2006-01-02T15:04:05Z07:00\": the lastmodified field of {} is not an RFC 3339 time",
                meta.last_modified,
                input.display()
            ),
        )
    })?;
    if meta.mac.is_empty() {
        return Err(mismatch(format!(
            "MAC mismatch: the file {} has no MAC; it is incomplete or was edited by hand. Use --ignore-mac only if you trust it.",
            input.display()
        )));
    }
    let stored = EncryptedValue::parse(&meta.mac)
        .ok()
        .and_then(|v| cipher::decrypt(key, &v, &aad).ok())
        .ok_or_else(|| {
            mismatch(format!(
                "Cannot decrypt MAC of {}: the MAC or lastmodified field was changed, or the file was tampered with",
                input.display()
            ))
        })?;
    let stored = String::from_utf8_lossy(&stored).into_owned();
    if stored != computed {
        return Err(mismatch(format!(
            "MAC mismatch: the values of {} were changed after encryption (values added, removed, reordered or replaced). Use --ignore-mac only if you trust the change.",
            input.display()
        )));
    }
    Ok(())
}

/// `lastmodified` re-formatted as Go's RFC 3339 (no fraction, offset kept): the MAC's AAD.
pub fn reformat_time(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let t = t.replace_nanosecond(0).ok()?;
    Some(format_go_time(t))
}

/// Now, UTC, second precision, RFC 3339.
pub fn now() -> String {
    let t = OffsetDateTime::now_utc();
    format_go_time(t.replace_nanosecond(0).unwrap_or(t))
}

/// Write to standard output; a closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            codes::WRITE_OUTPUT,
            format!("Could not write output: {e}"),
        )),
    }
}

/// Where a command's result goes.
pub fn write_output(io: &IoArgs, input: &Input, bytes: &[u8]) -> CliResult<()> {
    let target = if io.in_place {
        input.path.clone()
    } else {
        io.output.clone()
    };
    match target {
        None => write_stdout(bytes),
        Some(path) => write_atomic(&path, bytes).map_err(|e| {
            CliError::new(
                codes::WRITE_OUTPUT,
                format!("Could not write {}: {e}", path.display()),
            )
        }),
    }
}

/// Create a new file readable only by its owner (0600 on Unix) holding `bytes`; fails if the file
/// exists. For plaintext (edit buffers, `exec-file`) and key files.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Replace a file with new bytes, atomically where possible: see [`super::write`].
pub use super::write::write_atomic;
