import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { routerDim } from '../../model/manifest.js';
import { composeTails, detWinRate, Gate, scoreWinRate, type FrameRecord } from './gate.js';
import { SegmentationEvaluator } from '../../eval/segmentation.js';
import { initTf } from './tails-tf.js';
import { Trainer, vehicleKinds, type TrainSample } from './trainer.js';
import { arraySource, SYN_MANIFEST, synSample, synWeights } from '../../../test/support/trainer.js';

beforeAll(() => initTf());

const range = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
const newTrain = range(12, 100).map((s) => synSample('new', s));
const oldTrain = range(12, 200).map((s) => synSample('old', s));
const newVal = range(6, 300).map((s) => synSample('new', s));
const oldVal = range(6, 400).map((s) => synSample('old', s));

describe('Trainer', () => {
  it('BAD CALL: rejects an oldRatio above 1, naming the field', () => {
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource([], []), { oldRatio: 2 })).toThrow(/oldRatio/);
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource([], []), { segDiceWeight: -1 })).toThrow(/segDiceWeight/);
  });

  it('reports no-data when nothing is labelled', async () => {
    const t = new Trainer(SYN_MANIFEST, synWeights(), arraySource([], []));
    expect((await t.trainFor(1000)).stoppedBy).toBe('no-data');
    t.dispose();
  });

  it('starts no step that would end past its budget (the slack), by how long steps have taken', async () => {
    const clock = { t: 0 };
    class TenMsSteps extends Trainer {
      override step(): number | null {
        clock.t += 10;
        return 1;
      }
    }
    const t = new TenMsSteps(SYN_MANIFEST, synWeights(), arraySource(newTrain, oldTrain), { clock: () => clock.t });
    // 0-10, 10-20, 20-30; a fourth would end at 40 > 35.
    expect(await t.trainFor(35)).toMatchObject({ steps: 3, ms: 30, stoppedBy: 'budget' });
    // A budget shorter than one step still gets the first.
    expect(await t.trainFor(5)).toMatchObject({ steps: 1, ms: 10 });
    t.dispose();
  });

  it('fills the rest of a budget with a smaller step where a full one no longer fits, never below half a step', async () => {
    const clock = { t: 0 };
    const sizes: number[] = [];
    class CostBySize extends Trainer {
      override step(samples = 4): number | null {
        sizes.push(samples);
        clock.t += 2 + 2 * samples; // 10 ms a full step of 4
        return 1;
      }
    }
    const t = new CostBySize(SYN_MANIFEST, synWeights(), arraySource(newTrain, oldTrain), { clock: () => clock.t, samplesPerStep: 4 });
    // Three full steps end at 30; 8 ms left: 3 samples expected at 8.1 ms (a quarter fixed), 2 at 6.25.
    expect(await t.trainFor(38)).toMatchObject({ steps: 4, ms: 36, stoppedBy: 'budget' });
    expect(sizes).toEqual([4, 4, 4, 2]);
    // 5 ms left after three full steps: a 2-sample step takes 6 (measured now), a 1-sample one is never taken.
    sizes.length = 0;
    expect(await t.trainFor(35)).toMatchObject({ steps: 3, ms: 30 });
    expect(sizes).toEqual([4, 4, 4]);
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource(newTrain, oldTrain)).step(5)).toThrow(/samples must be an integer in 1\.\.4/);
    t.dispose();
  });

  it('draws depthPixelsPerSample depth pixels a frame, pixelsPerSample for the other heads', () => {
    const t = new Trainer(SYN_MANIFEST, synWeights(), arraySource(newTrain, []), { pixelsPerSample: 40, depthPixelsPerSample: 5, oldRatio: 0 });
    type Rows = { seg: { y: number[] }; dep: { t: number[] } };
    const inner = t as unknown as { gather: (batch: unknown) => Rows };
    const gather = inner.gather.bind(t);
    const seen: { seg: number; depth: number }[] = [];
    inner.gather = (batch) => {
      const r = gather(batch);
      seen.push({ seg: r.seg.y.length, depth: r.dep.t.length });
      return r;
    };
    t.step(2);
    t.dispose();
    expect(seen).toEqual([{ seg: 80, depth: 10 }]);
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource(newTrain, []), { depthPixelsPerSample: 0 })).toThrow(/depthPixelsPerSample must be an integer ≥ 1, got 0/);
  });

  it('keeps prepared samples within its memory budget: each read once when all fit, read again when none do', async () => {
    const counting = (budgetMb: number) => {
      const src = arraySource(newTrain, oldTrain);
      const reads = new Map<number, number>();
      const t = new Trainer(SYN_MANIFEST, synWeights(), { ...src, load: (id) => (reads.set(id, (reads.get(id) ?? 0) + 1), src.load(id)) }, { cacheMb: budgetMb, heads: ['seg', 'depth'] });
      return { t, reads };
    };
    const all = counting(512);
    await all.t.trainFor(60_000, () => all.t.steps >= 40);
    expect(all.reads.size).toBeGreaterThan(12); // 40 steps of 4 drew from most of the 24 samples
    expect(Math.max(...all.reads.values())).toBe(1);
    all.t.dispose();
    const none = counting(0);
    await none.t.trainFor(60_000, () => none.t.steps >= 40);
    // Only a sample drawn twice in a row is not read again.
    expect([...none.reads.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(40 * 4 * 0.8);
    expect(Math.max(...none.reads.values())).toBeGreaterThan(1);
    none.t.dispose();
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource([], []), { cacheMb: -1 })).toThrow(/cacheMb/);
  });

  it('reads a sample again once told its labels changed (its prepared targets are stale)', async () => {
    const src = arraySource(newTrain.slice(0, 1), []);
    const reads: number[] = [];
    const keyed = (id: number) => ({ ...src.load(id), camera: 'front', stampNs: BigInt(id) });
    const t = new Trainer(SYN_MANIFEST, synWeights(), { ...src, load: (id) => (reads.push(id), keyed(id)) }, { heads: ['seg', 'depth'] });
    await t.trainFor(60_000, () => t.steps >= 3);
    expect(reads).toHaveLength(1);
    const [id] = src.newIds();
    t.forget('front', BigInt(id) + 1n); // another frame: nothing to drop
    await t.trainFor(60_000, () => t.steps >= 6);
    expect(reads).toHaveLength(1);
    t.forget('front', BigInt(id));
    await t.trainFor(60_000, () => t.steps >= 9);
    expect(reads).toHaveLength(2);
    t.dispose();
  });

  it('BAD CALL: rejects an averageDecay outside [0, 1), naming the field', () => {
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource([], []), { averageDecay: 1 })).toThrow(/averageDecay/);
    expect(() => new Trainer(SYN_MANIFEST, synWeights(), arraySource([], []), { averageDecay: -0.1 })).toThrow(/averageDecay/);
  });

  it('exports the running average of the trained weights as its candidate (decay d: d·average + (1 − d)·weights after each step); no tensor leaks', async () => {
    const start = tf.memory().numTensors;
    const initial = synWeights();
    const d = 0.75;
    const avg = new Trainer(SYN_MANIFEST, initial, arraySource(newTrain, oldTrain), { lr: 1e-2, averageDecay: d });
    const raw = new Trainer(SYN_MANIFEST, initial, arraySource(newTrain, oldTrain), { lr: 1e-2 });
    // The same seed draws the same batches: the raw trainer's weights after each step are the averaged one's.
    let expected = new Map([...initial].map(([k, v]) => [k, Float32Array.from(v.data)]));
    for (let i = 0; i < 3; i++) {
      avg.step();
      raw.step();
      const w = raw.candidate();
      expected = new Map([...expected].map(([k, a]) => [k, a.map((x, j) => d * x + (1 - d) * w.get(k)!.data[j])]));
    }
    const got = avg.candidate();
    const w = raw.candidate();
    let moved = 0;
    for (const [k, a] of expected) {
      const g = got.get(k)!.data;
      for (let j = 0; j < a.length; j++) expect(g[j]).toBeCloseTo(a[j], 4);
      moved = Math.max(moved, ...a.map((x, j) => Math.abs(x - w.get(k)!.data[j])));
    }
    // The average is not the raw weights (training moved them), nor the initial ones.
    expect(moved).toBeGreaterThan(1e-3);
    expect([...got].some(([k, v]) => v.data.some((x, j) => Math.abs(x - initial.get(k)!.data[j]) > 1e-4))).toBe(true);
    // reset restarts both from the given weights
    avg.reset(initial);
    for (const [k, v] of avg.candidate()) expect(Array.from(v.data)).toEqual(Array.from(initial.get(k)!.data));
    avg.dispose();
    raw.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('stops at once when told to, between steps', async () => {
    const t = new Trainer(SYN_MANIFEST, synWeights(), arraySource(newTrain, oldTrain));
    let calls = 0;
    const r = await t.trainFor(60_000, () => ++calls > 3);
    expect(r).toMatchObject({ steps: 3, stoppedBy: 'stop' });
    t.dispose();
  });

  it('learns the new domain with the reservoir mixed in; the gate promotes it; no tensor leaks', async () => {
    const start = tf.memory().numTensors;
    const initial = synWeights();
    const t = new Trainer(SYN_MANIFEST, initial, arraySource(newTrain, oldTrain), { lr: 1e-2, oldRatio: 0.5, pixelsPerSample: 256 });
    const first = await t.trainFor(60_000, () => t.steps >= 10);
    const later = await t.trainFor(60_000, () => t.steps >= 250);
    expect(later.loss).toBeLessThan(first.loss * 0.6);
    const d = new Gate(SYN_MANIFEST, { margin: 0.05, tolerance: 0.02 }).decide(1, initial, t.candidate(), newVal, oldVal);
    expect(d.decision).toBe('promote');
    expect(d.val_new_after).toBeGreaterThan(d.val_new_before + 0.05);
    // every head learnt: det mAP, lane IoU and depth AbsRel all improve on held-out new frames
    expect(d.detail.new_after.mAP!).toBeGreaterThan(d.detail.new_before.mAP! + 0.3);
    expect(d.detail.new_after.laneIoU!).toBeGreaterThan(0.5);
    expect(d.detail.new_after.absRel!).toBeLessThan(d.detail.new_before.absRel! / 2);
    t.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('gate rejects a candidate that forgets the old domain', async () => {
    // current: trained on the old domain only; candidate: the same, then fine-tuned on new only
    const a = new Trainer(SYN_MANIFEST, synWeights(), arraySource(oldTrain, []), { lr: 1e-2, pixelsPerSample: 256 });
    await a.trainFor(60_000, () => a.steps >= 200);
    const current = a.candidate();
    a.dispose();
    const b = new Trainer(SYN_MANIFEST, current, arraySource(newTrain, []), { lr: 1e-2, pixelsPerSample: 256, oldRatio: 0 });
    await b.trainFor(60_000, () => b.steps >= 200);
    const d = new Gate(SYN_MANIFEST, { margin: 0.01, tolerance: 0.02 }).decide(2, current, b.candidate(), newVal, oldVal);
    b.dispose();
    expect(d.val_new_after).toBeGreaterThan(d.val_new_before);
    expect(d.val_old_after).toBeLessThan(d.val_old_before - 0.02);
    expect(d).toMatchObject({ version: 2, decision: 'reject' });
    expect(d.reason).toMatch(/old-domain drop/);
  });

  it('gate measures old-domain drop from the given baseline (cumulative regression)', async () => {
    const a = new Trainer(SYN_MANIFEST, synWeights(), arraySource(oldTrain, []), { lr: 1e-2, pixelsPerSample: 256 });
    await a.trainFor(60_000, () => a.steps >= 200);
    const shipped = a.candidate();
    a.dispose();
    const b = new Trainer(SYN_MANIFEST, shipped, arraySource(newTrain, []), { lr: 1e-2, pixelsPerSample: 256, oldRatio: 0 });
    await b.trainFor(60_000, () => b.steps >= 200);
    const drifted = b.candidate();
    b.dispose();
    const gate = new Gate(SYN_MANIFEST, { margin: 0, tolerance: 0.02 });
    // Against `current = drifted` alone, the same weights look harmless to the old domain…
    expect(gate.decide(3, drifted, drifted, newVal, oldVal).val_old_before).toBeCloseTo(gate.decide(3, drifted, drifted, newVal, oldVal).val_old_after, 6);
    // …against the shipped baseline they are a regression and are refused.
    const d = gate.decide(3, drifted, drifted, newVal, oldVal, shipped);
    expect(d.val_old_before - d.val_old_after).toBeGreaterThan(0.02);
    expect(d).toMatchObject({ decision: 'reject' });
  });
});

describe('Gate reusing its earlier scores (GateCache)', () => {
  const keyed = (xs: readonly TrainSample[], from: number) => xs.map((x, i) => ({ ...x, camera: 'front', stampNs: BigInt(from + i) }));
  const newK = keyed(newVal, 1000);
  const oldK = keyed(oldVal, 2000);

  it('decides as without reuse, scores each frame and tail once, and scores again what changed', () => {
    const shipped = synWeights(3);
    const first = synWeights(11);
    const second = synWeights(17);
    const fresh = new Gate(SYN_MANIFEST, { margin: 0, tolerance: 1 }); // samples without camera and stamp: nothing reused
    const gate = new Gate(SYN_MANIFEST, { margin: 0, tolerance: 1 });
    const a = gate.decide(1, shipped, first, newK, oldK, shipped);
    expect(a).toEqual(fresh.decide(1, shipped, first, newVal, oldVal, shipped));
    expect(fresh.cache.size).toBe(0);
    // first gate: at most the shipped tails and the candidate's on every head of every frame
    const heads = 3;
    const frames = newK.length + oldK.length;
    expect(gate.cache.misses).toBeGreaterThanOrEqual(frames * heads);
    expect(gate.cache.misses).toBeLessThanOrEqual(2 * frames * heads);
    // the same gate again: nothing scored anew
    gate.cache.hits = gate.cache.misses = 0;
    expect(gate.decide(1, shipped, first, newK, oldK, shipped)).toEqual(a);
    expect(gate.cache.misses).toBe(0);
    gate.cache.hits = gate.cache.misses = 0;
    // `first` promoted, `second` the next candidate: the serving tails' scores on the new frames and
    // the shipped tails' on the old ones are the last gate's; only `second` is scored.
    const b = gate.decide(2, first, second, newK, oldK, shipped);
    expect(b).toEqual(fresh.decide(2, first, second, newVal, oldVal, shipped));
    expect(gate.cache.hits).toBeGreaterThanOrEqual(frames * heads);
    expect(gate.cache.misses).toBeLessThanOrEqual(frames * heads);
    // a frame whose labels changed is scored again
    const before = gate.cache.size;
    gate.cache.forget('front', 1000n);
    expect(gate.cache.size).toBe(before - 2 * heads);
  });
});

describe('Gate with a routed candidate', () => {
  const withRouter = (w: ReturnType<typeof synWeights>, b: number) => {
    const n = routerDim(SYN_MANIFEST.tails);
    return new Map([...w, ['router_w', { shape: [n], data: new Float32Array(n) }], ['router_b', { shape: [1], data: Float32Array.of(b) }]]);
  };

  it('scores each sample on the tails the router picks: the candidate where it reads new, the baseline elsewhere', () => {
    const initial = synWeights(3);
    const other = synWeights(11); // different tails: they score differently from the shipped ones
    const gate = new Gate(SYN_MANIFEST, { margin: 0, tolerance: 1 });
    const plain = gate.decide(1, initial, other, newVal, oldVal);
    expect(plain.val_old_after).not.toBeCloseTo(plain.val_old_before, 6);
    // A router that never reads "new": every sample runs on the baseline, whatever the tails.
    const never = gate.decide(1, initial, withRouter(other, -1), newVal, oldVal);
    expect(never.val_new_after).toBe(never.val_new_before);
    expect(never.val_old_after).toBe(never.val_old_before);
    // One that always does: exactly the plain candidate's scores.
    const always = gate.decide(1, initial, withRouter(other, 1), newVal, oldVal);
    expect(always.val_new_after).toBe(plain.val_new_after);
    expect(always.val_old_after).toBe(plain.val_old_after);
  });
});

describe('Gate, head by head', () => {
  let trained: ReturnType<typeof synWeights>;
  const initial = synWeights();
  beforeAll(async () => {
    const t = new Trainer(SYN_MANIFEST, initial, arraySource(newTrain, oldTrain), { lr: 1e-2, oldRatio: 0.5, pixelsPerSample: 256 });
    await t.trainFor(60_000, () => t.steps >= 250);
    trained = t.candidate();
    t.dispose();
  });

  it('keeps the serving tail of a head the candidate made worse, and promotes the rest', () => {
    // serving: shipped det and depth, the trained seg; candidate: trained det and depth, the shipped seg.
    const serving = composeTails(initial, trained, ['seg']);
    const candidate = composeTails(trained, initial, ['seg']);
    const d = new Gate(SYN_MANIFEST, { margin: 0.01, tolerance: 0.02 }).decide(1, serving, candidate, newVal, oldVal);
    expect(d.reverted).toEqual(['seg']);
    expect(d.detail.candidate_new_after!.laneIoU!).toBeLessThan(d.detail.new_before.laneIoU!);
    // The decided set is scored with the serving seg tail: lane IoU as before, det and depth as trained.
    expect(d.detail.new_after.laneIoU).toBe(d.detail.new_before.laneIoU);
    expect(d.detail.new_after.mAP).toBe(d.detail.candidate_new_after!.mAP);
    expect(d.detail.new_after.score).toBeGreaterThan(d.detail.candidate_new_after!.score);
    expect(d).toMatchObject({ decision: 'promote' });
    expect(d.reason).toMatch(/serving tail kept for seg \(candidate worse there: lane IoU/);
    // What the learner promotes: exactly the trained set.
    const promoted = composeTails(candidate, serving, d.reverted);
    for (const [name, t] of trained) expect([...promoted.get(name)!.data]).toEqual([...t.data]);
  });

  it('reverts nothing when every head is worse: the candidate is rejected as it is', () => {
    const d = new Gate(SYN_MANIFEST, { margin: 0.01, tolerance: 0.02 }).decide(2, trained, initial, newVal, oldVal);
    expect(d.reverted).toEqual([]);
    expect(d.detail.candidate_new_after).toBeUndefined();
    expect(d).toMatchObject({ decision: 'reject' });
    expect(d.reason).toMatch(/new-domain gain -/);
  });

  it('composeTails swaps only the named heads\' tensors; the candidate\'s router stays', () => {
    const n = routerDim(SYN_MANIFEST.tails);
    const cand = new Map([...trained, ['router_w', { shape: [n], data: new Float32Array(n).fill(2) }]]);
    const out = composeTails(cand, initial, ['det', 'depth']);
    for (const [name, t] of out) {
      const from = name.startsWith('det_') || name.startsWith('depth_') ? initial : cand;
      expect(t).toBe(from.get(name));
    }
    expect(out.size).toBe(cand.size);
    expect(composeTails(cand, initial, [])).toBe(cand);
  });
});

describe('Gate on a teacher\'s held-out boxes (label-free)', () => {
  const teacherVal = newVal.map((s) => ({ ...s, labels: { boxes: s.labels.boxes, boxSource: 'teacher' as const } }));
  const box = (x: number, score?: number) => ({ classIndex: 0, x0: x, y0: 0, x1: x + 10, y1: 10, ...(score === undefined ? {} : { score }) });

  it('detWinRate: how often the candidate\'s mAP is higher over resamples of the frames', () => {
    const frames = Array.from({ length: 20 }, (_, i) => ({ gts: [box(i)], ignore: [] }));
    const hit = frames.map((f) => ({ ...f, preds: [{ ...box(f.gts[0].x0), score: 0.9 }] }));
    const miss = frames.map((f) => ({ ...f, preds: [{ ...box(f.gts[0].x0 + 50), score: 0.9 }] }));
    expect(detWinRate(miss, hit, ['car'])).toBe(1);
    expect(detWinRate(hit, miss, ['car'])).toBe(0);
    expect(detWinRate(hit, hit, ['car'])).toBe(0); // equal is not better
    // better on one frame in twenty: wins only in the resamples that draw it
    const one = miss.map((f, i) => (i === 0 ? hit[0] : f));
    const r = detWinRate(miss, one, ['car'], 400);
    expect(r).toBeGreaterThan(0.5);
    expect(r).toBeLessThan(0.8); // 1 − (19/20)^20 ≈ 0.64
    expect(() => detWinRate(hit, hit.slice(1), ['car'])).toThrow(/19 after/);
  });

  it('a candidate no better on the teacher\'s boxes than the serving tails is refused, though it clears the margin; on an annotator\'s it is not', () => {
    const w = synWeights();
    // a det tail that differs from the serving one by a hair: the same boxes, the same mAP
    const b0 = w.get('det_b0')!;
    const nudged = new Map([...w, ['det_b0', { shape: b0.shape, data: b0.data.map((v) => v + 1e-7) }]]);
    const gate = new Gate(SYN_MANIFEST, { margin: 0, tolerance: 0.02 });
    const teacher = gate.decide(1, w, nudged, teacherVal, oldVal, w, 0);
    expect(teacher).toMatchObject({ decision: 'reject' });
    expect(teacher.reason).toMatch(/teacher's held-out boxes beats the serving tails in 0 % of resamples < 95 %/);
    expect(gate.decide(1, w, nudged, newVal, oldVal, w, 0)).toMatchObject({ decision: 'promote' });
    // the serving det tail itself (a router refresh) is not resampled: it only has to do no worse
    expect(gate.decide(1, w, w, teacherVal, oldVal, w, 0)).toMatchObject({ decision: 'promote' });
    expect(() => new Gate(SYN_MANIFEST, { teacherConfidence: 1.5 })).toThrow(/teacherConfidence/);
  });

  it('a candidate clearly better on the teacher\'s boxes passes, the share of resamples in its reason', async () => {
    const t = new Trainer(SYN_MANIFEST, synWeights(), arraySource(newTrain, oldTrain), { lr: 1e-2, oldRatio: 0.5, pixelsPerSample: 256 });
    await t.trainFor(60_000, () => t.steps >= 250);
    const d = new Gate(SYN_MANIFEST, { margin: 0.05, tolerance: 0.02 }).decide(1, synWeights(), t.candidate(), teacherVal, oldVal);
    t.dispose();
    expect(d).toMatchObject({ decision: 'promote' });
    expect(d.reason).toMatch(/det better on the teacher's boxes in (9[5-9]|100) % of resamples/);
    // the teacher labels boxes only: seg and depth cannot be judged on the new domain, their serving tails stay
    expect(d.reverted).toEqual(['seg', 'depth']);
    expect(d.reason).toMatch(/serving tail kept for seg, depth \(no new-domain labels to judge it\)/);
    expect(d.detail.new_before.detRecords).toBeUndefined(); // records are not part of the decision
  });
});

describe('Gate: a gain short of the margin that most resamples agree on', () => {
  /** A frame whose lane IoU is `hit` of 4 lane pixels (the rest predicted background). */
  const laneFrame = (hit: number): FrameRecord => {
    const seg = new SegmentationEvaluator();
    const target = Uint8Array.of(1, 1, 1, 1, 0, 0, 0, 0);
    seg.add(Uint8Array.from(target, (t, i) => (t === 1 && i < hit ? 1 : 0)), target);
    return { seg };
  };

  it('scoreWinRate: how often the score is higher over resamples of the frames', () => {
    const before = Array.from({ length: 20 }, () => laneFrame(2));
    const better = Array.from({ length: 20 }, () => laneFrame(3));
    expect(scoreWinRate(before, better, ['car'])).toBe(1);
    expect(scoreWinRate(better, before, ['car'])).toBe(0);
    expect(scoreWinRate(before, before, ['car'])).toBe(0); // equal is not better
    // better on one frame in twenty: only the resamples that draw it
    const one = before.map((f, i) => (i === 0 ? laneFrame(4) : f));
    const r = scoreWinRate(before, one, ['car'], 400);
    expect(r).toBeGreaterThan(0.5);
    expect(r).toBeLessThan(0.8); // 1 − (19/20)^20 ≈ 0.64
    expect(() => scoreWinRate(before, before.slice(1), ['car'])).toThrow(/19 after/);
  });

  it('promotes a candidate better on most held-out frames though its gain is below the margin; without the rule it is refused', async () => {
    const t = new Trainer(SYN_MANIFEST, synWeights(), arraySource(newTrain, oldTrain), { lr: 1e-2, oldRatio: 0.5, pixelsPerSample: 256 });
    await t.trainFor(60_000, () => t.steps >= 250);
    const cand = t.candidate();
    t.dispose();
    const gain = (d: { val_new_after: number; val_new_before: number }) => d.val_new_after - d.val_new_before;
    const open = new Gate(SYN_MANIFEST, { margin: 0, tolerance: 0.5 }).decide(1, synWeights(), cand, newVal, oldVal);
    expect(open).toMatchObject({ decision: 'promote' });
    expect(gain(open)).toBeGreaterThan(0);
    const margin = gain(open) + 0.01;
    const d = new Gate(SYN_MANIFEST, { margin, tolerance: 0.5 }).decide(1, synWeights(), cand, newVal, oldVal);
    expect(d).toMatchObject({ decision: 'promote' });
    expect(d.reason).toMatch(/< margin [\d.]+, better in (9\d|100) % of resamples of the held-out frames ≥ 90 %/);
    const strict = new Gate(SYN_MANIFEST, { margin, tolerance: 0.5, consistency: 0 }).decide(1, synWeights(), cand, newVal, oldVal);
    expect(strict).toMatchObject({ decision: 'reject' });
    expect(strict.reason).toMatch(/^new-domain gain [\d.]+ < margin [\d.]+($|;)/);
    expect(d.detail.new_after.frames).toBeUndefined(); // records are not part of the decision
    expect(() => new Gate(SYN_MANIFEST, { consistency: -0.1 })).toThrow(/consistency/);
  });
});

describe('vehicleKinds (a teacher\'s car or truck takes the kind the tail gives its centre)', () => {
  it('keeps the box, takes the kind from the heat at its centre cell, leaves other classes alone', () => {
    // classes car, truck, pedestrian; a 2×4 map at stride 4 of a 8×16 input, camera 32×64 (scale ¼)
    const K = 3;
    const C = K + 4;
    const raw = new Float32Array(2 * 4 * C);
    raw[(1 * 4 + 2) * C + 1] = 2; // cell (y 1, x 2): truck above car
    raw[(0 * 4 + 0) * C + 0] = 1; // cell (0, 0): car above truck
    const g = { K, height: 2, width: 4, stride: 4, inputSize: [8, 16] as const, cameraSize: { width: 64, height: 32 }, car: 0, truck: 1 };
    const car = { classIndex: 0, x0: 36, y0: 18, x1: 44, y1: 26 }; // centre (40, 22) → input (10, 5.5) → cell (2, 1)
    const truck = { classIndex: 1, x0: 0, y0: 0, x1: 8, y1: 8 }; // centre cell (0, 0)
    const ped = { classIndex: 2, x0: 36, y0: 18, x1: 44, y1: 26 };
    const out = vehicleKinds([car, truck, ped], raw, g);
    expect(out.map((b) => b.classIndex)).toEqual([1, 0, 2]);
    expect(out[0]).toMatchObject({ x0: 36, y0: 18, x1: 44, y1: 26 });
    expect(out[2]).toBe(ped);
  });
});

describe('Trainer on a teacher\'s boxes', () => {
  it('trains the heat from them but not the offsets and sizes (the last layer\'s box rows stay as they were)', async () => {
    const boxRows = (w: ReturnType<typeof synWeights>) => {
      const w1 = w.get('det_w1')!;
      const cin = w1.shape[1];
      const K = SYN_MANIFEST.classes.length;
      return { heat: Array.from(w1.data.slice(0, K * cin)), box: Array.from(w1.data.slice(K * cin)) };
    };
    const teacherOnly = newTrain.map((s) => ({ ...s, labels: { boxes: s.labels.boxes, boxSource: 'teacher' as const } }));
    const initial = synWeights();
    const t = new Trainer(SYN_MANIFEST, initial, arraySource(teacherOnly, []), { lr: 1e-2, heads: ['det'] });
    await t.trainFor(60_000, () => t.steps >= 20);
    const after = boxRows(t.candidate());
    t.dispose();
    expect(after.box).toEqual(boxRows(initial).box);
    expect(after.heat).not.toEqual(boxRows(initial).heat);
    const a = new Trainer(SYN_MANIFEST, initial, arraySource(newTrain, []), { lr: 1e-2, heads: ['det'] });
    await a.trainFor(60_000, () => a.steps >= 20);
    expect(boxRows(a.candidate()).box).not.toEqual(boxRows(initial).box); // an annotator's boxes train them
    a.dispose();
  });
});
