#!/usr/bin/env python3
"""Self-check of training/compress/prune.py on a teacher package of the factory's network:
pruning to the teacher's own width must give the teacher back (same outputs to float
rounding), and a narrower student must build and run. Exit 1 on failure.

    /usr/bin/python3 training/compress/check_prune.py [models/default]
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
from prune import prune_init, teacher_net  # noqa: E402

pkg = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "models", "default")
torch.set_num_threads(1)
teacher, width, neck = teacher_net(pkg)
x = torch.randn(2, 3, 192, 384)
same = M.Net(M.load_tail_spec(), width=width, neck=neck)
prune_init(same, teacher)
same.eval()
with torch.no_grad():
    a, b = teacher(x), same(x)
worst = max(float((a[k] - b[k]).abs().max()) for k in ("det_raw", "seg_raw", "depth_raw"))
print(f"check_prune: width {width} -> {width}: max |diff| {worst:.2e}")
if worst > 1e-3:
    sys.exit("check_prune: pruning to the teacher's own width changed its outputs")
half = M.Net(M.load_tail_spec(), width=width / 2, neck=max(8, neck // 2))
kept = prune_init(half, teacher)
half.eval()
with torch.no_grad():
    c = half(x)
print(f"check_prune: width {width / 2}: kept {kept}; outputs {tuple(c['det_raw'].shape)}, {tuple(c['seg_raw'].shape)}, {tuple(c['depth_raw'].shape)}")
print("check_prune: ok")
