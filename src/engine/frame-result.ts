import type { Manifest } from '../model/manifest.js';
import { asFloatMap, decodeDetections, upscaleDepth, upscaleMask, type Detection } from './decode.js';
import type { RawOutputs } from './types.js';

export interface DecodedFrame {
  /** Boxes in camera pixels (empty when det outputs were not fetched). */
  readonly detections: Detection[];
  /** 0 background, 1 lane, 2 drivable. */
  readonly mask?: { readonly width: number; readonly height: number; readonly data: Uint8Array };
  /** Metres. */
  readonly depth?: { readonly width: number; readonly height: number; readonly data: Float32Array };
  readonly segEntropy?: number;
}

export interface DecodeFrameOptions {
  readonly threshold?: number;
  readonly maxDetections?: number;
  readonly nmsIou?: number;
  /**
   * Resolution of mask and depth: 'model' (default) hands out views of the engine output at
   * no cost; 'camera' upscales (nearest mask, bilinear depth) into new arrays: megabytes per
   * frame at camera sizes, so only for consumers that need pixel alignment with the camera.
   */
  readonly dense?: 'model' | 'camera';
}

/** One frame's engine outputs → detections, mask, depth, ready to publish or score. */
export function decodeFrame(raw: RawOutputs, manifest: Pick<Manifest, 'classes' | 'strides'>, o: DecodeFrameOptions = {}): DecodedFrame {
  const t = raw.tensors;
  const [H, W] = raw.size;
  const { width: Wc, height: Hc } = raw.camera;
  const camera = o.dense === 'camera';
  const detections =
    t.det_heat && t.det_box
      ? decodeDetections(asFloatMap(t.det_heat, 'det_heat'), asFloatMap(t.det_box, 'det_box'), {
          threshold: o.threshold ?? 0.3,
          maxDetections: o.maxDetections ?? 100,
          nmsIou: o.nmsIou,
          stride: manifest.strides.det,
          inputSize: raw.size,
          cameraSize: raw.camera,
          classes: manifest.classes,
        })
      : [];
  let mask: DecodedFrame['mask'];
  if (t.seg_mask?.type === 'uint8') {
    mask = camera ? { width: Wc, height: Hc, data: upscaleMask(t.seg_mask.data, W, H, Wc, Hc) } : { width: W, height: H, data: t.seg_mask.data };
  }
  let depth: DecodedFrame['depth'];
  if (t.depth) {
    const d = asFloatMap(t.depth, 'depth').data;
    depth = camera ? { width: Wc, height: Hc, data: upscaleDepth(d, W, H, Wc, Hc) } : { width: W, height: H, data: d };
  }
  const segEntropy = t.seg_entropy?.type === 'float32' ? t.seg_entropy.data[0] : undefined;
  return { detections, mask, depth, segEntropy };
}
