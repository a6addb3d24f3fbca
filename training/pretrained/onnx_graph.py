"""Small ONNX graph -> trainable PyTorch module (initializers become nn.Parameters).

    net = ONNXGraph.load("FastestDet.onnx", outputs=["758"])
    out = net(x_nchw)          # dict: output name -> tensor

Op set: Conv, Relu, Sigmoid, Tanh, Add, Concat, MaxPool, AveragePool, Pad (constant), Resize
(nearest x2, or bilinear), Softmax and Transpose around it, and ShuffleNetV2's channel split
(Reshape -> Transpose(1,0,2) -> Reshape -> Gather 0/1), which is traced with fixed sizes in the
file and is rewritten here as the size-agnostic x[:, k::2], so the module runs at any input size.
Written by hand for the reason given in __init__.py.
"""
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(n):
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


class ONNXGraph(nn.Module):
    def __init__(self, model, outputs=None):
        super().__init__()
        g = model.graph
        inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        consts = {}
        for n in g.node:
            if n.op_type == "Constant":
                consts[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"])
        inits.update(consts)
        self.input_name = next(i.name for i in g.input if i.name not in inits)
        self.outputs = list(outputs or [o.name for o in g.output])
        producers = {o: n for n in g.node for o in n.output}
        consumers = {}
        for n in g.node:
            for i in n.input:
                consumers.setdefault(i, []).append(n)
        self.params = nn.ParameterDict()
        self.prog = []
        # channel-split pattern: Reshape(3d) -> Transpose(1,0,2) -> Reshape(5d) -> Gather(k)
        split_src = {}
        for n in g.node:
            if n.op_type == "Gather" and n.input[0] in producers:
                r2 = producers[n.input[0]]
                if r2.op_type != "Reshape":
                    continue
                tr = producers.get(r2.input[0])
                r1 = producers.get(tr.input[0]) if tr is not None and tr.op_type == "Transpose" else None
                if r1 is not None and r1.op_type == "Reshape" and list(_attrs(tr)["perm"]) == [1, 0, 2]:
                    split_src[n.output[0]] = (r1.input[0], int(inits[n.input[1]]))
        skip = set()
        for out, (src, k) in split_src.items():
            r2 = producers[producers[out].input[0]]
            tr = producers[r2.input[0]]
            skip |= {id(r2), id(tr), id(producers[tr.input[0]])}
        key = lambda s: "p" + "".join(c if c.isalnum() else "_" for c in s)
        for n in g.node:
            if id(n) in skip or n.op_type == "Constant":
                continue
            a = _attrs(n)
            st = {"op": n.op_type, "in": list(n.input), "out": n.output[0]}
            if n.op_type == "Gather" and n.output[0] in split_src:
                st.update(op="ChannelSplit", src=split_src[n.output[0]][0], k=split_src[n.output[0]][1])
            elif n.op_type == "Conv":
                w = inits[n.input[1]]
                self.params[key(n.input[1])] = nn.Parameter(torch.from_numpy(w.copy()).float())
                st.update(w=key(n.input[1]), stride=a.get("strides", [1, 1])[0], pad=a.get("pads", [0, 0, 0, 0]),
                          groups=a.get("group", 1), dil=a.get("dilations", [1, 1])[0])
                if len(n.input) > 2:
                    self.params[key(n.input[2])] = nn.Parameter(torch.from_numpy(inits[n.input[2]].copy()).float())
                    st["b"] = key(n.input[2])
            elif n.op_type in ("MaxPool", "AveragePool"):
                st.update(k=a["kernel_shape"][0], s=a.get("strides", [1, 1])[0], pad=a.get("pads", [0, 0, 0, 0]))
            elif n.op_type == "Pad":
                st["pads"] = [int(v) for v in inits[n.input[1]]]
            elif n.op_type == "Resize":
                st["mode"] = a.get("mode", b"nearest").decode()
                sc = inits.get(n.input[2]) if len(n.input) > 2 else None
                st["scale"] = float(sc[-1]) if sc is not None and sc.size else 2.0
            elif n.op_type in ("Concat", "Softmax"):
                st["axis"] = a.get("axis", 1)
            elif n.op_type == "Transpose":
                st["perm"] = list(a["perm"])
            elif n.op_type in ("Relu", "Sigmoid", "Tanh", "Add"):
                pass
            else:
                raise NotImplementedError(f"onnx op {n.op_type} ({n.name})")
            self.prog.append(st)

    @classmethod
    def load(cls, path, outputs=None):
        return cls(onnx.load(path), outputs)

    def forward(self, x, extra_outputs=()):
        env = {self.input_name: x}
        for st in self.prog:
            op = st["op"]
            a = env.get(st["in"][0]) if st["in"] else None
            if op == "ChannelSplit":
                y = env[st["src"]][:, st["k"]::2]
            elif op == "Conv":
                p = st["pad"]
                if p[0] == p[2] and p[1] == p[3]:
                    y = F.conv2d(a, self.params[st["w"]], self.params[st["b"]] if "b" in st else None,
                                 st["stride"], (p[0], p[1]), st["dil"], st["groups"])
                else:
                    y = F.conv2d(F.pad(a, (p[1], p[3], p[0], p[2])), self.params[st["w"]],
                                 self.params[st["b"]] if "b" in st else None, st["stride"], 0, st["dil"], st["groups"])
            elif op == "Relu":
                y = F.relu(a)
            elif op == "Sigmoid":
                y = torch.sigmoid(a)
            elif op == "Tanh":
                y = torch.tanh(a)
            elif op == "Add":
                y = a + env[st["in"][1]]
            elif op == "Concat":
                y = torch.cat([env[i] for i in st["in"]], st["axis"])
            elif op == "MaxPool":
                p = st["pad"]
                y = F.max_pool2d(F.pad(a, (p[1], p[3], p[0], p[2]), value=float("-inf")), st["k"], st["s"])
            elif op == "AveragePool":
                p = st["pad"]
                y = F.avg_pool2d(F.pad(a, (p[1], p[3], p[0], p[2])), st["k"], st["s"])
            elif op == "Pad":
                p = st["pads"]  # [x1_begin.., x1_end..] over NCHW
                y = F.pad(a, (p[3], p[7], p[2], p[6]))
            elif op == "Resize":
                y = F.interpolate(a, scale_factor=st["scale"], mode="nearest" if st["mode"] == "nearest" else "bilinear",
                                  **({} if st["mode"] == "nearest" else {"align_corners": False}))
            elif op == "Transpose":
                y = a.permute(*st["perm"])
            elif op == "Softmax":
                y = torch.softmax(a, st["axis"])
            else:
                raise NotImplementedError(op)
            env[st["out"]] = y
        return {n: env[n] for n in list(self.outputs) + list(extra_outputs)}
