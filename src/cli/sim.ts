import type { Command } from 'commander';
import { CAMERA_NAMES, DOMAINS, type CameraName, type Domain } from '../sim/index.js';
import { parseFloatOption, parseIntOption, parseList, parseSize } from './args.js';
import { createProgress } from './progress.js';
import { writeSimBag } from '../sim/bag-writer.js';

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('render a synthetic driving sequence with exact ground truth into a bag (.mcap, or ROS 1 .bag)')
    .requiredOption('--out <file>', 'output bag (.mcap; .bag writes ROS 1)')
    .option('--domain <domain>', `one of ${DOMAINS.join(', ')}`, (v) => parseList('--domain', DOMAINS)(v)[0], 'day' as Domain)
    .option('--frames <n>', 'frames per camera', parseIntOption('--frames', 1, 1_000_000), 100)
    .option('--seed <s>', 'scenario seed', parseIntOption('--seed', 0, 2 ** 31 - 1), 0)
    .option('--cameras <list>', `comma-separated, of ${CAMERA_NAMES.join(', ')}`, parseList('--cameras', CAMERA_NAMES), ['front'] as CameraName[])
    .option('--size <WxH>', 'image size', parseSize('--size'), { width: 1280, height: 720 })
    .option('--rate <hz>', 'frame rate (stamps follow it)', parseFloatOption('--rate', 0.1, 1000), 30)
    .option('--compressed', 'write JPEG sensor_msgs/CompressedImage instead of raw rgb8', false)
    .option('--jpeg-quality <q>', 'JPEG quality', parseIntOption('--jpeg-quality', 1, 100), 85)
    .option('--gt-scale <n>', 'write lane mask and depth ground truth at 1/n of the image size', parseIntOption('--gt-scale', 1, 16), 1)
    .option('--preview <dir>', 'also write PNGs of each image with its ground truth drawn over it')
    .option('--no-tf', "write no /tf_static (the robot's camera mounts, latched once before the first frame): a recording without TF")
    .action(async (o) => {
      const progress = createProgress('sim', o.frames);
      const t0 = performance.now();
      try {
        const { messages } = await writeSimBag({
          out: o.out,
          domain: o.domain,
          frames: o.frames,
          seed: o.seed,
          cameras: o.cameras,
          width: o.size.width,
          height: o.size.height,
          rateHz: o.rate,
          compressed: o.compressed,
          jpegQuality: o.jpegQuality,
          gtScale: o.gtScale,
          preview: o.preview,
          tf: o.tf,
          onProgress: (done) => progress.update(done),
        });
        progress.stop();
        const s = (performance.now() - t0) / 1000;
        process.stderr.write(`wrote ${o.out}: ${messages} messages, ${o.frames} frames × ${o.cameras.length} camera(s) in ${s.toFixed(1)} s\n`);
      } finally {
        progress.stop();
      }
    });
}
