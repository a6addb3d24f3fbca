#!/usr/bin/env python3
"""Serves FastestDet's COCO detections (BSD-3) beside a package's trained detection head.

A model trained on the synthetic world finds almost no vehicle in real frames; a COCO detector
finds many (docs/experiments/2026-12-07-coco-head.md). This rewrite adds nodes after the
package's `det_heat` / `det_box` (the "student") that

1. take FastestDet's predictions (objectness, box regression, class probabilities on its
   stride-16 grid) from one of two sources:
   - `tap`: a FastestDet-backbone package (`models/candidates/real`, training/realnet.py) already
     computes them for its head (the `fd` tap); they are reused at no cost;
   - `branch`: any other package gets FastestDet itself (`models/teachers/fastestdet`) as a
     second branch of its graph, run on the camera's bytes resized to 352x352 (its training
     size; larger inputs lose most of its vehicles, smaller ones too: the experiment log);
2. decode them as FastestDet's own post-processing does (score obj^0.6 · p^0.4; centre = cell +
   tanh(reg); size = sigmoid(reg) × frame) into our classes (car <- car; truck <- max(bus,
   truck); pedestrian <- person; cyclist <- max(bicycle, motorcycle)), the best of the four
   only, scaled by `--alpha`, 3x3 peak-suppressed;
3. scatter each peak onto the cell of the package's detection grid that holds its centre;
4. keep, per cell, the source whose best class scores higher; suppress non-peaks of the merged
   heat again (`--pool`).

The contract is unchanged (`det_heat` [N, K, H/sd, W/sd] peak-suppressed; `det_box` offsets in
cells, sizes in input pixels), so the engine, learner and ROS nodes need nothing new. The
trainable det tail still drives the student's part: the learner trains and gates that part.
Weights are untouched; the manifest's sha256 and `detection.coco_head` are written.

    /usr/bin/python3 training/coco_head.py PACKAGE [--out DIR] [--alpha A] [--pool P] [--source tap|branch] [--fd-size 352]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import sha256  # noqa: E402
from upgrade_graph import drop_unused  # noqa: E402

FASTESTDET = os.path.join(HERE, "..", "models", "teachers", "fastestdet", "FastestDet.onnx")
FASTESTDET_SIZE = 352
# Our classes (car, truck, pedestrian, cyclist) as the max of two picks of COCO ids.
COCO_PICK_A = [2, 5, 0, 1]  # car, bus, person, bicycle
COCO_PICK_B = [2, 7, 0, 3]  # car, truck, person, motorcycle
# The same picks in the fd tap's six classes (realnet.FD_CLASSES: person, bicycle, car, motorcycle, bus, truck).
TAP_PICK_A = [2, 4, 0, 1]
TAP_PICK_B = [2, 5, 0, 3]
PREFIX = "coco_head/"


class Refused(Exception):
    pass


def find_tap(g):
    """(obj, reg, cls) of a graph exported by training/export_real.py: the inputs of the Concat
    whose first and last inputs are Logs of Clips (realnet.Backbone.forward), or None."""
    prod = {o: n for n in g.node for o in n.output}
    for n in g.node:
        if n.op_type != "Concat" or len(n.input) != 3:
            continue
        a, c = prod.get(n.input[0]), prod.get(n.input[2])
        if a is not None and c is not None and a.op_type == "Log" and c.op_type == "Log":
            ca, cc = prod.get(a.input[0]), prod.get(c.input[0])
            if ca is not None and cc is not None and ca.op_type == "Clip" and cc.op_type == "Clip":
                return a.input[0], n.input[1], c.input[0]
    return None


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0

    def const(self, name, arr):
        if any(t.name == PREFIX + name for t in self.inits):
            return PREFIX + name  # the same constant, asked for twice
        self.inits.append(numpy_helper.from_array(np.asarray(arr), PREFIX + name))
        return PREFIX + name

    def op(self, kind, inputs, name=None, **attrs):
        self.k += 1
        out = PREFIX + (name or f"{kind.lower()}_{self.k}")
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def i64(self, name, values):
        return self.const(name, np.array(values, np.int64))

    def f32(self, name, value):
        return self.const(name, np.array(value, np.float32))


def graft(g, b, src, rename, prefix):
    """Another graph's initializers into g and its nodes into the builder, every name through rename."""
    for t in src.initializer:
        t.name = rename(t.name)
        g.initializer.append(t)
    for n in src.node:
        n.input[:] = [rename(i) for i in n.input]
        n.output[:] = [rename(o) for o in n.output]
        n.name = prefix + (n.name or n.output[0])
        b.nodes.append(n)


def add_branch(g, b, path, size=FASTESTDET_SIZE):
    """FastestDet as a second branch on the camera's bytes at size x size; returns (obj, reg, cls)."""
    if size % 32 or size < 64:
        raise Refused(f"FastestDet input {size}: must be a multiple of 32, at least 64")
    fd = onnx.load(path)
    fg = fd.graph
    if len(fg.input) != 1 or len(fg.output) != 1:
        raise Refused(f"{path}: expected one input and one output")
    src_in, src_out = fg.input[0].name, fg.output[0].name
    # preprocessing: uint8 NHWC resize (as the package's own), cast, NCHW, BGR, / 255
    shape = b.op("Shape", ["image"])
    n_dim = b.op("Slice", [shape, b.i64("z1", [0]), b.i64("o1", [1])])
    sizes = b.op("Concat", [n_dim, b.i64("fd_hw", [size, size]), b.i64("three", [3])], axis=0)
    rs = b.op("Resize", ["image", "", "", sizes], coordinate_transformation_mode="half_pixel", mode="linear")
    x = b.op("Transpose", [b.op("Cast", [rs], to=TensorProto.FLOAT)], perm=[0, 3, 1, 2])
    x = b.op("Mul", [b.op("Gather", [x, b.i64("bgr", [2, 1, 0])], axis=1), b.f32("inv255", 1 / 255)], "fd_input")
    consts = {n.output[0]: n for n in fg.node if n.op_type == "Constant"}
    inits = {t.name: t for t in fg.initializer}
    # The channel-shuffle reshapes were traced at 352x352, batch 1: (b·C/2, 2, H·W) and
    # (2, -1, C/2, H, W). The batch becomes -1, the sides those of `size`.
    side = {FASTESTDET_SIZE // k: size // k for k in (8, 16, 32)}
    for n in fg.node:
        if n.op_type != "Reshape":
            continue
        t = inits.get(n.input[1])
        arr = numpy_helper.to_array(t) if t is not None else numpy_helper.to_array(consts[n.input[1]].attribute[0].t)
        if arr.ndim == 1 and (len(arr) == 3 or len(arr) == 5):
            arr = arr.copy()
            if len(arr) == 3:
                old = int(round(arr[2] ** 0.5))
                if old * old != arr[2] or old not in side:
                    raise Refused(f"{path}: reshape {arr.tolist()} is not a channel shuffle of a square map")
                arr[0], arr[2] = -1, side[old] ** 2
            else:
                if arr[3] != arr[4] or arr[3] not in side:
                    raise Refused(f"{path}: reshape {arr.tolist()} is not a channel shuffle of a square map")
                arr[3] = arr[4] = side[arr[3]]
            new = numpy_helper.from_array(arr.astype(np.int64), n.input[1])
            if t is not None:
                t.CopyFrom(new)
            else:
                consts[n.input[1]].attribute[0].t.CopyFrom(new)
    rename = lambda s: s if s == "" else (x if s == src_in else PREFIX + "fd/" + s)
    graft(g, b, fg, rename, PREFIX + "fd/")
    out = rename(src_out)
    sl = lambda lo, hi: b.op("Slice", [out, b.i64(f"lo{lo}", [lo]), b.i64(f"hi{hi}", [hi]), b.i64(f"ax{lo}", [1])])
    return sl(0, 1), sl(1, 5), sl(5, 85)


def donor_side(b, size, base_width):
    """The donor's square side for the package's input `size` ([H, W], int64): `size` x size at the
    package's default width `base_width`, scaled with the width on the smaller rungs of the speed
    ladder (a multiple of 32, at least 64), so that a lower rung lowers the donor's cost too.
    A fixed side made the bottom rung (128x256) cost about what the top one does, and two 10 Hz
    cameras overran their 50 ms budget there (docs/experiments/2026-12-07-real-seg.md)."""
    w = b.op("Gather", ["size", b.i64("donor_w_idx", [1])], axis=0)
    # round(w * size / (base_width * 32)) in integers: floor((w * size + base_width * 16) / (base_width * 32))
    q = b.op("Div", [b.op("Add", [b.op("Mul", [w, b.i64("donor_side", [size])]), b.i64("donor_half", [base_width * 16])]),
                     b.i64("donor_unit", [base_width * 32])])
    side = b.op("Mul", [b.op("Max", [q, b.i64("donor_min", [2])]), b.i64("donor_32", [32])])
    return b.op("Concat", [side, side], axis=0)


GRID_HW = "__package_seg_grid_hw__"


def donor_seg_at_grid(dg, path):
    """Runs the donor's segmentation trunk on the package's seg grid instead of the donor's own
    stride-2 grid (176x176 at 352x352): the two maps it concatenates (its upsampled neck and its
    stride-2 backbone map) are resized to the grid first, so its seg_feat needs no resize after.
    The grid's [h, w] is the tensor GRID_HW (the caller maps it)."""
    prod = {o: n for n in dg.node for o in n.output}
    n = prod.get("seg_feat")
    while n is not None and n.op_type != "Concat":
        n = prod.get(n.input[0])
    up = prod.get(n.input[0]) if n is not None and len(n.input) == 2 else None
    if up is None or up.op_type != "Resize":
        raise Refused(f"{path}: its seg_feat is not a trunk over Concat(Resize(neck), backbone map): cannot run it at the seg grid")
    cat = n
    attrs = [a for a in up.attribute]
    extra = []

    def sizes_of(x, tag):
        shape, nc, sizes = f"__seg_grid_{tag}_shape", f"__seg_grid_{tag}_nc", f"__seg_grid_{tag}_sizes"
        lo, hi = f"__seg_grid_{tag}_lo", f"__seg_grid_{tag}_hi"
        dg.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), lo), numpy_helper.from_array(np.array([2], np.int64), hi)])
        extra.extend([helper.make_node("Shape", [x], [shape]), helper.make_node("Slice", [shape, lo, hi], [nc]),
                      helper.make_node("Concat", [nc, GRID_HW], [sizes], axis=0)])
        return sizes

    up.input[:] = [up.input[0], "", "", sizes_of(up.input[0], "neck")]
    s2 = cat.input[1]
    rs = helper.make_node("Resize", [s2, "", "", sizes_of(s2, "s2")], ["__seg_grid_s2"], name="/net/seg_grid_s2")
    rs.attribute.extend(attrs)
    extra.append(rs)
    cat.input[1] = "__seg_grid_s2"
    dg.node.extend(extra)


def add_donor(g, b, path, size=FASTESTDET_SIZE, base_width=None, seg_grid=False):
    """A FastestDet-backbone package's graph (training/realnet.py, `models/candidates/real`) as the
    second branch, on the camera's bytes at size x size (at the package's default width
    `base_width`; proportionally smaller on lower rungs: donor_side): FastestDet's predictions come
    from its fd tap, and its segmentation features (`seg_feat`, stride 2) are returned for the
    package's seg tail. Its own tails and heads are left unread (dropped). Returns (obj, reg, cls,
    seg_feat)."""
    if size % 32 or size < 64:
        raise Refused(f"donor input {size}: must be a multiple of 32, at least 64")
    dg = onnx.load(path).graph
    names = {i.name for i in dg.input}
    if not {"image", "size"} <= names or "seg_feat" not in {o.name for o in dg.output}:
        raise Refused(f"{path}: a donor needs inputs image, size and a seg_feat output")
    tap = find_tap(dg)
    if tap is None:
        raise Refused(f"{path}: no fd tap: not a FastestDet-backbone graph")
    fixed = donor_side(b, size, base_width) if base_width else b.i64("donor_size", [size, size])
    mapped = {"size": fixed}
    if seg_grid:
        donor_seg_at_grid(dg, path)
        mapped[GRID_HW] = b.op("Div", ["size", b.i64("grid_stride", [2])])
    rename = lambda s: s if s in ("", "image") else mapped.get(s, PREFIX + "donor/" + s)
    graft(g, b, dg, rename, PREFIX + "donor/")
    obj, reg, cls = (rename(t) for t in tap)
    return obj, reg, cls, rename("seg_feat")


def use_donor_seg(g, b, donor_seg, keep_own, at_grid=False):
    """The package's seg tail reads the donor's features, resized to its seg grid, and (keep_own)
    its own beside them: `seg_feat` = [donor's 16 | own 16] channels. Without keep_own the
    package's own segmentation trunk is no longer read (dropped). Returns the nodes that must
    follow the package's own (the concatenation)."""
    if not any(o.name == "seg_feat" for o in g.output):
        raise Refused("no seg_feat output")
    own = PREFIX + "own_seg_feat"
    for n in g.node:
        n.output[:] = [own if o == "seg_feat" else o for o in n.output]
    n_c = b.op("Slice", [b.op("Shape", [donor_seg]), b.i64("seg_z", [0]), b.i64("seg_two", [2])])
    hw = b.op("Div", ["size", b.i64("seg_stride", [2])])
    resized = PREFIX + "donor_seg_feat" if keep_own else "seg_feat"
    if at_grid:  # the donor's trunk ran on the seg grid already (donor_seg_at_grid)
        b.nodes.append(helper.make_node("Identity", [donor_seg], [resized], name=PREFIX + "donor_seg_feat"))
    else:
        b.nodes.append(helper.make_node("Resize", [donor_seg, "", "", b.op("Concat", [n_c, hw], axis=0)], [resized],
                                        name=PREFIX + "donor_seg_resize", coordinate_transformation_mode="half_pixel", mode="linear"))
    if not keep_own:
        return []
    # the tail's first weight (a graph input) and the seg_feat output have twice the channels
    # (donor and own have the same count: the caller checks that their seg tails agree)
    for o in g.output:
        if o.name == "seg_feat" and o.type.tensor_type.shape.dim[1].HasField("dim_value"):
            o.type.tensor_type.shape.dim[1].dim_value *= 2
    for n in g.node:
        if "seg_feat" in n.input and n.op_type == "Conv":
            for i in g.input:
                if i.name == n.input[1]:
                    d = i.type.tensor_type.shape.dim[1]
                    d.dim_value = 2 * d.dim_value
    return [helper.make_node("Concat", [resized, own], ["seg_feat"], name=PREFIX + "seg_feat", axis=1)]


def topological(nodes, available):
    """Nodes in an order where each reads only what is available or produced before it (stable:
    a node keeps its place unless it waits for an input)."""
    have = set(available) | {""}
    out, waiting = [], list(nodes)
    while waiting:
        rest = []
        for n in waiting:
            if all(i in have for i in n.input):
                out.append(n)
                have.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(waiting):
            raise Refused(f"the rewritten graph has a cycle or an input nothing produces, at node {rest[0].name} ({rest[0].op_type})")
        waiting = rest
    return out


def rewrite(m, classes, alpha, pool, source="auto", fastestdet=FASTESTDET, only=False, fd_size=FASTESTDET_SIZE, seg_from=None, seg_own=True, base_width=None,
            seg_grid=False):
    g = m.graph
    if any(n.name.startswith(PREFIX) for n in g.node):
        raise Refused("the graph already serves the COCO head")
    if list(classes) != ["car", "truck", "pedestrian", "cyclist"]:
        raise Refused(f"classes {classes}: the COCO mapping is for car, truck, pedestrian, cyclist")
    if not {"det_heat", "det_box"} <= {o.name for o in g.output}:
        raise Refused("no det_heat / det_box outputs")
    tap = find_tap(g)
    if source == "tap" and tap is None:
        raise Refused("no fd tap (Concat(Log(Clip(obj)), reg, Log(Clip(cls)))): not a FastestDet-backbone graph; use --source branch")
    use_tap = tap is not None and source != "branch"
    # the student's outputs get internal names; ours take theirs
    for n in g.node:
        n.output[:] = [PREFIX + "student_" + o[4:] if o in ("det_heat", "det_box") else o for o in n.output]
    s_heat, s_box = PREFIX + "student_heat", PREFIX + "student_box"
    b = Builder()
    front = []
    if seg_from is not None:
        obj, reg, cls, donor_seg = add_donor(g, b, seg_from, fd_size, base_width, seg_grid)
        after_own = use_donor_seg(g, b, donor_seg, seg_own, seg_grid)
        # they read only the camera's bytes and `size`: ahead of the package's nodes (topological order)
        front, b.nodes = b.nodes, after_own
        pick_a, pick_b = TAP_PICK_A, TAP_PICK_B
        use_tap = False
    elif use_tap:
        obj, reg, cls = tap
        pick_a, pick_b = TAP_PICK_A, TAP_PICK_B
    else:
        obj, reg, cls = add_branch(g, b, fastestdet, fd_size)
        pick_a, pick_b = COCO_PICK_A, COCO_PICK_B

    # 1-2. FastestDet's scores for our four classes, the best only, peaks
    p = b.op("Max", [b.op("Gather", [cls, b.i64("pick_a", pick_a)], axis=1), b.op("Gather", [cls, b.i64("pick_b", pick_b)], axis=1)], "probs")
    only_best = b.op("Cast", [b.op("Equal", [p, b.op("ReduceMax", [p], axes=[1], keepdims=1)])], to=TensorProto.FLOAT)
    score = b.op("Mul", [b.op("Pow", [obj, b.f32("e_obj", 0.6)]), b.op("Pow", [p, b.f32("e_cls", 0.4)])])
    score = b.op("Mul", [b.op("Mul", [score, only_best]), b.f32("alpha", alpha)], "score")
    peak = b.op("Cast", [b.op("Equal", [score, b.op("MaxPool", [score], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])], to=TensorProto.FLOAT)
    score = b.op("Mul", [score, peak], "peaks")
    # grids: FastestDet's (h, w) and the package's detection grid (H/sd, W/sd); sizes as floats
    scalar = lambda shape_of, i: b.op("Gather", [b.op("Shape", [shape_of]), b.i64(f"idx{i}", i)], axis=0)
    h, w = scalar(obj, 2), scalar(obj, 3)
    gh, gw = scalar(s_heat, 2), scalar(s_heat, 3)
    flt = lambda t: b.op("Cast", [t], to=TensorProto.FLOAT)
    col_of = b.op("Reshape", [flt(b.op("Range", [b.i64("r0", 0), w, b.i64("r1", 1)])), b.i64("row_shape", [1, 1, 1, -1])])
    row_of = b.op("Reshape", [flt(b.op("Range", [b.i64("r0b", 0), h, b.i64("r1b", 1)])), b.i64("col_shape", [1, 1, -1, 1])])
    r = lambda lo: b.op("Slice", [reg, b.i64(f"rlo{lo}", [lo]), b.i64(f"rhi{lo}", [lo + 1]), b.i64(f"rax{lo}", [1])])
    # centres in detection-grid cells
    cx = b.op("Mul", [b.op("Div", [b.op("Add", [col_of, b.op("Tanh", [r(0)])]), flt(w)]), flt(gw)])
    cy = b.op("Mul", [b.op("Div", [b.op("Add", [row_of, b.op("Tanh", [r(1)])]), flt(h)]), flt(gh)])
    one = b.f32("one", 1.0)
    zero = b.f32("zero", 0.0)
    col = b.op("Clip", [b.op("Floor", [cx]), zero, b.op("Sub", [flt(gw), one])])
    row = b.op("Clip", [b.op("Floor", [cy]), zero, b.op("Sub", [flt(gh), one])])
    cells = b.op("Mul", [flt(gh), flt(gw)])
    is_peak = b.op("Greater", [b.op("ReduceMax", [score], axes=[1], keepdims=1), zero])
    # non-peaks go to one slot past the grid (dropped), so they never overwrite a peak
    flat = b.op("Where", [is_peak, b.op("Add", [b.op("Mul", [row, flt(gw)]), col]), cells])
    flat = b.op("Cast", [flat], to=TensorProto.INT64)
    # sizes in model-input pixels: FastestDet's are fractions of its frame, the camera's
    size_f = b.op("Cast", ["size"], to=TensorProto.FLOAT)
    in_wh = b.op("Reshape", [b.op("Gather", [size_f, b.i64("wh_idx", [1, 0])], axis=0), b.i64("wh_shape", [1, 2, 1, 1])])
    box = b.op("Concat", [b.op("Sub", [cx, col]), b.op("Sub", [cy, row]),
                          b.op("Mul", [b.op("Sigmoid", [b.op("Slice", [reg, b.i64("wlo", [2]), b.i64("whi", [4]), b.i64("wax", [1])])]), in_wh])], axis=1)

    # 3. scatter both onto the detection grid (one extra slot for the non-peaks)
    def scatter(values, name):
        v = b.op("Reshape", [values, b.i64(f"{name}_flat", [0, 0, -1])])
        idx = b.op("Expand", [b.op("Reshape", [flat, b.i64(f"{name}_iflat", [0, 0, -1])]), b.op("Shape", [v])])
        n_k = b.op("Slice", [b.op("Shape", [v]), b.i64(f"{name}_z", [0]), b.i64(f"{name}_two", [2])])
        total = b.op("Reshape", [b.op("Cast", [b.op("Add", [cells, one])], to=TensorProto.INT64), b.i64(f"{name}_one", [1])])
        blank = b.op("ConstantOfShape", [b.op("Concat", [n_k, total], axis=0)], value=numpy_helper.from_array(np.zeros(1, np.float32)))
        out = b.op("ScatterElements", [blank, idx, v], axis=2)
        keep = b.op("Reshape", [b.op("Cast", [cells], to=TensorProto.INT64), b.i64(f"{name}_one2", [1])])
        out = b.op("Slice", [out, b.i64(f"{name}_z2", [0]), keep, b.i64(f"{name}_ax", [2])])
        grid = b.op("Concat", [n_k, b.op("Slice", [b.op("Shape", [s_heat]), b.i64(f"{name}_two2", [2]), b.i64(f"{name}_four", [4])])], axis=0)
        return b.op("Reshape", [out, grid], name)

    c_heat, c_box = scatter(score, "coco_heat"), scatter(box, "coco_box")
    student = b.op("Mul", [s_heat, zero]) if only else s_heat  # `only`: measurement, the COCO head alone
    # 4. per cell, the stronger source; then the merged heat's peaks
    use_coco = b.op("Greater", [b.op("ReduceMax", [c_heat], axes=[1], keepdims=1), b.op("ReduceMax", [student], axes=[1], keepdims=1)])
    heat = b.op("Where", [use_coco, c_heat, student], "merged_heat")
    merged_box = b.op("Where", [use_coco, c_box, s_box], "merged_box")
    half = pool // 2
    keep = b.op("Cast", [b.op("Equal", [heat, b.op("MaxPool", [heat], kernel_shape=[pool, pool], pads=[half] * 4)])], to=TensorProto.FLOAT)
    b.nodes.append(helper.make_node("Mul", [heat, keep], ["det_heat"], name=PREFIX + "det_heat"))
    b.nodes.append(helper.make_node("Identity", [merged_box], ["det_box"], name=PREFIX + "det_box"))
    # FastestDet's own peaks on the grid, for the learner: it scores a candidate tail merged with
    # them, as perception serves it (src/adaptation/learner/tails-tf-post.ts mergeServed)
    b.nodes.append(helper.make_node("Identity", [c_heat], ["coco_heat"], name=PREFIX + "coco_heat_out"))
    b.nodes.append(helper.make_node("Identity", [c_box], ["coco_box"], name=PREFIX + "coco_box_out"))
    det_out = next(o for o in g.output if o.name == "det_heat")
    for name in ("coco_heat", "coco_box"):
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(det_out)
        vi.name = name
        vi.type.tensor_type.shape.dim[1].Clear()
        vi.type.tensor_type.shape.dim[1].dim_param = "K" if name == "coco_heat" else "four"
        g.output.append(vi)
    nodes = front + list(g.node) + b.nodes
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(b.inits)
    drop_unused(g)
    nodes = topological(list(g.node), {i.name for i in g.input} | {t.name for t in g.initializer})
    del g.node[:]
    g.node.extend(nodes)
    return "donor" if seg_from is not None else "tap" if use_tap else "branch"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package")
    ap.add_argument("--out", help="write a copy here (default: rewrite the package in place)")
    # Default 0.75 (branch on models/default: real dev vehicle AP 0.004 -> 0.546, synthetic held-out
    # mAP 0.381 -> 0.382, day_front 0.690 -> 0.680; 1.0 costs day_front 6 points, 0.6 halves the
    # real gain), 0.5 for a tap (its student's scores run lower); docs/experiments/2026-12-07-coco-head.md
    ap.add_argument("--alpha", type=float, help="scale of the COCO scores against the student's (default 0.75 for a branch, 0.5 for a tap)")
    ap.add_argument("--pool", type=int, default=3, help="peak suppression of the merged heat, odd kernel size (default 3)")
    ap.add_argument("--source", choices=["auto", "tap", "branch"], default="auto",
                    help="FastestDet's predictions from the package's own fd tap, or a FastestDet branch (default: the tap where there is one)")
    ap.add_argument("--fastestdet", default=FASTESTDET, help="FastestDet ONNX for --source branch (default: models/teachers/fastestdet)")
    ap.add_argument("--fd-size", type=int, default=FASTESTDET_SIZE, help=f"FastestDet's square input for --source branch (default {FASTESTDET_SIZE}, its training size)")
    # Default none; build.sh passes models/candidates/real: real dev drivable IoU 0.305 -> 0.70,
    # lane markings 0.196 -> 0.38 (docs/experiments/2026-12-07-real-seg.md)
    ap.add_argument("--seg-from", metavar="PACKAGE",
                    help="a FastestDet-backbone package (models/candidates/real) replaces the FastestDet branch: its fd tap gives the COCO "
                         "predictions and its segmentation features and seg tail serve the package's segmentation")
    # Default keep: the online learner adapts lanes better with both (camshift / night scenarios:
    # docs/experiments/2026-12-07-real-seg.md); outputs are the same either way at build time.
    ap.add_argument("--seg-own", choices=["keep", "drop"], default="keep",
                    help="with --seg-from: keep the package's own segmentation features beside the donor's under a widened seg tail "
                         "(zero weights: outputs as with drop, the learner may use them), or drop them (default keep)")
    # Default donor: grid is 5 % faster served (p50, 2026-12-07) but costs real lane-marking IoU
    # 0.366 -> 0.326 (drivable 0.705 -> 0.702): docs/experiments/2026-12-07-real-seg.md
    ap.add_argument("--seg-at", choices=["donor", "grid"], default="donor",
                    help="with --seg-from: run the donor's segmentation trunk on its own stride-2 grid and resize its features to the "
                         "package's seg grid (donor), or resize its inputs and run it on the package's grid (grid; cheaper, outputs differ)")
    ap.add_argument("--only", action="store_true", help="(measurement) serve the COCO head alone, without the student's boxes")
    a = ap.parse_args()
    if a.pool < 1 or a.pool % 2 == 0:
        raise SystemExit(f"coco_head: --pool must be an odd positive integer, got {a.pool}")
    if a.alpha is not None and not 0 < a.alpha <= 1:
        raise SystemExit(f"coco_head: --alpha must be in (0, 1], got {a.alpha}")
    pkg = a.package
    if a.out:
        if os.path.exists(a.out):
            raise SystemExit(f"coco_head: {a.out} exists; remove it or choose another --out")
        shutil.copytree(pkg, a.out)
        pkg = a.out
    manifest_path = os.path.join(pkg, "manifest.json")
    manifest = json.load(open(manifest_path))
    path = os.path.join(pkg, manifest["files"]["model"])
    m = onnx.load(path)
    if a.alpha is None:
        a.alpha = 0.5 if a.source != "branch" and find_tap(m.graph) is not None else 0.75
    donor = donor_tails = None
    if a.seg_from:
        if a.source == "tap":
            raise SystemExit("coco_head: --seg-from brings its own FastestDet branch; it does not combine with --source tap")
        donor_manifest = json.load(open(os.path.join(a.seg_from, "manifest.json")))
        donor = os.path.join(a.seg_from, donor_manifest["files"]["model"])
        donor_tails = json.load(open(os.path.join(a.seg_from, donor_manifest["files"]["tails"])))
        if donor_manifest["tails"]["seg"] != manifest["tails"]["seg"]:
            raise SystemExit(f"coco_head: {a.seg_from}: its seg tail {donor_manifest['tails']['seg']} differs from the package's {manifest['tails']['seg']}")
        if donor_manifest["strides"]["seg"] != manifest["strides"]["seg"]:
            raise SystemExit(f"coco_head: {a.seg_from}: seg stride {donor_manifest['strides']['seg']} differs from the package's {manifest['strides']['seg']}")
    try:
        used = rewrite(m, manifest["classes"], a.alpha, a.pool, a.source, a.fastestdet, a.only, a.fd_size, donor, a.seg_own == "keep",
                       base_width=manifest["input"]["sizes"][0][1], seg_grid=a.seg_at == "grid")
    except Refused as e:
        raise SystemExit(f"coco_head: {path}: {e}")
    if donor_tails is not None:
        tails_path = os.path.join(pkg, manifest["files"]["tails"])
        tails = json.load(open(tails_path))
        for k in [k for k in tails if k.startswith("seg_")]:
            tails[k] = donor_tails[k]
        if a.seg_own == "keep":
            # the first layer reads [donor | own]: the donor's weights, zeros on the package's channels
            w = np.asarray(tails["seg_w0"]["data"], np.float32).reshape(tails["seg_w0"]["shape"])
            wide = np.zeros((w.shape[0], 2 * w.shape[1]) + w.shape[2:], np.float32)
            wide[:, : w.shape[1]] = w
            tails["seg_w0"] = {"shape": list(wide.shape), "data": wide.ravel().tolist()}
            manifest["tails"]["seg"]["in"] = 2 * w.shape[1]
            # the package's own channels are the tail's tap: while a weight set reads none of them,
            # the engine's narrow copy skips them and keeps the trained 3x3 (src/engine/narrow-tail.ts)
            manifest["tails"]["seg"]["tap"] = {"tensor": PREFIX + "own_seg_feat", "channels": w.shape[1]}
            manifest["tails"]["seg"]["narrow_kernel"] = w.shape[2]
        with open(tails_path, "w") as fh:
            json.dump(tails, fh)
        manifest["sha256"][manifest["files"]["tails"]] = sha256(tails_path)
        manifest["segmentation"] = {
            "source": f"{donor_manifest['name']} {donor_manifest['version']} ({a.seg_from}): its FastestDet-backbone segmentation features "
                      f"at {a.fd_size}x{a.fd_size} (the default input; scaled with the width on lower rungs), resized to the seg grid, "
                      "and its seg tail (training/coco_head.py --seg-from)",
            "seg_feat": "[donor's channels | the package's own channels], the tail's weights zero on the latter at build time"
                        if a.seg_own == "keep" else "the donor's channels",
        }
    onnx.checker.check_model(m)
    onnx.save(m, path)
    manifest["sha256"][manifest["files"]["model"]] = sha256(path)
    manifest["outputs"] = [o for o in manifest["outputs"] if o not in ("coco_heat", "coco_box")] + ["coco_heat", "coco_box"]
    manifest.setdefault("detection", {})["coco_head"] = {
        "source": ("FastestDet (BSD-3) COCO predictions of the backbone's fd tap" if used == "tap" else
                   f"FastestDet (BSD-3) COCO predictions of the segmentation donor's fd tap at {a.fd_size}x{a.fd_size} "
                   f"(at the default input width {manifest['input']['sizes'][0][1]}; scaled with the width on lower rungs)" if used == "donor" else
                   f"FastestDet (BSD-3, models/teachers/fastestdet) as a second branch at {a.fd_size}x{a.fd_size}")
                  + ", decoded in the graph (training/coco_head.py)",
        "classes": {"car": "car", "truck": "max(bus, truck)", "pedestrian": "person", "cyclist": "max(bicycle, motorcycle)"},
        "alpha": a.alpha,
        "merge_pool": a.pool,
    }
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    print(f"coco_head: {path} serves FastestDet's COCO detections ({used}) beside the student (alpha {a.alpha}, pool {a.pool})")


if __name__ == "__main__":
    main()
