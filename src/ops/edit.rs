//! `edit`, the engine's half: the plaintext buffer the editor starts with (the decrypted file, or
//! an example for a new one), the check of what comes back, and its encryption. Running the
//! editor and the private temporary file belong to the command line.

use std::path::Path;

use crate::metadata::SOPS_VERSION;
use crate::stores::{Format, Parsed, Store};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value, NO_LEAF};
use crate::wipe::Wiped;

use super::encrypt::encrypt_new;
use super::settings::{new_file_settings, KeyOptions, NewFileSettings, SelectionOptions};
use super::{
    decrypt_parsed, open, plaintext, reencrypt, DecryptOptions, Decrypted, Engine, Error,
    KeyAccess, Output, Plain, Result, Source,
};

/// What `edit` is asked.
#[derive(Debug, Clone, Default)]
pub struct EditOptions {
    pub input: Option<Format>,
    /// Show (and accept changes to) the metadata in the buffer.
    pub show_master_keys: bool,
    pub ignore_mac: bool,
    /// Keys and selection for a new file.
    pub keys: KeyOptions,
    pub selection: SelectionOptions,
    pub access: KeyAccess,
}

/// An edit in progress.
pub struct Editing {
    store: Store,
    file: String,
    show_master_keys: bool,
    access: KeyAccess,
    state: State,
    /// The file had a merge conflict record: the buffer shows conflict markers.
    conflicted: bool,
}

enum State {
    Existing(Box<Decrypted>),
    New(NewFileSettings),
}

/// Why an edited buffer cannot be encrypted; the user may fix it in the editor.
#[derive(Debug, thiserror::Error)]
pub enum BufferProblem {
    #[error("Could not load tree, probably due to invalid syntax: {0}")]
    Syntax(crate::stores::StoreError),
    #[error("The edited file contains a top-level entry called 'sops'; rename it, or use --show-master-keys to edit the metadata")]
    Metadata,
    #[error("File cannot be completely empty, it must contain at least one document")]
    Empty,
    #[error("The file still has merge conflict markers: in each block between '<<<<<<< ours' and '>>>>>>> theirs', keep the lines you want (ours above '=======', theirs below) and delete the three marker lines")]
    ConflictMarkers,
}

/// Start editing `path`: `existing` holds its bytes when it exists. Returns the edit and the
/// buffer for the editor. A new file's keys and options are checked here, before the editor
/// opens, so a missing key or rule is reported before the user types anything.
pub fn begin(
    engine: &Engine,
    path: &Path,
    existing: Option<Source>,
    options: &EditOptions,
) -> Result<(Editing, Wiped<Vec<u8>>)> {
    let format = options.input.unwrap_or_else(|| Format::from_path(path));
    let store = engine.store(format);
    let mut conflicted = false;
    let (buffer, state) = match existing {
        Some(source) => {
            let parsed = open::parse_kept(&store, &source, false)?;
            let dec = decrypt_parsed(
                &parsed,
                &source.display(),
                &options.access,
                DecryptOptions {
                    ignore_mac: options.ignore_mac,
                    for_reencryption: true,
                    changed_values_unread: false,
                },
            )?;
            let meta_value = options.show_master_keys.then(|| dec.metadata.to_value());
            let mut plain = plaintext(&store, &parsed, &dec, meta_value.as_ref())?;
            // A merge left conflicts: the buffer shows them between conflict markers.
            if let (Some(record), false) = (&dec.metadata.conflict_record, options.show_master_keys)
            {
                plain = super::merge::markers::buffer(&store, &plain, record, &dec.data_key)?;
                conflicted = true;
            }
            (plain, State::Existing(Box::new(dec)))
        }
        None => {
            let buffer = example(format, &store)?;
            let settings = new_file_settings(
                engine,
                Some(path),
                &options.keys,
                &options.selection,
                format,
            )?;
            (buffer, State::New(settings))
        }
    };
    let editing = Editing {
        store,
        file: path.display().to_string(),
        show_master_keys: options.show_master_keys,
        access: options.access.clone(),
        state,
        conflicted,
    };
    Ok((editing, buffer))
}

impl Editing {
    /// Parse the edited buffer, or say what is wrong with it.
    pub fn check(&self, bytes: &[u8]) -> std::result::Result<Parsed, BufferProblem> {
        if self.conflicted && super::merge::markers::has_markers(bytes) {
            return Err(BufferProblem::ConflictMarkers);
        }
        match self.store.parse(bytes) {
            Err(e) => Err(BufferProblem::Syntax(e)),
            Ok(p) if p.metadata.is_some() && !self.show_master_keys => Err(BufferProblem::Metadata),
            Ok(p) if p.tree.docs.is_empty() => Err(BufferProblem::Empty),
            Ok(p) => Ok(p),
        }
    }

    /// Encrypt the edited buffer; returns the new file. Unchanged values keep their ciphertext.
    pub fn finish(self, mut parsed: Parsed) -> Result<Vec<u8>> {
        let output = Output {
            store: &self.store,
            out_store: &self.store,
            file: &self.file,
            new_file: false,
            early: None,
        };
        match self.state {
            State::Existing(dec) => {
                let mut dec = *dec;
                let mut meta = if self.show_master_keys {
                    super::open::metadata_of(&parsed).map_err(Error::EditedMetadata)?
                } else {
                    let mut meta = dec.metadata.clone();
                    // Saving the buffer resolves the conflicts it showed.
                    meta.conflict_record = None;
                    meta
                };
                if version_older(&meta.version, SOPS_VERSION) {
                    meta.version = SOPS_VERSION.to_string();
                }
                reencrypt(
                    &mut parsed,
                    Plain::Parsed,
                    &dec.data_key,
                    &mut meta,
                    &mut dec.stash,
                    output,
                )
            }
            State::New(settings) => {
                let keyring = self.access.keyring()?;
                encrypt_new(
                    &mut parsed,
                    settings,
                    &keyring,
                    &self.store,
                    &self.store,
                    &self.file,
                    None,
                )
            }
        }
    }
}

/// The buffer a new file starts with, per format (as sops shows it).
fn example(format: Format, store: &Store) -> Result<Wiped<Vec<u8>>> {
    let s = |v: &str| Value::Leaf(Leaf::new(NO_LEAF, Scalar::Str(secret(v))));
    let scalar = |v: Scalar| Value::Leaf(Leaf::new(NO_LEAF, v));
    let c = |v: &str| Item::Comment(Leaf::new(NO_LEAF, Scalar::Comment(secret(v))));
    let welcome = "Welcome to SOPS! Edit this file as you please!";
    let items = match format {
        Format::Binary => return Ok(Wiped::new(welcome.as_bytes().to_vec())),
        Format::Yaml | Format::Json | Format::Toml => vec![
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
            Item::pair("example_number", scalar(Scalar::Float(1234.56789))),
            Item::pair(
                "example_booleans",
                Value::List(vec![
                    Item::Elem(scalar(Scalar::Bool(true))),
                    Item::Elem(scalar(Scalar::Bool(false))),
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
    store.emit(&tree, None).map(Wiped::new).map_err(Error::Dump)
}

/// Whether dotted version `a` is older than `b`.
fn version_older(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}
