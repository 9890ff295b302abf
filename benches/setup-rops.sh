#!/bin/sh
# Build rops (the other Rust sops-like tool) once, for benches/compare.py's side-by-side columns.
# Never run in CI: the benchmark is run by hand (docs/performance.md names the version measured).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cargo install rops-cli --version 0.1.7 --locked --root "$here/.tools"
echo "rops is at $here/.tools/bin/rops"
