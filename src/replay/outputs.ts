import { rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { McapBagWriter } from '../bag/mcap-writer.js';
import type { BagInfo } from '../bag/types.js';
import type { Engine } from '../engine/engine.js';
import { nsToSeconds } from '../msgs/index.js';
import type { DropReason, SchedulerSnapshot } from '../scheduler/index.js';
import type { FramePayload } from '../pipeline/frame-runner.js';
import type { GcSummary } from './gc-stats.js';
import type { RgbImage } from '../pipeline/image-decode.js';
import type { TruthPart } from './pairing.js';
import type { FrameResult, Perception } from '../pipeline/perception.js';
import { renderReport } from './report.js';
import { CameraScorer } from './scoring.js';
import { LatencyRecorder, type CameraSummary, type MetricsSummary, type ReplaySummary } from './summary.js';
import { resultTopic } from '../msgs/topics.js';

export interface CameraState {
  frames: number;
  processed: number;
  bad: number;
  drops: Partial<Record<DropReason, number>>;
  latency: LatencyRecorder;
  dispatchDelay: LatencyRecorder;
  scorer: CameraScorer;
  truthParts: Set<TruthPart>;
}

export interface OutputsOptions {
  bag: string;
  outDir: string;
  info: BagInfo;
  engine: Engine;
  perception: Perception;
  writer: McapBagWriter;
  overlayRateHz: number;
  reportOverlays: number;
  total: number;
}

/**
 * Everything a replay leaves behind: result messages, per-camera counters and latencies, the
 * report's overlay strip, and finally summary.json and report.html (written atomically).
 */
export class ReplayOutputs {
  private readonly cameras = new Map<string, CameraState>();
  private readonly badFrames: Record<string, number> = {};
  private readonly registered = new Set<string>();
  private readonly lastOverlay = new Map<string, bigint>();
  private readonly overlays: Array<{ camera: string; stampS: number; png: Uint8Array }> = [];
  private readonly writes: Promise<unknown>[] = [];
  private readonly overlayPeriodNs: bigint;
  private readonly overlayEvery: number;
  private seen = 0;
  bagError: string | undefined;
  /** Events to mark on the report's timeline (weight swaps, rollbacks), in seconds of bag time. */
  readonly markers: Array<{ t: number; label: string }> = [];

  constructor(private readonly o: OutputsOptions) {
    this.overlayPeriodNs = BigInt(Math.round(1e9 / o.overlayRateHz));
    this.overlayEvery = Math.max(1, Math.floor(o.total / Math.max(1, o.reportOverlays)));
  }

  camera(name: string): CameraState {
    let s = this.cameras.get(name);
    if (!s) {
      s = { frames: 0, processed: 0, bad: 0, drops: {}, latency: new LatencyRecorder(), dispatchDelay: new LatencyRecorder(), scorer: new CameraScorer(this.o.engine.manifest.classes), truthParts: new Set() };
      this.cameras.set(name, s);
    }
    return s;
  }

  countBad(code: string, camera?: string): void {
    this.badFrames[code] = (this.badFrames[code] ?? 0) + 1;
    if (camera) this.camera(camera).bad++;
  }

  dropped(camera: string, reason: DropReason): void {
    const d = this.camera(camera).drops;
    d[reason] = (d[reason] ?? 0) + 1;
  }

  /** Records a processed frame and publishes its results (writes are queued, not awaited). */
  processed(camera: string, payload: FramePayload, result: FrameResult, image: RgbImage, latencyMs: number, dispatchDelayMs: number): void {
    const s = this.camera(camera);
    s.processed++;
    s.latency.recordMs(latencyMs);
    s.dispatchDelay.recordMs(Math.max(0, dispatchDelayMs));
    const { writer, perception } = this.o;
    if (!this.registered.has(camera)) {
      this.registered.add(camera);
      for (const [what, type] of [['detections', 'vision_msgs/msg/Detection2DArray'], ['lane_mask', 'sensor_msgs/msg/Image'], ['depth', 'sensor_msgs/msg/Image'], ['overlay', 'sensor_msgs/msg/Image']] as const) {
        this.writes.push(writer.addTopic(resultTopic(camera, what), type));
      }
    }
    const last = this.lastOverlay.get(camera);
    const wantOverlay = last === undefined || result.stampNs - last >= this.overlayPeriodNs;
    if (wantOverlay) this.lastOverlay.set(camera, result.stampNs);
    this.writes.push(perception.publish(writer, payload.logTimeNs, result, wantOverlay ? image : null, payload.frameId));
    if (this.seen++ % this.overlayEvery === 0 && this.overlays.length < this.o.reportOverlays) {
      const ov = perception.overlay(result, image);
      const stampS = nsToSeconds(result.stampNs - this.o.info.startNs);
      // Encoding runs in libuv's pool; copy first because the overlay buffer is reused.
      const data = ov.data.slice();
      this.writes.push(
        sharp(data, { raw: { width: ov.width, height: ov.height, channels: 3 } })
          .png()
          .toBuffer()
          .then((png) => this.overlays.push({ camera, stampS, png })),
      );
    }
  }

  async finish(extra: {
    overall: MetricsSummary;
    timeline: ReplaySummary['timeline'];
    scheduler: SchedulerSnapshot;
    eventLoopDelayMs: { p50: number; p99: number; max: number };
    gc: GcSummary;
    wallS: number;
    mode: string;
    /** Additions from replay hooks (e.g. `adaptation`). */
    extra?: Record<string, unknown>;
  }): Promise<ReplaySummary> {
    await Promise.all(this.writes);
    await this.o.writer.close();
    const perCamera: Record<string, CameraSummary> = {};
    const all = new LatencyRecorder();
    const delay = new LatencyRecorder();
    for (const [name, s] of [...this.cameras].sort(([a], [b]) => a.localeCompare(b))) {
      all.add(s.latency);
      delay.add(s.dispatchDelay);
      if (s.frames === 0 && s.bad === 0) continue;
      const dropped = Object.values(s.drops).reduce((a, b) => a + (b ?? 0), 0);
      const snap = extra.scheduler.cameras[name];
      perCamera[name] = {
        frames: s.frames,
        processed: s.processed,
        dropped,
        drops_by_reason: s.drops,
        deadline_misses: snap?.deadline_misses ?? 0,
        misses_started_late: snap?.late_starts ?? 0,
        bad_frames: s.bad,
        latency_ms: s.latency.summary(),
        metrics: s.scorer.result(),
      };
    }
    const { engine } = this.o;
    const outputs = { results: join(this.o.outDir, 'results.mcap'), summary: join(this.o.outDir, 'summary.json'), report: join(this.o.outDir, 'report.html') };
    const cams = Object.values(perCamera);
    const summary: ReplaySummary = {
      bag: resolve(this.o.bag),
      mode: extra.mode,
      frames: cams.reduce((a, c) => a + c.frames, 0),
      processed: cams.reduce((a, c) => a + c.processed, 0),
      dropped: cams.reduce((a, c) => a + c.dropped, 0),
      drops_by_reason: sumDrops(cams.map((c) => c.drops_by_reason)),
      deadline_misses: cams.reduce((a, c) => a + c.deadline_misses, 0),
      misses_started_late: cams.reduce((a, c) => a + (c.misses_started_late ?? 0), 0),
      bad_frames: this.badFrames,
      latency_ms: all.summary(),
      dispatch_delay_ms: delay.summary(),
      event_loop_delay_ms: round3(extra.eventLoopDelayMs),
      gc_ms: extra.gc,
      metrics: extra.overall,
      timeline: extra.timeline,
      model: { name: engine.manifest.name, version: engine.manifest.version, input_size: [engine.inputSize[0], engine.inputSize[1]], provider: engine.provider },
      per_camera: perCamera,
      scheduler: {
        input_size: extra.scheduler.input_size,
        rung: extra.scheduler.rung,
        ladder_rungs: extra.scheduler.ladder_rungs,
        ladder_changes: extra.scheduler.ladder_changes,
        utilization: extra.scheduler.utilization,
        batches_formed: extra.scheduler.batches_formed,
        batch_sizes: extra.scheduler.batch_sizes,
      },
      bag_duration_s: nsToSeconds(this.o.info.durationNs),
      wall_s: extra.wallS,
      outputs,
      ...(this.bagError ? { bag_error: this.bagError } : {}),
      ...extra.extra,
    };
    const bucketMs = niceBucket((summary.latency_ms?.p99 ?? 10) / 20);
    this.overlays.sort((a, b) => a.stampS - b.stampS || a.camera.localeCompare(b.camera));
    const html = renderReport({
      summary,
      latencyBuckets: all.buckets(bucketMs),
      latencyBucketMs: bucketMs,
      overlays: this.overlays,
      timeline: timelineSeries(extra.timeline),
      markers: this.markers,
    });
    await atomicWrite(outputs.summary, JSON.stringify(summary, null, 2) + '\n');
    await atomicWrite(outputs.report, html);
    for (const s of this.cameras.values()) {
      s.latency.destroy();
      s.dispatchDelay.destroy();
    }
    all.destroy();
    delay.destroy();
    return summary;
  }
}

function timelineSeries(points: ReplaySummary['timeline']): Array<{ name: string; points: Array<{ t: number; v: number }> }> {
  const series = (name: string, pick: (p: ReplaySummary['timeline'][number]) => number | null) => ({
    name,
    points: points.flatMap((p) => {
      const v = pick(p);
      return v === null ? [] : [{ t: p.t, v }];
    }),
  });
  return [
    series('combined', (p) => p.score),
    series('det mAP@0.5', (p) => p.metrics.det_map50),
    series('lane IoU', (p) => p.metrics.lane_iou),
    series('1 − depth AbsRel', (p) => (p.metrics.depth_absrel === null ? null : 1 - p.metrics.depth_absrel)),
  ].filter((s) => s.points.length > 0);
}

function sumDrops(parts: Array<Partial<Record<DropReason, number>>>): Partial<Record<DropReason, number>> {
  const out: Partial<Record<DropReason, number>> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p) as Array<[DropReason, number]>) out[k] = (out[k] ?? 0) + v;
  return out;
}

const round3 = <T extends Record<string, number>>(o: T): T => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 1000) / 1000])) as T;

function niceBucket(ms: number): number {
  for (const step of [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]) if (ms <= step) return step;
  return 1000;
}

async function atomicWrite(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
