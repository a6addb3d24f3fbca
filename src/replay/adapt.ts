import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../core/paths.js';
import type { Truth } from '../pipeline/messages.js';
import { createInterface } from 'node:readline';
import { PerceptionError } from '../core/errors.js';
import { createIdentity } from '../adaptation/protocol/keys.js';
import type { HeadName } from '../model/manifest.js';
import type { ReplayHooks } from './replay.js';
import { LatencyRecorder } from './summary.js';
import { combinedScore } from './timeline.js';
import { FEATURE_OUTPUTS, TAIL_FEATURE_OUTPUTS, truthToLabels } from '../adaptation/perception/perception-parts.js';
import { PerceptionAdapter, type AdaptationCounts, type GateRecord } from '../adaptation/perception/adapter.js';
import { bagReferenceSource } from '../adaptation/perception/reference-set.js';
import type { SwapEvent } from '../adaptation/perception/swap.js';
import { Annotator } from '../adaptation/learner/labels.js';
import { labelToMessage } from '../adaptation/protocol/wire.js';
import { manualFlagStamp, type ManualFlagSpec } from './manual-flags.js';
import type { LabelMode } from '../adaptation/learner/settings.js';
import { DEFAULT_TEACHER_MODEL, type TeacherHead, type TeacherModel } from '../adaptation/learner/teacher/types.js';
import type { GateOptions } from '../adaptation/learner/gate.js';

export interface AdaptReplayOptions {
  modelDir: string;
  /** Keys, the learner's sample store and promoted weights live here. */
  workDir: string;
  /** A bag of the training domains with ground truth: the old-domain reference set. */
  /** Bag(s) of the training domains with ground truth; several drives make a more varied reference. */
  referenceBag: string | readonly string[];
  /** Reference frames in all, shared evenly between the bags (the first frames of each). */
  referenceFrames: number;
  labelDelayMs: number;
  /** Most flagged frames the annotator labels (labels gt or both); a teacher labels every flagged frame. */
  maxLabels: number;
  log: (line: string) => void;
  /** Learner cadence: training steps between gate decisions, labelled samples before training. */
  stepsPerCandidate?: number;
  minNewSamples?: number;
  /** New-domain samples stored before the learner gates its first routed candidate (default: the learner's). */
  minRouterSamples?: number;
  /** Tails trained online (default: the learner's, seg and depth). */
  heads?: readonly HeadName[];
  /** Where labels come from (default gt: the bag's ground truth as the annotator). */
  labels?: LabelMode;
  /** With labels teacher or both: the teacher (default DEFAULT_TEACHER_MODEL; the learner's --teacher-* options). */
  teacher?: { model: TeacherModel; weights?: string; heads?: readonly TeacherHead[]; threshold?: number; cameraHeightM?: number };
  /** The learner's gate (default: the learner's: margin 0.01, tolerance 0.01, teacher confidence 0.95). */
  gate?: GateOptions;
  /** Memory for the learner's prepared training samples, MiB (the learner's --cache-mb; default its own). */
  cacheMb?: number;
  /** Operator flags (`--flag CAMERA@STAMP`), requested before the first frame. */
  manualFlags?: readonly ManualFlagSpec[];
  /** How to start the learner process (default: this package's CLI, `learner` command). */
  spawnLearner?: (args: string[]) => ChildProcess;
}

/** Frames slower than 1.1x the steady p99, steady and during swaps. */
function tail(steady: LatencyRecorder, duringSwap: LatencyRecorder): { threshold_ms: number; steady: number; during_swaps: number } | null {
  const p99 = steady.summary()?.p99;
  if (p99 === undefined) return null;
  const threshold = Math.round(1.1 * p99 * 1000) / 1000;
  return { threshold_ms: threshold, steady: steady.countAbove(threshold), during_swaps: duringSwap.countAbove(threshold) };
}

/**
 * The swap windows' test applied to steady frames, the reference for how often it fails by
 * chance: the steady frames, in order, cut into windows of as many frames as the swap windows
 * held in all (the rest left out), each window's p99 (HDR, as for the swap windows) against
 * 1.1x the steady p99. A window of ~100 frames has its slowest or second-slowest frame for its
 * p99, so on a machine whose steady tail is long a share of plain steady windows fails too.
 */
export function steadyWindows(steadyMs: readonly number[], size: number, thresholdMs: number): { frames_per_window: number; windows: number; over_target: number; worst_ratio: number } | null {
  if (!(size >= 1) || steadyMs.length < size || !(thresholdMs > 0)) return null;
  let windows = 0;
  let over = 0;
  let worst = 0;
  for (let i = 0; i + size <= steadyMs.length; i += size) {
    const r = new LatencyRecorder();
    for (let j = i; j < i + size; j++) r.recordMs(steadyMs[j]);
    const p99 = r.summary()!.p99;
    r.destroy();
    windows++;
    if (p99 > thresholdMs) over++;
    worst = Math.max(worst, p99 / (thresholdMs / 1.1));
  }
  return { frames_per_window: size, windows, over_target: over, worst_ratio: Math.round(worst * 100) / 100 };
}

const BIN = resolve(PACKAGE_ROOT, 'bin', 'adaptive-perception.js');

/** What `replay --adapt` reports about adaptation (see ReplaySummary.adaptation). */
export interface AdaptationSummary {
  versions: Array<{ version: number; at_s: number } & GateRecord>;
  flags: number;
  flags_by_reason: Record<string, number>;
  /**
   * Operator requests (`--flag`): made; met by a frame that was flagged and sent; expired (the
   * camera's first frame at or after the stamp came over 5 s after it); never reached (no such
   * camera, or a stamp past the bag's end); refused (the label budget was spent).
   */
  manual_flags: { requested: number; flagged: number; expired: number; unmatched: number; refused: number };
  labels: number;
  swaps: number;
  rollbacks: number;
  rejected: number;
  frames_dropped_by_swap: number;
  slack: { grants: number; granted_ms: number };
  events: SwapEvent[];
}

function adaptationSummary(c: AdaptationCounts, events: readonly SwapEvent[], slack: { grants: number; granted_ms: number }, labels: number): AdaptationSummary {
  const versions: AdaptationSummary['versions'] = events
    .filter((e): e is Extract<SwapEvent, { kind: 'swapped' }> => e.kind === 'swapped')
    .map((e) => ({ version: e.version, at_s: e.at_s, ...(c.decisions.get(e.version) ?? { val_new: null, val_old: null, decision: 'promote' }) }));
  for (const [version, d] of c.decisions) if (d.decision !== 'promote') versions.push({ version, at_s: NaN, ...d });
  const flagged = c.flagsByReason.manual ?? 0;
  const { requested, expired, pending } = c.manual;
  return {
    versions,
    flags: c.flags,
    flags_by_reason: { ...c.flagsByReason },
    manual_flags: { requested, flagged, expired, unmatched: pending, refused: Math.max(0, requested - flagged - expired - pending) },
    labels,
    swaps: c.swaps,
    rollbacks: c.rollbacks,
    rejected: c.rejected,
    frames_dropped_by_swap: 0,
    slack,
    events: [...events],
  };
}

/**
 * `replay --adapt`: perception (this process) and the learner (a child process) over a bag.
 * The learner is a separate OS process that talks to perception only through the
 * CURVE-authenticated ZeroMQ channel, trains only in the slack the scheduler grants, and sends
 * back signed bundles that perception verifies and hot-swaps.
 */
export async function adaptHooks(o: AdaptReplayOptions): Promise<ReplayHooks & { close(): Promise<void> }> {
  await mkdir(o.workDir, { recursive: true });
  const keysDir = join(o.workDir, 'keys');
  const perceptionId = await createIdentity(keysDir, 'perception');
  const learnerId = await createIdentity(keysDir, 'learner');
  let adapt: PerceptionAdapter | undefined;
  const labels = o.labels ?? 'gt';
  const annotate = labels !== 'teacher';
  // The bag's annotator: it sees every /gt message but releases labels only for flagged frames, after a delay.
  const annotator = new Annotator({ delayMs: o.labelDelayMs });
  let learner: ChildProcess | undefined;
  let bagTimeS = () => 0;
  let slackStats = () => ({ grants: 0, granted_ms: 0 });
  const steady = new LatencyRecorder();
  const duringSwap = new LatencyRecorder();
  /** Steady frames' latencies in order, for `steadyWindows`. */
  const steadyMs: number[] = [];
  let swapWindowEndS = -Infinity;
  let eventsSeen = 0;
  let swapping = false;
  let droppedWhileSwapping = 0;
  let onTruth: (camera: string, stampNs: bigint, part: Truth) => void = () => {};
  let annotatorLabels = 0;
  /** Flagged frames handed to the annotator (at most maxLabels). */
  let annotatedFlags = 0;
  const pollLabels = () => {
    if (!adapt) return;
    for (const ev of annotator.poll(bagTimeS() * 1000)) {
      annotatorLabels++;
      adapt.sendLabel(labelToMessage(ev));
    }
  };

  const close = async () => {
    await adapt?.close();
    if (learner && learner.exitCode === null) {
      learner.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          learner?.kill('SIGKILL');
          r();
        }, 3000);
        learner!.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  };

  return {
    outputs: FEATURE_OUTPUTS,
    // Every frame's feat_mean is read here (drift); the tails' features (2.4 MB a frame) only
    // for flagged frames: sent back with every result, they fed this thread's major collections
    // (docs/experiments/2026-11-29-latency-and-swaps.md).
    held: TAIL_FEATURE_OUTPUTS,
    async start(ctx) {
      bagTimeS = ctx.bagTimeS;
      slackStats = () => {
        const slack = ctx.scheduler.snapshot().slack;
        return { grants: slack.grants, granted_ms: Math.round(slack.granted_ms - slack.revoked_ms) };
      };
      const classes = ctx.engine.manifest.classes;
      adapt = await PerceptionAdapter.open({
        engine: ctx.engine,
        stateDir: join(o.workDir, 'perception-state'),
        endpoints: { uplink: 'tcp://127.0.0.1:*', downlink: 'tcp://127.0.0.1:*' },
        keys: perceptionId.curve,
        allowedLearners: [learnerId.curve.publicKey],
        signers: [learnerId.signing.publicKey],
        // --max-labels is a person's time: it bounds the annotator's labels. A teacher's cost
        // nobody's, so with a teacher flags are bounded by the flagger's rate alone; with both,
        // the annotator labels the first maxLabels flagged frames and the teacher every one.
        ...(labels === 'gt' ? { maxFlags: o.maxLabels } : {}),
        // Adaptation wants its label budget spent early in a drive: 2 flags a second, bursts of 10.
        flagger: { perMinute: 120, burst: 10 },
        now: () => bagTimeS(),
        log: (_level, line) => o.log(`adapt: ${line}`),
        probeRun: ctx.probe,
        takeHeld: ctx.takeHeld,
        intrinsics: ctx.intrinsics,
        cameraMount: ctx.cameraMount,
        onFlag: (f) => {
          if (!annotate || !f.sent || annotatedFlags >= o.maxLabels) return;
          annotatedFlags++;
          annotator.onFlag(bagTimeS() * 1000, f.result.camera, f.result.stampNs);
        },
        referenceSet: bagReferenceSource({
          bags: typeof o.referenceBag === 'string' ? [o.referenceBag] : o.referenceBag,
          frames: o.referenceFrames,
          classes,
          depth: ctx.engine.manifest.depth,
          process: (camera, stampNs, image) => ctx.perception.process(camera, stampNs, image),
        }),
      });
      onTruth = (camera, stampNs, part) => annotate && annotator.onGroundTruth(bagTimeS() * 1000, { camera, stampNs, labels: truthToLabels(classes, { [part.kind]: part }) });
      const args = [
        'learner',
        '--model', o.modelDir,
        '--keys', keysDir,
        '--identity', 'learner',
        '--server', 'perception',
        '--state', join(o.workDir, 'learner-state'),
        '--uplink', adapt.endpoints.uplink,
        '--downlink', adapt.endpoints.downlink,
        '--steps-per-candidate', String(o.stepsPerCandidate ?? 120),
        '--min-new', String(o.minNewSamples ?? 12),
        ...(o.minRouterSamples !== undefined ? ['--min-router', String(o.minRouterSamples)] : []),
        ...(o.heads ? ['--heads', o.heads.join(',')] : []),
        ...(o.cacheMb !== undefined ? ['--cache-mb', String(o.cacheMb)] : []),
        ...(labels !== 'gt' ? teacherArgs(o.teacher) : []),
        ...(o.gate?.margin !== undefined ? ['--gate-margin', String(o.gate.margin)] : []),
        ...(o.gate?.tolerance !== undefined ? ['--gate-tolerance', String(o.gate.tolerance)] : []),
        ...(o.gate?.teacherConfidence !== undefined ? ['--teacher-confidence', String(o.gate.teacherConfidence)] : []),
      ];
      learner = o.spawnLearner ? o.spawnLearner(args) : spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (learner.stderr) createInterface({ input: learner.stderr }).on('line', (l) => o.log(`[learner] ${l}`));
      learner.once('exit', (code, signal) => o.log(`learner exited (${signal ?? code})`));
      if (!(await adapt.learnerReady(60_000))) {
        await close();
        throw new PerceptionError('IO', 'the learner process did not connect within 60 s', { field: 'learner' });
      }
      const sent = await adapt.referenceSent();
      o.log(`adapt: learner connected; ${sent} old-domain reference frames delivered`);
      for (const f of o.manualFlags ?? []) {
        const stampNs = manualFlagStamp(f, ctx.bagStartNs);
        adapt.operatorFlag(f.camera, stampNs);
        o.log(`adapt: manual flag ${f.spec}: ${f.camera}'s first frame at or after stamp ${stampNs} ns will be flagged`);
      }
      adapt.attach(ctx.scheduler as never);
    },
    onFrame(result, image, latencyMs) {
      if (!adapt) return;
      // A swap's window: from the bundle's arrival (it waits for a slack window, then its
      // verification, build and probe run while frames keep coming) through the swap and the
      // post-swap health watch, to its verdict (healthy or rolled back) or the bundle's
      // refusal, and one second more.
      if (adapt.bundlesPending > 0) swapping = true;
      const events = adapt.swaps.events;
      for (; eventsSeen < events.length; eventsSeen++) {
        const kind = events[eventsSeen].kind;
        if (kind === 'received') swapping = true;
        else if (kind === 'healthy' || kind === 'rejected' || kind === 'rolled_back') {
          swapping = false;
          swapWindowEndS = bagTimeS() + 1;
        }
      }
      if (swapping || bagTimeS() <= swapWindowEndS) duringSwap.recordMs(latencyMs);
      else {
        steady.recordMs(latencyMs);
        steadyMs.push(latencyMs);
      }
      adapt.onFrame(result, image);
      pollLabels();
    },
    onTruth(camera, stampNs, truth) {
      onTruth(camera, stampNs, truth);
      pollLabels();
    },
    onDrop() {
      if (swapping || bagTimeS() <= swapWindowEndS) droppedWhileSwapping++;
    },
    async finish({ firstFifth, lastFifth }) {
      if (!adapt) return { summary: {}, markers: [] };
      await adapt.swaps.idle();
      const s = adaptationSummary(adapt.counts(), adapt.swaps.events, slackStats(), annotatorLabels);
      const mf = s.manual_flags;
      if (mf.unmatched + mf.expired + mf.refused > 0) {
        o.log(`adapt: of ${mf.requested} manual flag(s), ${mf.unmatched} found no frame (a camera the bag does not have, or a stamp past its end), ${mf.expired} found none within 5 s of the stamp, ${mf.refused} came after the label budget was spent`);
      }
      const markers = s.events
        .filter((e) => e.kind === 'swapped' || e.kind === 'rolled_back')
        .map((e) => ({ t: e.at_s, label: e.kind === 'swapped' ? `swap to v${e.version}` : `rollback to v${e.to}` }));
      const overTarget = tail(steady, duringSwap);
      const summary = {
        adaptation: {
          ...s,
          frames_dropped_by_swap: droppedWhileSwapping,
          metrics_before: { ...firstFifth, score: combinedScore(firstFifth) },
          metrics_after: { ...lastFifth, score: combinedScore(lastFifth) },
          latency_steady_ms: steady.summary(),
          latency_during_swaps_ms: duringSwap.summary(),
          // How heavy the tail is: frames over the target (1.1x the steady p99), in each set. A
          // window of under 100 frames has its slowest frame for its p99 (HDR), so one such
          // frame in a window fails it; the steady count says how often they come at all.
          latency_over_target: overTarget,
          // The same test on plain steady windows of the swap windows' size: how often it
          // fails with no swap at all (the reference for the ratio above).
          latency_steady_windows: overTarget && duringSwap.count > 0 ? steadyWindows(steadyMs, duringSwap.count, overTarget.threshold_ms) : null,
        },
      };
      steady.destroy();
      duringSwap.destroy();
      await close();
      return { summary, markers };
    },
    close,
  };
}

/** The learner's --teacher* arguments (default DEFAULT_TEACHER_MODEL). */
function teacherArgs(t: AdaptReplayOptions['teacher']): string[] {
  return [
    '--teacher', t?.model ?? DEFAULT_TEACHER_MODEL,
    ...(t?.weights !== undefined ? ['--teacher-weights', t.weights] : []),
    ...(t?.heads !== undefined ? ['--teacher-heads', t.heads.join(',')] : []),
    ...(t?.threshold !== undefined ? ['--teacher-threshold', String(t.threshold)] : []),
    ...(t?.cameraHeightM !== undefined ? ['--camera-height', String(t.cameraHeightM)] : []),
  ];
}
