/**
 * How the domain router of the last adaptation scenario routes whole drives:
 * `npx tsx bench/router-check.ts` after `npm run -s adaptation`.
 *
 * Restores the promoted weights exactly as a restart would (the scenario's perception state
 * folder), runs the first 300 frames of the training-domain check drive and the last fifth of
 * the newpaint drive through the engine, and prints, per drive, the share of frames whose own
 * router score reads "new" and the share a camera would run on the adapted tails (the running
 * average perception keeps, RouterState). The first should be near 0, the second near 1.
 */
import { join, resolve } from 'node:path';
import { openBag } from '../src/bag/reader.js';
import { Engine } from '../src/engine/engine.js';
import { poolFeatures, routerScore, RouterState } from '../src/engine/router.js';
import { loadPublicIdentity } from '../src/adaptation/protocol/keys.js';
import { SwapManager } from '../src/adaptation/perception/swap.js';
import type { CompressedImage } from '../src/msgs/index.js';
import { ImageDecoder } from '../src/pipeline/image-decode.js';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, 'bench', '.cache', 'adaptation');
const STATE = join(CACHE, 'run', 'adapt', 'adapt');
const json = process.argv.includes('--json');

async function main(): Promise<void> {
  const engine = await Engine.create({ modelDir: join(ROOT, 'models', 'default'), providers: ['cpu'], log: () => {} });
  try {
    const learner = await loadPublicIdentity(join(STATE, 'keys'), 'learner');
    const swaps = await SwapManager.open({ engine, manifest: engine.manifest, stateDir: join(STATE, 'perception-state'), publicKeys: [learner.signingKey], log: () => {} });
    const router = engine.currentWeights.router;
    if (!router) throw new Error(`v${swaps.currentVersion} carries no router (run bench/adaptation.ts first)`);
    const decoder = new ImageDecoder();
    const drive = async (bag: string, skip: number, count: number) => {
      const reader = await openBag(join(CACHE, bag));
      const state = new RouterState();
      let i = 0;
      let n = 0;
      let positive = 0;
      let adapted = 0;
      try {
        for await (const m of reader.messages({ topics: ['/front/image_raw/compressed'] })) {
          if (i++ < skip) continue;
          const c = m.msg as CompressedImage;
          const image = await decoder.decode({ kind: 'compressed', format: c.format, data: c.data }, { camera: 'front', topic: m.topic, index: m.index });
          const [out] = await engine.infer([image], { outputs: ['det_feat', 'seg_feat', 'depth_feat'] });
          const map = (name: 'det_feat' | 'seg_feat' | 'depth_feat') => {
            const t = out.tensors[name]!;
            const [channels, height, width] = t.dims.length === 4 ? t.dims.slice(1) : t.dims;
            return { channels, height, width, data: t.data as Float32Array };
          };
          // The camera runs this frame on whatever its average said before it.
          if (state.useAdapted('front')) adapted++;
          const score = routerScore(router, poolFeatures({ det: map('det_feat'), seg: map('seg_feat'), depth: map('depth_feat') }, engine.manifest.tails));
          if (score > 0) positive++;
          state.observe('front', score);
          if (++n >= count) break;
        }
      } finally {
        await reader.close();
      }
      return { frames: n, frames_reading_new: Math.round((positive / n) * 100) / 100, frames_on_adapted_tails: Math.round((adapted / n) * 100) / 100 };
    };
    const result = {
      version: swaps.currentVersion,
      training_domain_check_drive: await drive('day-600.mcap', 0, 300),
      newpaint_last_fifth: await drive('newpaint-1800.mcap', 1440, 300),
    };
    if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      process.stdout.write(`router of v${result.version}\n`);
      for (const [name, r] of Object.entries(result)) if (typeof r === 'object') process.stdout.write(`${name}: ${r.frames} frames, ${(r.frames_reading_new * 100).toFixed(0)} % read as new, ${(r.frames_on_adapted_tails * 100).toFixed(0)} % on the adapted tails\n`);
    }
  } finally {
    await engine.dispose();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
