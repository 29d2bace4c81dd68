#!/usr/bin/env bash
# The main job on the bundled default: installs what is needed (idempotent, cached), then
# runs pipelines/demo.yaml — the default RefineVAD head on four clips of the campus camera
# (vtest.avi), three with injected anomalies — printing events as they happen.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo
"${CARGO_TARGET_DIR:-target}/release/refinevad" check pipelines/demo.yaml --models
"${CARGO_TARGET_DIR:-target}/release/refinevad" run pipelines/demo.yaml
echo
echo "outputs in out/demo/: <clip>.scores.csv (per-segment scores and category probabilities),"
echo "<clip>.events.json, <clip>.png (score timeline, ground truth shaded), events.jsonl"
