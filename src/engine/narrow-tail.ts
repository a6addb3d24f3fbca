import { PerceptionError } from '../core/errors.js';
import type { Manifest } from '../model/manifest.js';
import { DT, encodeModel, makeNode, makeTensor, onnxOpset, readModel, type ModelProto } from '../model/quantize/onnx.js';

/**
 * A widened detection tail (training/widen_tail.py: `det_feat` = trunk channels + a backbone
 * tap, first layer k×k) gives online learning the low-level features and the context it needs
 * to repair detection after a shift; but its k×k convolution over every channel costs ~13 % of
 * the frame (docs/experiments/2026-12-06-detection-tail.md). The shipped weights use only the
 * centre tap of the trunk channels, so while they serve, the engine runs a second session of
 * the same graph whose first det layer is that 1×1 slice: the same outputs at the old cost.
 *
 * `narrowTailGraph` derives that graph (in memory, from the package's own): the first det
 * Conv reads `det_feat[:, :trunk]` and `det_w0[:, :trunk, r, r]` (Slices of the same graph
 * inputs), kernel 1, no padding. Undefined when the package's det tail is not widened.
 */
export interface NarrowSpec {
  /** Channels of `det_feat` that come from the trunk (the rest are the tap's). */
  readonly trunk: number;
  /** Kernel of the first det layer (odd, > 1). */
  readonly kernel: number;
}

export function narrowSpec(manifest: Pick<Manifest, 'tails'>): NarrowSpec | undefined {
  const det = manifest.tails.det;
  const kernel = det.layers[0].kernel ?? 1;
  if (kernel === 1 || det.tap === undefined) return undefined;
  return { trunk: det.in - det.tap.channels, kernel };
}

/**
 * Whether `det_w0` (`[out, in, k, k]`, row-major) is zero everywhere but the centre tap of the
 * trunk channels: then the narrow graph computes exactly what the wide one does.
 */
export function isNarrow(w: ArrayLike<number>, out: number, cin: number, spec: NarrowSpec): boolean {
  const k = spec.kernel;
  const r = (k - 1) / 2;
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < cin; c++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) {
          if (c < spec.trunk && y === r && x === r) continue;
          if (w[((o * cin + c) * k + y) * k + x] !== 0) return false;
        }
      }
    }
  }
  return true;
}

export function narrowTailGraph(model: ModelProto, manifest: Pick<Manifest, 'tails'>): ModelProto | undefined {
  const spec = narrowSpec(manifest);
  if (spec === undefined) return undefined;
  const g = model.graph;
  const at = g.node.findIndex((n) => n.opType === 'Conv' && n.input[1] === 'det_w0');
  const conv = at >= 0 ? g.node[at] : undefined;
  // Its data input is det_feat, or det_feat through a QuantizeLinear/DequantizeLinear pair in an
  // INT8 variant: the same channels in the same order either way.
  if (conv === undefined) {
    throw new PerceptionError('INVALID_ARGUMENT', `the graph has no Conv with weight input 'det_w0' (the widened detection tail the manifest describes)`, { field: 'tails.det' });
  }
  if (onnxOpset(model) < 10) throw new PerceptionError('INVALID_ARGUMENT', `opset ${onnxOpset(model)} < 10: Slice takes attributes there; re-export the model`, { field: 'opset_import' });
  const r = (spec.kernel - 1) / 2;
  const c = (name: string, v: number[]) => makeTensor(`narrow_tail/${name}`, DT.INT64, [v.length], BigInt64Array.from(v.map(BigInt)));
  g.initializer.push(
    c('f_starts', [0]),
    c('f_ends', [spec.trunk]),
    c('f_axes', [1]),
    c('w_starts', [0, r, r]),
    c('w_ends', [spec.trunk, r + 1, r + 1]),
    c('w_axes', [1, 2, 3]),
  );
  const slices = [
    makeNode('Slice', [conv.input[0], 'narrow_tail/f_starts', 'narrow_tail/f_ends', 'narrow_tail/f_axes'], ['narrow_tail/feat'], 'narrow_tail/SliceFeat'),
    makeNode('Slice', ['det_w0', 'narrow_tail/w_starts', 'narrow_tail/w_ends', 'narrow_tail/w_axes'], ['narrow_tail/w0'], 'narrow_tail/SliceW0'),
  ];
  conv.input[0] = 'narrow_tail/feat';
  conv.input[1] = 'narrow_tail/w0';
  conv.attribute = (conv.attribute ?? []).filter((a) => a.name !== 'kernel_shape' && a.name !== 'pads');
  conv.attribute.push(...(makeNode('Conv', [], [], '', { kernel_shape: [1, 1], pads: [0, 0, 0, 0] }).attribute ?? []));
  g.node.splice(at, 0, ...slices);
  return model;
}

/**
 * The graph the engine runs for a package's shipped weights: the narrow copy (in memory) when
 * the det tail is widened and the weights allow it, else the package's file. For benchmarks
 * that time the raw ONNX Runtime loop "on the same model" as the engine.
 */
export function servingGraph(modelPath: string, manifest: Pick<Manifest, 'tails'>, tails: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>): string | Uint8Array {
  const spec = narrowSpec(manifest);
  const w0 = tails.get('det_w0');
  if (spec === undefined || w0 === undefined || !isNarrow(w0.data, w0.shape[0], w0.shape[1], spec)) return modelPath;
  const g = narrowTailGraph(readModel(modelPath), manifest);
  return g ? encodeModel(g) : modelPath;
}
