//! The engine: one function per operation (`encrypt`, `decrypt`, `set`, `rotate`, ...), over typed
//! options and bytes, returning typed results and [`Error`]s. Every rule of the product lives here
//! once: flags merged with `.sops.yaml`, key specs, MAC sealing and checking, and re-encryption
//! that keeps unchanged values' ciphertext. The command line only parses flags into these options,
//! reads and writes files, and maps an [`Error`] to its exit code; nothing here knows about clap.

pub mod batch;
pub mod bulk;
pub mod check;
pub mod decrypt;
pub mod early;
pub mod edit;
pub mod encrypt;
mod error;
pub mod exec;
pub mod files;
mod free;
pub mod gitsetup;
pub mod keys;
pub mod layout_record;
pub mod merge;
mod open;
mod record_diff;
mod seal;
pub mod set;
pub mod settings;
mod shape;
pub mod status;
pub mod textconv;

use crate::filebytes::FileBytes;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::keys::{parse_decryption_order, Keyring, RemoteKeyService};
use crate::stores::{Format, Store};

pub use error::{codes, Error, Result};
pub use free::{on_freed_pages, FreedPages};
pub use open::{
    decrypt_parsed, open, parse, parse_and_decrypt, parse_kept, plaintext, DecryptOptions,
    Decrypted, Opened,
};
pub use seal::{now, reencrypt, reformat_time, seal_metadata, Output, Plain};

/// What every operation shares: the `.sops.yaml` in force and the global options.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub config: Config,
    /// `--indent`: overrides the configuration's store settings.
    pub indent: Option<i64>,
    /// `--mac-only-encrypted`.
    pub mac_only_encrypted: bool,
}

impl Engine {
    /// Load `.sops.yaml` (`explicit`, or the first one found from the working folder upward).
    pub fn load(
        explicit: Option<&Path>,
        indent: Option<i64>,
        mac_only_encrypted: bool,
    ) -> Result<Self> {
        Ok(Engine {
            config: Config::load(explicit)?,
            indent,
            mac_only_encrypted,
        })
    }

    /// A store for `format` with the configuration's settings and `--indent`.
    pub fn store(&self, format: Format) -> Store {
        let mut options = self.config.store_options(format);
        if self.indent.is_some() {
            options.indent = self.indent;
        }
        Store::new(format, options)
    }
}

/// A file's bytes and how it is named.
pub struct Source {
    /// The file, or `None` for standard input (for messages).
    pub path: Option<PathBuf>,
    /// The name used for format detection and creation-rule matching (`--filename-override`).
    pub name: Option<PathBuf>,
    pub bytes: FileBytes,
}

impl Source {
    /// How to name the source in messages.
    pub fn display(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "standard input".into(),
        }
    }

    /// The input and output formats: the explicit ones, else from the name; a nameless source
    /// is binary, and its output format follows an explicit input format.
    pub fn formats(&self, input: Option<Format>, output: Option<Format>) -> (Format, Format) {
        let detected = self
            .name
            .as_deref()
            .map(|n| Format::of_file(n, &self.bytes))
            .unwrap_or(Format::Binary);
        let inp = input.unwrap_or(detected);
        let out = output.unwrap_or(match input {
            Some(f) if self.name.is_none() => f,
            _ => detected,
        });
        (inp, out)
    }
}

/// How to reach the master keys: `--decryption-order`, `--keyservice`, local keys.
#[derive(Debug, Clone)]
pub struct KeyAccess {
    pub decryption_order: Option<String>,
    /// Key service URIs (`tcp://host:port`, `unix:///path`).
    pub keyservices: Vec<String>,
    /// Whether the keys on this machine are used.
    pub local: bool,
}

impl Default for KeyAccess {
    fn default() -> Self {
        KeyAccess {
            decryption_order: None,
            keyservices: Vec::new(),
            local: true,
        }
    }
}

impl KeyAccess {
    /// The key sources, with the decryption order and key services.
    pub fn keyring(&self) -> Result<Keyring> {
        let mut k = Keyring::default();
        if let Some(order) = self.decryption_order.as_deref().filter(|o| !o.is_empty()) {
            k.decryption_order = parse_decryption_order(order)?;
        }
        k.local = self.local;
        for uri in &self.keyservices {
            k.remotes.push(connect_keyservice(uri)?);
        }
        Ok(k)
    }
}

/// A client for the key service at `uri`. It connects on first use.
fn connect_keyservice(uri: &str) -> Result<Box<dyn RemoteKeyService>> {
    crate::keys::backend::current()
        .key_service(uri)
        .map_err(Error::Key)
}
