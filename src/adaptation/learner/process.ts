import type { TrainerOptions } from './trainer.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeBundle, modelRef } from '../protocol/bundle.js';
import { ChannelClient } from '../protocol/channel.js';
import type { ToLearner } from '../protocol/channel-codec.js';
import type { GateOptions } from './gate.js';
import { LearnerCore } from './learner-core.js';
import { SlackClosedError, SlackWindow } from './slack-window.js';
import { loadIdentity, loadPublicIdentity } from '../protocol/keys.js';
import { SampleStore } from './store.js';
import { initTf } from './tails-tf.js';
import { HEADS, type HeadName } from '../../model/manifest.js';
import { loadModelPackage } from '../../model/package.js';

/**
 * Detection is not adapted online by default: the online targets have no ignore regions for
 * tiny or hidden objects (the offline trainer has), and in the adaptation scenario training
 * the det tail on them cost the training domain half its mAP@0.5 while the gate's small
 * old-domain set did not see it. Seg and depth adapt safely. `--heads det,seg,depth` opts in.
 */
/**
 * Trainer settings of online adaptation (the learner process and the ROS learner node): half
 * of each step from the old-domain reservoir (the gate refuses candidates that forget); lane
 * pixels weigh 8 (the offline factory's 4 is for a model that already knows lanes): measured
 * once, offline on one scenario run's stored samples, held-out lane IoU 0.17 → 0.20 after 600
 * steps (weight 16: 0.16).
 */
export const ADAPT_TRAINER: TrainerOptions = { oldRatio: 0.5, segClassWeights: [1, 8, 1] };

export const DEFAULT_ADAPT_HEADS: readonly HeadName[] = ['seg', 'depth'];

export function parseHeads(value: string): HeadName[] {
  const heads = value.split(',').map((h) => h.trim());
  for (const h of heads) if (!(HEADS as readonly string[]).includes(h)) throw new Error(`--heads: unknown head '${h}' (allowed: ${HEADS.join(', ')})`);
  return heads as HeadName[];
}
import { labelFromMessage, sampleFromMessage } from '../protocol/wire.js';

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
  /** Tails trained online (default seg and depth; see adapt-replay.ts for why not det). */
  heads?: readonly HeadName[];
  log: (line: string) => void;
}

/**
 * The learner: its own OS process. Everything it knows arrives over the authenticated
 * channel; it stores samples durably, trains the head tails only while perception has granted
 * slack (and stops at once on `pause`), gates every candidate, and sends signed bundles back.
 * Resolves when the channel closes or the process is told to stop.
 */
export async function runLearner(o: LearnerProcessOptions): Promise<void> {
  const log = o.log;
  const pkg = await loadModelPackage(o.modelDir);
  const backend = await initTf(log);
  const me = await loadIdentity(o.keysDir, o.identity);
  const server = await loadPublicIdentity(o.keysDir, o.server);
  await mkdir(o.stateDir, { recursive: true });
  const store = SampleStore.open(join(o.stateDir, 'samples.db'));
  const started = performance.now();
  let version = 0;
  let stopping = false;
  let training = Promise.resolve();
  let busy = false;
  // Perception's grants: a window of time, never a queue (see slack-window.ts).
  const slack = new SlackWindow();
  // The channel is connected below; the core only publishes after a slack grant arrives on it.
  const ref: { channel?: ChannelClient } = {};
  const core = new LearnerCore(
    pkg.manifest,
    pkg.tails,
    store,
    {
      clock: () => performance.now() - started,
      log,
      pacer: slack,
      publishCandidate: async (tails, d) => {
        const bytes = encodeBundle(
          { model: modelRef(pkg.manifest), version: d.version, parent: version, created_s: Math.round(Date.now() / 1000), metrics: { val_new: d.val_new_after, val_old: d.val_old_after } },
          tails,
          me.signing.privateKey,
        );
        version = d.version;
        await ref.channel?.send({ kind: 'bundle', version: d.version, bytes }).catch((err: Error) => log(`bundle v${d.version} not delivered: ${err.message}`));
      },
    },
    {
      minNewLabeled: o.minNewSamples ?? 12,
      ...(o.minRouterSamples !== undefined ? { minRouterSamples: o.minRouterSamples } : {}),
      stepsPerCandidate: o.stepsPerCandidate ?? 120,
      trainer: { ...ADAPT_TRAINER, heads: o.heads ?? DEFAULT_ADAPT_HEADS },
      gate: o.gate,
    },
  );
  const channel = await ChannelClient.connect({
    endpoints: o.endpoints,
    keys: me.curve,
    serverKey: server.curveKey,
    log,
    onMessage: (msg: ToLearner) => {
      switch (msg.kind) {
        case 'sample': {
          const r = core.onSample(sampleFromMessage(msg));
          if (r.evicted.length > 0) log(`store: evicted ${r.evicted.length} sample(s)`);
          break;
        }
        case 'label':
          core.onLabel(labelFromMessage(msg));
          break;
        case 'slack':
          // A grant opens the window; a slice starts unless one runs (a paced gate in a slice
          // goes on in the new window). A pause closes it and stops training at its next step.
          slack.grant(msg.grantMs);
          if (!busy && !stopping) {
            busy = true;
            training = slice(slack.remainingMs())
              .catch((err: Error) => {
                if (!(err instanceof SlackClosedError)) log(`training slice failed: ${err.message}`);
              })
              .finally(() => (busy = false));
          }
          break;
        case 'pause':
          slack.revoke();
          core.onPause();
          break;
        case 'serving':
          log(`perception serves v${msg.version}${msg.reason ? ` (${msg.reason})` : ''}`);
          break;
      }
    },
  });
  ref.channel = channel;
  log(`learner ready: tf backend ${backend}, model ${modelRef(pkg.manifest)}, store ${store.file}`);
  await channel.send({ kind: 'status', state: 'ready', detail: { backend } });

  async function slice(grantMs: number): Promise<void> {
    if (stopping) return;
    const r = await core.onSlack(grantMs);
    const d = r.decision;
    if (!d || stopping) return;
    // Perception may be shutting down: a status that cannot be delivered is not worth a crash.
    await channel.send({
      kind: 'status',
      state: 'gate',
      version: d.version,
      detail: { decision: d.decision, val_new: d.val_new_after, val_old: d.val_old_after, val_new_before: d.val_new_before, val_old_before: d.val_old_before, reason: d.reason },
    }).catch((err: Error) => log(`status not delivered: ${err.message}`));
  }

  await new Promise<void>((resolve) => {
    const stop = () => {
      stopping = true;
      slack.close();
      core.onPause();
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await training;
  await channel.close();
  core.dispose();
  store.close();
}
