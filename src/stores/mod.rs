//! File formats. Each store parses bytes into a [`Tree`] whose leaves remember their byte spans,
//! writes new leaf texts back into the original bytes ([`Store::splice`]), and can also emit a tree
//! from scratch the way sops lays it out ([`Store::emit`]).
//!
//! The `sops` metadata travels as a tree [`Value`] (a map), already unflattened for dotenv and INI.

pub mod binary;
pub mod gofmt;
pub mod dotenv;
pub mod ini;
pub mod json;
pub mod yaml;

use std::fmt;
use std::path::Path;

use crate::tree::{Scalar, Secret, Tree, Value};

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// Format from a `--input-type`/`--output-type` word; `None` for anything else (sops then
    /// falls back to the file name).
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// Format from a path's suffix, as sops detects it (case-sensitive; anything else is binary).
    pub fn from_path(path: &Path) -> Format {
        let name = path.to_string_lossy();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// Per-format output settings (`stores:` in `.sops.yaml`, or `--indent`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// YAML indent (spaces), or JSON indent (`-1` = tab). `None` = the format's default, or for a
    /// spliced file the indentation the file already uses.
    pub indent: Option<i64>,
}

/// A parse or write failure. `line` is 1-based where known. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub message: String,
    pub line: Option<usize>,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            line: None,
        }
    }

    pub fn at_line(message: impl Into<String>, line: usize) -> Self {
        StoreError {
            message: message.into(),
            line: Some(line),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError {
                line: Some(l),
                message,
            } => write!(f, "line {l}: {message}"),
            StoreError { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for StoreError {}

/// What to write in place of one leaf.
#[derive(Clone, Debug, PartialEq)]
pub enum NewLeaf {
    /// The leaf was encrypted: write this `ENC[...]` string (as a string value, or as the text of
    /// the comment when the leaf is a comment).
    Encrypted(String),
    /// The leaf was decrypted: its typed value, and the exact plaintext that was inside the
    /// ciphertext (`100.0`, `True`, or the string itself). A list element whose value is a
    /// [`Scalar::Comment`] came from sops's way of storing encrypted comments inside lists and is
    /// written back as a comment.
    Plain { value: Scalar, text: Secret },
}

/// Replacement texts, indexed by [`crate::tree::LeafId`]; `None` leaves the leaf as it is.
pub type Changes = [Option<NewLeaf>];

/// A parsed file.
pub struct Parsed {
    pub tree: Tree,
    /// The `sops` entry, if the file has one (removed from `tree`).
    pub metadata: Option<Value>,
    pub(crate) layout: Layout,
}

/// Store-specific memory of where things are in the source bytes.
pub(crate) enum Layout {
    Yaml(yaml::Layout),
    Json(json::Layout),
    Dotenv(dotenv::Layout),
    Ini(ini::Layout),
    Binary(binary::Layout),
}

/// One format, with its options.
#[derive(Clone, Copy, Debug)]
pub struct Store {
    pub format: Format,
    pub options: StoreOptions,
}

impl Store {
    pub fn new(format: Format, options: StoreOptions) -> Self {
        Store { format, options }
    }

    /// Parse a file (plaintext or encrypted).
    pub fn parse(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        match self.format {
            Format::Yaml => yaml::parse(src),
            Format::Json => json::parse(src),
            Format::Dotenv => dotenv::parse(src),
            Format::Ini => ini::parse(src),
            Format::Binary => binary::parse(src),
        }
    }

    /// Write `parsed`'s source bytes with `changes` applied. With `metadata`, the file gets that
    /// `sops` entry (replacing any it had; appended to every YAML document); without, any `sops`
    /// entry is removed. Must be called on a [`Parsed`] from the same format.
    pub fn splice(
        &self,
        parsed: &Parsed,
        changes: &Changes,
        metadata: Option<&Value>,
    ) -> Result<Vec<u8>, StoreError> {
        match &parsed.layout {
            Layout::Yaml(l) => yaml::splice(l, parsed, changes, metadata, &self.options),
            Layout::Json(l) => json::splice(l, parsed, changes, metadata, &self.options),
            Layout::Dotenv(l) => dotenv::splice(l, parsed, changes, metadata, &self.options),
            Layout::Ini(l) => ini::splice(l, parsed, changes, metadata, &self.options),
            Layout::Binary(l) => binary::splice(l, parsed, changes, metadata, &self.options),
        }
    }

    /// Emit a tree from scratch, laid out as sops lays it out (used when the output format differs
    /// from the input format, and for `--extract` of a map).
    pub fn emit(&self, tree: &Tree, metadata: Option<&Value>) -> Result<Vec<u8>, StoreError> {
        match self.format {
            Format::Yaml => yaml::emit(tree, metadata, &self.options),
            Format::Json => json::emit(tree, metadata, &self.options),
            Format::Dotenv => dotenv::emit(tree, metadata, &self.options),
            Format::Ini => ini::emit(tree, metadata, &self.options),
            Format::Binary => binary::emit(tree, metadata, &self.options),
        }
    }

    /// Emit a single value the way `sops decrypt --extract` prints a non-string value.
    pub fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        match self.format {
            Format::Yaml => yaml::emit_value(value, &self.options),
            Format::Json => json::emit_value(value, &self.options),
            Format::Dotenv => dotenv::emit_value(value, &self.options),
            Format::Ini => ini::emit_value(value, &self.options),
            Format::Binary => binary::emit_value(value, &self.options),
        }
    }
}

/// The tree with `changes` applied: encrypted leaves become their `ENC[...]` strings, decrypted
/// leaves their values (a list element that decrypts to a comment becomes a comment again).
pub fn apply_changes(tree: &Tree, changes: &Changes) -> Tree {
    use crate::tree::{Doc, Item, Leaf};

    fn leaf(l: &Leaf, changes: &Changes, comment: bool) -> Leaf {
        let mut out = l.clone();
        match changes.get(l.id) {
            Some(Some(NewLeaf::Encrypted(e))) => {
                out.value = if comment {
                    Scalar::Comment(crate::tree::secret(e.clone()))
                } else {
                    Scalar::Str(crate::tree::secret(e.clone()))
                };
                out.text = None;
            }
            Some(Some(NewLeaf::Plain { value, text })) => {
                out.value = value.clone();
                out.text = Some(text.clone());
            }
            _ => {}
        }
        out
    }
    fn value(v: &Value, changes: &Changes) -> Value {
        match v {
            Value::Leaf(l) => Value::Leaf(leaf(l, changes, false)),
            Value::Map(items) => Value::Map(items_of(items, changes)),
            Value::List(items) => Value::List(items_of(items, changes)),
        }
    }
    fn items_of(items: &[Item], changes: &Changes) -> Vec<Item> {
        items
            .iter()
            .map(|i| match i {
                Item::Comment(l) => Item::Comment(leaf(l, changes, true)),
                Item::Pair { key, value: v } => Item::Pair {
                    key: key.clone(),
                    value: value(v, changes),
                },
                Item::Elem(v) => match value(v, changes) {
                    Value::Leaf(
                        l @ Leaf {
                            value: Scalar::Comment(_),
                            ..
                        },
                    ) => Item::Comment(l),
                    other => Item::Elem(other),
                },
            })
            .collect()
    }
    Tree {
        docs: tree
            .docs
            .iter()
            .map(|d| Doc {
                items: items_of(&d.items, changes),
            })
            .collect(),
    }
}

impl Store {
    /// Write `parsed` (a plaintext file) changed into `tree` (the same tree with keys or values
    /// added, replaced or removed by `set`/`unset`). Stores that can edit their text in place do
    /// so; the others write the tree out as sops lays it out.
    pub fn edit(&self, parsed: &Parsed, tree: &Tree) -> Result<Vec<u8>, StoreError> {
        let _ = parsed;
        self.emit(tree, None)
    }
}
