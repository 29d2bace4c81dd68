#!/usr/bin/env python3
"""Writes tests/fixtures/eval/sklearn_reference.json: reference values for the Rust
evaluation code, computed once with scikit-learn (CI only reads the JSON).

- "metrics": fixed label/score vectors (ties, imbalance, one-class edge cases) with
  sklearn's roc_auc_score and average_precision_score (NaN written as null).
- "protocol": a small test set (segment scores, annotation text) with the frame-level
  metrics computed by expanding scores per the protocol documented in
  src/eval/protocol.rs and calling sklearn, and mAP@IoU from an independent Python
  version of the rules in src/eval/localization.rs.

Scores are float32 (as in Rust) and written as the exact double of each float32.

Usage: pip install scikit-learn numpy && python3 scripts/make_eval_fixtures.py
"""
import json
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "eval", "sklearn_reference.json")
rng = np.random.default_rng(20240611)


def f32list(a):
    return [float(x) for x in np.asarray(a, dtype=np.float32)]


def nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def ref(y, s):
    y = np.asarray(y, dtype=int)
    s = np.asarray(s, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = roc_auc_score(y, s)
        ap = average_precision_score(y, s)
    return nan_to_none(float(auc)), nan_to_none(float(ap))


def metric_cases():
    cases = []

    def add(name, y, s):
        s = np.asarray(s, dtype=np.float32)
        auc, ap = ref(y, s)
        cases.append({"name": name, "labels": [int(v) for v in y], "scores": f32list(s), "roc_auc": auc, "average_precision": ap})

    add("hand_4", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    add("ties_small", [0, 1, 0, 1, 1, 0, 0, 1], [0.5, 0.5, 0.2, 0.9, 0.2, 0.9, 0.1, 0.5])
    y = rng.random(1000) < 0.3
    add("random_ties_1dec_n1000", y, np.round(rng.random(1000) * 0.6 + 0.4 * y, 1))
    y = rng.random(2000) < 0.05
    add("imbalanced_ties_2dec_n2000", y, np.round(np.clip(rng.normal(0.3 + 0.25 * y, 0.2), 0, 1), 2))
    y = rng.random(2000) < 0.2
    add("distinct_n2000", y, rng.random(2000) * 0.8 + 0.2 * y)
    add("all_tied", [0, 1, 1, 0, 0], [0.3] * 5)
    add("perfect", [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    add("inverted", [1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    add("one_class_positive", [1, 1, 1], [0.1, 0.5, 0.5])
    add("one_class_negative", [0, 0, 0], [0.1, 0.5, 0.5])
    return cases


# ---------------------------------------------------------------- protocol case
CATEGORIES = ["Abuse", "Fighting", "Fire", "Shooting"]
ANNOTATION_TEXT = """\
Abuse001_x264.mp4  Abuse  40  99  150  170
Normal_Videos_001_x264.mp4  Normal  -1  -1  -1  -1
clip_fire.mp4  Fire  0  30  -1  -1
clip_fire2.mp4  Fire  100  400  -1  -1
movie2__#3_label_B1-0-0 10 50 60 90
Shooting007_x264.mp4  Shooting  16  63  -1  -1
Normal_Videos_002_x264.mp4  Normal  -1  -1  -1  -1
"""


def parse_truth(text):
    """(category, intervals [s,e)) per video id; UCF ends inclusive, XD pairs exclusive."""
    xd = {"A": None, "B1": "Fighting", "B2": "Shooting", "B4": "Riot", "B5": "Abuse", "B6": "CarAccident", "G": "Explosion"}
    out = {}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        name = f[0].rsplit(".mp4", 1)[0]
        if f[1].lstrip("-").isdigit():
            cat = xd[name.split("label_")[1].split("-")[0]]
            nums, incl = [int(v) for v in f[1:]], 0
        else:
            cat = None if f[1] == "Normal" else f[1]
            nums, incl = [int(v) for v in f[2:]], 1
        iv = [(nums[i], nums[i + 1] + incl) for i in range(0, len(nums), 2) if nums[i] != -1]
        out[name] = (cat, iv)
    return out


def protocol_videos():
    # (name, T, snippet_frames, n_frames, true-ish category for building probs)
    spec = [
        ("Abuse001_x264", 12, 16, 180, "Abuse"),
        ("Normal_Videos_001_x264", 10, 16, 160, None),
        ("clip_fire", 5, 8, None, "Fire"),
        ("clip_fire2", 20, 16, 250, "Fire"),  # interval 100..401 clipped to L=250
        ("movie2__#3_label_B1-0-0", 8, 16, 128, "Fighting"),
        ("movie__#1_label_A", 9, 16, 140, None),  # absent from annotations: normal by name
        ("Shooting007_x264", 7, 16, None, "Shooting"),
        ("Normal_Videos_002_x264", 6, 16, 96, None),
    ]
    truth = parse_truth(ANNOTATION_TEXT)
    videos = []
    for i, (name, t, sf, n, cat) in enumerate(spec):
        cov = t * sf
        L = cov if n is None else min(n, cov)
        gt_cat, iv = truth.get(name, (None, []))
        frame_y = np.zeros(L, dtype=bool)
        for s, e in iv:
            frame_y[min(s, L):min(e, L)] = True
        seg_y = np.array([frame_y[k * sf:(k + 1) * sf].mean() if k * sf < L else 0 for k in range(t)])
        scores = np.round(np.clip(0.3 + 0.45 * seg_y + rng.normal(0, 0.2, t), 0, 1), 1).astype(np.float32)
        probs = rng.dirichlet(np.ones(len(CATEGORIES)))
        if cat is not None and i % 3 != 1:  # most anomalous videos classified right
            probs[CATEGORIES.index(cat)] += 1.0
        probs = (probs / probs.sum()).astype(np.float32)
        videos.append({
            "name": name, "scores": f32list(scores), "snippet_frames": sf, "n_frames": n,
            "category_probs": f32list(probs), "categories": CATEGORIES,
        })
    return videos, truth


def expand(v, truth):
    sf, t = v["snippet_frames"], len(v["scores"])
    L = t * sf if v["n_frames"] is None else min(v["n_frames"], t * sf)
    s = np.repeat(np.asarray(v["scores"], dtype=np.float32), sf)[:L]
    cat, iv = truth.get(v["name"], (None, []))
    y = np.zeros(L, dtype=bool)
    for a, b in iv:
        y[min(a, L):min(b, L)] = True
    return L, s, y, cat, [(min(a, L), min(b, L)) for a, b in iv if min(a, L) < min(b, L)]


def loc_map(videos, truth, th):
    """Independent version of src/eval/localization.rs (VadCLIP-style)."""
    preds = []  # (video index, start, end, confidence, label)
    gts = []  # (video index, start, end, category)
    for i, v in enumerate(videos):
        L, _, _, cat, iv = expand(v, truth)
        sc = np.asarray(v["scores"], dtype=np.float64)
        thr = sc.max() - (sc.max() - sc.min()) * 0.6
        above = np.concatenate([[0], (sc > thr).astype(int), [0]])
        d = np.diff(above)
        starts, ends = np.where(d == 1)[0], np.where(d == -1)[0]
        label = CATEGORIES[int(np.argmax(np.asarray(v["category_probs"], dtype=np.float32)))]
        sf = v["snippet_frames"]
        for a, b in zip(starts, ends):
            fs, fe = a * sf, min(b * sf, L)
            if fs < fe:
                preds.append((i, fs, fe, float(np.mean(sc[a:b])), label))
        if cat is not None:
            gts += [(i, a, b, cat) for a, b in iv]
    cats = sorted({g[3] for g in gts})
    aps = []
    for c in cats:
        p = sorted([q for q in preds if q[4] == c], key=lambda q: -q[3])  # stable
        g = [list(x) + [False] for x in gts if x[3] == c]
        tp = fp = 0
        s = 0.0
        for vi, a, b, _, _ in p:
            best, best_iou = None, 0.0
            for j, (gv, ga, gb, _, used) in enumerate(g):
                if gv != vi or used:
                    continue
                inter = len(set(range(a, b)) & set(range(ga, gb)))
                iou = inter / len(set(range(a, b)) | set(range(ga, gb)))
                if iou >= th and (best is None or iou > best_iou):
                    best, best_iou = j, iou
            if best is not None:
                g[best][4] = True
                tp += 1
                s += tp / (tp + fp)
            else:
                fp += 1
        aps.append(s / len(g))
    return 100.0 * float(np.mean(aps))


def protocol_case():
    videos, truth = protocol_videos()
    ex = [expand(v, truth) for v in videos]
    s_all = np.concatenate([e[1] for e in ex])
    y_all = np.concatenate([e[2] for e in ex])
    anom = [len(e[4]) > 0 or e[3] is not None for e in ex]
    s_a = np.concatenate([e[1] for e, a in zip(ex, anom) if a])
    y_a = np.concatenate([e[2] for e, a in zip(ex, anom) if a])
    s_n = np.concatenate([e[1] for e, a in zip(ex, anom) if not a])
    auc, ap = ref(y_all, s_all)
    auc_a, _ = ref(y_a, s_a)
    cat_hits = [CATEGORIES[int(np.argmax(np.asarray(v["category_probs"], dtype=np.float32)))] == e[3]
                for v, e, a in zip(videos, ex, anom) if a and e[3] is not None]
    maps = [(th, loc_map(videos, truth, th)) for th in (0.1, 0.2, 0.3, 0.4, 0.5)]
    return {
        "annotations_text": ANNOTATION_TEXT,
        "videos": videos,
        "expected": {
            "auc": 100 * auc, "ap": 100 * ap, "auc_abnormal": 100 * auc_a,
            "far": float(np.mean(s_n >= 0.5)),
            "category_accuracy": 100.0 * sum(cat_hits) / len(cat_hits),
            "map_iou": maps, "map_avg": float(np.mean([m[1] for m in maps])),
            "n_frames": int(len(y_all)), "n_anomalous_frames": int(y_all.sum()),
        },
    }


def main():
    data = {
        "generator": "scripts/make_eval_fixtures.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "metrics": metric_cases(),
        "protocol": protocol_case(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # One metric case per line keeps the file small and its diffs readable.
    head = {k: v for k, v in data.items() if k != "metrics"}
    text = json.dumps(head, indent=1)
    cases = ",\n".join("  " + json.dumps(c) for c in data["metrics"])
    text = text[:-2] + ',\n "metrics": [\n' + cases + "\n ]\n}\n"
    json.loads(text)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.normpath(OUT)}: {len(data['metrics'])} metric cases, protocol expected {data['protocol']['expected']}")


if __name__ == "__main__":
    main()
