/**
 * How well a domain router fitted on the learner's stored samples routes whole drives, for
 * the router fit in use (src/engine/router.ts) and the diagonal discriminant it replaced:
 * `npx tsx bench/router-fit.ts [--json]` after `npm run -s adaptation`.
 *
 * Reads the last scenario's sample store (a copy; the store is not changed), pools each stored
 * sample's tail features, and runs the engine (192x384, the scenario's size) over the
 * training-domain check drive (every 2nd of its first 600 frames) and the newpaint drive
 * (every 3rd frame). Then, as if the learner fitted its router after 20 s, 50 s or all of the
 * drive's stored samples, prints per fit:
 * - `old_val_read_new`: held-out reference frames whose own score reads new (the gate routes
 *   each sample on its own score, so these are what make it see old-domain drops);
 * - `new_val_read_new`: held-out newpaint samples read as new;
 * - `check_drive_on_adapted`: frames of the other day drive a camera would run on the adapted
 *   tails (RouterState's running average);
 * - `newpaint_last_fifth_on_adapted`: the same for newpaint's last fifth.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { fitRouter, poolFeatures, routerScore, type Router } from '../src/engine/router.js';
import { SampleStore } from '../src/adaptation/learner/store.js';
import { adaptedShare, pooledDrive, printRows, type Pooled } from './router-drives.js';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, 'bench', '.cache', 'adaptation');
const STORE = join(CACHE, 'run', 'adapt', 'adapt', 'learner-state', 'samples.db');
const json = process.argv.includes('--json');
const log = (l: string) => process.stderr.write(`${l}\n`);

/** The previous fit, kept here for comparison: a diagonal linear discriminant (see router.ts). */
function fitDiagonalDiscriminant(olds: readonly Float32Array[], news: readonly Float32Array[]): Router {
  const D = olds[0].length;
  const mean = (xs: readonly Float32Array[]) => {
    const m = new Float64Array(D);
    for (const x of xs) for (let j = 0; j < D; j++) m[j] += x[j] / xs.length;
    return m;
  };
  const mo = mean(olds);
  const mn = mean(news);
  const v = new Float64Array(D);
  for (const x of olds) for (let j = 0; j < D; j++) v[j] += (x[j] - mo[j]) ** 2;
  for (const x of news) for (let j = 0; j < D; j++) v[j] += (x[j] - mn[j]) ** 2;
  const n = olds.length + news.length;
  const meanVar = v.reduce((a, x) => a + x / n / D, 0);
  const w = Float32Array.from({ length: D }, (_, j) => (mn[j] - mo[j]) / (v[j] / n + 0.01 * meanVar + 1e-12));
  const score = (x: ArrayLike<number>) => Array.from(w).reduce((a, wj, j) => a + wj * x[j], 0);
  const q = (xs: readonly Float32Array[], p: number) => {
    const s = xs.map(score).sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
  };
  const mid = (score(mo) + score(mn)) / 2;
  return { w, b: -Math.max(mid, (q(olds, 0.9) + q(news, 0.5)) / 2) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'router-fit-'));
  const engine = await Engine.create({ modelDir: join(ROOT, 'models', 'default'), providers: ['cpu'], inputSize: [192, 384], log: () => {} });
  try {
    copyFileSync(STORE, join(dir, 'samples.db'));
    const store = SampleStore.open(join(dir, 'samples.db'));
    const stored: Array<Pooled & { domain: string; split: string }> = [];
    let t0: bigint | undefined;
    for (const info of store.list({})) {
      const s = store.get(info.id);
      if (s.domain === 'new' && (t0 === undefined || s.stampNs < t0)) t0 = s.stampNs;
      stored.push({ x: poolFeatures(s.features, engine.manifest.tails), t: Number(s.stampNs), domain: s.domain, split: s.split });
    }
    store.close();
    for (const s of stored) s.t = s.domain === 'new' && t0 !== undefined ? (s.t - Number(t0)) / 1e9 : 0;
    log(`store: ${stored.length} samples`);

    const drive = (bag: string, every: number, max = Infinity) => pooledDrive(engine, join(CACHE, bag), { every, max, log });
    const check = await drive('day-600.mcap', 2, 600);
    const newpaint = await drive('newpaint-1800.mcap', 3, 1800);
    const lastFifthFrom = (newpaint[newpaint.length - 1].t * 4) / 5;

    const onAdapted = (router: Router, frames: readonly Pooled[], from = -Infinity) => round(adaptedShare(router, frames, from));
    const readNew = (router: Router, xs: readonly Pooled[]) => round(xs.filter((s) => routerScore(router, s.x) > 0).length / xs.length);
    const pick = (domain: string, split: string, until = Infinity) => stored.filter((s) => s.domain === domain && s.split === split && s.t < until);
    const rows = [];
    for (const until of [20, 50, Infinity]) {
      const olds = pick('old', 'train').map((s) => s.x);
      const news = pick('new', 'train', until).map((s) => s.x);
      for (const [fit, router] of [
        ['logistic (in use)', fitRouter(olds, news)],
        ['diagonal discriminant (before)', fitDiagonalDiscriminant(olds, news)],
      ] as const) {
        rows.push({
          fitted_on_s: Number.isFinite(until) ? until : 'all',
          new_samples: news.length,
          fit,
          old_val_read_new: readNew(router, pick('old', 'val')),
          new_val_read_new: readNew(router, pick('new', 'val')),
          check_drive_on_adapted: onAdapted(router, check),
          newpaint_last_fifth_on_adapted: onAdapted(router, newpaint, lastFifthFrom),
        });
      }
    }
    printRows(rows, json);
  } finally {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (v: number) => Math.round(v * 100) / 100;

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
