/**
 * Which old-domain reference set keeps the domain router off other training-domain drives:
 * `npx tsx bench/router-refset.ts [--json]` after `npm run -s adaptation`.
 *
 * Takes the new-domain training samples of the last scenario run's sample store (a copy), and
 * pools the tail features (engine at 192x384, the scenario's size) of every frame of:
 * - reference drives: the scenario's three first ones (day 502, dusk 503, fog 504) and its five
 *   added ones (day 505-507, dusk 508, fog 509), rendered by the scenario;
 * - check drives the learner never sees: the scenario's day check drive (seed 500, first 600
 *   frames), another day drive (599) and a dusk drive (598), 300 frames each, rendered here;
 * - the newpaint drive (every frame).
 * Then fits routers (src/engine/router.ts) on reference frames taken evenly from each drive, as
 * the scenario sends them (~170 for training: the store holds ~15 % out for the gate), against
 * the new-domain samples of the first 20 s, 60 s or all of the drive, and prints the share of
 * each check drive's frames a camera would run on the adapted tails (RouterState's running
 * average), and the same for newpaint's last fifth.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeSimBag } from '../src/sim/bag-writer.js';
import { Engine } from '../src/engine/engine.js';
import { fitRouter, poolFeatures, type Router } from '../src/engine/router.js';
import { SampleStore } from '../src/adaptation/learner/store.js';
import { adaptedShare, pooledDrive, printRows, type Pooled } from './router-drives.js';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, 'bench', '.cache', 'adaptation');
const STORE = join(CACHE, 'run', 'adapt', 'adapt', 'learner-state', 'samples.db');
const json = process.argv.includes('--json');
const log = (l: string) => process.stderr.write(`${l}\n`);

/** A drive of the scenario's kind (640x360 JPEG, 10 Hz), rendered once into the cache. */
async function bag(name: string, domain: 'day' | 'dusk' | 'fog', frames: number, seed: number): Promise<string> {
  const out = join(CACHE, `${name}-${frames}.mcap`);
  if (!existsSync(out)) {
    log(`rendering ${out}`);
    await writeSimBag({ out, domain, frames, seed, cameras: ['front'], width: 640, height: 360, rateHz: 10, compressed: true, jpegQuality: 85, gtScale: 4 });
  }
  return out;
}

async function main(): Promise<void> {
  const engine = await Engine.create({ modelDir: join(ROOT, 'models', 'default'), providers: ['cpu'], inputSize: [192, 384], log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'router-refset-'));
  try {
    copyFileSync(STORE, join(dir, 'samples.db'));
    const store = SampleStore.open(join(dir, 'samples.db'));
    const stored = store.list({ domain: 'new', split: 'train' }).map((i) => store.get(i.id));
    const storedOld = store.list({ domain: 'old', split: 'train' }).map((i) => poolFeatures(store.get(i.id).features, engine.manifest.tails));
    store.close();
    const t0 = stored.reduce((a, s) => (s.stampNs < a ? s.stampNs : a), stored[0].stampNs);
    const news: Pooled[] = stored.map((s) => ({ x: poolFeatures(s.features, engine.manifest.tails), t: Number(s.stampNs - t0) / 1e9 }));
    log(`store: ${news.length} new-domain training samples`);

    const drive = (path: string, max = Infinity) => pooledDrive(engine, path, { max, log });
    const checks = {
      day_500: await drive(join(CACHE, 'day-600.mcap'), 600),
      day_599: await drive(await bag('day-check599', 'day', 300, 599)),
      dusk_598: await drive(await bag('dusk-check598', 'dusk', 300, 598)),
    };
    const newpaint = await drive(join(CACHE, 'newpaint-1800.mcap'));
    const lastFifthFrom = (newpaint[newpaint.length - 1].t * 4) / 5;
    const three = [await drive(join(CACHE, 'day-refset-150.mcap')), await drive(join(CACHE, 'dusk-refset-60.mcap')), await drive(join(CACHE, 'fog-refset-60.mcap'))];
    const added = [
      await drive(join(CACHE, 'day-refset505-150.mcap')),
      await drive(join(CACHE, 'day-refset506-150.mcap')),
      await drive(join(CACHE, 'day-refset507-150.mcap')),
      await drive(join(CACHE, 'dusk-refset2-60.mcap')),
      await drive(join(CACHE, 'fog-refset2-60.mcap')),
    ];
    /** `n` frames spread evenly over each drive, `total` in all. */
    const evenly = (drives: Pooled[][], total: number) =>
      drives.flatMap((d) => {
        const n = Math.min(d.length, Math.round(total / drives.length));
        return Array.from({ length: n }, (_, i) => d[Math.floor((i * d.length) / n)].x);
      });
    const onAdapted = (router: Router, frames: readonly Pooled[], from = -Infinity) => Math.round(100 * adaptedShare(router, frames, from));
    const rows = [];
    for (const [name, olds] of [
      ['three drives', evenly(three, 170)],
      ['eight drives', evenly([...three, ...added], 170)],
      [`the run's stored (${storedOld.length})`, storedOld],
    ] as const) {
      for (const until of [20, 60, Infinity]) {
        const fitted = news.filter((s) => s.t < until).map((s) => s.x);
        const router = fitRouter(olds, fitted);
        rows.push({
          reference: name,
          fitted_on_s: Number.isFinite(until) ? until : 'all',
          new_samples: fitted.length,
          ...Object.fromEntries(Object.entries(checks).map(([k, v]) => [`${k}_on_adapted_pct`, onAdapted(router, v)])),
          newpaint_last_fifth_on_adapted_pct: onAdapted(router, newpaint, lastFifthFrom),
        });
      }
    }
    printRows(rows, json);
  } finally {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
