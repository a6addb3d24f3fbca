import { isPerceptionError, type PerceptionError } from '../core/errors.js';
import type { BatchRunner, InputSize } from '../scheduler/index.js';
import { ImageDecoder, type EncodedImage, type RgbImage } from './image-decode.js';
import type { FrameResult, Perception } from './perception.js';

/** A camera frame waiting in the scheduler: still encoded, decoded only if it is run. */
export interface FramePayload {
  camera: string;
  topic: string;
  index: number;
  stampNs: bigint;
  logTimeNs: bigint;
  encoded: EncodedImage;
  /** The source image's header frame_id; the results are published in it (unset: resultFrameId's default). */
  frameId?: string;
  /**
   * Whether this frame's overlay should be rendered where it runs (PerceptionWorker renders it
   * in its thread and returns it as `result.overlay`); unset: the runner's own policy.
   */
  overlay?: boolean;
  /**
   * `encoded.data` is a whole ArrayBuffer this frame owns (intake's copy of a transport's
   * message): PerceptionWorker moves it to the worker instead of copying it, and the result's
   * `image` brings it back. The payload's own bytes are detached meanwhile: use the result's
   * image. Unset: the bytes may be a view into something shared (a bag chunk) and are copied.
   */
  owned?: boolean;
}

export type FrameOutcome = { ok: true; result: FrameResult; image: RgbImage } | { ok: false; error: PerceptionError };

const FRAME_ERRORS = new Set(['BAD_IMAGE', 'UNSUPPORTED_ENCODING', 'MESSAGE_DECODE']);

/**
 * The scheduler's view of the model: decode the batch's images (JPEG decoding runs in libuv's
 * thread pool, off the event loop), run the decodable ones as one batch, and return one
 * outcome per frame. A bad frame yields its error and never fails its batch-mates.
 */
export class FrameRunner implements BatchRunner<FramePayload, FrameOutcome> {
  private readonly decoder = new ImageDecoder();

  constructor(private readonly perception: Perception) {}

  async run(frames: readonly FramePayload[], size: InputSize, variant?: string): Promise<readonly FrameOutcome[]> {
    const decoded = await Promise.all(
      frames.map(async (f): Promise<RgbImage | PerceptionError> => {
        try {
          return await this.decoder.decode(f.encoded, { camera: f.camera, topic: f.topic, index: f.index });
        } catch (err) {
          if (isPerceptionError(err) && FRAME_ERRORS.has(err.code)) return err;
          throw err;
        }
      }),
    );
    const outcomes: FrameOutcome[] = new Array(frames.length);
    // Batch what decoded, grouped by decoded size (headers can lie; the engine needs one size).
    const groups = new Map<string, number[]>();
    decoded.forEach((d, i) => {
      if (isPerceptionError(d)) {
        outcomes[i] = { ok: false, error: d };
        return;
      }
      const key = `${d.width}x${d.height}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const idx of groups.values()) {
      const items = idx.map((i) => ({ camera: frames[i].camera, stampNs: frames[i].stampNs, image: decoded[i] as RgbImage }));
      const results = await this.perception.processBatch(items, size, undefined, variant);
      idx.forEach((i, k) => (outcomes[i] = { ok: true, result: results[k], image: items[k].image }));
    }
    return outcomes;
  }
}
