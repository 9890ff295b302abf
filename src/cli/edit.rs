//! `sepal edit` (also `sepal FILE`): decrypt into a private temporary file, run the editor,
//! re-encrypt what comes back. Unchanged values keep their exact ciphertext.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Args;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::codes;
use super::common::{self, CliError, CliResult};
use super::encrypt::{encrypt_new, new_file_settings, seal_metadata, KeyFlags, SelectionFlags};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::metadata::Metadata;
use crate::stores::{Format, Store};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value};
use crate::walk::{encrypt_tree, Selection};

#[derive(Args, Debug, Clone)]
pub struct EditArgs {
    /// The file to edit (created when missing)
    pub file: PathBuf,
    /// Show the sops metadata in the editor buffer
    #[arg(short = 's', long)]
    pub show_master_keys: bool,
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
    pub keys: KeyFlags,
    #[command(flatten)]
    pub selection: SelectionFlags,
    #[command(flatten)]
    pub decrypt_keys: DecryptKeyArgs,
}

/// The temporary folder of the running edit, removed by the signal handler too.
static TEMP_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Remove the edit's temporary folder when the process is interrupted or terminated.
fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            if let Ok(mut guard) = TEMP_DIR.lock() {
                if let Some(dir) = guard.take() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            eprintln!("User canceled operation");
            std::process::exit(i32::from(codes::GENERIC));
        }
    });
}

/// A private folder for the plaintext: on a RAM-backed file system when there is one.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        bases.push(PathBuf::from(t));
    } else {
        if let Some(r) = std::env::var_os("XDG_RUNTIME_DIR").filter(|t| !t.is_empty()) {
            bases.push(PathBuf::from(r));
        }
        bases.push(PathBuf::from("/dev/shm"));
    }
    bases.push(std::env::temp_dir());
    let mut last = None;
    for b in bases {
        if !b.is_dir() {
            continue;
        }
        match super::write::private_tempdir_builder("sepal-edit-").tempdir_in(&b) {
            Ok(d) => return Ok(d),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary folder is writable")))
}

/// The editor command: `SOPS_EDITOR`, then `EDITOR` (split like a shell), then vim, nano, vi.
fn editor_command() -> CliResult<Vec<String>> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
            let words = shell_words::split(&v).map_err(|e| {
                CliError::new(
                    codes::NO_EDITOR,
                    format!("Could not run editor: {var}: {e}"),
                )
            })?;
            if !words.is_empty() {
                return Ok(words);
            }
        }
    }
    for name in ["vim", "nano", "vi"] {
        if find_in_path(name) {
            return Ok(vec![name.to_string()]);
        }
    }
    Err(CliError::new(
        codes::NO_EDITOR,
        "Could not run editor: no editor found: set SOPS_EDITOR or EDITOR",
    ))
}

fn find_in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

fn run_editor(path: &Path) -> CliResult<()> {
    let cmd = editor_command()?;
    let (prog, args) = cmd
        .split_first()
        .ok_or_else(|| CliError::new(codes::NO_EDITOR, "Could not run editor: empty command"))?;
    let status = std::process::Command::new(prog)
        .args(args)
        .arg(path)
        .status()
        .map_err(|e| {
            CliError::new(
                codes::NO_EDITOR,
                format!("Could not run editor {prog:?}: {e}"),
            )
        })?;
    if !status.success() {
        return Err(CliError::new(
            codes::NO_EDITOR,
            format!("Could not run editor: {prog} exited with {status}"),
        ));
    }
    Ok(())
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The buffer a new file starts with, per format (as sops shows it).
fn example(format: Format, store: &Store) -> CliResult<Zeroizing<Vec<u8>>> {
    let s = |v: &str| Value::Leaf(Leaf::new(0, Scalar::Str(secret(v))));
    let c = |v: &str| Item::Comment(Leaf::new(0, Scalar::Comment(secret(v))));
    let welcome = "Welcome to SOPS! Edit this file as you please!";
    let items = match format {
        Format::Binary => return Ok(Zeroizing::new(welcome.as_bytes().to_vec())),
        Format::Yaml | Format::Json => vec![
            Item::pair("hello", s(welcome)),
            Item::pair("example_key", s("example_value")),
            c(" Example comment"),
            Item::pair(
                "example_array",
                Value::List(vec![
                    Item::Elem(s("example_value1")),
                    Item::Elem(s("example_value2")),
                ]),
            ),
            Item::pair(
                "example_number",
                Value::Leaf(Leaf::new(0, Scalar::Float(1234.56789))),
            ),
            Item::pair(
                "example_booleans",
                Value::List(vec![
                    Item::Elem(Value::Leaf(Leaf::new(0, Scalar::Bool(true)))),
                    Item::Elem(Value::Leaf(Leaf::new(0, Scalar::Bool(false)))),
                ]),
            ),
        ],
        Format::Ini => vec![Item::pair(
            "Welcome!",
            Value::Map(vec![
                c(" This is an example file."),
                Item::pair("hello", s(welcome)),
                Item::pair("example_key", s("example_value")),
            ]),
        )],
        Format::Dotenv => vec![
            c(" This is an example file."),
            Item::pair("hello", s(welcome)),
            Item::pair("example_key", s("example_value")),
            Item::pair("example_multiline", s("foo\nbar\nbaz")),
        ],
    };
    let tree = Tree {
        docs: vec![Doc { items }],
    };
    store
        .emit(&tree, None)
        .map(Zeroizing::new)
        .map_err(|e| CliError::new(codes::DUMP_TREE, format!("Error dumping file: {e}")))
}

pub fn run(global: &GlobalArgs, args: EditArgs) -> CliResult<()> {
    let io = IoArgs {
        file: Some(args.file.clone()),
        input_type: args.input_type.clone(),
        output_type: args.output_type.clone(),
        ..IoArgs::default()
    };
    let config = common::load_config(global)?;
    let format = args
        .input_type
        .as_deref()
        .and_then(Format::from_name)
        .unwrap_or_else(|| Format::from_path(&args.file));
    let store = common::store(&config, global, format);

    // What the editor starts with, and how to turn its result back into an encrypted file.
    let existing = args.file.exists();
    let (buffer, mut state) = if existing {
        let input = common::read_input(&io, false)?;
        let parsed = common::parse(&store, &input)?;
        let dec = common::decrypt_parsed(&parsed, &input, &args.decrypt_keys, args.ignore_mac)?;
        let meta_value = args.show_master_keys.then(|| dec.metadata.to_value());
        let plain = store
            .splice_plain(&parsed, &dec.changes, meta_value.as_ref())
            .map_err(|e| CliError::new(codes::DUMP_TREE, format!("Error dumping file: {e}")))?;
        (Zeroizing::new(plain), Some(dec))
    } else {
        (example(format, &store)?, None)
    };
    // A new file's keys and options are checked before the editor opens, so a missing key or
    // rule is reported before the user types anything.
    let mut new_settings = if existing {
        None
    } else {
        Some(new_file_settings(
            global,
            &config,
            Some(&args.file),
            &args.keys,
            &args.selection,
            format,
        )?)
    };

    install_signal_cleanup();
    let dir = private_dir().map_err(|e| {
        CliError::new(
            codes::WRITE_OUTPUT,
            format!("Could not create temporary folder: {e}"),
        )
    })?;
    if let Ok(mut g) = TEMP_DIR.lock() {
        *g = Some(dir.path().to_path_buf());
    }
    let name = args
        .file
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tmp-file"));
    let tmp = dir.path().join(name);
    common::write_new_private(&tmp, &buffer).map_err(|e| {
        CliError::new(
            codes::WRITE_OUTPUT,
            format!("Could not write temporary file: {e}"),
        )
    })?;
    let before = sha(&buffer);
    let result = edit_loop(&tmp, &store, before, args.show_master_keys);
    let result = result.and_then(|edited| {
        let edited = match edited {
            Some(e) => e,
            None => {
                return Err(CliError::new(
                    codes::FILE_NOT_CHANGED,
                    "File has not changed, exiting.",
                ))
            }
        };
        let (mut parsed, bytes) = edited;
        let out = match state.as_mut() {
            Some(dec) => {
                let mut meta = if args.show_master_keys {
                    Metadata::from_value(parsed.metadata.as_ref()).map_err(|e| {
                        CliError::new(
                            codes::GENERIC,
                            format!("invalid sops metadata in the buffer: {e}"),
                        )
                    })?
                } else {
                    dec.metadata.clone()
                };
                if version_older(&meta.version, crate::metadata::SOPS_VERSION) {
                    meta.version = crate::metadata::SOPS_VERSION.to_string();
                }
                let selection = meta.selection.clone().unwrap_or(Selection::All);
                let r = encrypt_tree(
                    &parsed.tree,
                    &dec.data_key,
                    &selection,
                    meta.mac_only_encrypted,
                    &mut dec.stash,
                )
                .map_err(|e| {
                    CliError::new(codes::ENCRYPT_TREE, format!("Error encrypting tree: {e}"))
                })?;
                seal_metadata(&mut meta, &dec.data_key, &r.mac)?;
                let out = store
                    .splice(&parsed, &r.changes, Some(&meta.to_value()))
                    .map_err(|e| {
                        CliError::new(codes::DUMP_TREE, format!("Could not marshal tree: {e}"))
                    })?;
                let allowed = crate::verify::Allowed::from_changes(&parsed.tree, &r.changes);
                let named = common::Input {
                    path: Some(args.file.clone()),
                    name: Some(args.file.clone()),
                    bytes: Default::default(),
                };
                common::verify_output(store.format, &out, &allowed, &named)?;
                out
            }
            None => {
                let input = common::Input {
                    path: Some(args.file.clone()),
                    name: Some(args.file.clone()),
                    bytes: bytes.clone(),
                };
                let settings = new_settings.take().ok_or_else(|| {
                    CliError::new(
                        codes::GENERIC,
                        "internal error: no settings for the new file",
                    )
                })?;
                let keyring = common::keyring(&args.decrypt_keys)?;
                encrypt_new(&mut parsed, &input, settings, &keyring, &store, &store)?
            }
        };
        common::write_atomic(&args.file, &out).map_err(|e| {
            CliError::new(
                codes::WRITE_OUTPUT,
                format!("Could not write {}: {e}", args.file.display()),
            )
        })
    });
    if let Ok(mut g) = TEMP_DIR.lock() {
        *g = None;
    }
    let _ = dir.close();
    result
}

/// Run the editor until the buffer parses (or is unchanged: `None`). When standard input is not a
/// terminal, a buffer that does not parse is an error instead of a new round in the editor.
fn edit_loop(
    tmp: &Path,
    store: &Store,
    before: [u8; 32],
    show_master_keys: bool,
) -> CliResult<Option<(crate::stores::Parsed, Zeroizing<Vec<u8>>)>> {
    loop {
        run_editor(tmp)?;
        let bytes = Zeroizing::new(std::fs::read(tmp).map_err(|e| {
            CliError::new(
                codes::READ_INPUT,
                format!("Could not read the edited file: {e}"),
            )
        })?);
        if sha(&bytes) == before {
            return Ok(None);
        }
        let problem = match store.parse(&bytes) {
            Err(e) => Some(format!("Could not load tree, probably due to invalid syntax: {e}")),
            Ok(p) if p.metadata.is_some() && !show_master_keys => Some(
                "The edited file contains a top-level entry called 'sops'; rename it, or use --show-master-keys to edit the metadata".to_string(),
            ),
            Ok(p) if p.tree.docs.is_empty() => Some(
                "File cannot be completely empty, it must contain at least one document".to_string(),
            ),
            Ok(p) => {
                return Ok(Some((p, bytes)));
            }
        };
        let problem = problem.unwrap_or_default();
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(codes::READ_INPUT, problem));
        }
        eprintln!("{problem}");
        eprintln!("Press enter to return to the editor, or Ctrl+C to exit.");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
}

/// Whether dotted version `a` is older than `b`.
fn version_older(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}
