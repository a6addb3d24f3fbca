import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { depthLoss, detLoss, jsLoss, segLoss, type LossAndGrad } from './losses.js';
import { mulberry32 } from './random.js';
import { initTf } from './tails-tf.js';

// The losses as TensorFlow.js ops (as the trainer wrote them before losses.ts): the reference
// the JavaScript values and gradients must match, through autodiff.
function detOps(raw: tf.Tensor2D, N: number, K: number, t: { heat: number[]; reg: number[]; mask: number[]; w: number[] }): tf.Scalar {
  const gt = tf.tensor2d(t.heat, [N, K]);
  const w = tf.tensor2d(t.w, [N, 1]);
  const m = tf.tensor2d(t.mask, [N, 1]);
  const reg = tf.tensor2d(t.reg, [N, 4]);
  const p = tf.clipByValue(tf.sigmoid(raw.slice([0, 0], [N, K])), 1e-4, 1 - 1e-4);
  const pos = tf.cast(tf.greaterEqual(gt, 0.999), 'float32');
  const npos = tf.maximum(tf.sum(pos), 1);
  const lpos = tf.mul(tf.mul(tf.neg(tf.log(p)), tf.square(tf.sub(1, p))), pos);
  const lneg = tf.mul(tf.mul(tf.mul(tf.mul(tf.neg(tf.log(tf.sub(1, p))), tf.square(p)), tf.pow(tf.sub(1, gt), 4)), tf.sub(1, pos)), w);
  const lHeat = tf.div(tf.add(tf.sum(lpos), tf.sum(lneg)), npos);
  const nm = tf.maximum(tf.sum(m), 1);
  const lOff = tf.div(tf.sum(tf.mul(tf.abs(tf.sub(tf.sigmoid(raw.slice([0, K], [N, 2])), reg.slice([0, 0], [N, 2]))), m)), nm);
  const lSize = tf.div(tf.sum(tf.mul(tf.abs(tf.sub(raw.slice([0, K + 2], [N, 2]), reg.slice([0, 2], [N, 2]))), m)), nm);
  return tf.add(lHeat, tf.add(lOff, tf.mul(0.5, lSize))) as tf.Scalar;
}

function segOps(raw: tf.Tensor2D, N: number, y: number[], classWeights: number[], diceWeight: number): tf.Scalar {
  const oh = tf.oneHot(tf.tensor1d(y, 'int32'), 3);
  const wy = tf.tensor1d(y.map((c) => classWeights[c]));
  const logp = tf.logSoftmax(raw);
  const nll = tf.neg(tf.sum(tf.mul(oh, logp), 1));
  let total = tf.div(tf.sum(tf.mul(nll, wy)), tf.sum(wy));
  if (diceWeight > 0) {
    const pl = tf.exp(logp.slice([0, 1], [N, 1]));
    const tl = oh.slice([0, 1], [N, 1]);
    const dice = tf.sub(1, tf.div(tf.add(tf.mul(2, tf.sum(tf.mul(pl, tl))), 1), tf.add(tf.add(tf.sum(pl), tf.sum(tl)), 1)));
    total = tf.add(total, tf.mul(diceWeight, dice));
  }
  return total as tf.Scalar;
}

function depthOps(raw: tf.Tensor2D, N: number, t: number[], minM: number, maxM: number): tf.Scalar {
  const ld = tf.add(Math.log(minM), tf.mul(tf.sigmoid(raw.reshape([N])), Math.log(maxM / minM)));
  return tf.mean(tf.abs(tf.sub(ld, tf.tensor1d(t)))) as tf.Scalar;
}

/** The reference's value and gradient, and ours through jsLoss (as the trainer calls it). */
function compare(values: Float32Array, shape: [number, number], reference: (raw: tf.Tensor2D) => tf.Scalar, ours: (v: Float32Array) => LossAndGrad): void {
  const raw = tf.tensor2d(values, shape);
  const want = tf.valueAndGrad((x: tf.Tensor) => reference(x as tf.Tensor2D))(raw);
  const got = tf.valueAndGrad((x: tf.Tensor) => tf.mul(jsLoss(x as tf.Tensor2D, ours), 1) as tf.Scalar)(raw);
  const [wv, gv] = [want.value.dataSync()[0], got.value.dataSync()[0]];
  expect(Math.abs(gv - wv)).toBeLessThan(1e-5 * Math.max(1, Math.abs(wv)));
  const [wg, gg] = [want.grad.dataSync(), got.grad.dataSync()];
  const scale = Math.max(...Array.from(wg, Math.abs));
  expect(scale).toBeGreaterThan(0);
  for (let i = 0; i < wg.length; i++) expect(Math.abs(gg[i] - wg[i]), `gradient ${i}: ${gg[i]} against ${wg[i]}`).toBeLessThan(1e-4 * scale);
  tf.dispose([raw, want.value, want.grad, got.value, got.grad]);
}

describe('losses in JavaScript', () => {
  beforeAll(async () => {
    await initTf();
  });

  it('det: focal heat, offsets and sizes equal the TensorFlow.js ops, value and gradient (positives, weighted negatives, clipped logits, box and non-box rows)', () => {
    const r = mulberry32(5);
    const [N, K] = [60, 4];
    const raw = Float32Array.from({ length: N * (K + 4) }, () => (r() - 0.5) * 8);
    raw[3] = 12; // sigmoid past the clip: no gradient through it
    raw[K + 4] = -12;
    const heat = Array.from({ length: N * K }, () => (r() < 0.1 ? 1 : r() < 0.5 ? r() * 0.9 : 0));
    const t = { heat, reg: Array.from({ length: N * 4 }, () => r() * 2 - 0.5), mask: Array.from({ length: N }, () => (r() < 0.3 ? 1 : 0)), w: Array.from({ length: N }, () => 0.5 + r() * 3) };
    compare(raw, [N, K + 4], (x) => detOps(x, N, K, t), (v) => detLoss(v, N, K, t));
    // A teacher's rows: no box rows (mask 0), no positive
    const none = { ...t, heat: heat.map(() => 0.2), mask: t.mask.map(() => 0) };
    const before = detLoss(raw, N, K, none);
    expect(Array.from(before.grad).filter((_, i) => i % (K + 4) >= K).every((g) => g === 0)).toBe(true);
    compare(raw, [N, K + 4], (x) => detOps(x, N, K, none), (v) => detLoss(v, N, K, none));
  });

  it('seg: class-weighted cross-entropy and lane Dice equal the TensorFlow.js ops, value and gradient', () => {
    const r = mulberry32(6);
    const N = 80;
    const raw = Float32Array.from({ length: N * 3 }, () => (r() - 0.5) * 6);
    const y = Array.from({ length: N }, () => Math.floor(r() * 3));
    for (const dice of [0, 0.5]) compare(raw, [N, 3], (x) => segOps(x, N, y, [1, 8, 1], dice), (v) => segLoss(v, N, 3, y, [1, 8, 1], dice));
  });

  it('depth: mean L1 in log depth equals the TensorFlow.js ops, value and gradient', () => {
    const r = mulberry32(7);
    const N = 50;
    const raw = Float32Array.from({ length: N }, () => (r() - 0.5) * 6);
    const t = Array.from({ length: N }, () => Math.log(1 + r() * 70));
    compare(raw, [N, 1], (x) => depthOps(x, N, t, 0.5, 80), (v) => depthLoss(v, N, t, 0.5, 80));
  });

  it('jsLoss leaks no tensor through an optimizer step', () => {
    const w = tf.variable(tf.randomNormal([6, 3]));
    const x = tf.randomNormal([10, 6]);
    const opt = tf.train.adam(1e-2);
    const y = Array.from({ length: 10 }, (_, i) => i % 3);
    const step = () => opt.minimize(() => jsLoss(tf.matMul(x, w) as tf.Tensor2D, (v) => segLoss(v, 10, 3, y, [1, 1, 1], 0)), true, [w])!;
    step().dispose();
    const start = tf.memory().numTensors;
    const first = step();
    const l0 = first.dataSync()[0];
    first.dispose();
    let last = NaN;
    for (let i = 0; i < 50; i++) {
      const c = step();
      last = c.dataSync()[0];
      c.dispose();
    }
    expect(last).toBeLessThan(l0); // it learns
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose([w, x]);
    opt.dispose();
  });
});
