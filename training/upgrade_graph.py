"""Brings a model package exported before 2026-12-06 to today's graph, without retraining:

- preprocessing resizes the camera's uint8 bytes first, then casts and transposes the
  model-size image (export.pre_nodes), with the mean lowered by 0.5 (export.resized_mean);
- the segmentation entropy uses max/exp/sum reductions instead of LogSoftmax on axis 1
  (model.mean_entropy).

The weights are untouched; the manifest's sha256 is updated. A graph already in today's form is
left as it is; a graph in neither form is refused, naming the node that did not match.

    /usr/bin/python3 training/upgrade_graph.py models/default [models/candidates/real ...]

Why: docs/experiments/2026-12-06-floor-preprocessing.md (the floor of the bundled default at
720p: kernel time 8.8 -> 6.1 ms, accuracy within 0.3 point).
"""
import json
import os
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import pre_nodes, sha256  # noqa: E402

OLD_PRE = ["Cast", "Transpose", "Shape", "Slice", "Concat", "Resize"]
OLD_ENTROPY = ["LogSoftmax", "Exp", "Mul", "ReduceSum", "ReduceMean", "Neg"]


class Refused(Exception):
    pass


def upgrade_pre(g):
    ops = [n.op_type for n in g.node[:6]]
    if ops[:4] == ["Shape", "Gather", "Slice", "Concat"] or ops[:3] == ["Shape", "Slice", "Concat"]:
        return False
    if ops != OLD_PRE or g.node[0].input[0] != "image" or g.node[5].output[0] != "img_rs":
        raise Refused(f"preprocessing: expected {OLD_PRE} from 'image' to 'img_rs', found {ops}")
    nodes, inits = pre_nodes()
    del g.node[:6]
    for i, n in enumerate(nodes):
        g.node.insert(i, n)
    have = {t.name for t in g.initializer}
    for t in inits:
        if t.name in have:
            old = numpy_helper.to_array(next(x for x in g.initializer if x.name == t.name))
            if old.tolist() != numpy_helper.to_array(t).tolist():
                raise Refused(f"initializer {t.name} already exists with another value")
        else:
            g.initializer.append(t)
    mean = next((t for t in g.initializer if t.name == "mean"), None)
    if mean is None:
        raise Refused("no 'mean' initializer for the normalisation")
    m = numpy_helper.to_array(mean) - 0.5
    mean.CopyFrom(numpy_helper.from_array(m.astype("float32"), "mean"))
    return True


def upgrade_entropy(g):
    idx = [i for i, n in enumerate(g.node) if n.op_type == "LogSoftmax"]
    if not idx:
        return False
    i = idx[0]
    chain = [n for n in g.node[i:i + 8] if n.op_type != "Constant"][:6]
    if [n.op_type for n in chain] != OLD_ENTROPY or chain[-1].output[0] != "seg_entropy":
        raise Refused(f"seg_entropy: expected {OLD_ENTROPY} ending in seg_entropy, found {[n.op_type for n in chain]}")
    z = chain[0].input[0]
    drop = {id(n) for n in chain}
    kept = [n for n in g.node if id(n) not in drop]
    new = [
        helper.make_node("ReduceMax", [z], ["ent_max"], axes=[1], keepdims=1),
        helper.make_node("Sub", [z, "ent_max"], ["ent_z"]),
        helper.make_node("Exp", ["ent_z"], ["ent_e"]),
        helper.make_node("ReduceSum", ["ent_e", "ent_axis1"], ["ent_s"], keepdims=0),
        helper.make_node("Mul", ["ent_e", "ent_z"], ["ent_ez"]),
        helper.make_node("ReduceSum", ["ent_ez", "ent_axis1"], ["ent_sez"], keepdims=0),
        helper.make_node("Div", ["ent_sez", "ent_s"], ["ent_avg"]),
        helper.make_node("Log", ["ent_s"], ["ent_logs"]),
        helper.make_node("Sub", ["ent_logs", "ent_avg"], ["ent_px"]),
        helper.make_node("ReduceMean", ["ent_px"], ["seg_entropy"], axes=[1, 2], keepdims=0),
    ]
    pos = kept.index(g.node[i - 1]) + 1 if i > 0 else 0
    kept[pos:pos] = new
    del g.node[:]
    g.node.extend(kept)
    g.initializer.append(helper.make_tensor("ent_axis1", TensorProto.INT64, [1], [1]))
    return True


def drop_unused(g):
    """Removes nodes whose outputs nothing reads (e.g. img_shape in a graph that does not need
    the camera size), then initializers nothing reads."""
    outputs = {o.name for o in g.output}
    while True:
        used = {x for n in g.node for x in n.input} | outputs
        keep = [n for n in g.node if any(o in used for o in n.output)]
        if len(keep) == len(g.node):
            break
        del g.node[:]
        g.node.extend(keep)
    used = {x for n in g.node for x in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


def upgrade(pkg):
    manifest_path = os.path.join(pkg, "manifest.json")
    manifest = json.load(open(manifest_path))
    files = [manifest["files"]["model"]] + [v["file"] for v in manifest.get("precisions", {}).get("variants", {}).values()
                                            if isinstance(v, dict) and "file" in v]
    changed = []
    for f in dict.fromkeys(files):
        path = os.path.join(pkg, f)
        m = onnx.load(path)
        try:
            a = upgrade_pre(m.graph)
            b = upgrade_entropy(m.graph)
        except Refused as e:
            raise SystemExit(f"upgrade_graph: {path}: {e}")
        if not (a or b):
            print(f"{path}: already in today's form")
            continue
        drop_unused(m.graph)
        onnx.checker.check_model(m)
        onnx.save(m, path)
        manifest["sha256"][f] = sha256(path)
        changed.append(f"{path} ({'preprocessing' if a else ''}{', ' if a and b else ''}{'entropy' if b else ''})")
    if changed:
        with open(manifest_path, "w") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
        for c in changed:
            print(f"upgraded {c}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: upgrade_graph.py PACKAGE_DIR [PACKAGE_DIR ...]")
    for p in sys.argv[1:]:
        upgrade(p)
