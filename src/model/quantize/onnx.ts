/**
 * Reading, editing and writing ONNX models in TypeScript: the ModelProto schema of ONNX 1.12's
 * `onnx.proto` (Apache-2.0, generated to `onnx-proto.json` with protobufjs `Root.toJSON()`),
 * decoded and encoded by protobufjs. Only what the graph rewrites in this folder need: nodes,
 * initializers, attributes, value infos, tensor data as typed arrays.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { PerceptionError } from '../../core/errors.js';
import schema from './onnx-proto.json' with { type: 'json' };

const root = protobuf.Root.fromJSON(schema as protobuf.INamespace);
const ModelProtoT = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values used here. */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;

/** AttributeProto.AttributeType values used here. */
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

type Int64 = number | { toNumber(): number };
export const num = (v: Int64 | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

export interface TensorProto {
  name?: string;
  dims?: Int64[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Int64[];
  doubleData?: number[];
}

export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: Int64[];
}

export interface NodeProto {
  name?: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: AttributeProto[];
}

export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] } } };
}

export interface GraphProto {
  name?: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}

export interface ModelProto {
  irVersion?: Int64;
  opsetImport?: { domain?: string; version?: Int64 }[];
  producerName?: string;
  graph: GraphProto;
  metadataProps?: { key: string; value: string }[];
}

/** Parses ONNX bytes. Throws MODEL_INVALID naming the file when they are not a model. */
export function decodeModel(bytes: Uint8Array, file = '(bytes)'): ModelProto {
  let m: ModelProto;
  try {
    m = ModelProtoT.decode(bytes) as unknown as ModelProto;
  } catch (cause) {
    throw new PerceptionError('MODEL_INVALID', `${file} is not an ONNX model: ${(cause as Error).message}`, { file }, { cause });
  }
  if (!m.graph || !Array.isArray(m.graph.node)) throw new PerceptionError('MODEL_INVALID', `${file} is not an ONNX model: no graph`, { file });
  const g = m.graph;
  g.initializer ??= [];
  g.input ??= [];
  g.output ??= [];
  g.valueInfo ??= [];
  for (const n of g.node) {
    n.input ??= [];
    n.output ??= [];
    n.attribute ??= [];
  }
  return m;
}

export const readModel = (file: string): ModelProto => decodeModel(readFileSync(file), file);

export function encodeModel(m: ModelProto): Uint8Array {
  return ModelProtoT.encode(ModelProtoT.fromObject(m as unknown as Record<string, unknown>)).finish();
}

export function writeModel(m: ModelProto, file: string): Uint8Array {
  const bytes = encodeModel(m);
  writeFileSync(file, bytes);
  return bytes;
}

/** A deep copy (through the wire format), so that rewrites never touch the caller's model. */
export const cloneModel = (m: ModelProto): ModelProto => decodeModel(encodeModel(m));

export const dimsOf = (t: TensorProto): number[] => (t.dims ?? []).map(num);

/** A float32 tensor's values (raw_data or float_data), as a fresh array. */
export function floatsOf(t: TensorProto): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new PerceptionError('MODEL_INVALID', `tensor '${t.name}' has data type ${t.dataType}, expected float32 (1)`, { field: t.name });
  const n = dimsOf(t).reduce((a, b) => a * b, 1);
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== n * 4) throw new PerceptionError('MODEL_INVALID', `tensor '${t.name}' has ${t.rawData.length} bytes of raw data, expected ${n * 4}`, { field: t.name });
    const copy = new Uint8Array(t.rawData); // aligned copy
    return new Float32Array(copy.buffer, 0, n);
  }
  return Float32Array.from(t.floatData ?? []);
}

/** An int64 tensor's values as numbers (shape constants, axes). */
export function int64sOf(t: TensorProto): number[] {
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return Array.from(new BigInt64Array(copy.buffer, 0, copy.length / 8), Number);
  }
  return (t.int64Data ?? []).map(num);
}

type Typed = Float32Array | Int8Array | Uint8Array | Int32Array | Uint16Array | BigInt64Array;

/** A tensor with its values in raw_data (little-endian, as ONNX stores them). */
export function makeTensor(name: string, dataType: number, dims: readonly number[], data: Typed): TensorProto {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return { name, dataType, dims: [...dims], rawData: raw };
}

export function makeNode(opType: string, inputs: string[], outputs: string[], name: string, attrs: Record<string, number | number[] | string> = {}, domain?: string): NodeProto {
  const attribute: AttributeProto[] = Object.entries(attrs).map(([k, v]) => {
    if (typeof v === 'string') return { name: k, type: AT.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return { name: k, type: AT.INTS, ints: v };
    return Number.isInteger(v) ? { name: k, type: AT.INT, i: v } : { name: k, type: AT.FLOAT, f: v };
  });
  return { opType, input: inputs, output: outputs, name, attribute, ...(domain ? { domain } : {}) };
}

export function attr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}

export const attrInt = (n: NodeProto, name: string, dflt: number): number => {
  const a = attr(n, name);
  return a?.i !== undefined && a.i !== null ? num(a.i) : dflt;
};
export const attrInts = (n: NodeProto, name: string): number[] | undefined => attr(n, name)?.ints?.map(num);
export const attrString = (n: NodeProto, name: string): string | undefined => {
  const s = attr(n, name)?.s;
  return s ? new TextDecoder().decode(s) : undefined;
};

/** The opset version of the default ONNX domain. */
export function onnxOpset(m: ModelProto): number {
  const e = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return e ? num(e.version) : 0;
}

/** Drops initializers that no node reads (and that are not graph inputs). */
export function pruneInitializers(g: GraphProto): void {
  const used = new Set(g.node.flatMap((n) => n.input));
  const inputs = new Set(g.input.map((v) => v.name));
  g.initializer = g.initializer.filter((t) => used.has(t.name ?? '') || inputs.has(t.name ?? ''));
}

/** Producer and consumers of every tensor name, for graph rewrites. */
export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly graphInputs: Set<string>;
  readonly graphOutputs: Set<string>;

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer) this.initializers.set(t.name ?? '', t);
    for (const n of graph.node) {
      for (const o of n.output) this.producer.set(o, n);
      for (const i of n.input) {
        if (!i) continue;
        let list = this.consumers.get(i);
        if (!list) this.consumers.set(i, (list = []));
        if (!list.includes(n)) list.push(n);
      }
    }
    this.graphInputs = new Set(graph.input.map((v) => v.name));
    this.graphOutputs = new Set(graph.output.map((v) => v.name));
  }

  /** The constant value of a tensor: an initializer, or the `value` of a Constant node. */
  constant(name: string): TensorProto | undefined {
    const init = this.initializers.get(name);
    if (init) return init;
    const p = this.producer.get(name);
    if (p?.opType === 'Constant') return attr(p, 'value')?.t ?? undefined;
    return undefined;
  }

  /** Whether a tensor depends only on constants (no graph input upstream). */
  isConstant(name: string, seen = new Set<string>()): boolean {
    if (this.initializers.has(name)) return true;
    if (this.graphInputs.has(name)) return false;
    const p = this.producer.get(name);
    if (!p) return false;
    if (seen.has(name)) return true;
    seen.add(name);
    return p.input.every((i) => !i || this.isConstant(i, seen));
  }
}
