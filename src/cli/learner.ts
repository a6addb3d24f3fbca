import type { Command } from 'commander';
import { runLearner } from '../adaptation/learner/process.js';
import { DEFAULT_ADAPT_HEADS, DEFAULT_GATE_CONSISTENCY, DEFAULT_GATE_MARGIN, DEFAULT_TRAINER_CACHE_MB, parseCameraHeight, parseHeads, parseTeacher, parseTeacherHeads } from '../adaptation/learner/settings.js';
import { LEARNER_NICE, lowerLearnerPriority, type LearnerSched } from '../adaptation/learner/priority.js';
import { PerceptionError } from '../core/errors.js';
import { parseFloatOption, parseIntOption } from './args.js';
import { DEFAULT_CAMERA_HEIGHT_M, TEACHER_HEADS, TEACHER_MODELS } from '../adaptation/learner/teacher/types.js';

/** The learner process, as `replay --adapt` (or a deployment on another machine) starts it. */
export function registerLearnerCommand(program: Command): void {
  program
    .command('learner')
    .description('run the online learner: connects to perception over CURVE-authenticated ZeroMQ, trains head tails in granted slack, sends signed weight bundles')
    .requiredOption('--model <dir>', 'the model package perception runs')
    .requiredOption('--keys <dir>', 'key folder (Ed25519 signing and CURVE keys)')
    .option('--identity <name>', "this learner's key name in the key folder", 'learner')
    .option('--server <name>', "perception's public key name in the key folder", 'perception')
    .requiredOption('--state <dir>', 'sample store and learner state')
    .requiredOption('--uplink <endpoint>', "perception's uplink endpoint (learner → perception)")
    .requiredOption('--downlink <endpoint>', "perception's downlink endpoint (perception → learner)")
    .option('--steps-per-candidate <n>', 'training steps between gate decisions (after a rejection twice the last, up to 4× this)', (v) => parseIntOption('--steps-per-candidate', 1, 1_000_000)(v), 120)
    .option('--min-new <n>', 'labelled new-domain samples needed before training', (v) => parseIntOption('--min-new', 1, 1_000_000)(v), 12)
    .option('--min-router <n>', 'new-domain samples stored before the first routed candidate is gated (default 40)', (v) => parseIntOption('--min-router', 1, 1_000_000)(v))
    .option('--teacher <model>', `label-free: a teacher model labels flagged frames (${TEACHER_MODELS.join(', ')}; package: a perception package of this format, --teacher-weights)`, parseTeacher)
    .option('--teacher-threshold <p>', "the teacher's pseudo-label confidence threshold (default: the model's)", (v) => parseFloatOption('--teacher-threshold', 0, 1)(v))
    .option('--teacher-weights <path>', "the teacher's weights: FastestDet's .onnx, the folder of nanodet / centernet, or the package folder (default: the bundled one)")
    .option('--teacher-heads <list>', `what the teacher labels (${TEACHER_HEADS.join(', ')}; COCO teachers det only; default: det; seg for a package)`, (v: string) => parseTeacherHeads(v))
    .option('--camera-height <m>', `with --teacher: the cameras' height above the road (m) for label-free depth from the road's geometry; 0: off (default ${DEFAULT_CAMERA_HEIGHT_M})`, (v: string) => parseCameraHeight(v))
    .option('--gate-margin <d>', 'the gate: the new-domain score a candidate must gain (mean of mAP@0.5, lane IoU, 1 - AbsRel)', (v) => parseFloatOption('--gate-margin', 0, 1)(v), DEFAULT_GATE_MARGIN)
    .option('--gate-consistency <p>', 'the gate: a gain short of the margin still passes when the candidate scores higher in this share of bootstrap resamples of the held-out frames (0: off)', (v) => parseFloatOption('--gate-consistency', 0, 1)(v), DEFAULT_GATE_CONSISTENCY)
    .option('--gate-tolerance <d>', 'the gate: the old-domain score a candidate may lose, from the shipped weights', (v) => parseFloatOption('--gate-tolerance', 0, 1)(v), 0.01)
    .option('--teacher-confidence <p>', "the gate, label-free: share of bootstrap resamples of a teacher's held-out frames in which a detection gain must hold (0: off)", (v) => parseFloatOption('--teacher-confidence', 0, 1)(v), 0.95)
    .option('--heads <list>', `tails trained online (default ${DEFAULT_ADAPT_HEADS.join(',')})`, parseHeads)
    .option('--cache-mb <MiB>', `memory for prepared training samples; beyond it a step reads its samples from the store, about twice as slow (default ${DEFAULT_TRAINER_CACHE_MB})`, (v) => parseIntOption('--cache-mb', 0, 1_048_576)(v))
    .option('--nice <n>', 'CPU niceness of the learner process, 0..19 (0: unchanged): its bursts yield to perception on shared cores', (v) => parseIntOption('--nice', 0, 19)(v), LEARNER_NICE)
    .option('--sched <policy>', "CPU scheduling of the learner: 'idle' (Linux SCHED_IDLE: runs only on cores perception leaves idle) or 'normal'", parseSched, 'idle')
    .action(async (o) => {
      // First, so that every thread the learner starts later (tfjs, libuv's pool) inherits it.
      process.stderr.write(`${lowerLearnerPriority({ nice: o.nice, sched: o.sched })}\n`);
      await runLearner({
        modelDir: o.model,
        keysDir: o.keys,
        identity: o.identity,
        server: o.server,
        stateDir: o.state,
        endpoints: { uplink: o.uplink, downlink: o.downlink },
        stepsPerCandidate: o.stepsPerCandidate,
        minNewSamples: o.minNew,
        minRouterSamples: o.minRouter,
        heads: o.heads,
        ...(o.cacheMb !== undefined ? { cacheMb: o.cacheMb } : {}),
        gate: { margin: o.gateMargin, tolerance: o.gateTolerance, teacherConfidence: o.teacherConfidence, consistency: o.gateConsistency },
        teacher: o.teacher
          ? {
              model: o.teacher,
              ...(o.teacherThreshold !== undefined ? { threshold: o.teacherThreshold } : {}),
              ...(o.teacherWeights !== undefined ? { weights: o.teacherWeights } : {}),
              ...(o.teacherHeads !== undefined ? { heads: o.teacherHeads } : {}),
              ...(o.cameraHeight !== undefined ? { cameraHeightM: o.cameraHeight } : {}),
            }
          : undefined,
        log: (line) => process.stderr.write(`${line}\n`),
        stop: new Promise<void>((resolve) => {
          process.once('SIGTERM', () => resolve());
          process.once('SIGINT', () => resolve());
        }),
      });
    });
}

function parseSched(v: string): LearnerSched {
  if (v !== 'idle' && v !== 'normal') throw new PerceptionError('INVALID_ARGUMENT', `--sched must be idle or normal, got '${v}'`, { field: '--sched' });
  return v;
}

