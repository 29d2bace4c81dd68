#!/usr/bin/env bash
# The test command: installs what is needed (idempotent, cached), builds, runs all tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# GPU execution providers cannot run here, but they must keep compiling.
echo "==> cargo check --features cuda,tensorrt"
cargo check --release --locked --features cuda,tensorrt --lib
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --locked --no-fail-fast
else
  cargo test --release --locked --no-fail-fast
fi
