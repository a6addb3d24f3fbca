import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GateDecision } from '../adaptation/learner/gate.js';
import type { LabelEvent } from '../adaptation/learner/labels.js';
import { LearnerService, type LearnerServiceOptions, type LearnerState } from '../adaptation/learner/service.js';
import { initTf } from '../adaptation/learner/tails-tf.js';
import { Teacher } from '../adaptation/learner/teacher/teacher.js';
import type { TeacherHead, TeacherModel } from '../adaptation/learner/teacher/types.js';
import { parseCameraHeight, parseTeacherHeads } from '../adaptation/learner/settings.js';
import { encodeBundle, modelRef } from '../adaptation/protocol/bundle.js';
import { keyFingerprint } from '../adaptation/protocol/keys.js';
import { PerceptionError } from '../core/errors.js';
import type { HeadName } from '../model/manifest.js';
import { loadModelPackage, type TailWeights } from '../model/package.js';
import { ADAPTATION_STATES, type WeightUpdate } from '../msgs/adaptation.js';
import { nsToTime } from '../msgs/index.js';
import { loadNodeKeys, rosHomeDir } from './adaptation-keys.js';
import type { LearnerCorePort, LearnerNodePorts, LearnerParams, LearnerReport } from './node-types.js';
import type { NodeLog } from './node-types.js';

/**
 * The learner node's core: the shared LearnerService, whose promoted bundles are signed, written
 * to `<sample_store_dir>/bundles/vNNNNNN.bundle` (atomic rename; versions continue after the
 * newest on disk) and announced on `adaptation/weights` as a WeightUpdate with a `file://` URI,
 * size, sha256, signer and signature; perception fetches, checks and swaps it. Its state is
 * reported as AdaptationStatus.
 */
const STATE = Object.fromEntries(ADAPTATION_STATES.map((s, i) => [s, i])) as Record<(typeof ADAPTATION_STATES)[number], number>;
const BUNDLE = /^v(\d{6,})\.bundle$/;
const bundleName = (v: number) => `v${String(v).padStart(6, '0')}.bundle`;

export interface RosLearnerCoreOptions extends Omit<LearnerServiceOptions, 'storeFile' | 'versionBase' | 'publish' | 'log'> {
  /** `samples.db` and `bundles/` live here. */
  readonly stateDir: string;
  readonly announce: (msg: WeightUpdate) => boolean;
  /** Transport time, for message headers. */
  readonly now: () => bigint;
  readonly log: NodeLog;
  /** Bundles kept in `bundles/` (default 5). */
  readonly keepBundles?: number;
}

export class RosLearnerCore implements LearnerCorePort {
  #rosFlags = 0;

  private constructor(
    private readonly service: LearnerService,
    private readonly manifest: RosLearnerCoreOptions['manifest'],
  ) {}

  static async open(o: RosLearnerCoreOptions): Promise<RosLearnerCore> {
    const bundles = join(o.stateDir, 'bundles');
    await mkdir(bundles, { recursive: true, mode: 0o700 });
    const versionBase = Math.max(0, ...(await readdir(bundles)).map((f) => Number(BUNDLE.exec(f)?.[1] ?? 0)));
    const service = await LearnerService.open({
      ...o,
      storeFile: join(o.stateDir, 'samples.db'),
      versionBase,
      log: o.log,
      publish: async ({ tails, decision, version, parent }) => {
        const file = await writeBundle(bundles, version, encodeBundle({ model: modelRef(o.manifest), version, parent, created_s: Math.round(Date.now() / 1000), metrics: { val_new: decision.val_new_after, val_old: decision.val_old_after } }, tails, o.identity.signing.privateKey), o.keepBundles ?? 5);
        const sent = o.announce(weightUpdate(o, file, version, parent, decision));
        if (!sent) o.log('warn', `v${version} promoted but not announced: the node is not active`);
      },
    });
    return new RosLearnerCore(service, o.manifest);
  }

  get classes(): readonly string[] {
    return this.service.classes;
  }

  get depth(): RosLearnerCoreOptions['manifest']['depth'] {
    return this.manifest.depth;
  }

  /** Counts for tests and diagnostics. */
  status() {
    const s = this.service.status();
    return { ...s.counts, rosFlags: this.#rosFlags, paused: s.state === 'paused' };
  }

  /** A FlaggedFrame on the topic: counted (the sample itself comes over the channel). */
  flagged(): void {
    this.#rosFlags++;
  }

  label(ev: LabelEvent): void {
    this.service.label(ev);
  }

  setPaused(paused: boolean): void {
    this.service.setPaused(paused);
  }

  rollback(version: string): void {
    this.service.rollback(version);
  }

  /** Promotes `tails` as the gate would (tests drive the weight path with it). */
  promote(tails: TailWeights, d: GateDecision): Promise<void> {
    return this.service.promote(tails, d);
  }

  report(): LearnerReport {
    const s = this.service.status();
    const d = s.lastDecision;
    const p = s.lastPromoted;
    const c = s.counts;
    const state: LearnerState = s.state;
    return {
      model_name: modelRef(this.manifest),
      // What perception serves, as it last said; '' until it has said (e.g. not yet connected).
      serving_version: s.perceptionServing !== undefined ? `v${s.perceptionServing}` : '',
      candidate_version: s.candidate !== undefined ? `v${s.candidate}` : '',
      state: STATE[state],
      reason: s.reason,
      flagged_frames: s.newSamples,
      labelled_frames: c.labeledNew,
      new_domain_score: d?.val_new_after ?? NaN,
      old_domain_score: d?.val_old_after ?? NaN,
      serving_new_domain_score: p?.val_new_after ?? d?.val_new_before ?? NaN,
      serving_old_domain_score: p?.val_old_after ?? d?.val_old_before ?? NaN,
      metrics: Object.entries({
        rosFlags: this.#rosFlags,
        samples: c.samples,
        referenceSamples: c.referenceSamples,
        droppedByRate: c.droppedByRate,
        malformed: c.malformed,
        labels: c.labels,
        slackGrants: c.slackGrants,
        slackWhilePaused: c.slackWhilePaused,
        slackWhileBusy: c.slackWhileBusy,
        steps: c.steps,
        bundles: c.bundles,
        promoted_version: `v${s.promoted}`,
        stored: c.samples,
        labelled_old: c.labeledOld,
        steps_since_gate: c.stepsSinceGate,
        decisions: c.decisions,
      }).map(([key, v]) => ({ key, value: String(v) })),
    };
  }

  onChange(listener: () => void): void {
    this.service.onChange(listener);
  }

  dispose(): Promise<void> {
    return this.service.dispose();
  }
}

function weightUpdate(o: RosLearnerCoreOptions, file: { path: string; bytes: Uint8Array }, version: number, parent: number, d: GateDecision): WeightUpdate {
  const bytes = file.bytes;
  return {
    header: { stamp: nsToTime(o.now()), frame_id: '' },
    model_name: modelRef(o.manifest),
    version: `v${version}`,
    base_version: `v${parent}`,
    heads: [...o.heads],
    uri: pathToFileURL(file.path).href,
    size_bytes: BigInt(bytes.length),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    key_id: keyFingerprint(o.identity.signing.publicKey),
    signature: bytes.subarray(bytes.length - 64), // a view: the transport sends the bytes it views
    new_domain_score: d.val_new_after,
    old_domain_score: d.val_old_after,
  };
}

/** Writes a bundle so a reader sees the old file or the whole new one (temporary in the same folder, fsync, rename), then prunes old ones. */
async function writeBundle(dir: string, version: number, bytes: Uint8Array, keep: number): Promise<{ path: string; bytes: Uint8Array }> {
  const path = join(dir, bundleName(version));
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const old = (await readdir(dir)).map((f) => Number(BUNDLE.exec(f)?.[1] ?? NaN)).filter((v) => Number.isFinite(v) && v <= version - keep);
  for (const v of old) await rm(join(dir, bundleName(v)), { force: true });
  return { path, bytes };
}

/** The learner node's default core, from its parameters (LEARNER_PARAMS). */
export async function createRosLearnerCore(params: LearnerParams, log: NodeLog, ports: LearnerNodePorts): Promise<RosLearnerCore> {
  const get = (n: string) => params.get(n);
  const modelDir = (get('model_path') as string) || ports.defaultModelDir;
  if (!modelDir) throw new PerceptionError('INVALID_CONFIG', 'model_path is empty and no default model folder was given', { field: 'model_path' });
  const pkg = await loadModelPackage(modelDir);
  const backend = await initTf((l) => log('info', l));
  const keys = await loadNodeKeys({ dir: (get('keys_dir') as string) || rosHomeDir('keys'), self: get('identity') as string, peer: get('perception_identity') as string, waitS: get('peer_wait_s') as number, log });
  log('info', `learner: tf backend ${backend}, model ${modelRef(pkg.manifest)}`);
  const source = get('label_source') as string;
  const headsParam = get('teacher_heads') as string;
  const teacherHeads: TeacherHead[] = headsParam.trim() ? parseTeacherHeads(headsParam, 'teacher_heads') : [];
  const teacherWeights = get('teacher_weights') as string;
  const teacher = source === 'teacher' || source === 'both'
    ? await Teacher.create({
        model: get('teacher_model') as TeacherModel,
        ...((get('teacher_threshold') as number) > 0 ? { threshold: get('teacher_threshold') as number } : {}),
        ...(teacherWeights ? { weights: teacherWeights } : {}),
        ...(teacherHeads.length > 0 ? { heads: teacherHeads } : {}),
        cameraHeightM: parseCameraHeight(String(get('teacher_camera_height')), 'teacher_camera_height'),
      })
    : undefined;
  if (teacher) log('info', `learner: teacher ${teacher.description} at threshold ${teacher.threshold} labels flagged frames' ${teacher.heads.join(', ')}`);
  if (teacher?.isSameModelAs(pkg.manifest)) log('warn', `learner: the teacher is the model being adapted (${teacher.description}); its labels teach it nothing — set teacher_weights to another package`);
  return RosLearnerCore.open({
    ...(teacher ? { teacher } : {}),
    manifest: pkg.manifest,
    tails: pkg.tails,
    stateDir: (get('sample_store_dir') as string) || rosHomeDir('samples'),
    identity: keys.self,
    perception: keys.peer,
    endpoints: { uplink: get('uplink') as string, downlink: get('downlink') as string },
    heads: get('heads') as HeadName[],
    minNewSamples: get('min_new_samples') as number,
    minRouterSamples: get('min_router_samples') as number,
    stepsPerCandidate: get('steps_per_candidate') as number,
    trainer: { cacheMb: get('trainer_cache_mb') as number },
    gate: { margin: get('gate_margin') as number, tolerance: get('gate_old_tolerance') as number, teacherConfidence: get('gate_teacher_confidence') as number, consistency: get('gate_consistency') as number },
    maxStoredSamples: get('max_stored_samples') as number,
    maxFlagsPerMinute: get('max_flags_per_minute') as number,
    slackShare: get('training_slack_share') as number,
    announce: ports.announceWeights,
    now: ports.now,
    log,
  });
}
