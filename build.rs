//! Links the `sepal` executable with packed relative relocations (`DT_RELR`) where the machine
//! building it can: its 45,000 relative relocations then take 13 KB instead of 1.1 MB, which the
//! dynamic loader reads and applies at every start (a one-value decryption 3.5 → 3.0 ms,
//! docs/performance.md, sixth round). It needs GNU ld 2.38 or lld 15 and glibc 2.36, so it is
//! probed: a tiny C program is linked with the flag (warnings fatal) and run. Anything else (a
//! cross build, another libc, an older toolchain) links as before.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if packed_relocations_work() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether a program linked with `-z pack-relative-relocs` builds and runs here.
fn packed_relocations_work() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    if !native || var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return false;
    }
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return false;
    };
    let dir = Path::new(&out_dir);
    let source = dir.join("relr_probe.c");
    let program = dir.join("relr_probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(linker)
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .args(["-Wl,-z,pack-relative-relocs", "-Wl,--fatal-warnings"])
        .output()
        .is_ok_and(|o| o.status.success());
    linked
        && Command::new(&program)
            .output()
            .is_ok_and(|o| o.status.success())
}
