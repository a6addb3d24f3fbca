#!/usr/bin/env python3
"""Pre-computes training samples for train_real.py: domain-randomised frames (real_data.py)
with the FROZEN backbone's feature taps, so training pays for the backbone once per sample
instead of once per step (on two shared cores the backbone forward was most of a step).

    /usr/bin/python3 training/cache_real.py --data SYN_TRAIN --real-src training/.data/real-src \
        --teacher training/.data/real/teacher.json --out training/.data/real/cache --real-variants 6

Layout (OUT/meta.json written last): images.u8 [N,H,W,3], seg.u8 [N,H,W], depth.f16 [N,H,W]
(metres; 0 = no label), taps_<name>.f16 [N,C,h,w] for s4 s8 s16 h16 s32 (s2 = the first
convolution + ReLU is recomputed from the image in training), samples.json (boxes, depth
scale, tasks, source). Synthetic frames get `--syn-variants` augmented copies each, real
frames `--real-variants`; every copy has its own seeded random crop / squash / photometric draw.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import realnet as R  # noqa: E402
from real_data import COMMA_DEV, RealSet, RealTops, SynthSet, geometric, photometric  # noqa: E402

TAP_NAMES = ["s4", "s8", "s16", "h16", "s32", "fd"]
TAP_SHAPES = {"s4": (24, 4), "s8": (48, 8), "s16": (96, 16), "h16": (96, 16), "s32": (192, 32), "fd": (R.FD_CH, 16)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--real-src", default=os.path.join(HERE, ".data", "real-src"))
    ap.add_argument("--teacher", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--syn-variants", type=int, default=1)
    ap.add_argument("--real-variants", type=int, default=6)
    ap.add_argument("--max-syn", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sky-paste", type=float, default=0.6, help="probability of real sky / trees in a synthetic frame's sky")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    H, W = map(int, a.size.split("x"))
    syn = SynthSet(a.data)
    real = RealSet(a.real_src, a.teacher, exclude=COMMA_DEV)
    n_syn = len(syn) if a.max_syn is None else min(len(syn), a.max_syn)
    jobs = [("syn", k, v) for k in range(n_syn) for v in range(a.syn_variants)]
    jobs += [("real", k, v) for k in range(len(real)) for v in range(a.real_variants)]
    N = len(jobs)
    tmp = a.out + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    mm = lambda name, dt, shape: np.lib.format.open_memmap(os.path.join(tmp, name + ".npy"), "w+", dt, shape)
    images = mm("images", np.uint8, (N, H, W, 3))
    seg = mm("seg", np.uint8, (N, H, W))
    depth = mm("depth", np.float16, (N, H, W))
    taps = {t: mm("taps_" + t, np.float16, (N, c, H // s, W // s)) for t, (c, s) in TAP_SHAPES.items()}
    tops = RealTops(real) if a.sky_paste > 0 else None
    print(f"cache: {N} samples ({n_syn} synthetic x {a.syn_variants}, {len(real)} real x {a.real_variants}); "
          f"{len(tops.tops) if tops else 0} real above-horizon crops for the synthetic sky", flush=True)
    bb = R.Backbone().eval()
    samples = []
    t0 = time.time()
    batch = []

    def flush():
        x = torch.from_numpy(np.stack([images[i] for i, _ in batch])).float().permute(0, 3, 1, 2)
        with torch.no_grad():
            f = bb(R.normalise(x))
        for j, (i, _) in enumerate(batch):
            for t in TAP_NAMES:
                taps[t][i] = f[t][j].numpy().astype(np.float16)
        batch.clear()

    for i, (src, k, v) in enumerate(jobs):
        rng = np.random.default_rng([a.seed, 0 if src == "syn" else 1, k, v])
        s = syn.sample(k) if src == "syn" else real.sample(k)
        if src == "syn" and tops is not None and rng.random() < a.sky_paste:
            s = tops.paste(rng, s)
        s = geometric(rng, s, (H, W), aspect=(1.6, 3.4), hfrac=(0.65, 1.0) if src == "syn" else (0.5, 1.0))
        s["img"] = photometric(rng, s["img"], strong=src == "syn")
        images[i], seg[i] = s["img"], s["seg"]
        depth[i] = np.where(np.isfinite(s["depth"]), np.minimum(s["depth"], 60000), 0).astype(np.float16)
        samples.append({"src": src, "k": int(k), "v": int(v), "boxes": s["boxes"].round(2).tolist(),
                        "scale": s["scale"], "tasks": list(s["tasks"])})
        batch.append((i, s))
        if len(batch) == 8:
            flush()
        if (i + 1) % 100 == 0 or i + 1 == N:
            el = time.time() - t0
            print(f"cache {i + 1}/{N} ({el / 60:.1f} min, ETA {el / (i + 1) * (N - i - 1) / 60:.1f} min)", flush=True)
    if batch:
        flush()
    for arr in [images, seg, depth, *taps.values()]:
        arr.flush()
    json.dump(samples, open(os.path.join(tmp, "samples.json"), "w"))
    json.dump({"size": [H, W], "count": N, "taps": {t: list(TAP_SHAPES[t]) for t in TAP_NAMES},
               "synthetic": {"dir": a.data, "frames": n_syn, "variants": a.syn_variants, "seed": syn.ds.meta.get("seed"),
                             "domains": syn.ds.meta.get("domains"), "camera_jitter": syn.ds.meta.get("cameraJitter", False)},
               "real": {"frames": len(real), "variants": a.real_variants, "teacher": [os.path.basename(t) for t in a.teacher],
                        "weak_seg": "top %.2f of each frame without a mask = background" % __import__("real_data").SKY_ROWS},
               "sky_paste": a.sky_paste,
               "seed": a.seed}, open(os.path.join(tmp, "meta.json"), "w"), indent=1)
    if os.path.exists(a.out):
        import shutil
        shutil.rmtree(a.out)
    os.replace(tmp, a.out)
    print(f"cache: {N} samples -> {a.out} in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
