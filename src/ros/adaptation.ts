import { PerceptionAdapter, type FlagEvent, type PerceptionAdapterOptions } from '../adaptation/perception/adapter.js';
import type { FlaggerOptions } from '../adaptation/perception/flagger.js';
import { FEATURE_OUTPUTS } from '../adaptation/perception/perception-parts.js';
import { bagReferenceSource } from '../adaptation/perception/reference-set.js';
import type { OfferResult } from '../adaptation/perception/swap.js';
import { fetchAnnouncedBundle } from '../adaptation/perception/weight-fetch.js';
import type { FlagReasonKind } from '../adaptation/learner/store-types.js';
import { isPerceptionError } from '../core/errors.js';
import { DEFAULT_REFERENCE_BAG } from '../core/paths.js';
import { DEFAULT_OUTPUTS, Engine } from '../engine/engine.js';
import type { Manifest } from '../model/manifest.js';
import type { FlaggedFrame, WeightUpdate } from '../msgs/adaptation.js';
import { nsToTime } from '../msgs/index.js';
import { Perception } from '../pipeline/perception.js';
import { loadNodeKeys, rosHomeDir } from './adaptation-keys.js';
import type { NodeLog } from './node-types.js';

/**
 * The perception node's adaptation: the shared PerceptionAdapter, wired to ROS. Flags go out as
 * FlaggedFrame on `adaptation/flagged`; weight updates announced on `adaptation/weights` are
 * fetched (`file://`), checked against the announcement and offered; the old-domain reference
 * set comes from `adaptation.reference_bag`, run on a short-lived engine of its own; keys and
 * state default under $ROS_HOME.
 */

/** FlaggedFrame.TRIGGER_* (msgs/msg/FlaggedFrame.msg). */
export const TRIGGER = { OPERATOR: 0, LOW_CONFIDENCE: 1, TEMPORAL_INCONSISTENCY: 2, DOMAIN_SHIFT: 3 } as const;
const REASON_TRIGGER: Record<FlagReasonKind, number> = { uncertainty: TRIGGER.LOW_CONFIDENCE, entropy: TRIGGER.LOW_CONFIDENCE, temporal: TRIGGER.TEMPORAL_INCONSISTENCY, drift: TRIGGER.DOMAIN_SHIFT, manual: TRIGGER.OPERATOR };

/** A flag as the FlaggedFrame message the node publishes. */
export function flaggedFrameMessage(f: FlagEvent, manifest: Pick<Manifest, 'name' | 'version'>): FlaggedFrame {
  const r = f.result;
  const first = f.decision.reasons[0] ?? 'manual';
  const s = f.decision.scores;
  const score = { uncertainty: s.ambiguousFraction, entropy: s.segEntropy, temporal: s.flicker, drift: s.drift, manual: 0 }[first];
  const header = { stamp: nsToTime(r.stampNs), frame_id: `${r.camera}_camera_optical_frame` };
  return {
    header,
    camera: r.camera,
    trigger: REASON_TRIGGER[first],
    reason: f.decision.reasons.join(', ') + (f.sent ? '' : ' (no features: not sent to the learner)'),
    score: Number.isFinite(score) ? score : 0,
    model_version: `${manifest.name}@${manifest.version}#v${f.servingVersion}`,
    // Kept empty: the learner trains on the tail features sent over the channel, and encoding
    // an image on the hot path for a message nobody trains on is not worth its cost.
    image: { header, format: '', data: new Uint8Array(0) },
  };
}

/**
 * A WeightUpdate: fetch the announced bundle, check it against the announcement (size, hash,
 * signature; before parsing), then offer it. Never throws: a refusal is logged and counted.
 */
export async function offerAnnounced(adapter: PerceptionAdapter, msg: WeightUpdate, maxBundleBytes: number, log: NodeLog): Promise<OfferResult> {
  // Copied now: the transport may reuse the message once the hook returns.
  const announced = { uri: msg.uri, size_bytes: msg.size_bytes, sha256: msg.sha256, version: msg.version, signature: Uint8Array.from(msg.signature) };
  let bytes: Uint8Array;
  try {
    bytes = await fetchAnnouncedBundle(announced, maxBundleBytes);
  } catch (err) {
    const reason = isPerceptionError(err, 'WEIGHTS_REJECTED') ? String(err.context.reason) : 'unreadable';
    adapter.rejectBeforeOffer(`${reason}: ${(err as Error).message}`);
    log('warn', `weight update ${announced.version} refused (${reason}); still serving v${adapter.servingVersion}: ${(err as Error).message}`);
    return { ok: false, reason: 'unreadable', message: (err as Error).message };
  }
  return adapter.offer(bytes, `weight update ${announced.version}`);
}

/** Opens the adaptation from the node's `adaptation.*` parameters. */
export async function openPerceptionAdaptation(o: {
  readonly get: (name: string) => unknown;
  readonly engine: Engine;
  readonly modelDir?: string;
  readonly publishFlagged: (msg: FlaggedFrame) => void;
  readonly log: NodeLog;
  readonly flagger?: FlaggerOptions;
  /** The cameras' intrinsics (CameraFocals.intrinsics): a teacher's label-free depth cue. */
  readonly intrinsics?: PerceptionAdapterOptions['intrinsics'];
  /** The cameras' mounts (the robot's TF): the same cue's scale and horizon. */
  readonly cameraMount?: PerceptionAdapterOptions['cameraMount'];
}): Promise<PerceptionAdapter> {
  const str = (n: string) => o.get(`adaptation.${n}`) as string;
  const keys = await loadNodeKeys({ dir: str('keys_dir') || rosHomeDir('keys'), self: str('identity'), peer: str('learner_identity'), waitS: o.get('adaptation.peer_wait_s') as number, log: o.log });
  const manifest = o.engine.manifest;
  const referenceBag = str('reference_bag') || DEFAULT_REFERENCE_BAG;
  const referenceFrames = o.get('adaptation.reference_frames') as number;
  const modelDir = o.modelDir;
  return PerceptionAdapter.open({
    engine: o.engine,
    stateDir: str('state_dir') || rosHomeDir('perception-state'),
    endpoints: { uplink: str('uplink'), downlink: str('downlink') },
    keys: keys.self.curve,
    allowedLearners: [keys.peer.curveKey],
    signers: [keys.peer.signingKey],
    maxBundleBytes: o.get('adaptation.max_bundle_bytes') as number,
    flagger: { perMinute: o.get('adaptation.max_flags_per_minute') as number, ...o.flagger },
    log: o.log,
    onFlag: (f) => o.publishFlagged(flaggedFrameMessage(f, manifest)),
    ...(o.intrinsics ? { intrinsics: o.intrinsics } : {}),
    ...(o.cameraMount ? { cameraMount: o.cameraMount } : {}),
    // On an engine of its own (one ONNX Runtime thread, disposed after): the node's engine is
    // serving the cameras, and the reference frames must not take their turns.
    referenceSet:
      modelDir && referenceFrames > 0
        ? async (send) => {
            const engine = await Engine.create({ modelDir, providers: ['cpu'], threads: 1, outputs: [...DEFAULT_OUTPUTS, ...FEATURE_OUTPUTS] });
            try {
              const perception = new Perception(engine, { scoreThreshold: 0.3, denseAtCameraSize: false, overlayWidth: 64 });
              return await bagReferenceSource({ bags: [referenceBag], frames: referenceFrames, classes: manifest.classes, depth: manifest.depth, process: (c, s, i) => perception.process(c, s, i) })(send);
            } finally {
              await engine.dispose();
            }
          }
        : undefined,
  });
}
