#!/usr/bin/env python3
"""What a user would write instead of refinevad extract: OpenCV decode + onnxruntime.

Same frames and preprocessing as the default pipeline: every frame decoded, resized to
224x224 RGB, 4 evenly spaced frames per 16-frame snippet through EfficientNet-Lite0
(uint8 NHWC input, normalisation inside the graph), 8 snippets per batch, features
averaged per snippet. (refinevad also computes the soft caption and 50 motion statistics
from every frame; this script does not, so the comparison favours it.)

Prints one JSON line: frames, snippets, wall_s, cpu_s.
Needs: pip install opencv-python-headless numpy onnxruntime
"""
import json
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def main():
    video, model = sys.argv[1], sys.argv[2]
    copies = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    t0, c0 = time.time(), time.process_time()
    frames = snippets = 0
    for _ in range(copies):
        cap = cv2.VideoCapture(video)
        batch, buf = [], []

        def flush():
            nonlocal snippets
            if batch:
                x = np.stack([img for s in batch for img in s])
                out = sess.run(["features"], {"images": x})[0]
                out.reshape(len(batch), -1, out.shape[-1]).mean(axis=1)
                snippets += len(batch)
                batch.clear()

        def snippet():
            n = len(buf)
            picks = [((2 * i + 1) * n) // 8 for i in range(4)]
            batch.append([buf[p] for p in picks])
            buf.clear()
            if len(batch) == 8:
                flush()

        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames += 1
            rgb = cv2.cvtColor(cv2.resize(frame, (224, 224), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            buf.append(rgb)
            if len(buf) == 16:
                snippet()
        if buf:
            snippet()
        flush()
    print(json.dumps({"frames": frames, "snippets": snippets, "wall_s": time.time() - t0, "cpu_s": time.process_time() - c0}))


if __name__ == "__main__":
    main()
