#!/usr/bin/env python3
"""Export a trained RealNet checkpoint (training/realnet.py) as a model package
(models/README.md, format adaptive-perception/model@1), like export.py does for model.py.

    /usr/bin/python3 training/export_real.py --ckpt RUN/model.pt --out models/candidates/real \
        [--data TRAIN_DIR] [--ref-out RUN/verify-ref]

Graph = preprocessing (onnx.helper) merged with the torch-exported core. Depth is scaled in the
graph by (fy / Hc) / F_REL (realnet.py) with fy assumed from a 90° horizontal field of view
(fy = Wc / 2); the manifest says how an engine with camera_info rescales it (depth * fy_true /
fy_assumed). --fy-input adds an optional, initializer-backed `fy` input instead (default 0 =
assume); it is off by default because onnxruntime-node cannot feed such inputs (decision and
test: docs/experiments/2026-12-06-real-backbone.md).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import TensorProto, compose, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realnet as R  # noqa: E402
from export import pre_nodes, reference_images, resized_mean, sha256  # noqa: E402

OPSET = 16


def build_pre_graph(ir_version, fy_input=True):
    """image uint8 [N,Hc,Wc,3], size int64 [2], fy float [1] (optional, default 0) ->
    x float [N,3,H,W] normalised, scale float [1] (depth scale)."""
    half_tan = math.tan(math.radians(R.ASSUMED_HFOV_DEG) / 2)
    nodes, pre_inits = pre_nodes()
    nodes += [
        helper.make_node("Sub", ["img_rs", "mean"], ["img_c"]),
        helper.make_node("Div", ["img_c", "std"], ["x"]),
        # depth scale = (fy / Hc) / F_REL, fy = the input when > 0 else Wc / (2 tan(hfov / 2))
        helper.make_node("Slice", ["img_shape", "c2", "c3"], ["hc_i"]),
        helper.make_node("Slice", ["img_shape", "c3", "c4"], ["wc_i"]),
        helper.make_node("Cast", ["hc_i"], ["hc"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["wc_i"], ["wc"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["wc", "inv_2tan"], ["fy_assumed"]),
        helper.make_node("Greater", ["fy", "zero_f"], ["fy_given"]),
        helper.make_node("Where", ["fy_given", "fy", "fy_assumed"], ["fy_eff"]),
        helper.make_node("Div", ["fy_eff", "hc"], ["fy_rel"]),
        helper.make_node("Div", ["fy_rel", "f_rel"], ["scale"]),
    ]
    inits = pre_inits + [
        helper.make_tensor("c2", TensorProto.INT64, [1], [2]),
        helper.make_tensor("c4", TensorProto.INT64, [1], [4]),
        helper.make_tensor("mean", TensorProto.FLOAT, [1, 3, 1, 1], resized_mean(R.MEAN)),
        helper.make_tensor("std", TensorProto.FLOAT, [1, 3, 1, 1], R.STD),
        helper.make_tensor("inv_2tan", TensorProto.FLOAT, [1], [1.0 / (2 * half_tan)]),
        helper.make_tensor("zero_f", TensorProto.FLOAT, [1], [0.0]),
        helper.make_tensor("f_rel", TensorProto.FLOAT, [1], [R.F_REL]),
        helper.make_tensor("fy", TensorProto.FLOAT, [1], [0.0]),  # default of the optional input
    ]
    g = helper.make_graph(
        nodes, "preprocess",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "Hc", "Wc", 3]),
         helper.make_tensor_value_info("size", TensorProto.INT64, [2])]
        + ([helper.make_tensor_value_info("fy", TensorProto.FLOAT, [1])] if fy_input else []),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = ir_version
    return m


def export_onnx(net, path, fy_input=True):
    net.eval()
    core = R.ExportCore(net).eval()
    names = core.names
    tails = {}
    for h in net.spec:
        tails.update(net.tails[h].named_tensors())
    args = (torch.rand(1, 3, 256, 512), torch.ones(1)) + tuple(tails[n].detach() for n in names)
    dyn = {"x": {0: "N", 2: "H", 3: "W"}}
    for o in R.OUTPUTS:
        dyn[o] = {0: "N"}
    core_path = path + ".core.onnx"
    with torch.no_grad():
        torch.onnx.export(core, args, core_path, opset_version=OPSET, input_names=["x", "scale"] + names,
                          output_names=R.OUTPUTS, dynamic_axes=dyn, do_constant_folding=True)
    core_m = onnx.load(core_path)
    os.remove(core_path)
    init_names = {i.name for i in core_m.graph.initializer}
    assert not (set(names) & init_names), "tail weights were folded into initializers"
    pre = build_pre_graph(core_m.ir_version, fy_input)
    merged = compose.merge_models(pre, core_m, io_map=[("x", "x"), ("scale", "scale")])
    merged.graph.name = "adaptive_perception_real"
    ops = {}
    for o in merged.opset_import:
        ops[o.domain] = max(ops.get(o.domain, 0), o.version)
    del merged.opset_import[:]
    merged.opset_import.extend([helper.make_opsetid(d, v) for d, v in ops.items()])
    del merged.graph.value_info[:]
    sd, ss, sp = R.STRIDES["det"], R.STRIDES["seg"], R.STRIDES["depth"]
    dims = {"det_heat": ["N", len(R.CLASSES), f"H/{sd}", f"W/{sd}"], "det_box": ["N", 4, f"H/{sd}", f"W/{sd}"],
            "seg_mask": ["N", "H", "W"], "seg_entropy": ["N"], "depth": ["N", "H", "W"],
            "det_feat": ["N", net.spec["det"]["in"], f"H/{sd}", f"W/{sd}"],
            "seg_feat": ["N", net.spec["seg"]["in"], f"H/{ss}", f"W/{ss}"],
            "depth_feat": ["N", net.spec["depth"]["in"], f"H/{sp}", f"W/{sp}"], "feat_mean": ["N", net.neck_channels]}
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


def feature_stats(net, data_dir, size, max_frames=512):
    from data import Dataset
    ds = Dataset(data_dir, size)
    idx = np.linspace(0, len(ds) - 1, min(max_frames, len(ds))).astype(int)
    feats = []
    with torch.no_grad():
        for i in range(0, len(idx), 16):
            img = torch.from_numpy(np.stack([ds.image(j) for j in idx[i:i + 16]]))
            feats.append(net.features(R.preprocess(img, size))["feat_mean"])
    f = torch.cat(feats).numpy().astype(np.float64)
    return {"mean": [round(float(v), 6) for v in f.mean(0)], "std": [round(float(v), 6) for v in f.std(0)],
            "frames": int(len(idx)), "size": list(size)}


def dump_reference(net, out_dir, ladder, data_dir=None):
    """Per ladder size, a camera batch (2 frames, see export.reference_images) and PyTorch's outputs."""
    import cv2
    os.makedirs(out_dir, exist_ok=True)
    if data_dir:
        from data import Dataset
        ds = Dataset(data_dir, None)
        img = np.stack([cv2.resize(ds.image(i), (640, 360), interpolation=cv2.INTER_LINEAR) for i in (0, len(ds) - 1)])
    else:
        img = np.random.default_rng(0).integers(0, 256, (2, 360, 640, 3), dtype=np.uint8)
    index = {"runs": []}
    core = R.ExportCore(net).eval()
    for size in ladder:
        cam = reference_images(img, size)
        fn = f"image_{size[0]}x{size[1]}.bin"
        cam.tofile(os.path.join(out_dir, fn))
        scale = torch.tensor([R.depth_scale(float(cam.shape[1]), float(cam.shape[2]))], dtype=torch.float32)
        with torch.no_grad():
            outs = core(R.preprocess(torch.from_numpy(cam), size), scale)
        run = {"size": size, "image": {"shape": list(cam.shape), "dtype": "uint8", "file": fn}, "outputs": {}}
        for name, t in zip(R.OUTPUTS, outs):
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
    ap.add_argument("--name", default="real")
    ap.add_argument("--version", default="2.0.0")
    ap.add_argument("--ladder", help="input size ladder, largest (the default) first, e.g. 224x448,192x384 "
                                     "(default: the checkpoint's)")
    ap.add_argument("--fy-input", action="store_true",
                    help="add the optional `fy` graph input (an initializer-backed input, default 0 = assumed FOV). "
                         "Off by default: onnxruntime-node lists only required inputs and drops feeds it does not "
                         "list, so it cannot feed `fy`, and onnxruntime warns 'Initializer fy appears in graph "
                         "inputs' on every load. Engines apply camera intrinsics after the graph instead "
                         "(manifest depth.intrinsics).")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(a.ckpt, map_location="cpu")
    net = R.from_checkpoint(ck)
    net.eval()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    tails = export_onnx(net, os.path.join(a.out, "model.onnx"), a.fy_input)
    with open(os.path.join(a.out, "tails.json"), "w") as f:
        json.dump({n: {"shape": list(v.shape), "data": [float(x) for x in v.reshape(-1)]} for n, v in tails.items()}, f)
    meta = ck.get("meta", {})
    ladder = [list(map(int, x.split("x"))) for x in a.ladder.split(",")] if a.ladder else meta["ladder"]
    manifest = {
        "format": "adaptive-perception/model@1",
        "name": a.name,
        "version": a.version,
        "input": {"sizes": ladder, "mean": R.MEAN, "std": R.STD},
        "classes": R.CLASSES,
        "strides": R.STRIDES,
        "outputs": R.OUTPUTS,
        "files": {"model": "model.onnx", "tails": "tails.json"},
        "sha256": {},
        "tails": ck["spec"],
        "det": {"offset": "sigmoid(raw) in cells", "size": "exp(raw) in model-input pixels",
                "heat": "sigmoid(raw)", "channels": "K heat logits, off_x, off_y, log_w, log_h",
                "coco_mapping": meta.get("coco_mapping")},
        "depth": {"min_m": R.DEPTH_MIN, "max_m": R.DEPTH_MAX,
                  "mapping": "clamp(min_m * (max_m / min_m) ** sigmoid(raw) * scale, min_m, max_m), "
                             "scale = (fy / Hc) / f_rel",
                  "f_rel": R.F_REL,
                  "intrinsics": ("optional graph input 'fy' (float [1], vertical focal length in camera pixels, "
                                 "camera_info K[4]); default 0 = unknown: " if a.fy_input else "")
                                + "the graph assumes a %g deg horizontal field of view and square pixels, "
                                  "fy_assumed = Wc / (2 tan(hfov / 2)) = Wc / 2. With the camera's real fy (camera_info "
                                  "K[4]), metric depth = depth * fy / fy_assumed (then clamp to [min_m, max_m])"
                                % R.ASSUMED_HFOV_DEG,
                  "assumed_hfov_deg": R.ASSUMED_HFOV_DEG,
                  "learner_note": "tail targets in metres are exact when scale = 1 (a 16:9 camera with a 90 deg "
                                  "horizontal FOV, as in the synthetic bags); for other cameras the learner's depth "
                                  "targets are off by the factor scale"},
        "feature_stats": feature_stats(net, a.data, ladder[0]) if a.data else {"mean": [], "std": []},
        "pretrained": meta.get("pretrained"),
        "training": {k: meta.get(k) for k in ("domains", "steps", "wall_s", "size", "dataset", "heldout", "real",
                                             "smoke", "metrics", "real_metrics")},
    }
    manifest["training"]["gmac"] = round(R.count_macs(net, *ladder[0]) / 1e9, 3)
    for k in ("model.onnx", "tails.json"):
        manifest["sha256"][k] = sha256(os.path.join(a.out, k))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    if a.ref_out:
        dump_reference(net, a.ref_out, ladder, a.data)
    print(f"exported {a.out} in {time.time() - t0:.1f}s "
          f"(model.onnx {os.path.getsize(os.path.join(a.out, 'model.onnx')) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
