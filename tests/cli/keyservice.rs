//! The key service (`keyservice` command, `--keyservice URI`, `SOPS_KEYSERVICE`): a server holds
//! the age identity, the client has none and its local keys disabled, so the data key can only
//! come through the service. Sepal against sepal, and against the real sops both ways (those two
//! tests fail when sops is missing), over tcp on loopback and over unix sockets. Without flags the
//! service listens on a private unix socket (0600, in a 0700 folder); tcp beyond loopback needs
//! `--insecure-listen`. Servers are killed when a test ends; start-up is awaited by polling.
#![cfg(feature = "keyservice")]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Identity, Run, Sandbox, Tool};

// Flat, so that sops (which re-indents nested YAML) prints it byte for byte.
const PLAIN: &str = "user: alice\npassword: hunter2\ntoken: abc123\n";

/// How a server listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    Tcp,
    Unix,
}

/// A running key service; killed (and reaped) on drop.
struct Server {
    child: Child,
    /// Kept open so that a `--prompt` server does not see the end of its input.
    _stdin: Option<std::process::ChildStdin>,
    uri: String,
    log: PathBuf,
    socket: Option<PathBuf>,
}

impl Server {
    /// Start `tool keyservice` in `sb` serving the identities `id`, and wait until it accepts
    /// connections. Always `Some` (a missing sops fails the test).
    fn start(sb: &Sandbox, tool: Tool, id: Identity, net: Net, extra: &[&str]) -> Option<Server> {
        Server::start_with_input(sb, tool, id, net, extra, None)
    }

    /// [`Server::start`] with these bytes on the server's standard input (the answers to
    /// `--prompt`).
    fn start_with_input(
        sb: &Sandbox,
        tool: Tool,
        id: Identity,
        net: Net,
        extra: &[&str],
        input: Option<&[u8]>,
    ) -> Option<Server> {
        // A free port can be taken between probing and binding: retry with another.
        for attempt in 0..3 {
            let (network, address, uri, socket) = match net {
                Net::Tcp => {
                    let port = free_port();
                    let a = format!("127.0.0.1:{port}");
                    ("tcp", a.clone(), format!("tcp://{a}"), None)
                }
                Net::Unix => {
                    let p = sb.join(&format!("{}-{attempt}.sock", tool.name()));
                    let s = p.display().to_string();
                    ("unix", s.clone(), format!("unix://{s}"), Some(p))
                }
            };
            let log = sb.join(&format!("{}-server-{attempt}.log", tool.name()));
            let mut c = sb.command(tool, id)?;
            c.args(["keyservice", "--network", network, "--address", &address])
                .args(extra)
                .stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::from(std::fs::File::create(&log).expect("log file")))
                .stderr(Stdio::from(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(&log)
                        .expect("log file"),
                ));
            let mut child = c
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {} keyservice: {e}", tool.name()));
            let mut stdin = child.stdin.take();
            if let (Some(pipe), Some(bytes)) = (stdin.as_mut(), input) {
                pipe.write_all(bytes).expect("write the server's input");
            }
            let mut server = Server {
                child,
                _stdin: stdin,
                uri,
                log,
                socket,
            };
            if server.wait_ready(&address, net) {
                return Some(server);
            }
            eprintln!(
                "{} keyservice on {address} did not start (attempt {attempt}): {}",
                tool.name(),
                server.log_text()
            );
        }
        panic!("{} keyservice would not start", tool.name());
    }

    /// Poll until the server accepts a connection (true) or has exited / 15 s passed (false).
    fn wait_ready(&mut self, address: &str, net: Net) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let up = match net {
                Net::Tcp => address.parse::<SocketAddr>().ok().is_some_and(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
                }),
                Net::Unix => std::os::unix::net::UnixStream::connect(address).is_ok(),
            };
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded) for the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A sandbox with `plain.yaml` and `enc.yaml` (encrypted by sepal for key1's recipient).
fn sandbox_with_file() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let r = sb
        .run(
            Tool::Sepal,
            Identity::None,
            &["encrypt", "--age", &common::keys().age1, "plain.yaml"],
        )
        .expect("sepal");
    assert!(r.ok(), "{}", r.describe());
    sb.write("enc.yaml", &r.stdout);
    sb
}

/// `tool decrypt` of `file` through the key services only (no identity, local keys disabled).
fn decrypt_remote(sb: &Sandbox, tool: Tool, uris: &[&str], file: &str) -> Option<Run> {
    let mut args = vec!["decrypt", "--enable-local-keyservice=false"];
    for u in uris {
        args.extend(["--keyservice", u]);
    }
    args.push(file);
    sb.run(tool, Identity::None, &args)
}

/// `tool encrypt` of plain.yaml for key1 through the key service only; the result is written to
/// `out` and must decrypt locally with key1.
fn encrypt_remote(sb: &Sandbox, tool: Tool, uri: &str, out: &str) -> Option<()> {
    let r = sb.run(
        tool,
        Identity::None,
        &[
            "encrypt",
            "--enable-local-keyservice=false",
            "--keyservice",
            uri,
            "--age",
            &common::keys().age1,
            "plain.yaml",
        ],
    )?;
    assert!(r.ok(), "encrypt through {uri}: {}", r.describe());
    sb.write(out, &r.stdout);
    let d = sb
        .run(Tool::Sepal, Identity::Key1, &["decrypt", out])
        .expect("sepal");
    assert!(d.ok(), "decrypt of {out}: {}", d.describe());
    assert_eq!(String::from_utf8_lossy(&d.stdout), PLAIN, "{out}");
    Some(())
}

fn assert_plain(r: &Run, server: &Server) {
    assert!(
        r.ok(),
        "{}\nserver log: {}",
        r.describe(),
        common::clip(&server.log_text(), 600)
    );
    assert_eq!(String::from_utf8_lossy(&r.stdout), PLAIN, "{}", r.what);
}

/// No key material in anything the server or client printed.
fn assert_no_secrets(texts: &[String]) {
    for t in texts {
        assert!(!t.contains("AGE-SECRET-KEY"), "key material leaked: {t}");
        assert!(!t.contains("hunter2"), "plaintext leaked: {t}");
    }
}

/// sepal serves, sepal decrypts and encrypts through it, for one transport.
fn sepal_to_sepal(net: Net) {
    let sb = sandbox_with_file();
    // Without a key service and without local keys there is nothing to decrypt with.
    let r = decrypt_remote(&sb, Tool::Sepal, &[], "enc.yaml").expect("sepal");
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(
        r.stderr_text().contains("no key service available"),
        "{}",
        r.describe()
    );

    let mut server =
        Server::start(&sb, Tool::Sepal, Identity::Key1, net, &["--verbose"]).expect("sepal");
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_plain(&r, &server);
    encrypt_remote(&sb, Tool::Sepal, &server.uri, "enc2.yaml");

    // --verbose logs each request by key, never key material.
    let log = server.log_text();
    assert!(log.contains("decrypt request with age key"), "{log}");
    assert!(log.contains("encrypt request with age key"), "{log}");
    assert_no_secrets(&[log, r.stderr_text()]);

    // SIGTERM stops the server cleanly; a unix socket file is removed.
    assert_eq!(server.terminate(), Some(0), "{}", server.log_text());
    if let Some(sock) = &server.socket {
        assert!(!sock.exists(), "{} left behind", sock.display());
    }
}

#[test]
fn sepal_server_sepal_client_tcp() {
    sepal_to_sepal(Net::Tcp);
}

#[test]
fn sepal_server_sepal_client_unix() {
    sepal_to_sepal(Net::Unix);
}

#[test]
fn sops_server_sepal_client() {
    common::need_sops("keyservice::sops_server_sepal_client");
    for net in [Net::Tcp, Net::Unix] {
        let sb = sandbox_with_file();
        let server = Server::start(&sb, Tool::Sops, Identity::Key1, net, &[]).expect("sops");
        let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
        assert_plain(&r, &server);
        encrypt_remote(&sb, Tool::Sepal, &server.uri, "enc2.yaml");
        // And a file sops made, decrypted by sepal through sops's service.
        let made = sb
            .run(
                Tool::Sops,
                Identity::None,
                &["encrypt", "--age", &common::keys().age1, "plain.yaml"],
            )
            .expect("sops");
        assert!(made.ok(), "{}", made.describe());
        sb.write("sops.enc.yaml", &made.stdout);
        let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "sops.enc.yaml").expect("sepal");
        assert_plain(&r, &server);
    }
}

#[test]
fn sepal_server_sops_client() {
    common::need_sops("keyservice::sepal_server_sops_client");
    for net in [Net::Tcp, Net::Unix] {
        let sb = sandbox_with_file();
        let server = Server::start(&sb, Tool::Sepal, Identity::Key1, net, &[]).expect("sepal");
        let r = decrypt_remote(&sb, Tool::Sops, &[&server.uri], "enc.yaml").expect("sops");
        assert_plain(&r, &server);
        encrypt_remote(&sb, Tool::Sops, &server.uri, "sops.enc.yaml");
        // sops's own file too, through sepal's service.
        let r = decrypt_remote(&sb, Tool::Sops, &[&server.uri], "sops.enc.yaml").expect("sops");
        assert_plain(&r, &server);
    }
}

#[test]
fn errors_name_the_service_and_leak_nothing() {
    let sb = sandbox_with_file();
    // A server that does not hold the file's identity.
    let server = Server::start(&sb, Tool::Sepal, Identity::Key2, Net::Tcp, &[]).expect("sepal");
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_eq!(r.code, 128, "{}", r.describe());
    let err = r.stderr_text();
    assert!(
        err.contains(&format!("key service {}", server.uri)),
        "{}",
        r.describe()
    );
    assert_no_secrets(&[err, server.log_text()]);

    // Nobody listening: a clear message, quickly (connection refused).
    let dead = format!("tcp://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let r = decrypt_remote(&sb, Tool::Sepal, &[&dead], "enc.yaml").expect("sepal");
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(
        r.stderr_text().contains("could not reach the key service"),
        "{}",
        r.describe()
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A bad URI.
    let r = decrypt_remote(&sb, Tool::Sepal, &["127.0.0.1:5000"], "enc.yaml").expect("sepal");
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr_text().contains("invalid key service URI"),
        "{}",
        r.describe()
    );
}

#[test]
fn keyservice_env_list_falls_through_to_a_working_service() {
    let sb = sandbox_with_file();
    let server = Server::start(&sb, Tool::Sepal, Identity::Key1, Net::Unix, &[]).expect("sepal");
    let dead = format!("tcp://127.0.0.1:{}", free_port());
    let mut c = sb.command(Tool::Sepal, Identity::None).expect("sepal");
    c.env("SOPS_KEYSERVICE", format!("{dead},{}", server.uri))
        .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "false")
        .args(["decrypt", "enc.yaml"]);
    let r = common::run(c, None);
    assert_plain(&r, &server);
}

#[test]
fn server_start_up_errors() {
    let sb = Sandbox::new();
    let r = sb
        .run(
            Tool::Sepal,
            Identity::None,
            &["keyservice", "--network", "udp", "--address", "127.0.0.1:0"],
        )
        .expect("sepal");
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr_text().contains("unsupported network"),
        "{}",
        r.describe()
    );

    // The address is taken.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let r = sb
        .run(
            Tool::Sepal,
            Identity::None,
            &["keyservice", "--addr", &addr],
        )
        .expect("sepal");
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr_text().contains("cannot listen on"),
        "{}",
        r.describe()
    );
}

#[test]
fn prompt_asks_before_answering() {
    let sb = sandbox_with_file();
    // First request refused, second accepted.
    let server = Server::start_with_input(
        &sb,
        Tool::Sepal,
        Identity::Key1,
        Net::Tcp,
        &["--prompt"],
        Some(b"n\ny\n"),
    )
    .expect("sepal");
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(
        r.stderr_text().contains("Request rejected by user"),
        "{}",
        r.describe()
    );
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_plain(&r, &server);
    let log = server.log_text();
    assert!(
        log.contains("Received decrypt request using age key"),
        "{log}"
    );
}

#[test]
fn a_silent_peer_is_given_up_on() {
    let sb = sandbox_with_file();
    // Accepts connections and never says anything (not a key service).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!("tcp://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok((c, _)) = listener.accept() {
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let started = Instant::now();
    let r = decrypt_remote(&sb, Tool::Sepal, &[&uri], "enc.yaml").expect("sepal");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = holder.join();
    assert_eq!(r.code, 128, "{}", r.describe());
    assert!(
        r.stderr_text().contains("could not reach the key service"),
        "{}",
        r.describe()
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}

/// Start `sepal keyservice` with only `args` and `env` (no network or address unless given), and
/// wait for its "Listening on URI" line. `Err` with the log when it exits first.
fn start_plain(sb: &Sandbox, env: &[(&str, &Path)], args: &[&str]) -> Result<Server, String> {
    let log = sb.join(&format!("plain-server-{}.log", free_port()));
    let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("keyservice")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log).expect("log file")))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .expect("log file"),
        ));
    let child = c.spawn().expect("start sepal keyservice");
    let mut server = Server {
        child,
        _stdin: None,
        uri: String::new(),
        log,
        socket: None,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let text = server.log_text();
        if let Some(uri) = text.lines().find_map(|l| l.strip_prefix("Listening on ")) {
            server.uri = uri.trim().to_string();
            server.socket = server.uri.strip_prefix("unix://").map(PathBuf::from);
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited {:?}: {text}", status.code()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("no 'Listening on' line: {}", server.log_text()))
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Without --network/--address the service listens on a 0600 socket in a 0700 folder of
/// $XDG_RUNTIME_DIR, announced on stderr; a socket left by a killed service is replaced.
#[test]
fn default_is_a_private_unix_socket_in_the_runtime_folder() {
    let sb = sandbox_with_file();
    let run = sb.join("run");
    std::fs::create_dir(&run).expect("mkdir");
    let env = [("XDG_RUNTIME_DIR", run.as_path())];
    let mut server = start_plain(&sb, &env, &[]).expect("default key service");
    let sock = run.join("sepal/keyservice.sock");
    assert_eq!(server.uri, format!("unix://{}", sock.display()));
    assert_eq!(mode_of(&run.join("sepal")), 0o700);
    assert_eq!(mode_of(&sock), 0o600);
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_plain(&r, &server);

    // Killed: the socket stays, and the next service takes its place.
    let _ = server.child.kill();
    let _ = server.child.wait();
    assert!(sock.exists());
    let mut server = start_plain(&sb, &env, &[]).expect("restarted key service");
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_plain(&r, &server);
    // A second one while the first runs is refused.
    let second = start_plain(&sb, &env, &[]).err().unwrap_or_default();
    assert!(second.contains("another key service"), "{second}");
    assert_eq!(server.terminate(), Some(0), "{}", server.log_text());
    assert!(!sock.exists());
}

/// Without XDG_RUNTIME_DIR: `sepal-<uid>` in the temporary folder; refused when that folder is
/// not private.
#[test]
fn default_socket_folder_in_tmp_must_be_private() {
    let sb = sandbox_with_file();
    let tmp = sb.join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    let env = [("TMPDIR", tmp.as_path())];
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let dir = tmp.join(format!("sepal-{uid}"));
    let mut server = start_plain(&sb, &env, &[]).expect("default key service");
    assert_eq!(
        server.uri,
        format!("unix://{}", dir.join("keyservice.sock").display())
    );
    assert_eq!(mode_of(&dir), 0o700);
    let r = decrypt_remote(&sb, Tool::Sepal, &[&server.uri], "enc.yaml").expect("sepal");
    assert_plain(&r, &server);
    assert_eq!(server.terminate(), Some(0), "{}", server.log_text());

    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
    c.env("TMPDIR", &tmp).arg("keyservice");
    let r = common::run(c, None);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.stderr_text().contains("mode is 755"), "{}", r.describe());
}

/// A tcp address beyond loopback is refused unless --insecure-listen is given.
#[test]
fn tcp_beyond_loopback_needs_insecure_listen() {
    let sb = Sandbox::new();
    for address in ["0.0.0.0:0", ":0", "[::]:0"] {
        let r = sb
            .run(
                Tool::Sepal,
                Identity::None,
                &["keyservice", "--network", "tcp", "--address", address],
            )
            .expect("sepal");
        assert_eq!(r.code, 1, "{}", r.describe());
        assert!(
            r.stderr_text().contains("--insecure-listen"),
            "{}",
            r.describe()
        );
    }
    let server = start_plain(
        &sb,
        &[],
        &[
            "--network",
            "tcp",
            "--address",
            "0.0.0.0:0",
            "--insecure-listen",
        ],
    )
    .expect("insecure listen");
    assert!(server.uri.starts_with("tcp://0.0.0.0:"), "{}", server.uri);
}
