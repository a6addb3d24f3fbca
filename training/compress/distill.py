#!/usr/bin/env python3
"""Train a smaller student by distillation from a teacher model package.

    /usr/bin/python3 training/compress/distill.py --data DATASET --targets TARGETS --run RUN \
        --width 0.5 [--neck 32] [--steps 400] [--batch 16] [--kd 1.0]

The student family is the model factory's network (training/model.py `Net(spec, width, neck)`:
the width multiplier scales every backbone stage, `neck` the FPN channels); the tails keep
the spec of training/tail_spec.json, so the student is a package like any other. The teacher is
a black box: its raw head maps on every training frame, written by
training/compress/teacher_targets.ts from any package that follows the model contract.

Loss = the factory's own supervised loss (training/train.py `losses`: CenterNet focal + L1,
class-weighted CE + dice, log-depth L1 + scale-invariant) + kd × distillation:
- heat: BCE of the student's heat logits against the teacher's sigmoid, summed and divided by
  the teacher's heat mass (as the focal loss divides by the number of centres);
- seg: KL(teacher || student) of the class softmax at temperature 2 (× T²), per pixel;
- depth: L1 between student and teacher log depth (the contract's depth mapping).
Teacher maps at another stride than the student's are resized (bilinear). Augmentation is a
horizontal flip only (applied to the teacher's maps too): scale and colour jitter would need the
teacher re-run on every augmented frame.

Writes RUN/model.pt in training/export.py's checkpoint format ({state, spec, arch, meta}), so
`training/export.py --ckpt RUN/model.pt --out PKG` turns it into a model package, and
RUN/log.jsonl (one line per logged step).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
from data import Dataset  # noqa: E402
from train import K, losses, make_batch  # noqa: E402


class Targets:
    def __init__(self, root):
        self.meta = json.load(open(os.path.join(root, "meta.json")))
        self.maps = {}
        for head, h in self.meta["heads"].items():
            self.maps[head] = np.memmap(os.path.join(root, h["file"]), np.float32, "r", shape=tuple(h["shape"]))

    def batch(self, idx, flips):
        out = {}
        for head, m in self.maps.items():
            a = np.stack([m[int(k)][:, :, ::-1] if f else m[int(k)] for k, f in zip(idx, flips)])
            out[head] = torch.from_numpy(np.ascontiguousarray(a))
        return out


def flip_batch(b, flips):
    """Horizontal flip of the frames marked in `flips` (image, seg, depth, det targets)."""
    for i, f in enumerate(flips):
        if not f:
            continue
        b["image"][i] = b["image"][i].flip(1)
        b["seg"][i] = b["seg"][i].flip(1)
        b["depth"][i] = b["depth"][i].flip(1)
        b["heat"][i] = b["heat"][i].flip(-1)
        b["mask"][i] = b["mask"][i].flip(-1)
        b["hw"][i] = b["hw"][i].flip(-1)
        reg = b["reg"][i].flip(-1)
        # sub-cell x offset of a flipped centre: cell index mirrors, offset o -> 1 - o (approx.)
        m = b["mask"][i] > 0
        reg[0] = torch.where(m, 1 - reg[0], reg[0])
        b["reg"][i] = reg
    return b


def kd_loss(out, t, T=2.0):
    def fit(x, like):
        return x if x.shape[-2:] == like.shape[-2:] else F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    det_s, seg_s, dep_s = out["det_raw"], out["seg_raw"], out["depth_raw"]
    det_t, seg_t, dep_t = fit(t["det"], det_s), fit(t["seg"], seg_s), fit(t["depth"], dep_s)
    pt = torch.sigmoid(det_t[:, :K])
    heat = F.binary_cross_entropy_with_logits(det_s[:, :K], pt, reduction="sum") / pt.sum().clamp(min=1)
    seg = F.kl_div(F.log_softmax(seg_s / T, 1), F.softmax(seg_t / T, 1), reduction="batchmean") * T * T / (seg_s.shape[-1] * seg_s.shape[-2])
    dep = (M.log_depth_from_raw(dep_s) - M.log_depth_from_raw(dep_t)).abs().mean()
    return heat + seg + dep, {"kd_heat": heat, "kd_seg": seg, "kd_depth": dep}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="training dataset (training/DATASET.md), rendered at the training size")
    ap.add_argument("--targets", required=True, help="teacher targets (training/compress/teacher_targets.ts)")
    ap.add_argument("--run", required=True)
    ap.add_argument("--width", type=float, required=True)
    ap.add_argument("--neck", type=int, default=None, help="FPN channels (default: 64 x width, a multiple of 8)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--kd", type=float, default=1.0, help="weight of the distillation terms (0: ground truth only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--init", choices=["auto", "prune", "scratch"], default="auto",
                    help="prune: the teacher's channels by L1 norm (training/compress/prune.py; teacher must be the factory's Net); "
                         "scratch: random; auto: prune when possible")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    tg = Targets(a.targets)
    H, W = tg.meta["size"]
    ds = Dataset(a.data, (H, W))
    if len(ds) != tg.meta["frames"]:
        raise SystemExit(f"distill.py: {a.targets} has {tg.meta['frames']} frames, dataset {a.data} has {len(ds)}: re-run teacher_targets.ts")
    if ds.classes != M.CLASSES:
        raise SystemExit(f"distill.py: dataset classes {ds.classes} differ from the student's {M.CLASSES}")
    neck = a.neck or max(8, int(round(64 * a.width / 8)) * 8)
    spec = M.load_tail_spec()
    arch = {"width": a.width, "neck": neck}
    net = M.Net(spec, **arch)
    init = "scratch"
    if a.init in ("auto", "prune"):
        from prune import PruneUnsupported, prune_init, teacher_net
        try:
            teacher, tw, tn = teacher_net(tg.meta["teacher"]["dir"])
            kept = prune_init(net, teacher)
            init = "prune"
            print(f"distill: student initialised from the teacher (width {tw}, neck {tn}) pruned by channel L1 norm: {kept}", flush=True)
        except PruneUnsupported as e:
            if a.init == "prune":
                raise SystemExit(f"distill.py: --init prune: {e}")
            print(f"distill: starting from scratch ({e})", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)

    def set_train():
        net.train()
        if init == "prune":  # keep the pruned teacher's function: batch norm stays an affine map
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
    warm = min(50, a.steps // 10)
    sched = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, a.steps - warm)))  # noqa: E731
    os.makedirs(a.run, exist_ok=True)
    gmac = M.count_macs(net, H, W) / 1e9
    print(f"distill: student width {a.width} neck {neck}: {gmac:.3f} GMAC at {H}x{W}, "
          f"{sum(p.numel() for p in net.parameters())} params | teacher {tg.meta['teacher']['name']} | "
          f"{len(ds)} frames | {a.steps} steps x {a.batch} | kd {a.kd}", flush=True)
    logf = open(os.path.join(a.run, "log.jsonl"), "w")
    set_train()
    t0 = tlast = time.time()
    acc = {}
    for step in range(1, a.steps + 1):
        for g in opt.param_groups:
            g["lr"] = a.lr * sched(step - 1)
        idx = rng.integers(0, len(ds), a.batch)
        flips = rng.random(a.batch) < 0.5
        b = flip_batch(make_batch(ds, idx, None, aug=False), flips)
        out = net(M.normalise(b["image"].float().permute(0, 3, 1, 2)))
        total, terms = losses(out, b)
        if a.kd > 0:
            kd, kterms = kd_loss(out, tg.batch(idx, flips))
            total = total + a.kd * kd
            terms.update(kterms)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        for k, v in terms.items():
            acc[k] = acc.get(k, 0.0) + float(v)
        if step % a.log_every == 0 or step == a.steps:
            now = time.time()
            n = a.log_every if step % a.log_every == 0 else step % a.log_every
            sps = (now - tlast) / n
            tlast = now
            line = {k: round(v / n, 4) for k, v in acc.items()}
            acc = {}
            print(f"step {step}/{a.steps} " + " ".join(f"{k}={v:.3f}" for k, v in line.items())
                  + f" | {sps:.2f} s/step ETA {sps * (a.steps - step) / 60:.1f} min", flush=True)
            logf.write(json.dumps({"step": step, "s_per_step": round(sps, 3), **line}) + "\n")
            logf.flush()
    wall = time.time() - t0
    meta = {"domains": ds.meta.get("domains"), "size": [H, W], "arch": arch, "steps": a.steps, "wall_s": round(wall, 1),
            "dataset": {"dir": a.data, "frames": len(ds), "seed": ds.meta.get("seed")},
            "distillation": {"teacher": tg.meta["teacher"], "targets": a.targets, "kd": a.kd, "batch": a.batch, "lr": a.lr, "init": init},
            "gmac": round(gmac, 4), "ladder": [[192, 384], [160, 320], [128, 256]] if [H, W] == [192, 384] else [[H, W]]}
    path = os.path.join(a.run, "model.pt")
    torch.save({"state": net.state_dict(), "spec": spec, "arch": arch, "step": a.steps, "meta": meta}, path + ".tmp")
    os.replace(path + ".tmp", path)
    print(f"distill: done in {wall / 60:.1f} min -> {path}", flush=True)


if __name__ == "__main__":
    main()
