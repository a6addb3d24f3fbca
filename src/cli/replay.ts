import { join } from 'node:path';
import { adaptHooks } from '../replay/adapt.js';
import { parseManualFlag, type ManualFlagSpec } from '../replay/manual-flags.js';
import type { Command } from 'commander';
import { PROVIDERS, type Provider } from '../engine/runner.js';
import { PerceptionError } from '../core/errors.js';
import { PRECISIONS, type InputSize } from '../model/manifest.js';
import { PRECISION_ENV } from '../engine/engine.js';
import { DEFAULT_INFERENCE } from '../pipeline/perception-worker.js';
import { DEFAULT_GROUND_FRAME, DEFAULT_READER, replay } from '../replay/replay.js';
import { parseFloatOption, parseIntOption, parseList } from './args.js';
import { DEFAULT_GATE_MARGIN, DEFAULT_TRAINER_CACHE_MB, parseCameraHeight, parseLabelMode, parseTeacher, parseTeacherHeads, type LabelMode } from '../adaptation/learner/settings.js';
import { DEFAULT_CAMERA_HEIGHT_M, DEFAULT_TEACHER_MODEL, TEACHER_HEADS, TEACHER_MODELS } from '../adaptation/learner/teacher/types.js';
import { createProgress, type Progress } from './progress.js';
import { DEFAULT_MODEL_DIR, DEFAULT_REFERENCE_BAG } from '../core/paths.js';
import { ADMISSIONS } from '../scheduler/index.js';

/** The bundled default model package, relative to the installed package. */

function parseInputSize(value: string): InputSize {
  const m = /^(\d+)x(\d+)$/.exec(value.trim());
  if (!m) throw new Error(`--input-size must be HxW (an entry of the model's input ladder), got '${value}'`);
  return [Number(m[1]), Number(m[2])];
}

function parseInference(value: string): 'worker' | 'main' {
  if (value !== 'worker' && value !== 'main') throw new Error(`--inference must be worker or main, got '${value}'`);
  return value;
}

function parseReader(value: string): 'thread' | 'main' {
  if (value !== 'thread' && value !== 'main') throw new Error(`--reader must be thread or main, got '${value}'`);
  return value;
}

function parseLadderVariants(value: string): string[] {
  return value.trim() === 'none' ? [] : parseList('--ladder-variants', PRECISIONS)(value);
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('run every camera frame of a bag (MCAP or ROS 1) through the model; write results.mcap, summary.json and report.html')
    .argument('<bag>', 'input bag')
    .option('--model <dir>', 'model package folder', DEFAULT_MODEL_DIR)
    .option('--out <dir>', 'output folder', 'out/replay')
    .option('--json', 'print the summary as JSON on stdout and nothing else', false)
    .option('--providers <list>', `execution providers in priority order, of ${PROVIDERS.join(', ')}`, parseList('--providers', PROVIDERS), [...PROVIDERS] as Provider[])
    .option('--precision <p>', `the model variant to run, of ${PRECISIONS.join(', ')} (default: the manifest's precisions.default, else fp32)`, (v) => parseList('--precision', PRECISIONS)(v)[0])
    .option('--input-size <HxW>', "model input size (an entry of the model's ladder; default its largest)", parseInputSize)
    .option('--rate <r>', 'playback speed: 1 = recorded rate, 2 = twice as fast (to overload)', parseFloatOption('--rate', 0.01, 1000), 1)
    .option('--fast', 'as fast as possible: each frame waits for the previous one, nothing is dropped', false)
    .option('--budget-ms <ms>', "per-camera deadline budget (default: the camera's frame period at the playback rate)", parseFloatOption('--budget-ms', 0.1, 60000))
    .option('--no-batching', 'never batch frames of different cameras')
    .option('--admission <rule>', `which run-time estimate a frame must fit before its deadline to start, of ${ADMISSIONS.join(', ')} (high: skip a frame rather than finish it late; default expected)`, (v) => parseList('--admission', ADMISSIONS)(v)[0])
    .option('--no-ladder', 'keep every frame at the input size (no stepping down under overload): accuracy independent of machine load')
    .option('--ladder-variants <list>', `precision variants the ladder steps through beside the main one, of ${PRECISIONS.join(', ')}, or none (default: every variant the package offers for the execution provider)`, parseLadderVariants)
    .option('--results-compression <c>', 'chunk compression of results.mcap: none, zstd or lz4', (v) => parseList('--results-compression', ['none', 'zstd', 'lz4'] as const)(v)[0], 'none')
    .option('--inference <where>', `where the model runs: worker (a worker thread; the event loop stays free) or main (default ${DEFAULT_INFERENCE})`, parseInference)
    .option('--reader <where>', `where the bag is read and decoded: thread (a reader thread) or main (default here: ${DEFAULT_READER}, thread from 4 cores)`, parseReader)
    .option('--score-threshold <t>', 'detection score threshold', parseFloatOption('--score-threshold', 0.01, 1), 0.3)
    .option('--dense-at-camera-size', 'publish lane mask and depth at camera size (default: model output size)', false)
    .option('--overlay-width <px>', 'overlay image width', parseIntOption('--overlay-width', 16, 8192), 640)
    .option('--overlay-rate <hz>', 'maximum overlay rate per camera', parseFloatOption('--overlay-rate', 0.01, 1000), 10)
    .option('--adapt', 'online adaptation: run the learner as a separate process and hot-swap the weights it sends', false)
    .option('--reference <bag>', 'with --adapt: bag(s) of the training domains with ground truth, comma-separated (old-domain reference set)', DEFAULT_REFERENCE_BAG)
    .option('--reference-frames <n>', 'with --adapt: reference frames sent to the learner', parseIntOption('--reference-frames', 1, 10000), 40)
    .option('--label-delay-ms <ms>', 'with --adapt: annotation delay in bag time', parseFloatOption('--label-delay-ms', 0, 600000), 2000)
    .option('--max-labels <n>', "with --adapt: most flagged frames the annotator labels (a teacher, --labels teacher|both, labels every flagged frame)", parseIntOption('--max-labels', 1, 100000), 200)
    .option('--labels <source>', "with --adapt: where labels come from: gt (the bag's ground truth as a late annotator of flagged frames), teacher (label-free: a COCO detector labels flagged frames' boxes), both (the annotator overrides the teacher)", (v: string) => parseLabelMode(v), 'gt' as LabelMode)
    .option('--teacher <model>', `with --labels teacher|both: the teacher (${TEACHER_MODELS.join(', ')}; default ${DEFAULT_TEACHER_MODEL}: the bundled real-roads candidate labels lanes (--teacher-heads for boxes or depth); fastestdet labels boxes)`, parseTeacher)
    .option('--teacher-weights <path>', "with --teacher: the teacher's weights (package: its folder; default: the bundled one)")
    .option('--teacher-heads <list>', `with --teacher package: what it labels (${TEACHER_HEADS.join(', ')}; default seg)`, (v: string) => parseTeacherHeads(v))
    .option('--camera-height <m>', `with --labels teacher|both: the cameras' height above the road (m) for label-free depth from the road's geometry; 0: off (default ${DEFAULT_CAMERA_HEIGHT_M})`, (v: string) => parseCameraHeight(v))
    .option('--ground-frame <frame>', `with --labels teacher|both: the TF frame on the ground: each camera's height above it, from the bag's /tf_static (the camera's frame: its camera_info's frame_id), scales the label-free depth cue in place of --camera-height; "" reads no TF (default ${DEFAULT_GROUND_FRAME})`)
    .option('--gate-margin <d>', `with --adapt: the new-domain score a candidate must gain to be promoted (default ${DEFAULT_GATE_MARGIN})`, parseFloatOption('--gate-margin', 0, 1))
    .option('--gate-tolerance <d>', "with --adapt: the old-domain score a candidate may lose, from the shipped weights (default 0.01)", parseFloatOption('--gate-tolerance', 0, 1))
    .option('--cache-mb <MiB>', `with --adapt: the learner's memory for prepared training samples (default ${DEFAULT_TRAINER_CACHE_MB}); beyond it a step reads its samples from the store, about twice as slow`, (v) => parseIntOption('--cache-mb', 0, 1_048_576)(v))
    .option('--flag <camera@stamp>', "with --adapt: flag a camera's frame by hand (repeatable): CAMERA@SECONDS (header stamp) or CAMERA@+SECONDS (from the bag's start)", (v: string, prev: ManualFlagSpec[]) => [...prev, parseManualFlag(v)], [] as ManualFlagSpec[])
    .option('--quiet', 'no log lines on stderr', false)
    .action(async (bag: string, o) => {
      const stderr = process.stderr;
      const log = o.quiet ? () => {} : (line: string) => stderr.write(`${line}\n`);
      let progress: Progress | undefined;
      // Engines open in this thread, in the inference worker and in the learner process: the
      // environment reaches all three (EngineOptions.precision where a caller sets it).
      if (o.precision) process.env[PRECISION_ENV] = o.precision;
      if (o.flag.length > 0 && !o.adapt) {
        throw new PerceptionError('INVALID_ARGUMENT', '--flag asks the learner to train on a frame: it needs --adapt', { field: '--flag' });
      }
      for (const [k, flag] of [['gateMargin', '--gate-margin'], ['gateTolerance', '--gate-tolerance']] as const) {
        if (o[k] !== undefined && !o.adapt) throw new PerceptionError('INVALID_ARGUMENT', `${flag} sets the learner's gate: it needs --adapt`, { field: flag });
      }
      if (o.cacheMb !== undefined && !o.adapt) throw new PerceptionError('INVALID_ARGUMENT', "--cache-mb sizes the learner's memory: it needs --adapt", { field: '--cache-mb' });
      for (const [k, flag] of [['teacher', '--teacher'], ['teacherWeights', '--teacher-weights'], ['teacherHeads', '--teacher-heads'], ['cameraHeight', '--camera-height'], ['groundFrame', '--ground-frame']] as const) {
        if (o[k] !== undefined && !(o.adapt && o.labels !== 'gt')) throw new PerceptionError('INVALID_ARGUMENT', `${flag} chooses the label-free teacher: it needs --adapt --labels teacher or both`, { field: flag });
      }
      const hooks = o.adapt
        ? await adaptHooks({
            modelDir: o.model,
            workDir: join(o.out, 'adapt'),
            referenceBag: String(o.reference).split(',').map((b) => b.trim()).filter((b) => b.length > 0),
            referenceFrames: o.referenceFrames,
            labelDelayMs: o.labelDelayMs,
            maxLabels: o.maxLabels,
            labels: o.labels,
            ...(o.teacher !== undefined || o.teacherWeights !== undefined || o.teacherHeads !== undefined || o.cameraHeight !== undefined
              ? {
                  teacher: {
                    model: o.teacher ?? DEFAULT_TEACHER_MODEL,
                    ...(o.teacherWeights !== undefined ? { weights: o.teacherWeights } : {}),
                    ...(o.teacherHeads !== undefined ? { heads: o.teacherHeads } : {}),
                    ...(o.cameraHeight !== undefined ? { cameraHeightM: o.cameraHeight } : {}),
                  },
                }
              : {}),
            gate: { ...(o.gateMargin !== undefined ? { margin: o.gateMargin } : {}), ...(o.gateTolerance !== undefined ? { tolerance: o.gateTolerance } : {}) },
            manualFlags: o.flag,
            ...(o.cacheMb !== undefined ? { cacheMb: o.cacheMb } : {}),
            log,
          })
        : undefined;
      try {
        const summary = await replay({
          bag,
          modelDir: o.model,
          outDir: o.out,
          providers: o.providers,
          inputSize: o.inputSize,
          rate: o.rate,
          fast: o.fast,
          budgetMs: o.budgetMs,
          batching: o.batching,
          ...(o.admission ? { admission: o.admission } : {}),
          ladder: o.ladder,
          ladderVariants: o.ladderVariants,
          resultsCompression: o.resultsCompression,
          inference: o.inference,
          reader: o.reader,
          hooks,
          ...(o.groundFrame !== undefined ? { groundFrame: String(o.groundFrame) } : {}),
          scoreThreshold: o.scoreThreshold,
          denseAtCameraSize: o.denseAtCameraSize,
          overlayWidth: o.overlayWidth,
          overlayRateHz: o.overlayRate,
          log,
          onProgress: (done, total) => {
            if (o.json) return;
            progress ??= createProgress('replay', total);
            progress.update(done);
          },
        });
        progress?.stop();
        if (o.json) {
          process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
          return;
        }
        const m = summary.metrics;
        const f = (v: number | null) => (v === null ? '—' : v.toFixed(3));
        stderr.write(
          [
            `replayed ${summary.frames} frames (${summary.mode}): ${summary.processed} processed, ${summary.dropped} dropped ${JSON.stringify(summary.drops_by_reason)}, ${summary.deadline_misses} deadline misses, ${Object.values(summary.bad_frames).reduce((a, b) => a + b, 0)} bad, in ${summary.wall_s.toFixed(1)} s`,
            `latency p50 ${summary.latency_ms?.p50 ?? '—'} ms, p99 ${summary.latency_ms?.p99 ?? '—'} ms (message in → results ready)`,
            `det mAP@0.5 ${f(m.det_map50)} · lane IoU ${f(m.lane_iou)} · drivable IoU ${f(m.drivable_iou)} · depth AbsRel ${f(m.depth_absrel)} · δ<1.25 ${f(m.depth_delta1)}`,
            `results: ${summary.outputs.results}`,
            `summary: ${summary.outputs.summary}`,
            `report:  ${summary.outputs.report}  (open it in a browser)`,
          ].join('\n') + '\n',
        );
      } finally {
        progress?.stop();
        await hooks?.close();
      }
    });
}
