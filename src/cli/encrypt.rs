//! `sepal encrypt`.

use std::sync::Arc;

use clap::Args;

use super::common::{self, CliResult};
use super::{GlobalArgs, IoArgs};
use crate::ops::early::EarlyOutput;
use crate::ops::encrypt::{encrypt, EncryptOptions};

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

pub fn run(global: &GlobalArgs, args: EncryptArgs) -> CliResult<()> {
    let mut source = common::read_input_once(&args.io, true)?;
    let engine = common::engine(global)?;
    let options = EncryptOptions {
        input: args.io.formats.input(),
        output: args.io.formats.output(),
        keys: common::key_options(&args.keys),
        selection: common::selection_options(&args.selection),
        access: common::key_access(&args.services),
    };
    // Standard output may be written as soon as the output is checked.
    let early = common::early_output(&args.io, &source);
    let to = early.clone().map(|e| e as Arc<dyn EarlyOutput>);
    let out = encrypt(&engine, &mut source, &options, to.as_ref())?;
    common::write_output_after(&args.io, &source, &out, early.as_deref())
}
