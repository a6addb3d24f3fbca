"""Shared-backbone multi-task network: detection (CenterNet-style), lane/drivable segmentation,
metric depth. Each head = trunk (frozen on the robot) producing `<head>_feat` + a per-pixel MLP
tail built from the tail spec (training/tail_spec.json, copied into the manifest's `tails`).

The tail is pure data: `Tail(spec)` holds parameters named `<head>_w<i>` / `<head>_b<i>` with
the shapes the contract gives ([out, in, 1, 1], [out]) and applies them with F.conv2d, so the
exporter can turn the very same parameters into ONNX graph inputs.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["car", "truck", "pedestrian", "cyclist"]
MEAN = [123.7, 116.3, 103.5]
STD = [58.4, 57.1, 57.4]
STRIDES = {"det": 4, "seg": 2, "depth": 4}
DEPTH_MIN, DEPTH_MAX = 1.0, 120.0
OUTPUTS = ["det_heat", "det_box", "seg_mask", "seg_entropy", "depth",
           "det_feat", "seg_feat", "depth_feat", "feat_mean"]
ACTS = {"relu": F.relu, "linear": lambda x: x}


def load_tail_spec(path=os.path.join(HERE, "tail_spec.json")):
    with open(path) as f:
        return json.load(f)


def tail_param_names(spec):
    """Graph-input names in a fixed order: heads in spec order, then w0, b0, w1, b1, ..."""
    names = []
    for head, s in spec.items():
        for i in range(len(s["layers"])):
            names += [f"{head}_w{i}", f"{head}_b{i}"]
    return names


class Tail(nn.Module):
    def __init__(self, head, s):
        super().__init__()
        self.head, self.spec = head, s
        self.w = nn.ParameterList()
        self.b = nn.ParameterList()
        cin = s["in"]
        for layer in s["layers"]:
            w = torch.empty(layer["out"], cin, 1, 1)
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.w.append(nn.Parameter(w))
            self.b.append(nn.Parameter(torch.zeros(layer["out"])))
            cin = layer["out"]

    def forward(self, x, params=None):
        for i, layer in enumerate(self.spec["layers"]):
            w, b = (self.w[i], self.b[i]) if params is None else params[2 * i: 2 * i + 2]
            x = ACTS[layer["act"]](F.conv2d(x, w, b))
        return x

    def named_tensors(self):
        out = {}
        for i in range(len(self.spec["layers"])):
            out[f"{self.head}_w{i}"] = self.w[i]
            out[f"{self.head}_b{i}"] = self.b[i]
        return out


def cbr(cin, cout, k=3, s=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DS(nn.Module):
    """Depthwise-separable block (dw3x3 + pw1x1), residual when shapes agree."""

    def __init__(self, cin, cout, s=1):
        super().__init__()
        self.dw = cbr(cin, cin, 3, s, groups=cin)
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(x))
        return F.relu(x + y) if self.res else F.relu(y)


def up2(x):
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Net(nn.Module):
    def __init__(self, spec=None, width=1.0, neck=64):
        super().__init__()
        self.spec = spec or load_tail_spec()
        c = lambda n: max(8, int(round(n * width / 8)) * 8)
        c2, c4, c8, c16, c32 = c(16), c(24), c(40), c(80), c(128)
        self.stem = cbr(3, c2, 3, 2)                                     # /2
        self.s4 = nn.Sequential(DS(c2, c4, 2), DS(c4, c4))               # /4
        self.s8 = nn.Sequential(DS(c4, c8, 2), DS(c8, c8))               # /8
        self.s16 = nn.Sequential(DS(c8, c16, 2), DS(c16, c16), DS(c16, c16))  # /16
        self.s32 = nn.Sequential(DS(c16, c32, 2), DS(c32, c32))          # /32
        self.l32, self.l16 = cbr(c32, neck, 1), cbr(c16, neck, 1)
        self.l8, self.l4 = cbr(c8, neck, 1), cbr(c4, neck, 1)
        self.m16, self.m8, self.m4 = DS(neck, neck), DS(neck, neck), DS(neck, neck)
        sd, ss, sp = self.spec["det"], self.spec["seg"], self.spec["depth"]
        self.det_trunk = nn.Sequential(DS(neck, neck), cbr(neck, sd["in"], 1))
        self.depth_trunk = nn.Sequential(DS(neck, neck), DS(neck, neck), cbr(neck, sp["in"], 1))
        self.seg_red = cbr(neck, 32, 1)
        self.seg_trunk = nn.Sequential(DS(32 + c2, 32), cbr(32, ss["in"], 1))
        self.tails = nn.ModuleDict({h: Tail(h, s) for h, s in self.spec.items()})
        self.neck_channels = neck
        with torch.no_grad():  # CenterNet prior for the heat logits
            self.tails["det"].b[-1][:len(CLASSES)].fill_(-2.19)

    def features(self, x):
        f2 = self.stem(x)
        f4 = self.s4(f2)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p16 = self.m16(self.l16(f16) + up2(self.l32(f32)))
        p8 = self.m8(self.l8(f8) + up2(p16))
        p4 = self.m4(self.l4(f4) + up2(p8))
        det_feat = self.det_trunk(p4)
        depth_feat = self.depth_trunk(p4)
        s = F.interpolate(self.seg_red(p4), scale_factor=2.0, mode="bilinear", align_corners=False)
        seg_feat = self.seg_trunk(torch.cat([s, f2], 1))
        return {"det_feat": det_feat, "seg_feat": seg_feat, "depth_feat": depth_feat,
                "feat_mean": p4.mean((2, 3))}

    def forward(self, x, tail_params=None):
        """Raw outputs for training: features plus the tails' raw maps."""
        f = self.features(x)
        tp = tail_params or {}
        for h in self.spec:
            f[h + "_raw"] = self.tails[h](f[self.spec[h]["feature"]], tp.get(h))
        return f


def depth_from_raw(v):
    """Tail value -> metres: min * (max/min) ** sigmoid(v)."""
    return DEPTH_MIN * torch.exp(torch.sigmoid(v) * math.log(DEPTH_MAX / DEPTH_MIN))


def log_depth_from_raw(v):
    return math.log(DEPTH_MIN) + torch.sigmoid(v) * math.log(DEPTH_MAX / DEPTH_MIN)


def mean_entropy(logits):
    """Mean over pixels of the entropy (nats) of softmax over channels, [N,C,H,W] -> [N].
    Written with max/exp/sum rather than log_softmax: ONNX Runtime's LogSoftmax on axis 1 of an
    NCHW map took 0.7 ms of an 8.8 ms frame; these reductions take a fraction of it
    (docs/experiments/2026-12-06-floor-preprocessing.md)."""
    z = logits - logits.amax(1, keepdim=True)
    e = z.exp()
    s = e.sum(1)
    return (s.log() - (e * z).sum(1) / s).mean((1, 2))


def postprocess(f, K=len(CLASSES)):
    """Raw head maps -> the contract's outputs (same ops go into the ONNX graph)."""
    det = f["det_raw"]
    heat = torch.sigmoid(det[:, :K])
    peaks = F.max_pool2d(heat, 3, 1, 1)
    det_heat = heat * (peaks == heat).to(heat.dtype)
    off = torch.sigmoid(det[:, K:K + 2])
    wh = torch.exp(torch.clamp(det[:, K + 2:K + 4], -2.0, 7.0))
    det_box = torch.cat([off, wh], 1)
    seg = f["seg_raw"]
    seg_entropy = mean_entropy(seg)
    seg_up = F.interpolate(seg, scale_factor=float(STRIDES["seg"]), mode="bilinear", align_corners=False)
    seg_mask = torch.argmax(seg_up, 1).to(torch.uint8)
    dv = F.interpolate(f["depth_raw"], scale_factor=float(STRIDES["depth"]), mode="bilinear", align_corners=False)
    depth = depth_from_raw(dv)[:, 0]
    return {"det_heat": det_heat, "det_box": det_box, "seg_mask": seg_mask, "seg_entropy": seg_entropy,
            "depth": depth, "det_feat": f["det_feat"], "seg_feat": f["seg_feat"],
            "depth_feat": f["depth_feat"], "feat_mean": f["feat_mean"]}


def normalise(x_nchw_float):
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x_nchw_float - m) / s


def preprocess(image_u8_nhwc, size):
    """Reference of the in-graph preprocessing: uint8 NHWC -> resized (bilinear, half-pixel,
    truncated to uint8 as ONNX Runtime does, the graph resizing the camera's bytes before anything
    else; the graph's mean is 0.5 lower to make up for the truncation), normalised NCHW."""
    x = image_u8_nhwc.float().permute(0, 3, 1, 2)
    if tuple(x.shape[2:]) != tuple(size):
        x = torch.floor(F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False) + 1e-3)
    return normalise(x + 0.5)


class ExportCore(nn.Module):
    """Normalised NCHW float + tail tensors (in tail_param_names order) -> contract outputs."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.names = tail_param_names(net.spec)

    def forward(self, x, *tail):
        tp, i = {}, 0
        for h, s in (self.net.spec.items() if tail else []):
            n = 2 * len(s["layers"])
            tp[h] = list(tail[i:i + n])
            i += n
        out = postprocess(self.net(x, tp))
        return tuple(out[k] for k in OUTPUTS)


def count_macs(net, h=192, w=384):
    """Multiply-accumulates of one forward pass (convs only; 1x1 tails included)."""
    macs = [0]

    def hook(m, i, o):
        k = m.weight.shape
        macs[0] += o.numel() * k[1] * k[2] * k[3]

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        f = net(torch.zeros(1, 3, h, w))
    for x in hs:
        x.remove()
    for hd, s in net.spec.items():  # tails are F.conv2d, not modules
        feat = f[s["feature"]]
        cin = s["in"]
        for layer in s["layers"]:
            macs[0] += feat.shape[2] * feat.shape[3] * cin * layer["out"]
            cin = layer["out"]
    return macs[0]


if __name__ == "__main__":
    torch.set_num_threads(2)
    net = Net().eval()
    print("params", sum(p.numel() for p in net.parameters()))
    for hw in [(192, 384), (160, 320), (128, 256)]:
        print(hw, "GMAC %.3f" % (count_macs(net, *hw) / 1e9))
    import time
    x = torch.randn(1, 3, 192, 384)
    with torch.no_grad():
        for k, v in postprocess(net(x)).items():
            print(k, tuple(v.shape), v.dtype)
        t = time.time()
        for _ in range(5):
            net(x)
        print("fwd ms", (time.time() - t) / 5 * 1000)
