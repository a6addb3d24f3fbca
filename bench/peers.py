#!/usr/bin/env python3
"""Peer pipelines for `npm run bench`: the same model and the same frames through OpenCV-DNN
and through PyTorch eager, as a user of Debian's python3-opencv / python3-torch would write
them. Run with /usr/bin/python3 (Debian's torch 1.13, cv2 4.6, onnx 1.12).

    /usr/bin/python3 bench/peers.py --model models/default --frames FRAMES.rgb --width 1280 \
        --height 720 --count N [--warmup 5] [--threads 2] [--work bench/.cache/peers]

FRAMES.rgb holds N raw rgb8 frames back to back (what the bench read from the bag). Prints one
JSON object on stdout (logs go to stderr).

Timed per frame, in each peer (same stages as our pipeline, minus bag I/O and publishing):
  decode      raw rgb8 bytes -> HxWx3 uint8 view (np.frombuffer, no copy; as our raw path)
  preprocess  cv2.resize to the default input size (bilinear) + (x - mean) / std + HWC->NCHW
  forward     the core network: normalised NCHW float -> raw head maps (det, seg, depth)
  postprocess heat sigmoid + 3x3 peak suppression + threshold -> boxes in camera pixels,
              seg logits upsampled x2 + argmax -> uint8 mask, depth upsampled x4 -> metres
The core network is cut out of OUR model.onnx (onnx.utils.Extractor: from `x`, the
normalised tensor after the in-graph preprocessing, to the last conv of each tail), with the
tail weights from tails.json baked in as initializers and the input fixed at 1x3xHxW. OpenCV
loads that file. PyTorch builds training/model.py's Net and loads the very same weights from
that file's initializers (conv + folded batch norm, mapped by the ONNX node names the torch
exporter wrote), BatchNorm replaced by identity; the output of both is checked against each
other (max abs difference printed).
"""
import argparse
import importlib.util
import json
import os
import sys
import time

# The Debian package of each module the peers import. One that is missing is reported with the
# package to install, as one JSON line like a result (so `npm run bench` shows it in its table),
# instead of a traceback.
DEBIAN_PACKAGES = {"numpy": "python3-numpy", "onnx": "python3-onnx", "cv2": "python3-opencv", "torch": "python3-torch"}
_missing = [m for m in DEBIAN_PACKAGES if importlib.util.find_spec(m) is None]
if _missing:
    _msg = (f"peers: {sys.executable} lacks the Python module(s) {', '.join(_missing)}; "
            f"needs Debian's {', '.join(DEBIAN_PACKAGES[m] for m in _missing)}: "
            f"apt-get install {' '.join(DEBIAN_PACKAGES[m] for m in _missing)} (or npm run bench -- --python PATH)")
    print(_msg, file=sys.stderr, flush=True)
    print(json.dumps({"error": _msg}))
    sys.exit(3)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "training"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load_manifest(model_dir):
    with open(os.path.join(model_dir, "manifest.json")) as f:
        return json.load(f)


def tail_outputs(graph, tails_spec):
    """Output tensor of the last tail conv of each head (raw head maps), by weight input name."""
    outs = {}
    for head, s in tails_spec.items():
        last_w = f"{head}_w{len(s['layers']) - 1}"
        for n in graph.node:
            if n.op_type == "Conv" and last_w in n.input:
                outs[head] = n.output[0]
    missing = [h for h in tails_spec if h not in outs]
    if missing:
        raise RuntimeError(f"no final tail Conv found for head(s) {missing}")
    return outs


def narrow_tails(graph, manifest, tails):
    """Widened tails (training/widen_tail.py: a k x k first layer, det also reading a backbone
    tap) whose shipped weights read only the centre tap of the trunk channels: each such first
    Conv reads the trunk tensor with the 1x1 centre slice of <head>_w0, as our engine runs it
    (src/engine/narrow-tail.ts). A tail whose weights read more stays wide (adapted weights:
    time the wide tail). Returns the tails to bake."""
    out = dict(tails)
    for head, spec in manifest["tails"].items():
        k = spec["layers"][0].get("kernel", 1)
        if k == 1:
            continue
        name = f"{head}_w0"
        trunk, r = spec["in"] - spec.get("tap", {}).get("channels", 0), k // 2
        w = np.asarray(tails[name]["data"], np.float32).reshape(tails[name]["shape"])
        centre = np.zeros_like(w)
        centre[:, :trunk, r, r] = w[:, :trunk, r, r]
        if not np.array_equal(w, centre):
            continue
        conv = next(n for n in graph.node if n.op_type == "Conv" and len(n.input) > 1 and n.input[1] == name)
        if "tap" in spec:
            concat = next(n for n in graph.node if n.op_type == "Concat" and spec["feature"] in n.output)
            conv.input[0] = concat.input[0]
        for a in conv.attribute:
            if a.name == "kernel_shape":
                a.ints[:] = [1, 1]
            if a.name == "pads":
                a.ints[:] = [0, 0, 0, 0]
        for vi in graph.input:
            if vi.name == name:
                for d, v in zip(vi.type.tensor_type.shape.dim, [w.shape[0], trunk, 1, 1]):
                    d.dim_value = v
        out[name] = {"shape": [w.shape[0], trunk, 1, 1], "data": w[:, :trunk, r:r + 1, r:r + 1].ravel().tolist()}
    return out


def export_core(model_dir, manifest, size, path):
    """Cut the core out of model.onnx: x [1,3,H,W] -> raw det/seg/depth maps, tails baked in."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.load(os.path.join(model_dir, manifest["files"]["model"]))
    with open(os.path.join(model_dir, manifest["files"]["tails"])) as f:
        tails = narrow_tails(m.graph, manifest, json.load(f))
    outs = tail_outputs(m.graph, manifest["tails"])
    # Extractor wants value_info for every cut tensor: run shape inference first.
    m = onnx.shape_inference.infer_shapes(m)
    tail_names = [i.name for i in m.graph.input if i.name not in ("image", "size")]
    ex = onnx.utils.Extractor(m)
    core = ex.extract_model(["x"] + tail_names, [outs["det"], outs["seg"], outs["depth"]])
    g = core.graph
    keep = []
    for i in list(g.input):
        if i.name in tails:
            t = tails[i.name]
            g.initializer.append(numpy_helper.from_array(np.asarray(t["data"], np.float32).reshape(t["shape"]), i.name))
        else:
            keep.append(i)
    del g.input[:]
    H, W = size
    g.input.extend([helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, H, W])])
    # Give the outputs stable names.
    rename = {outs["det"]: "det_raw", outs["seg"]: "seg_raw", outs["depth"]: "depth_raw"}
    for n in g.node:
        for k, o in enumerate(n.output):
            if o in rename:
                n.output[k] = rename[o]
    del g.output[:]
    for name in ("det_raw", "seg_raw", "depth_raw"):
        g.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    del g.value_info[:]
    core = onnx.shape_inference.infer_shapes(core)
    onnx.checker.check_model(core)
    onnx.save(core, path)
    return core


# ---------------------------------------------------------------- shared pieces

class Pre:
    def __init__(self, manifest, size):
        import cv2
        self.cv2 = cv2
        self.H, self.W = size
        self.mean = np.asarray(manifest["input"]["mean"], np.float32)
        self.inv_std = (1.0 / np.asarray(manifest["input"]["std"], np.float32)).astype(np.float32)

    def __call__(self, img):
        r = self.cv2.resize(img, (self.W, self.H), interpolation=self.cv2.INTER_LINEAR)
        x = (r.astype(np.float32) - self.mean) * self.inv_std
        return np.ascontiguousarray(x.transpose(2, 0, 1))[None]


def boxes_from(heat_peaks, off, wh, stride, thr, max_det, sx, sy):
    """heat_peaks [K,h,w] (0 where not a peak) -> (cls, score, x0, y0, x1, y1) in camera pixels."""
    k, ys, xs = np.nonzero(heat_peaks > thr)
    scores = heat_peaks[k, ys, xs]
    if len(scores) > max_det:
        top = np.argpartition(-scores, max_det)[:max_det]
        k, ys, xs, scores = k[top], ys[top], xs[top], scores[top]
    cx = (xs + off[0, ys, xs]) * stride
    cy = (ys + off[1, ys, xs]) * stride
    w, h = wh[0, ys, xs], wh[1, ys, xs]
    return np.stack([k.astype(np.float32), scores, (cx - w / 2) * sx, (cy - h / 2) * sy, (cx + w / 2) * sx, (cy + h / 2) * sy], 1)


# ---------------------------------------------------------------- OpenCV-DNN

class OpenCvPeer:
    name = "opencv_dnn"

    def __init__(self, core_path, manifest, size, threads):
        import cv2
        self.cv2 = cv2
        cv2.setNumThreads(threads)
        self.net = cv2.dnn.readNetFromONNX(core_path)
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.pre = Pre(manifest, size)
        self.K = len(manifest["classes"])
        self.strides = manifest["strides"]
        self.dmin, self.dmax = manifest["depth"]["min_m"], manifest["depth"]["max_m"]
        self.H, self.W = size
        self.kernel = np.ones((3, 3), np.uint8)
        self.out_names = ["det_raw", "seg_raw", "depth_raw"]

    def forward(self, x):
        self.net.setInput(x)
        return self.net.forward(self.out_names)

    def post(self, outs, cam_w, cam_h):
        cv2, K = self.cv2, self.K
        det, seg, dep = outs[0][0], outs[1][0], outs[2][0]
        heat = 1.0 / (1.0 + np.exp(-det[:K]))
        peaks = np.stack([cv2.dilate(h, self.kernel) for h in heat])
        heat = np.where(peaks == heat, heat, 0).astype(np.float32)
        off = 1.0 / (1.0 + np.exp(-det[K:K + 2]))
        wh = np.exp(np.clip(det[K + 2:K + 4], -2.0, 7.0))
        boxes = boxes_from(heat, off, wh, self.strides["det"], 0.3, 100, cam_w / self.W, cam_h / self.H)
        seg_up = cv2.resize(seg.transpose(1, 2, 0), (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        mask = np.argmax(seg_up, 2).astype(np.uint8)
        d = cv2.resize(dep[0], (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        depth = self.dmin * np.exp((1.0 / (1.0 + np.exp(-d))) * np.log(self.dmax / self.dmin))
        return boxes, mask, depth.astype(np.float32)


# ---------------------------------------------------------------- PyTorch

def module_name(node_output):
    """'/net/s4/s4.0/dw/dw.0/Conv_output_0' -> 's4.0.dw.0' (torch exporter scope names)."""
    parts = node_output.strip("/").split("/")
    assert parts[0] == "net" and parts[-1].startswith("Conv"), node_output
    out, prev = [], None
    for c in parts[1:-1]:
        out.append(c[len(prev) + 1:] if prev is not None and c.startswith(prev + ".") else c)
        prev = c
    return ".".join(out)


def narrow_spec(tails_spec):
    """The tails spec as trained (before training/widen_tail.py): what model.Net builds."""
    out = json.loads(json.dumps(tails_spec))
    for spec in out.values():
        if spec["layers"][0].get("kernel", 1) == 1:
            continue
        spec["in"] -= spec.get("tap", {}).get("channels", 0)
        spec["layers"][0].pop("kernel", None)
        spec.pop("tap", None)
    return out


def build_torch_net(core, manifest):
    import torch
    import torch.nn as nn
    from onnx import numpy_helper
    import model as M
    inits = {i.name: numpy_helper.to_array(i) for i in core.graph.initializer}
    convs = {}
    for n in core.graph.node:
        if n.op_type == "Conv" and n.output[0].startswith("/net/") and not any(n.input[1].startswith(h + "_w") for h in manifest["tails"]):
            convs[module_name(n.output[0])] = (inits[n.input[1]], inits[n.input[2]] if len(n.input) > 2 and n.input[2] else None)
    neck = len(manifest["feature_stats"]["mean"]) or convs["l32.0"][0].shape[0]
    c2 = convs["stem.0"][0].shape[0]
    tried = []
    for width in sorted({c2 / 16, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0}, key=lambda w: abs(w - c2 / 16)):
        net = M.Net(narrow_spec(manifest["tails"]), width=width, neck=neck)
        mods = {k: v for k, v in net.named_modules() if isinstance(v, nn.Conv2d)}
        if set(mods) == set(convs) and all(tuple(mods[k].weight.shape) == convs[k][0].shape for k in mods):
            break
        tried.append(width)
    else:
        raise RuntimeError(f"no Net(width, neck={neck}) matches the ONNX convs (tried widths {tried})")
    with torch.no_grad():
        for k, m in mods.items():
            w, b = convs[k]
            m.weight.copy_(torch.from_numpy(w.copy()))
            m.bias = nn.Parameter(torch.from_numpy(b.copy() if b is not None else np.zeros(w.shape[0], np.float32)))
        # Batch norm is folded into the convs above: replace every BatchNorm2d by identity.
        for parent in list(net.modules()):
            for cname, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm2d):
                    setattr(parent, cname, nn.Identity())
        for head, tail in net.tails.items():
            for name, p in tail.named_tensors().items():
                p.copy_(torch.from_numpy(inits[name]))
    return net.eval(), width, neck


class TorchPeer:
    name = "pytorch"

    def __init__(self, core, manifest, size, threads):
        import torch
        import torch.nn.functional as F
        self.torch, self.F = torch, F
        torch.set_num_threads(threads)
        self.net, self.width, self.neck = build_torch_net(core, manifest)
        self.pre = Pre(manifest, size)
        self.K = len(manifest["classes"])
        self.strides = manifest["strides"]
        self.dmin, self.dmax = manifest["depth"]["min_m"], manifest["depth"]["max_m"]
        self.H, self.W = size

    def forward(self, x):
        with self.torch.no_grad():
            f = self.net(self.torch.from_numpy(x))
        return f["det_raw"], f["seg_raw"], f["depth_raw"]

    def post(self, outs, cam_w, cam_h):
        torch, F, K = self.torch, self.F, self.K
        with torch.no_grad():
            det, seg, dep = outs
            heat = torch.sigmoid(det[:, :K])
            heat = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)
            off = torch.sigmoid(det[:, K:K + 2])
            wh = torch.exp(torch.clamp(det[:, K + 2:K + 4], -2.0, 7.0))
            mask = torch.argmax(F.interpolate(seg, size=(self.H, self.W), mode="bilinear", align_corners=False), 1).to(torch.uint8)
            dv = F.interpolate(dep, size=(self.H, self.W), mode="bilinear", align_corners=False)
            depth = self.dmin * torch.exp(torch.sigmoid(dv) * float(np.log(self.dmax / self.dmin)))
        boxes = boxes_from(heat[0].numpy(), off[0].numpy(), wh[0].numpy(), self.strides["det"], 0.3, 100, cam_w / self.W, cam_h / self.H)
        return boxes, mask[0].numpy(), depth[0, 0].numpy()


# ---------------------------------------------------------------- timing

def quantile(a, p):
    s = sorted(a)
    return s[min(len(s) - 1, int(p * len(s)))]


def run_peer(peer, raw, w, h, count, warmup):
    stages = {"decode": [], "preprocess": [], "forward": [], "postprocess": [], "total": []}
    frame_bytes = w * h * 3
    clock = time.perf_counter
    n = 0
    for i in range(count + warmup):
        j = i % count
        t0 = clock()
        img = np.frombuffer(raw, np.uint8, frame_bytes, j * frame_bytes).reshape(h, w, 3)
        t1 = clock()
        x = peer.pre(img)
        t2 = clock()
        outs = peer.forward(x)
        t3 = clock()
        res = peer.post(outs, w, h)
        t4 = clock()
        n += len(res[0])
        if i < warmup:
            continue
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            stages[k].append(v * 1000)
    out = {k: {"median": round(quantile(v, 0.5), 3), "p90": round(quantile(v, 0.9), 3)} for k, v in stages.items()}
    return {"ms_per_frame": out["total"]["median"], "p90_ms": out["total"]["p90"], "stages_ms": out, "frames": count, "detections": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default"))
    ap.add_argument("--frames", required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(HERE, ".cache", "peers"))
    ap.add_argument("--peer", action="append", choices=["opencv_dnn", "pytorch"], help="run only this peer (repeatable; default both)")
    a = ap.parse_args()
    a.peer = a.peer or ["opencv_dnn", "pytorch"]
    os.makedirs(a.work, exist_ok=True)
    manifest = load_manifest(a.model)
    if "coco_head" in manifest.get("detection", {}):
        # The peers cut one core network out of the graph (normalised input x -> raw maps); a
        # package with the real-roads branch runs a second network on the camera's own bytes.
        raise SystemExit(f"peers: {a.model} runs a second network on the camera's bytes (the real-roads branch of training/coco_head.py, "
                         "manifest detection.coco_head), which the peers' one-core cut cannot run; compare on the synthetic network alone: "
                         "npm run bench -- --model models/synthetic")
    size = manifest["input"]["sizes"][0]
    with open(a.frames, "rb") as f:
        raw = f.read()
    if len(raw) < a.count * a.width * a.height * 3:
        raise SystemExit(f"{a.frames}: {len(raw)} bytes, need {a.count} frames of {a.width}x{a.height}x3")
    result = {"input_size": size, "threads": a.threads, "timed": "decode (raw view) + preprocess (cv2.resize bilinear, normalise, NCHW) + forward (core network) + postprocess (boxes, argmax mask, depth in metres); bag I/O and publishing not included"}
    import onnx
    import cv2
    import torch
    result["versions"] = {"opencv": cv2.__version__, "torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__}
    core_path = os.path.join(a.work, f"core_{size[0]}x{size[1]}.onnx")
    core = export_core(a.model, manifest, size, core_path)
    result["core_onnx"] = os.path.relpath(core_path, ROOT)
    peers = {}
    if "opencv_dnn" in a.peer:
        try:
            peers["opencv_dnn"] = OpenCvPeer(core_path, manifest, size, a.threads)
        except Exception as e:  # noqa: BLE001 -- report exactly what failed
            result["opencv_dnn"] = {"error": f"{type(e).__name__}: {e}".strip()[:2000], "tried": f"cv2.dnn.readNetFromONNX('{result['core_onnx']}') (core subgraph x->raw heads, tails as initializers, static 1x3x{size[0]}x{size[1]})"}
    if "pytorch" in a.peer:
        try:
            peers["pytorch"] = TorchPeer(core, manifest, size, a.threads)
            result["pytorch_weights"] = f"training/model.py Net(width={peers['pytorch'].width}, neck={peers['pytorch'].neck}) with conv+BN-folded weights and tails from the ONNX initializers of {result['core_onnx']}; eval(), no_grad(), set_num_threads({a.threads})"
        except Exception as e:  # noqa: BLE001
            result["pytorch"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    # Do both peers compute the same network? Each run leaves its raw outputs on frame 0; the
    # second compares with the first's (peers run in separate processes so that one's thread
    # pool never competes with the other's).
    frame0 = np.frombuffer(raw, np.uint8, a.width * a.height * 3, 0).reshape(a.height, a.width, 3)
    names = ("det_raw", "seg_raw", "depth_raw")
    for name, peer in peers.items():
        x = peer.pre(frame0)
        outs = [o.numpy() if hasattr(o, "numpy") else o for o in peer.forward(x)]
        ref_path = os.path.join(a.work, "frame0_raw.npz")
        key = f"{manifest['sha256'].get('model.onnx')}:{manifest['sha256'].get('tails.json')}:{size}:{a.frames}"
        if os.path.exists(ref_path):
            ref = np.load(ref_path, allow_pickle=False)
            if str(ref["peer"]) != name and str(ref["key"]) == key and ref["det_raw"].shape == outs[0].shape:
                result["parity_max_abs_diff"] = {"against": str(ref["peer"]), **{k: float(np.abs(ref[k] - o).max()) for k, o in zip(names, outs)}}
        np.savez(ref_path, peer=name, key=key, **dict(zip(names, outs)))
    for name, peer in peers.items():
        log(f"peers: timing {name} on {a.count} frames")
        try:
            result[name] = run_peer(peer, raw, a.width, a.height, a.count, a.warmup)
        except Exception as e:  # noqa: BLE001
            result[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
