/**
 * Offline check of online training on a scenario run's stored samples: trains the chosen tails
 * from the shipped weights for a number of steps (no slack, no clock) and prints the gate's
 * per-head figures on the held-out new-domain and old-domain samples as it goes. For choosing
 * trainer settings without replaying a drive each time.
 *
 *   npx tsx bench/offline-heads.ts [STORE.db] [--model PKG] [--heads det] [--steps 600] [--every 100] [--lr 1e-3]
 *     [--pixels 512] [--old-ratio 0.5] [--average DECAY] [--seed 1] [--cache-mb 512]
 *
 * Default store: the last `npm run -s adaptation` run's (bench/.cache/adaptation/run/…).
 */
import { join, resolve } from 'node:path';
import { evaluateTails } from '../src/adaptation/learner/gate.js';
import { ADAPT_TRAINER, parseHeads } from '../src/adaptation/learner/settings.js';
import { SampleStore } from '../src/adaptation/learner/store.js';
import { initTf, TfTails } from '../src/adaptation/learner/tails-tf.js';
import { Trainer, type TrainSample } from '../src/adaptation/learner/trainer.js';
import { loadModelPackage } from '../src/model/package.js';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const file = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : join(ROOT, 'bench', '.cache', 'adaptation', 'run', 'adapt', 'adapt', 'learner-state', 'samples.db');
const heads = parseHeads(arg('--heads', 'det'));
const steps = Number(arg('--steps', '600'));
const every = Number(arg('--every', '100'));
const lr = Number(arg('--lr', '1e-3'));
const oldRatio = Number(arg('--old-ratio', String(ADAPT_TRAINER.oldRatio ?? 0.5)));
const pixelsPerSample = Number(arg('--pixels', '512'));
const averageDecay = Number(arg('--average', String(ADAPT_TRAINER.averageDecay ?? 0)));
const seed = Number(arg('--seed', '1'));
const cacheMb = Number(arg('--cache-mb', String(ADAPT_TRAINER.cacheMb ?? 512)));

await initTf(() => {});
const pkg = await loadModelPackage(resolve(arg('--model', join(ROOT, 'models', 'default'))));
const store = SampleStore.open(file);
const ids = (domain: 'new' | 'old', split: 'train' | 'val') => store.ids({ domain, split, labeled: true });
const source = { newIds: () => ids('new', 'train'), oldIds: () => ids('old', 'train'), load: (id: number): TrainSample => store.get(id, { keepHalf: true }) };
const val = { new: ids('new', 'val').map((id) => store.get(id)), old: ids('old', 'val').map((id) => store.get(id)) };
const fit = ids('new', 'train').slice(0, 40).map((id) => store.get(id));
process.stderr.write(`${file}: train ${source.newIds().length} new + ${source.oldIds().length} old, val ${val.new.length} new + ${val.old.length} old; heads ${heads.join(',')}, lr ${lr}, ${pixelsPerSample} pixels, old ratio ${oldRatio}, average decay ${averageDecay}\n`);
const trainer = new Trainer(pkg.manifest, pkg.tails, source, { ...ADAPT_TRAINER, heads, lr, oldRatio, pixelsPerSample, averageDecay, seed, cacheMb });
const shipped = TfTails.create(pkg.manifest, pkg.tails);
// The weights a gate would score: the trainer's candidate (its running average where averaging is on).
let last: TfTails | undefined;
const candidateTails = (t: Trainer): TfTails => {
  last?.dispose();
  last = TfTails.create(pkg.manifest, t.candidate());
  return last;
};
const fmt = (v: number | null) => (v === null ? '—' : v.toFixed(3));
const report = (step: number, tails: TfTails) => {
  const n = evaluateTails(tails, val.new, pkg.manifest);
  const o = evaluateTails(tails, val.old, pkg.manifest);
  const t = evaluateTails(tails, fit, pkg.manifest);
  process.stdout.write(`| ${step} | ${fmt(n.mAP)} | ${fmt(n.laneIoU)} | ${fmt(n.absRel)} | ${fmt(o.mAP)} | ${fmt(o.laneIoU)} | ${fmt(o.absRel)} | ${fmt(t.mAP)} | ${fmt(t.laneIoU)} | ${fmt(t.absRel)} |\n`);
};
process.stdout.write('| steps | new mAP@0.5 | new lane IoU | new AbsRel | old mAP@0.5 | old lane IoU | old AbsRel | train mAP@0.5 | train lane IoU | train AbsRel |\n|---|---|---|---|---|---|---|---|---|---|\n');
report(0, shipped);
const stepMs: number[] = [];
for (let s = 0; s < steps; ) {
  const n = Math.min(every, steps - s);
  const t0 = performance.now();
  for (let k = 0; k < n; k++) trainer.step();
  stepMs.push((performance.now() - t0) / n);
  s += n;
  report(s, averageDecay > 0 ? candidateTails(trainer) : trainer.tails);
}
process.stderr.write(`training: ${stepMs.map((v) => v.toFixed(1)).join(' / ')} ms a step (each ${every} steps; cache ${cacheMb} MiB)\n`);
trainer.dispose();
shipped.dispose();
last?.dispose();
store.close();
