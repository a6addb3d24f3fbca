import * as tf from '@tensorflow/tfjs';

/*
 * The heads' training losses and their gradients with respect to the tails' raw outputs, in plain
 * JavaScript. Written with TensorFlow.js ops, the det loss alone was ~25 small kernels forward
 * and as many backward over a [1,100 × 8] array: 5.0 ms a step against 4.4 ms for the det tail's
 * products themselves (wasm backend; each kernel call costs tens of µs whatever its size). Here
 * it is one pass over the values, and `jsLoss` hands TensorFlow.js the gradient, so the
 * optimizer and the tails' products are unchanged (docs/experiments/2026-12-07-gather-order.md).
 * The formulas are the ones the ops computed, gradients included (clip, abs and sigmoid as
 * TensorFlow.js differentiates them); losses.test.ts checks both against autodiff of the ops.
 */

/** A loss of a `[N, C]` array of raw values and its gradient (same layout). */
export interface LossAndGrad {
  readonly loss: number;
  readonly grad: Float32Array;
}

/** The det targets of a step's rows (see `detTargets`): `[N, K]` heat, `[N, 4]` offsets and log sizes, `[N]` box mask and negative weight. */
export interface DetRows {
  readonly heat: ArrayLike<number>;
  readonly reg: ArrayLike<number>;
  readonly mask: ArrayLike<number>;
  readonly w: ArrayLike<number>;
}

const CLIP = 1e-4;
// TensorFlow.js differentiates abs as step(x, -1): 1 where x > 0, else -1.
const absGrad = (x: number): number => (x > 0 ? 1 : -1);
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * CenterNet's penalty-reduced focal loss on the K class heat logits (positives where the target
 * is ≥ 0.999, negatives weighted by (1 − target)⁴ and the row's weight), over the number of
 * positives; plus L1 on the sigmoid offsets and, at half weight, on the log sizes of box rows
 * (mask 1), over the number of box rows. `raw` is `[N, K + 4]`.
 */
export function detLoss(raw: ArrayLike<number>, n: number, k: number, t: DetRows): LossAndGrad {
  const c = k + 4;
  const grad = new Float32Array(n * c);
  let npos = 0;
  let nm = 0;
  for (let i = 0; i < n; i++) {
    nm += t.mask[i];
    for (let j = 0; j < k; j++) if (t.heat[i * k + j] >= 0.999) npos++;
  }
  npos = Math.max(npos, 1);
  nm = Math.max(nm, 1);
  let heat = 0;
  let off = 0;
  let size = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const s = sigmoid(raw[i * c + j]);
      const clipped = s < CLIP || s > 1 - CLIP;
      const p = Math.min(Math.max(s, CLIP), 1 - CLIP);
      const g = t.heat[i * k + j];
      let dp: number;
      if (g >= 0.999) {
        heat += -Math.log(p) * (1 - p) ** 2;
        dp = -((1 - p) ** 2) / p + 2 * (1 - p) * Math.log(p);
      } else {
        const a = (1 - g) ** 4 * t.w[i];
        heat += -Math.log(1 - p) * p * p * a;
        dp = a * ((p * p) / (1 - p) - 2 * p * Math.log(1 - p));
      }
      grad[i * c + j] = clipped ? 0 : (dp * s * (1 - s)) / npos;
    }
    const m = t.mask[i];
    for (let j = 0; j < 2; j++) {
      const s = sigmoid(raw[i * c + k + j]);
      const d = s - t.reg[i * 4 + j];
      off += Math.abs(d) * m;
      grad[i * c + k + j] = (absGrad(d) * m * s * (1 - s)) / nm;
      const e = raw[i * c + k + 2 + j] - t.reg[i * 4 + 2 + j];
      size += Math.abs(e) * m;
      grad[i * c + k + 2 + j] = (0.5 * absGrad(e) * m) / nm;
    }
  }
  return { loss: heat / npos + off / nm + (0.5 * size) / nm, grad };
}

/**
 * Class-weighted cross-entropy of softmax over `[N, C]` logits (weights by each row's true
 * class, over their sum), plus `diceWeight` × soft Dice on class 1 (the lane) over the rows.
 */
export function segLoss(raw: ArrayLike<number>, n: number, classes: number, y: ArrayLike<number>, classWeights: readonly number[], diceWeight: number): LossAndGrad {
  const grad = new Float32Array(n * classes);
  const prob = new Float64Array(n * classes);
  let wsum = 0;
  for (let i = 0; i < n; i++) wsum += classWeights[y[i]];
  let nll = 0;
  let inter = 0;
  let plSum = 0;
  let tlSum = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < classes; j++) max = Math.max(max, raw[i * classes + j]);
    let z = 0;
    for (let j = 0; j < classes; j++) z += Math.exp(raw[i * classes + j] - max);
    for (let j = 0; j < classes; j++) prob[i * classes + j] = Math.exp(raw[i * classes + j] - max) / z;
    const wi = classWeights[y[i]] / wsum;
    nll += -(raw[i * classes + y[i]] - max - Math.log(z)) * wi;
    for (let j = 0; j < classes; j++) grad[i * classes + j] = (prob[i * classes + j] - (j === y[i] ? 1 : 0)) * wi;
    const tl = y[i] === 1 ? 1 : 0;
    inter += prob[i * classes + 1] * tl;
    plSum += prob[i * classes + 1];
    tlSum += tl;
  }
  let loss = nll;
  if (diceWeight > 0) {
    const a = 2 * inter + 1;
    const b = plSum + tlSum + 1;
    loss += diceWeight * (1 - a / b);
    for (let i = 0; i < n; i++) {
      const tl = y[i] === 1 ? 1 : 0;
      // d(1 − a/b)/d pl_i, then through the softmax: d pl_i / d raw_ij = pl_i (δ_j1 − p_ij).
      const dpl = diceWeight * (-(2 * tl * b - a) / (b * b));
      const pl = prob[i * classes + 1];
      for (let j = 0; j < classes; j++) grad[i * classes + j] += dpl * pl * ((j === 1 ? 1 : 0) - prob[i * classes + j]);
    }
  }
  return { loss, grad };
}

/** Mean L1 in log depth, the depth being minM · (maxM / minM)^sigmoid(raw), over `[N, 1]` raw values. */
export function depthLoss(raw: ArrayLike<number>, n: number, logDepth: ArrayLike<number>, minM: number, maxM: number): LossAndGrad {
  const grad = new Float32Array(n);
  const span = Math.log(maxM / minM);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const s = sigmoid(raw[i]);
    const d = Math.log(minM) + s * span - logDepth[i];
    sum += Math.abs(d);
    grad[i] = (absGrad(d) * s * (1 - s) * span) / n;
  }
  return { loss: sum / n, grad };
}

/**
 * A loss computed in JavaScript as a TensorFlow.js op: its value from `f` on the raw values, its
 * gradient `f`'s (times the incoming one). Call inside the function an optimizer minimizes.
 */
export function jsLoss(raw: tf.Tensor2D, f: (values: Float32Array) => LossAndGrad): tf.Scalar {
  const op = tf.customGrad((x, save) => {
    const { loss, grad } = f((x as tf.Tensor).dataSync() as Float32Array);
    const g = tf.tensor(grad, (x as tf.Tensor).shape);
    (save as tf.GradSaveFunc)([g]);
    return { value: tf.scalar(loss), gradFunc: (dy, [gs]) => tf.mul(dy, gs) };
  });
  return op(raw) as tf.Scalar;
}
