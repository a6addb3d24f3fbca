#!/usr/bin/env python3
"""Export a trained checkpoint as a model package (models/README.md, format adaptive-perception/model@1).

    /usr/bin/python3 training/export.py --ckpt training/.runs/full/model.pt --out models/default \
        [--data TRAIN_DIR] [--ref-out training/.runs/full/verify-ref]

Writes OUT/model.onnx (preprocessing graph built with onnx.helper, merged with the torch-exported
core via onnx.compose), OUT/tails.json (shipped tail weights), OUT/manifest.json (sha256 of every
file, feature_stats of feat_mean over the training data, training provenance and metrics).
With --ref-out it also dumps a uint8 test input and PyTorch's outputs on it for verify_onnx.mjs.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import TensorProto, compose, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402

OPSET = 16
LADDER = [[192, 384], [160, 320], [128, 256]]


def pre_nodes():
    """The in-graph preprocessing up to the resized float NCHW image `img_rs` (shared with
    export_real.py): the camera's uint8 NHWC bytes are resized first (bilinear, half-pixel), so
    the cast to float and the transpose touch the model-size image, not the camera-size one
    (2.6 of 8.8 ms at 720p before; docs/experiments/2026-12-06-floor-preprocessing.md).
    Also `img_shape`: the camera image's shape in NCHW order [N, 3, Hc, Wc]."""
    nodes = [
        helper.make_node("Shape", ["image"], ["img_shape_nhwc"]),
        helper.make_node("Gather", ["img_shape_nhwc", "nchw_axes"], ["img_shape"], axis=0),
        helper.make_node("Slice", ["img_shape_nhwc", "c0", "c1"], ["n_dim"]),
        helper.make_node("Concat", ["n_dim", "size", "c3"], ["resize_sizes"], axis=0),
        helper.make_node("Resize", ["image", "", "", "resize_sizes"], ["img_rs_u8"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Cast", ["img_rs_u8"], ["img_rs_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["img_rs_f"], ["img_rs"], perm=[0, 3, 1, 2]),
    ]
    inits = [
        helper.make_tensor("nchw_axes", TensorProto.INT64, [4], [0, 3, 1, 2]),
        helper.make_tensor("c0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("c1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("c3", TensorProto.INT64, [1], [3]),
    ]
    return nodes, inits


def resized_mean(mean):
    """ONNX Runtime's uint8 Resize truncates (0.5 darker on average than the exact bilinear
    value): the graph subtracts `mean - 0.5` so that the normalised input is unbiased."""
    return [m - 0.5 for m in mean]


def reference_images(img, size):
    """A camera batch for the PyTorch/ONNX parity check at one ladder size: `img` resized to
    twice the size, so that the graph's uint8 resize is exact (half-pixel weights 0.5/0.5) and
    the check compares the network, not fixed-point rounding."""
    import cv2
    h, w = size
    return np.ascontiguousarray(np.stack([cv2.resize(f, (2 * w, 2 * h), interpolation=cv2.INTER_AREA) for f in img]))


def build_pre_graph(ir_version):
    """image uint8 [N,Hc,Wc,3], size int64 [2] -> x float [N,3,H,W] normalised."""
    nodes, inits = pre_nodes()
    nodes += [
        helper.make_node("Sub", ["img_rs", "mean"], ["img_c"]),
        helper.make_node("Div", ["img_c", "std"], ["x"]),
    ]
    inits += [
        helper.make_tensor("mean", TensorProto.FLOAT, [1, 3, 1, 1], resized_mean(M.MEAN)),
        helper.make_tensor("std", TensorProto.FLOAT, [1, 3, 1, 1], M.STD),
    ]
    # img_shape is for graphs that need the camera size; this one does not
    nodes = [n for n in nodes if n.output[0] != "img_shape"]
    inits = [t for t in inits if t.name != "nchw_axes"]
    g = helper.make_graph(
        nodes, "preprocess",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "Hc", "Wc", 3]),
         helper.make_tensor_value_info("size", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = ir_version
    return m


def export_onnx(net, path):
    net.eval()
    core = M.ExportCore(net).eval()
    names = core.names
    tails = {}
    for h in net.spec:
        tails.update(net.tails[h].named_tensors())
    args = (torch.randn(1, 3, 192, 384),) + tuple(tails[n].detach() for n in names)
    dyn = {"x": {0: "N", 2: "H", 3: "W"}}
    for o in M.OUTPUTS:
        dyn[o] = {0: "N"}
    core_path = path + ".core.onnx"
    with torch.no_grad():
        torch.onnx.export(core, args, core_path, opset_version=OPSET, input_names=["x"] + names,
                          output_names=M.OUTPUTS, dynamic_axes=dyn, do_constant_folding=True)
    core_m = onnx.load(core_path)
    os.remove(core_path)
    # tail inputs must stay graph inputs, never initializers
    init_names = {i.name for i in core_m.graph.initializer}
    assert not (set(names) & init_names), "tail weights were folded into initializers"
    pre = build_pre_graph(core_m.ir_version)
    merged = compose.merge_models(pre, core_m, io_map=[("x", "x")])
    merged.graph.name = "adaptive_perception_default"
    # one default-domain opset entry; clean symbolic output dims (torch's inferred names alias
    # seg_feat's stride-2 dims with det_feat's stride-4 dims)
    ops = {}
    for o in merged.opset_import:
        ops[o.domain] = max(ops.get(o.domain, 0), o.version)
    del merged.opset_import[:]
    merged.opset_import.extend([helper.make_opsetid(d, v) for d, v in ops.items()])
    del merged.graph.value_info[:]
    dims = {"det_heat": ["N", len(M.CLASSES), "H/4", "W/4"], "det_box": ["N", 4, "H/4", "W/4"],
            "seg_mask": ["N", "H", "W"], "seg_entropy": ["N"], "depth": ["N", "H", "W"],
            "det_feat": ["N", net.spec["det"]["in"], "H/4", "W/4"],
            "seg_feat": ["N", net.spec["seg"]["in"], "H/2", "W/2"],
            "depth_feat": ["N", net.spec["depth"]["in"], "H/4", "W/4"], "feat_mean": ["N", net.neck_channels]}
    for o in merged.graph.output:
        shp = o.type.tensor_type.shape
        del shp.dim[:]
        for d in dims[o.name]:
            nd = shp.dim.add()
            if isinstance(d, int):
                nd.dim_value = d
            else:
                nd.dim_param = d
    onnx.checker.check_model(merged)
    onnx.save(merged, path)
    return {n: tails[n].detach().cpu().numpy() for n in names}


def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def feature_stats(net, data_dir, max_frames=512, size=(192, 384)):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from data import Dataset
    ds = Dataset(data_dir, size)
    idx = np.linspace(0, len(ds) - 1, min(max_frames, len(ds))).astype(int)
    feats = []
    with torch.no_grad():
        for i in range(0, len(idx), 32):
            img = torch.from_numpy(np.stack([ds.image(j) for j in idx[i:i + 32]]))
            feats.append(net.features(M.preprocess(img, size))["feat_mean"])
    f = torch.cat(feats).numpy().astype(np.float64)
    return {"mean": [round(float(v), 6) for v in f.mean(0)], "std": [round(float(v), 6) for v in f.std(0)],
            "frames": int(len(idx)), "size": list(size)}


def dump_reference(net, out_dir, data_dir=None, ladder=LADDER):
    """Per ladder size, a camera batch (2 frames, see reference_images) and PyTorch's outputs."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    if data_dir:
        from data import Dataset
        import cv2
        ds = Dataset(data_dir, None)
        imgs = [cv2.resize(ds.image(i), (640, 360), interpolation=cv2.INTER_LINEAR) for i in (0, len(ds) - 1)]
        img = np.stack(imgs)
    else:
        img = rng.integers(0, 256, (2, 360, 640, 3), dtype=np.uint8)
    index = {"runs": []}
    core = M.ExportCore(net).eval()
    for size in ladder:
        cam = reference_images(img, size)
        fn = f"image_{size[0]}x{size[1]}.bin"
        cam.tofile(os.path.join(out_dir, fn))
        with torch.no_grad():
            outs = core(M.preprocess(torch.from_numpy(cam), size))
        run = {"size": size, "image": {"shape": list(cam.shape), "dtype": "uint8", "file": fn}, "outputs": {}}
        for name, t in zip(M.OUTPUTS, outs):
            a = t.numpy()
            fn = f"ref_{size[0]}x{size[1]}_{name}.bin"
            a.tofile(os.path.join(out_dir, fn))
            run["outputs"][name] = {"shape": list(a.shape), "dtype": str(a.dtype), "file": fn}
        index["runs"].append(run)
    json.dump(index, open(os.path.join(out_dir, "index.json"), "w"), indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", help="training dataset dir (for feature_stats)")
    ap.add_argument("--ref-out", help="dump verification reference here")
    ap.add_argument("--name", default="default")
    ap.add_argument("--version", default="1.0.0")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(a.ckpt, map_location="cpu")
    spec = ck["spec"]
    net = M.Net(spec, **ck.get("arch", {}))
    net.load_state_dict(ck["state"])
    net.eval()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    tails = export_onnx(net, os.path.join(a.out, "model.onnx"))
    with open(os.path.join(a.out, "tails.json"), "w") as f:
        json.dump({n: {"shape": list(v.shape), "data": [float(x) for x in v.reshape(-1)]} for n, v in tails.items()}, f)
    meta = ck.get("meta", {})
    ladder = meta.get("ladder", LADDER)
    manifest = {
        "format": "adaptive-perception/model@1",
        "name": a.name,
        "version": a.version,
        "input": {"sizes": ladder, "mean": M.MEAN, "std": M.STD},
        "classes": M.CLASSES,
        "strides": M.STRIDES,
        "outputs": M.OUTPUTS,
        "files": {"model": "model.onnx", "tails": "tails.json"},
        "sha256": {},
        "tails": spec,
        "det": {"offset": "sigmoid(raw) in cells", "size": "exp(raw) in model-input pixels",
                "heat": "sigmoid(raw)", "channels": "K heat logits, off_x, off_y, log_w, log_h"},
        "depth": {"min_m": M.DEPTH_MIN, "max_m": M.DEPTH_MAX,
                  "mapping": "min_m * (max_m / min_m) ** sigmoid(raw)"},
        "feature_stats": feature_stats(net, a.data) if a.data else {"mean": [], "std": []},
        "training": {"domains": meta.get("domains", []), "steps": meta.get("steps"),
                     "wall_s": meta.get("wall_s"), "train_size": meta.get("size"),
                     "dataset": meta.get("dataset"), "heldout": meta.get("heldout"),
                     "smoke": meta.get("smoke", False),
                     "gmac": round(M.count_macs(net, *ladder[0]) / 1e9, 3),
                     "metrics": meta.get("metrics", {})},
    }
    for k in ("model.onnx", "tails.json"):
        manifest["sha256"][k] = sha256(os.path.join(a.out, k))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    if a.ref_out:
        dump_reference(net, a.ref_out, a.data, ladder)
    print(f"exported {a.out} in {time.time() - t0:.1f}s "
          f"(model.onnx {os.path.getsize(os.path.join(a.out, 'model.onnx')) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
