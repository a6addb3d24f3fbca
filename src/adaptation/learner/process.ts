import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeBundle, modelRef } from '../protocol/bundle.js';
import { loadIdentity, loadPublicIdentity } from '../protocol/keys.js';
import type { HeadName } from '../../model/manifest.js';
import { loadModelPackage } from '../../model/package.js';
import type { GateOptions } from './gate.js';
import { LearnerService } from './service.js';
import { DEFAULT_ADAPT_HEADS } from './settings.js';
import { initTf } from './tails-tf.js';
import { Teacher } from './teacher/teacher.js';
import type { TeacherHead, TeacherModel } from './teacher/types.js';

export interface LearnerProcessOptions {
  modelDir: string;
  keysDir: string;
  identity: string;
  server: string;
  stateDir: string;
  endpoints: { uplink: string; downlink: string };
  /** Train → gate cadence: optimisation steps between candidates. */
  stepsPerCandidate?: number;
  /** Labelled new-domain samples needed before training starts. */
  minNewSamples?: number;
  /** New-domain samples stored before the first routed candidate is gated (LearnerOptions.minRouterSamples). */
  minRouterSamples?: number;
  gate?: GateOptions;
  /** Tails trained online (default DEFAULT_ADAPT_HEADS). */
  heads?: readonly HeadName[];
  /** Memory for the trainer's prepared samples, MiB (TrainerOptions.cacheMb; default DEFAULT_TRAINER_CACHE_MB). */
  cacheMb?: number;
  /** Label-free mode: the teacher that labels flagged frames (TeacherOptions). */
  teacher?: { model: TeacherModel; threshold?: number; weights?: string; heads?: readonly TeacherHead[]; cameraHeightM?: number };
  log: (line: string) => void;
  /** Resolves when the learner should stop (the command: SIGTERM or SIGINT). */
  stop: Promise<void>;
}

/**
 * The standalone learner process (`adaptive-perception learner`, what `replay --adapt` starts, or
 * a learner on another machine): the LearnerService with its bundles signed and sent back over
 * the channel. Everything it knows arrives over the authenticated channel. Resolves once stopped.
 */
export async function runLearner(o: LearnerProcessOptions): Promise<void> {
  const pkg = await loadModelPackage(o.modelDir);
  const backend = await initTf(o.log);
  const me = await loadIdentity(o.keysDir, o.identity);
  const server = await loadPublicIdentity(o.keysDir, o.server);
  await mkdir(o.stateDir, { recursive: true });
  const teacher = o.teacher ? await Teacher.create(o.teacher) : undefined;
  if (teacher) o.log(`teacher: ${teacher.description} labels ${teacher.heads.join(', ')} (box threshold ${teacher.threshold})${teacher.cameraHeightM > 0 ? `; depth from the road's geometry, cameras ${teacher.cameraHeightM} m above it` : ''}`);
  if (teacher?.isSameModelAs(pkg.manifest)) o.log(`teacher: warning: the teacher is the model being adapted (${teacher.description}); its labels teach it nothing — pass another package (--teacher-weights)`);
  const service = await LearnerService.open({
    ...(teacher ? { teacher } : {}),
    manifest: pkg.manifest,
    tails: pkg.tails,
    storeFile: join(o.stateDir, 'samples.db'),
    identity: me,
    perception: server,
    endpoints: o.endpoints,
    heads: o.heads ?? DEFAULT_ADAPT_HEADS,
    minNewSamples: o.minNewSamples ?? 12,
    stepsPerCandidate: o.stepsPerCandidate ?? 120,
    ...(o.minRouterSamples !== undefined ? { minRouterSamples: o.minRouterSamples } : {}),
    gate: o.gate,
    ...(o.cacheMb !== undefined ? { trainer: { cacheMb: o.cacheMb } } : {}),
    log: (_level, line) => o.log(line),
    publish: async ({ tails, decision, version, parent, channel }) => {
      const bytes = encodeBundle({ model: modelRef(pkg.manifest), version, parent, created_s: Math.round(Date.now() / 1000), metrics: { val_new: decision.val_new_after, val_old: decision.val_old_after } }, tails, me.signing.privateKey);
      await channel.send({ kind: 'bundle', version, bytes }).catch((err: Error) => o.log(`bundle v${version} not delivered: ${err.message}`));
    },
  });
  o.log(`learner ready: tf backend ${backend}`);
  await o.stop;
  // What the learner did with the slack it was given: how far training got, for the log.
  const n = service.status().counts;
  o.log(`learner: stopping after ${n.steps} training steps in ${n.slackGrants} slack grants (${n.slackWhileBusy} arrived while a slice ran, ${n.slackWhilePaused} while paused), ${n.samples} samples, ${n.labels} labels, ${n.bundles} bundles`);
  await service.dispose();
}
