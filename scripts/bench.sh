#!/usr/bin/env bash
# Throughput benchmark (DESIGN §7): refinevad bench plus the plain Python baseline
# (OpenCV + onnxruntime in a cached virtualenv). Results: out/bench.json.
#   scripts/bench.sh [--copies N] [--video FILE]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=${REFINEVAD_CACHE:-$HOME/.cache/refinevad}
bash scripts/setup.sh
VENV="$CACHE/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import cv2, onnxruntime" 2>/dev/null; then
  echo "==> bench: Python baseline virtualenv (opencv-python-headless, onnxruntime)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q opencv-python-headless numpy "$CACHE"/wheels/onnxruntime-1.31.1-*.whl
fi
REFINEVAD_BENCH_PYTHON="$VENV/bin/python" exec "${CARGO_TARGET_DIR:-target}/release/refinevad" bench "$@"
