import { nsToTime, type CameraInfo } from '../msgs/index.js';
import { cameraInfoTopic } from '../msgs/topics.js';
import { DEFAULT_GROUND_FRAME, TfBuffer, type TfMessageLike } from '../msgs/tf-buffer.js';
import { CameraFocals, toModelDepth } from '../pipeline/depth-focal.js';
import { buildDiagnostics, learnerDiagnostic, type DiagnosticArray } from './diagnostics.js';
import { LEARNER_PARAMS } from './params.js';
import { ADAPTATION_TOPICS, DIAGNOSTICS_TOPIC, TF_STATIC_TOPIC } from './topics.js';
import { SENSOR_DATA_QOS, type Subscription, type Transport } from './transport/types.js';
import { ADAPTATION_STATES, type AdaptationStatus, type FlaggedFrame, type WeightUpdate } from '../msgs/adaptation.js';
import { labelFromTopic, labelTopics } from './label-topics.js';
import { ManagedNode } from './lifecycle.js';
import type { ParameterHost } from './params-host.js';
import { PublisherSet } from './publishers.js';
import { defaultInterval, type IntervalFn, type LearnerCorePort, type LearnerNodePorts, type LearnerParams, type LearnerReport, type NodeLog } from './node-types.js';


export interface LearnerNodeOptions {
  readonly transport: Transport;
  readonly params: ParameterHost;
  readonly nodeName?: string;
  /**
   * Builds the core at configure; default: `createRosLearnerCore` (LearnerCore on the
   * perception node's channel). `NullLearnerCore` is the stand-in that never trains.
   */
  readonly createCore?: (params: LearnerParams, log: NodeLog, ports: LearnerNodePorts) => Promise<LearnerCorePort>;
  /** Model folder used when `model_path` is empty (the bundled default). */
  readonly defaultModelDir?: string;
  readonly log?: NodeLog;
  readonly interval?: IntervalFn;
  /** Diagnostics period (default 1 s). */
  readonly diagnosticsPeriodS?: number;
}

const STATE = Object.fromEntries(ADAPTATION_STATES.map((s, i) => [s, i])) as Record<(typeof ADAPTATION_STATES)[number], number>;

/** A stand-in core (tests, or a node that only relays): counts flags, honours pause, never trains. */
export class NullLearnerCore implements LearnerCorePort {
  #flags = 0;
  #paused = false;
  #listeners: (() => void)[] = [];
  #reason = 'null learner core (flags are counted, nothing is trained)';
  constructor(private readonly log: NodeLog = () => {}) {}
  flagged(): void {
    this.#flags++;
    this.#changed();
  }
  setPaused(paused: boolean): void {
    this.#paused = paused;
    this.#changed();
  }
  rollback(version: string): void {
    this.log('info', `rollback to ${version || 'the previous version'} requested: nothing to roll back without a learner core`);
  }
  report(): LearnerReport {
    return {
      model_name: '', serving_version: '', candidate_version: '', state: this.#paused ? STATE.paused : STATE.idle, reason: this.#reason,
      flagged_frames: this.#flags, labelled_frames: 0, new_domain_score: 0, old_domain_score: 0, serving_new_domain_score: 0, serving_old_domain_score: 0, metrics: [],
    };
  }
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }
  async dispose(): Promise<void> {
    this.#listeners = [];
  }
  #changed(): void {
    for (const l of this.#listeners) l();
  }
}

/**
 * The learner node shell: managed life cycle, LEARNER_PARAMS, `adaptation/status` (latched)
 * and `/diagnostics` out; `adaptation/flagged`, `adaptation/pause`, `adaptation/rollback` in,
 * handed to the core. `announceWeights` is the core's way out to perception.
 */
export class LearnerNode extends ManagedNode {
  readonly transport: Transport;
  readonly params: ParameterHost;
  readonly nodeName: string;
  readonly #o: LearnerNodeOptions;
  readonly #log: NodeLog;
  readonly #pubs: PublisherSet;
  #core: LearnerCorePort | undefined;
  #paused = false;
  #labelErrors = 0;
  #subs: Subscription[] = [];
  #stopTimer: (() => void) | undefined;

  constructor(options: LearnerNodeOptions) {
    super();
    this.#o = options;
    this.transport = options.transport;
    this.params = options.params;
    this.nodeName = options.nodeName ?? 'learner';
    this.#log = options.log ?? (() => {});
    this.#pubs = new PublisherSet(options.transport);
  }

  get core(): LearnerCorePort | undefined {
    return this.#core;
  }

  counts(): { subscriptions: number; publishers: number } {
    return this.transport.counts();
  }

  protected async onConfigure(): Promise<void> {
    const values = this.params.declare(LEARNER_PARAMS);
    const create = this.#o.createCore ?? (await import('./learner-core.js')).createRosLearnerCore;
    const ports: LearnerNodePorts = { announceWeights: (m) => this.announceWeights(m), now: () => this.transport.clock.now(), defaultModelDir: this.#o.defaultModelDir };
    this.#core = await create(values, this.#log, ports);
    this.#core.onChange(() => this.publishStatus());
  }

  protected async onActivate(): Promise<void> {
    const a = ADAPTATION_TOPICS;
    this.#pubs.sync([a.status, a.weights, DIAGNOSTICS_TOPIC].map((s) => ({ ...s, purpose: '' })));
    const t = this.transport;
    this.#subs.push(
      t.subscribe<FlaggedFrame>(a.flagged.topic, a.flagged.type, (m) => this.#core?.flagged(m), { qos: a.flagged.qos }),
      t.subscribe<{ data: boolean }>(a.pause.topic, a.pause.type, (m) => this.#setPaused(m.data), { qos: a.pause.qos }),
      t.subscribe<{ data: string }>(a.rollback.topic, a.rollback.type, (m) => this.#core?.rollback(m.data), { qos: a.rollback.qos }),
    );
    if (this.params.get('label_source') !== 'teacher') this.#subscribeLabels();
    else this.#log('info', 'label_source is teacher: flagged frames are labelled by the teacher model, label_topics are not read');
    this.publishStatus();
    this.#stopTimer = (this.#o.interval ?? defaultInterval)((this.#o.diagnosticsPeriodS ?? 1) * 1000, () => this.publishDiagnostics());
  }

  protected async onDeactivate(): Promise<void> {
    this.#stopTimer?.();
    this.#stopTimer = undefined;
    for (const s of this.#subs) s.dispose();
    this.#subs = [];
    this.#pubs.dispose();
  }

  protected async onCleanup(): Promise<void> {
    const core = this.#core;
    this.#core = undefined;
    await core?.dispose();
  }

  /** Publishes the core's report as AdaptationStatus (latched: rviz2 opened later still sees it). */
  publishStatus(): AdaptationStatus | undefined {
    if (!this.#core) return undefined;
    const msg: AdaptationStatus = { header: { stamp: nsToTime(this.transport.clock.now()), frame_id: '' }, ...this.#core.report() };
    this.#pubs.publish(ADAPTATION_TOPICS.status.topic, msg);
    return msg;
  }

  /** The core's way out: announce signed weights to perception. False when not active. */
  announceWeights(msg: WeightUpdate): boolean {
    return this.#pubs.publish(ADAPTATION_TOPICS.weights.topic, msg);
  }

  publishDiagnostics(): DiagnosticArray {
    const r = this.#core?.report();
    const maxStored = Number(this.params.get('max_stored_samples') ?? 0);
    const learner = {
      state: r ? (ADAPTATION_STATES[r.state] ?? `state ${r.state}`) : this.state,
      servingVersion: r?.serving_version ?? '',
      candidateVersion: r?.candidate_version || undefined,
      flaggedFrames: r?.flagged_frames ?? 0,
      storedSamples: Number(r?.metrics.find((m) => m.key === 'stored')?.value ?? 0),
      maxStoredSamples: maxStored,
      paused: this.#paused,
      lastReason: r?.reason,
      error: r ? (this.#labelErrors > 0 ? `${this.#labelErrors} label message(s) refused (see the log)` : undefined) : `node is ${this.state}`,
    };
    const msg = buildDiagnostics(nsToTime(this.transport.clock.now()), {}, { nodeName: this.nodeName });
    msg.status.push(learnerDiagnostic(learner, { nodeName: this.nodeName }));
    this.#pubs.publish(DIAGNOSTICS_TOPIC.topic, msg);
    return msg;
  }

  /** Annotation topics → the core, matched by camera and stamp there. Bad messages are logged and skipped. */
  #subscribeLabels(): void {
    const core = this.#core;
    if (!core?.label) return;
    // Depth annotations are metres for their camera's lens; the depth tail learns in the model's
    // own units (src/pipeline/depth-focal.ts): each camera's camera_info gives the factor.
    const focals = new CameraFocals({ depth: core.depth }, (l) => this.#log('info', l));
    const topics = labelTopics(this.params.get('label_topics') as string[]);
    if (focals.enabled) {
      for (const camera of new Set(topics.filter((lt) => lt.part === 'depth').map((lt) => lt.camera))) {
        this.#subs.push(this.transport.subscribe<CameraInfo>(cameraInfoTopic(camera), 'sensor_msgs/msg/CameraInfo', (m) => focals.note(camera, m), { qos: SENSOR_DATA_QOS }));
      }
    }
    // And for its height where the model states the height its depth learned: the robot's mounts
    // (/tf_static) above the REP 105 ground frame, as perception scales depth by them. A ROS
    // install without tf2_msgs cannot subscribe: both nodes then keep the model's height.
    const tf = new TfBuffer();
    if (focals.heightAware && topics.some((lt) => lt.part === 'depth')) {
      try {
        this.#subs.push(this.transport.subscribe<TfMessageLike>(TF_STATIC_TOPIC.topic, TF_STATIC_TOPIC.type, (m) => void tf.note(m), { qos: TF_STATIC_TOPIC.qos }));
      } catch (err) {
        this.#log('warn', `${TF_STATIC_TOPIC.topic} not read (${(err as Error).message}); depth labels assume the model's camera height`);
      }
    }
    const mount = (camera: string, msg: unknown) => {
      const id = (msg as { header?: { frame_id?: unknown } })?.header?.frame_id;
      if (tf.size > 0 && typeof id === 'string' && id) focals.mounted(camera, tf.opticalMount(DEFAULT_GROUND_FRAME, id)?.heightM);
    };
    for (const lt of topics) {
      // Best effort matches every publisher (ros2 bag play offers what was recorded).
      this.#subs.push(
        this.transport.subscribe(lt.topic, lt.type, (msg) => {
          try {
            const ev = labelFromTopic(lt, msg, core.classes ?? []);
            const depth = ev.labels.depth;
            if (depth && focals.heightAware) mount(lt.camera, msg);
            core.label?.(depth ? { ...ev, labels: { ...ev.labels, depth: toModelDepth(depth, focals.scale(lt.camera, depth)) } } : ev);
          } catch (err) {
            this.#labelErrors++;
            this.#log('warn', `label on ${lt.topic} refused: ${(err as Error).message}`);
          }
        }, { qos: { ...SENSOR_DATA_QOS, depth: 50 } }),
      );
    }
  }

  #setPaused(paused: boolean): void {
    this.#paused = paused;
    this.#log('info', paused ? 'learning paused by operator' : 'learning resumed');
    this.#core?.setPaused(paused);
  }
}
