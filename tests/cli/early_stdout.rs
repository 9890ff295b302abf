//! An encryption's output written to standard output while the encryption finishes, where
//! standard output is a regular file written at its end (`> file`, `>> file`): what the file
//! holds afterwards is the output once, as a pipe would get it, and what the file held before
//! `>>` stays. A file written in its middle gets the output at the end, as before. None of it
//! needs the real sops.
#![cfg(unix)]

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::Stdio;

use crate::common::{keys, Identity, Sandbox, Tool};

/// A YAML file whose encryption is large enough (over 256 KiB) to be written early.
fn large_yaml(with_alias: bool) -> String {
    let mut s = String::new();
    if with_alias {
        // An alias: decrypting gives a copy, so the output needs a layout record.
        s.push_str("base: &b {host: hotel, port: 1}\nsvc:\n  <<: *b\n  name: india\n");
    }
    for g in 0..80 {
        s.push_str(&format!("group{g}:\n"));
        for i in 0..50 {
            s.push_str(&format!("  key{i}: value {g} {i} # note {i}\n"));
        }
    }
    s
}

/// Run `sepal encrypt` of `plain` with standard output going to `out`; the exit code.
fn encrypt_into(sb: &Sandbox, plain: &str, out: File) -> i32 {
    sb.write("plain.yaml", plain);
    let mut c = sb.command(Tool::Sepal, Identity::Key1).expect("sepal");
    c.args(["encrypt", "--age", &keys().age1, "plain.yaml"])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null());
    c.status().expect("run sepal").code().unwrap_or(-1)
}

/// `sepal decrypt` of `bytes` (written to a file of the sandbox).
fn decrypted(sb: &Sandbox, bytes: &[u8]) -> String {
    let path = sb.write("check.enc.yaml", bytes);
    let path = path.to_str().expect("path");
    let r = sb
        .run(Tool::Sepal, Identity::Key1, &["decrypt", path])
        .expect("sepal");
    assert!(r.ok(), "{}", r.describe());
    String::from_utf8(r.stdout).expect("text")
}

/// How many times the file's `sops` entry starts in `bytes`.
fn sops_entries(bytes: &[u8]) -> usize {
    String::from_utf8_lossy(bytes).matches("\nsops:\n").count()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the output")
}

#[test]
fn a_file_written_early_holds_the_output_once() {
    let sb = Sandbox::new();
    for with_alias in [false, true] {
        let plain = large_yaml(with_alias);
        let path = sb.join("out.enc.yaml");
        let out = File::create(&path).expect("create");
        assert_eq!(encrypt_into(&sb, &plain, out), 0);
        let bytes = read(&path);
        assert!(bytes.len() > 256 * 1024, "large enough: {}", bytes.len());
        assert_eq!(sops_entries(&bytes), 1, "alias: {with_alias}");
        // The output that needs a record is the one with it, and nothing of the one without.
        let records = String::from_utf8_lossy(&bytes)
            .matches("sepal_layout")
            .count();
        assert_eq!(records, usize::from(with_alias), "alias: {with_alias}");
        assert_eq!(decrypted(&sb, &bytes), plain, "alias: {with_alias}");
    }
}

#[test]
fn appended_after_what_the_file_held() {
    let sb = Sandbox::new();
    for with_alias in [false, true] {
        let plain = large_yaml(with_alias);
        let before = b"# kept as it was\n";
        let path = sb.write("log.yaml", before);
        let out = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open to append");
        assert_eq!(encrypt_into(&sb, &plain, out), 0);
        let bytes = read(&path);
        assert!(bytes.starts_with(before), "alias: {with_alias}");
        let output = &bytes[before.len()..];
        assert_eq!(sops_entries(output), 1, "alias: {with_alias}");
        assert_eq!(decrypted(&sb, output), plain, "alias: {with_alias}");
    }
}

#[test]
fn a_file_written_in_its_middle_gets_the_output_at_the_end() {
    let sb = Sandbox::new();
    let plain = large_yaml(false);
    // Longer than the output: opened for writing without being cut (`1<> file`), at its start.
    let old = "x".repeat(63) + "\n";
    let old = old.repeat(64 * 1024);
    let path = sb.write("old.txt", &old);
    let out = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open to write");
    assert_eq!(encrypt_into(&sb, &plain, out), 0);
    // Written over the start, as a shell's `1<>` write does; the rest of the old file is left.
    let bytes = read(&path);
    assert_eq!(bytes.len(), old.len());
    // The output ends with the `sops` entry's last line.
    let last = String::from_utf8_lossy(&bytes)
        .find("\n  version: ")
        .expect("the output's version");
    let end = last
        + 1
        + bytes[last + 1..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("its end")
        + 1;
    assert!(bytes[end..] == old.as_bytes()[end..], "the old file's rest");
    assert_eq!(decrypted(&sb, &bytes[..end]), plain);
}
