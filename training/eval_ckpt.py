#!/usr/bin/env python3
"""Scores a train_real.py checkpoint on held-out synthetic frames (PyTorch, like the end of
training) while a run goes on:
    /usr/bin/python3 training/eval_ckpt.py RUN/last.pt HELDOUT_DIR [--frames 60] [--size 256x512]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realnet as R  # noqa: E402
from real_data import SynthSet  # noqa: E402
from train import fmt_metrics  # noqa: E402
from train_real import evaluate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("ckpt")
ap.add_argument("heldout")
ap.add_argument("--frames", type=int, default=60)
ap.add_argument("--size", default=None)
ap.add_argument("--intrinsics", default="true", choices=["true", "assumed"])
a = ap.parse_args()
torch.set_num_threads(2)
ck = torch.load(a.ckpt, map_location="cpu")
net = R.from_checkpoint(ck)
size = tuple(map(int, a.size.split("x"))) if a.size else tuple(ck["meta"]["size"])
m = evaluate(net, SynthSet(a.heldout), size, a.frames, intrinsics=a.intrinsics)
print(f"{a.ckpt} step {ck['step']} at {size[0]}x{size[1]} ({m['frames']} frames, {a.intrinsics} intrinsics): {fmt_metrics(m)}")
