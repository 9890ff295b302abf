//! How the `sepal` executable is linked and started: a static PIE where build.rs found that the
//! machine links one (no interpreter, no shared library, nothing bound at start), a dynamically
//! linked PIE otherwise; position-independent and with read-only, eagerly bound relocations
//! either way. Read from the executable's own ELF headers, so that a build that quietly fell back
//! (or a wrapper that stopped adding the flag) fails here rather than only in a benchmark. Its
//! entry point is its own (src/main.rs): what Rust's runtime start did that sepal relies on
//! (SIGPIPE ignored) is checked here too.

use std::os::unix::process::ExitStatusExt;

use crate::common::{self, Identity, Sandbox, Tool};

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const ET_DYN: u16 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_FLAGS: u64 = 30;
const DF_BIND_NOW: u64 = 0x8;

/// What the test needs from a 64-bit little-endian ELF file.
struct Elf {
    file_type: u16,
    /// `p_type` of each program header.
    segments: Vec<u32>,
    /// `(d_tag, d_val)` of the dynamic section, if there is one.
    dynamic: Vec<(u64, u64)>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Elf {
    fn read(bytes: &[u8]) -> Elf {
        assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
        assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
        assert_eq!(bytes[5], 1, "not a little-endian ELF file");
        let phoff = u64_at(bytes, 32) as usize;
        let phentsize = usize::from(u16_at(bytes, 54));
        let phnum = usize::from(u16_at(bytes, 56));
        let mut segments = Vec::new();
        let mut dynamic = Vec::new();
        for i in 0..phnum {
            let at = phoff + i * phentsize;
            let kind = u32_at(bytes, at);
            segments.push(kind);
            if kind == PT_DYNAMIC {
                let (offset, size) = (u64_at(bytes, at + 8) as usize, u64_at(bytes, at + 32));
                for entry in 0..size as usize / 16 {
                    let e = offset + entry * 16;
                    let (tag, value) = (u64_at(bytes, e), u64_at(bytes, e + 8));
                    if tag == DT_NULL {
                        break;
                    }
                    dynamic.push((tag, value));
                }
            }
        }
        Elf {
            file_type: u16_at(bytes, 16),
            segments,
            dynamic,
        }
    }

    fn has_segment(&self, kind: u32) -> bool {
        self.segments.contains(&kind)
    }

    fn needed(&self) -> usize {
        self.dynamic.iter().filter(|(t, _)| *t == DT_NEEDED).count()
    }

    fn binds_now(&self) -> bool {
        self.dynamic
            .iter()
            .any(|(t, v)| *t == DT_FLAGS && v & DF_BIND_NOW != 0)
    }
}

#[test]
fn sepal_is_a_static_pie_where_the_build_links_one() {
    let static_pie = option_env!("SEPAL_LINK_STATIC_PIE") == Some("1");
    // CI asks for it (`SEPAL_STATIC_PIE=required`); the build then fails without it, and so
    // does this test if the executable is not one.
    if std::env::var("SEPAL_STATIC_PIE").is_ok_and(|v| v == "required") {
        assert!(
            static_pie,
            "SEPAL_STATIC_PIE=required, but build.rs did not ask for a static PIE"
        );
    }
    let bytes = std::fs::read(common::sepal_bin()).expect("sepal binary");
    let elf = Elf::read(&bytes);
    assert_eq!(
        elf.file_type, ET_DYN,
        "sepal should be position-independent"
    );
    assert!(
        elf.has_segment(PT_GNU_RELRO),
        "sepal's relocated data should be read-only after start"
    );
    assert!(
        elf.binds_now(),
        "sepal should bind its relocations at start (BIND_NOW)"
    );
    if static_pie {
        assert!(
            !elf.has_segment(PT_INTERP),
            "build.rs asked for a static PIE, but sepal names a dynamic loader \
             (is .cargo/rustc-static-pie the workspace's rustc wrapper?)"
        );
        assert_eq!(elf.needed(), 0, "a static sepal needs no shared library");
    } else {
        assert!(
            elf.has_segment(PT_INTERP),
            "a dynamic sepal names its loader"
        );
    }
}

#[test]
fn the_helper_stays_dynamically_linked() {
    // Only `sepal` is linked statically: the helper's network code resolves host names through
    // glibc, which a static executable would do only with the build machine's glibc.
    let bytes = std::fs::read(common::helper_bin()).expect("sepal-keys binary");
    assert!(Elf::read(&bytes).has_segment(PT_INTERP));
}

#[test]
fn a_closed_standard_output_is_not_a_killing_signal() {
    // The reading end is closed before sepal starts: its first write fails with EPIPE, which
    // sepal treats as the reader having gone (exit 0), as `sops ... | head` users expect; were
    // SIGPIPE not ignored, the signal would kill it first.
    let sb = Sandbox::new();
    sb.encrypt_for_key1(Tool::Sepal, "plain.yaml", "a: b\nc: d\n", "f.yaml");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let status = sb
        .command(Tool::Sepal, Identity::Key1)
        .expect("sepal")
        .args(["decrypt", "f.yaml"])
        .stdout(writer)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("sepal runs");
    assert_eq!(status.signal(), None, "sepal was killed: {status:?}");
    assert_eq!(status.code(), Some(0));
}
