#!/usr/bin/env python3
"""Fake road-scene dataset in the DATASET.md format, for developing the model factory before
(or without) the TypeScript synthetic world. Deterministic for a given seed.

    /usr/bin/python3 training/fake_dataset.py --out DIR --domains day,dusk,fog --frames N --seed S --size 384x192

Writes DIR/meta.json and DIR/shard-XXXX/{images.u8,seg.u8,depth.f32,boxes.json,frames.json}.
The scenes are crude (flat ground plane, trapezoid road, painted lines, boxes for objects) but
the geometry is consistent: depth follows the ground plane, objects stand on it.
"""
import argparse
import json
import os

import numpy as np

CLASSES = ["car", "truck", "pedestrian", "cyclist"]
# (width m, height m) per class
SIZES = {0: (1.8, 1.5), 1: (2.5, 3.2), 2: (0.6, 1.75), 3: (0.7, 1.7)}
COLOURS = {0: (200, 30, 30), 1: (230, 230, 240), 2: (40, 60, 200), 3: (30, 170, 60)}
FAR = 200.0


def render(rng, W, H, domain):
    cam_h = 1.5 + rng.uniform(-0.05, 0.05)
    f = 0.9 * W
    horizon = H * (0.42 + rng.uniform(-0.03, 0.03))
    cx = W / 2
    v = np.arange(H)[:, None] + 0.5
    u = np.arange(W)[None, :] + 0.5
    below = np.broadcast_to(v > horizon + 0.5, (H, W))
    z = np.where(below, f * cam_h / np.maximum(v - horizon, 1e-3), FAR)  # ground depth
    z = np.minimum(z, FAR)
    x_lat = (u - cx) * z / f  # lateral metres on the ground (right positive)
    curve = rng.uniform(-0.004, 0.004)
    offset = rng.uniform(-1.0, 1.0)
    centre = offset + curve * z ** 2
    lane_w = 3.5
    n_left, n_right = rng.integers(1, 3), rng.integers(1, 3)
    road_l, road_r = centre - lane_w * n_left - 0.3, centre + lane_w * n_right + 0.3
    road = below & (x_lat > road_l) & (x_lat < road_r) & (z < 150)
    seg = np.zeros((H, W), np.uint8)
    seg[road] = 2
    lane = np.zeros((H, W), bool)
    dashed_phase = rng.uniform(0, 6)
    for k in range(-n_left, n_right + 1):
        lx = centre + k * lane_w
        edge = k in (-n_left, n_right)
        m = below & (np.abs(x_lat - lx) < 0.12) & (z < 80)
        if not edge:
            m &= ((z + dashed_phase) % 6.0) < 3.0
        lane |= m
    seg[lane] = 1
    yellow = rng.random() < 0.3
    # colours
    img = np.zeros((H, W, 3), np.float32)
    sky = np.array([135, 180, 235], np.float32)
    img[:] = sky * (0.8 + 0.2 * (v / H))[..., None]
    grass = np.array([70, 120, 50], np.float32) * rng.uniform(0.8, 1.2)
    img[below] = grass
    img[road] = np.array([90, 90, 95], np.float32) * rng.uniform(0.8, 1.2)
    img[lane] = (230, 200, 40) if yellow else (235, 235, 235)
    depth = z.astype(np.float32).copy()
    # objects
    boxes = []
    objs = []
    for _ in range(rng.integers(1, 7)):
        cls = int(rng.choice(4, p=[0.45, 0.15, 0.25, 0.15]))
        oz = rng.uniform(5, 60)
        if cls in (0, 1):
            lane_k = rng.integers(-n_left, n_right)
            ox = offset + curve * oz ** 2 + (lane_k + 0.5) * lane_w
        else:
            side = rng.choice([-1, 1])
            ox = offset + curve * oz ** 2 + side * (lane_w * (n_right if side > 0 else n_left) + rng.uniform(0, 2))
        objs.append((oz, cls, ox))
    objs.sort(key=lambda o: -o[0])  # far first, painter's order
    masks = []
    for oz, cls, ox in objs:
        bw, bh = SIZES[cls]
        bw *= rng.uniform(0.9, 1.1)
        bh *= rng.uniform(0.9, 1.1)
        u0, u1 = cx + (ox - bw / 2) * f / oz, cx + (ox + bw / 2) * f / oz
        vb = horizon + f * cam_h / oz
        vt = horizon + f * (cam_h - bh) / oz
        x0, x1 = max(0, int(round(u0))), min(W, int(round(u1)))
        y0, y1 = max(0, int(round(vt))), min(H, int(round(vb)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        m = np.zeros((H, W), bool)
        m[y0:y1, x0:x1] = True
        col = np.array(COLOURS[cls], np.float32) * rng.uniform(0.7, 1.2)
        img[m] = col
        if cls in (0, 1):  # windows
            wy1 = y0 + (y1 - y0) // 3
            img[y0 + (y1 - y0) // 10:wy1, x0 + (x1 - x0) // 8:x1 - (x1 - x0) // 8] = (40, 50, 60)
        else:  # head
            img[y0:y0 + max(1, (y1 - y0) // 6), x0:x1] = (220, 180, 150)
        depth[m] = oz
        seg[m] = 0
        area = (x1 - x0) * (y1 - y0)
        for b in masks:
            b[m] = False
        masks.append(m)
        boxes.append({"cls": cls, "x0": float(x0), "y0": float(y0), "x1": float(x1), "y1": float(y1), "area": area})
    out_boxes = []
    for b, m in zip(boxes, masks):
        vis = m.sum() / max(b.pop("area"), 1)
        b["occlusion"] = float(round(1 - vis, 3))
        out_boxes.append(b)
    # domain
    if domain == "dusk":
        img = img * np.array([0.55, 0.42, 0.38], np.float32) + np.array([20, 5, 0], np.float32)
    elif domain == "fog":
        a = np.exp(-np.minimum(depth, 150) / 35.0)[..., None]
        img = img * a + np.array([190, 190, 195], np.float32) * (1 - a)
    img = img + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), seg, depth, out_boxes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--domains", default="day,dusk,fog")
    ap.add_argument("--frames", type=int, default=64, help="frames per domain (as the TS dataset command)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default="384x192")
    ap.add_argument("--shard", type=int, default=512)
    a = ap.parse_args()
    W, H = map(int, a.size.lower().split("x"))
    domains = a.domains.split(",")
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    shards = []
    a.frames *= len(domains)
    for s0 in range(0, a.frames, a.shard):
        n = min(a.shard, a.frames - s0)
        d = f"shard-{len(shards):04d}"
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
        imgs = np.zeros((n, H, W, 3), np.uint8)
        segs = np.zeros((n, H, W), np.uint8)
        deps = np.zeros((n, H, W), np.float32)
        allb, frames = [], []
        for i in range(n):
            dom = domains[(s0 + i) % len(domains)]
            imgs[i], segs[i], deps[i], b = render(rng, W, H, dom)
            allb.append(b)
            frames.append({"index": s0 + i, "domain": dom})
        imgs.tofile(os.path.join(a.out, d, "images.u8"))
        segs.tofile(os.path.join(a.out, d, "seg.u8"))
        deps.tofile(os.path.join(a.out, d, "depth.f32"))
        json.dump(allb, open(os.path.join(a.out, d, "boxes.json"), "w"))
        json.dump(frames, open(os.path.join(a.out, d, "frames.json"), "w"))
        shards.append({"dir": d, "count": n})
    json.dump({"width": W, "height": H, "count": a.frames, "classes": CLASSES, "domains": domains,
               "seed": a.seed, "shards": shards, "generator": "training/fake_dataset.py"},
              open(os.path.join(a.out, "meta.json"), "w"), indent=1)
    print(f"wrote {a.frames} fake frames to {a.out}")


if __name__ == "__main__":
    main()
