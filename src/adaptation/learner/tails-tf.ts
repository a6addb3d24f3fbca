import * as tf from '@tensorflow/tfjs';
import { PerceptionError } from '../../core/errors.js';
import { HEADS, tailRowWidth, tailTensorSpecs, type HeadName, type Manifest, type TailSpec } from '../../model/manifest.js';
import type { TailTensor, TailWeights } from '../../model/package.js';
import { HALF_TABLE } from './store-codec.js';
import type { FeatureMap } from './store-types.js';

/**
 * The heads' trainable tails in TensorFlow.js, built from the manifest's `tails` spec (the one
 * definition shared with the exporter and ONNX Runtime). A 1×1 convolution over a `[C, H, W]`
 * map is a dense layer over `[pixels, C]` rows, so every layer is a matMul: this trains on the
 * wasm backend, which lacks Conv2DBackpropFilter, and is the cheapest form on any backend.
 *
 * Layout: ONNX weights are `[out, in, 1, 1]`; the tfjs kernels here are `[in, out]` (transposed).
 * A first layer with a k×k kernel (`[out, in, k, k]`) reads each pixel's neighbourhood as one
 * row of in·k·k values in the ONNX weight order (channel, then row, then column: `tailRows`), so
 * its tfjs kernel is `[in·k·k, out]`, the same transpose.
 */

export type LogFn = (line: string) => void;

let backendReady: Promise<string> | undefined;

/**
 * Picks the fastest available backend once per process: `tensorflow` if the user has
 * `@tensorflow/tfjs-node-gpu`, else `wasm`, else the pure-JS `cpu` (slow; logged).
 */
export function initTf(log: LogFn = () => {}): Promise<string> {
  backendReady ??= (async () => {
    const gpu = '@tensorflow/tfjs-node-gpu'; // a variable: the package is optional and not installed here
    try {
      await import(gpu);
      if (await tf.setBackend('tensorflow')) {
        log('tfjs: using tensorflow (tfjs-node-gpu)');
        return tf.getBackend();
      }
    } catch {
      // not installed: the usual case
    }
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        log('tfjs: using wasm');
        return tf.getBackend();
      }
    } catch (err) {
      log(`tfjs: wasm backend unavailable (${(err as Error).message}); falling back to cpu`);
    }
    await tf.setBackend('cpu');
    await tf.ready();
    log('tfjs: using cpu (pure JavaScript, slow)');
    return tf.getBackend();
  })();
  return backendReady;
}

interface HeadVars {
  readonly kernels: tf.Variable[];
  readonly biases: tf.Variable[];
  readonly acts: readonly ('relu' | 'linear')[];
}

/*
 * x·w for training, with gradients written as untransposed products: dw = transpose(x)·dy and
 * dx = dy·transpose(w). Autodiff's own gradient of matMul passes transposeA / transposeB, which
 * tfjs-wasm runs as plain loops instead of XNNPACK: the det tail's dw over a step's 1,200 rows
 * of 720 took 27.7 ms that way and 2.9 ms (+ 3.8 for the transpose) this way, most of a step
 * (docs/experiments/2026-12-07-tidy-walk.md). `rowsTimes` is for a first layer, whose x is
 * data: its dx is zeros (nothing upstream trains).
 */
type Times = (x: tf.Tensor, w: tf.Tensor) => tf.Tensor2D;
const rowsTimes = tf.customGrad((x, w, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor]);
  return { value: tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), gradFunc: (dy, [xs]) => [tf.zerosLike(xs), tf.matMul(tf.transpose(xs), dy)] };
}) as Times;
const hiddenTimes = tf.customGrad((x, w, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor, w as tf.Tensor]);
  return { value: tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), gradFunc: (dy, [xs, ws]) => [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy)] };
}) as Times;

/**
 * A tensor's values in a plain array, the tensor disposed. Read outside `tf.tidy`: a tidy
 * walks what its function returns looking for tensors, element by element for a typed
 * array — returning `dataSync()` from a tidy made a quarter of the learner's time that walk
 * (a seg map's 55 k values per scored frame; docs/experiments/2026-12-07-tidy-walk.md).
 */
function readOut(t: tf.Tensor): Float32Array {
  try {
    return (t.dataSync() as Float32Array).slice();
  } finally {
    t.dispose();
  }
}

export class TfTails {
  private readonly heads: Record<HeadName, HeadVars>;
  private disposed = false;

  private constructor(
    readonly spec: Readonly<Record<HeadName, TailSpec>>,
    weights: TailWeights,
  ) {
    const specs = tailTensorSpecs(spec);
    for (const s of specs) checkTensor(weights.get(s.name), s.name, s.shape);
    this.heads = {} as Record<HeadName, HeadVars>;
    for (const head of HEADS) {
      const kernels: tf.Variable[] = [];
      const biases: tf.Variable[] = [];
      let cin = tailRowWidth(spec[head]);
      spec[head].layers.forEach((layer, i) => {
        const w = weights.get(`${head}_w${i}`) as TailTensor;
        const b = weights.get(`${head}_b${i}`) as TailTensor;
        kernels.push(ownedVariable(tf.tensor2d(transpose(w.data, layer.out, cin), [cin, layer.out]), `${head}_w${i}_${uid}`));
        biases.push(ownedVariable(tf.tensor1d(b.data), `${head}_b${i}_${uid}`));
        uid++;
        cin = layer.out;
      });
      this.heads[head] = { kernels, biases, acts: spec[head].layers.map((l) => l.act) };
    }
  }

  /** Tails holding a copy of `weights` (checked against the spec). */
  static create(manifest: Pick<Manifest, 'tails'>, weights: TailWeights): TfTails {
    return new TfTails(manifest.tails, weights);
  }

  /** `[P, in·k·k]` feature rows (`tailRows`) → `[P, out]` raw head values. Call inside `tf.tidy` (or dispose the result). */
  apply(head: HeadName, x: tf.Tensor2D): tf.Tensor2D {
    this.check();
    const h = this.heads[head];
    let y = x;
    h.kernels.forEach((k, i) => {
      const z = tf.add(i === 0 ? rowsTimes(y, k) : hiddenTimes(y, k), h.biases[i]) as tf.Tensor2D;
      y = h.acts[i] === 'relu' ? tf.relu(z) : z;
    });
    return y;
  }

  /**
   * Runs a head on a whole feature map; returns raw values pixel-major `[H·W, out]` in a plain array.
   * A k×k first layer runs as a convolution (XNNPACK on wasm) rather than over `tailRows`: the
   * rows of a 48×96 map of 56 channels are 9 MB built in JavaScript, and the gate scores whole
   * maps of every held-out sample (docs/experiments/2026-12-06-per-head-gate.md).
   */
  applyMap(head: HeadName, f: FeatureMap): Float32Array {
    const spec = this.spec[head];
    const k = spec.layers[0]?.kernel ?? 1;
    if (k === 1) {
      const rows = tailRows(spec, f);
      return readOut(tf.tidy(() => this.apply(head, tf.tensor2d(rows, [f.height * f.width, tailRowWidth(spec)]))));
    }
    this.check();
    const { channels: C, height: H, width: W } = f;
    const h = this.heads[head];
    return readOut(
      tf.tidy(() => {
        const x = tf.transpose(tf.tensor3d(f.data, [C, H, W]), [1, 2, 0]).reshape([1, H, W, C]) as tf.Tensor4D;
        const out0 = spec.layers[0].out;
        // The tfjs kernel is [in·k·k, out] in (channel, row, column) order: as [k, k, in, out] for conv2d.
        const w0 = tf.transpose(h.kernels[0].reshape([C, k, k, out0]), [1, 2, 0, 3]) as tf.Tensor4D;
        const z = tf.add(tf.conv2d(x, w0, 1, 'same').reshape([H * W, out0]), h.biases[0]) as tf.Tensor2D;
        let y = h.acts[0] === 'relu' ? tf.relu(z) : z;
        for (let i = 1; i < h.kernels.length; i++) {
          const zi = tf.add(tf.matMul(y, h.kernels[i]), h.biases[i]) as tf.Tensor2D;
          y = h.acts[i] === 'relu' ? tf.relu(zi) : zi;
        }
        return y;
      }),
    );
  }

  variables(heads: readonly HeadName[] = HEADS): tf.Variable[] {
    return heads.flatMap((h) => [...this.heads[h].kernels, ...this.heads[h].biases]);
  }

  /** Overwrites the variables with `weights` (same spec). */
  load(weights: TailWeights): void {
    this.check();
    const shapes = new Map(tailTensorSpecs(this.spec).map((t) => [t.name, t.shape]));
    for (const head of HEADS) {
      let cin = tailRowWidth(this.spec[head]);
      this.spec[head].layers.forEach((layer, i) => {
        const w = checkTensor(weights.get(`${head}_w${i}`), `${head}_w${i}`, shapes.get(`${head}_w${i}`)!);
        const b = checkTensor(weights.get(`${head}_b${i}`), `${head}_b${i}`, [layer.out]);
        tf.tidy(() => {
          this.heads[head].kernels[i].assign(tf.tensor2d(transpose(w.data, layer.out, cin), [cin, layer.out]));
          this.heads[head].biases[i].assign(tf.tensor1d(b.data));
        });
        cin = layer.out;
      });
    }
  }

  /** The current values as TailWeights in ONNX layout (fresh arrays). */
  export(): TailWeights {
    this.check();
    const out = new Map<string, TailTensor>();
    const shapes = new Map(tailTensorSpecs(this.spec).map((t) => [t.name, t.shape]));
    for (const head of HEADS) {
      let cin = tailRowWidth(this.spec[head]);
      this.spec[head].layers.forEach((layer, i) => {
        const k = this.heads[head].kernels[i].dataSync() as Float32Array; // [cin, out]
        out.set(`${head}_w${i}`, { shape: shapes.get(`${head}_w${i}`)!, data: transpose(k, cin, layer.out) });
        out.set(`${head}_b${i}`, { shape: [layer.out], data: Float32Array.from(this.heads[head].biases[i].dataSync()) });
        cin = layer.out;
      });
    }
    return out;
  }

  /** Frees every variable. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.variables()) v.dispose();
  }

  private check(): void {
    if (this.disposed) throw new PerceptionError('INVALID_ARGUMENT', 'TfTails used after dispose()', { field: 'tails' });
  }
}

let uid = 0;

// tf.variable shares the initial tensor's data but leaves that tensor alive: free it.
function ownedVariable(init: tf.Tensor, name: string): tf.Variable {
  const v = tf.variable(init, true, name);
  init.dispose();
  return v;
}

/** Row-major `[r, c]` → `[c, r]`. */
export function transpose(a: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

/**
 * A feature map kept as float16 bits: the trainer's cache of prepared samples holds these (half
 * the memory of a FeatureMap; the store keeps features as float16 by default, so nothing is lost).
 */
export interface HalfFeatureMap {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly half: Uint16Array;
}

/** `[C, H, W]` → `[P, C]` rows, for all pixels or the given pixel indices. */
export function featureRows(f: FeatureMap | HalfFeatureMap, pixels?: ArrayLike<number>): Float32Array {
  const plane = f.height * f.width;
  const C = f.channels;
  const n = pixels ? pixels.length : plane;
  const out = new Float32Array(n * C);
  // Float16 bits where the map has them (a HalfFeatureMap; a FeatureMap read with keepHalf): the same values.
  const bits = 'half' in f ? f.half : undefined;
  const [src, table] = bits ? [bits, HALF_TABLE] : [(f as FeatureMap).data, null];
  for (let c = 0; c < C; c++) {
    const base = c * plane;
    for (let p = 0; p < n; p++) {
      const v = src[base + (pixels ? pixels[p] : p)];
      out[p * C + c] = table ? table[v] : v;
    }
  }
  return out;
}

/**
 * A tail's input rows for a feature map: `featureRows` for a 1×1 first layer; for a k×k one,
 * each pixel's k×k neighbourhood (zeros outside the map, as the graph's padding), ordered
 * channel, row, column — the flattening of the ONNX weight `[out, in, k, k]`. `[P, in·k·k]`.
 */
export function tailRows(tail: TailSpec, f: FeatureMap | HalfFeatureMap, pixels?: ArrayLike<number>): Float32Array {
  const k = tail.layers[0]?.kernel ?? 1;
  if (k === 1) return featureRows(f, pixels);
  const n = pixels ? pixels.length : f.height * f.width;
  const out = new Float32Array(n * f.channels * k * k);
  gatherRows(k, f, pixels, out, 0);
  return out;
}

/** One sample's feature map and the pixels a training step reads from it. */
export interface RowPart {
  readonly f: FeatureMap | HalfFeatureMap;
  readonly pixels: ArrayLike<number>;
}

/**
 * The rows of several samples, one after another in one array (`[N, in·k·k]`, as `tailRows`
 * gives each): a training step's input, without a copy per sample.
 */
export function tailRowsBatch(tail: TailSpec, parts: readonly RowPart[]): { rows: Float32Array; n: number } {
  const k = tail.layers[0]?.kernel ?? 1;
  const width = tailRowWidth(tail);
  const n = parts.reduce((a, p) => a + p.pixels.length, 0);
  const rows = new Float32Array(n * width);
  let q = 0;
  for (const { f, pixels } of parts) {
    if (f.channels * k * k !== width) throw new PerceptionError('INVALID_ARGUMENT', `feature map has ${f.channels} channels, the tail reads ${width / (k * k)}`, { field: tail.feature });
    gatherRows(k, f, pixels, rows, q);
    q += pixels.length;
  }
  return { rows, n };
}

/*
 * Writes the rows of `pixels` (all pixels if absent) into `rows` from row `q0`. (Writing their
 * transpose in the same pass, for the first layer's dW, cost more than the wasm transpose it
 * spared: 5.4 ms against 2.1 + 1.1; docs/experiments/2026-12-07-gather-order.md.)
 */
function gatherRows(k: number, f: FeatureMap | HalfFeatureMap, pixels: ArrayLike<number> | undefined, rows: Float32Array, q0: number): void {
  const { height: H, width: W, channels: C } = f;
  const plane = H * W;
  const r = (k - 1) / 2;
  const n = pixels ? pixels.length : plane;
  const kk = k * k;
  const width = C * kk;
  const half = ('half' in f ? f.half : undefined) ?? null;
  const data = half ? null : (f as FeatureMap).data;
  // Each pixel's top-left neighbour, or -1 at the border (handled below, with bounds checks).
  const corner = new Int32Array(n);
  let borders = 0;
  for (let p = 0; p < n; p++) {
    const at = pixels ? pixels[p] : p;
    const y = Math.floor(at / W);
    const x = at - y * W;
    const inside = y >= r && y < H - r && x >= r && x < W - r;
    corner[p] = inside ? (y - r) * W + (x - r) : -1;
    if (!inside) borders++;
  }
  // Channel by channel, every pixel's k×k values from that channel's plane; with the pixels in
  // map order (the trainer sorts them) each plane is read front to back. A step's rows of all
  // three heads from real samples: 5.6 ms pixel by pixel in draw order, 2.6 ms this way
  // (docs/experiments/2026-12-07-gather-order.md). A float16 plane that most of is read is
  // decoded once into `buf`; from a few pixels' neighbourhoods (a training step reads ~300 of a
  // det map's 4,608 pixels), each value is decoded where it is read.
  const decode = half !== null && n * kk >= plane;
  const buf = decode ? new Float32Array(plane) : null;
  for (let c = 0; c < C; c++) {
    let base = c * plane;
    if (half && !decode && k === 3) {
      for (let p = 0; p < n; p++) {
        const at = corner[p];
        if (at < 0) continue;
        const o = (q0 + p) * width + c * 9;
        const i = base + at;
        rows[o] = HALF_TABLE[half[i]];
        rows[o + 1] = HALF_TABLE[half[i + 1]];
        rows[o + 2] = HALF_TABLE[half[i + 2]];
        rows[o + 3] = HALF_TABLE[half[i + W]];
        rows[o + 4] = HALF_TABLE[half[i + W + 1]];
        rows[o + 5] = HALF_TABLE[half[i + W + 2]];
        rows[o + 6] = HALF_TABLE[half[i + 2 * W]];
        rows[o + 7] = HALF_TABLE[half[i + 2 * W + 1]];
        rows[o + 8] = HALF_TABLE[half[i + 2 * W + 2]];
      }
      continue;
    }
    if (half && !decode) {
      for (let p = 0; p < n; p++) {
        if (corner[p] < 0) continue;
        let o = (q0 + p) * width + c * kk;
        for (let dy = 0, row = base + corner[p]; dy < k; dy++, row += W) {
          for (let dx = 0; dx < k; dx++) rows[o++] = HALF_TABLE[half[row + dx]];
        }
      }
      continue;
    }
    let src = data!;
    if (half) {
      for (let i = 0; i < plane; i++) buf![i] = HALF_TABLE[half[base + i]];
      [src, base] = [buf!, 0];
    }
    if (k === 3) {
      // The heads' 3×3 first layers, unrolled: the generic loop below is ~3× slower here.
      const [w1, w2] = [W, 2 * W];
      for (let p = 0; p < n; p++) {
        const at = corner[p];
        if (at < 0) continue;
        const o = (q0 + p) * width + c * 9;
        const i = base + at;
        rows[o] = src[i];
        rows[o + 1] = src[i + 1];
        rows[o + 2] = src[i + 2];
        rows[o + 3] = src[i + w1];
        rows[o + 4] = src[i + w1 + 1];
        rows[o + 5] = src[i + w1 + 2];
        rows[o + 6] = src[i + w2];
        rows[o + 7] = src[i + w2 + 1];
        rows[o + 8] = src[i + w2 + 2];
      }
      continue;
    }
    for (let p = 0; p < n; p++) {
      if (corner[p] < 0) continue;
      let o = (q0 + p) * width + c * kk;
      for (let dy = 0, row = base + corner[p]; dy < k; dy++, row += W) {
        for (let dx = 0; dx < k; dx++) rows[o++] = src[row + dx];
      }
    }
  }
  for (let p = 0; borders > 0 && p < n; p++) {
    if (corner[p] >= 0) continue;
    borders--;
    const at = pixels ? pixels[p] : p;
    const y = Math.floor(at / W);
    const x = at - y * W;
    let o = (q0 + p) * width;
    for (let c = 0; c < C; c++) {
      const base = c * plane;
      for (let dy = -r; dy <= r; dy++) {
        const yy = y + dy;
        for (let dx = -r; dx <= r; dx++, o++) {
          const xx = x + dx;
          if (yy >= 0 && yy < H && xx >= 0 && xx < W) {
            const i = base + yy * W + xx;
            rows[o] = half ? HALF_TABLE[half[i]] : data![i];
          }
        }
      }
    }
  }
}

function checkTensor(t: TailTensor | undefined, name: string, shape: readonly number[]): TailTensor {
  if (!t) throw new PerceptionError('INVALID_ARGUMENT', `tail weights lack '${name}'`, { field: name });
  if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
    throw new PerceptionError('INVALID_ARGUMENT', `tail weight '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { field: name });
  }
  return t;
}
