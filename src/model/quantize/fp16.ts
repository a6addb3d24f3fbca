/**
 * FP16 variant for GPU execution providers (CUDA, TensorRT): every node after the in-graph
 * preprocessing computes in float16; graph inputs and outputs stay as the contract has them
 * (uint8 image, int64 size, float32 tail weights in; float32 / uint8 outputs), with Casts at
 * the boundary. The preprocessing (every node the first Conv's input depends on) stays FP32.
 *
 * It cannot be faster on this CPU: ONNX Runtime's CPU provider has few float16 kernels and
 * runs the rest in float32 behind Casts it inserts itself (InsertCastTransformer). On CPU it
 * is only checked to load and to match FP32 within tolerance (quantize.test.ts, the
 * quantize command's report). Initializers are stored as float16: the file is about half size.
 */
import * as ort from 'onnxruntime-node';
import { PerceptionError } from '../../core/errors.js';
import { GraphIndex, DT, attrInt, cloneModel, encodeModel, floatsOf, makeNode, makeTensor, type AttributeProto, type ModelProto, type NodeProto } from './onnx.js';

/** Ops computed in float16 (others stay FP32 with Casts around them). */
const FP16_OPS = new Set([
  'Conv', 'Relu', 'Add', 'Sub', 'Mul', 'Div', 'Concat', 'Resize', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
  'Sigmoid', 'Exp', 'Clip', 'Slice', 'Transpose', 'Reshape', 'Squeeze', 'Unsqueeze', 'Split', 'Gather', 'ReduceMean',
  'ReduceSum', 'Softmax', 'LogSoftmax', 'ArgMax', 'Equal', 'Neg', 'Cast', 'Identity', 'Flatten', 'Tanh', 'LeakyRelu',
]);

/** Inputs that must stay float32 whatever the data type (Resize roi and scales). */
const FP32_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2] };

/** IEEE 754 binary16 bits of a float32 value (round to nearest even; overflow → ±inf). */
export function toHalf(v: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = v;
  const x = u[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0); // inf, nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = man | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * Element type of every tensor the graph computes, found by running it once in ONNX Runtime
 * with all of them fetched (ONNX has no type inference in JavaScript).
 */
export async function probeTypes(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Map<string, string>> {
  const m = cloneModel(model);
  const outs = new Set(m.graph.output.map((o) => o.name));
  const all = m.graph.node.flatMap((n) => n.output).filter((o) => o && !outs.has(o));
  for (const o of all) m.graph.output.push({ name: o });
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled' });
  try {
    const out = await s.run(feeds);
    const types = new Map<string, string>();
    for (const [k, t] of Object.entries(out)) types.set(k, t.type);
    for (const v of model.graph.input) if (feeds[v.name]) types.set(v.name, feeds[v.name].type);
    for (const t of model.graph.initializer) types.set(t.name ?? '', t.dataType === DT.FLOAT ? 'float32' : 'other');
    return types;
  } finally {
    await s.release();
  }
}

export interface Fp16Report {
  readonly fp16Nodes: number;
  readonly fp32Nodes: number;
  readonly casts: number;
}

/** The float16 variant of `model` (a copy). `types` from `probeTypes`. */
export function toFloat16(model: ModelProto, types: ReadonlyMap<string, string>): { model: ModelProto; report: Fp16Report } {
  const m = cloneModel(model);
  const g = m.graph;
  const idx = new GraphIndex(g);
  const isFloat = (t: string) => types.get(t) === 'float32';

  // Preprocessing: everything the first Conv's data input depends on stays FP32.
  const pre = new Set<NodeProto>();
  const firstConv = g.node.find((n) => n.opType === 'Conv');
  if (!firstConv) throw new PerceptionError('MODEL_INVALID', 'no Conv in the graph: nothing to run in float16', { field: 'graph' });
  const stack = [firstConv.input[0]];
  while (stack.length > 0) {
    const p = idx.producer.get(stack.pop() as string);
    if (p && !pre.has(p)) {
      pre.add(p);
      stack.push(...p.input.filter(Boolean));
    }
  }
  const half = new Set(g.node.filter((n) => !pre.has(n) && n.opType !== 'Constant' && FP16_OPS.has(n.opType)));
  // A Cast node in the half region that produces float32 produces float16 instead.
  for (const n of half) {
    if (n.opType === 'Cast' && attrInt(n, 'to', 0) === DT.FLOAT) {
      (n.attribute as AttributeProto[]).find((a) => a.name === 'to')!.i = DT.FLOAT16;
    }
  }
  const wantsHalf = (n: NodeProto, k: number) => half.has(n) && !(FP32_INPUTS[n.opType] ?? []).includes(k);

  // Float initializers read only at half positions become float16 in place.
  const converted = new Set<string>();
  for (const t of g.initializer) {
    const name = t.name ?? '';
    if (t.dataType !== DT.FLOAT || idx.graphInputs.has(name)) continue;
    const uses = g.node.flatMap((n) => n.input.map((i, k) => (i === name ? wantsHalf(n, k) : null)).filter((x) => x !== null));
    if (uses.length > 0 && uses.every(Boolean)) {
      const f = floatsOf(t);
      const h = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) h[i] = toHalf(f[i]);
      Object.assign(t, makeTensor(name, DT.FLOAT16, (t.dims ?? []).map(Number), h), { floatData: [] });
      converted.add(name);
    }
  }
  // Home precision of each float tensor: its producer's (graph inputs, fp32 initializers: fp32).
  const homeHalf = (t: string) => converted.has(t) || (half.has(idx.producer.get(t) as NodeProto) && isFloat(t));
  const nodes: NodeProto[] = [];
  const castCache = new Map<string, string>();
  let casts = 0;
  const cast = (t: string, to: number): string => {
    const key = `${t}->${to}`;
    let out = castCache.get(key);
    if (!out) {
      out = `${t}__to${to === DT.FLOAT16 ? 'f16' : 'f32'}`;
      nodes.push(makeNode('Cast', [t], [out], `${out}_Cast`, { to }));
      castCache.set(key, out);
      casts++;
    }
    return out;
  };
  const outputs = new Set(g.output.map((o) => o.name));
  const renamedHalf = new Map<string, string>();
  for (const n of g.node) {
    n.input = n.input.map((i, k) => {
      if (!i || !(isFloat(i) || converted.has(i))) return i;
      const want = wantsHalf(n, k);
      const r = renamedHalf.get(i);
      if (r !== undefined) return want ? r : i;
      const have = homeHalf(i);
      if (want === have) return i;
      return cast(i, want ? DT.FLOAT16 : DT.FLOAT);
    });
    // A graph output computed in half: the node writes a renamed tensor, a Cast restores float32.
    const finals: string[] = [];
    if (half.has(n)) {
      n.output = n.output.map((o) => {
        if (outputs.has(o) && isFloat(o)) {
          finals.push(o);
          renamedHalf.set(o, `${o}__f16`);
          return `${o}__f16`;
        }
        return o;
      });
    }
    nodes.push(n);
    for (const o of finals) {
      nodes.push(makeNode('Cast', [`${o}__f16`], [o], `${o}__f16_Cast`, { to: DT.FLOAT }));
      casts++;
    }
  }
  g.node = nodes;
  // Value infos of intermediate tensors may now name the wrong type: drop them (ORT infers).
  g.valueInfo = [];
  return { model: m, report: { fp16Nodes: half.size, fp32Nodes: g.node.length - half.size - casts, casts } };
}
