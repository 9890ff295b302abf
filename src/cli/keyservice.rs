//! `sepal keyservice`: serve the local master keys over gRPC, as `sops keyservice` does.
//!
//! The protocol has no authentication: whoever can connect can have data keys wrapped and
//! unwrapped with the owner's keys. So by default sepal listens on a unix socket (mode 0600) in a
//! folder only its user can enter, and a tcp address that is not loopback needs
//! `--insecure-listen`.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use super::common::{CliError, CliResult};
use super::GlobalArgs;
use crate::keys::backend::{self, Listen, ServeOptions};

/// sops's default address when the network is tcp.
const DEFAULT_TCP: &str = "127.0.0.1:5000";
/// The socket's name in the private folder.
const SOCKET_NAME: &str = "keyservice.sock";

#[derive(Args, Debug, Clone)]
pub struct KeyserviceArgs {
    /// Network to listen on: tcp or unix (default: a unix socket in a private folder, or tcp when
    /// --address is given)
    #[arg(long, visible_alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:5000 (tcp) or /run/user/1000/sops.sock (unix).
    /// Default: $XDG_RUNTIME_DIR/sepal/keyservice.sock, else sepal-<uid>/keyservice.sock in the
    /// temporary folder; 127.0.0.1:5000 with --network tcp
    #[arg(long, visible_alias = "addr", value_name = "ADDRESS")]
    pub address: Option<String>,
    /// Allow a tcp address other than loopback: anyone who can reach it can use your keys
    #[arg(long)]
    pub insecure_listen: bool,
    /// Ask on the terminal before answering each request
    #[arg(long)]
    pub prompt: bool,
}

/// Serve until SIGINT or SIGTERM (`--verbose` logs each request, never key material).
pub fn run(global: &GlobalArgs, args: KeyserviceArgs) -> CliResult<()> {
    let listen = listen_on(&args)?;
    backend::current()
        .serve(&ServeOptions {
            listen,
            prompt: args.prompt,
            verbose: global.verbose,
        })
        .map_err(|e| CliError::KeyService(e.to_string()))
}

/// Where to listen, from the flags.
fn listen_on(args: &KeyserviceArgs) -> CliResult<Listen> {
    let network = args.network.as_deref();
    match (network, args.address.as_deref()) {
        (None | Some("unix"), None) => default_socket()
            .map(Listen::Unix)
            .map_err(|e| CliError::KeyService(e.to_string())),
        (Some("unix"), Some(path)) => Ok(Listen::Unix(path.into())),
        // sops's default network is tcp.
        (None | Some("tcp" | "tcp4" | "tcp6"), address) => {
            let address = address.unwrap_or(DEFAULT_TCP);
            if !args.insecure_listen && !is_loopback_address(address) {
                return Err(CliError::KeyService(format!(
                    "refusing to listen on tcp://{address}: it is not a loopback address, and anyone who can connect can use your keys (the key service has no authentication). Use a unix socket, or 127.0.0.1 with an SSH tunnel; pass --insecure-listen to listen there anyway."
                )));
            }
            Ok(Listen::Tcp(address.to_string()))
        }
        (Some(other), _) => Err(CliError::KeyService(format!(
            "unsupported network {other:?} (use tcp or unix)"
        ))),
    }
}

/// Whether a tcp `host:port` names the loopback interface: 127.0.0.0/8, ::1 or `localhost`.
/// Go's `:port` (every interface) is not.
fn is_loopback_address(address: &str) -> bool {
    let Some((host, _port)) = address.rsplit_once(':') else {
        return false;
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The default socket: `keyservice.sock` in `$XDG_RUNTIME_DIR/sepal`, else in `sepal-<uid>` in
/// the temporary folder. The folder is made 0700 if missing, and refused unless it is a real
/// folder of ours with mode 0700. A socket left there by a key service that is gone is removed.
fn default_socket() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(run) => PathBuf::from(run).join("sepal"),
        None => std::env::temp_dir().join(format!("sepal-{}", current_uid())),
    };
    private_folder(&dir)?;
    let socket = dir.join(SOCKET_NAME);
    remove_stale_socket(&socket)?;
    Ok(socket)
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn current_uid() -> u32 {
    0
}

/// Make `dir` (mode 0700) unless it exists, then check that it is a folder (not a link), owned
/// by us, with mode 0700.
#[cfg(unix)]
fn private_folder(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let refuse = |why: &str| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to put the key service's socket in {}: {why}",
                dir.display()
            ),
        )
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            // The umask may have taken more than we asked for.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", dir.display()),
            ))
        }
    }
    let m = std::fs::symlink_metadata(dir)?;
    if !m.file_type().is_dir() {
        return Err(refuse("it is not a folder"));
    }
    if m.uid() != current_uid() {
        return Err(refuse(&format!(
            "it belongs to user {}, not to us",
            m.uid()
        )));
    }
    if m.mode() & 0o777 != 0o700 {
        return Err(refuse(&format!(
            "its mode is {:o}, not 700 (run chmod 700 on it)",
            m.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_folder(_dir: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no private unix socket on this platform: pass --network tcp --address 127.0.0.1:PORT",
    ))
}

/// A socket file that nobody answers on is what a killed key service left: remove it. One that
/// answers is another key service, which is an error, as is anything that is not a socket.
#[cfg(unix)]
fn remove_stale_socket(socket: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(m) = std::fs::symlink_metadata(socket) else {
        return Ok(());
    };
    if !m.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", socket.display()),
        ));
    }
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another key service is listening on unix://{}",
                socket.display()
            ),
        ));
    }
    std::fs::remove_file(socket)
}

#[cfg(not(unix))]
fn remove_stale_socket(_socket: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for a in [
            "127.0.0.1:5000",
            "127.1.2.3:1",
            "[::1]:5000",
            "localhost:5000",
            "LocalHost:0",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(is_loopback_address(a), "{a}");
        }
        for a in [
            ":5000",
            "0.0.0.0:5000",
            "[::]:5000",
            "10.0.0.1:5000",
            "192.168.1.2:80",
            "example.org:5000",
            "localhost.example.org:5000",
            "127.0.0.1",
            "",
        ] {
            assert!(!is_loopback_address(a), "{a}");
        }
    }

    fn args(network: Option<&str>, address: Option<&str>, insecure: bool) -> KeyserviceArgs {
        KeyserviceArgs {
            network: network.map(str::to_string),
            address: address.map(str::to_string),
            insecure_listen: insecure,
            prompt: false,
        }
    }

    #[test]
    fn flags_choose_where_to_listen() {
        let l = |n, a, i| listen_on(&args(n, a, i));
        assert_eq!(
            l(Some("tcp"), None, false).ok(),
            Some(Listen::Tcp("127.0.0.1:5000".into()))
        );
        assert_eq!(
            l(None, Some("127.0.0.1:7"), false).ok(),
            Some(Listen::Tcp("127.0.0.1:7".into()))
        );
        assert_eq!(
            l(Some("unix"), Some("/x/s.sock"), false).ok(),
            Some(Listen::Unix("/x/s.sock".into()))
        );
        let refused = l(Some("tcp"), Some("0.0.0.0:5000"), false).expect_err("refused");
        assert_eq!(refused.exit_code(), crate::ops::codes::GENERIC);
        assert!(
            matches!(&refused, CliError::KeyService(m) if m.contains("--insecure-listen")),
            "{refused:?}"
        );
        assert_eq!(
            l(Some("tcp"), Some("0.0.0.0:5000"), true).ok(),
            Some(Listen::Tcp("0.0.0.0:5000".into()))
        );
        let bad = l(Some("udp"), None, false).expect_err("bad network");
        assert!(
            matches!(&bad, CliError::KeyService(m) if m.contains("unsupported network")),
            "{bad:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn private_folder_is_made_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().expect("tempdir");
        let dir = base.path().join("sepal-x");
        private_folder(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        private_folder(&dir).expect("reused");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let e = private_folder(&dir).expect_err("0755 refused");
        assert!(e.to_string().contains("755"), "{e}");

        let link = base.path().join("link");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        let e = private_folder(&link).expect_err("a link refused");
        assert!(e.to_string().contains("not a folder"), "{e}");

        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&dir, Some(4321), None).expect("chown");
            let e = private_folder(&dir).expect_err("another user's folder refused");
            assert!(e.to_string().contains("belongs to user 4321"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn stale_sockets_are_removed_live_ones_refused() {
        let base = tempfile::tempdir().expect("tempdir");
        let sock = base.path().join("s.sock");
        remove_stale_socket(&sock).expect("nothing there");
        let live = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let e = remove_stale_socket(&sock).expect_err("live");
        assert!(e.to_string().contains("another key service"), "{e}");
        drop(live);
        remove_stale_socket(&sock).expect("stale removed");
        assert!(!sock.exists());
        std::fs::write(&sock, b"x").expect("write");
        assert!(remove_stale_socket(&sock).is_err());
    }
}
