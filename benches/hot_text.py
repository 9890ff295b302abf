#!/usr/bin/env python3
"""Writes `src/hot-text.ld`: the functions a usual run of sepal executes, to be linked next to
each other at the start of the executable's code.

Why: a run touches a few hundred of the executable's tens of thousands of functions, and the
linker scatters them over 15 MB of code. Every page of code a run touches costs a page fault,
and the kernel maps the pages around it too (fault-around), which all count in the process's
resident memory: a one-value decryption touched about 5.8 MiB of sepal's code, rops's 1.3 MiB.
Packed together they fill about 2 MB (docs/performance.md, ninth round).

How: runs sepal (a build with symbols: `cargo build --profile profiling`) under valgrind's
callgrind on the usual commands (`--version`, encrypt and decrypt of one value in each format,
`--extract`, encrypt and decrypt of 10,000 values in YAML and JSON), keeps the functions that ran
(run by run, in the order of the runs), and writes each as a pattern of the section the compiler
gives it (`.text.<symbol>`, or `.text.unlikely.<symbol>` for one LLVM guesses is rarely run).
The patterns leave out what changes between builds and toolchains (the hash of a Rust symbol,
LLVM's `.llvm.<n>` suffix of a promoted local, the crate disambiguators of std's v0 symbols), so
the same script serves the release and profiling builds, and a newer toolchain loses only what
it renamed. A generic function's pattern takes all its instances.

Usage (valgrind and binutils' nm):

    cargo build --profile profiling && python3 benches/hot_text.py
    python3 benches/hot_text.py --check target/release/sepal   # the hot section's size

`build.rs` hands the script to the linker (`-T`, with `INSERT BEFORE .text`) for optimised
builds on Linux when a probe links with it; anything else links as before. The script changes
where functions go, never what they do. Regenerate it when the code changed much (the test
`hot_text_names_sepal_functions_that_exist` fails when a listed sepal function is gone).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from compare import gen_tree, to_yaml  # noqa: E402

SCRIPT = os.path.join(ROOT, "src", "hot-text.ld")
SECTION = ".text.sepal_hot"


def text_symbols(binary):
    out = subprocess.run(["nm", binary], check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.add(parts[2])
    return syms - static_libc_symbols()


def static_libc_symbols():
    """Functions of the static C library (in a static `sepal`): glibc's objects are not built
    with a section per function, so no pattern could place them; they are left out."""
    path = subprocess.run(["cc", "-print-file-name=libc.a"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.isfile(path):
        return set()
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True).stdout
    return {parts[2] for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}


def workloads(tmp, sepal, env):
    """(name, argv) of the profiled runs, the files they read written into `tmp`."""
    import json

    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    recipient = subprocess.run([sepal, "keygen"], env=env, check=True, capture_output=True,
                               text=True).stdout.split()[-1]
    plain = {
        "one.yaml": "password: hunter2\n",
        "one.json": '{"password": "hunter2", "port": 5432}\n',
        "one.env": "PASSWORD=hunter2\n",
        "one.ini": "[db]\npassword = hunter2\n",
        "ten.yaml": to_yaml(gen_tree(10000)) + "\n",
        "ten.json": json.dumps(gen_tree(10000), indent=2) + "\n",
    }
    runs = [("version", [sepal, "--version"])]
    for name, text in plain.items():
        path = write(name, text)
        enc = path + ".enc"
        with open(enc, "wb") as out:
            subprocess.run([sepal, "encrypt", "--age", recipient, path], env=env, check=True,
                           stdout=out)
        os.rename(enc, os.path.join(tmp, "enc." + name))
        runs.append((f"encrypt {name}", [sepal, "encrypt", "--age", recipient, path]))
        runs.append((f"decrypt {name}", [sepal, "decrypt", os.path.join(tmp, "enc." + name)]))
    runs.append(("extract", [sepal, "decrypt", "--extract", '["password"]',
                             os.path.join(tmp, "enc.one.yaml")]))
    # One-value runs first: every command runs that code; the larger files' code after it.
    runs.sort(key=lambda r: "ten." in r[0])
    return runs


def executed(binary, runs, env, tmp):
    """Names of the binary's functions that ran: each run's new ones, sorted, after the last's."""
    syms = text_symbols(binary)
    if not syms:
        sys.exit(f"{binary} has no symbols: build it with `cargo build --profile profiling`")
    seen = {}
    for i, (name, argv) in enumerate(runs):
        out = os.path.join(tmp, f"callgrind.{i}")
        subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no",
                        f"--callgrind-out-file={out}"] + argv, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        new = set()
        with open(out, errors="replace") as f:
            for line in f:
                m = re.match(r"^c?fn=\(\d+\) (.*)$", line.rstrip("\n"))
                if not m:
                    continue
                fn = re.sub(r"'\d+$", "", m.group(1))  # callgrind's mark of a recursion level
                if fn in syms and fn not in seen:
                    new.add(fn)
        # Sorted within a run (callgrind's own order changes from one run to the next).
        seen.update((fn, True) for fn in sorted(new))
        print(f"  {name}: {len(new)} more functions", file=sys.stderr)
    return list(seen)


def pattern(symbol):
    """The symbol's section as a pattern that leaves out what changes between builds."""
    if symbol.startswith("_ZN"):
        # Legacy Rust mangling: the path, then `17h<16 hex digits>E` and maybe `.llvm.<n>`.
        return re.sub(r"17h[0-9a-f]{16}E.*$", "17h*", symbol)
    symbol = re.sub(r"\.llvm\.\d+$", "*", symbol)
    if symbol.startswith("_R"):
        # v0 mangling (std): crate disambiguators and back-references move with the toolchain.
        symbol = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)
        symbol = re.sub(r"B[0-9A-Za-z]*_", "B*_", symbol)
    return symbol


def write_script(patterns, runs):
    lines = [
        "/* The functions a usual run of sepal executes, linked next to each other before the",
        "   rest of the code: fewer pages of code touched, so fewer page faults and less resident",
        "   memory (docs/performance.md, ninth round). build.rs passes this script to the linker",
        "   for optimised builds on Linux. Written by benches/hot_text.py from callgrind runs of:",
    ]
    lines += [f"   {name}" for name, _ in runs]
    lines += [
        "   Regenerate it with: cargo build --profile profiling && python3 benches/hot_text.py */",
        "SECTIONS",
        "{",
        f"  {SECTION} : {{",
    ]
    # LLVM puts a function it guesses is rarely run (one that ends in a panic, or runs once) in
    # `.text.unlikely.<symbol>`: such a function of a usual run goes here too.
    lines += [f"    *(.text.{p} .text.unlikely.{p})" for p in patterns]
    lines += ["  }", "}", "INSERT BEFORE .text;", ""]
    with open(SCRIPT, "w") as f:
        f.write("\n".join(lines))


def check(binary):
    out = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if SECTION in line:
            size = int(line.split(SECTION)[1].split()[3], 16)
            print(f"{binary}: {SECTION} holds {size / 1024:.0f} KiB of code")
            return 0
    print(f"{binary}: no {SECTION} section (not linked with src/hot-text.ld)")
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sepal", default=os.path.join(ROOT, "target", "profiling", "sepal"))
    ap.add_argument("--check", metavar="BINARY", help="print the size of a build's hot section")
    args = ap.parse_args()
    if args.check:
        return check(args.check)
    sepal = os.path.abspath(args.sepal)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "XDG_CONFIG_HOME": os.path.join(tmp, ".config"), "SOPS_DISABLE_VERSION_CHECK": "1"}
        runs = workloads(tmp, sepal, env)
        names = executed(sepal, runs, env, tmp)
    patterns = list(dict.fromkeys(pattern(n) for n in names))
    write_script(patterns, runs)
    print(f"{SCRIPT}: {len(patterns)} patterns from {len(names)} functions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
