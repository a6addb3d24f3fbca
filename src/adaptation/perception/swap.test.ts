import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import type { Feeds, ModelRunner, RunnerTensor } from '../../engine/runner.js';
import { WeightSet } from '../../engine/weights.js';
import type { TailWeights } from '../../model/package.js';
import { encodeBundle } from '../protocol/bundle.js';
import { makeTails, resignBundle, smallManifest } from '../../../test/support/bundle-fixtures.js';
import { readDurable } from '../../core/durable.js';
import { generateSigningKeys } from '../protocol/keys.js';
import { SwapManager, type SwapManagerOptions, type SwapPort } from './swap.js';

const manifest = smallManifest();
const signer = generateSigningKeys();
const stranger = generateSigningKeys();
const shippedTails = makeTails(manifest, 1);
const tailsV = (v: number) => makeTails(manifest, 100 + v);
const bundle = (v: number, tails: TailWeights = tailsV(v), key = signer.privateKey) => encodeBundle({ model: 'tiny@1.0.0', version: v, parent: v - 1, created_s: v * 10 }, tails, key);

/** The narrow engine port, over real WeightSets. */
class FakePort implements SwapPort {
  currentWeights = WeightSet.fromTails(shippedTails, manifest, 'shipped');
  makeWeightSet(tails: TailWeights, id: string) {
    return WeightSet.fromTails(tails, manifest, id);
  }
  swapWeights(next: WeightSet) {
    const prev = this.currentWeights;
    this.currentWeights = next;
    return prev;
  }
}

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function setup(extra: Partial<SwapManagerOptions> = {}, stateDir?: string) {
  const dir = stateDir ?? (await mkdtemp(join(tmpdir(), 'ap-swap-')));
  if (!stateDir) dirs.push(dir);
  const log: string[] = [];
  const engine = extra.engine ?? new FakePort();
  let t = 0;
  const mgr = await SwapManager.open({ engine, manifest, stateDir: dir, publicKeys: [signer.publicKey], maxBundleBytes: 64 * 1024, now: () => ++t, log: (l) => log.push(l), health: { baselineFrames: 20, windowFrames: 10 }, ...extra });
  return { mgr, engine, dir, log };
}
const w0 = (s: WeightSet) => (s.tensors.get('det_w0')?.data as Float32Array)[0];

describe('SwapManager', () => {
  it('swaps in a good bundle and persists it', async () => {
    const { mgr, engine, dir } = await setup();
    expect(await mgr.offer(bundle(1))).toEqual({ ok: true, version: 1 });
    expect(w0(engine.currentWeights)).toBe(tailsV(1).get('det_w0')?.data[0]);
    expect(engine.currentWeights.id).toBe('tiny@1.0.0#v1');
    expect(mgr.events.map((e) => e.kind)).toEqual(['restored', 'received', 'swapped']);
    expect(JSON.parse((await readDurable(join(dir, 'current'))).toString())).toEqual({ version: 1 });
    expect((await readdir(dir)).sort()).toEqual(['current', 'v000001.bundle']);
  });

  it('every rejection leaves the running weights untouched and names its reason', async () => {
    const probe = async (w: WeightSet) => ({ out: { data: Float32Array.of(w0(w) === tailsV(9).get('det_w0')?.data[0] ? NaN : 1) } });
    const { mgr, engine, log } = await setup({ probe });
    await mgr.offer(bundle(2));
    const running = engine.currentWeights;
    const flipped = Buffer.from(bundle(3));
    flipped[flipped.length - 70] ^= 1;
    const cases: [Uint8Array, string][] = [
      [flipped, 'bad_signature'],
      [bundle(3, tailsV(3), stranger.privateKey), 'unknown_signer'],
      [resignBundle(bundle(3), (m) => ((m as { sha256: string }).sha256 = '0'.repeat(64)), signer.privateKey, false), 'bad_hash'],
      [resignBundle(bundle(3), (_m, p) => p.writeFloatLE(NaN, 12), signer.privateKey), 'non_finite'],
      [resignBundle(bundle(3), (_m, p) => p.writeFloatLE(Infinity, 40), signer.privateKey), 'non_finite'],
      [bundle(3).subarray(0, 200), 'truncated'],
      [new Uint8Array(70 * 1024), 'oversized'],
      [encodeBundle({ model: 'other@1.0.0', version: 3, parent: 2, created_s: 0 }, tailsV(3), signer.privateKey), 'wrong_model'],
      [bundle(3, makeTails({ ...manifest, tails: { ...manifest.tails, depth: { feature: 'depth_feat', in: 7, layers: [{ out: 1, act: 'linear' }] } } })), 'wrong_tensors'],
      [bundle(1), 'stale_version'],
      [bundle(2), 'stale_version'],
      [bundle(9), 'probe_failed'],
    ];
    for (const [bytes, reason] of cases) {
      const r = await mgr.offer(bytes);
      expect(r.ok === false && r.reason, `${reason}: ${JSON.stringify(r)}`).toBe(reason);
      expect(engine.currentWeights).toBe(running);
      expect(mgr.currentVersion).toBe(2);
    }
    const rejected = mgr.events.filter((e) => e.kind === 'rejected');
    expect(rejected.map((e) => e.kind === 'rejected' && e.reason)).toEqual(cases.map(([, r]) => r));
    expect(log.filter((l) => l.startsWith('swap: rejected'))).toHaveLength(cases.length);
    expect(log.find((l) => l.includes('(bad_signature)'))).toMatch(/still running v2/);
  });

  it('rolls back automatically on a confidence collapse, with its numbers, and persists that', async () => {
    const { mgr, engine, dir } = await setup();
    const shipped = engine.currentWeights;
    for (let i = 0; i < 30; i++) mgr.observe({ maxScore: 0.8, segEntropy: 0.5, flagged: i % 10 === 0 });
    await mgr.offer(bundle(1));
    let verdict;
    for (let i = 0; i < 10; i++) verdict = mgr.observe({ maxScore: 0.3, segEntropy: 0.5, flagged: false });
    expect(verdict?.kind).toBe('degraded');
    expect(engine.currentWeights).toBe(shipped); // synchronous: the very next frame runs the old set
    await mgr.idle();
    const rb = mgr.events.find((e) => e.kind === 'rolled_back');
    expect(rb).toMatchObject({ from: 1, to: 0, reason: expect.stringMatching(/^confidence_collapse: mean max score 0.8 → 0.3 \(−62.5%, limit 30%\)/) });
    expect(rb?.kind === 'rolled_back' && rb.numbers?.baseline.frames).toBe(20);
    expect(JSON.parse((await readDurable(join(dir, 'current'))).toString())).toEqual({ version: 0 });
    expect(await readdir(dir)).toContain('v000001.rolledback');
    expect((await setup({}, dir)).mgr.currentVersion).toBe(0); // a restart does not bring v1 back
  });

  it('rolls back on a flag-rate spike, and keeps healthy weights', async () => {
    const { mgr } = await setup();
    for (let i = 0; i < 20; i++) mgr.observe({ maxScore: 0.6, segEntropy: 0.5, flagged: false });
    await mgr.offer(bundle(1));
    for (let i = 0; i < 10; i++) mgr.observe({ maxScore: 0.62, segEntropy: 0.5, flagged: i === 0 });
    expect(mgr.currentVersion).toBe(1);
    expect(mgr.events.at(-1)).toMatchObject({ kind: 'healthy', version: 1 });
    for (let i = 0; i < 20; i++) mgr.observe({ maxScore: 0.6, segEntropy: 0.5, flagged: false });
    await mgr.offer(bundle(2));
    for (let i = 0; i < 10; i++) mgr.observe({ maxScore: 0.6, segEntropy: 0.5, flagged: i < 5 });
    expect(mgr.currentVersion).toBe(1);
    expect(mgr.events.at(-1)).toMatchObject({ kind: 'rolled_back', from: 2, to: 1, reason: expect.stringMatching(/^flag_rate_spike: flag rate 0 → 0.5 \(limit 0.15\)/) });
  });

  it('rolls back on command, and refuses when there is nothing to go back to', async () => {
    const { mgr, engine, log } = await setup();
    expect(await mgr.rollback('operator')).toBe(false);
    expect(log.at(-1)).toMatch(/refused: no previous weights/);
    await mgr.offer(bundle(1));
    const v1 = engine.currentWeights;
    await mgr.offer(bundle(2));
    expect(await mgr.rollback('operator asked')).toBe(true);
    expect(engine.currentWeights).toBe(v1);
    expect(mgr.currentVersion).toBe(1);
    expect(mgr.events.at(-1)).toMatchObject({ kind: 'rolled_back', from: 2, to: 1, reason: 'operator asked' });
  });

  it('a restart comes back on the latest promoted version', async () => {
    const { mgr, dir } = await setup();
    await mgr.offer(bundle(1));
    await mgr.offer(bundle(2));
    const again = await setup({}, dir);
    expect(again.mgr.currentVersion).toBe(2);
    expect(w0(again.engine.currentWeights)).toBe(tailsV(2).get('det_w0')?.data[0]);
    expect(again.mgr.events[0]).toMatchObject({ kind: 'restored', version: 2, skipped: [] });
    expect((await again.mgr.offer(bundle(2))).ok).toBe(false); // versions stay monotonic across restarts
    expect(await again.mgr.rollback('to shipped')).toBe(true);
  });

  it('perception killed mid-swap: a half-written file, then a corrupt latest, restore the last good version', async () => {
    const { mgr, dir } = await setup();
    await mgr.offer(bundle(1));
    await mgr.offer(bundle(2));
    // Killed while writing v3: only its temporary exists, the pointer still names v2.
    await writeFile(join(dir, 'v000003.bundle.tmp-4242-dead'), Buffer.from(bundle(3)).subarray(0, 100));
    const a = await setup({}, dir);
    expect(a.mgr.currentVersion).toBe(2);
    expect(a.log[0]).toMatch(/removed v000003.bundle.tmp-4242-dead, left by an interrupted write/);
    // The latest promoted file rots on disk.
    const f = join(dir, 'v000002.bundle');
    const bytes = await readFile(f);
    bytes[bytes.length - 5] ^= 0xff;
    await writeFile(f, bytes);
    const b = await setup({}, dir);
    expect(b.mgr.currentVersion).toBe(1);
    expect(w0(b.engine.currentWeights)).toBe(tailsV(1).get('det_w0')?.data[0]);
    expect(b.log.some((l) => /promoted v2 is unusable \(durable file is corrupt: sha256 mismatch/.test(l))).toBe(true);
    expect(b.mgr.events[0]).toMatchObject({ kind: 'restored', version: 1, skipped: [{ version: 2 }] });
    // A torn pointer: the newest good bundle wins.
    await writeFile(join(dir, 'current'), 'garbage');
    const c = await setup({}, dir);
    expect(c.mgr.currentVersion).toBe(1);
    expect(c.log.some((l) => /state pointer .* is unusable/.test(l))).toBe(true);
  });
});

describe('SwapManager with the engine', () => {
  it('a run started before a swap finishes on the old set; the next run uses the new one', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const runner: ModelRunner = {
      provider: 'cpu',
      inputNames: ['image', 'size', ...shippedTails.keys()],
      outputNames: ['seg_entropy'],
      async run(feeds: Feeds): Promise<Record<string, RunnerTensor>> {
        seen.push(String((feeds.det_w0.data as Float32Array)[0]));
        if (seen.length === 1) await gate;
        return { seg_entropy: { type: 'float32', dims: [1], data: new Float32Array(1) } };
      },
      async dispose() {},
    };
    const engine = Engine.fromRunner({ dir: '.', manifest, modelPath: 'x', tails: shippedTails }, runner, { outputs: ['seg_entropy'] });
    const { mgr } = await setup({ engine });
    const frame = { width: 8, height: 8, data: new Uint8Array(192) };
    const p1 = engine.infer([frame]);
    expect((await mgr.offer(bundle(1))).ok).toBe(true); // the swap does not wait for the run in flight
    const p2 = engine.infer([frame]);
    release();
    const [[o1], [o2]] = await Promise.all([p1, p2]);
    expect(o1.weights).toBe('tiny@1.0.0/shipped');
    expect(o2.weights).toBe('tiny@1.0.0#v1');
    expect(seen).toEqual([String(shippedTails.get('det_w0')?.data[0]), String(tailsV(1).get('det_w0')?.data[0])]);
    await engine.dispose();
  });
});
