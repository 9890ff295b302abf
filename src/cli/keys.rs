//! Key management: `rotate`, `updatekeys`, `groups add`, `groups delete`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::codes;
use super::common::{self, CliError, CliResult, Input};
use super::encrypt::{keys_from_flags, seal_metadata, KeyFlags};
use super::{DecryptKeyArgs, GlobalArgs, IoArgs};
use crate::crypto::cipher::DataKey;
use crate::keys::Keyring;
use crate::metadata::{KeyGroup, KeyKind, Metadata, StoredKey};
use crate::stores::{apply_changes, Parsed, Store};
use crate::walk::{encrypt_tree, Selection};

/// `--add-*` and `--rm-*` flags of `rotate`.
#[derive(Args, Debug, Clone, Default)]
pub struct RotateKeyFlags {
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Option<String>,
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Option<String>,
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub add_gcp_kms: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub rm_gcp_kms: Option<String>,
    #[arg(long, value_name = "URLS")]
    pub add_azure_kv: Option<String>,
    #[arg(long, value_name = "URLS")]
    pub rm_azure_kv: Option<String>,
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub add_hckms: Option<String>,
    #[arg(long, value_name = "IDS")]
    pub rm_hckms: Option<String>,
}

impl RotateKeyFlags {
    fn as_key_flags(&self, add: bool, extra: &KmsExtras) -> KeyFlags {
        let pick = |a: &Option<String>, r: &Option<String>| if add { a.clone() } else { r.clone() };
        KeyFlags {
            age: pick(&self.add_age, &self.rm_age),
            pgp: pick(&self.add_pgp, &self.rm_pgp),
            kms: pick(&self.add_kms, &self.rm_kms),
            gcp_kms: pick(&self.add_gcp_kms, &self.rm_gcp_kms),
            azure_kv: pick(&self.add_azure_kv, &self.rm_azure_kv),
            hc_vault_transit: pick(&self.add_hc_vault_transit, &self.rm_hc_vault_transit),
            hckms: pick(&self.add_hckms, &self.rm_hckms),
            aws_profile: extra.aws_profile.clone(),
            encryption_context: extra.encryption_context.clone(),
            shamir_secret_sharing_threshold: None,
        }
    }

    fn any(&self) -> bool {
        let none = KmsExtras::default();
        !keys_from_flags(&self.as_key_flags(true, &none))
            .unwrap_or_default()
            .is_empty()
            || !keys_from_flags(&self.as_key_flags(false, &none))
                .unwrap_or_default()
                .is_empty()
    }
}

/// KMS settings for keys added by `rotate`.
#[derive(Args, Debug, Clone, Default)]
pub struct KmsExtras {
    /// AWS profile for added KMS keys
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context for added KMS keys
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RotateArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
    #[command(flatten)]
    pub change: RotateKeyFlags,
    #[command(flatten)]
    pub kms: KmsExtras,
}

#[derive(Args, Debug, Clone)]
pub struct UpdateKeysArgs {
    /// Files to update
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Do not ask before changing a file
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Format of the files (default: from their names)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Shamir threshold to set
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum GroupsCommand {
    /// Add a key group to a file
    Add(Box<GroupsAddArgs>),
    /// Delete the key group at INDEX (0-based) from a file
    Delete(GroupsDeleteArgs),
}

#[derive(Args, Debug, Clone)]
pub struct GroupsAddArgs {
    /// The file to change
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// Write the result back to the file instead of standard output
    #[arg(short = 'i', long)]
    pub in_place: bool,
    #[command(flatten)]
    pub new_keys: KeyFlags,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct GroupsDeleteArgs {
    /// The file to change
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// Write the result back to the file instead of standard output
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Shamir threshold to set
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    /// The index of the group to delete
    pub index: usize,
    #[command(flatten)]
    pub keys: DecryptKeyArgs,
}

/// An encrypted file loaded with its store.
struct Loaded {
    input: Input,
    store: Store,
    parsed: Parsed,
    meta: Metadata,
}

fn load(global: &GlobalArgs, io: &IoArgs) -> CliResult<Loaded> {
    let input = common::read_input(io, false)?;
    let (format, _) = common::formats(io, &input);
    let config = common::load_config(global)?;
    let store = common::store(&config, global, format);
    let parsed = common::parse(&store, &input)?;
    let meta = Metadata::from_value(parsed.metadata.as_ref())
        .map_err(|e| CliError::new(codes::GENERIC, format!("{e} (in {})", input.display())))?;
    Ok(Loaded {
        input,
        store,
        parsed,
        meta,
    })
}

fn data_key(keys: &DecryptKeyArgs, meta: &Metadata) -> CliResult<DataKey> {
    common::keyring(keys)?
        .data_key(meta)
        .map_err(|e| CliError::new(e.exit_code(), e.to_string()))
}

/// Re-wrap `key` for `meta`'s groups (new `created_at` for keys that had none).
fn rewrap(meta: &mut Metadata, key: &DataKey, keyring: &Keyring) -> CliResult<()> {
    let now = common::now();
    let specs: Vec<KeyGroup> = meta
        .key_groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|k| {
                    let mut k = k.clone();
                    k.fields.remove("enc");
                    if k.kind != KeyKind::Age && !k.fields.contains_key("created_at") {
                        k.fields.insert("created_at".into(), now.clone());
                    }
                    k
                })
                .collect()
        })
        .collect();
    if meta.key_groups.len() > 1 && meta.shamir_threshold == 0 {
        meta.shamir_threshold = meta.key_groups.len();
    }
    meta.key_groups = keyring
        .wrap_data_key(key, &specs, meta.shamir_threshold)
        .map_err(|e| CliError::new(codes::GENERIC, e.0))?;
    Ok(())
}

fn emit_metadata_only(l: &Loaded) -> CliResult<Vec<u8>> {
    let changes = vec![None; crate::tree::leaf_count(&l.parsed.tree)];
    let out = l
        .store
        .splice(&l.parsed, &changes, Some(&l.meta.to_value()))
        .map_err(|e| CliError::new(codes::DUMP_TREE, format!("Could not marshal tree: {e}")))?;
    let allowed = crate::verify::Allowed::from_changes(&l.parsed.tree, &changes);
    common::verify_output(l.store.format, &out, &allowed, &l.input)?;
    Ok(out)
}

pub fn rotate(global: &GlobalArgs, args: RotateArgs) -> CliResult<()> {
    if let Some(f) = args.io.file.as_ref().filter(|f| !f.exists()) {
        if args.change.any() {
            return Err(CliError::new(
                codes::NON_EXISTENT_KEYS_FILE,
                format!(
                    "Error: cannot add or remove keys on non-existent file \"{}\", use the `encrypt` command instead",
                    crate::config::absolute(f).display()
                ),
            ));
        }
    }
    let mut l = load(global, &args.io).map_err(|e| {
        if e.code == codes::NO_FILE {
            CliError::new(
                codes::READ_INPUT,
                format!("Error reading file: {}", e.message),
            )
        } else {
            e
        }
    })?;
    let dec = common::decrypt_parsed(&l.parsed, &l.input, &args.keys, false)?;
    let mut meta = dec.metadata.clone();

    let add = keys_from_flags(&args.change.as_key_flags(true, &args.kms))?;
    let remove = keys_from_flags(&args.change.as_key_flags(false, &args.kms))?;
    if let Some(first) = meta.key_groups.first_mut() {
        first.extend(add);
        crate::config::dedup(first);
    }
    for group in &mut meta.key_groups {
        group.retain(|k| !remove.iter().any(|r| r.kind == k.kind && r.id() == k.id()));
    }

    let new_key = DataKey::generate();
    rewrap_all(&mut meta, &new_key, &common::keyring(&args.keys)?)?;
    let plain = apply_changes(&l.parsed.tree, &dec.changes);
    let mut stash = dec.stash;
    let selection = meta.selection.clone().unwrap_or(Selection::All);
    let result = encrypt_tree(
        &plain,
        &new_key,
        &selection,
        meta.mac_only_encrypted,
        &mut stash,
    )
    .map_err(|e| CliError::new(codes::ENCRYPT_TREE, format!("Error encrypting tree: {e}")))?;
    seal_metadata(&mut meta, &new_key, &result.mac)?;
    l.meta = meta;
    let out = l
        .store
        .splice(&l.parsed, &result.changes, Some(&l.meta.to_value()))
        .map_err(|e| CliError::new(codes::DUMP_TREE, format!("Could not marshal tree: {e}")))?;
    let allowed = crate::verify::Allowed::from_changes(&plain, &result.changes);
    common::verify_output(l.store.format, &out, &allowed, &l.input)?;
    common::write_output(&args.io, &l.input, &out)
}

/// Every key gets a fresh `enc` for the new data key.
fn rewrap_all(meta: &mut Metadata, key: &DataKey, keyring: &Keyring) -> CliResult<()> {
    for g in &mut meta.key_groups {
        for k in g.iter_mut() {
            k.fields.remove("enc");
        }
    }
    rewrap(meta, key, keyring)
}

fn describe(k: &StoredKey) -> String {
    k.id()
}

pub fn updatekeys(global: &GlobalArgs, args: UpdateKeysArgs) -> CliResult<()> {
    let config = common::load_config(global)?;
    for file in &args.files {
        let io = IoArgs {
            file: Some(file.clone()),
            input_type: args.input_type.clone(),
            ..IoArgs::default()
        };
        if file.is_dir() {
            return Err(CliError::new(
                codes::GENERIC,
                "can't operate on a directory",
            ));
        }
        let mut l = load(global, &io)?;
        let rule = config
            .rule_for(&crate::config::absolute(file))
            .map_err(|e| CliError::new(codes::GENERIC, e.0))?
            .ok_or_else(|| {
                CliError::new(
                    codes::GENERIC,
                    format!(
                        "The config file {} does not contain any creation rule",
                        config
                            .path
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| ".sops.yaml".into())
                    ),
                )
            })?;
        let ours = &l.meta.key_groups;
        let theirs = &rule.key_groups;
        let mut changed = false;
        let mut report = String::new();
        let old_t = l.meta.shamir_threshold;
        let new_t = args
            .shamir_secret_sharing_threshold
            .unwrap_or(old_t)
            .min(theirs.len());
        for i in 0..ours.len().max(theirs.len()) {
            let empty = Vec::new();
            let o = ours.get(i).unwrap_or(&empty);
            let t = theirs.get(i).unwrap_or(&empty);
            report.push_str(&format!("Group {}\n", i + 1));
            for k in t {
                if o.iter().any(|x| x.kind == k.kind && x.id() == k.id()) {
                    report.push_str(&format!("    {}\n", describe(k)));
                } else {
                    changed = true;
                    report.push_str(&format!("+++ {}\n", describe(k)));
                }
            }
            for k in o {
                if !t.iter().any(|x| x.kind == k.kind && x.id() == k.id()) {
                    changed = true;
                    report.push_str(&format!("--- {}\n", describe(k)));
                }
            }
        }
        if !changed && old_t == new_t {
            eprintln!("File {} already up to date", file.display());
            continue;
        }
        let mut shamir = String::new();
        if old_t > 0 && old_t == new_t {
            shamir.push_str(&format!("shamir_threshold: {new_t}\n"));
        } else {
            if new_t > 0 {
                shamir.push_str(&format!("+++ shamir_threshold: {new_t}\n"));
            }
            if old_t > 0 {
                shamir.push_str(&format!("--- shamir_threshold: {old_t}\n"));
            }
        }
        print!("The following changes will be made to the file's groups:\n{shamir}{report}");
        if !args.yes && !confirm()? {
            eprintln!("File {} left unchanged", file.display());
            continue;
        }
        let key = data_key(&args.keys, &l.meta)?;
        l.meta.key_groups = rule.key_groups.clone();
        l.meta.shamir_threshold = new_t;
        rewrap(&mut l.meta, &key, &common::keyring(&args.keys)?)?;
        let out = emit_metadata_only(&l)?;
        common::write_atomic(file, &out).map_err(|e| {
            CliError::new(
                codes::WRITE_OUTPUT,
                format!("could not write {}: {e}", file.display()),
            )
        })?;
        eprintln!("File {} synced with new keys", file.display());
    }
    Ok(())
}

fn confirm() -> CliResult<bool> {
    let stdin = std::io::stdin();
    loop {
        print!("Is this okay? (y/n):");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let n = stdin.lock().read_line(&mut line).map_err(|e| {
            CliError::new(codes::GENERIC, format!("could not read the answer: {e}"))
        })?;
        if n == 0 {
            return Err(CliError::new(
                codes::GENERIC,
                "no answer on standard input; pass -y to update without asking",
            ));
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

pub fn groups(global: &GlobalArgs, cmd: GroupsCommand) -> CliResult<()> {
    match cmd {
        GroupsCommand::Add(a) => {
            let a = *a;
            let io = IoArgs {
                file: Some(a.file.clone()),
                in_place: a.in_place,
                ..IoArgs::default()
            };
            let mut l = load(global, &io)?;
            let key = data_key(&a.keys, &l.meta)?;
            let group = keys_from_flags(&a.new_keys)?;
            l.meta.key_groups.push(group);
            if let Some(t) = a
                .new_keys
                .shamir_secret_sharing_threshold
                .filter(|t| *t > 0)
            {
                l.meta.shamir_threshold = t;
            }
            check_threshold(&l.meta)?;
            rewrap(&mut l.meta, &key, &common::keyring(&a.keys)?)?;
            let out = emit_metadata_only(&l)?;
            common::write_output(&io, &l.input, &out)
        }
        GroupsCommand::Delete(a) => {
            let io = IoArgs {
                file: Some(a.file.clone()),
                in_place: a.in_place,
                ..IoArgs::default()
            };
            let mut l = load(global, &io)?;
            let key = data_key(&a.keys, &l.meta)?;
            if a.index >= l.meta.key_groups.len() {
                return Err(CliError::new(
                    codes::GENERIC,
                    format!(
                        "the file has {} key groups; there is no group {}",
                        l.meta.key_groups.len(),
                        a.index
                    ),
                ));
            }
            l.meta.key_groups.remove(a.index);
            if let Some(t) = a.shamir_secret_sharing_threshold.filter(|t| *t > 0) {
                l.meta.shamir_threshold = t;
            }
            check_threshold(&l.meta)?;
            rewrap(&mut l.meta, &key, &common::keyring(&a.keys)?)?;
            let out = emit_metadata_only(&l)?;
            common::write_output(&io, &l.input, &out)
        }
    }
}

fn check_threshold(meta: &Metadata) -> CliResult<()> {
    if meta.key_groups.len() < meta.shamir_threshold {
        return Err(CliError::new(
            codes::GENERIC,
            format!(
                "Shamir threshold is {}, but we only have {} key groups",
                meta.shamir_threshold,
                meta.key_groups.len()
            ),
        ));
    }
    Ok(())
}
