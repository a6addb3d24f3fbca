#!/usr/bin/env python3
"""Train the multi-task network, then score it on a held-out dataset.

    /usr/bin/python3 training/train.py --data training/.data/train --heldout training/.data/heldout \
        --run training/.runs/full --steps 3000 --batch 16 --size 192x384

Checkpoints: RUN/last.pt (every --ckpt-every steps, resumable with --resume) and RUN/model.pt
(final, with the held-out metrics in its meta). Progress lines carry loss terms, s/step and ETA.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
from data import FAR_M, Dataset, augment, det_targets  # noqa: E402

K = len(M.CLASSES)
SEG_W = torch.tensor([1.0, 4.0, 1.0])


def make_batch(ds, idx, rng, aug=True, strong=False):
    H, W = ds.size
    imgs, segs, deps, heats, regs, masks, hws = [], [], [], [], [], [], []
    for k in idx:
        img, seg, dep, boxes = ds.sample(int(k))
        if aug:
            img, seg, dep, boxes = augment(rng, img, seg, dep, boxes, strong=strong)
        h, r, m, hw = det_targets(boxes, H, W, K, M.STRIDES["det"])
        imgs.append(img); segs.append(seg); deps.append(dep)
        heats.append(h); regs.append(r); masks.append(m); hws.append(hw)
    t = lambda a: torch.from_numpy(np.stack(a))
    return {"image": t(imgs), "seg": t(segs).long(), "depth": t(deps), "heat": t(heats),
            "reg": t(regs), "mask": t(masks), "hw": t(hws)}


def losses(out, b):
    # detection: CenterNet focal loss + L1 on offset / log-size at centres
    det = out["det_raw"]
    p = torch.sigmoid(det[:, :K]).clamp(1e-4, 1 - 1e-4)
    gt = b["heat"]
    pos = (gt >= 0.999).float()
    npos = pos.sum().clamp(min=1)
    lpos = -torch.log(p) * (1 - p) ** 2 * pos
    lneg = -torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * (1 - pos) * b["hw"]
    l_heat = (lpos.sum() + lneg.sum()) / npos
    m = b["mask"].unsqueeze(1)
    nm = m.sum().clamp(min=1)
    l_off = (torch.abs(torch.sigmoid(det[:, K:K + 2]) - b["reg"][:, :2]) * m).sum() / nm
    l_size = (torch.abs(det[:, K + 2:K + 4] - b["reg"][:, 2:]) * m).sum() / nm
    # segmentation: class-weighted CE + soft dice on lane markings, at input resolution
    seg = F.interpolate(out["seg_raw"], scale_factor=2.0, mode="bilinear", align_corners=False)
    l_ce = F.cross_entropy(seg, b["seg"], weight=SEG_W, ignore_index=255)
    valid = (b["seg"] != 255).float()
    pl = torch.softmax(seg, 1)[:, 1] * valid
    tl = (b["seg"] == 1).float()
    l_dice = 1 - (2 * (pl * tl).sum() + 1) / (pl.sum() + tl.sum() + 1)
    # depth: L1 on log depth + scale-invariant log term, valid (non-sky, non-pad) pixels only
    ld = F.interpolate(out["depth_raw"], scale_factor=4.0, mode="bilinear", align_corners=False)[:, 0]
    ld = M.log_depth_from_raw(ld)
    gd = b["depth"]
    v = (gd > 0) & (gd < FAR_M)
    g = ld[v] - torch.log(gd[v].clamp(min=M.DEPTH_MIN))
    if g.numel():
        l_depth = g.abs().mean() + torch.sqrt((g ** 2).mean() - 0.85 * g.mean() ** 2 + 1e-8)
    else:
        l_depth = ld.sum() * 0
    terms = {"heat": l_heat, "off": l_off, "size": l_size, "ce": l_ce, "dice": l_dice, "depth": l_depth}
    total = l_heat + l_off + 0.5 * l_size + l_ce + 0.5 * l_dice + l_depth
    return total, terms


# ---------------------------------------------------------------- evaluation
def decode(det_heat, det_box, sd=4, topk=100, thresh=0.03):
    """Contract outputs of one image -> [[cls, score, x0, y0, x1, y1], ...] in model pixels."""
    Kc, h, w = det_heat.shape
    flat = det_heat.reshape(-1)
    n = min(topk, flat.size)
    top = np.argpartition(-flat, n - 1)[:n]
    out = []
    for t in top:
        s = flat[t]
        if s < thresh:
            continue
        c, r = divmod(int(t), h * w)
        y, x = divmod(r, w)
        ox, oy, bw, bh = det_box[:, y, x]
        cx, cy = (x + ox) * sd, (y + oy) * sd
        out.append([c, float(s), cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def average_precision(dets, gts):
    """dets: [(img, score, box)], gts: {img: [(box, keep)]} for one class. VOC all-point AP@0.5."""
    npos = sum(k for g in gts.values() for _, k in g)
    if npos == 0:
        return None
    used = {i: [False] * len(g) for i, g in gts.items()}
    tp, fp = [], []
    for img, s, box in sorted(dets, key=lambda d: -d[1]):
        g = gts.get(img, [])
        best, bj = 0.0, -1
        for j, (gb, keep) in enumerate(g):
            if keep and not used[img][j]:
                o = iou(box, gb)
                if o > best:
                    best, bj = o, j
        if best >= 0.5:
            used[img][bj] = True
            tp.append(1); fp.append(0)
            continue
        if any(not keep and iou(box, gb) >= 0.5 for gb, keep in g):
            continue  # matches an ignored object: neither TP nor FP
        tp.append(0); fp.append(1)
    if not tp:
        return 0.0
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def evaluate(net, ds, max_frames=None, batch=16, log=print):
    net.eval()
    core = M.ExportCore(net).eval()
    H, W = ds.size
    n = len(ds) if max_frames is None else min(len(ds), max_frames)
    idx = np.linspace(0, len(ds) - 1, n).astype(int)
    acc = {}

    def bucket(d):
        if d not in acc:
            acc[d] = {"dets": {c: [] for c in range(K)}, "gts": {c: {} for c in range(K)},
                      "inter": np.zeros(3), "union": np.zeros(3), "absrel": 0.0, "d1": 0.0, "npx": 0}
        return acc[d]

    with torch.no_grad():
        for s in range(0, n, batch):
            ks = idx[s:s + batch]
            b = make_batch(ds, ks, None, aug=False)
            outs = dict(zip(M.OUTPUTS, core(M.normalise(b["image"].float().permute(0, 3, 1, 2)))))
            for j, k in enumerate(ks):
                key = int(k)
                _, _, _, boxes = ds.sample(key)
                dets = decode(outs["det_heat"][j].numpy(), outs["det_box"][j].numpy(), M.STRIDES["det"])
                sm = outs["seg_mask"][j].numpy()
                gs = b["seg"][j].numpy()
                pd = outs["depth"][j].numpy()
                gd = b["depth"][j].numpy()
                v = (gd > 0) & (gd < FAR_M)
                for a in (bucket("all"), bucket(ds.domain(key))):
                    for c, sc, *box in dets:
                        a["dets"][c].append((key, sc, box))
                    for c in range(K):
                        a["gts"][c][key] = [(bx[1:5].tolist(), bool(bx[5] > 0.5)) for bx in boxes if int(bx[0]) == c]
                    for c in (1, 2):
                        a["inter"][c] += np.sum((sm == c) & (gs == c))
                        a["union"][c] += np.sum(((sm == c) | (gs == c)) & (gs != 255))
                    if v.any():
                        p, g = pd[v], gd[v]
                        a["absrel"] += float(np.sum(np.abs(p - g) / g))
                        a["d1"] += float(np.sum(np.maximum(p / g, g / p) < 1.25))
                        a["npx"] += int(v.sum())
    res = {}
    for d, a in acc.items():
        aps = {M.CLASSES[c]: average_precision(a["dets"][c], a["gts"][c]) for c in range(K)}
        valid = [v for v in aps.values() if v is not None]
        res[d] = {
            "mAP50": round(float(np.mean(valid)), 4) if valid else None,
            "AP50": {k: (round(v, 4) if v is not None else None) for k, v in aps.items()},
            "lane_iou": round(float(a["inter"][1] / max(a["union"][1], 1)), 4),
            "drivable_iou": round(float(a["inter"][2] / max(a["union"][2], 1)), 4),
            "depth_absrel": round(a["absrel"] / max(a["npx"], 1), 4),
            "depth_delta1": round(a["d1"] / max(a["npx"], 1), 4),
        }
    out = res.pop("all")
    out["frames"] = int(n)
    out["size"] = [H, W]
    out["per_domain"] = res
    net.train()
    return out


def fmt_metrics(m):
    ap = " ".join(f"{k}={v if v is None else f'{v:.3f}'}" for k, v in m["AP50"].items())
    return (f"mAP@0.5={m['mAP50']} ({ap}) lane IoU={m['lane_iou']:.3f} drivable IoU={m['drivable_iou']:.3f} "
            f"AbsRel={m['depth_absrel']:.3f} d<1.25={m['depth_delta1']:.3f}")


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--size", default="192x384", help="HxW training input size")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--neck", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--eval-frames", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--multiscale", action="store_true",
                    help="each step at a size drawn from the ladder (--size and the smaller ladder sizes), so that the "
                         "ladder's lower rungs keep their detection (docs/experiments/2026-12-06-floor-preprocessing.md)")
    ap.add_argument("--strong-aug", action="store_true",
                    help="strong photometric domain randomisation (data.randomise_sensor) on 70 %% of the frames")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    H, W = map(int, a.size.lower().split("x"))
    os.makedirs(a.run, exist_ok=True)
    ds = Dataset(a.data, (H, W))
    ho = Dataset(a.heldout, (H, W))
    ladder = [[H, W]] + [s for s in [[192, 384], [160, 320], [128, 256]] if s[0] < H] if H >= 128 else [[H, W]]
    # one reader per training size (Dataset resizes frames, masks, depth and boxes on read)
    train_sets = [ds] + ([Dataset(a.data, tuple(sz)) for sz in ladder[1:]] if a.multiscale else [])
    assert ds.classes == M.CLASSES, ds.classes
    spec = M.load_tail_spec()
    arch = {"width": a.width, "neck": a.neck}
    net = M.Net(spec, **arch)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    warm = min(100, a.steps // 10)
    sched = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, a.steps - warm)))
    step, wall_prev = 0, 0.0
    last = os.path.join(a.run, "last.pt")
    if a.resume and os.path.exists(last):
        ck = torch.load(last, map_location="cpu")
        net.load_state_dict(ck["state"])
        opt.load_state_dict(ck["opt"])
        step, wall_prev = ck["step"], ck["wall_s"]
        rng = np.random.default_rng(a.seed + step)
        print(f"resumed from {last} at step {step}")
    print(f"train {a.data}: {len(ds)} frames {ds.meta.get('domains')} | held-out {a.heldout}: {len(ho)} frames | "
          f"input {H}x{W} | {M.count_macs(net, H, W) / 1e9:.3f} GMAC | "
          f"{sum(p.numel() for p in net.parameters())} params", flush=True)
    meta_base = {"domains": ds.meta.get("domains"), "size": [H, W], "arch": arch, "smoke": a.smoke,
                 "dataset": {"dir": a.data, "frames": len(ds), "seed": ds.meta.get("seed"),
                             "generator": ds.meta.get("generator", "adaptive-perception dataset")},
                 "heldout": {"dir": a.heldout, "frames": len(ho), "seed": ho.meta.get("seed")},
                 "ladder": ladder, "multiscale": bool(a.multiscale),
                 "strong_aug": bool(a.strong_aug)}

    def save(path, extra):
        torch.save({"state": net.state_dict(), "opt": opt.state_dict(), "step": step, "spec": spec, "arch": arch,
                    "wall_s": wall_prev + time.time() - t0, "meta": {**meta_base, **extra}}, path + ".tmp")
        os.replace(path + ".tmp", path)

    net.train()
    t0 = time.time()
    tlast, slast = t0, step
    run_terms = {}
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = a.lr * sched(step)
        tds = train_sets[int(rng.integers(0, len(train_sets)))] if len(train_sets) > 1 else ds
        b = make_batch(tds, rng.integers(0, len(ds), a.batch), rng, strong=a.strong_aug)
        out = net(M.normalise(b["image"].float().permute(0, 3, 1, 2)))
        total, terms = losses(out, b)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        for k, v in terms.items():
            run_terms[k] = run_terms.get(k, 0.0) + float(v)
        if step % a.log_every == 0 or step == a.steps:
            now = time.time()
            sps = (now - tlast) / max(1, step - slast)
            tlast, slast = now, step
            n = a.log_every if step % a.log_every == 0 else max(1, step % a.log_every)
            tt = " ".join(f"{k}={v / n:.3f}" for k, v in run_terms.items())
            run_terms = {}
            eta = sps * (a.steps - step)
            print(f"step {step}/{a.steps} lr={a.lr * sched(step - 1):.2e} {tt} | {sps:.2f} s/step "
                  f"elapsed {(wall_prev + now - t0) / 60:.1f} min ETA {eta / 60:.1f} min", flush=True)
        if step % a.ckpt_every == 0:
            save(last, {"steps": step})
    train_wall = wall_prev + time.time() - t0
    te = time.time()
    metrics = evaluate(net, ho, a.eval_frames)
    print(f"held-out ({metrics['frames']} frames, {time.time() - te:.0f}s): {fmt_metrics(metrics)}")
    for d, m in metrics["per_domain"].items():
        print(f"  {d}: {fmt_metrics(m)}")
    if a.multiscale:
        metrics["at_size"] = {}
        for sz in ladder[1:]:
            m = evaluate(net, Dataset(a.heldout, tuple(sz)), a.eval_frames)
            metrics["at_size"][f"{sz[0]}x{sz[1]}"] = {k: m[k] for k in ("mAP50", "lane_iou", "drivable_iou", "depth_absrel", "depth_delta1")}
            print(f"held-out at {sz[0]}x{sz[1]}: {fmt_metrics(m)}")
    save(last, {"steps": step})
    save(os.path.join(a.run, "model.pt"), {"steps": step, "wall_s": round(train_wall, 1), "metrics": metrics})
    json.dump(metrics, open(os.path.join(a.run, "metrics.json"), "w"), indent=1)
    print(f"done: {step} steps, training wall {train_wall / 60:.1f} min -> {os.path.join(a.run, 'model.pt')}")


if __name__ == "__main__":
    main()
