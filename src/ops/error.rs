//! What an operation can fail with, one variant per failure, and the exit code sops uses for it.
//! The code is a property of the variant, never of the message text; messages name the file and
//! say what to do, and never contain a value, a comment or key material.

use crate::config::ConfigError;
use crate::crypto::cipher::CipherError;
use crate::keys::{DecryptionOrderError, KeyError, RecoveryError};
use crate::metadata::MetadataError;
use crate::metadata::SelectionError;
use crate::stores::StoreError;
use crate::treepath::PathError;
use crate::verify::Unaccounted;
use crate::walk::WalkError;

/// Exit codes, as sops uses them.
pub mod codes {
    pub const GENERIC: u8 = 1;
    pub const READ_INPUT: u8 = 2;
    pub const WRITE_OUTPUT: u8 = 3;
    pub const DUMP_TREE: u8 = 4;
    pub const INVALID_KMS_CONTEXT: u8 = 6;
    pub const INVALID_SET_FORMAT: u8 = 7;
    pub const CONFLICTING_PARAMETERS: u8 = 8;
    pub const ENCRYPT_MAC: u8 = 21;
    pub const ENCRYPT_TREE: u8 = 23;
    pub const DECRYPT_TREE: u8 = 25;
    pub const NON_EXISTENT_KEYS_FILE: u8 = 49;
    pub const MAC_MISMATCH: u8 = 51;
    pub const INVALID_TREE_PATH: u8 = 91;
    pub const NEED_A_DOCUMENT: u8 = 92;
    pub const NO_FILE: u8 = 100;
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: u8 = 112;
    pub const NO_KEY: u8 = 128;
    pub const FILE_NOT_CHANGED: u8 = 200;
    pub const NO_EDITOR: u8 = 201;
    pub const ALREADY_ENCRYPTED: u8 = 203;
}

const ALREADY_ENCRYPTED: &str =
    "The file you have provided contains a top-level entry called 'sops', or for flat\n\
file formats top-level entries starting with 'sops_'. This is generally due to\n\
the file already being encrypted. SOPS uses a top-level entry called 'sops' to\n\
store the metadata required to decrypt the file. For this reason, SOPS can not\n\
encrypt files that already contain such an entry.\n\n\
If this is an unencrypted file, rename the 'sops' entry.\n\n\
If this is an encrypted file and you want to edit it, use the editor mode, for\n\
example: `sops edit my_file.yaml`";

/// A failed operation. `file` fields hold the file as it is named in messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The file does not parse (exit 2; 1 when it was to be decrypted, as sops).
    #[error("Error unmarshalling file {file} as {format}: {source}")]
    Parse {
        file: String,
        format: &'static str,
        source: StoreError,
        encrypted: bool,
    },
    #[error("{source} (in {file})")]
    Metadata { file: String, source: MetadataError },
    #[error("invalid sops metadata in the buffer: {0}")]
    EditedMetadata(MetadataError),
    /// A rops file without a selection option (rops then encrypts everything) holds a value that
    /// sops's default selection, which sepal writes when it rewrites the file, leaves in clear.
    #[error("{file} was written by rops, which encrypted the value at {path}; sepal writes the file back in sops's format, whose default (unencrypted_suffix \"_unencrypted\") would leave that value in clear, so it is not rewritten. Rename the key, or decrypt the file and encrypt it again with the selection option you want")]
    RopsSelection { file: String, path: String },
    #[error("{0}")]
    DataKey(#[from] RecoveryError),
    #[error("{0}")]
    DecryptionOrder(#[from] DecryptionOrderError),
    /// A key source could not wrap the data key, or a key service could not be reached.
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("Error decrypting tree of {file}: {source}")]
    DecryptTree { file: String, source: WalkError },
    #[error("Error encrypting tree of {file}: {source}")]
    EncryptTree { file: String, source: WalkError },
    #[error("Could not encrypt MAC: {0}")]
    EncryptMac(CipherError),
    #[error("parsing time {value:?} as \"2006-01-02T15:04:05Z07:00\": the lastmodified field of {file} is not an RFC 3339 time")]
    LastModified { file: String, value: String },
    #[error("MAC mismatch: the file {file} has no MAC; it is incomplete or was edited by hand. Use --ignore-mac only if you trust it.")]
    MacMissing { file: String },
    #[error("Cannot decrypt MAC of {file}: the MAC or lastmodified field was changed, or the file was tampered with")]
    MacUndecryptable { file: String },
    #[error("MAC mismatch: the values of {file} were changed after encryption (values added, removed, reordered or replaced). Use --ignore-mac only if you trust the change.")]
    MacMismatch { file: String },
    /// Laying out the output failed (`decrypt`, `encrypt`, the edit buffer).
    #[error("Error dumping file: {0}")]
    Dump(StoreError),
    /// Laying out the re-encrypted file failed (`set`, `edit`, key commands).
    #[error("Could not marshal tree: {0}")]
    Marshal(StoreError),
    /// The encrypted output failed the accounted-for check ([`crate::verify`]).
    #[error("Refusing to write the encrypted form of {file}: {source}. Nothing was written. This is a bug in sepal's {format} store: please report it with the file's structure (never its values)")]
    Unaccounted {
        file: String,
        format: &'static str,
        source: Unaccounted,
    },
    #[error("{ALREADY_ENCRYPTED}")]
    AlreadyEncrypted,
    #[error("File cannot be completely empty, it must contain at least one document")]
    EmptyFile,
    #[error("Could not generate data key: [empty key group provided]")]
    EmptyKeyGroup,
    #[error("config file not found, or has no creation rules, and no keys provided through command line options")]
    NoKeys,
    #[error("Could not generate data key: shamir threshold {threshold} is not possible with {groups} key groups (it must be between 2 and the number of groups)")]
    ImpossibleThreshold { threshold: usize, groups: usize },
    #[error("Error: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file")]
    ConflictingSelection,
    #[error("{0}")]
    Selection(#[from] SelectionError),
    #[error("error parsing --extract path: {0}")]
    ExtractPath(PathError),
    #[error("error truncating tree: {0}")]
    Extract(PathError),
    #[error("Value for --set is not valid JSON")]
    SetValue,
    #[error("Invalid --set value format")]
    SetArray,
    #[error("Invalid {command} index format: {source}")]
    SetPath {
        command: &'static str,
        source: PathError,
    },
    #[error("{0}")]
    Unset(PathError),
    #[error(
        "the change would create a top-level 'sops' entry, which is reserved for the metadata"
    )]
    ReservedKey,
    #[error("The config file {config} does not contain any creation rule")]
    NoCreationRule { config: String },
    #[error("the file has {groups} key groups; there is no group {index}")]
    NoSuchGroup { groups: usize, index: usize },
    #[error("Shamir threshold is {threshold}, but we only have {groups} key groups")]
    ThresholdTooHigh { threshold: usize, groups: usize },
    #[error("Error: cannot add or remove keys on non-existent file \"{file}\", use the `encrypt` command instead")]
    RotateMissingFile { file: String },
    #[error("cannot use complex value in environment; offending key {key}")]
    ComplexEnvValue { key: String },
    #[error("cannot use keys with '=' in environment: {key}")]
    EnvKeyWithEquals { key: String },
    #[error("Error unmarshalling file {file}: {source}")]
    Status { file: String, source: StoreError },
    #[error(transparent)]
    GitSetup(#[from] super::gitsetup::GitSetupError),
    /// `sepal merge` could not read one side; git leaves the file conflicted, ours' version in
    /// place. The exit code is the inner failure's.
    #[error("cannot merge {file} (nothing was written: git leaves the file conflicted, our version in place): could not read {side}: {source}")]
    MergeSide {
        file: String,
        side: &'static str,
        source: Box<Error>,
    },
    #[error("cannot merge {file}: {side} has no sops metadata (it is not encrypted); merge it by hand, then encrypt it")]
    MergeNotEncrypted { file: String, side: &'static str },
    #[error("cannot merge {file}: {side} has {count} YAML documents and sepal merges files of one document; merge it by hand with `sepal edit {file}`")]
    MergeDocuments {
        file: String,
        side: &'static str,
        count: usize,
    },
    #[error("cannot merge {file}: {side} still has unresolved merge conflicts; resolve them with `sepal edit {file}` and commit first")]
    MergeUnresolved { file: String, side: &'static str },
    #[error("cannot merge {file}: the merged conflict record could not be encrypted")]
    MergeRecord { file: String },
}

impl Error {
    /// The process exit code for this failure (sops's code where sops has one).
    pub fn exit_code(&self) -> u8 {
        use codes::*;
        match self {
            Error::Parse {
                encrypted: false, ..
            } => READ_INPUT,
            Error::DataKey(e) => match e {
                RecoveryError::NoKey(_) => NO_KEY,
                RecoveryError::KeySize(_) => DECRYPT_TREE,
            },
            Error::DecryptionOrder(DecryptionOrderError::Duplicate(_)) => {
                DUPLICATE_DECRYPTION_KEY_TYPE
            }
            Error::DecryptTree { .. } => DECRYPT_TREE,
            Error::EncryptTree { .. } | Error::Unaccounted { .. } => ENCRYPT_TREE,
            Error::EncryptMac(_) => ENCRYPT_MAC,
            Error::MacMissing { .. }
            | Error::MacUndecryptable { .. }
            | Error::MacMismatch { .. } => MAC_MISMATCH,
            Error::Dump(_) | Error::Marshal(_) => DUMP_TREE,
            Error::AlreadyEncrypted => ALREADY_ENCRYPTED,
            Error::EmptyFile => NEED_A_DOCUMENT,
            Error::ConflictingSelection => CONFLICTING_PARAMETERS,
            Error::Config(ConfigError::KmsContext) => INVALID_KMS_CONTEXT,
            Error::ExtractPath(_) => INVALID_TREE_PATH,
            Error::GitSetup(_) => GENERIC,
            Error::SetValue | Error::SetArray | Error::SetPath { .. } => INVALID_SET_FORMAT,
            Error::RotateMissingFile { .. } => NON_EXISTENT_KEYS_FILE,
            Error::Config(_)
            | Error::Parse { .. }
            | Error::Metadata { .. }
            | Error::EditedMetadata(_)
            | Error::RopsSelection { .. }
            | Error::DecryptionOrder(_)
            | Error::Key(_)
            | Error::LastModified { .. }
            | Error::EmptyKeyGroup
            | Error::NoKeys
            | Error::ImpossibleThreshold { .. }
            | Error::Selection(_)
            | Error::Extract(_)
            | Error::Unset(_)
            | Error::ReservedKey
            | Error::NoCreationRule { .. }
            | Error::NoSuchGroup { .. }
            | Error::ThresholdTooHigh { .. }
            | Error::ComplexEnvValue { .. }
            | Error::EnvKeyWithEquals { .. }
            | Error::Status { .. }
            | Error::MergeNotEncrypted { .. }
            | Error::MergeDocuments { .. }
            | Error::MergeUnresolved { .. }
            | Error::MergeRecord { .. } => GENERIC,
            Error::MergeSide { source, .. } => source.exit_code().max(GENERIC),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_variant() {
        let walk = || WalkError::Encrypt { path: "a".into() };
        assert_eq!(Error::AlreadyEncrypted.exit_code(), 203);
        assert_eq!(
            Error::MacMismatch { file: "f".into() }.exit_code(),
            codes::MAC_MISMATCH
        );
        assert_eq!(
            Error::EncryptTree {
                file: "f".into(),
                source: walk()
            }
            .exit_code(),
            23
        );
        assert_eq!(
            Error::DecryptionOrder(DecryptionOrderError::Duplicate("age".into())).exit_code(),
            112
        );
        assert_eq!(
            Error::DecryptionOrder(DecryptionOrderError::Unknown("x".into())).exit_code(),
            1
        );
        let parse = |encrypted| Error::Parse {
            file: "f".into(),
            format: "json",
            source: StoreError::new("bad"),
            encrypted,
        };
        assert_eq!(parse(false).exit_code(), 2);
        assert_eq!(parse(true).exit_code(), 1);
    }

    #[test]
    fn messages_never_carry_the_mac() {
        let e = Error::MacMismatch {
            file: "secrets.yaml".into(),
        };
        let text = e.to_string();
        assert!(text.contains("secrets.yaml"));
        assert!(!text.contains("computed"));
    }
}
