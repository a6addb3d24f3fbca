import type { FrameResult } from '../pipeline/perception.js';
import type { Truth } from '../pipeline/messages.js';
import { Pairing } from './pairing.js';
import { CameraScorer, scoreFrame } from './scoring.js';
import type { MetricsSummary } from './summary.js';
import { TimelineScorer } from './timeline.js';

/**
 * Replay's scoring: each prediction paired with its frame's ground-truth parts (which may come
 * before or after it), scored once, and the score summed into four totals: the frame's camera,
 * all cameras, the timeline (10 buckets, for the report) and fifths of the drive (adaptation's
 * first and last fifth).
 */
export class FrameScoring {
  readonly overall: CameraScorer;
  readonly #classIndex: Map<string, number>;
  readonly #timeline: TimelineScorer;
  readonly #fifths: TimelineScorer;
  readonly #pairing: Pairing<FrameResult, Truth>;

  constructor(o: {
    readonly classes: readonly string[];
    readonly startNs: bigint;
    readonly durationNs: bigint;
    /** The ground-truth parts a camera's bag carries (a frame waits for all of them). */
    readonly expected: (camera: string) => ReadonlySet<Truth['kind']>;
    /** Keeps a result beyond its frame (its buffers are reused otherwise). */
    readonly retain: (r: FrameResult) => FrameResult;
    readonly cameraScorer: (camera: string) => CameraScorer;
    /** Where dense outputs are compared (scoreFrame's `grid`; default: each prediction's own size). */
    readonly grid?: { readonly width: number; readonly height: number };
  }) {
    this.overall = new CameraScorer(o.classes);
    this.#classIndex = new Map(o.classes.map((c, i) => [c, i]));
    this.#timeline = new TimelineScorer(o.classes, o.startNs, o.durationNs, 10);
    this.#fifths = new TimelineScorer(o.classes, o.startNs, o.durationNs, 5);
    this.#pairing = new Pairing<FrameResult, Truth>({
      expected: o.expected,
      retain: o.retain,
      score: (camera, _stamp, prediction, truth) => {
        const score = scoreFrame(this.#classIndex, prediction, truth, o.grid);
        o.cameraScorer(camera).addScore(score);
        this.overall.addScore(score);
        this.#timeline.addScore(prediction.stampNs, score);
        this.#fifths.addScore(prediction.stampNs, score);
      },
    });
  }

  addTruth(camera: string, stampNs: bigint, truth: Truth): void {
    this.#pairing.addTruth(camera, stampNs, truth.kind, truth);
  }

  addPrediction(camera: string, stampNs: bigint, result: FrameResult): void {
    this.#pairing.addPrediction(camera, stampNs, result);
  }

  /** Scores what can still be paired (the bag is read). */
  flush(): void {
    this.#pairing.flush();
  }

  timeline() {
    return this.#timeline.series();
  }

  fifth(i: number): MetricsSummary {
    return this.#fifths.bucket(i);
  }
}
