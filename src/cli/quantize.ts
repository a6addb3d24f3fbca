import type { Command } from 'commander';
import type { Metrics } from '../compress/evaluate.js';
import { PRECISIONS, type Precision } from '../model/manifest.js';
import { parseFloatOption, parseIntOption, parseList } from './args.js';

const BUILDABLE = ['int8', 'fp16'] as const;

/** `adaptive-perception quantize`: adds INT8 / FP16 variants to a model package (src/compress/build.ts). */
export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description('add INT8 (static QDQ, calibrated on bag frames) and FP16 variants to a model package; the engine picks one with --precision')
    .requiredOption('--model <dir>', 'model package (its FP32 graph is the source)')
    .requiredOption('--calibration <bags>', 'comma-separated bags whose camera frames calibrate INT8', (v: string) => v.split(',').filter(Boolean))
    .option('--frames <n>', 'calibration frames, spread over the bags', parseIntOption('--frames', 1, 100_000), 64)
    .option('--out <dir>', 'write the package with its variants here (default: in place)')
    .option('--precisions <list>', `variants to build, of ${BUILDABLE.join(', ')}`, parseList('--precisions', BUILDABLE), ['int8', 'fp16'])
    .option('--default <precision>', `the variant engines run by default, of ${PRECISIONS.join(', ')}`, (v) => parseList('--default', PRECISIONS)(v)[0])
    .option('--method <m>', 'calibration: minmax, percentile or mse (least squared error)', (v) => parseList('--method', ['minmax', 'percentile', 'mse'] as const)(v)[0], 'mse')
    .option('--keep-first <n>', 'keep the first N Convs FP32 (the most noise-sensitive on the bundled model; bench/int8-sensitivity.ts ranks them)', parseIntOption('--keep-first', 0, 10_000), 5)
    .option('--percentile <p>', 'kept share for --method percentile', parseFloatOption('--percentile', 50.001, 100), 99.999)
    .option('--per-tensor', 'one weight scale per tensor instead of per output channel', false)
    .option('--no-resize-first', 'keep the FP32 graph\'s preprocessing order in the INT8 variant')
    .option('--heldout <bags>', 'comma-separated bags with /gt topics: score FP32 and every variant on them and store the metrics', (v: string) => v.split(',').filter(Boolean))
    .option('--heldout-frames <n>', 'held-out frames per bag', parseIntOption('--heldout-frames', 1, 100_000), 40)
    .action(async (o) => {
      // Loaded here: the quantizer's protobuf code is not needed by any other command.
      const { buildPrecisionVariants } = await import('../compress/build.js');
      const { evaluatePackage, metricLoss } = await import('../compress/evaluate.js');
      const { readLabelledFrames } = await import('../compress/frames.js');
      const log = (l: string) => process.stderr.write(`${l}\n`);
      const calibration = (await readLabelledFrames(o.calibration, o.frames)).map((f) => f.image);
      log(`quantize: ${calibration.length} calibration frames from ${o.calibration.join(', ')}`);
      const r = await buildPrecisionVariants({
        modelDir: o.model,
        outDir: o.out,
        calibration,
        precisions: o.precisions,
        defaultPrecision: o.default as Precision | undefined,
        method: o.method,
        percentile: o.percentile,
        qdq: { perChannel: !o.perTensor, keepFirstConvs: o.keepFirst },
        resizeFirst: o.resizeFirst,
        log,
      });
      if (o.heldout) {
        const frames = (await readLabelledFrames(o.heldout, o.heldoutFrames)).filter((f) => Object.keys(f.truth).length > 0);
        const metrics: Record<string, Metrics> = {};
        for (const p of ['fp32', ...o.precisions]) {
          metrics[p] = await evaluatePackage(r.dir, p, frames);
          const loss = p === 'fp32' ? '' : `; against fp32 (points, negative = worse): ${JSON.stringify(metricLoss(metrics.fp32, metrics[p]).points)}`;
          log(`${p}: ${JSON.stringify(metrics[p])}${loss}`);
        }
        process.stdout.write(`${JSON.stringify({ dir: r.dir, files: r.files, checks: r.checks, metrics }, null, 2)}\n`);
      } else {
        process.stdout.write(`${JSON.stringify({ dir: r.dir, files: r.files, checks: r.checks }, null, 2)}\n`);
      }
    });
}
