import os from 'node:os';
import { FEATURE_OUTPUTS } from '../adaptation/perception/perception-parts.js';
import { DEFAULT_OUTPUTS, Engine } from '../engine/engine.js';
import type { Provider } from '../engine/runner.js';
import { nsToTime, timeToNs, type CameraInfo } from '../msgs/index.js';
import { cameraInfoTopic } from '../msgs/topics.js';
import { FrameRunner, type FrameOutcome, type FramePayload } from '../pipeline/frame-runner.js';
import { CameraFocals, withCameraFocals } from '../pipeline/depth-focal.js';
import { PerceptionWorker } from '../pipeline/perception-worker.js';
import { encodedSize } from '../pipeline/image-size.js';
import { Perception, resultFrameId } from '../pipeline/perception.js';
import { defaultLadderVariants, ladderRungs } from '../pipeline/rungs.js';
import { buildDiagnostics, type DiagnosticArray } from './diagnostics.js';
import { PERCEPTION_PARAMS, cameraParams, inferenceThreads } from './params.js';
import { TfBuffer, type TfMessageLike } from '../msgs/tf-buffer.js';
import { ADAPTATION_TOPICS, cameraOfTopic, perceptionPublications, TF_STATIC_TOPIC, type PublishToggles } from './topics.js';
import { Scheduler, systemClock, type Admission, type CameraConfig, type Clock, type FrameTiming } from '../scheduler/index.js';
import { SENSOR_DATA_QOS, type Subscription, type Transport, type TransportClock, type TransportEvent } from './transport/types.js';
import { stateLabel, type AdaptationStatus, type FlaggedFrame, type WeightUpdate } from '../msgs/adaptation.js';
import { CameraStats } from './camera-stats.js';
import { isFrameError, takeFrame } from '../pipeline/intake.js';
import { ManagedNode } from './lifecycle.js';
import { detectionMarkers, marker, MARKER } from './markers.js';
import type { ParamChange, ParameterHost } from './params-host.js';
import type { PerceptionAdapter } from '../adaptation/perception/adapter.js';
import { offerAnnounced, openPerceptionAdaptation } from './adaptation.js';
import { PublisherSet } from './publishers.js';
import { defaultInterval, type NodeLog, type PerceptionHooks, type PerceptionNodeOptions } from './node-types.js';

/** A frame in the scheduler, with the resolver of its fate (bag backpressure; see onFrame). */
interface NodePayload extends FramePayload {
  readonly settle: () => void;
}

interface Camera {
  readonly name: string;
  readonly topic: string;
  readonly compressed: boolean;
  readonly key: string; // parameter key: a/b → a.b
  readonly stats: CameraStats;
  lastOverlayNs: bigint | undefined;
  /** The frame_id of its images' headers (its optical frame in TF), as last received: the learner's status marker and flags use it. */
  frameId: string | undefined;
}

interface Settings {
  toggles: PublishToggles;
  overlayWidth: number;
  overlayRateHz: number;
  diagnosticsPeriodS: number;
}

/**
 * The perception node: camera topics in, results out, on any Transport. A thin composition of
 * the pieces replay uses — `Scheduler` + `FrameRunner` + `Perception` — with ROS parameters,
 * diagnostics and the managed-node life cycle. Bad input is counted and reported, never thrown.
 */
export class PerceptionNode extends ManagedNode {
  readonly transport: Transport;
  readonly params: ParameterHost;
  readonly nodeName: string;
  readonly #o: PerceptionNodeOptions;
  readonly #log: NodeLog;
  readonly #hooks: PerceptionHooks;
  readonly #pubs: PublisherSet;
  #engine: Engine | undefined;
  // Each camera's depth scale from its camera_info (src/pipeline/depth-focal.ts).
  #focals: CameraFocals | undefined;
  #ownsEngine = false;
  #cameras = new Map<string, Camera>();
  /** The fixed transform tree (/tf_static) when adaptation reads the cameras' mounts (`adaptation.ground_frame`). */
  readonly #tf = new TfBuffer();
  #groundFrame = '';
  /** Per camera, its last logged TF state. */
  readonly #tfState = new Map<string, string>();
  #settings: Settings | undefined;
  #perception: Perception | undefined;
  #runner: FrameRunner | PerceptionWorker | undefined;
  #worker: PerceptionWorker | undefined;
  #scheduler: Scheduler<NodePayload, FrameOutcome> | undefined;
  #rebuild: Promise<void> = Promise.resolve();
  // Results handed back by the scheduler and not yet published (see #onResult).
  #publishing = new Set<Promise<void>>();
  #subs: Subscription[] = [];
  #stopTimer: (() => void) | undefined;
  #events = { transport: 0, publish: 0 };
  #adaptation: PerceptionAdapter | undefined;
  #adaptationError: string | undefined;

  constructor(options: PerceptionNodeOptions) {
    super();
    this.#o = options;
    this.transport = options.transport;
    this.params = options.params;
    this.nodeName = options.nodeName ?? 'perception';
    this.#log = options.log ?? (() => {});
    const log = this.#log;
    const off = 'adaptation is off (adaptation.enabled: false)';
    // With adaptation on, the hooks drive it; without, they say why nothing happens.
    this.#hooks = {
      onFlag: (camera, stampNs) => (this.#adaptation ? void this.#adaptation.operatorFlag(camera, stampNs) : log('info', `operator flag for ${camera} at ${stampNs} ns ignored: ${this.#adaptationError ?? off}`)),
      onRollback: (version) => (this.#adaptation ? void this.#adaptation.rollback(version).catch((err: Error) => log('error', `rollback: ${err.message}`)) : log('info', `rollback to ${version || 'the previous version'} ignored: ${this.#adaptationError ?? off}`)),
      onWeights: (m) => (this.#adaptation ? void offerAnnounced(this.#adaptation, m, this.params.get('adaptation.max_bundle_bytes') as number, log).catch((err: Error) => log('error', `weight update ${m.version}: ${err.message}`)) : log('info', `weight update ${m.version} ignored: ${this.#adaptationError ?? off}`)),
      onLearnerStatus: () => {},
      ...options.hooks,
    };
    this.#pubs = new PublisherSet(options.transport);
  }

  get engine(): Engine | undefined {
    return this.#engine;
  }

  /** Online adaptation, when `adaptation.enabled` and it could start (see the diagnostics otherwise). */
  get adaptation(): PerceptionAdapter | undefined {
    return this.#adaptation;
  }

  /** Live transport entities this node holds (zero when inactive). */
  counts(): { subscriptions: number; publishers: number } {
    return this.transport.counts();
  }

  /** Frames waiting in the scheduler, running, or with results not yet published (0 when idle or inactive). */
  pendingFrames(): number {
    const s = this.#scheduler;
    return (s ? s.pending + s.inFlightCount : 0) + this.#publishing.size;
  }

  /** Feed the transport's events here (its `onEvent` is set when it is opened, before the node exists). */
  handleTransportEvent(e: TransportEvent): void {
    const cam = [...this.#cameras.values()].find((c) => c.topic === e.topic || e.topic.endsWith(c.topic));
    if (e.kind === 'decode_error' && cam) cam.stats.problem(e.error.code, e.error.message);
    else if (e.kind === 'publish_error') this.#events.publish++;
    else this.#events.transport++;
    this.#log(e.kind === 'publish_error' ? 'error' : 'warn', `${e.kind} on ${e.topic}: ${e.kind === 'handler_error' ? String(e.error) : e.error.message}`);
  }

  protected async onConfigure(): Promise<void> {
    const base = this.params.declare(PERCEPTION_PARAMS);
    const topics = base.get('camera_topics') as string[];
    const cams = topics.map((topic) => ({ topic, ...cameraOfTopic(topic) }));
    this.params.declare(cams.flatMap((c) => cameraParams(c.camera)));
    this.#cameras = new Map(
      cams.map((c) => [c.camera, { name: c.camera, topic: c.topic, compressed: c.compressed, key: c.camera.replace(/\//g, '.'), stats: new CameraStats(c.camera, c.topic), lastOverlayNs: undefined, frameId: undefined }]),
    );
    const get = (n: string) => this.params.get(n);
    this.#settings = {
      toggles: { overlay: get('publish.overlay') === true, depth: get('publish.depth') === true, lane_mask: get('publish.lane_mask') === true, markers: get('publish.markers') === true },
      overlayWidth: get('overlay.width') as number,
      overlayRateHz: get('overlay.max_rate_hz') as number,
      diagnosticsPeriodS: get('diagnostics_period_s') as number,
    };
    if (this.#o.engine) this.#engine = this.#o.engine;
    else {
      const modelDir = (get('model_path') as string) || this.#o.defaultModelDir;
      if (!modelDir) throw new Error('model_path is empty and no default model folder was given');
      const open = this.#o.openEngine ?? ((o) => Engine.create(o));
      const threads = get('inference') === 'main' ? inferenceThreads(get('inference_threads') as number, 'main', os.availableParallelism()) : undefined;
      // With adaptation, every frame also fetches the learner's features: the engine's narrow graph must keep them.
      const outputs = get('adaptation.enabled') === true ? [...new Set([...DEFAULT_OUTPUTS, ...FEATURE_OUTPUTS])] : undefined;
      this.#engine = await open({ modelDir, providers: get('execution_providers') as Provider[], ...(threads ? { threads } : {}), ...(outputs ? { outputs } : {}), log: (l) => this.#log('info', l) });
      this.#ownsEngine = true;
    }
    this.#focals = new CameraFocals(this.#engine.manifest, (l) => this.#log('info', l));
    // A package that states the camera height its depth learned: each camera's height from TF scales depth.
    if (this.#focals.heightAware) this.#groundFrame = String(get('adaptation.ground_frame') ?? '');
    if (get('adaptation.enabled') === true) await this.#openAdaptation();
    this.#buildPerception();
    if (get('inference') === 'worker') await this.#openWorker();
    // The ladder's other precision variants (rungs), opened once here when the model runs on
    // this thread; the worker opens its own.
    if (!this.#worker && this.#ownsEngine) {
      const e = this.#engine;
      const modelDir = (get('model_path') as string) || this.#o.defaultModelDir || '';
      await e.openVariants(defaultLadderVariants(e.manifest, e.provider), { modelDir, log: (l) => this.#log('info', l) });
    }
    this.params.onChange((changes) => this.#onParams(changes));
    const e = this.#engine;
    this.#log('info', `configured: ${e.manifest.name} ${e.manifest.version} on ${e.provider}, cameras ${topics.join(', ')}`);
  }

  protected async onActivate(): Promise<void> {
    this.#scheduler = this.#newScheduler();
    this.#scheduler.start();
    this.#adaptation?.attach(this.#scheduler);
    this.#pubs.sync(this.#wantedPublications());
    const t = this.transport;
    for (const cam of this.#cameras.values()) {
      const type = cam.compressed ? 'sensor_msgs/msg/CompressedImage' : 'sensor_msgs/msg/Image';
      this.#subs.push(t.subscribe(cam.topic, type, (msg, info) => this.#onFrame(cam, msg, info)));
      // The camera's intrinsics, beside its image topic (image_transport's convention): depth in
      // metres for its own lens. Best effort takes both reliable and best-effort publishers.
      if (this.#focals?.enabled) this.#subs.push(t.subscribe<CameraInfo>(cameraInfoTopic(cam.name), 'sensor_msgs/msg/CameraInfo', (m) => this.#focals?.note(cam.name, m), { qos: SENSOR_DATA_QOS }));
    }
    // Where the cameras are mounted: their heights scale depth (a package that states the height
    // its depth learned) and go to the learner's depth cue. A ROS install without tf2_msgs (a
    // minimal one) cannot subscribe: depth then assumes the model's height, and the learner uses
    // its told one.
    if ((this.#adaptation || this.#focals?.heightAware) && this.#groundFrame) {
      const spec = TF_STATIC_TOPIC;
      try {
        this.#subs.push(
          t.subscribe<TfMessageLike>(
            spec.topic,
            spec.type,
            (m) => {
              if (this.#tf.note(m) !== 0) this.#updateHeights();
            },
            { qos: spec.qos },
          ),
        );
      } catch (err) {
        this.#log('warn', `${spec.topic} not read (${(err as Error).message}); depth assumes the model's camera height, the learner uses its teacher_camera_height`);
      }
    }
    const a = ADAPTATION_TOPICS;
    this.#subs.push(
      t.subscribe<FlaggedFrame>(a.flag.topic, a.flag.type, (m) => this.#hooks.onFlag(m.camera, timeToNs(m.header.stamp), m), { qos: a.flag.qos }),
      t.subscribe<{ data: string }>(a.rollback.topic, a.rollback.type, (m) => this.#hooks.onRollback(m.data), { qos: a.rollback.qos }),
      t.subscribe<WeightUpdate>(a.weights.topic, a.weights.type, (m) => this.#hooks.onWeights(m), { qos: a.weights.qos }),
      t.subscribe<AdaptationStatus>(a.status.topic, a.status.type, (m) => this.#onLearnerStatus(m), { qos: a.status.qos }),
    );
    this.#startTimer();
  }

  protected async onDeactivate(): Promise<void> {
    this.#stopTimer?.();
    this.#stopTimer = undefined;
    for (const s of this.#subs) s.dispose();
    this.#subs = [];
    this.#adaptation?.detach();
    await this.#rebuild;
    const s = this.#scheduler;
    this.#scheduler = undefined;
    if (s) {
      await s.stop(); // results of frames in flight are still published
      s.dispose();
    }
    await Promise.all([...this.#publishing]);
    this.#pubs.dispose();
  }

  protected async onCleanup(): Promise<void> {
    this.params.onChange(undefined);
    const a = this.#adaptation;
    this.#adaptation = undefined;
    this.#adaptationError = undefined;
    await a?.close();
    this.#perception = undefined;
    this.#runner = undefined;
    const w = this.#worker;
    this.#worker = undefined;
    await w?.dispose();
    const e = this.#engine;
    this.#engine = undefined;
    if (e && this.#ownsEngine) await e.dispose();
    this.#ownsEngine = false;
  }

  /** Where the model runs: a worker thread, or this node's thread (see the `inference` parameter). */
  get inferenceThread(): 'worker' | 'node' {
    return this.#runner instanceof PerceptionWorker ? 'worker' : 'node';
  }

  /** Builds and publishes one DiagnosticArray now (the timer calls this every `diagnostics_period_s`). */
  publishDiagnostics(): DiagnosticArray {
    const snap = this.#scheduler?.snapshot();
    const now = performance.now();
    const cameras = [...this.#cameras.values()].map((c) => ({
      ...c.stats.status(now, this.#budget(c), snap?.cameras[c.name]),
      ...(c.frameId ? { frameId: c.frameId } : {}),
      ...(this.#adaptation && this.#groundFrame ? { mount: { groundFrame: this.#groundFrame, heightM: this.#cameraMount(c.name)?.heightM } } : {}),
    }));
    const e = this.#engine;
    const a = this.#adaptation?.counts();
    const errors = [this.#events.publish > 0 ? `${this.#events.publish} publish error(s)` : '', this.#adaptationError ? `adaptation unavailable: ${this.#adaptationError}` : ''].filter(Boolean);
    const adaptation = a ? { swaps: a.swaps, rollbacks: a.rollbacks, servingWeights: `v${a.servingVersion}`, rejectedUpdates: a.rejected, lastRejectedUpdate: a.lastRejected } : { swaps: 0, rollbacks: 0 };
    const model = e
      ? { name: e.manifest.name, version: e.manifest.version, executionProvider: e.provider, loaded: true, ...adaptation, error: errors.length > 0 ? errors.join('; ') : undefined }
      : { name: 'none', version: '', executionProvider: '', loaded: false, swaps: 0, rollbacks: 0, error: `node is ${this.state}` };
    const msg = buildDiagnostics(nsToTime(this.transport.clock.now()), { cameras, model }, { nodeName: this.nodeName });
    this.#pubs.publish('/diagnostics', msg);
    for (const c of this.#cameras.values()) c.stats.resetProblems();
    return msg;
  }

  /** Port for the learner integration: publish an automatically flagged frame for the learner. */
  publishFlagged(msg: FlaggedFrame): boolean {
    const cam = this.#cameras.get(msg.camera);
    if (cam?.frameId) msg = { ...msg, header: { ...msg.header, frame_id: cam.frameId } };
    return this.#pubs.publish(ADAPTATION_TOPICS.flagged.topic, msg);
  }

  #onFrame(cam: Camera, msg: unknown, info: { topic: string; index: number; receiveTimeNs: bigint; sourceTimeNs?: bigint }): Promise<void> | undefined {
    cam.stats.arrived(performance.now());
    const scheduler = this.#scheduler;
    if (!scheduler) return undefined;
    let frame;
    try {
      frame = takeFrame(msg, cam.compressed, info, cam.name);
    } catch (err) {
      if (!isFrameError(err)) throw err;
      cam.stats.problem(err.code, err.message);
      this.#log('warn', `frame rejected: ${err.code}: ${err.message}`);
      return undefined;
    }
    cam.stats.input = frame.input;
    const newFrame = cam.frameId !== frame.frameId;
    cam.frameId = frame.frameId;
    if (newFrame && this.#focals?.heightAware && this.#tf.size > 0) this.#focals.mounted(cam.name, this.#cameraMount(cam.name)?.heightM);
    // The promise settles with the frame's fate: BagTransport in fast mode waits for it (so a
    // replay runs every frame); a live transport does not wait, and the mailbox keeps the latest.
    let settle!: () => void;
    const fate = new Promise<void>((r) => (settle = r));
    // Intake's copy is the frame's own: the inference worker moves it instead of copying it.
    const payload: NodePayload = { camera: cam.name, topic: cam.topic, index: info.index, stampNs: frame.stampNs, logTimeNs: info.receiveTimeNs, encoded: frame.encoded, ...(frame.frameId ? { frameId: frame.frameId } : {}), owned: this.#o.moveFrames ?? true, settle };
    const outcome = scheduler.offer(cam.name, payload, { stampNs: frame.stampNs, sourceSize: encodedSize(frame.encoded) });
    if (outcome !== 'queued') settle();
    return fate;
  }

  #onResult(camera: string, payload: NodePayload, outcome: FrameOutcome, timing: FrameTiming): void {
    const cam = this.#cameras.get(camera);
    if (!cam || !outcome.ok) {
      if (cam && !outcome.ok) {
        cam.stats.problem(outcome.error.code, outcome.error.message);
        this.#log('warn', `frame skipped: ${outcome.error.code}: ${outcome.error.message}`);
      }
      payload.settle();
      return;
    }
    cam.stats.processed++;
    cam.stats.modelInput = timing.size;
    const f = this.#focals;
    cam.stats.depthScale = f?.enabled ? { factor: f.scale(camera), fromCameraInfo: f.known(camera) } : undefined;
    if (timing.endMs > timing.deadlineMs) cam.stats.deadlineMisses++;
    // Publish on the next turn of the event loop, not inside the scheduler's completion: the
    // scheduler hands the model its next frame first (its pump polls in a microtask), so another
    // camera's frame runs while this thread serialises and publishes this one. Publishing
    // inline kept the second of two cameras that arrive together waiting for the first one's
    // messages, past its deadline (the live two-camera test served 1 to 9 of its 60 frames).
    // setImmediate keeps the results in completion order; deactivation waits for them. Only
    // with the worker: there the result's image is this frame's own; on the node thread a
    // converted frame's pixels live in a per-camera scratch buffer the next frame reuses, and
    // the model shares the thread anyway.
    const publish = () => {
      try {
        this.#publishResult(cam, outcome, payload.frameId);
        this.#adaptation?.onFrame(outcome.result, outcome.image);
      } catch (err) {
        this.#log('error', `publishing ${camera}'s results: ${(err as Error).message}`);
      } finally {
        payload.settle();
      }
    };
    if (!this.#worker) return publish();
    const job = new Promise<void>((resolve) =>
      setImmediate(() => {
        publish();
        resolve();
      }),
    );
    this.#publishing.add(job);
    void job.then(() => this.#publishing.delete(job));
  }


  #publishResult(cam: Camera, outcome: Extract<FrameOutcome, { ok: true }>, frameId: string | undefined): void {
    const s = this.#settings!;
    const r = outcome.result;
    const periodNs = BigInt(Math.round(1e9 / s.overlayRateHz));
    const wantOverlay = s.toggles.overlay && (cam.lastOverlayNs === undefined || r.stampNs - cam.lastOverlayNs >= periodNs || r.stampNs < cam.lastOverlayNs);
    if (wantOverlay) cam.lastOverlayNs = r.stampNs;
    const logTimeNs = this.transport.clock.now();
    void this.#perception!.publish(this.#pubs, logTimeNs, r, wantOverlay ? outcome.image : null, frameId);
    const header = { stamp: nsToTime(r.stampNs), frame_id: resultFrameId(cam.name, frameId) };
    if (s.toggles.markers) this.#pubs.publish(`${cam.name}/perception/markers`, detectionMarkers(r, header));
    // End to end, as a robot sees it: from the camera's header stamp to this publish, on the
    // node's clock (sim time under use_sim_time). It includes transport and queueing before the
    // node; the node's own share (arrival to results) is in /diagnostics.
    this.#pubs.publish(`${cam.name}/perception/latency_ms`, { data: Number(logTimeNs - r.stampNs) / 1e6 });
  }

  #onLearnerStatus(m: AdaptationStatus): void {
    const first = [...this.#cameras.values()][0];
    const header = { stamp: { ...m.header.stamp }, frame_id: first ? resultFrameId(first.name, first.frameId) : '' };
    const text = `${m.model_name} ${m.serving_version}: ${stateLabel(m.state)}${m.candidate_version ? ` (candidate ${m.candidate_version})` : ''}${m.reason ? ` — ${m.reason}` : ''}`;
    const label = marker(header, 'adaptation/status', 0, MARKER.TEXT_VIEW_FACING, MARKER.ADD, 0);
    label.pose = { position: { x: 0, y: -1.5, z: 5 }, orientation: { x: 0, y: 0, z: 0, w: 1 } };
    label.scale = { x: 0, y: 0, z: 0.3 };
    label.text = text;
    this.#pubs.publish(ADAPTATION_TOPICS.statusText.topic, { markers: [label] });
    this.#hooks.onLearnerStatus(m);
  }

  #wantedPublications() {
    return perceptionPublications([...this.#cameras.values()].map((c) => c.topic), this.#settings!.toggles);
  }

  /** Each camera's height from TF into the depth scale (a package that states the height its depth learned). */
  #updateHeights(): void {
    if (!this.#focals?.heightAware) return;
    for (const cam of this.#cameras.values()) if (cam.frameId) this.#focals.mounted(cam.name, this.#cameraMount(cam.name)?.heightM);
  }

  /**
   * The camera's mount over `adaptation.ground_frame` from the transform tree, or undefined
   * (no frame_id on its images yet, TF not connecting them, no ground frame). Logged when it changes.
   */
  #cameraMount(camera: string): { heightM: number; pitchRad: number } | undefined {
    const cam = this.#cameras.get(camera);
    const ground = this.#groundFrame;
    if (!cam || !ground) return undefined;
    const m = cam.frameId ? this.#tf.opticalMount(ground, cam.frameId) : undefined;
    const fallback = this.#adaptation ? "depth assumes the model's camera height, the learner uses its teacher_camera_height" : "depth assumes the model's camera height";
    const state = m !== undefined ? `${m.heightM.toFixed(2)} m above ${ground}, pitched ${m.pitchRad.toFixed(3)} rad down (TF, frame ${cam.frameId})` : cam.frameId ? `not in TF: no transform from ${cam.frameId} to ${ground} yet (${fallback})` : `not in TF: its images name no frame_id (${fallback})`;
    if (this.#tfState.get(camera) !== state) {
      this.#tfState.set(camera, state);
      this.#log('info', `camera ${camera}: ${state}`);
    }
    return m;
  }

  #budget(c: Camera): number {
    return this.params.get(`cameras.${c.key}.budget_ms`) as number;
  }

  async #openAdaptation(): Promise<void> {
    const publishFlagged = (m: FlaggedFrame) => void this.publishFlagged(m);
    try {
      const modelDir = (this.params.get('model_path') as string) || this.#o.defaultModelDir;
      this.#adaptation = await openPerceptionAdaptation({ get: (n) => this.params.get(n), engine: this.#engine!, modelDir, publishFlagged, log: this.#log, flagger: this.#o.flagger, intrinsics: (camera, size) => this.#focals?.intrinsics(camera, size), cameraMount: (camera) => this.#cameraMount(camera) });
      this.#groundFrame = String(this.params.get('adaptation.ground_frame') ?? '');
      this.#log('info', `adaptation on: serving weights v${this.#adaptation.servingVersion}, channel ${this.#adaptation.endpoints.uplink} / ${this.#adaptation.endpoints.downlink}`);
    } catch (err) {
      // Perception without adaptation is still perception: report it, do not refuse to run.
      this.#adaptationError = (err as Error).message;
      this.#log('error', `adaptation unavailable, running without it: ${this.#adaptationError}`);
    }
  }

  #buildPerception(): void {
    // With adaptation on, the engine also fetches the tails' input features (the learner's samples).
    const outputs = this.#adaptation ? [...new Set([...DEFAULT_OUTPUTS, ...FEATURE_OUTPUTS])] : undefined;
    this.#perception = new Perception(this.#engine!, { scoreThreshold: this.#o.scoreThreshold ?? 0.3, denseAtCameraSize: false, overlayWidth: this.#settings!.overlayWidth, outputs });
    // The worker (when there is one) keeps running; this Perception publishes and draws overlays.
    this.#runner = this.#worker ?? new FrameRunner(this.#perception);
  }

  /**
   * Moves inference to a worker thread (PerceptionWorker: its own engine of the same model, one
   * ONNX Runtime thread, following this engine's weight swaps at frame boundaries), so that
   * subscriptions, timers and services keep their turns while the model runs. Overlays are
   * drawn here, at their own rate. Without a model folder (an engine handed in, e.g. in tests),
   * or if the worker cannot start, the model runs on this thread and the log says so.
   */
  async #openWorker(): Promise<void> {
    const modelDir = (this.params.get('model_path') as string) || this.#o.defaultModelDir;
    if (!modelDir) {
      this.#log('info', 'inference on the node thread: no model folder to open in a worker (engine handed in)');
      return;
    }
    const e = this.#engine!;
    try {
      // Results bring back only the raw outputs this thread reads: with adaptation, its drift
      // statistic and the tails' features (flagged and operator-flagged frames are taken from
      // the frames kept here); without, none (the worker decodes them).
      const returnTensors = this.#adaptation ? FEATURE_OUTPUTS : [];
      const variants = defaultLadderVariants(e.manifest, e.provider);
      this.#worker = await PerceptionWorker.create({ modelDir, providers: [e.provider], inputSize: e.inputSize, variants, threads: this.#o.workerThreads ?? inferenceThreads(this.params.get('inference_threads') as number, 'worker', os.availableParallelism()), perception: this.#perception!.options, follow: e, returnTensors, log: (l) => this.#log('info', l) });
      this.#runner = this.#worker;
      this.#log('info', `inference in a worker thread (${e.provider}, ${this.#worker.threads} ONNX Runtime thread${this.#worker.threads === 1 ? '' : 's'})`);
    } catch (err) {
      this.#log('warn', `inference on the node thread: the worker did not start: ${(err as Error).message}`);
    }
  }

  #newScheduler(overrides: Readonly<Record<string, unknown>> = {}): Scheduler<NodePayload, FrameOutcome> {
    const engine = this.#engine!;
    const value = (n: string) => (n in overrides ? overrides[n] : this.params.get(n)) as number;
    const cameras: Record<string, CameraConfig> = {};
    for (const c of this.#cameras.values()) cameras[c.name] = { budgetMs: value(`cameras.${c.key}.budget_ms`), priority: value(`cameras.${c.key}.priority`) };
    // Rungs: every ladder size up to the engine's, times the precision variants the runner has
    // sessions for (src/pipeline/rungs.ts); the scheduler learns their costs as it runs them.
    const variants = this.#worker?.variants ?? engine.variants;
    return new Scheduler<NodePayload, FrameOutcome>({
      cameras,
      rungs: ladderRungs(engine.manifest, { main: engine.precision, maxSize: engine.inputSize, variants }),
      runner: this.#focals ? withCameraFocals(this.#runner!, this.#focals) : this.#runner!,
      clock: this.transport.clock.source === 'sim' ? simClock(this.transport.clock) : systemClock,
      batching: { enabled: true, maxBatch: Math.min(4, this.#cameras.size) },
      admission: ('deadline_admission' in overrides ? overrides.deadline_admission : this.params.get('deadline_admission')) as Admission,
      onResult: (camera, payload, outcome, timing) => this.#onResult(camera, payload, outcome, timing),
      onDrop: (camera, reason, payload) => {
        this.#cameras.get(camera)?.stats.drop(reason);
        payload.settle();
      },
      onError: (err, where) => this.#log('error', `scheduler ${where.phase}${where.camera ? ` (${where.camera})` : ''}: ${(err as Error).message}`),
    });
  }

  /** Accepts or refuses a validated set (the spec validator ran first) and applies it. */
  #onParams(changes: readonly ParamChange[]): string | undefined {
    const s = this.#settings;
    if (!s) return 'node is not configured';
    let reschedule = false;
    let rebuildPerception = false;
    const next: Record<string, unknown> = {};
    for (const { name, value } of changes) {
      next[name] = value;
      const toggle = /^publish\.(overlay|depth|lane_mask|markers)$/.exec(name);
      if (toggle) s.toggles = { ...s.toggles, [toggle[1]]: value === true };
      else if (name === 'overlay.max_rate_hz') s.overlayRateHz = value as number;
      else if (name === 'overlay.width') {
        s.overlayWidth = value as number;
        rebuildPerception = true;
      }
      else if (name === 'diagnostics_period_s') s.diagnosticsPeriodS = value as number;
      else if (/^cameras\..+\.(budget_ms|priority)$/.test(name) || name === 'deadline_admission') reschedule = true;
    }
    if (this.state !== 'active' || !this.#scheduler) {
      if (rebuildPerception && this.#engine) this.#buildPerception();
      return undefined;
    }
    this.#pubs.sync(this.#wantedPublications());
    if (changes.some((c) => c.name === 'diagnostics_period_s')) this.#startTimer();
    if (reschedule || rebuildPerception) this.#swapScheduler(next, rebuildPerception);
    return undefined;
  }

  /**
   * The scheduler takes its camera table at construction, so a budget or priority change builds
   * a new one: it takes new frames at once and starts running them once the old one has finished
   * the frames it was running (frames still waiting in the old mailboxes are dropped as
   * `shutdown`). Latency percentiles restart; the node's own counters carry on.
   */
  #swapScheduler(overrides: Record<string, unknown>, rebuildPerception: boolean): void {
    const old = this.#scheduler!;
    if (rebuildPerception) this.#buildPerception();
    const fresh = this.#newScheduler(overrides);
    this.#scheduler = fresh;
    this.#adaptation?.attach(fresh);
    this.#rebuild = this.#rebuild.then(async () => {
      await old.stop();
      old.dispose();
      if (this.#scheduler === fresh) fresh.start();
    });
  }

  #startTimer(): void {
    this.#stopTimer?.();
    const interval = this.#o.interval ?? defaultInterval;
    this.#stopTimer = interval(this.#settings!.diagnosticsPeriodS * 1000, () => {
      try {
        this.publishDiagnostics();
      } catch (err) {
        this.#log('error', `diagnostics: ${(err as Error).message}`);
      }
    });
  }
}

/**
 * The scheduler's clock under `use_sim_time`: the transport's sim time (the bag's log time, or
 * /clock), in milliseconds, never going backwards (a looping bag would otherwise make every
 * deadline absurd). Timers stay on the wall clock: they only pace the pump.
 */
export function simClock(clock: TransportClock): Clock {
  let last = 0;
  return {
    now: () => (last = Math.max(last, Number(clock.now()) / 1e6)),
    setTimer: (ms, fn) => systemClock.setTimer(ms, fn),
  };
}
