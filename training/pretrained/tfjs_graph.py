"""TensorFlow.js graph model -> trainable PyTorch module.

    net = TFJSGraph.load("node_modules/.../centernet.json", outputs=["tower_0/keypoints", "tower_0/wh"])
    out = net(x_nchw)   # dict: output name -> NCHW tensor

The weights manifest (model.json `weightsManifest`) lists tensors in the order they are
concatenated in the .bin shards, each with name, shape, dtype and an optional `quantization`
(float16, or uint8/uint16 affine with scale/min). Written by hand because nothing that reads
this format is installed for Debian's Python (see __init__.py).

The graph is executed in NCHW. Supported ops are the ones the human-models detectors use:
Conv2D/_FusedConv2D, (Fused)DepthwiseConv2dNative (BiasAdd, Relu, Relu6 fused), Add/AddV2, Mul,
Sub, Relu, Relu6, Sigmoid, Mean (spatial, keep_dims), ConcatV2 (channel axis), ResizeBilinear
(x2, align_corners=False, half_pixel_centers=False: TF's "asymmetric" mapping, reproduced
exactly), MaxPool, Pad, LeakyRelu, Identity. TF 'SAME' padding is asymmetric for stride 2
(more at the bottom/right); it is reproduced exactly for inputs whose feature maps have even
sizes (model inputs are multiples of 32).
"""
import base64
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"float32": np.float32, "int32": np.int32, "float16": np.float16, "uint8": np.uint8,
          "uint16": np.uint16, "bool": np.bool_}


def read_weights(model_json_path):
    """model.json -> (graph dict, {name: np.ndarray float32/int32})."""
    d = json.load(open(model_json_path))
    base = os.path.dirname(model_json_path)
    out = {}
    for group in d["weightsManifest"]:
        buf = b"".join(open(os.path.join(base, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                qd = np.dtype(DTYPES[q["dtype"]])
                raw = np.frombuffer(buf, qd, n, off)
                off += n * qd.itemsize
                if q["dtype"] == "float16":
                    a = raw.astype(np.float32)
                else:  # affine: v = q * scale + min
                    a = raw.astype(np.float32) * q["scale"] + q["min"]
            else:
                dt = np.dtype(DTYPES[w["dtype"]])
                a = np.frombuffer(buf, dt, n, off).copy()
                off += n * dt.itemsize
            out[w["name"]] = a.reshape(w["shape"])
        if off != len(buf):
            raise ValueError(f"{model_json_path}: weights manifest covers {off} bytes, shards hold {len(buf)}")
    return d, out


def _attr_list(node, key, field):
    a = node.get("attr", {}).get(key)
    if not a:
        return []
    return a.get("list", {}).get(field, [])


def _attr_s(node, key):
    a = node.get("attr", {}).get(key)
    return base64.b64decode(a["s"]).decode() if a and "s" in a else None


def _same_pad(k, s, dil=1):
    """TF SAME padding (before, after) for an even-sized input."""
    k = (k - 1) * dil + 1
    total = max(k - s, 0)
    return total // 2, total - total // 2


def up2_asymmetric(x):
    """Bilinear x2 with TF's legacy mapping (src = dst / 2): even outputs copy, odd ones average
    with the next sample (clamped at the border). Exportable with plain ONNX ops."""
    xr = torch.cat([x[..., 1:], x[..., -1:]], -1)
    x = torch.stack([x, (x + xr) * 0.5], -1).flatten(-2)
    xd = torch.cat([x[..., 1:, :], x[..., -1:, :]], -2)
    return torch.stack([x, (x + xd) * 0.5], -2).flatten(-3, -2)


class TFJSGraph(nn.Module):
    def __init__(self, graph, weights, outputs, input_name=None):
        super().__init__()
        nodes = {n["name"]: n for n in graph["modelTopology"]["node"]}
        self.outputs = list(outputs)
        order, seen = [], set()

        def visit(name):  # topological order of what the outputs need
            name = name.split(":")[0].lstrip("^")
            if name in seen:
                return
            seen.add(name)
            for i in nodes[name].get("input", []):
                visit(i)
            order.append(name)

        for o in self.outputs:
            visit(o)
        self.input_name = input_name or next(n for n in order if nodes[n]["op"] == "Placeholder")
        self.params = nn.ParameterDict()
        self.consts = {}
        self.prog = []
        key = lambda s: s.replace("/", "__").replace(":", "_")
        for name in order:
            n = nodes[name]
            op = n["op"]
            if op == "Const":
                if name in weights:
                    self.consts[name] = weights[name]
                continue
            ins = [i.split(":")[0] for i in n.get("input", []) if not i.startswith("^")]
            step = {"name": name, "op": op, "in": ins}
            if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
                w = weights[ins[1]]
                kh, kw, cin, cm = w.shape
                dw = "Depthwise" in op
                wt = w.transpose(2, 3, 0, 1).reshape(cin * cm, 1, kh, kw) if dw else w.transpose(3, 2, 0, 1)
                self.params[key(name) + "__w"] = nn.Parameter(torch.from_numpy(np.ascontiguousarray(wt)).float())
                fused = [base64.b64decode(s).decode() for s in _attr_list(n, "fused_ops", "s")]
                if "BiasAdd" in fused:
                    self.params[key(name) + "__b"] = nn.Parameter(torch.from_numpy(weights[ins[2]].copy()).float())
                strides = [int(v) for v in _attr_list(n, "strides", "i")] or [1, 1, 1, 1]
                dil = [int(v) for v in _attr_list(n, "dilations", "i")] or [1, 1, 1, 1]
                pad = _attr_s(n, "padding")
                s = strides[1]
                ph = _same_pad(kh, s, dil[1]) if pad == "SAME" else (0, 0)
                pw = _same_pad(kw, strides[2], dil[2]) if pad == "SAME" else (0, 0)
                step.update(key=key(name), stride=s, groups=cin if dw else 1, pad=(pw[0], pw[1], ph[0], ph[1]),
                            dil=dil[1], act=[f for f in fused if f != "BiasAdd"], bias="BiasAdd" in fused,
                            alpha=n.get("attr", {}).get("leakyrelu_alpha", {}).get("f", 0.2))
                step["in"] = ins[:1]
            elif op in ("Add", "AddV2", "Mul", "Sub", "ConcatV2", "Mean", "ResizeBilinear", "Pad", "PadV2"):
                pass
            elif op in ("Relu", "Relu6", "Sigmoid", "Identity", "Placeholder", "MaxPool", "LeakyRelu"):
                if op == "MaxPool":
                    step["k"] = int(_attr_list(n, "ksize", "i")[1])
                    step["s"] = int(_attr_list(n, "strides", "i")[1])
                    step["padding"] = _attr_s(n, "padding")
                if op == "LeakyRelu":
                    step["alpha"] = n.get("attr", {}).get("alpha", {}).get("f", 0.2)
            else:
                raise NotImplementedError(f"tfjs op {op} ({name})")
            self.prog.append(step)

    @classmethod
    def load(cls, model_json, outputs, input_name=None):
        g, w = read_weights(model_json)
        return cls(g, w, outputs, input_name)

    def _const(self, name, ref):
        v = self.consts[name]
        return torch.as_tensor(v, dtype=ref.dtype if v.dtype.kind == "f" else torch.int64)

    def _val(self, env, name, ref=None):
        if name in env:
            return env[name]
        return self._const(name, ref)

    def forward(self, x, extra_outputs=()):
        """x: NCHW float in the units the original graph expects."""
        env = {self.input_name: x}
        for st in self.prog:
            op = st["op"]
            if op == "Placeholder":
                continue
            a = env.get(st["in"][0]) if st["in"] else None
            if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
                y = F.pad(a, st["pad"]) if any(st["pad"]) else a
                y = F.conv2d(y, self.params[st["key"] + "__w"], self.params[st["key"] + "__b"] if st["bias"] else None,
                             st["stride"], 0, st["dil"], st["groups"])
                for act in st["act"]:
                    y = F.relu(y) if act == "Relu" else F.relu6(y) if act == "Relu6" else \
                        F.leaky_relu(y, st["alpha"]) if act == "LeakyRelu" else None
                    if y is None:
                        raise NotImplementedError(act)
            elif op in ("Add", "AddV2", "Mul", "Sub"):
                l, r = (self._val(env, i, a if a is not None else env.get(st["in"][1])) for i in st["in"])
                l, r = self._bcast(l), self._bcast(r)
                y = l + r if op in ("Add", "AddV2") else l * r if op == "Mul" else l - r
            elif op == "Relu":
                y = F.relu(a)
            elif op == "Relu6":
                y = F.relu6(a)
            elif op == "LeakyRelu":
                y = F.leaky_relu(a, st["alpha"])
            elif op == "Sigmoid":
                y = torch.sigmoid(a)
            elif op == "Identity":
                y = a
            elif op == "Mean":
                axes = self.consts[st["in"][1]].reshape(-1).tolist()
                assert sorted(axes) == [1, 2], axes
                y = a.mean((2, 3), keepdim=True)
            elif op == "ConcatV2":
                axis = int(self.consts[st["in"][-1]])
                assert axis in (3, -1), axis
                y = torch.cat([env[i] for i in st["in"][:-1]], 1)
            elif op == "ResizeBilinear":
                # the graph's size constant was traced at its native input (a x2 upsample there);
                # x2 is kept at any input size
                y = up2_asymmetric(a)
            elif op == "MaxPool":
                k, s = st["k"], st["s"]
                p = _same_pad(k, s)
                y = F.max_pool2d(F.pad(a, (p[0], p[1], p[0], p[1]), value=float("-inf")), k, s)
            elif op in ("Pad", "PadV2"):
                p = self.consts[st["in"][1]].reshape(4, 2)  # NHWC rows
                y = F.pad(a, (int(p[2, 0]), int(p[2, 1]), int(p[1, 0]), int(p[1, 1])))
            else:
                raise NotImplementedError(op)
            env[st["name"]] = y
        names = list(self.outputs) + list(extra_outputs)
        return {n: env[n] for n in names}

    @staticmethod
    def _bcast(t):
        # NHWC-shaped constants ([C] or [1,1,1,C]) broadcast over NCHW channels
        if t.dim() == 1 and t.numel() > 1:
            return t.view(1, -1, 1, 1)
        if t.dim() == 4 and t.shape[1] == 1 and t.shape[2] == 1 and t.shape[3] > 1:
            return t.permute(0, 3, 1, 2)
        return t
