/**
 * Static post-training quantization in the QDQ format: QuantizeLinear → DequantizeLinear pairs
 * around the activations of the quantized region and DequantizeLinear on int8 weights, which
 * ONNX Runtime's graph optimiser fuses into integer kernels (QLinearConv, QLinearAdd, …).
 *
 * What is quantized (model-agnostic, no layer names): every Conv whose weight is a constant;
 * a ReLU right after a quantized op is folded into that op's output quantization (range from
 * 0, zero point = the type's minimum: the clamp is the ReLU); then, in graph order, every op
 * of `followers` whose activation inputs all come out of the quantized region. Everything
 * else stays FP32, and on purpose:
 * - Convs whose weights are graph INPUTS (the trainable tails the learner swaps at run time):
 *   their weights are not known when quantizing, and the contract keeps those inputs float.
 * - The in-graph preprocessing (uint8 image → normalised float) and post-processing (sigmoid,
 *   peak suppression, upsampling, argmax): no Conv feeds them from the quantized region.
 * Weights: int8, symmetric ([-127, 127], zero point 0), per output channel by default.
 * Biases: int32 at scale = input scale × weight scale (what QLinearConv takes).
 * Activations: uint8 asymmetric by default (u8s8, the pair x86 VNNI kernels are built for).
 * Decisions and their measurements: docs/experiments/2026-12-06-int8-and-students.md.
 */
import { PerceptionError } from '../../core/errors.js';
import { GraphIndex, DT, attrInt, cloneModel, dimsOf, floatsOf, makeNode, makeTensor, onnxOpset, pruneInitializers, type ModelProto, type NodeProto, type TensorProto } from './onnx.js';
import type { Range } from './calibrate.js';

export type ActivationType = 'uint8' | 'int8';

export interface QdqOptions {
  /** Activation type (default uint8). */
  readonly activations?: ActivationType;
  /** Per-output-channel weight scales (default true); false: one scale per weight tensor. */
  readonly perChannel?: boolean;
  /** Op types quantized beside Conv when all their activation inputs are quantized. */
  readonly followers?: readonly string[];
  /** Nodes kept FP32: exact node names or op types, or patterns matched against node names. */
  readonly exclude?: readonly (string | RegExp)[];
  /** Fold a ReLU that follows a quantized op into its output quantization (default true). */
  readonly foldRelu?: boolean;
  /**
   * Keep FP32 the Convs whose output (after a folded ReLU) is a graph output — the tails'
   * input features, which the learner caches and trains on (default false).
   */
  readonly keepOutputConvsFp32?: boolean;
  /**
   * Keep the first N Convs with constant weights (graph order) FP32 (default 1). The first layer sees the image
   * itself (3 channels: integer kernels gain nothing there), and the noise of the early,
   * high-resolution activations reaches every head.
   */
  readonly keepFirstConvs?: number;
  /**
   * Fold the input normalisation `(x - mean) / std` (per-channel constants, Sub then Div)
   * that feeds a quantized tensor into a per-channel QuantizeLinear (default true): ONNX
   * Runtime's layout optimiser moves the NCHW↔NHWC transposes of the integer kernels through
   * Sub and Div, which then run as slow last-axis broadcasts. Exact up to half a quantization
   * step (the per-channel zero points are rounded). Default false: ONNX Runtime's per-axis
   * QuantizeLinear was slower than the Sub and Div it replaces (docs/experiments/2026-12-06-
   * int8-and-students.md), and with the first Conv kept FP32 the pattern does not arise.
   */
  readonly foldNormalization?: boolean;
}

/** Followers by default: the ops ONNX Runtime's CPU provider runs on 8-bit tensors. */
export const DEFAULT_FOLLOWERS: readonly string[] = ['Add', 'Concat', 'Resize', 'MaxPool', 'AveragePool', 'GlobalAveragePool'];

/** Ops whose output keeps the input's scale and zero point (they select or move values). */
const SAME_PARAMS = new Set(['Resize', 'MaxPool', 'Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Slice', 'Split', 'Gather']);

export interface QdqPlan {
  /** Nodes that become integer ops, by name. */
  readonly quantized: readonly string[];
  /** Folded ReLU nodes (removed). */
  readonly foldedRelu: readonly string[];
  /** Convs kept FP32 and why. */
  readonly keptFp32: readonly { node: string; why: string }[];
  /** Activation tensors that get a Q/DQ pair. */
  readonly tensors: readonly string[];
  /** Tensors that take another tensor's parameters (output → input of a Resize, MaxPool, …). */
  readonly sameAs: ReadonlyMap<string, string>;
  /** Tensors only measured (the input of a normalisation that may be folded). */
  readonly observe: readonly string[];
}

/** Decides what to quantize; `plan.tensors` are what calibration must measure. */
export function planQdq(model: ModelProto, options: QdqOptions = {}): QdqPlan {
  const g = model.graph;
  const idx = new GraphIndex(g);
  const followers = new Set(options.followers ?? DEFAULT_FOLLOWERS);
  const names = new Set((options.exclude ?? []).filter((e): e is string => typeof e === 'string'));
  const patterns = (options.exclude ?? []).filter((e): e is RegExp => e instanceof RegExp);
  const excluded = (name: string, op: string) => names.has(name) || names.has(op) || patterns.some((p) => p.test(name));
  const foldRelu = options.foldRelu ?? true;
  const quantized = new Set<NodeProto>();
  const region = new Set<string>(); // tensors produced inside the quantized region
  const folded: NodeProto[] = [];
  const keptFp32: { node: string; why: string }[] = [];
  const tensors = new Set<string>();
  const sameAs = new Map<string, string>();
  const activationInputs = (n: NodeProto) => n.input.filter((i, k) => i && !idx.isConstant(i) && !(n.opType === 'Resize' && k > 0));
  // A folded ReLU's output replaces its producer's output: follow the rename.
  const outName = new Map<string, string>();
  const nameOf = (n: NodeProto, i: number) => n.name || `${n.opType}_${i}`;
  const firstConvs = new Set(g.node.filter((n) => n.opType === 'Conv' && idx.initializers.has(n.input[1])).slice(0, options.keepFirstConvs ?? 1));

  g.node.forEach((n, i) => {
    const name = nameOf(n, i);
    if (firstConvs.has(n)) {
      keptFp32.push({ node: name, why: `one of the first ${firstConvs.size} Convs (keepFirstConvs)` });
      return;
    }
    if (excluded(name, n.opType) && (n.opType === 'Conv' || followers.has(n.opType))) {
      if (n.opType === 'Conv') keptFp32.push({ node: name, why: 'excluded by option' });
      return;
    }
    if (n.opType === 'Conv') {
      const w = n.input[1];
      if (idx.graphInputs.has(w) && !idx.initializers.has(w)) {
        keptFp32.push({ node: name, why: `weight '${w}' is a graph input (a trainable tail, swapped at run time)` });
        return;
      }
      const wt = idx.constant(w);
      if (!wt || wt.dataType !== DT.FLOAT) {
        keptFp32.push({ node: name, why: `weight '${w}' is not a float32 constant` });
        return;
      }
      if (n.input[2] && !idx.constant(n.input[2])) {
        keptFp32.push({ node: name, why: `bias '${n.input[2]}' is not a constant` });
        return;
      }
      if (idx.isConstant(n.input[0])) return;
      if (options.keepOutputConvsFp32) {
        const out = n.output[0];
        const next = idx.consumers.get(out) ?? [];
        const final = idx.graphOutputs.has(out) || (next.length === 1 && next[0].opType === 'Relu' && idx.graphOutputs.has(next[0].output[0]));
        if (final) {
          keptFp32.push({ node: name, why: 'its output is a graph output (keepOutputConvsFp32)' });
          return;
        }
      }
      quantized.add(n);
      tensors.add(n.input[0]);
      for (const o of n.output) region.add(o);
      return;
    }
    if (n.opType === 'Relu' && foldRelu && region.has(n.input[0])) {
      const src = n.input[0];
      const only = (idx.consumers.get(src) ?? []).length === 1 && !idx.graphOutputs.has(src);
      const producer = idx.producer.get(src);
      if (only && producer && quantized.has(producer)) {
        folded.push(n);
        outName.set(src, n.output[0]);
        region.add(n.output[0]);
        return;
      }
    }
    if (followers.has(n.opType)) {
      const ins = activationInputs(n);
      if (ins.length > 0 && ins.every((t) => region.has(t))) {
        quantized.add(n);
        for (const t of ins) tensors.add(t);
        for (const o of n.output) region.add(o);
        if (SAME_PARAMS.has(n.opType)) for (const o of n.output) sameAs.set(o, ins[0]);
      }
    }
  });
  // The outputs of quantized ops (renamed through folded ReLUs) are quantized too.
  for (const n of quantized) for (const o of n.output) tensors.add(outName.get(o) ?? o);
  const observe: string[] = [];
  for (const t of tensors) {
    const div = idx.producer.get(t);
    const sub = div?.opType === 'Div' ? idx.producer.get(div.input[0]) : undefined;
    if (sub?.opType === 'Sub') observe.push(sub.input[0]);
  }
  return {
    observe,
    quantized: [...quantized].map((n) => nameOf(n, g.node.indexOf(n))),
    foldedRelu: folded.map((n) => nameOf(n, g.node.indexOf(n))),
    keptFp32,
    tensors: [...tensors].filter((t) => !sameAs.has(t)),
    sameAs,
  };
}

interface QParams {
  scale: number;
  zp: number;
}

function activationParams(r: Range, type: ActivationType): QParams {
  const lo = Math.min(0, r.lo);
  const hi = Math.max(0, r.hi);
  const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
  let scale = (hi - lo) / (qmax - qmin);
  if (!(scale > 0) || !Number.isFinite(scale)) scale = 1;
  const zp = Math.max(qmin, Math.min(qmax, Math.round(qmin - lo / scale)));
  return { scale, zp };
}

export interface QdqResult {
  readonly model: ModelProto;
  readonly plan: QdqPlan;
}

/**
 * Writes the QDQ model for `plan` with the calibrated `ranges` (a fresh copy; `model` is not
 * changed). Throws INVALID_ARGUMENT naming the tensor when a range is missing.
 */
export function applyQdq(model: ModelProto, plan: QdqPlan, ranges: ReadonlyMap<string, Range>, options: QdqOptions = {}): QdqResult {
  if (onnxOpset(model) < 13) {
    throw new PerceptionError('MODEL_INVALID', `QDQ with per-channel weights needs ONNX opset >= 13, the model has ${onnxOpset(model)}`, { field: 'opset_import' });
  }
  const act = options.activations ?? 'uint8';
  const perChannel = options.perChannel ?? true;
  const m = cloneModel(model);
  const g = m.graph;
  const idx = new GraphIndex(g);
  const nameOf = (n: NodeProto, i: number) => n.name || `${n.opType}_${i}`;
  const quantized = new Set(plan.quantized);
  const folded = new Set(plan.foldedRelu);
  const actType = act === 'uint8' ? DT.UINT8 : DT.INT8;

  const params = new Map<string, QParams>();
  const paramsOf = (t: string): QParams => {
    const base = plan.sameAs.get(t);
    if (base !== undefined) return paramsOf(base);
    let p = params.get(t);
    if (!p) {
      const r = ranges.get(t);
      if (!r) throw new PerceptionError('INVALID_ARGUMENT', `no calibrated range for tensor '${t}'`, { field: t });
      p = activationParams(r, act);
      params.set(t, p);
    }
    return p;
  };
  const toQuantize = new Set([...plan.tensors, ...plan.sameAs.keys()]);

  // (x - mean) / std feeding a quantized tensor: one per-channel QuantizeLinear of x.
  const normFold = new Map<string, { x: string; scales: Float32Array; zps: Int32Array; drop: NodeProto[] }>();
  if (options.foldNormalization ?? false) {
    for (const t of toQuantize) {
      const div = idx.producer.get(t);
      if (div?.opType !== 'Div' || idx.graphOutputs.has(t)) continue;
      const sub = idx.producer.get(div.input[0]);
      if (sub?.opType !== 'Sub' || (idx.consumers.get(div.input[0]) ?? []).length !== 1 || idx.graphOutputs.has(div.input[0])) continue;
      const stdT = idx.constant(div.input[1]);
      const meanT = idx.constant(sub.input[1]);
      if (!stdT || !meanT || stdT.dataType !== DT.FLOAT || meanT.dataType !== DT.FLOAT) continue;
      const sd = dimsOf(stdT);
      const md = dimsOf(meanT);
      const perAxis1 = (d: number[]) => d.length === 4 && d[0] === 1 && d[2] === 1 && d[3] === 1;
      if (!perAxis1(sd) || !perAxis1(md) || sd[1] !== md[1]) continue;
      const std = floatsOf(stdT);
      const mean = floatsOf(meanT);
      // The range must cover every input value of every channel: the per-channel zero points
      // then stay inside the type (a narrower calibrated range would need negative ones).
      const xr = ranges.get(sub.input[0]);
      const r = ranges.get(t);
      if (!xr || !r || params.has(t)) continue;
      let lo = r.lo;
      let hi = r.hi;
      for (let c = 0; c < std.length; c++) {
        lo = Math.min(lo, (Math.min(0, xr.lo) - mean[c]) / std[c]); // zero points >= the type minimum
        hi = Math.max(hi, (xr.hi - mean[c]) / std[c]);
      }
      params.set(t, activationParams({ lo, hi }, act));
      const p = paramsOf(t);
      const [qmin, qmax] = act === 'uint8' ? [0, 255] : [-128, 127];
      const scales = new Float32Array(std.length);
      const zps = new Int32Array(std.length);
      let ok = true;
      for (let c = 0; c < std.length; c++) {
        scales[c] = std[c] * p.scale;
        const z = Math.round(p.zp - mean[c] / scales[c]);
        ok &&= z >= qmin - 1 && z <= qmax + 1;
        zps[c] = Math.max(qmin, Math.min(qmax, z));
      }
      if (ok) normFold.set(t, { x: sub.input[0], scales, zps, drop: [sub, div] });
    }
  }
  const dropped = new Set([...normFold.values()].flatMap((f) => f.drop));

  // Folded ReLUs: the producer writes the ReLU's output name directly.
  const rename = new Map<string, string>();
  g.node.forEach((n, i) => {
    if (folded.has(nameOf(n, i))) rename.set(n.input[0], n.output[0]);
  });

  const inits: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  let uid = 0;
  const scaleTensor = (name: string, p: QParams) => {
    inits.push(makeTensor(`${name}_scale`, DT.FLOAT, [], Float32Array.of(p.scale)));
    inits.push(makeTensor(`${name}_zp`, actType, [], act === 'uint8' ? Uint8Array.of(p.zp) : Int8Array.of(p.zp)));
  };
  const qdq = (t: string) => {
    const p = paramsOf(t);
    const base = `${t}__qdq${uid++}`;
    scaleTensor(base, p);
    const fold = normFold.get(t);
    if (fold) {
      const zp = act === 'uint8' ? Uint8Array.from(fold.zps) : Int8Array.from(fold.zps);
      inits.push(makeTensor(`${base}_nscale`, DT.FLOAT, [fold.scales.length], fold.scales), makeTensor(`${base}_nzp`, actType, [fold.zps.length], zp));
      nodes.push(makeNode('QuantizeLinear', [fold.x, `${base}_nscale`, `${base}_nzp`], [`${t}__q`], `${base}_Qnorm`, { axis: 1 }));
    } else {
      nodes.push(makeNode('QuantizeLinear', [`${t}__f`, `${base}_scale`, `${base}_zp`], [`${t}__q`], `${base}_Q`));
    }
    nodes.push(makeNode('DequantizeLinear', [`${t}__q`, `${base}_scale`, `${base}_zp`], [t], `${base}_DQ`));
  };

  // Graph inputs that must be quantized (rare: a quantized op fed directly by an input).
  for (const v of g.input) {
    if (toQuantize.has(v.name)) {
      throw new PerceptionError('MODEL_INVALID', `graph input '${v.name}' feeds a quantized op directly; keep the op FP32 (exclude it)`, { field: v.name });
    }
  }

  g.node.forEach((n, i) => {
    const name = nameOf(n, i);
    if (folded.has(name)) return;
    if (dropped.has(n)) {
      if (n.opType === 'Div') for (const o of n.output) qdq(o);
      return;
    }
    n.output = n.output.map((o) => rename.get(o) ?? o);
    if (quantized.has(name) && n.opType === 'Conv') {
      const xp = paramsOf(n.input[0]);
      const wName = n.input[1];
      const w = idx.constant(wName) as TensorProto;
      const dims = dimsOf(w);
      const wf = floatsOf(w);
      const M = dims[0];
      const per = wf.length / M;
      const wq = new Int8Array(wf.length);
      const scales = new Float32Array(perChannel ? M : 1);
      for (let c = 0; c < scales.length; c++) {
        const from = perChannel ? c * per : 0;
        const to = perChannel ? from + per : wf.length;
        let amax = 0;
        for (let k = from; k < to; k++) amax = Math.max(amax, Math.abs(wf[k]));
        const s = amax > 0 ? amax / 127 : 1;
        scales[c] = s;
        for (let k = from; k < to; k++) wq[k] = Math.max(-127, Math.min(127, Math.round(wf[k] / s)));
      }
      const wBase = `${name}__w`;
      inits.push(makeTensor(`${wBase}_q`, DT.INT8, dims, wq));
      inits.push(makeTensor(`${wBase}_scale`, DT.FLOAT, perChannel ? [M] : [], scales));
      inits.push(makeTensor(`${wBase}_zp`, DT.INT8, perChannel ? [M] : [], new Int8Array(scales.length)));
      nodes.push(makeNode('DequantizeLinear', [`${wBase}_q`, `${wBase}_scale`, `${wBase}_zp`], [`${wBase}_dq`], `${wBase}_DQ`, perChannel ? { axis: 0 } : {}));
      const inputs = [n.input[0], `${wBase}_dq`];
      if (n.input[2]) {
        const b = floatsOf(idx.constant(n.input[2]) as TensorProto);
        const bq = new Int32Array(M);
        const bs = new Float32Array(M);
        for (let c = 0; c < M; c++) {
          bs[c] = xp.scale * scales[perChannel ? c : 0];
          bq[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(b[c] / bs[c])));
        }
        const bBase = `${name}__b`;
        inits.push(makeTensor(`${bBase}_q`, DT.INT32, [M], bq));
        inits.push(makeTensor(`${bBase}_scale`, DT.FLOAT, [M], bs));
        inits.push(makeTensor(`${bBase}_zp`, DT.INT32, [M], new Int32Array(M)));
        nodes.push(makeNode('DequantizeLinear', [`${bBase}_q`, `${bBase}_scale`, `${bBase}_zp`], [`${bBase}_dq`], `${bBase}_DQ`, { axis: 0 }));
        inputs.push(`${bBase}_dq`);
      }
      n.input = inputs;
      if (attrInt(n, 'group', 1) < 1) throw new PerceptionError('MODEL_INVALID', `Conv '${name}' has group < 1`, { field: name });
    }
    const outs = n.output.filter((o) => toQuantize.has(o));
    n.output = n.output.map((o) => (toQuantize.has(o) ? `${o}__f` : o));
    nodes.push(n);
    for (const o of outs) qdq(o);
  });
  g.node = nodes;
  // Weights now live as int8 initializers; drop the float ones nothing reads any more.
  g.initializer.push(...inits);
  pruneInitializers(g);
  return { model: m, plan };
}
