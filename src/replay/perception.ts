import type { BagWriter } from '../bag/types.js';
import { decodeDetections, upscaleDepth, upscaleMask, type Detection } from '../engine/decode.js';
import type { Engine } from '../engine/engine.js';
import { OverlayRenderer, type RgbFrame } from '../engine/overlay.js';
import type { RunnerTensor } from '../engine/runner.js';
import type { RgbImage } from './image-decode.js';
import { depthImage, detectionArray, headerFor, monoImage, rgbImage } from './messages.js';
import { resultTopic } from './topics.js';

/** One frame's decoded results: boxes in camera pixels, dense maps at `width`×`height`. */
export interface FrameResult {
  camera: string;
  stampNs: bigint;
  cameraSize: { width: number; height: number };
  boxes: Detection[];
  lane: { width: number; height: number; data: Uint8Array };
  depth: { width: number; height: number; data: Float32Array };
  segEntropy: number;
  weights: string;
}

export interface PerceptionOptions {
  scoreThreshold: number;
  denseAtCameraSize: boolean;
  overlayWidth: number;
  maxDetections?: number;
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

  constructor(
    readonly engine: Engine,
    private readonly options: PerceptionOptions,
  ) {}

  async process(camera: string, stampNs: bigint, image: RgbImage): Promise<FrameResult> {
    const [out] = await this.engine.infer([image]);
    const m = this.engine.manifest;
    const [H, W] = out.size;
    const heat = need(out.tensors.det_heat, 'det_heat');
    const box = need(out.tensors.det_box, 'det_box');
    const boxes = decodeDetections(
      { dims: heat.dims, data: heat.data as Float32Array },
      { dims: box.dims, data: box.data as Float32Array },
      {
        threshold: this.options.scoreThreshold,
        maxDetections: this.options.maxDetections ?? 100,
        stride: m.strides.det,
        inputSize: out.size,
        cameraSize: { width: image.width, height: image.height },
        classes: m.classes,
      },
    );
    let lane = { width: W, height: H, data: need(out.tensors.seg_mask, 'seg_mask').data as Uint8Array };
    let depth = { width: W, height: H, data: need(out.tensors.depth, 'depth').data as Float32Array };
    if (this.options.denseAtCameraSize) {
      lane = { width: image.width, height: image.height, data: upscaleMask(lane.data, W, H, image.width, image.height) };
      depth = { width: image.width, height: image.height, data: upscaleDepth(depth.data, W, H, image.width, image.height) };
    }
    const entropy = out.tensors.seg_entropy?.data as Float32Array | undefined;
    return {
      camera,
      stampNs,
      cameraSize: { width: image.width, height: image.height },
      boxes,
      lane,
      depth,
      segEntropy: entropy ? entropy[0] : NaN,
      weights: out.weights,
    };
  }

  /** A copy that outlives the engine's next run (for results that wait for late ground truth). */
  retain(r: FrameResult): FrameResult {
    return {
      ...r,
      lane: { ...r.lane, data: r.lane.data.slice() },
      depth: { ...r.depth, data: r.depth.data.slice() },
    };
  }

  overlay(r: FrameResult, image: RgbImage): RgbFrame {
    let renderer = this.overlays.get(r.camera);
    if (!renderer) {
      renderer = new OverlayRenderer({ width: Math.min(this.options.overlayWidth, image.width) });
      this.overlays.set(r.camera, renderer);
    }
    return renderer.render({ image, mask: r.lane, detections: r.boxes });
  }

  /** Writes the frame's result messages, stamped with the source frame's stamp. */
  publish(sink: BagWriter, logTimeNs: bigint, r: FrameResult, overlayOf: RgbImage | null): Promise<unknown> {
    const header = headerFor(r.stampNs, `${r.camera}_camera_optical_frame`);
    const writes = [
      sink.write(resultTopic(r.camera, 'detections'), logTimeNs, detectionArray(header, r.boxes)),
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

function need(t: RunnerTensor | undefined, name: string): RunnerTensor {
  if (!t) throw new Error(`engine did not return ${name}`);
  return t;
}
