#!/usr/bin/env bash
# The main job on the bundled default: installs what is needed (idempotent, cached),
# then extracts RefineVAD input features from the sample surveillance clip vtest.avi.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo
./target/release/refinevad check pipelines/extract.yaml --models
./target/release/refinevad extract --pipeline pipelines/extract.yaml --out out/features data/samples/vtest.avi
echo
echo "features: out/features/vtest.npy (float32 [T, D]); layout and provenance: out/features/vtest.json"
