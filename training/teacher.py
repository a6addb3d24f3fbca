#!/usr/bin/env python3
"""COCO teachers -> pseudo-boxes in our classes, for distilling detection on real frames.

Teachers (run through the exact PyTorch ports in pretrained/, checked against the originals:
FastestDet vs OpenCV-DNN on the ONNX file, CenterNet vs TensorFlow.js, max |diff| < 1e-4):
- FastestDet (BSD-3, /work/shared/models/fastestdet): BGR / 255 input, 352x352 (its training size); score =
  obj^0.6 * cls^0.4 as its example decoder does.
- CenterNet-MobileNetV3 (human-models, MIT): RGB 0..255 input at 512 rows, aspect kept
  (width rounded to 32); heat peaks (3x3 max) with ltrb sizes = wh * 16 px... read from its graph.
By default only CenterNet labels (see Teachers); with --with-fastestdet the boxes of both are
merged (NMS at IoU 0.45 on score / KEEP of their teacher, vehicles as one group).

COCO -> ours (decision, docs/experiments/2026-12-06-real-backbone.md):
  car -> car; truck, bus -> truck; person -> pedestrian; bicycle / motorcycle -> cyclist when a
  person overlaps it (the union box of rider and vehicle, the rider's person box removed, as
  the synthetic world's cyclist boxes cover rider + bike); a bicycle / motorcycle without a
  rider is an ignore region (parked), as is every box scored between IGNORE and KEEP.

    /usr/bin/python3 training/teacher.py --out training/.data/real/teacher.json IMAGE_OR_VIDEO... [--every 3]
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pretrained.onnx_graph import ONNXGraph  # noqa: E402
from pretrained.tfjs_graph import TFJSGraph  # noqa: E402

CENTERNET = os.environ.get("CENTERNET_JSON", "/tmp/hm/package/models/centernet.json")
FASTESTDET = os.environ.get("FASTESTDET_ONNX", "/work/shared/models/fastestdet/FastestDet.onnx")
# per-teacher score thresholds: a box at or above KEEP is a positive, between IGNORE and KEEP an
# ignore region (FastestDet's own decoder uses 0.65; CenterNet's scores run lower, human-models
# reports from 0.2). Boxes are merged on score / KEEP of their teacher.
KEEP = {"fastestdet": 0.65, "centernet": 0.35}
IGNORE = {"fastestdet": 0.40, "centernet": 0.20}
VEHICLE_GROUP = 0
PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK = 0, 1, 2, 3, 5, 7
OURS = {CAR: 0, TRUCK: 1, BUS: 1, PERSON: 2}


class Teachers:
    """The labelling teacher is CenterNet alone by default (use_fastestdet=False): on the real dev
    check (real_dev.py --teachers) CenterNet scored vehicle AP@0.5 0.86 and FastestDet 0.30 at its
    native 352x352 (0.03 at 512x512), and merging FastestDet's boxes added duplicates and wrong
    sizes (docs/experiments/2026-12-06-real-backbone.md)."""

    def __init__(self, fastestdet=FASTESTDET, centernet=CENTERNET, use_fastestdet=False):
        self.fd = ONNXGraph.load(fastestdet).eval()
        self.cn = TFJSGraph.load(centernet, ["tower_0/keypoints", "tower_0/wh"]).eval() if centernet else None
        self.wh_scale = float(self.cn.consts["tower_0/mul/y"]) if self.cn else 0
        self.use_fastestdet = use_fastestdet or self.cn is None

    @torch.no_grad()
    def fastestdet(self, rgb, size=(512, 512), thresh=IGNORE["fastestdet"]):
        H, W = rgb.shape[:2]
        x = cv2.resize(rgb[:, :, ::-1], (size[1], size[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        out = self.fd(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[self.fd.outputs[0]][0].numpy()
        gh, gw = out.shape[1:]
        obj, reg, cls = out[0], out[1:5], out[5:]
        c = cls.argmax(0)
        score = obj ** 0.6 * cls.max(0) ** 0.4
        dets = []
        for y, x_ in zip(*np.where(score > thresh)):
            cx = (x_ + np.tanh(reg[0, y, x_])) / gw * W
            cy = (y + np.tanh(reg[1, y, x_])) / gh * H
            bw = 1 / (1 + np.exp(-reg[2, y, x_])) * W
            bh = 1 / (1 + np.exp(-reg[3, y, x_])) * H
            dets.append([int(c[y, x_]), float(score[y, x_]) / KEEP["fastestdet"], cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        return dets

    @torch.no_grad()
    def centernet(self, rgb, rows=512, thresh=IGNORE["centernet"]):
        H, W = rgb.shape[:2]
        cols = int(round(W * rows / H / 32)) * 32
        x = cv2.resize(rgb, (cols, rows), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        o = self.cn(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
        heat = o["tower_0/keypoints"][0]
        wh = o["tower_0/wh"][0].numpy()
        peak = (F.max_pool2d(heat[None], 3, 1, 1)[0] == heat).numpy()
        heat = heat.numpy() * peak
        sx, sy = W / cols, H / rows
        dets = []
        for c, y, x_ in zip(*np.where(heat > thresh)):
            l, t, r, b = wh[:, y, x_]
            cx, cy = x_ * 4, y * 4
            dets.append([int(c), float(heat[c, y, x_]) / KEEP["centernet"], (cx - l) * sx, (cy - t) * sy, (cx + r) * sx, (cy + b) * sy])
        return dets

    def __call__(self, rgb):
        """Scores in the result are relative: 1 = the teacher's KEEP threshold."""
        dets = (self.fastestdet(rgb, size=(352, 352)) if self.use_fastestdet else []) + (self.centernet(rgb) if self.cn else [])
        return to_ours(nms(dets, 0.45), rgb.shape[1], rgb.shape[0])


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0.0


def _group(c):
    return VEHICLE_GROUP if c in (CAR, TRUCK, BUS) else c


def nms(dets, thr):
    """Across teachers; car / truck / bus suppress each other (one object, one label)."""
    out = []
    for d in sorted(dets, key=lambda d: -d[1]):
        if all(_group(o[0]) != _group(d[0]) or iou(o[2:], d[2:]) < thr for o in out):
            out.append(d)
    return out


def to_ours(dets, W, H):
    """COCO dets -> [{cls, score, x0, y0, x1, y1, keep}] in our classes (see module doc)."""
    clip = lambda b: [max(0.0, b[0]), max(0.0, b[1]), min(float(W), b[2]), min(float(H), b[3])]
    persons = [d for d in dets if d[0] == PERSON]
    riders = set()
    out = []
    for d in dets:
        if d[0] not in (BICYCLE, MOTORCYCLE):
            continue
        best, bj = 0.0, -1
        for j, p in enumerate(persons):
            ix = max(0.0, min(d[4], p[4]) - max(d[2], p[2]))
            iy = max(0.0, min(d[5], p[5]) - max(d[3], p[3]))
            ov = ix * iy / max((p[4] - p[2]) * (p[5] - p[3]), 1e-6)
            if ov > best:
                best, bj = ov, j
        if best > 0.25:
            p = persons[bj]
            riders.add(bj)
            box = [min(d[2], p[2]), min(d[3], p[3]), max(d[4], p[4]), max(d[5], p[5])]
            out.append({"cls": 3, "score": min(d[1], p[1]) ** 0.5 * max(d[1], p[1]) ** 0.5, "box": clip(box)})
        else:
            out.append({"cls": 3, "score": 0.0, "box": clip(d[2:]), "parked": True})
    for j, p in enumerate(persons):
        if j not in riders:
            out.append({"cls": 2, "score": p[1], "box": clip(p[2:])})
    for d in dets:
        if d[0] in (CAR, TRUCK, BUS):
            out.append({"cls": OURS[d[0]], "score": d[1], "box": clip(d[2:])})
    res = []
    for o in out:
        b = o["box"]
        if b[2] - b[0] < 2 or b[3] - b[1] < 2:
            continue
        keep = 1 if (o["score"] >= 1.0 and not o.get("parked")) else 0
        res.append({"cls": o["cls"], "score": round(float(o["score"]), 4), "x0": round(b[0], 1), "y0": round(b[1], 1),
                    "x1": round(b[2], 1), "y1": round(b[3], 1), "keep": keep})
    return res


def frames_of(path, every):
    if path.lower().endswith((".mp4", ".avi", ".mov")):
        cap = cv2.VideoCapture(path)
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield f"{path}#{i}", bgr[:, :, ::-1].copy()
            i += 1
    else:
        bgr = cv2.imread(path)
        if bgr is None:
            raise SystemExit(f"teacher.py: cannot read {path}")
        yield path, bgr[:, :, ::-1].copy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=int, default=3, help="keep every n-th video frame")
    ap.add_argument("--with-fastestdet", action="store_true", help="merge FastestDet's boxes (352x352) with CenterNet's")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(2)
    t = Teachers(use_fastestdet=a.with_fastestdet)
    res = {}
    t0 = time.time()
    for p in a.inputs:
        for key, rgb in frames_of(p, a.every):
            res[key] = {"size": [rgb.shape[0], rgb.shape[1]], "boxes": t(rgb)}
            n = sum(b["keep"] for b in res[key]["boxes"])
            print(f"{key}: {n} boxes kept, {len(res[key]['boxes']) - n} ignored ({time.time() - t0:.0f}s)", flush=True)
    json.dump(res, open(a.out + ".tmp", "w"))
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
