/**
 * Label-free feature-statistics alignment of the tails' inputs (AdaBN-style), measured: the
 * per-channel mean and std of det_feat / seg_feat / depth_feat on a shifted drive are mapped to
 * those on a training-domain drive by an affine folded into each tail's first layer, and the
 * shifted drive is scored with and without it (fit on even frames, scored on odd ones).
 *
 *   npx tsx bench/feature-align.ts NEW.mcap REF.mcap [DAY_SAME_DRIVE.mcap] [--frames N] [--mean-only]
 *
 * Result and decision: docs/experiments/2026-12-06-adaptation-domains.md ("Feature alignment").
 */
import { join, resolve } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { readLabelledFrames, type LabelledFrame } from '../src/compress/frames.js';
import { evaluateEngine, type Metrics } from '../src/compress/evaluate.js';
import { loadModelPackage, type TailTensor, type TailWeights } from '../src/model/package.js';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const nIdx = process.argv.indexOf('--frames');
const N = nIdx > 0 ? Number(process.argv[nIdx + 1]) : 60;
const mode = process.argv.includes('--mean-only') ? 'mean' : 'meanstd';
const engine = await Engine.create({ modelDir: join(ROOT, 'models', 'default'), providers: ['cpu'] });
const heads = ['det', 'seg', 'depth'] as const;
const featName = { det: 'det_feat', seg: 'seg_feat', depth: 'depth_feat' } as const;

async function stats(frames: readonly LabelledFrame[]) {
  const acc: Record<string, { s: Float64Array; q: Float64Array; n: number }> = {};
  for (const f of frames) {
    const [raw] = await engine.infer([f.image], { outputs: ['det_feat', 'seg_feat', 'depth_feat'] });
    for (const h of heads) {
      const t = raw.tensors[featName[h]] as unknown as { dims: number[]; data: Float32Array };
      const [c, hh, ww] = t.dims.slice(-3);
      const a = (acc[h] ??= { s: new Float64Array(c), q: new Float64Array(c), n: 0 });
      const hw = hh * ww;
      for (let k = 0; k < c; k++) {
        let s = 0, q = 0;
        for (let i = 0; i < hw; i++) { const v = t.data[k * hw + i]; s += v; q += v * v; }
        a.s[k] += s; a.q[k] += q;
      }
      a.n += hw;
    }
  }
  const out: Record<string, { mean: Float64Array; std: Float64Array }> = {};
  for (const h of heads) {
    const a = acc[h];
    const mean = a.s.map((s) => s / a.n);
    const std = a.q.map((q, k) => Math.sqrt(Math.max(1e-8, q / a.n - mean[k] ** 2)));
    out[h] = { mean, std };
  }
  return out;
}

function aligned(base: TailWeights, ref: Awaited<ReturnType<typeof stats>>, cur: Awaited<ReturnType<typeof stats>>, which: readonly string[]): TailWeights {
  const out = new Map(base);
  for (const h of which) {
    const w = base.get(`${h}_w0`)!, b = base.get(`${h}_b0`)!;
    const [o, c] = w.shape;
    const r = ref[h], n = cur[h];
    const a = Array.from({ length: c }, (_, k) => (mode === 'mean' ? 1 : r.std[k] / Math.max(n.std[k], 1e-6)));
    const sh = Array.from({ length: c }, (_, k) => r.mean[k] - a[k] * n.mean[k]);
    const nw = new Float32Array(o * c), nb = new Float32Array(o);
    for (let i = 0; i < o; i++) {
      let s = b.data[i];
      for (let k = 0; k < c; k++) { nw[i * c + k] = w.data[i * c + k] * a[k]; s += w.data[i * c + k] * sh[k]; }
      nb[i] = s;
    }
    out.set(`${h}_w0`, { ...w, data: nw } as TailTensor);
    out.set(`${h}_b0`, { ...b, data: nb } as TailTensor);
  }
  return out;
}

const [newBag, refBag, dayBag] = args;
const log = (l: string) => process.stderr.write(`${l}\n`);
const nf = await readLabelledFrames([newBag], N);
const rf = await readLabelledFrames([refBag], N);
const fit = nf.filter((_, i) => i % 2 === 0), test = nf.filter((_, i) => i % 2 === 1);
const refStats = await stats(rf);
const newStats = await stats(fit);
for (const h of heads) log(`${h}: mean shift ${Array.from(newStats[h].mean).map((m, k) => ((m - refStats[h].mean[k]) / refStats[h].std[k]).toFixed(2)).slice(0, 8).join(' ')} std ratio ${Array.from(newStats[h].std).map((s, k) => (s / refStats[h].std[k]).toFixed(2)).slice(0, 8).join(' ')}`);
const fmt = (m: Metrics) => `det ${m.det_map50?.toFixed(3)} lane ${m.lane_iou?.toFixed(3)} drv ${m.drivable_iou?.toFixed(3)} absrel ${m.depth_absrel?.toFixed(3)}`;
const shipped = engine.currentWeights;
const pkg = await loadModelPackage(join(ROOT, 'models', 'default'));
if (dayBag) {
  const df = (await readLabelledFrames([dayBag], N)).filter((_, i) => i % 2 === 1);
  log(`day same drive: ${fmt(await evaluateEngine(engine, df))}`);
}
log(`new, shipped: ${fmt(await evaluateEngine(engine, test))}`);
for (const which of [['det'], ['seg'], ['depth'], ['det', 'seg', 'depth']]) {
  engine.swapWeights(engine.makeWeightSet(aligned(pkg.tails, refStats, newStats, which), `align-${which.join('+')}`));
  log(`new, aligned ${which.join('+')}: ${fmt(await evaluateEngine(engine, test))}`);
  engine.swapWeights(shipped);
}
await engine.dispose();
