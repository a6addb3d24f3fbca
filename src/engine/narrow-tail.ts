import { PerceptionError } from '../core/errors.js';
import { HEADS, type HeadName, type Manifest } from '../model/manifest.js';
import { DT, encodeModel, makeNode, makeTensor, onnxOpset, pruneInitializers, readModel, type ModelProto } from '../model/quantize/onnx.js';

/**
 * A widened tail (training/widen_tail.py: detection reads trunk channels + a backbone tap,
 * first layer k×k; segmentation a k×k first layer) gives online learning the low-level
 * features and the context it needs to repair a head after a shift; but a k×k convolution over
 * every channel costs frame time (det: ~13 % of the frame, docs/experiments/2026-12-06-detection-tail.md).
 * The shipped weights use only the centre tap of the trunk channels, so while they serve, the
 * engine runs a second session of the same graph whose widened first layers are that 1×1
 * slice: the same outputs at the old cost.
 *
 * `narrowTailGraph` derives that graph (in memory, from the package's own): each widened
 * head's first Conv reads `<head>_feat[:, :trunk]` (when a tap was appended: the Concat's
 * first input itself where the feature is that Concat, no Slice) and
 * the central narrow_kernel × narrow_kernel window of `<head>_w0[:, :trunk]` (Slices of the
 * same graph inputs; narrow_kernel 1 by default, the centre tap). A tail whose shipped k×k
 * weights are trained (the real-roads segmentation: training/coco_head.py) declares
 * `narrow_kernel: k` and loses only its tap. Undefined when no tail is widened.
 */
export interface NarrowSpec {
  readonly head: HeadName;
  /** Channels of the head's features that come from its trunk (the rest are a tap's). */
  readonly trunk: number;
  /** Channels of the head's features in all. */
  readonly in: number;
  /** Kernel of the head's first layer (odd). */
  readonly kernel: number;
  /** Kernel the narrow copy keeps (odd, ≤ kernel; 1 = the centre tap). */
  readonly keep: number;
  /** The appended tap's tensor, when there is one. */
  readonly tap?: string;
}

/** The widened tails of a package: one entry per head whose narrow copy is smaller (a kernel to drop, or a tap). */
export function narrowSpecs(manifest: Pick<Manifest, 'tails'>): NarrowSpec[] {
  const out: NarrowSpec[] = [];
  for (const head of HEADS) {
    const t = manifest.tails[head];
    const kernel = t.layers[0].kernel ?? 1;
    const keep = t.narrow_kernel ?? 1;
    const trunk = t.in - (t.tap?.channels ?? 0);
    if (kernel > keep || trunk < t.in) out.push({ head, trunk, in: t.in, kernel, keep, ...(t.tap ? { tap: t.tap.tensor } : {}) });
  }
  return out;
}

/**
 * Whether `<head>_w0` (`[out, in, k, k]`, row-major) is zero everywhere but the central
 * keep × keep window of the trunk channels: then the narrow graph computes exactly what the
 * wide one does.
 */
export function isNarrow(w: ArrayLike<number>, out: number, cin: number, spec: Pick<NarrowSpec, 'trunk' | 'kernel'> & Partial<Pick<NarrowSpec, 'keep'>>): boolean {
  const k = spec.kernel;
  const lo = (k - (spec.keep ?? 1)) / 2;
  const hi = k - 1 - lo;
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < cin; c++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) {
          if (c < spec.trunk && y >= lo && y <= hi && x >= lo && x <= hi) continue;
          if (w[((o * cin + c) * k + y) * k + x] !== 0) return false;
        }
      }
    }
  }
  return true;
}

/** Whether every widened tail of `tails` reads only its centre tap and trunk channels (see isNarrow). */
export function allNarrow(manifest: Pick<Manifest, 'tails'>, tails: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>): boolean {
  const specs = narrowSpecs(manifest);
  return (
    specs.length > 0 &&
    specs.every((s) => {
      const w0 = tails.get(`${s.head}_w0`);
      return w0 !== undefined && isNarrow(w0.data, w0.shape[0], w0.shape[1], s);
    })
  );
}

/**
 * `outputs`: the graph outputs the narrow copy keeps (default: all). ONNX Runtime runs every
 * node of a graph whatever a run fetches (microsoft/onnxruntime#16483), so nodes that feed only
 * outputs nobody fetches still cost frame time: in `default@1.2.x` the synthetic network's own
 * segmentation trunk, which only the learner's `seg_feat` reads (the shipped seg tail's narrow
 * copy does not). The engine keeps what it fetches; a run that fetches more uses the wide graph.
 */
export function narrowTailGraph(model: ModelProto, manifest: Pick<Manifest, 'tails'>, outputs?: readonly string[]): ModelProto | undefined {
  const specs = narrowSpecs(manifest);
  if (specs.length === 0) return undefined;
  if (onnxOpset(model) < 10) throw new PerceptionError('INVALID_ARGUMENT', `opset ${onnxOpset(model)} < 10: Slice takes attributes there; re-export the model`, { field: 'opset_import' });
  const g = model.graph;
  for (const spec of specs) {
    const w0 = `${spec.head}_w0`;
    const at = g.node.findIndex((n) => n.opType === 'Conv' && n.input[1] === w0);
    const conv = at >= 0 ? g.node[at] : undefined;
    // Its data input is <head>_feat, or that through a QuantizeLinear/DequantizeLinear pair in
    // an INT8 variant: the same channels in the same order either way.
    if (conv === undefined) {
      throw new PerceptionError('INVALID_ARGUMENT', `the graph has no Conv with weight input '${w0}' (the widened ${spec.head} tail the manifest describes)`, { field: `tails.${spec.head}` });
    }
    const lo = (spec.kernel - spec.keep) / 2;
    const p = `narrow_tail/${spec.head}`;
    const c = (name: string, v: number[]) => makeTensor(`${p}/${name}`, DT.INT64, [v.length], BigInt64Array.from(v.map(BigInt)));
    g.initializer.push(c('w_starts', [0, lo, lo]), c('w_ends', [spec.trunk, lo + spec.keep, lo + spec.keep]), c('w_axes', [1, 2, 3]));
    const slices = [makeNode('Slice', [w0, `${p}/w_starts`, `${p}/w_ends`, `${p}/w_axes`], [`${p}/w0`], `${p}/SliceW0`)];
    if (spec.trunk < spec.in) {
      // The feature as [trunk | tap] concatenated: read the trunk itself (no copy); else slice the
      // trunk's channels off whatever feeds the Conv.
      const cat = g.node.find((n) => n.output.includes(conv.input[0]));
      if (cat?.opType === 'Concat' && cat.input.length === 2 && spec.tap !== undefined && cat.input[1] === spec.tap) {
        conv.input[0] = cat.input[0];
      } else {
        g.initializer.push(c('f_starts', [0]), c('f_ends', [spec.trunk]), c('f_axes', [1]));
        slices.unshift(makeNode('Slice', [conv.input[0], `${p}/f_starts`, `${p}/f_ends`, `${p}/f_axes`], [`${p}/feat`], `${p}/SliceFeat`));
        conv.input[0] = `${p}/feat`;
      }
    }
    conv.input[1] = `${p}/w0`;
    const pad = (spec.keep - 1) / 2;
    conv.attribute = (conv.attribute ?? []).filter((a) => a.name !== 'kernel_shape' && a.name !== 'pads');
    conv.attribute.push(...(makeNode('Conv', [], [], '', { kernel_shape: [spec.keep, spec.keep], pads: [pad, pad, pad, pad] }).attribute ?? []));
    g.node.splice(at, 0, ...slices);
  }
  if (outputs) keepOutputs(model, outputs);
  return model;
}

/**
 * Keeps only the graph outputs named in `keep` (an unknown name is refused) and the nodes they
 * depend on; initializers nobody reads go too. Graph inputs stay (their feeds are the same).
 */
export function keepOutputs(model: ModelProto, keep: readonly string[]): void {
  const g = model.graph;
  const have = new Set(g.output.map((o) => o.name));
  const unknown = keep.filter((k) => !have.has(k));
  if (unknown.length > 0) throw new PerceptionError('INVALID_ARGUMENT', `the graph has no output ${unknown.map((u) => `'${u}'`).join(', ')} (it has ${[...have].join(', ')})`, { field: 'outputs' });
  const wanted = new Set(keep);
  g.output = g.output.filter((o) => wanted.has(o.name ?? ''));
  const producer = new Map<string, number>();
  g.node.forEach((n, i) => n.output.forEach((o) => producer.set(o, i)));
  const live = new Set<number>();
  const stack = [...wanted];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    const i = producer.get(name);
    if (i === undefined || live.has(i)) continue;
    live.add(i);
    for (const x of g.node[i].input) if (x) stack.push(x);
  }
  g.node = g.node.filter((_, i) => live.has(i));
  pruneInitializers(g);
}

/**
 * The graph the engine runs for a package's shipped weights: the narrow copy (in memory) when
 * a tail is widened and the weights allow it, keeping `outputs` only (the engine keeps what it
 * fetches), else the package's file. For benchmarks that time the raw ONNX Runtime loop "on the
 * same model" as the engine.
 */
export function servingGraph(modelPath: string, manifest: Pick<Manifest, 'tails'>, tails: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>, outputs?: readonly string[]): string | Uint8Array {
  if (!allNarrow(manifest, tails)) return modelPath;
  const g = narrowTailGraph(readModel(modelPath), manifest, outputs);
  return g ? encodeModel(g) : modelPath;
}
