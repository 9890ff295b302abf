//! `sepal encrypt`.

use clap::Args;

use super::codes;
use super::common::{self, CliError, CliResult, Input};
use super::{GlobalArgs, IoArgs};
use crate::config::{azure_key, dedup, kms_key, vault_key, Config};
use crate::crypto::cipher::{self, DataKey};
use crate::keys::Keyring;
use crate::metadata::{KeyGroup, KeyKind, Metadata, StoredKey, SOPS_VERSION};
use crate::stores::{apply_changes, Format, Parsed};
use crate::walk::{encrypt_tree, Selection, Stash};

/// Flags naming master keys for a new file (each also read from its environment variable).
#[derive(Args, Debug, Clone, Default)]
pub struct KeyFlags {
    /// age recipients, comma separated
    #[arg(
        short = 'a',
        long,
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    /// PGP fingerprints, comma separated
    #[arg(short = 'p', long, env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs (ARN or ARN+roleARN), comma separated
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// GCP KMS resource IDs, comma separated
    #[arg(long, env = "SOPS_GCP_KMS_IDS", value_name = "IDS")]
    pub gcp_kms: Option<String>,
    /// Azure Key Vault key URLs, comma separated
    #[arg(long, env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    pub azure_kv: Option<String>,
    /// HashiCorp Vault transit URIs, comma separated
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,
    /// HuaweiCloud KMS key IDs (region:uuid), comma separated
    #[arg(long, env = "SOPS_HUAWEICLOUD_KMS_IDS", value_name = "IDS")]
    pub hckms: Option<String>,
    /// AWS profile for new KMS keys
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context, e.g. key1:value1,key2:value2
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Number of key groups needed to decrypt
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

/// Flags choosing which values are encrypted.
#[derive(Args, Debug, Clone, Default)]
pub struct SelectionFlags {
    /// Leave values whose key ends with this suffix in clear
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key ends with this suffix
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values whose key matches this regex in clear
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values whose key matches this regex
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values under a comment matching this regex in clear
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values under a comment matching this regex
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub selection: SelectionFlags,
    #[command(flatten)]
    pub services: super::DecryptKeyArgs,
}

fn items(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Parse `k1:v1,k2:v2` (exit 6 when malformed).
pub fn parse_context(s: &str) -> CliResult<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let parts: Vec<&str> = pair.split(':').collect();
        if parts.len() != 2 {
            return Err(CliError::new(
                codes::INVALID_KMS_CONTEXT,
                "Invalid KMS encryption context format",
            ));
        }
        out.insert(parts[0].to_string(), parts[1].to_string());
    }
    Ok(out)
}

/// Master keys named on the command line, as one group (empty when none were given).
pub fn keys_from_flags(f: &KeyFlags) -> CliResult<KeyGroup> {
    let cfg = |e: crate::config::ConfigError| CliError::new(codes::GENERIC, e.0);
    let context = match &f.encryption_context {
        Some(c) => parse_context(c)?,
        None => Default::default(),
    };
    let mut g: KeyGroup = Vec::new();
    for arn in items(&f.kms) {
        let mut k = kms_key(&arn, f.aws_profile.as_deref().unwrap_or(""));
        k.context = context.clone();
        g.push(k);
    }
    for id in items(&f.gcp_kms) {
        let mut k = StoredKey::new(KeyKind::GcpKms);
        k.fields.insert("resource_id".into(), id.replace(' ', ""));
        g.push(k);
    }
    for id in items(&f.hckms) {
        let mut k = StoredKey::new(KeyKind::Hckms);
        k.fields.insert("key_id".into(), id);
        g.push(k);
    }
    for url in items(&f.azure_kv) {
        g.push(azure_key(&url).map_err(cfg)?);
    }
    for fp in items(&f.pgp) {
        let mut k = StoredKey::new(KeyKind::Pgp);
        k.fields.insert("fp".into(), fp.replace(' ', ""));
        g.push(k);
    }
    for uri in items(&f.hc_vault_transit) {
        g.push(vault_key(&uri).map_err(cfg)?);
    }
    for r in items(&f.age) {
        let mut k = StoredKey::new(KeyKind::Age);
        k.fields.insert("recipient".into(), r);
        g.push(k);
    }
    dedup(&mut g);
    Ok(g)
}

/// What a new file gets: key groups, threshold, selection option and MAC mode.
pub struct NewFileSettings {
    pub key_groups: Vec<KeyGroup>,
    pub threshold: usize,
    pub selection: Selection,
    pub mac_only_encrypted: bool,
}

/// Combine flags and the matching creation rule as sops does.
pub fn new_file_settings(
    global: &GlobalArgs,
    config: &Config,
    name: Option<&std::path::Path>,
    keys: &KeyFlags,
    sel: &SelectionFlags,
    format: Format,
) -> CliResult<NewFileSettings> {
    let rule = match name {
        Some(n) => config
            .rule_for(n)
            .map_err(|e| CliError::new(codes::GENERIC, e.0))?,
        None => None,
    };
    let flag_group = keys_from_flags(keys)?;
    let (key_groups, rule_threshold) = if !flag_group.is_empty() {
        (vec![flag_group], 0)
    } else {
        match &rule {
            Some(r) if r.key_groups.is_empty() || r.key_groups.iter().any(|g| g.is_empty()) => {
                return Err(CliError::new(
                    codes::GENERIC,
                    "Could not generate data key: [empty key group provided]",
                ))
            }
            Some(r) => (r.key_groups.clone(), r.shamir_threshold),
            _ => {
                return Err(CliError::new(
                    codes::GENERIC,
                    "config file not found, or has no creation rules, and no keys provided through command line options",
                ))
            }
        }
    };
    let threshold = keys
        .shamir_secret_sharing_threshold
        .unwrap_or(rule_threshold);
    let threshold = if key_groups.len() > 1 && threshold == 0 {
        key_groups.len()
    } else {
        threshold
    };
    if key_groups.len() > 1 && (threshold < 2 || threshold > key_groups.len()) {
        return Err(CliError::new(
            codes::GENERIC,
            format!(
                "Could not generate data key: shamir threshold {threshold} is not possible with {} key groups (it must be between 2 and the number of groups)",
                key_groups.len()
            ),
        ));
    }

    // Selection options: each flag wins over the rule's value of the same option.
    let flags = [
        ("unencrypted_suffix", &sel.unencrypted_suffix),
        ("encrypted_suffix", &sel.encrypted_suffix),
        ("unencrypted_regex", &sel.unencrypted_regex),
        ("encrypted_regex", &sel.encrypted_regex),
        ("unencrypted_comment_regex", &sel.unencrypted_comment_regex),
        ("encrypted_comment_regex", &sel.encrypted_comment_regex),
    ];
    let mut chosen: Vec<(String, String)> = Vec::new();
    for (name, v) in flags {
        let value = v.clone().filter(|v| !v.is_empty()).or_else(|| {
            rule.as_ref().and_then(|r| {
                r.selection
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
        });
        if let Some(v) = value {
            chosen.push((name.to_string(), v));
        }
    }
    if chosen.len() > 1 {
        return Err(CliError::new(
            codes::CONFLICTING_PARAMETERS,
            "Error: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file",
        ));
    }
    let selection = if format == Format::Binary {
        Selection::All
    } else {
        match chosen.first() {
            Some((n, v)) => {
                Selection::from_field(n, v).map_err(|e| CliError::new(codes::GENERIC, e))?
            }
            None => Selection::default(),
        }
    };
    let threshold = if key_groups.len() > 1 { threshold } else { 0 };
    Ok(NewFileSettings {
        key_groups,
        threshold,
        selection,
        mac_only_encrypted: global.mac_only_encrypted
            || rule.as_ref().is_some_and(|r| r.mac_only_encrypted),
    })
}

/// Stamp `lastmodified` and encrypt the MAC under it.
pub fn seal_metadata(meta: &mut Metadata, key: &DataKey, mac: &str) -> CliResult<()> {
    meta.last_modified = common::now();
    let enc = cipher::encrypt(key, mac.as_bytes(), "str", &meta.last_modified, None)
        .map_err(|e| CliError::new(codes::ENCRYPT_MAC, format!("Could not encrypt MAC: {e}")))?;
    meta.mac = enc.to_string();
    Ok(())
}

pub fn run(global: &GlobalArgs, args: EncryptArgs) -> CliResult<()> {
    let mut input = common::read_input(&args.io, true)?;
    let (in_format, out_format) = common::formats(&args.io, &input);
    let config = common::load_config(global)?;
    let in_store = common::store(&config, global, in_format);
    let out_store = common::store(&config, global, out_format);
    let mut parsed = common::parse_taking(&in_store, &mut input)?;
    refuse_encrypted(&parsed)?;
    if parsed.tree.docs.is_empty() {
        return Err(CliError::new(
            codes::NEED_A_DOCUMENT,
            "File cannot be completely empty, it must contain at least one document",
        ));
    }
    let settings = new_file_settings(
        global,
        &config,
        input.name.as_deref(),
        &args.keys,
        &args.selection,
        in_format,
    )?;
    let keyring = common::keyring(&args.services)?;
    let out = encrypt_new(
        &mut parsed,
        &input,
        settings,
        &keyring,
        &in_store,
        &out_store,
    )?;
    common::write_output(&args.io, &input, &out)
}

/// Refuse a file that already has sops metadata (exit 203).
pub fn refuse_encrypted(parsed: &Parsed) -> CliResult<()> {
    if parsed.metadata.is_some() {
        return Err(CliError::new(
            codes::ALREADY_ENCRYPTED,
            "The file you have provided contains a top-level entry called 'sops', or for flat\n\
             file formats top-level entries starting with 'sops_'. This is generally due to\n\
             the file already being encrypted. SOPS uses a top-level entry called 'sops' to\n\
             store the metadata required to decrypt the file. For this reason, SOPS can not\n\
             encrypt files that already contain such an entry.\n\n\
             If this is an unencrypted file, rename the 'sops' entry.\n\n\
             If this is an encrypted file and you want to edit it, use the editor mode, for\n\
             example: `sops edit my_file.yaml`",
        ));
    }
    Ok(())
}

/// Encrypt a parsed plaintext file with a new data key; returns the output bytes.
pub fn encrypt_new(
    parsed: &mut Parsed,
    input: &Input,
    settings: NewFileSettings,
    keyring: &Keyring,
    in_store: &crate::stores::Store,
    out_store: &crate::stores::Store,
) -> CliResult<Vec<u8>> {
    let data_key = DataKey::generate();
    let now = common::now();
    let specs: Vec<KeyGroup> = settings
        .key_groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|k| {
                    let mut k = k.clone();
                    if k.kind != KeyKind::Age {
                        k.fields.insert("created_at".into(), now.clone());
                    }
                    k
                })
                .collect()
        })
        .collect();
    let key_groups = keyring
        .wrap_data_key(&data_key, &specs, settings.threshold)
        .map_err(|e| CliError::new(codes::GENERIC, e.0))?;
    let result = encrypt_tree(
        &parsed.tree,
        &data_key,
        &settings.selection,
        settings.mac_only_encrypted,
        &mut Stash::default(),
    )
    .map_err(|e| {
        CliError::new(
            codes::ENCRYPT_TREE,
            format!("Error encrypting tree of {}: {e}", input.display()),
        )
    })?;
    let mut meta = Metadata {
        key_groups,
        shamir_threshold: settings.threshold,
        last_modified: String::new(),
        mac: String::new(),
        selection: match settings.selection {
            Selection::All => None,
            s => Some(s),
        },
        mac_only_encrypted: settings.mac_only_encrypted,
        version: SOPS_VERSION.to_string(),
    };
    seal_metadata(&mut meta, &data_key, &result.mac)?;
    let meta_value = meta.to_value();
    let dump = |e: crate::stores::StoreError| {
        CliError::new(codes::DUMP_TREE, format!("Error dumping file: {e}"))
    };
    let allowed = crate::verify::Allowed::from_changes(&parsed.tree, &result.changes);
    let out = if in_store.format == out_store.format {
        parsed.release_tree_before_splice();
        in_store
            .splice(parsed, &result.changes, Some(&meta_value))
            .map_err(dump)?
    } else {
        let tree = apply_changes(&parsed.tree, &result.changes);
        out_store.emit(&tree, Some(&meta_value)).map_err(dump)?
    };
    common::verify_output(out_store.format, &out, &allowed, input)?;
    Ok(out)
}
