#!/usr/bin/env python3
"""Scores model PACKAGES on a synthetic dataset directory (training/DATASET.md) exactly as the
engine runs them (onnxruntime-node via run_package.mjs: the stored frames as camera pixels, the
manifest's default input size, shipped tails), so two packages are compared on the same frames:

    /usr/bin/python3 training/eval_package.py HELDOUT_DIR models/default models/candidates/real [--frames 300]

Metrics as train.py: VOC all-point AP@0.5 per class (boxes lower than 8 model pixels or
occluded > 70 % are ignore regions), lane / drivable IoU, depth AbsRel and delta<1.25 over
0 < depth < 120 m, each at the package's input size (labels resized nearest).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import FAR_M, Dataset  # noqa: E402
from train import average_precision, decode  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("packages", nargs="+")
    ap.add_argument("--frames", type=int, default=300)
    a = ap.parse_args()
    ds = Dataset(a.data, None)
    n = min(a.frames, len(ds))
    idx = np.linspace(0, len(ds) - 1, n).astype(int)
    with tempfile.TemporaryDirectory() as work:
        fdir = os.path.join(work, "frames")
        os.makedirs(fdir)
        index = []
        for j, k in enumerate(idx):
            np.ascontiguousarray(ds.image(int(k))).tofile(os.path.join(fdir, f"{j}.u8"))
            index.append({"file": f"{j}.u8", "height": ds.H, "width": ds.W})
        json.dump(index, open(os.path.join(fdir, "index.json"), "w"))
        for pkg in a.packages:
            out = os.path.join(work, "out-" + os.path.basename(os.path.normpath(pkg)))
            subprocess.run(["node", os.path.join(HERE, "run_package.mjs"), pkg, fdir, out], check=True)
            res = json.load(open(os.path.join(out, "index.json")))
            man = res["manifest"]
            H, W = man["size"]
            sd = man["strides"]["det"]
            classes = man["classes"]
            K = len(classes)
            dets = {c: [] for c in range(K)}
            gts = {c: {} for c in range(K)}
            inter, union = np.zeros(3), np.zeros(3)
            absrel = d1 = npx = 0.0
            for j, k in enumerate(idx):
                e = res["frames"][j]
                rd = lambda nm, dt: np.fromfile(os.path.join(out, f"{j}.{nm}.bin"), dt).reshape(e[nm]["dims"])
                _, seg, depth, boxes = ds.sample(int(k))
                sx, sy = W / ds.W, H / ds.H
                for c, s, x0, y0, x1, y1 in decode(rd("det_heat", np.float32)[0], rd("det_box", np.float32)[0], sd):
                    dets[c].append((j, s, [x0, y0, x1, y1]))
                for c in range(K):
                    g = []
                    for b in boxes:
                        if int(b[0]) != c:
                            continue
                        bb = [b[1] * sx, b[2] * sy, b[3] * sx, b[4] * sy]
                        keep = b[5] > 0.5 and (bb[3] - bb[1]) >= 8
                        g.append((bb, bool(keep)))
                    gts[c][j] = g
                sm = rd("seg_mask", np.uint8)[0]
                gs = cv2.resize(seg, (W, H), interpolation=cv2.INTER_NEAREST)
                for c in (1, 2):
                    inter[c] += np.sum((sm == c) & (gs == c))
                    union[c] += np.sum(((sm == c) | (gs == c)) & (gs != 255))
                pd = rd("depth", np.float32)[0]
                gd = cv2.resize(depth, (W, H), interpolation=cv2.INTER_NEAREST)
                v = (gd > 0) & (gd < FAR_M)
                if v.any():
                    p, g = pd[v], gd[v]
                    absrel += float(np.sum(np.abs(p - g) / g))
                    d1 += float(np.sum(np.maximum(p / g, g / p) < 1.25))
                    npx += int(v.sum())
            aps = {classes[c]: average_precision(dets[c], gts[c]) for c in range(K)}
            valid = [v for v in aps.values() if v is not None]
            ap_s = " ".join(f"{k}={'-' if v is None else f'{v:.3f}'}" for k, v in aps.items())
            print(f"{pkg} ({man['name']} {man['version']}, {H}x{W}) on {n} frames of {a.data}: "
                  f"mAP@0.5 {np.mean(valid):.3f} ({ap_s})  lane IoU {inter[1] / max(union[1], 1):.3f}  "
                  f"drivable IoU {inter[2] / max(union[2], 1):.3f}  AbsRel {absrel / max(npx, 1):.3f}  "
                  f"delta<1.25 {d1 / max(npx, 1):.3f}", flush=True)


if __name__ == "__main__":
    main()
