import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeBundle, modelRef } from '../learner/bundle.js';
import { ChannelClient } from '../learner/channel.js';
import type { ToLearner } from '../learner/channel-codec.js';
import { Gate, type GateOptions } from '../learner/gate.js';
import { loadIdentity, loadPublicIdentity } from '../learner/keys.js';
import { LabelMatcher } from '../learner/labels.js';
import { SampleStore } from '../learner/store.js';
import { initTf } from '../learner/tails-tf.js';
import { Trainer, type TrainSample, type TrainingSource } from '../learner/trainer.js';
import { loadModelPackage, type TailWeights } from '../model/package.js';
import { labelFromMessage, sampleFromMessage } from './wire.js';

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
  gate?: GateOptions;
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
  const matcher = new LabelMatcher(store);
  const source = storeSource(store);
  let current: TailWeights = pkg.tails;
  // Half of each step from the old-domain reservoir: the gate refuses candidates that forget.
  const trainer = new Trainer(pkg.manifest, current, source, { oldRatio: 0.5 });
  const gate = new Gate(pkg.manifest, o.gate);
  const stepsPerCandidate = o.stepsPerCandidate ?? 120;
  const minNew = o.minNewSamples ?? 12;
  let version = 1;
  let paused = true;
  let stepsSinceCandidate = 0;
  let training = Promise.resolve();
  let stopping = false;
  const started = performance.now();
  const nowMs = () => performance.now() - started;

  const channel = await ChannelClient.connect({
    endpoints: o.endpoints,
    keys: me.curve,
    serverKey: server.curveKey,
    log,
    onMessage: (msg: ToLearner) => {
      switch (msg.kind) {
        case 'sample': {
          const r = store.insert(sampleFromMessage(msg));
          if (r.evicted.length > 0) log(`store: evicted ${r.evicted.length} sample(s)`);
          break;
        }
        case 'label':
          matcher.onLabel(nowMs(), labelFromMessage(msg));
          break;
        case 'slack':
          paused = false;
          training = training.then(() => trainSlice(msg.grantMs));
          break;
        case 'pause':
          paused = true;
          break;
      }
    },
  });
  log(`learner ready: tf backend ${backend}, model ${modelRef(pkg.manifest)}, store ${store.file}`);
  await channel.send({ kind: 'status', state: 'ready', detail: { backend } });

  async function trainSlice(grantMs: number): Promise<void> {
    if (stopping || paused) return;
    const labelledNew = store.count({ domain: 'new', split: 'train', labeled: true });
    if (labelledNew < minNew) return;
    const report = await trainer.trainFor(grantMs, () => paused || stopping);
    stepsSinceCandidate += report.steps;
    if (stepsSinceCandidate >= stepsPerCandidate && !paused) {
      stepsSinceCandidate = 0;
      await consider();
    }
  }

  async function consider(): Promise<void> {
    const heldOut = store.list({ domain: 'new', split: 'val', labeled: true }).map((s) => source.load(s.id));
    const oldRef = store.list({ domain: 'old', split: 'val', labeled: true }).map((s) => source.load(s.id));
    if (heldOut.length < 3 || oldRef.length < 3) return;
    const candidate = trainer.candidate();
    const d = gate.decide(version, current, candidate, heldOut, oldRef);
    store.recordDecision(d);
    log(`gate v${version}: ${d.decision} (${d.reason}) new ${d.val_new_before.toFixed(3)}→${d.val_new_after.toFixed(3)}, old ${d.val_old_before.toFixed(3)}→${d.val_old_after.toFixed(3)}`);
    await channel.send({ kind: 'status', state: 'gate', version, detail: { decision: d.decision, val_new: d.val_new_after, val_old: d.val_old_after, val_new_before: d.val_new_before, val_old_before: d.val_old_before, reason: d.reason } });
    if (d.decision === 'promote') {
      const bytes = encodeBundle(
        { model: modelRef(pkg.manifest), version, parent: version - 1, created_s: Math.round(Date.now() / 1000), metrics: { val_new: d.val_new_after, val_old: d.val_old_after } },
        candidate,
        me.signing.privateKey,
      );
      await channel.send({ kind: 'bundle', version, bytes });
      current = candidate;
    } else {
      trainer.reset(current);
    }
    version++;
  }

  await new Promise<void>((resolve) => {
    const stop = () => {
      stopping = true;
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await training;
  await channel.close();
  store.close();
}

/** The trainer's view of the store: labelled training ids per domain, samples loaded on demand. */
function storeSource(store: SampleStore): TrainingSource {
  return {
    newIds: () => store.list({ domain: 'new', split: 'train', labeled: true }).map((s) => s.id),
    // Old-domain frames split too: the trainer rehearses the train part, the gate checks the val part.
    oldIds: () => store.list({ domain: 'old', split: 'train', labeled: true }).map((s) => s.id),
    load: (id: number): TrainSample => {
      const s = store.get(id);
      return { features: s.features, labels: s.labels, inputSize: s.inputSize, cameraSize: s.cameraSize };
    },
  };
}
