#!/usr/bin/env python3
"""Check the TOML corpus: stored bytes against the manifests, and no stored file left unlisted.

Run from anywhere: `python3 tests/corpus/toml/verify.py`. Exits non-zero and prints every problem
found; prints a one-line summary when everything matches.
"""

import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
problems = []


def sha256(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_tsv(rel, columns):
    with open(os.path.join(ROOT, rel), "rb") as f:
        text = f.read().decode("utf-8")
    if not text.endswith("\n"):
        problems.append(f"{rel}: no final newline")
    lines = text.split("\n")[:-1]
    if not lines or lines[0].split("\t") != columns:
        problems.append(f"{rel}: header is not {columns}")
        return []
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(columns):
            problems.append(f"{rel} line {n}: {len(fields)} fields, expected {len(columns)}")
            continue
        rows.append(dict(zip(columns, fields)))
    return rows


def files_under(rel):
    out = set()
    for dirpath, _, names in os.walk(os.path.join(ROOT, rel)):
        for name in names:
            out.add(os.path.relpath(os.path.join(dirpath, name), ROOT).replace(os.sep, "/"))
    return out


def check_rows(manifest, rows, path_key):
    listed = set()
    for row in rows:
        rel = row[path_key]
        if rel in listed:
            problems.append(f"{manifest}: {rel} listed twice")
        listed.add(rel)
        if not os.path.isfile(os.path.join(ROOT, rel)):
            problems.append(f"{manifest}: {rel} is listed but missing")
        elif sha256(rel) != row["sha256"]:
            problems.append(f"{manifest}: {rel} does not match its sha256")
    keys = [row[path_key] for row in rows]
    if keys != sorted(keys):
        problems.append(f"{manifest}: rows are not sorted by {path_key}")
    return listed


def check_licence(repo, commit, seen):
    if (repo, commit) in seen:
        return
    seen.add((repo, commit))
    rel = "licenses/" + repo.replace("/", "__") + ".txt"
    path = os.path.join(ROOT, rel)
    if not os.path.isfile(path):
        problems.append(f"{rel}: missing (licence of {repo})")
        return
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8")
    if repo not in first or commit not in first:
        problems.append(f"{rel}: first line does not name {repo} and commit {commit}")


licences_seen = set()

# plain/: real TOML files.
plain_cols = ["stored_path", "repo", "commit", "original_path", "licence", "sha256"]
plain_rows = read_tsv("manifest.tsv", plain_cols)
plain_listed = check_rows("manifest.tsv", plain_rows, "stored_path")
for row in plain_rows:
    check_licence(row["repo"], row["commit"], licences_seen)
    if not row["stored_path"].startswith("plain/") or not row["stored_path"].endswith(".toml"):
        problems.append(f"manifest.tsv: {row['stored_path']} is not plain/….toml")
for rel in sorted(files_under("plain") - plain_listed):
    problems.append(f"{rel}: stored but not in manifest.tsv")

# rops/: files rops 0.1.7 encrypted here (rops/README.md), their plaintexts and the throwaway
# age identities that open them.
rops_cols = ["stored_path", "kind", "plaintext", "key_file", "sha256"]
rops_rows = read_tsv("rops/manifest.tsv", rops_cols)
rops_listed = check_rows("rops/manifest.tsv", rops_rows, "stored_path")
for row in rops_rows:
    kind = row["kind"]
    if kind not in ("rops-encrypted", "plaintext", "age-identity"):
        problems.append(f"rops/manifest.tsv: {row['stored_path']} has unknown kind {kind}")
    if kind == "rops-encrypted":
        linked = [row["plaintext"]] + row["key_file"].split(",")
        for rel in linked:
            if rel not in {r["stored_path"] for r in rops_rows}:
                problems.append(f"rops/manifest.tsv: {row['stored_path']} names {rel}, which is not listed")
    elif row["plaintext"] != "-" or row["key_file"] != "-":
        problems.append(f"rops/manifest.tsv: {row['stored_path']} ({kind}) names a plaintext or key")
for rel in sorted(
    files_under("rops") - rops_listed - {"rops/manifest.tsv", "rops/FORMAT.md", "rops/README.md"}
):
    problems.append(f"{rel}: stored but not in rops/manifest.tsv")

# toml-test/: the files named in files-toml-1.0.0, with their sha256 in sha256.tsv.
with open(os.path.join(ROOT, "toml-test/files-toml-1.0.0"), "rb") as f:
    named = ["toml-test/" + line for line in f.read().decode("utf-8").splitlines() if line]
tt_rows = read_tsv("toml-test/sha256.tsv", ["path", "sha256"])
for row in tt_rows:
    row["path"] = "toml-test/" + row["path"]
tt_listed = set()
for row in tt_rows:
    rel = row["path"]
    tt_listed.add(rel)
    if not os.path.isfile(os.path.join(ROOT, rel)):
        problems.append(f"toml-test/sha256.tsv: {rel} is listed but missing")
    elif sha256(rel) != row["sha256"]:
        problems.append(f"toml-test/sha256.tsv: {rel} does not match its sha256")
if set(named) != tt_listed:
    problems.append("toml-test/sha256.tsv does not list exactly the files of files-toml-1.0.0")
extra = {"toml-test/files-toml-1.0.0", "toml-test/sha256.tsv", "toml-test/SOURCE.md"}
for rel in sorted(files_under("toml-test") - tt_listed - extra):
    problems.append(f"{rel}: stored but not in toml-test/files-toml-1.0.0")
check_licence("toml-lang/toml-test", "d168c2a4f539a5219c804055af1600b8cf9ca6d7", licences_seen)

# licenses/: no licence without a file from that repository.
wanted = {"licenses/" + repo.replace("/", "__") + ".txt" for repo, _ in licences_seen}
for rel in sorted(files_under("licenses") - wanted):
    problems.append(f"{rel}: no corpus file comes from this repository")

if problems:
    for p in problems:
        print(p)
    sys.exit(1)
print(
    f"ok: {len(plain_rows)} plain files, {len(rops_rows)} rops files, "
    f"{len(tt_rows)} toml-test files, {len(wanted)} licences"
)
