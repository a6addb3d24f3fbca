#!/usr/bin/env python3
"""The real dev check: permissively licensed REAL frames with labels, scored through model
packages exactly as the engine runs them (onnxruntime-node via run_package.mjs: camera pixels
in, the manifest's default input size, shipped tails).

    /usr/bin/python3 training/real_dev.py PKG_DIR [PKG_DIR ...] [--src training/.data/real-src] [--teachers]

Frames: the six held-out comma10k frames (real_data.COMMA_DEV; never trained on), 1164x874,
from commaai/comma10k (MIT) via training/real_sources.py. Labels:
- drivable road (#402020) and lane markings (#ff0000) from comma10k's masks; "my car" (hood,
  mounts) is not scored; IoU over all pixels of the six frames at the model's input size.
- vehicles: 21 boxes of vehicles at least 20 px tall, drawn roughly by hand for this check
  (DEV_VEHICLES, 2026-12-06) and snapped to the tight extent of comma10k's "movable" pixels
  (#00ff66) inside each rough box; comma10k has no boxes, and its movable components merge
  neighbouring vehicles. Detections and boxes lower than MIN_H camera pixels are left out
  (outside the scale range scored, as KITTI's difficulty levels do). "vehicle AP@0.5" (VOC
  all-point) counts a detection of class car or truck; detections centred on comma10k's "my car"
  pixels (the ego bonnet and mounts, absent from most cameras) are not scored, as those pixels
  are not scored for segmentation. A small set, so a dev signal, not a benchmark.
With --teachers it also scores the two COCO detectors as they are (the backbone comparison).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from real_data import COMMA_DEV, comma_seg  # noqa: E402
from train import average_precision, decode  # noqa: E402

MIN_H = 20
# rough vehicle boxes (x0, y0, x1, y1) in the 1164x874 frames, by hand; snapped to movable pixels
DEV_VEHICLES = {
    "0000_": [(75, 385, 131, 409), (175, 386, 252, 410)],
    "0002_": [(0, 340, 300, 540)],
    "0005_": [(0, 365, 50, 470), (95, 320, 270, 455), (385, 392, 425, 415), (660, 380, 735, 435),
              (730, 383, 760, 415), (760, 340, 1010, 500), (1010, 340, 1164, 475)],
    "0006_": [(577, 365, 635, 412)],
    "0008_": [(0, 415, 262, 560), (150, 390, 315, 460), (320, 400, 360, 438), (360, 392, 415, 438),
              (402, 395, 488, 452), (488, 397, 532, 432), (557, 382, 630, 452)],
    "0010_": [(573, 365, 610, 418), (498, 400, 535, 425), (640, 403, 680, 428)],
}


def snap(box, movable, pad=6):
    H, W = movable.shape
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(W, x1 + pad), min(H, y1 + pad)
    ys, xs = np.nonzero(movable[y0:y1, x0:x1])
    if len(xs) < 20:
        return list(box)
    return [x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1]


def dev_frames(src):
    out = []
    for p in sorted(glob.glob(os.path.join(src, "comma10k", "imgs", "*.png"))):
        if not os.path.basename(p).startswith(COMMA_DEV):
            continue
        rgb = cv2.imread(p)[:, :, ::-1].copy()
        mask = cv2.imread(p.replace("/imgs/", "/masks/"))[:, :, ::-1]
        seg = comma_seg(mask)
        mov = np.all(mask == np.array([0x00, 0xFF, 0x66], np.uint8), -1)
        rough = next(v for k, v in DEV_VEHICLES.items() if os.path.basename(p).startswith(k))
        boxes = [snap(b, mov) + [True] for b in rough]
        out.append({"name": os.path.basename(p), "rgb": rgb, "seg": seg, "boxes": boxes, "mycar": seg == 255})
    return out


def score(frames, dets_per_frame, seg_per_frame):
    """dets: [[cls, score, x0, y0, x1, y1]] in camera pixels (cls 0 car, 1 truck count);
    seg: uint8 mask at any size (labels resized nearest to it)."""
    gts = {i: [(b[:4], b[4]) for b in f["boxes"] if b[3] - b[1] >= MIN_H] for i, f in enumerate(frames)}
    def on_bonnet(f, d):  # detections centred on the ego car (comma10k "my car") are not scored, as its pixels are not
        if "mycar" not in f:
            return False
        H, W = f["mycar"].shape
        cx, cy = int(min(max((d[2] + d[4]) / 2, 0), W - 1)), int(min(max((d[3] + d[5]) / 2, 0), H - 1))
        return bool(f["mycar"][cy, cx])
    dets = [(i, d[1], d[2:6]) for i, ds in enumerate(dets_per_frame) for d in ds
            if d[0] in (0, 1) and d[5] - d[3] >= MIN_H and not on_bonnet(frames[i], d)]
    ap = average_precision(dets, gts)
    res = {"vehicle_ap50": round(ap, 4) if ap is not None else None,
           "vehicles": int(sum(b[4] for f in frames for b in f["boxes"]))}
    if seg_per_frame is not None:
        inter, union = np.zeros(3), np.zeros(3)
        for f, sm in zip(frames, seg_per_frame):
            gs = cv2.resize(f["seg"], (sm.shape[1], sm.shape[0]), interpolation=cv2.INTER_NEAREST)
            for c in (1, 2):
                inter[c] += np.sum((sm == c) & (gs == c))
                union[c] += np.sum(((sm == c) | (gs == c)) & (gs != 255))
        res["lane_iou"] = round(float(inter[1] / max(union[1], 1)), 4)
        res["drivable_iou"] = round(float(inter[2] / max(union[2], 1)), 4)
    return res


def run_package(pkg, frames, work):
    fdir = os.path.join(work, "frames")
    if not os.path.exists(os.path.join(fdir, "index.json")):
        os.makedirs(fdir, exist_ok=True)
        idx = []
        for i, f in enumerate(frames):
            np.ascontiguousarray(f["rgb"]).tofile(os.path.join(fdir, f"{i}.u8"))
            idx.append({"file": f"{i}.u8", "height": f["rgb"].shape[0], "width": f["rgb"].shape[1]})
        json.dump(idx, open(os.path.join(fdir, "index.json"), "w"))
    out = os.path.join(work, "out-" + os.path.basename(os.path.normpath(pkg)))
    subprocess.run(["node", os.path.join(HERE, "run_package.mjs"), pkg, fdir, out], check=True)
    index = json.load(open(os.path.join(out, "index.json")))
    man = index["manifest"]
    H, W = man["size"]
    sd = man["strides"]["det"]
    dets, segs = [], []
    for i, (f, e) in enumerate(zip(frames, index["frames"])):
        rd = lambda k, dt: np.fromfile(os.path.join(out, f"{i}.{k}.bin"), dt).reshape(e[k]["dims"])
        heat, box = rd("det_heat", np.float32)[0], rd("det_box", np.float32)[0]
        Hc, Wc = f["rgb"].shape[:2]
        sx, sy = Wc / W, Hc / H
        dets.append([[c, s, x0 * sx, y0 * sy, x1 * sx, y1 * sy] for c, s, x0, y0, x1, y1 in decode(heat, box, sd, thresh=0.02)])
        segs.append(rd("seg_mask", np.uint8)[0])
    return man, score(frames, dets, segs)


def run_teachers(frames):
    import torch
    from teacher import Teachers
    torch.set_num_threads(2)
    t = Teachers()
    res = {}
    for name in ("fastestdet", "centernet"):
        dets = []
        for f in frames:
            raw = t.fastestdet(f["rgb"], thresh=0.02) if name == "fastestdet" else t.centernet(f["rgb"], thresh=0.02)
            # COCO car / truck / bus count as vehicles (class 0 / 1 of ours)
            dets.append([[0 if d[0] == 2 else 1, d[1], *d[2:]] for d in raw if d[0] in (2, 5, 7)])
        res[name] = score(frames, dets, None)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("packages", nargs="*")
    ap.add_argument("--src", default=os.path.join(HERE, ".data", "real-src"))
    ap.add_argument("--teachers", action="store_true")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    frames = dev_frames(a.src)
    if not frames:
        raise SystemExit(f"real_dev: no comma10k dev frames under {a.src} (run training/real_sources.py)")
    print(f"real dev check: {len(frames)} comma10k frames (held out), {sum(b[3] - b[1] >= MIN_H for f in frames for b in f['boxes'])} "
          f"vehicle boxes (>= {MIN_H} px tall), drivable / lane-marking masks")
    allres = {}
    with tempfile.TemporaryDirectory() as work:
        for pkg in a.packages:
            man, r = run_package(pkg, frames, work)
            allres[pkg] = {"model": f"{man['name']} {man['version']}", "input": man["size"], **r}
            print(f"{pkg} ({man['name']} {man['version']}, input {man['size'][0]}x{man['size'][1]}): "
                  f"vehicle AP@0.5 {r['vehicle_ap50']}  drivable IoU {r['drivable_iou']}  lane-marking IoU {r['lane_iou']}")
    if a.teachers:
        for name, r in run_teachers(frames).items():
            allres[name] = r
            print(f"teacher {name} (original COCO detector, as is): vehicle AP@0.5 {r['vehicle_ap50']}")
    if a.json:
        json.dump(allres, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
