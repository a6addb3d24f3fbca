import type { Command } from 'commander';
import { DOMAINS, type Domain } from '../sim/index.js';
import { parseIntOption, parseList, parseSize } from './args.js';
import { createProgress } from './progress.js';
import { writeDataset } from '../sim/dataset-writer.js';

export function registerDatasetCommand(program: Command): void {
  program
    .command('dataset')
    .description('render labelled synthetic frames (RGB, lane/drivable mask, depth, boxes) into shards for the offline trainer')
    .requiredOption('--out <dir>', 'output directory')
    .option('--domains <list>', `comma-separated domains (${DOMAINS.join(', ')})`, parseList('domains', DOMAINS), ['day'] as Domain[])
    .option('--frames <n>', 'frames per domain', parseIntOption('frames', 1, 10_000_000), 100)
    .option('--seed <n>', 'base seed', parseIntOption('seed', 0, 2 ** 31 - 1), 1)
    .option('--size <WxH>', 'image size', parseSize('size'), { width: 640, height: 360 })
    .option('--sequence-length <n>', 'frames kept per sequence (world)', parseIntOption('sequence-length', 1, 100_000), 8)
    .option('--camera-jitter', 'randomise camera height, field of view and pitch per sequence (domain randomisation)', false)
    .action(async (o: { out: string; domains: Domain[]; frames: number; seed: number; size: { width: number; height: number }; sequenceLength: number; cameraJitter: boolean }) => {
      const total = o.frames * o.domains.length;
      const progress = createProgress('dataset', total);
      try {
        await writeDataset({
          out: o.out, domains: o.domains, frames: o.frames, seed: o.seed, width: o.size.width, height: o.size.height,
          sequenceLength: o.sequenceLength, cameraJitter: o.cameraJitter, onProgress: (done) => progress.update(done),
        });
      } finally {
        progress.stop();
      }
      process.stderr.write(`dataset: ${total} frames → ${o.out}\n`);
    });
}
