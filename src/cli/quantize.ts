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
    .option('--keep-output-convs', 'keep FP32 the Convs whose outputs are graph outputs (the tails\' input features)', false)
    .option('--per-tensor', 'one weight scale per tensor instead of per output channel', false)
    .option('--no-resize-first', 'keep the FP32 graph\'s preprocessing order in the INT8 variant')
    .option('--heldout <bags>', 'comma-separated bags with /gt topics: score FP32 and every variant on them and store the metrics', (v: string) => v.split(',').filter(Boolean))
    .option('--heldout-frames <n>', 'held-out frames per bag', parseIntOption('--heldout-frames', 1, 100_000), 40)
    .option('--max-loss <points>', 'with --heldout: keep the ops most sensitive to quantization FP32 (ranked one op at a time on calibration frames), more of them each round, until INT8 loses at most this many points on every metric', parseFloatOption('--max-loss', 0, 100))
    .action(async (o) => {
      // Loaded here: the quantizer's protobuf code is not needed by any other command.
      const { buildPrecisionVariants } = await import('../compress/build.js');
      const { evaluatePackage, metricLoss } = await import('../compress/evaluate.js');
      const { readLabelledFrames } = await import('../compress/frames.js');
      const { PerceptionError } = await import('../core/errors.js');
      const { readFileSync, renameSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const log = (l: string) => process.stderr.write(`${l}\n`);
      if (o.maxLoss !== undefined && (!o.heldout || !o.precisions.includes('int8'))) {
        throw new PerceptionError('INVALID_ARGUMENT', '--max-loss needs --heldout (bags with ground truth) and int8 in --precisions', { field: '--max-loss' });
      }
      const calibration = (await readLabelledFrames(o.calibration, o.frames)).map((f) => f.image);
      log(`quantize: ${calibration.length} calibration frames from ${o.calibration.join(', ')}`);
      const frames = o.heldout ? (await readLabelledFrames(o.heldout, o.heldoutFrames)).filter((f) => Object.keys(f.truth).length > 0) : [];
      const metrics: Record<string, Metrics> = {};
      if (o.heldout) metrics.fp32 = await evaluatePackage(o.model, 'fp32', frames);
      // Rounds: the options given; with --max-loss then also the Convs feeding the graph outputs
      // (the tails' features) FP32; then, besides, the k most sensitive ops FP32 (k = 2, 4, 6, ...).
      let ranking: string[] | undefined;
      // Ranked exclusions start beyond --keep-first (the first Convs rank first on our models).
      const ks = [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256].filter((k) => k > o.keepFirst);
      for (let round = o.keepOutputConvs ? 1 : 0; ; round++) {
        const k = round < 2 ? 0 : ks[Math.min(round - 2, ks.length - 1)];
        const common = { perChannel: !o.perTensor, keepOutputConvsFp32: o.keepOutputConvs || round > 0 };
        const qdq = round < 2 ? { ...common, keepFirstConvs: o.keepFirst } : { ...common, keepFirstConvs: 0, exclude: (ranking as string[]).slice(0, k) };
        const r = await buildPrecisionVariants({
          modelDir: o.model,
          outDir: o.out,
          calibration,
          precisions: o.precisions,
          defaultPrecision: o.default as Precision | undefined,
          method: o.method,
          percentile: o.percentile,
          qdq,
          resizeFirst: o.resizeFirst,
          log,
        });
        if (!o.heldout) {
          process.stdout.write(`${JSON.stringify({ dir: r.dir, files: r.files, checks: r.checks }, null, 2)}\n`);
          return;
        }
        const what = (round < 2 ? `keep-first ${o.keepFirst}` : `the ${k} most sensitive ops FP32`) + (qdq.keepOutputConvsFp32 ? ', output Convs FP32' : '');
        const losses: Record<string, ReturnType<typeof metricLoss>> = {};
        for (const p of o.precisions as string[]) {
          metrics[p] = await evaluatePackage(r.dir, p, frames);
          losses[p] = metricLoss(metrics.fp32, metrics[p]);
          log(`${p} (${p === 'int8' ? what : 'float16'}) on ${frames.length} held-out frames: ${JSON.stringify(metrics[p])}; against fp32 (points, negative = worse): ${JSON.stringify(losses[p].points)}`);
        }
        const met = o.maxLoss === undefined || losses.int8.worst >= -o.maxLoss;
        // The scores go into the manifest beside each variant (the manifest is not hashed).
        const mfile = join(r.dir, 'manifest.json');
        const m = JSON.parse(readFileSync(mfile, 'utf8'));
        for (const p of o.precisions as string[]) m.precisions.variants[p].heldout = { frames: frames.length, bags: o.heldout, metrics: metrics[p], fp32: metrics.fp32, points: losses[p].points };
        if (k > 0) m.precisions.variants.int8.quantization.kept_fp32_by_sensitivity = (ranking as string[]).slice(0, k);
        writeFileSync(`${mfile}.tmp`, `${JSON.stringify(m, null, 2)}\n`);
        renameSync(`${mfile}.tmp`, mfile);
        if (met) {
          process.stdout.write(`${JSON.stringify({ dir: r.dir, files: r.files, checks: r.checks, int8: what, metrics }, null, 2)}\n`);
          return;
        }
        log(`quantize: int8 lost ${-losses.int8.worst} points (> --max-loss ${o.maxLoss})`);
        if (round === 0) continue;
        if (ranking === undefined) {
          log('quantize: ranking the ops by sensitivity (one quantized at a time)');
          ranking = await rankOps(o.model, calibration, o.method, o.resizeFirst, log);
        }
        if (k >= ranking.length) {
          throw new PerceptionError('MODEL_INVALID', `INT8 stays more than ${o.maxLoss} points below FP32 even with the ${k} most sensitive ops FP32 (last loss ${-losses.int8.worst})`, { field: '--max-loss' });
        }
      }
    });
}

/** The quantizable ops of the package's FP32 graph, most sensitive first (src/compress/sensitivity.ts). */
async function rankOps(modelDir: string, calibration: readonly { width: number; height: number; data: Uint8Array }[], method: 'minmax' | 'percentile' | 'mse', resizeFirstOn: boolean, log: (l: string) => void): Promise<string[]> {
  const { loadModelPackage } = await import('../model/package.js');
  const { readModel } = await import('../model/quantize/onnx.js');
  const { resizeFirst } = await import('../model/quantize/preprocess.js');
  const { planQdq } = await import('../model/quantize/qdq.js');
  const { calibrate } = await import('../model/quantize/calibrate.js');
  const { feedsFor } = await import('../compress/build.js');
  const { opSensitivity } = await import('../compress/sensitivity.js');
  const pkg = await loadModelPackage(modelDir, { precision: 'fp32' });
  const src = readModel(pkg.modelPath);
  if (resizeFirstOn) resizeFirst(src);
  const base = { keepFirstConvs: 0 };
  const plan = planQdq(src, base);
  const sizes = pkg.manifest.input.sizes;
  const ranges = await calibrate(src, [...plan.tensors, ...plan.observe], calibration.map((img, i) => feedsFor(pkg, img, sizes[i % sizes.length])), { method, log });
  const probe = calibration.filter((_, i) => i % Math.max(1, Math.floor(calibration.length / 8)) === 0).slice(0, 8).map((img) => feedsFor(pkg, img, sizes[0]));
  const { ops } = await opSensitivity(src, ranges, probe, base, log);
  log(`quantize: most sensitive: ${ops.slice(0, 6).map((x) => `${x.op} (${x.score})`).join(', ')}`);
  return ops.map((x) => x.op);
}
