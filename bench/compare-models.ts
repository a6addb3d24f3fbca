/**
 * Model packages side by side on the same labelled frames, through the product's engine path
 * (src/compress/evaluate.ts): held-out synthetic frames of the training domains at every ladder
 * size, the shifted domains the adaptation scenarios use (rendered with the held-out seed, not
 * the scenarios' drives), and the committed real-frames bag (lane and drivable only).
 *
 *   npx tsx bench/compare-models.ts DIR [DIR ...] [--frames N] [--json]
 *
 * Frames are rendered once into bench/.cache/eval/ (seed 5151, 1280x720 rgb8). Used to choose
 * the bundled default: docs/experiments/2026-12-06-default-retrained.md.
 */
import { join, resolve } from 'node:path';
import { readLabelledFrames, type LabelledFrame } from '../src/compress/frames.js';
import { evaluatePackage, type Metrics } from '../src/compress/evaluate.js';
import { loadModelPackage } from '../src/model/package.js';
import type { Domain } from '../src/sim/index.js';
import { EVAL_DOMAINS, ensureEvalBag, HELDOUT_SEED } from './eval-frames.js';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const opt = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const dirs = argv.filter((x, i) => !x.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const perDomain = Number(opt('--frames', '40'));
const log = (l: string) => process.stderr.write(`${l}\n`);
if (dirs.length === 0) {
  log('usage: npx tsx bench/compare-models.ts DIR [DIR ...] [--frames N] [--json]');
  process.exit(2);
}
const SHIFTED: readonly Domain[] = ['night', 'rain', 'camshift', 'newpaint'];
const sets: { name: string; frames: LabelledFrame[] }[] = [];
const training: LabelledFrame[] = [];
for (const d of EVAL_DOMAINS) training.push(...(await readLabelledFrames([await ensureEvalBag(d, HELDOUT_SEED, perDomain, log)], perDomain)));
sets.push({ name: `held-out ${EVAL_DOMAINS.join('+')}`, frames: training });
for (const d of SHIFTED) sets.push({ name: d, frames: await readLabelledFrames([await ensureEvalBag(d, HELDOUT_SEED, perDomain, log)], perDomain) });
const real = await readLabelledFrames([join(ROOT, 'bags', 'real_comma10k_front.mcap')], 100);

type Row = Metrics & { model: string; set: string; size: string };
const rows: Row[] = [];
const f3 = (v: number | null) => (v === null ? '—' : v.toFixed(3));
const line = (m: Metrics) => `${f3(m.det_map50)} / ${f3(m.lane_iou)} / ${f3(m.drivable_iou)} / ${f3(m.depth_absrel)} / ${f3(m.depth_delta1)}`;
for (const dir of dirs) {
  const { manifest } = await loadModelPackage(resolve(dir));
  for (const size of manifest.input.sizes) {
    const m = await evaluatePackage(resolve(dir), 'fp32', sets[0].frames, size);
    rows.push({ model: dir, set: sets[0].name, size: size.join('x'), ...m });
    log(`${dir} | ${sets[0].name} | ${size.join('x')} | ${line(m)}`);
  }
  for (const s of sets.slice(1)) {
    const m = await evaluatePackage(resolve(dir), 'fp32', s.frames);
    rows.push({ model: dir, set: s.name, size: manifest.input.sizes[0].join('x'), ...m });
    log(`${dir} | ${s.name} | ${manifest.input.sizes[0].join('x')} | ${line(m)}`);
  }
  const m = await evaluatePackage(resolve(dir), 'fp32', real);
  rows.push({ model: dir, set: 'real comma10k (lane, drivable)', size: manifest.input.sizes[0].join('x'), ...m });
  log(`${dir} | real comma10k | ${manifest.input.sizes[0].join('x')} | ${line(m)}`);
}
if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), frames_per_domain: perDomain, rows }, null, 2)}\n`);
else {
  process.stdout.write(`| model | frames | size | det mAP@0.5 / lane / drivable / AbsRel / δ<1.25 |\n|---|---|---|---|\n`);
  for (const r of rows) process.stdout.write(`| ${r.model} | ${r.set} | ${r.size} | ${line(r)} |\n`);
}
