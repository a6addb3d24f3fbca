import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TailWeights } from '../../model/package.js';
import { poolFeatures, routerScore } from '../../engine/router.js';
import { routerOf, type GateDecision } from './gate.js';
import { LearnerCore, MAX_GATE_BACKOFF } from './learner-core.js';
import type { Pacer } from './paced.js';
import { SampleStore } from './store.js';
import type { Domain, FlaggedSample } from './store-types.js';
import { initTf } from './tails-tf.js';
import { SYN_MANIFEST, synSample, synWeights } from '../../../test/support/trainer.js';

beforeAll(() => initTf());
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ap-learner-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function flagged(domain: Domain, seed: number) {
  const s = synSample(domain, seed);
  const sample: FlaggedSample = {
    camera: domain === 'new' ? 'front' : 'ref',
    stampNs: BigInt(seed) * 100_000_000n,
    domain,
    reasons: ['drift'],
    scores: { drift: 3 },
    inputSize: s.inputSize,
    cameraSize: s.cameraSize,
    features: s.features,
  };
  return { sample, labels: s.labels };
}

function setup(opts: { minNewLabeled?: number; stepsPerCandidate?: number; route?: boolean; minRouterSamples?: number; pacer?: Pacer; gate?: { margin?: number; tolerance?: number } } = {}) {
  let now = 0;
  const published: { tails: TailWeights; meta: GateDecision }[] = [];
  const logs: string[] = [];
  const store = SampleStore.open(join(dir, 'l.db'), { valFraction: 0.3 });
  const core = new LearnerCore(SYN_MANIFEST, synWeights(), store, {
    clock: () => now,
    publishCandidate: (tails, meta) => void published.push({ tails, meta }),
    log: (l) => void logs.push(l),
    ...(opts.pacer ? { pacer: opts.pacer } : {}),
  }, { minNewLabeled: opts.minNewLabeled ?? 8, stepsPerCandidate: opts.stepsPerCandidate ?? 200, trainer: { lr: 1e-2, pixelsPerSample: 256, oldRatio: 0.4 }, gate: opts.gate ?? { margin: 0.05 }, route: opts.route, minRouterSamples: opts.minRouterSamples ?? 8 });
  return { core, store, published, logs, tick: (ms: number) => (now += ms) };
}

describe('LearnerCore', () => {
  it('runs its gate in pieces through the pacer: held there, it decides nothing and the store keeps working', async () => {
    let paces = 0;
    let open!: () => void;
    const held = new Promise<void>((r) => (open = r));
    let holding = true;
    const pacer: Pacer = { begin: () => undefined, pace: async () => { paces++; if (holding) await held; } };
    // One step before the gate: a 400 ms slice on a slow shared machine may not fit five.
    const { core, store, published } = setup({ stepsPerCandidate: 1, pacer });
    for (let i = 0; i < 16; i++) {
      const { sample, labels } = flagged('new', 1000 + i);
      core.onSample(sample, labels);
    }
    for (let i = 0; i < 12; i++) core.onSample(flagged('old', 2000 + i).sample, flagged('old', 2000 + i).labels);
    let settled = false;
    const slice = core.onSlack(400).then((r) => ((settled = true), r));
    for (let k = 0; k < 100 && paces === 0; k++) await new Promise((r) => setTimeout(r, 20));
    expect(paces).toBe(1); // trained, entered the gate, waits at its first piece
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    expect(published).toHaveLength(0);
    expect(core.decisions).toHaveLength(0);
    expect((await core.onSlack(400)).idle).toBe('busy'); // one slice at a time
    expect(core.onSample(flagged('new', 3000).sample).id).not.toBeNull();
    holding = false;
    open();
    const r = await slice;
    expect(r.decision?.version).toBe(1);
    expect(core.decisions).toHaveLength(1);
    // A piece per pooled sample, per gate sample read and per sample evaluated (four evaluations).
    const val = store.count({ domain: 'new', split: 'val', labeled: true }) + store.count({ domain: 'old', split: 'val', labeled: true });
    expect(paces).toBeGreaterThan(3 * val);
    core.dispose();
    store.close();
  });

  it('after each rejection the next candidate trains twice as long before its gate (up to MAX_GATE_BACKOFF times), after a promotion stepsPerCandidate again', async () => {
    const gapsOf = async (gate: { margin: number; tolerance?: number; consistency?: number }, gates: number) => {
      const { core, store, logs } = setup({ stepsPerCandidate: 2, gate });
      for (let i = 0; i < 12; i++) core.onSample(flagged('new', 1000 + i).sample, flagged('new', 1000 + i).labels);
      for (let i = 0; i < 8; i++) core.onSample(flagged('old', 2000 + i).sample, flagged('old', 2000 + i).labels);
      // A 1 ms slice runs exactly one step (the first always runs; no second fits).
      for (let k = 0; k < 100 && core.decisions.length < gates; k++) await core.onSlack(1);
      const gaps = logs.flatMap((l) => /after (\d+) steps/.exec(l)?.[1] ?? []).map(Number);
      const decisions = core.decisions.map((d) => d.decision);
      core.dispose();
      store.close();
      return { gaps, decisions };
    };
    const refused = await gapsOf({ margin: 10, consistency: 0 }, 5);
    expect(refused.decisions).toEqual(['reject', 'reject', 'reject', 'reject', 'reject']);
    expect(refused.gaps).toEqual([2, 4, 8, 8, 8].map((n) => Math.min(n, MAX_GATE_BACKOFF * 2)));
    const promoted = await gapsOf({ margin: 0, tolerance: 1 }, 3);
    expect(promoted.decisions[0]).toBe('promote');
    expect(promoted.gaps[1]).toBe(2);
  });

  it('BAD CALL: a label that does not fit is refused before it reaches the store, and later training is not affected', () => {
    const { core, store } = setup();
    const { sample, labels } = flagged('new', 1000);
    core.onSample(sample);
    const bad = { camera: sample.camera, stampNs: sample.stampNs, labels: { lane: { width: 2, height: 1, data: Uint8Array.of(1, 4) } } };
    expect(() => core.onLabel(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/lane mask value 4/) }));
    expect(core.status()).toMatchObject({ labeledNew: 0 });
    expect(core.onLabel({ camera: sample.camera, stampNs: sample.stampNs, labels })).toBe(true);
    expect(core.status()).toMatchObject({ labeledNew: 1 });
    core.dispose();
    store.close();
  });

  it('BAD CALL: a sample whose features do not fit the tails is refused by name and not stored', () => {
    const { core, store } = setup();
    const { sample } = flagged('new', 1000);
    const det = sample.features.det;
    const narrow = { ...sample, features: { ...sample.features, det: { ...det, channels: det.channels - 1, data: det.data.subarray(0, (det.channels - 1) * det.height * det.width) } } };
    expect(() => core.onSample(narrow)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/det features have \d+ channels, the det tail takes \d+/) }));
    expect(core.status()).toMatchObject({ samples: 0 });
    expect(core.onSample(sample).id).not.toBeNull();
    core.dispose();
    store.close();
  });

  it('BAD CONFIG: a store written for another package (other feature widths) is refused at start, untouched', () => {
    const store = SampleStore.open(join(dir, 'other.db'), { valFraction: 0.3 });
    const { sample } = flagged('new', 1000);
    const det = sample.features.det;
    store.insert({ ...sample, features: { ...sample.features, det: { ...det, channels: det.channels - 1, data: det.data.subarray(0, (det.channels - 1) * det.height * det.width) } } });
    const ports = { clock: () => 0, publishCandidate: () => undefined, log: () => undefined };
    expect(() => new LearnerCore(SYN_MANIFEST, synWeights(), store, ports)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/sample store holds det features of \d+ channels.*another model package/) }));
    expect(store.count()).toBe(1);
    store.close();
  });

  it('BAD CALL: rejects stepsPerCandidate 0', () => {
    expect(() => setup({ stepsPerCandidate: 0 })).toThrow(/stepsPerCandidate/);
  });

  it('stores samples, matches early and late labels, trains in slack, gates and publishes a promotion', async () => {
    const { core, store, published, logs, tick } = setup();
    expect((await core.onSlack(1000)).idle).toBe('too-few-labels');
    for (let i = 0; i < 24; i++) {
      const { sample, labels } = flagged('new', 1000 + i);
      const ev = { camera: sample.camera, stampNs: sample.stampNs, labels };
      if (i % 2) core.onLabel(ev); // label before its sample
      core.onSample(sample);
      if (!(i % 2)) expect(core.onLabel(ev)).toBe(true); // label after
      tick(100);
    }
    for (let i = 0; i < 12; i++) {
      const { sample, labels } = flagged('old', 2000 + i);
      core.onSample(sample, labels); // reference frames come labelled
    }
    expect(core.status()).toMatchObject({ labeledNew: 24, labeledOld: 12, version: 0 });
    let decision: GateDecision | null = null;
    for (let k = 0; k < 20 && !decision; k++) decision = (await core.onSlack(400)).decision;
    expect(decision).toMatchObject({ version: 1, decision: 'promote' });
    expect(published).toHaveLength(1);
    expect(published[0].meta.version).toBe(1);
    expect(core.currentTails).toBe(published[0].tails);
    expect(store.decisions()).toHaveLength(1);
    expect(logs.some((l) => /v1 promote/.test(l))).toBe(true);
    core.dispose();
    store.close();
  });

  it('keeps the last gate\'s held-out samples for the next gate: none read again unless its labels changed', async () => {
    const { core, store } = setup({ stepsPerCandidate: 20 });
    for (let i = 0; i < 20; i++) {
      const n = flagged('new', 6000 + i);
      core.onSample(n.sample, n.labels);
      const o = flagged('old', 7000 + i);
      core.onSample(o.sample, o.labels);
    }
    const val = new Set(store.list({ split: 'val' }).map((r) => r.id));
    expect(val.size).toBeGreaterThan(2);
    const reads: number[] = [];
    const get = store.get.bind(store);
    store.get = (id: number) => (val.has(id) && reads.push(id), get(id));
    const gate = async () => {
      reads.length = 0;
      let decision: GateDecision | null = null;
      for (let k = 0; k < 40 && !decision; k++) decision = (await core.onSlack(400)).decision;
      expect(decision).not.toBeNull();
      return [...reads];
    };
    expect(new Set(await gate())).toEqual(val); // the first gate reads every held-out sample
    expect(await gate()).toEqual([]); // the next one none
    // labels that change make that one frame stale
    const changed = store.get([...val][0]);
    const relabelled = synSample(changed.domain, 6999).labels;
    expect(core.onLabel({ camera: changed.camera, stampNs: changed.stampNs, labels: relabelled })).toBe(true);
    expect(await gate()).toEqual([changed.id]);
    core.dispose();
    store.close();
  });

  it.each([true, false])('candidates carry a domain router fitted on the stored samples (route: %s)', async (route) => {
    const { core, store, published } = setup({ route });
    for (let i = 0; i < 16; i++) {
      const n = flagged('new', 4000 + i);
      core.onSample(n.sample, n.labels);
      const o = flagged('old', 5000 + i);
      core.onSample(o.sample, o.labels);
    }
    let decision: GateDecision | null = null;
    for (let k = 0; k < 20 && !decision; k++) decision = (await core.onSlack(400)).decision;
    expect(decision).not.toBeNull();
    const candidate = published[0]?.tails ?? core.currentTails;
    if (decision?.decision !== 'promote') throw new Error(`expected a promotion, got ${decision?.reason}`);
    expect(candidate.has('router_w')).toBe(route);
    if (route) {
      const router = routerOf(candidate)!;
      // The router reads unseen frames of each domain right.
      const score = (d: 'new' | 'old', seed: number) => routerScore(router, poolFeatures(synSample(d, seed).features, SYN_MANIFEST.tails));
      const seeds = [9001, 9002, 9003, 9004];
      expect(seeds.every((s) => score('new', s) > 0)).toBe(true);
      expect(seeds.every((s) => score('old', s) < 0)).toBe(true);
    }
    core.dispose();
    store.close();
  });

  it('fits its router on features pooled as samples arrive: the gate reads back only its held-out frames and what training drew', async () => {
    const { core, store } = setup({ stepsPerCandidate: 1 });
    for (let i = 0; i < 16; i++) {
      core.onSample(flagged('new', 4000 + i).sample, flagged('new', 4000 + i).labels);
      core.onSample(flagged('old', 5000 + i).sample, flagged('old', 5000 + i).labels);
    }
    const read = new Set<number>();
    const get = store.get.bind(store);
    store.get = (id: number) => (read.add(id), get(id));
    // A 1 ms slice: one step of 4 samples, then the gate (its router fitted on every training sample).
    const r = await core.onSlack(1);
    expect(r.trained?.steps).toBe(1);
    expect(r.decision).not.toBeNull();
    const train = new Set(store.list({ split: 'train' }).map((x) => x.id));
    const trainRead = [...read].filter((id) => train.has(id));
    expect(train.size).toBeGreaterThan(8);
    expect(trainRead.length).toBeLessThanOrEqual(4);
    core.dispose();
    store.close();
  });

  it('refreshes the promoted tails\' router once twice the new-domain samples exist, tails unchanged, gated at margin 0', async () => {
    const { core, store, published } = setup({ stepsPerCandidate: 50 });
    const add = (from: number, n: number, labelled = true) => {
      for (let i = from; i < from + n; i++) {
        const s = flagged('new', 8000 + i);
        core.onSample(s.sample, labelled ? s.labels : undefined);
        if (!labelled) continue;
        const o = flagged('old', 9000 + i);
        core.onSample(o.sample, o.labels);
      }
    };
    add(0, 16);
    for (let k = 0; k < 20 && published.length === 0; k++) await core.onSlack(400);
    expect(published).toHaveLength(1);
    // Flagged frames whose labels have not come yet: the router fits on them (it needs no
    // labels) while training and the gate's held-out set stay as they were. Each time the
    // new-domain samples double, the next gate whose trained candidate misses the 0.05 margin
    // tries a refresh; a trained candidate that clears it ships a fresh router itself, so the
    // samples are doubled again.
    let refresh: GateDecision | undefined;
    let next = 16;
    const double = () => {
      const n = store.count({ domain: 'new', split: 'train' });
      while (store.count({ domain: 'new', split: 'train' }) < 2 * n) add(next++, 1, false);
    };
    double();
    for (let k = 0; k < 60 && !refresh; k++) {
      const d = (await core.onSlack(400)).decision;
      if (d?.decision !== 'promote') continue;
      if (/router refresh/.test(d.reason)) refresh = d;
      else double();
    }
    expect(refresh).toBeDefined();
    const last = published[published.length - 1];
    const first = published[published.length - 2].tails; // the promoted set it refreshes
    expect(last.meta).toBe(refresh);
    // Same tails, a new router.
    for (const [name, t] of first) {
      if (name.startsWith('router_')) continue;
      expect(Array.from(last.tails.get(name)!.data)).toEqual(Array.from(t.data));
    }
    expect(Array.from(last.tails.get('router_w')!.data)).not.toEqual(Array.from(first.get('router_w')!.data));
    // The candidate it stood in for was refused first; both decisions were stored.
    const stored = store.decisions();
    expect(stored[stored.length - 2]).toMatchObject({ version: refresh!.version, decision: 'reject' });
    expect(stored[stored.length - 1]).toMatchObject({ version: refresh!.version, decision: 'promote' });
    // No second refresh before the samples double again.
    for (let k = 0; k < 4; k++) expect((await core.onSlack(400)).decision?.reason ?? '').not.toMatch(/router refresh/);
    core.dispose();
    store.close();
  });

  it('with routing, holds the gate until enough new-domain samples exist to fit a router', async () => {
    const { core, store } = setup({ minRouterSamples: 30, stepsPerCandidate: 20 });
    const add = (i: number) => {
      const n = flagged('new', 6000 + i);
      core.onSample(n.sample, n.labels);
    };
    for (let i = 0; i < 12; i++) {
      add(i);
      const o = flagged('old', 7000 + i);
      core.onSample(o.sample, o.labels);
    }
    for (let k = 0; k < 5; k++) expect((await core.onSlack(200)).decision).toBeNull();
    expect(core.status().stepsSinceGate).toBeGreaterThan(20); // trained, not gated
    for (let i = 12; i < 60 && store.count({ domain: 'new', split: 'train' }) < 30; i++) add(i);
    let decision: GateDecision | null = null;
    for (let k = 0; k < 5 && !decision; k++) decision = (await core.onSlack(200)).decision;
    expect(decision).not.toBeNull();
    core.dispose();
    store.close();
  });

  it('stops training at once when paused', async () => {
    const { core, store } = setup({ minNewLabeled: 1 });
    for (let i = 0; i < 4; i++) {
      const { sample, labels } = flagged('new', 3000 + i);
      core.onSample(sample, labels);
    }
    expect(store.count({ domain: 'new', split: 'train', labeled: true })).toBeGreaterThanOrEqual(1);
    setTimeout(() => core.onPause(), 30);
    const t0 = performance.now();
    const r = await core.onSlack(20_000);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.trained?.stoppedBy).toBe('stop');
    expect(r.decision).toBeNull();
    core.dispose();
    store.close();
  });
});
