"""The real-roads multi-task network: FastestDet's COCO-pretrained ShuffleNetV2 backbone and
detection trunk (BSD-3, /work/shared/models/fastestdet, loaded by pretrained/onnx_graph.py),
a small FPN neck, and the contract's three heads (detection, lane/drivable segmentation,
metric depth), each = trunk + the per-pixel MLP tail of tail_spec_real.json.

Why this backbone (docs/experiments/2026-12-06-real-backbone.md): of the two COCO detectors
that load here, the CenterNet-MobileNetV3 (human-models) ran 4-5x slower than today's model in
onnxruntime at 192x384 and could not meet the speed target; FastestDet runs at about today's
model's cost at 256x512 and leaves room for the heads.

Inputs to `features`: NCHW float normalised as the manifest says (mean 0, std 255 per
channel: x / 255 on RGB). FastestDet was trained on BGR / 255, so the first convolution's
input channels are reversed once at load time (`_rgb_first_conv`).

Depth is predicted for a canonical camera and scaled in the graph by the camera's vertical
focal length relative to image height (focal-length normalisation, see `depth_scale`).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import DS, Tail, cbr, mean_entropy, tail_param_names  # noqa: E402
from pretrained.onnx_graph import ONNXGraph  # noqa: E402

FASTESTDET = os.environ.get("FASTESTDET_ONNX", "/work/shared/models/fastestdet/FastestDet.onnx")
CLASSES = ["car", "truck", "pedestrian", "cyclist"]
MEAN = [0.0, 0.0, 0.0]
STD = [255.0, 255.0, 255.0]
STRIDES = {"det": 8, "seg": 2, "depth": 4}
DEPTH_MIN, DEPTH_MAX = 1.0, 120.0
OUTPUTS = ["det_heat", "det_box", "seg_mask", "seg_entropy", "depth",
           "det_feat", "seg_feat", "depth_feat", "feat_mean"]
# Focal-length normalisation. The network predicts depth for a camera whose vertical focal
# length is F_REL image heights; the graph multiplies by (fy / Hc) / F_REL. F_REL is the
# synthetic world's standard 16:9 camera (90° horizontal FOV: fy / Hc = 640 / 720), so that
# camera (the committed bags) has scale 1 at every ladder size, which is what the learner's
# depth targets assume. Without intrinsics (the `fy` graph input left at its default 0) the
# graph assumes a 90° horizontal FOV and square pixels: fy = Wc / (2 tan 45°) = Wc / 2.
F_REL = (1280 / 2) / 720
ASSUMED_HFOV_DEG = 90.0
# FastestDet tensors the network taps (names in the ONNX file)
TAPS = {"s2": "onnx::MaxPool_423", "s4": "input.8", "s8": "input.136", "s16": "input.376",
        "s32": "input.504", "h16": "onnx::Conv_738"}
# FastestDet's own COCO predictions at stride 16 (objectness after sigmoid, box regression, class
# softmax), fed to the student detection head as evidence (tap "fd", see Backbone.forward)
FD_OUT = {"obj": "onnx::Concat_744", "reg": "onnx::Concat_960", "cls": "onnx::Concat_757"}
FD_CLASSES = [0, 1, 2, 3, 5, 7]  # person, bicycle, car, motorcycle, bus, truck
FD_CH = 1 + 4 + len(FD_CLASSES)
# COCO class ids (FastestDet / CenterNet order, coco.names) behind each of our classes
COCO = {"person": 0, "bicycle": 1, "car": 2, "motorcycle": 3, "bus": 5, "truck": 7}


def from_checkpoint(ck):
    """RealNet with a checkpoint's weights (checkpoints from before the fd tap have no arch['fd'])."""
    arch = dict(ck.get("arch", {}))
    arch.setdefault("fd", ck["state"]["det_trunk.0.dw.0.weight"].shape[0] != 48 + 96)
    net = RealNet(ck["spec"], **arch)
    net.load_state_dict(ck["state"])
    return net


def load_tail_spec(path=os.path.join(HERE, "tail_spec_real.json")):
    with open(path) as f:
        return json.load(f)


def _rgb_first_conv(g):
    """FastestDet expects BGR: reverse the first convolution's input channels so RGB works."""
    first = g.prog[0]
    assert first["op"] == "Conv" and g.params[first["w"]].shape[1] == 3
    with torch.no_grad():
        g.params[first["w"]].copy_(g.params[first["w"]].flip(1))


class Backbone(nn.Module):
    """FastestDet with its stage maps, its shared detection trunk (h16) and its COCO predictions
    (fd: log objectness, the 4 box-regression values, log class probabilities of FD_CLASSES)."""

    def __init__(self, path=FASTESTDET, with_fd=True):
        super().__init__()
        self.with_fd = with_fd
        self.g = ONNXGraph.load(path, outputs=[TAPS["h16"]])
        _rgb_first_conv(self.g)
        # drop what the taps do not need
        need, prog = set(TAPS.values()) | (set(FD_OUT.values()) if with_fd else set()), []
        keep = set()
        for st in reversed(self.g.prog):
            if st["out"] in need or st["out"] in keep:
                prog.append(st)
                for i in st["in"] + ([st["src"]] if "src" in st else []):
                    keep.add(i)
        self.g.prog = list(reversed(prog))
        used = {st.get("w") for st in self.g.prog} | {st.get("b") for st in self.g.prog}
        for k in [k for k in self.g.params.keys() if k not in used]:
            del self.g.params[k]

    def forward(self, x):
        extra = [v for k, v in TAPS.items() if k != "h16"] + (list(FD_OUT.values()) if self.with_fd else [])
        o = self.g(x, extra_outputs=extra)
        out = {k: o[v] for k, v in TAPS.items()}
        if self.with_fd:
            cls = o[FD_OUT["cls"]][:, FD_CLASSES]
            out["fd"] = torch.cat([torch.log(o[FD_OUT["obj"]].clamp(min=1e-4)), o[FD_OUT["reg"]],
                                   torch.log(cls.clamp(min=1e-4))], 1)
        return out

    def stem(self, x):
        """s2 (first convolution + ReLU) alone, for training on cached taps."""
        st = self.g.prog[0]
        p = st["pad"]
        return F.relu(F.conv2d(x, self.g.params[st["w"]], self.g.params[st["b"]], st["stride"], (p[0], p[1])))


def up2(x):
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class RealNet(nn.Module):
    def __init__(self, spec=None, neck=48, backbone_path=FASTESTDET, fd=True):
        super().__init__()
        self.spec = spec or load_tail_spec()
        self.fd = fd
        self.backbone = Backbone(backbone_path, with_fd=fd)
        C = neck
        self.l32, self.l16 = cbr(192, C, 1), cbr(96 + 96, C, 1)
        self.l8, self.l4 = cbr(48, C, 1), cbr(24, C, 1)
        self.m16, self.m8, self.m4 = DS(C, C), DS(C, C), DS(C, C)
        sd, ss, sp = self.spec["det"], self.spec["seg"], self.spec["depth"]
        # head trunks sized for the speed target (docs/experiments/2026-12-06-real-backbone.md)
        self.det_trunk = nn.Sequential(DS(C + 96 + (FD_CH if fd else 0), C), cbr(C, sd["in"], 1))
        self.depth_trunk = nn.Sequential(DS(C, C), cbr(C, sp["in"], 1))
        self.seg_red = cbr(C, 16, 1)
        self.seg_trunk = DS(16 + 24, ss["in"])
        self.tails = nn.ModuleDict({h: Tail(h, s) for h, s in self.spec.items()})
        self.neck_channels = C
        with torch.no_grad():  # CenterNet prior for the heat logits
            self.tails["det"].b[-1][:len(CLASSES)].fill_(-2.19)

    def trainable_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("backbone.")]

    def features(self, x):
        return self.heads_features(self.backbone(x))

    def heads_features(self, b):
        """Backbone taps (s2 s4 s8 s16 h16 s32) -> the heads' features."""
        p16 = self.m16(self.l16(torch.cat([b["s16"], b["h16"]], 1)) + up2(self.l32(b["s32"])))
        p8 = self.m8(self.l8(b["s8"]) + up2(p16))
        p4 = self.m4(self.l4(b["s4"]) + up2(p8))
        det_feat = self.det_trunk(torch.cat([p8, up2(b["h16"])] + ([up2(b["fd"])] if self.fd else []), 1))
        depth_feat = self.depth_trunk(p4)
        s = F.interpolate(self.seg_red(p4), scale_factor=2.0, mode="bilinear", align_corners=False)
        seg_feat = self.seg_trunk(torch.cat([s, b["s2"]], 1))
        return {"det_feat": det_feat, "seg_feat": seg_feat, "depth_feat": depth_feat,
                "feat_mean": p8.mean((2, 3))}

    def forward(self, x, tail_params=None):
        f = self.features(x)
        tp = tail_params or {}
        for h in self.spec:
            f[h + "_raw"] = self.tails[h](f[self.spec[h]["feature"]], tp.get(h))
        return f


def canonical_log_depth_from_raw(v):
    return math.log(DEPTH_MIN) + torch.sigmoid(v) * math.log(DEPTH_MAX / DEPTH_MIN)


def depth_scale(cam_h, cam_w, fy=None):
    """(fy / Hc) / F_REL per image: fy in camera pixels (tensor [N] or None -> assumed FOV)."""
    if fy is None:
        fy = cam_w / (2 * math.tan(math.radians(ASSUMED_HFOV_DEG) / 2))
    return (fy / cam_h) / F_REL


def postprocess(f, scale, K=len(CLASSES)):
    """Raw head maps -> the contract's outputs; `scale` [N] is depth_scale of each image."""
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
    d = torch.exp(canonical_log_depth_from_raw(dv)[:, 0]) * scale.view(-1, 1, 1)
    depth = torch.clamp(d, DEPTH_MIN, DEPTH_MAX)
    return {"det_heat": det_heat, "det_box": det_box, "seg_mask": seg_mask, "seg_entropy": seg_entropy,
            "depth": depth, "det_feat": f["det_feat"], "seg_feat": f["seg_feat"],
            "depth_feat": f["depth_feat"], "feat_mean": f["feat_mean"]}


def normalise(x_nchw_float):
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x_nchw_float - m) / s


def preprocess(image_u8_nhwc, size):
    """Reference of the in-graph preprocessing (as model.preprocess: resized bytes truncated, +0.5)."""
    x = image_u8_nhwc.float().permute(0, 3, 1, 2)
    if tuple(x.shape[2:]) != tuple(size):
        x = torch.floor(F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False) + 1e-3)
    return normalise(x + 0.5)


class ExportCore(nn.Module):
    """(normalised x, depth scale [N], tail tensors...) -> contract outputs."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.names = tail_param_names(net.spec)

    def forward(self, x, scale, *tail):
        tp, i = {}, 0
        for h, s in (self.net.spec.items() if tail else []):
            n = 2 * len(s["layers"])
            tp[h] = list(tail[i:i + n])
            i += n
        out = postprocess(self.net(x, tp), scale)
        return tuple(out[k] for k in OUTPUTS)


def count_macs(net, h=256, w=512):
    """Multiply-accumulates of one forward pass (F.conv2d calls, so the graph backbone counts too)."""
    macs = [0]
    orig = F.conv2d

    def conv(x, wt, b=None, stride=1, padding=0, dilation=1, groups=1):
        y = orig(x, wt, b, stride, padding, dilation, groups)
        macs[0] += y.numel() * wt.shape[1] * wt.shape[2] * wt.shape[3]
        return y

    import model as M
    import pretrained.onnx_graph as OG
    F.conv2d = conv
    OG.F.conv2d = conv
    M.F.conv2d = conv
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, h, w))
    finally:
        F.conv2d = orig
        OG.F.conv2d = orig
        M.F.conv2d = orig
    return macs[0]


if __name__ == "__main__":
    import time
    torch.set_num_threads(2)
    net = RealNet().eval()
    print("params", sum(p.numel() for p in net.parameters()), "trainable", sum(p.numel() for p in net.trainable_parameters()))
    for hw in [(256, 512), (224, 448), (192, 384)]:
        print(hw, "GMAC %.3f" % (count_macs(net, *hw) / 1e9))
    x = torch.randn(1, 3, 256, 512)
    with torch.no_grad():
        for k, v in postprocess(net(x), torch.ones(1)).items():
            print(k, tuple(v.shape), v.dtype)
        t = time.time()
        for _ in range(5):
            net(x)
        print("fwd ms", (time.time() - t) / 5 * 1000)
