//! `sepal keygen`: a new age identity in the default key file, so no other tool is needed;
//! `--pq` makes a hybrid post-quantum one (ML-KEM-768 + X25519, as `age-keygen -pq`).

use std::path::PathBuf;

use clap::Args;

use super::common::{CliError, CliResult};
use crate::keys::age::{generate, generate_pq, AgeSettings};

#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Write the identity here instead of $SOPS_AGE_KEY_FILE or the default key file
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Make a post-quantum identity (mlkem768x25519: recipient age1pq1..., needs sops 3.11 or age 1.3 to read)
    #[arg(long)]
    pub pq: bool,
}

pub fn run(args: KeygenArgs) -> CliResult<()> {
    let settings = AgeSettings::from_env();
    let path = args
        .output
        .or_else(|| settings.key_file.clone())
        .or_else(|| settings.default_key_file())
        .ok_or(CliError::NoKeyFileLocation)?;
    if path.exists() {
        return Err(CliError::KeyFileExists(path.display().to_string()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| CliError::Temporary {
            what: dir.display().to_string(),
            source: e,
        })?;
    }
    let (secret, recipient) = if args.pq { generate_pq() } else { generate() };
    let created = crate::ops::now();
    let body = crate::wipe::Wiped::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        secret.as_str()
    ));
    super::common::write_new_private(&path, body.as_bytes()).map_err(|e| CliError::WriteFile {
        path: path.display().to_string(),
        source: e,
    })?;
    eprintln!(
        "Public key: {recipient} (identity written to {})",
        path.display()
    );
    // A closed standard output (`sepal keygen | head -0`) is not an error: the key is written.
    super::common::write_stdout(format!("{recipient}\n").as_bytes())
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}
