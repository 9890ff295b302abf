//! The formats sops knows: how a command's flags and a file's name choose one, and the one
//! dispatch from a format to its store.

use std::path::Path;

use super::{binary, dotenv, ini, json, toml, yaml, FormatStore};

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Toml,
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
            "toml" => Format::Toml,
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
        } else if name.ends_with(".toml") {
            Format::Toml
        } else {
            Format::Binary
        }
    }

    /// [`Format::from_path`], except that a `.toml` file sops encrypted is binary: sops has no
    /// TOML store, and its binary envelope is JSON, which no TOML document can be (a TOML file
    /// never starts with `{`).
    pub fn of_file(path: &Path, bytes: &[u8]) -> Format {
        match Format::from_path(path) {
            Format::Toml if bytes.trim_ascii_start().starts_with(b"{") => Format::Binary,
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Toml => "toml",
            Format::Binary => "binary",
        }
    }
}

impl Format {
    /// The one dispatch from a format to its store.
    pub fn store(self) -> &'static dyn FormatStore {
        match self {
            Format::Yaml => &yaml::YamlStore,
            Format::Json => &json::JsonStore,
            Format::Dotenv => &dotenv::DotenvStore,
            Format::Ini => &ini::IniStore,
            Format::Toml => &toml::TomlStore,
            Format::Binary => &binary::BinaryStore,
        }
    }
}
