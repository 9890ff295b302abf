//! `sepal keyservice`: serve the local master keys over gRPC, as `sops keyservice` does.

use clap::Args;

use super::common::{CliError, CliResult};
use super::{codes, GlobalArgs};
use crate::keyservice::{serve, Listen, ServeOptions};

#[derive(Args, Debug, Clone)]
pub struct KeyserviceArgs {
    /// Network to listen on: tcp or unix
    #[arg(
        long,
        visible_alias = "net",
        default_value = "tcp",
        value_name = "NETWORK"
    )]
    pub network: String,
    /// Address to listen on, e.g. 127.0.0.1:5000 (tcp) or /tmp/sops.sock (unix)
    #[arg(
        long,
        visible_alias = "addr",
        default_value = "127.0.0.1:5000",
        value_name = "ADDRESS"
    )]
    pub address: String,
    /// Ask on the terminal before answering each request
    #[arg(long)]
    pub prompt: bool,
}

/// Serve until SIGINT or SIGTERM (`--verbose` logs each request, never key material).
pub fn run(global: &GlobalArgs, args: KeyserviceArgs) -> CliResult<()> {
    let listen = match args.network.as_str() {
        "tcp" | "tcp4" | "tcp6" => Listen::Tcp(args.address),
        "unix" => Listen::Unix(args.address.into()),
        other => {
            return Err(CliError::new(
                codes::GENERIC,
                format!(
                    "Error running keyservice: unsupported network {other:?} (use tcp or unix)"
                ),
            ))
        }
    };
    serve(ServeOptions {
        listen,
        prompt: args.prompt,
        verbose: global.verbose,
    })
    .map_err(|e| CliError::new(codes::GENERIC, format!("Error running keyservice: {e}")))
}
