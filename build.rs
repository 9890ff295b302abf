//! Links the `sepal` executable so that a run touches fewer pages, where the machine building it
//! can (docs/performance.md):
//!
//! - with packed relative relocations (`DT_RELR`): its 45,000 relative relocations then take
//!   13 KB instead of 1.1 MB, which the dynamic loader reads and applies at every start (a
//!   one-value decryption 3.5 → 3.0 ms, sixth round). It needs GNU ld 2.38 or lld 15 and glibc
//!   2.36;
//! - in an optimised build, with `src/hot-text.ld`: the functions a usual run executes are put
//!   next to each other before the rest of the code (written by `benches/hot_text.py`; a
//!   one-value decryption's peak memory 9.8 → 6.0-6.9 MiB, ninth round). Only where they are
//!   changes, never what they do.
//!
//! - with the system's libyaml (C), where a static `libyaml.a` and its header are found (Debian:
//!   `libyaml-dev`), for the independent reading of YAML output (`src/verify/libyaml_events/`): it
//!   reads a 29 MB output in about half the time of the Rust translation of the same library
//!   that sepal uses otherwise (tenth round). `SEPAL_LIBYAML=0` leaves it out;
//!   `SEPAL_LIBYAML=required` fails the build without it (CI sets it, so that its tests run).
//! - as a static PIE (`sepal` only, through `.cargo/rustc-static-pie`), where glibc's static
//!   libraries are found: a start maps no shared library and binds no symbol (a one-value
//!   decryption about 0.5 ms shorter, twelfth round), and the executable keeps its address
//!   randomisation and read-only relocations. `SEPAL_STATIC_PIE=0` leaves it dynamic.
//!
//! Each is probed: a tiny C program is linked with the flags (warnings fatal, and the link
//! arguments of `RUSTFLAGS`, so that a linker chosen there, mold say, is the one asked) and run.
//! Anything else (a cross build, another libc, an older toolchain, a linker without `INSERT`)
//! links as before. `SEPAL_HOT_TEXT=0` leaves the script out.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The linker script of the hot functions, relative to the package.
const HOT_TEXT: &str = "src/hot-text.ld";

/// sepal's C interface to the system's libyaml, relative to the package.
const LIBYAML_SHIM: &str = "src/verify/libyaml_events/shim.c";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={HOT_TEXT}");
    println!("cargo:rerun-if-changed={LIBYAML_SHIM}");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo:rerun-if-env-changed=SEPAL_HOT_TEXT");
    println!("cargo:rerun-if-env-changed=SEPAL_LIBYAML");
    println!("cargo:rerun-if-env-changed=SEPAL_STATIC_PIE");
    println!("cargo::rustc-check-cfg=cfg(sepal_libyaml)");
    let probe = Probe::new();
    let libyaml = std::env::var("SEPAL_LIBYAML").unwrap_or_default();
    if libyaml != "0" {
        let linked = probe.as_ref().is_some_and(system_libyaml);
        if !linked && libyaml == "required" {
            panic!(
                "SEPAL_LIBYAML=required, but no static libyaml with its header was found \
                 (Debian: apt install libyaml-dev)"
            );
        }
    }
    let Some(probe) = probe else {
        if std::env::var("SEPAL_STATIC_PIE").is_ok_and(|v| v == "required") {
            panic!("SEPAL_STATIC_PIE=required, but this is not a native Linux glibc build");
        }
        return;
    };
    let relr = vec!["-Wl,-z,pack-relative-relocs".to_string()];
    let relr = if probe.links("relr", &relr) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        relr
    } else {
        Vec::new()
    };
    static_pie(&probe, &relr);
    if let Some(script) = hot_text_script() {
        let flag = format!("-Wl,-T,{}", script.display());
        if probe.links("hot_text", std::slice::from_ref(&flag)) {
            println!("cargo:rustc-link-arg-bins={flag}");
        }
    }
}

/// Asks `.cargo/rustc-static-pie` to link the `sepal` executable as a static PIE (through
/// `SEPAL_LINK_STATIC_PIE=1` in the package's compilations) when a program linked so, with the
/// relocation flags the executables get (`relr`), builds and runs: Debian's `libc6-dev` has the
/// static glibc it needs, other systems may not (Fedora: `glibc-static`). `SEPAL_STATIC_PIE=0`
/// leaves it dynamic; `=required` fails the build rather than fall back (CI sets it).
fn static_pie(probe: &Probe, relr: &[String]) {
    let wanted = std::env::var("SEPAL_STATIC_PIE").unwrap_or_default();
    if wanted == "0" {
        return;
    }
    let mut flags = vec!["-static-pie".to_string()];
    flags.extend_from_slice(relr);
    if probe.links("static_pie", &flags) {
        println!("cargo:rustc-env=SEPAL_LINK_STATIC_PIE=1");
    } else if wanted == "required" {
        panic!(
            "SEPAL_STATIC_PIE=required, but a static PIE does not link here (Debian: apt install \
             libc6-dev; Fedora: glibc-static)"
        );
    }
}

/// The hot functions' script, for an optimised build (a debug build's code is laid out anew at
/// every change, and its speed is not measured), where its path can go through `-Wl,`.
fn hot_text_script() -> Option<PathBuf> {
    if std::env::var("OPT_LEVEL").is_ok_and(|level| level == "0")
        || std::env::var("SEPAL_HOT_TEXT").is_ok_and(|v| v == "0")
    {
        return None;
    }
    let script = Path::new(&std::env::var("CARGO_MANIFEST_DIR").ok()?).join(HOT_TEXT);
    let plain = script.to_str().is_some_and(|s| !s.contains(','));
    (plain && script.is_file()).then_some(script)
}

/// Builds the libyaml shim and links it with the system's static libyaml when a program using
/// both links and runs; says whether it did.
fn system_libyaml(probe: &Probe) -> bool {
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let Some(archive) = probe.library_file("libyaml.a") else {
        return false;
    };
    // Linked from this build's own folder, under a name of its own, so that no system folder
    // joins the library search path.
    let copy = out_dir.join("libsepal_system_yaml.a");
    if std::fs::copy(&archive, &copy).is_err() {
        return false;
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let shim = Path::new(&manifest).join(LIBYAML_SHIM);
    let program = "#include <stddef.h>\n\
        void *sepal_yaml_new(const unsigned char *, size_t, size_t);\n\
        void sepal_yaml_free(void *);\n\
        int main(void) { void *p = sepal_yaml_new((const unsigned char *)\"a: b\", 4, 0);\n\
        sepal_yaml_free(p); return p == NULL; }\n";
    let flags = [shim.display().to_string(), copy.display().to_string()];
    if !probe.links_program("libyaml", program, &flags) {
        return false;
    }
    let built = cc::Build::new()
        .file(&shim)
        .warnings(true)
        .opt_level(2)
        .try_compile("sepal_yaml_shim");
    if built.is_err() {
        return false;
    }
    println!("cargo:rustc-link-search=native={}", out_dir.display());
    println!("cargo:rustc-link-lib=static=sepal_system_yaml");
    println!("cargo:rustc-cfg=sepal_libyaml");
    true
}

/// Links test programs for a native Linux glibc build.
struct Probe {
    dir: PathBuf,
    source: PathBuf,
    linker: String,
    /// `-C link-arg=` values of `RUSTFLAGS` (`-fuse-ld=mold`, say), given to every probe.
    rustflags_link_args: Vec<String>,
}

impl Probe {
    fn new() -> Option<Probe> {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        let native = var("HOST") == var("TARGET");
        if !native || var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu"
        {
            return None;
        }
        let dir = PathBuf::from(std::env::var("OUT_DIR").ok()?);
        let source = dir.join("link_probe.c");
        std::fs::write(&source, "int main(void) { return 0; }\n").ok()?;
        let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
        Some(Probe {
            dir,
            source,
            linker,
            rustflags_link_args: rustflags_link_args(),
        })
    }

    /// Whether a program linked with `flags` builds without a warning and runs.
    fn links(&self, name: &str, flags: &[String]) -> bool {
        self.links_source(name, &self.source, flags)
    }

    /// [`Probe::links`] for a program of its own.
    fn links_program(&self, name: &str, text: &str, flags: &[String]) -> bool {
        let source = self.dir.join(format!("link_probe_{name}.c"));
        std::fs::write(&source, text).is_ok() && self.links_source(name, &source, flags)
    }

    /// Where the C compiler finds the library file `name`, if it does.
    fn library_file(&self, name: &str) -> Option<PathBuf> {
        let out = Command::new(&self.linker)
            .arg(format!("-print-file-name={name}"))
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        (out.status.success() && path.is_absolute() && path.is_file()).then_some(path)
    }

    fn links_source(&self, name: &str, source: &Path, flags: &[String]) -> bool {
        let program = self.dir.join(format!("link_probe_{name}"));
        let linked = Command::new(&self.linker)
            .arg(source)
            .arg("-o")
            .arg(&program)
            .args(&self.rustflags_link_args)
            .args(flags)
            .arg("-Wl,--fatal-warnings")
            .output()
            .is_ok_and(|o| o.status.success());
        linked
            && Command::new(&program)
                .output()
                .is_ok_and(|o| o.status.success())
    }
}

/// The `-C link-arg=` (and `-Clink-arg=`) values of the build's `RUSTFLAGS`.
fn rustflags_link_args() -> Vec<String> {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let mut args = Vec::new();
    let mut after_c = false;
    for flag in flags.split('\u{1f}') {
        let option = match flag.strip_prefix("-C") {
            Some("") => {
                after_c = true;
                continue;
            }
            Some(option) => option,
            None if after_c => flag,
            None => "",
        };
        after_c = false;
        if let Some(arg) = option.strip_prefix("link-arg=") {
            args.push(arg.to_string());
        }
    }
    args
}
