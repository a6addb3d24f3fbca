"""Structured channel pruning: a narrower student initialised from the teacher's own weights.

When the teacher package is the factory's network (training/model.py `Net`; recognised from
its ONNX graph by bench/peers.py's `build_torch_net`, which rebuilds it in PyTorch with batch
norm folded into the convolutions), the student `Net(width, neck)` takes, for every channel
group, the teacher channels with the largest L1 weight norm, and every convolution is the
teacher's sliced to those channels (its batch norm starts as identity plus the teacher's folded
bias). At step 0 the student is the pruned teacher; distillation then recovers what the removed
channels carried. Channel groups are tied where the network adds or concatenates tensors: each
backbone stage (c2, c4, c8, c16, c32: the residual DS blocks of a stage share channels) and the
neck (every lateral, top-down add and neck block). Tail inputs (the contract) are never pruned.

For any other teacher `prune_init` raises PruneUnsupported and distill.py starts from scratch.
"""
import os
import re
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import model as M  # noqa: E402


class PruneUnsupported(Exception):
    pass


# (input group, output group) by module-name pattern; 'all' = not pruned, 'cat' = seg concat.
RULES = [
    (r"^stem\.0$", ("all", "c2")),
    (r"^s4\.0\.dw\.0$", ("c2", "c2")), (r"^s4\.0\.pw\.0$", ("c2", "c4")), (r"^s4\.\d+\.(dw|pw)\.0$", ("c4", "c4")),
    (r"^s8\.0\.dw\.0$", ("c4", "c4")), (r"^s8\.0\.pw\.0$", ("c4", "c8")), (r"^s8\.\d+\.(dw|pw)\.0$", ("c8", "c8")),
    (r"^s16\.0\.dw\.0$", ("c8", "c8")), (r"^s16\.0\.pw\.0$", ("c8", "c16")), (r"^s16\.\d+\.(dw|pw)\.0$", ("c16", "c16")),
    (r"^s32\.0\.dw\.0$", ("c16", "c16")), (r"^s32\.0\.pw\.0$", ("c16", "c32")), (r"^s32\.\d+\.(dw|pw)\.0$", ("c32", "c32")),
    (r"^l32\.0$", ("c32", "neck")), (r"^l16\.0$", ("c16", "neck")), (r"^l8\.0$", ("c8", "neck")), (r"^l4\.0$", ("c4", "neck")),
    (r"^m(16|8|4)\.(dw|pw)\.0$", ("neck", "neck")),
    (r"^(det|depth)_trunk\.\d+\.(dw|pw)\.0$", ("neck", "neck")),
    (r"^det_trunk\.1\.0$", ("neck", "all")), (r"^depth_trunk\.2\.0$", ("neck", "all")),
    (r"^seg_red\.0$", ("neck", "all")),
    (r"^seg_trunk\.0\.dw\.0$", ("cat", "cat")), (r"^seg_trunk\.0\.pw\.0$", ("cat", "all")), (r"^seg_trunk\.1\.0$", ("all", "all")),
]


def rule(name):
    for pat, io in RULES:
        if re.match(pat, name):
            return io
    raise PruneUnsupported(f"no pruning rule for conv '{name}'")


def teacher_net(pkg_dir):
    """The teacher rebuilt in PyTorch (BN folded), or PruneUnsupported."""
    import json
    import peers  # bench/peers.py
    manifest = json.load(open(os.path.join(pkg_dir, "manifest.json")))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            core = peers.export_core(pkg_dir, manifest, manifest["input"]["sizes"][0], os.path.join(tmp, "core.onnx"))
            net, width, neck = peers.build_torch_net(core, manifest)
        except Exception as e:  # not the factory's network
            raise PruneUnsupported(f"teacher {pkg_dir} is not training/model.py's Net: {e}")
    return net, width, neck


def prune_init(student, teacher):
    """Copies the teacher's weights into `student` (same family, narrower), channel groups by L1 norm."""
    tconv = {k: m for k, m in teacher.named_modules() if isinstance(m, nn.Conv2d)}
    sconv = {k: m for k, m in student.named_modules() if isinstance(m, nn.Conv2d)}
    if set(tconv) != set(sconv):
        raise PruneUnsupported(f"student and teacher convs differ: {sorted(set(tconv) ^ set(sconv))[:4]}")
    # Group sizes from the student, importance from the teacher.
    size, score = {}, {}
    for name, m in tconv.items():
        gi, go = rule(name)
        w = m.weight.detach().abs()
        if go not in ("all", "cat"):
            s = w.flatten(1).sum(1)
            score[go] = score.get(go, 0) + (s / s.mean().clamp(min=1e-12)).numpy()
            size[go] = sconv[name].weight.shape[0]
    keep = {g: np.sort(np.argsort(-score[g])[:size[g]]) for g in score}
    c2t = tconv["stem.0"].weight.shape[0]
    cat_t = tconv["seg_trunk.0.dw.0"].weight.shape[0]
    keep["cat"] = np.concatenate([np.arange(cat_t - c2t), cat_t - c2t + keep["c2"]])

    def idx(group, n):
        return np.arange(n) if group == "all" else keep[group]

    with torch.no_grad():
        for name, sm in sconv.items():
            tm = tconv[name]
            gi, go = rule(name)
            w = tm.weight.detach()
            o = idx(go, w.shape[0])
            if tm.groups > 1:  # depthwise: one filter per channel
                ws = w[o]
            else:
                ws = w[o][:, idx(gi, w.shape[1])]
            if tuple(ws.shape) != tuple(sm.weight.shape):
                raise PruneUnsupported(f"{name}: pruned {tuple(ws.shape)} != student {tuple(sm.weight.shape)}")
            sm.weight.copy_(ws)
            b = tm.bias.detach()[o] if tm.bias is not None else torch.zeros(len(o))
            # The batch norm after the conv (cbr / DS) starts as identity + the folded bias.
            parent, _, last = name.rpartition(".")
            mod = student.get_submodule(parent) if parent else student
            bn = mod[int(last) + 1] if isinstance(mod, nn.Sequential) and int(last) + 1 < len(mod) and isinstance(mod[int(last) + 1], nn.BatchNorm2d) else None
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif sm.bias is not None:
                sm.bias.copy_(b)
        for h, tail in student.tails.items():
            for n, p in tail.named_tensors().items():
                p.copy_(teacher.tails[h].named_tensors()[n].detach())
    return {g: len(v) for g, v in keep.items()}
