#!/usr/bin/env bash
# Builds the default RefineVAD head from scratch, reproducibly:
#   1. a synthetic-anomaly corpus from real footage (refinevad synth), with train and
#      held-out test drawn from disjoint time spans of every source clip;
#   2. features of every video (refinevad extract, the default pipeline);
#   3. weakly supervised training (video-level labels only) on the train split, the
#      checkpoint chosen on a validation split from the train spans (never the test);
#   4. evaluation on the held-out split, written to docs/model-card-metrics.json.
# The trained head goes to models/refinevad-default/ (committed: ~2 MB).
#
#   scripts/make_default_model.sh            # full recipe (~20-30 min on 2 cores)
#   N_TRAIN=40 N_TEST=16 scripts/make_default_model.sh   # quick smoke run
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/refinevad}
WORK=${WORK:-data/default-model}
N_TRAIN=${N_TRAIN:-240}
N_TEST=${N_TEST:-80}
N_VAL=${N_VAL:-40}
SEED=${SEED:-0}
# 800 steps, seed 0: the best validation AUC + category accuracy among the seeds tried
# (docs/model-card.md lists every candidate).
STEPS=${STEPS:-800}
OUT=${OUT:-models/refinevad-default}
# Train on the first 60 % of every source clip, test on the last 40 %.
TRAIN_SPAN=0..0.6
TEST_SPAN=0.6..1

[ -x "$BIN" ] || SETUP_SKIP_BUILD=0 bash scripts/setup.sh
t0=$(date +%s)
step() { printf '\033[1m==> %s (%ss)\033[0m\n' "$*" "$(( $(date +%s) - t0 ))"; }

step "corpus: $N_TRAIN train, $N_VAL validation, $N_TEST held-out test videos"
$BIN synth --out "$WORK/train" --videos "$N_TRAIN" --seconds 10..30 --span-range "$TRAIN_SPAN" --seed 1 --prefix train
$BIN synth --out "$WORK/val" --videos "$N_VAL" --seconds 10..30 --span-range "$TRAIN_SPAN" --seed 3 --prefix val
$BIN synth --out "$WORK/test" --videos "$N_TEST" --seconds 10..30 --span-range "$TEST_SPAN" --seed 2 --prefix test

for split in train val test; do
  step "features: $split"
  $BIN extract --pipeline pipelines/extract.yaml --out "$WORK/$split/features" "$WORK/$split/videos"
  cp "$WORK/$split/annotations.txt" "$WORK/$split/features/annotations.txt"
done

step "training"
rm -rf "$WORK/head"
$BIN train --train "$WORK/train/features" --test "$WORK/val/features" \
  --annotations "$WORK/val/annotations.txt" --out "$WORK/head" --seed "$SEED" --steps "$STEPS"

step "held-out evaluation"
$BIN eval --model "$WORK/head" --test "$WORK/test/features" --annotations "$WORK/test/annotations.txt" \
  --json "$WORK/heldout.json" --plots "$WORK/plots"

mkdir -p "$OUT"
cp "$WORK/head/model.safetensors" "$WORK/head/config.json" "$OUT/"
cp "$WORK/heldout.json" docs/model-card-metrics.json
python3 scripts/model_card.py "$ROOT"
step "done: $OUT, metrics in docs/model-card-metrics.json"
