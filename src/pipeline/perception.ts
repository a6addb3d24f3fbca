import type { BagWriter } from '../bag/types.js';
import { PerceptionError } from '../core/errors.js';
import type { Detection } from '../engine/decode.js';
import { decodeFrame } from '../engine/frame-result.js';
import type { InputSize, OutputName } from '../model/manifest.js';
import type { Engine } from '../engine/engine.js';
import type { RawOutputs } from '../engine/types.js';
import { OverlayRenderer, type RgbFrame } from '../engine/overlay.js';
import type { RunnerTensor } from '../engine/runner.js';
import type { WeightSet } from '../engine/weights.js';
import { poolFeatures, routerScore, RouterState } from '../engine/router.js';
import type { RgbImage } from './image-decode.js';
import { depthImage, detectionArray, headerFor, monoImage, rgbImage } from './messages.js';
import { resultTopic } from '../msgs/topics.js';

/** The tail features a router scores. */
const FEATURE_OUTPUTS: readonly OutputName[] = ['det_feat', 'seg_feat', 'depth_feat'];

/** One frame's decoded results: boxes in camera pixels, dense maps at `width`×`height`. */
/**
 * The frame results are published in: the source image's own header frame_id (rviz2 and TF place
 * the results where the camera is), else `<camera>_camera_optical_frame` for a driver that
 * leaves it empty.
 */
export function resultFrameId(camera: string, sourceFrameId?: string): string {
  return sourceFrameId || `${camera}_camera_optical_frame`;
}

export interface FrameResult {
  camera: string;
  stampNs: bigint;
  cameraSize: { width: number; height: number };
  boxes: Detection[];
  lane: { width: number; height: number; data: Uint8Array };
  depth: { width: number; height: number; data: Float32Array };
  /** Model-input size the frame ran at. */
  size: InputSize;
  /** The precision variant it ran on, when not the engine's main one (a rung of the ladder). */
  variant?: string;
  segEntropy: number;
  weights: string;
  /** The raw engine outputs (features for the learner when asked for). */
  tensors: Partial<Record<OutputName, RunnerTensor>>;
  /** The overlay, when it was rendered where the frame ran (a worker thread); `overlay()` uses it. */
  overlay?: RgbFrame;
}

export interface PerceptionOptions {
  /** Detections at or above this are published and drawn. */
  scoreThreshold: number;
  /**
   * Detections are decoded down to this score (default 0.05) and kept in FrameResult.boxes:
   * mAP needs the whole precision-recall curve, and the flagger looks at ambiguous scores.
   */
  evalThreshold?: number;
  denseAtCameraSize: boolean;
  overlayWidth: number;
  maxDetections?: number;
  /** Engine outputs to fetch (default: the engine's). */
  outputs?: readonly OutputName[];
}

/**
 * The per-frame core shared by replay and the ROS node: run the engine on a camera image,
 * decode its outputs, and turn them into the result messages. Knows nothing of bags or ROS:
 * it publishes through any BagWriter-shaped sink.
 */
export class Perception {
  // One renderer (and so one reused output buffer) per camera: an overlay is serialised
  // before that camera's next frame is drawn.
  private readonly overlays = new Map<string, OverlayRenderer>();
  private readonly routing = new RouterState();
  private routerOf: WeightSet['router'];

  constructor(
    readonly engine: Engine,
    readonly options: PerceptionOptions,
  ) {}

  /** Runs one frame (see processBatch). */
  async process(camera: string, stampNs: bigint, image: RgbImage, size?: InputSize): Promise<FrameResult> {
    const [r] = await this.processBatch([{ camera, stampNs, image }], size);
    return r;
  }

  /**
   * Runs same-size frames as one batch at `size` (default: the engine's input size), on the
   * precision `variant` (default: the engine's main one), with `weights` instead of the
   * engine's current set when given (a candidate's probe).
   */
  async processBatch(frames: ReadonlyArray<{ camera: string; stampNs: bigint; image: RgbImage }>, size?: InputSize, weights?: WeightSet, variant?: string): Promise<FrameResult[]> {
    const current = this.engine.currentWeights;
    // A routed set in service picks, per camera, its adapted tails or the shipped ones; an
    // explicit set (a candidate's probe) runs as given.
    if (!weights && current.router && current.fallback) return this.processRouted(frames, size, current, variant);
    if (weights?.router) return this.probeRouted(frames, size, weights, variant);
    const outs = await this.engine.infer(
      frames.map((f) => f.image),
      { size, outputs: this.options.outputs, weights, variant },
    );
    return this.decode(frames, outs);
  }

  /**
   * A routed candidate run as given (its probe before a swap) also pools its features and scores
   * them with its router, as its frames will be once it serves: the probe is where that code
   * warms up: cold, the first routed frame after a first swap was about three times as slow as
   * a steady one (the pooling loops ran in V8's interpreter;
   * docs/experiments/2026-11-29-latency-and-swaps.md). No routing state changes.
   */
  private async probeRouted(frames: ReadonlyArray<{ camera: string; stampNs: bigint; image: RgbImage }>, size: InputSize | undefined, set: WeightSet, variant: string | undefined): Promise<FrameResult[]> {
    const asked = this.options.outputs ?? this.engine.defaultOutputs;
    const outputs = [...new Set<OutputName>([...asked, ...FEATURE_OUTPUTS])];
    const results = this.decode(frames, await this.engine.infer(frames.map((f) => f.image), { size, outputs, weights: set, variant }));
    for (const r of results) {
      if (!Number.isFinite(routerScore(set.router!, this.pooled(r.tensors)))) {
        throw new PerceptionError('MODEL_RUNTIME', `weight set '${set.id}': its router scores a frame as non-finite`, { field: 'router' });
      }
      for (const name of FEATURE_OUTPUTS) if (!asked.includes(name)) delete r.tensors[name];
    }
    return results;
  }

  /** A frame's tail features pooled for the router. */
  private pooled(t: FrameResult['tensors']): Float32Array {
    const map = (name: OutputName) => {
      const x = t[name]!;
      const [channels, height, width] = x.dims.length === 4 ? x.dims.slice(1) : x.dims;
      return { channels, height, width, data: x.data as Float32Array };
    };
    return poolFeatures({ det: map('det_feat'), seg: map('seg_feat'), depth: map('depth_feat') }, this.engine.manifest.tails);
  }

  /**
   * Runs each frame on the tails its camera is routed to (see engine/router.ts), grouped into
   * one batch per weight set, fetching the tail features the router needs; then scores each
   * frame and updates its camera's routing state for the next frame. Feature outputs nobody
   * asked for are not returned.
   */
  private async processRouted(frames: ReadonlyArray<{ camera: string; stampNs: bigint; image: RgbImage }>, size: InputSize | undefined, ws: WeightSet, variant: string | undefined): Promise<FrameResult[]> {
    if (this.routerOf !== ws.router) {
      this.routing.reset(); // another router's scores mean nothing to this one
      this.routerOf = ws.router;
    }
    const asked = this.options.outputs ?? this.engine.defaultOutputs;
    const outputs = [...new Set<OutputName>([...asked, ...FEATURE_OUTPUTS])];
    const groups = new Map<WeightSet, number[]>();
    frames.forEach((f, i) => {
      const set = this.routing.useAdapted(f.camera) ? ws : ws.fallback!;
      groups.set(set, [...(groups.get(set) ?? []), i]);
    });
    const results: FrameResult[] = new Array(frames.length);
    for (const [set, idx] of groups) {
      const group = idx.map((i) => frames[i]);
      const outs = await this.engine.infer(group.map((f) => f.image), { size, outputs, weights: set, variant });
      this.decode(group, outs).forEach((r, k) => {
        this.routing.observe(r.camera, routerScore(ws.router!, this.pooled(r.tensors)));
        for (const name of FEATURE_OUTPUTS) if (!asked.includes(name)) delete r.tensors[name];
        results[idx[k]] = r;
      });
    }
    return results;
  }

  private decode(frames: ReadonlyArray<{ camera: string; stampNs: bigint; image: RgbImage }>, outs: readonly RawOutputs[]): FrameResult[] {
    return outs.map((out, i) => {
      const { camera, stampNs, image } = frames[i];
      const d = decodeFrame(out, this.engine.manifest, {
        threshold: Math.min(this.options.evalThreshold ?? 0.05, this.options.scoreThreshold),
        maxDetections: this.options.maxDetections ?? 100,
        dense: this.options.denseAtCameraSize ? 'camera' : 'model',
      });
      if (!d.mask || !d.depth) throw new Error('engine did not return seg_mask and depth');
      return {
        camera,
        stampNs,
        cameraSize: { width: image.width, height: image.height },
        size: out.size,
        ...(out.variant !== undefined ? { variant: out.variant } : {}),
        boxes: d.detections,
        lane: d.mask,
        depth: d.depth,
        segEntropy: d.segEntropy ?? NaN,
        weights: out.weights,
        tensors: out.tensors,
      };
    });
  }

  /** A copy that outlives the engine's next run (for results that wait for late ground truth). */
  retain(r: FrameResult): FrameResult {
    return {
      ...r,
      lane: { ...r.lane, data: r.lane.data.slice() },
      depth: { ...r.depth, data: r.depth.data.slice() },
      tensors: {},
      overlay: undefined,
    };
  }

  overlay(r: FrameResult, image: RgbImage): RgbFrame {
    if (r.overlay) return r.overlay;
    let renderer = this.overlays.get(r.camera);
    if (!renderer) {
      renderer = new OverlayRenderer({ width: Math.min(this.options.overlayWidth, image.width) });
      this.overlays.set(r.camera, renderer);
    }
    return renderer.render({ image, mask: r.lane, detections: this.published(r) });
  }

  /** The detections a user gets: those at or above the score threshold. */
  published(r: FrameResult): Detection[] {
    const t = this.options.scoreThreshold;
    return r.boxes.filter((b) => b.score >= t);
  }

  /** Writes the frame's result messages, stamped with the source frame's stamp, in its frame (`frameId`: its header's). */
  publish(sink: BagWriter, logTimeNs: bigint, r: FrameResult, overlayOf: RgbImage | null, frameId?: string): Promise<unknown> {
    const header = headerFor(r.stampNs, resultFrameId(r.camera, frameId));
    const writes = [
      sink.write(resultTopic(r.camera, 'detections'), logTimeNs, detectionArray(header, this.published(r))),
      sink.write(resultTopic(r.camera, 'lane_mask'), logTimeNs, monoImage(header, r.lane.width, r.lane.height, r.lane.data)),
      sink.write(resultTopic(r.camera, 'depth'), logTimeNs, depthImage(header, r.depth.width, r.depth.height, r.depth.data)),
    ];
    if (overlayOf) {
      const o = this.overlay(r, overlayOf);
      writes.push(sink.write(resultTopic(r.camera, 'overlay'), logTimeNs, rgbImage(header, o.width, o.height, o.data)));
    }
    return Promise.all(writes);
  }
}
