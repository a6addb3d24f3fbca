"""Widens a package's detection (or segmentation) tail so that online learning can repair it
after a shift, without changing a single output of the shipped model:

- detection: the tail's input `det_feat` becomes the detection trunk's features concatenated
  with an earlier, lower-level tap of the backbone at the same stride (the factory's network:
  `s4`, the input of the neck's `l4`, 24 channels at stride 4);
- the tail's first layer reads each pixel's k x k neighbourhood (kernel 3) instead of the pixel
  alone (segmentation: this only, no tap: `--head seg`);
- depth (`--head depth`): both, the same tap as detection (the depth grid is stride 4 too).

The shipped weights are placed at the centre tap of the trunk's channels and every new weight
is zero, so every output is what it was (the check runs in ONNX Runtime:
`training/verify_onnx.mjs`); the learner then has the low-level features and the spatial
context to train on. Why: on night frames the tail over the trunk's 32 channels alone recovers
det mAP@0.5 0.06 -> 0.07-0.10 with 200 labels; over trunk + tap with a 3x3 kernel 0.22-0.23
(docs/experiments/2026-12-06-detection-tail.md). On rain frames the seg tail's lane IoU goes
0.49 -> 0.54 trained as a 1x1 tail, 0.65 with a 3x3 first layer (0.68 with the stem as a tap, at
twice the arithmetic: not taken) (docs/experiments/2026-12-06-per-head-gate.md). On rain and
night frames of a drive the depth tail trained as a 1x1 tail over its 32 channels stopped at
held-out AbsRel 0.19 (0.13 by day); with the tap and a 3x3 kernel 0.16, at +4 % of the full
graph's floor, none while the shipped weights serve (the engine's narrow graph)
(docs/experiments/2026-12-08-depth-tail.md).

    /usr/bin/python3 training/widen_tail.py PKG [--head det|seg|depth] [--tap TENSOR|none] [--kernel 3]

A tail already widened is left as it is; a graph whose tail or tap is not found is refused,
naming what it looked for. The manifest's tails.<head> (`in`, `layers[0].kernel`, `tap`),
tails.json (<head>_w0) and sha256 are updated.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import sha256  # noqa: E402

# The factory's network (model.Net): the backbone's stride-4 stage output, read by the neck's l4.
DEFAULT_TAP_CONSUMER = "/net/l4/l4.0/Conv"


class Refused(Exception):
    pass


def find_tap(g, tap):
    if tap:
        if not any(tap in n.output for n in g.node):
            raise Refused(f"tap: no node produces '{tap}'")
        return tap
    for n in g.node:
        if n.name == DEFAULT_TAP_CONSUMER:
            return n.input[0]
    raise Refused(f"tap: no node named '{DEFAULT_TAP_CONSUMER}' (the factory network's l4); pass --tap TENSOR")


def channels_of(g, tensor):
    """Channel count of a tensor read by a Conv with a constant weight (its weight's dim 1 x group)."""
    inits = {t.name: t for t in g.initializer}
    for n in g.node:
        if n.op_type == "Conv" and n.input[0] == tensor and n.input[1] in inits:
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            return int(inits[n.input[1]].dims[1]) * int(group)
    raise Refused(f"tap '{tensor}': no Conv with a constant weight reads it, so its channel count is unknown")


HEAD_NAMES = {"det": "detection", "seg": "segmentation", "depth": "depth"}


def widen(pkg, tap=None, kernel=3, log=print, head="det"):
    """tap: a tensor name, None for the head's default (det and depth: the factory's s4; seg: none), or "none"."""
    man_path = os.path.join(pkg, "manifest.json")
    man = json.load(open(man_path))
    spec = man["tails"][head]
    what = HEAD_NAMES[head]
    feat, w0_name = f"{head}_feat", f"{head}_w0"
    if spec["layers"][0].get("kernel", 1) != 1 or spec["feature"] != feat:
        log(f"{pkg}: {what} tail already widened (kernel {spec['layers'][0].get('kernel', 1)}), left as it is")
        return False
    model_file = os.path.join(pkg, man["files"]["model"])
    tails_file = os.path.join(pkg, man["files"]["tails"])
    m = onnx.load(model_file)
    g = m.graph
    use_tap = tap != "none" and (head in ("det", "depth") or tap is not None)
    tap = find_tap(g, tap) if use_tap else None
    c_tap = channels_of(g, tap) if use_tap else 0
    c_old = spec["in"]
    tail0 = [n for n in g.node if n.op_type == "Conv" and len(n.input) > 1 and n.input[1] == w0_name]
    if len(tail0) != 1 or tail0[0].input[0] != feat:
        raise Refused(f"{what} tail: expected one Conv reading '{feat}' with weight input '{w0_name}'")
    if use_tap:
        producer = [n for n in g.node if feat in n.output]
        if len(producer) != 1:
            raise Refused(f"{what} tail: no node produces '{feat}'")
        # <head>_feat (graph output and tail input) := Concat(trunk features, tap)
        trunk = f"{feat}_trunk"
        producer[0].output[list(producer[0].output).index(feat)] = trunk
        at = list(g.node).index(producer[0]) + 1
        g.node.insert(at, helper.make_node("Concat", [trunk, tap], [feat], name=f"/{feat}/Concat", axis=1))
    conv = tail0[0]
    keep = [a for a in conv.attribute if a.name not in ("kernel_shape", "pads")]
    del conv.attribute[:]
    conv.attribute.extend(keep + [helper.make_attribute("kernel_shape", [kernel, kernel]),
                                  helper.make_attribute("pads", [kernel // 2] * 4)])
    c_new = c_old + c_tap
    out0 = spec["layers"][0]["out"]
    for vi in g.input:
        if vi.name == w0_name:
            dims = vi.type.tensor_type.shape.dim
            for d, v in zip(dims, [out0, c_new, kernel, kernel]):
                d.ClearField("dim_param")
                d.dim_value = v
    for vi in list(g.output) + list(g.value_info):
        if vi.name == feat and len(vi.type.tensor_type.shape.dim) == 4:
            d = vi.type.tensor_type.shape.dim[1]
            d.ClearField("dim_param")
            d.dim_value = c_new
    onnx.checker.check_model(m)
    tails = json.load(open(tails_file))
    w = np.asarray(tails[w0_name]["data"], np.float32).reshape(tails[w0_name]["shape"])
    if tuple(w.shape) != (out0, c_old, 1, 1):
        raise Refused(f"tails.json {w0_name}: expected shape [{out0}, {c_old}, 1, 1], found {list(w.shape)}")
    nw = np.zeros((out0, c_new, kernel, kernel), np.float32)
    nw[:, :c_old, kernel // 2, kernel // 2] = w[:, :, 0, 0]
    tails[w0_name] = {"shape": list(nw.shape), "data": [float(v) for v in nw.ravel()]}
    spec["in"] = c_new
    spec["layers"][0]["kernel"] = kernel
    if use_tap:
        spec["tap"] = {"tensor": tap, "channels": c_tap}
    onnx.save(m, model_file)
    with open(tails_file, "w") as f:
        json.dump(tails, f)
    man["sha256"][man["files"]["model"]] = sha256(model_file)
    man["sha256"][man["files"]["tails"]] = sha256(tails_file)
    with open(man_path, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    log(f"{pkg}: {head} tail widened: in {c_old} -> {c_new}" + (f" (+ '{tap}', {c_tap} channels)" if use_tap else "") + f", kernel {kernel}")
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("packages", nargs="+")
    ap.add_argument("--head", choices=sorted(HEAD_NAMES), default="det")
    ap.add_argument("--tap", default=None, help="tensor to concatenate to the head's features, or 'none' (default: det and depth, the input of the factory network's l4; seg, none)")
    ap.add_argument("--kernel", type=int, default=3)
    a = ap.parse_args()
    if a.kernel < 1 or a.kernel % 2 == 0:
        sys.exit(f"widen_tail: --kernel must be an odd positive integer, got {a.kernel}")
    for p in a.packages:
        try:
            widen(p, a.tap, a.kernel, head=a.head)
        except (Refused, FileNotFoundError, KeyError) as e:
            sys.exit(f"widen_tail: {p}: {e}")


if __name__ == "__main__":
    main()
