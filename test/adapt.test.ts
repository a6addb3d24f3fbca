import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adaptHooks } from '../src/replay/adapt.js';
import { parseManualFlag } from '../src/replay/manual-flags.js';
import type { AdaptationSummary } from '../src/replay/adapt.js';
import { writeSimBag } from '../src/sim/bag-writer.js';
import { SampleStore } from '../src/adaptation/learner/store.js';
import { replay } from '../src/replay/replay.js';

/**
 * The adaptation loop end to end, small: perception and a real learner process over a short
 * shifted-domain bag. The full scenario (three minutes, figures) is bench/adaptation.ts.
 */
const ROOT = resolve(import.meta.dirname, '..');
const MODEL = join(ROOT, 'models', 'default');
const BIN = join(ROOT, 'bin', 'adaptive-perception.js');
let dir: string;
let bag: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'adapt-'));
  bag = join(dir, 'newpaint.mcap');
  await writeSimBag({ out: bag, domain: 'newpaint', frames: 150, seed: 11, cameras: ['front'], width: 320, height: 180, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 2 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type AdaptSummary = AdaptationSummary & { metrics_before: { score: number | null }; metrics_after: { score: number | null } };

describe('replay --adapt', () => {
  it('flags, labels only flagged frames, trains in a separate process, gates, and never drops a frame for a swap', async () => {
    const lines: string[] = [];
    const hooks = await adaptHooks({
      modelDir: MODEL,
      workDir: join(dir, 'run1'),
      // Two drives that share their stamps (here: the same bag twice), 10 frames from each.
      referenceBag: [join(ROOT, 'bags', 'day_front.mcap'), join(ROOT, 'bags', 'day_front.mcap')],
      referenceFrames: 20,
      labelDelayMs: 500,
      maxLabels: 60,
      stepsPerCandidate: 20,
      minNewSamples: 6,
      // Seg and depth only: the widened det tail's full-map evaluation (a 3×3 layer over 56
      // channels) makes each gate several seconds longer on one core, and this bag is 15 s;
      // detection's online training is covered by the trainer's tests and the scenarios
      // (docs/experiments/2026-12-06-detection-tail.md).
      heads: ['seg', 'depth'],
      minRouterSamples: 6,
      // An operator's flags (replay --flag): one between two frames of the bag's camera, one for
      // a camera the bag does not have.
      manualFlags: [parseManualFlag('front@+3.05'), parseManualFlag('side@+1')],
      log: (l) => lines.push(l),
      // Normal scheduling: under SCHED_IDLE the learner gets no CPU while the suite's other
      // worker keeps the second core busy, and on a slow machine it reached no gate in the
      // bag's 15 s (what SCHED_IDLE is for is measured by the scenario, not asserted here). Nice
      // 10, not 0: at equal priority a busy learner once cost perception a frame in a swap
      // window on a loaded runner (the learner is meant to yield to perception).
      spawnLearner: (args) => spawn(process.execPath, [BIN, ...args, '--sched', 'normal', '--nice', '10'], { stdio: ['ignore', 'ignore', 'pipe'] }),
    });
    try {
      // Half the recorded rate: 30 s of wall time for the learner to collect six labels, train
      // and reach a gate while the suite's other files share the two cores (at the recorded rate
      // a loaded CI run once ended the 15 s bag with the learner still collecting).
      const s = await replay({ bag, modelDir: MODEL, outDir: join(dir, 'out1'), providers: ['cpu'], rate: 0.5, hooks });
      const a = (s as unknown as { adaptation: AdaptSummary }).adaptation;
      expect(s.processed + s.dropped).toBe(s.frames);
      expect(a.flags).toBeGreaterThan(0);
      expect(a.flags).toBeLessThanOrEqual(60);
      expect(a.manual_flags).toEqual({ requested: 2, flagged: 1, expired: 0, unmatched: 1, refused: 0 });
      expect(a.flags_by_reason.manual).toBe(1);
      expect(lines.some((l) => /of 2 manual flag\(s\), 1 found no frame/.test(l))).toBe(true);
      // Flagged frames' features were held in the inference worker and fetched, none lost.
      expect(lines.filter((l) => /flagged frame .* not sent|could not fetch the features/.test(l))).toEqual([]);
      expect(a.labels).toBeGreaterThan(0);
      expect(a.labels).toBeLessThanOrEqual(a.flags); // the annotator labels flagged frames only
      expect(a.frames_dropped_by_swap).toBe(0);
      expect(a.slack.grants).toBeGreaterThan(0);
      expect(lines.some((l) => /sent 20 old-domain reference frames/.test(l))).toBe(true);
      expect(a.versions.length, lines.filter((l) => /gate|learner/.test(l)).join('\n')).toBeGreaterThan(0);
      for (const v of a.versions) expect(['promote', 'reject']).toContain(v.decision);
      expect(a.swaps).toBe(a.versions.filter((v) => v.decision === 'promote').length - a.rejected);
      expect(typeof a.metrics_before.score).toBe('number');
      expect(typeof a.metrics_after.score).toBe('number');
    } finally {
      await hooks.close();
    }
    // Every reference frame reached the learner's store as its own labelled old-domain sample.
    const store = SampleStore.open(join(dir, 'run1', 'learner-state', 'samples.db'));
    try {
      expect(store.count({ domain: 'old', labeled: true })).toBe(20);
      expect(store.count({ domain: 'new' })).toBeGreaterThan(0); // flagged frames, features fetched from the worker
    } finally {
      store.close();
    }
  }, 180_000);

  it('label-free and both: the budget bounds the annotator only; the package teacher labels every flagged frame, lanes as its own', async () => {
    const lines: string[] = [];
    const hooks = await adaptHooks({
      modelDir: MODEL,
      workDir: join(dir, 'run-both'),
      referenceBag: join(ROOT, 'bags', 'day_front.mcap'),
      referenceFrames: 10,
      labelDelayMs: 500,
      maxLabels: 4,
      labels: 'both',
      heads: ['seg'],
      stepsPerCandidate: 1_000_000, // no gate: this test is about who labels what
      log: (l) => lines.push(l),
      spawnLearner: (args) => spawn(process.execPath, [BIN, ...args, '--sched', 'normal', '--nice', '10'], { stdio: ['ignore', 'ignore', 'pipe'] }),
    });
    let a: AdaptSummary;
    try {
      const s = await replay({ bag, modelDir: MODEL, outDir: join(dir, 'out-both'), providers: ['cpu'], rate: 1, hooks });
      a = (s as unknown as { adaptation: AdaptSummary }).adaptation;
    } finally {
      await hooks.close();
    }
    expect(lines.some((l) => /teacher: package real@.* labels seg/.test(l)), lines.join('\n')).toBe(true);
    expect(a.flags).toBeGreaterThan(4); // not capped by the annotator's budget
    const store = SampleStore.open(join(dir, 'run-both', 'learner-state', 'samples.db'));
    try {
      const fresh = store.list({ domain: 'new', labeled: true }).map((i) => store.get(i.id).labels);
      const byAnnotator = fresh.filter((l) => l.boxes !== undefined);
      const byTeacherOnly = fresh.filter((l) => l.boxes === undefined && l.laneSource === 'teacher');
      expect(byAnnotator.length).toBeGreaterThan(0);
      expect(byAnnotator.length).toBeLessThanOrEqual(4);
      for (const l of byAnnotator) expect(l.boxSource ?? 'annotator').toBe('annotator');
      expect(byTeacherOnly.length).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  }, 180_000);

  it('perception keeps running when the learner is killed mid-run', async () => {
    const lines: string[] = [];
    let child: ChildProcess | undefined;
    let killer: NodeJS.Timeout | undefined;
    const hooks = await adaptHooks({
      modelDir: MODEL,
      workDir: join(dir, 'run2'),
      referenceBag: join(ROOT, 'bags', 'day_front.mcap'),
      referenceFrames: 10,
      labelDelayMs: 500,
      maxLabels: 60,
      // Killed 2 s after it connected (mid-training): a fixed time from the start killed it,
      // on a slow machine, before it had connected at all.
      log: (l) => {
        lines.push(l);
        if (/adapt: learner connected/.test(l)) killer = setTimeout(() => child?.kill('SIGKILL'), 2000);
      },
      spawnLearner: (args) => {
        child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        return child;
      },
    });
    try {
      const s = await replay({ bag, modelDir: MODEL, outDir: join(dir, 'out2'), providers: ['cpu'], rate: 2, hooks });
      clearTimeout(killer);
      expect(child?.signalCode).toBe('SIGKILL');
      expect(s.processed + s.dropped).toBe(s.frames);
      expect(s.processed).toBeGreaterThan(s.frames / 2);
      expect(lines.some((l) => /learner exited \(SIGKILL\)/.test(l))).toBe(true);
    } finally {
      await hooks.close();
    }
  }, 180_000);
});
