import type { BagInfo, BagReader } from '../bag/types.js';
import { classifyTopic } from '../msgs/topics.js';
import type { FrameOutcome, FramePayload } from '../pipeline/frame-runner.js';
import { encodedSize } from '../pipeline/image-size.js';
import { rungKey, type BatchRunner, type Rung, type Scheduler } from '../scheduler/index.js';
import { encodedImage } from './source.js';

/**
 * Runs the cameras' first frames at every rung (size × variant) and batch size before the clock starts,
 * and teaches the scheduler what each run cost (every run, 2 to 4 per rung and batch, in rounds). The engine warms up on a small grey frame; the
 * first runs on real frames were still slow (a new input shape for the in-graph resize, each
 * camera's first frame, each batch size's first batch), and, planned on the prior cost, they
 * held most of the bench's four-camera deadline misses
 * (docs/experiments/2026-11-29-realtime-scheduling.md). Each frame runs under its own camera's name, so each
 * camera's buffers exist before its first live frame; results are discarded and stamped 0, so
 * the overlay rate of live frames does not move (a routed weight set, restored at start, scores
 * these frames into the camera's routing average as it would the same first live frame).
 */
export async function warmUpOnBagFrames(reader: BagReader, cameraTopics: BagInfo['topics'], runner: BatchRunner<FramePayload, FrameOutcome>, scheduler: Scheduler<FramePayload, FrameOutcome>, rungs: readonly Rung[], maxBatch: number, log: (line: string) => void): Promise<void> {
  const frames: FramePayload[] = [];
  for (const t of cameraTopics) {
    const role = classifyTopic(t.topic, t.type);
    if (role.role !== 'camera') continue;
    try {
      for await (const m of reader.messages({ topics: [t.topic] })) {
        frames.push({ camera: role.camera, topic: m.topic, index: m.index, stampNs: 0n, logTimeNs: m.logTimeNs, encoded: encodedImage(m, role.compressed) });
        break;
      }
    } catch (err) {
      log(`warm-up skipped: the first frame of ${t.topic} could not be read (${(err as Error).message})`);
      return;
    }
  }
  if (frames.length === 0) return;
  // Only frames of one raw size batch together (as the scheduler batches them).
  const first = encodedSize(frames[0].encoded);
  const same = frames.filter((f) => {
    const a = encodedSize(f.encoded);
    return a !== undefined && first !== undefined && a[0] === first[0] && a[1] === first[1];
  });
  const timed = async (batch: FramePayload[], rung: Rung): Promise<number | undefined> => {
    const t0 = performance.now();
    const outcomes = await runner.run(batch, rung.size, rung.variant);
    const bad = outcomes.find((o) => !o.ok);
    if (bad !== undefined && !bad.ok) {
      log(`warm-up stopped: a first frame did not run (${bad.error.message})`);
      return undefined;
    }
    return performance.now() - t0;
  };
  // Each camera's first frame once (its own buffers), then every rung and batch in rounds, one
  // run of each a round, until each one's last two runs agree within 20 % (2 to 4 rounds); the
  // scheduler learns every run. Rounds, not one rung's runs back to back: the ladder keeps a
  // smaller rung only if its lowest run is cheaper than the bigger one's, and on a shared machine
  // a burst of contention that covered all of one rung's runs took a cheaper rung off the ladder
  // (a replay test under CI load saw no rung to step down to). Interleaved, a burst falls on
  // every rung alike.
  for (const f of frames) if ((await timed([f], rungs[0])) === undefined) return;
  const jobs: { rung: Rung; batch: FramePayload[]; last: number; prev: number }[] = [];
  for (const rung of rungs) {
    for (let n = 1; n <= Math.min(maxBatch, Math.max(1, same.length)); n++) jobs.push({ rung, batch: n === 1 ? [frames[0]] : same.slice(0, n), last: NaN, prev: NaN });
  }
  for (let round = 0; round < 4; round++) {
    const open = jobs.filter((j) => round < 2 || !(Math.abs(j.last - j.prev) <= 0.2 * j.prev));
    if (open.length === 0) break;
    for (const j of open) {
      const t = await timed(j.batch, j.rung);
      if (t === undefined) return;
      [j.prev, j.last] = [j.last, t];
      // Every run is a sample: on a shared machine one run can be several times another, and
      // the ladder compares rungs by their lowest (CostModel.low).
      scheduler.learnCost(j.batch.length, j.rung.size, t, j.rung.variant);
    }
  }
  const runs = jobs.map((j) => `${rungKey(j.rung)}${j.batch.length > 1 ? ` batch ${j.batch.length}` : ''} ${j.last.toFixed(1)} ms`);
  log(`warm-up on the cameras' first frames: ${runs.join(', ')}`);
}
