import { describe, expect, it } from 'vitest';
import { PerceptionError } from '../../src/core/errors.js';
import { validateImage } from '../../src/msgs/index.js';
import { sampleHeader } from '../../src/msgs/samples.js';
import { LEVEL, buildDiagnostics, cameraDiagnostic, learnerDiagnostic, modelDiagnostic, type CameraStatus } from '../../src/ros/diagnostics.js';

const base: CameraStatus = {
  camera: 'front', topic: '/front/image_raw', received: 100, processed: 98, lastFrameAgeMs: 30,
  latencyMs: { p50: 9.25, p99: 31 }, budgetMs: 50, deadlineMisses: 1, drops: { superseded: 2 },
  input: { width: 1280, height: 720, encoding: 'rgb8' }, modelInput: { width: 512, height: 256 },
};
const opts = { nodeName: 'perception' };
const value = (s: { values: { key: string; value: string }[] }, key: string) => s.values.find((v) => v.key === key)?.value;

/** What the node will do with a bad frame: validate, and keep the reason for the diagnostic. */
function problemOf(msg: unknown) {
  try {
    validateImage(msg, { topic: '/front/image_raw' });
    return undefined;
  } catch (err) {
    const e = err as PerceptionError;
    return { code: e.code, message: e.message, count: 1 };
  }
}

describe('diagnostics (diagnostic_updater conventions)', () => {
  it('a healthy camera is OK, named "<node>: <task>", with the camera topic as hardware_id and string values', () => {
    const s = cameraDiagnostic(base, opts);
    expect(s).toMatchObject({ level: LEVEL.OK, name: 'perception: camera front', hardware_id: '/front/image_raw', message: 'running' });
    expect(value(s, 'latency p50 (ms)')).toBe('9.3');
    expect(value(s, 'latency p99 (ms)')).toBe('31.0');
    expect(value(s, 'drops: superseded')).toBe('2');
    expect(value(s, 'input size')).toBe('1280x720 rgb8');
    expect(value(s, 'model input size')).toBe('512x256');
    for (const v of s.values) expect(typeof v.value).toBe('string');
  });

  it('levels are the bytes 0..3 and the array carries the stamp', () => {
    expect(LEVEL).toEqual({ OK: 0, WARN: 1, ERROR: 2, STALE: 3 });
    const arr = buildDiagnostics({ sec: 5, nanosec: 6 }, { cameras: [base] }, opts);
    expect(arr.header.stamp).toEqual({ sec: 5, nanosec: 6 });
  });

  it('an unsupported encoding is an ERROR with the reason when every frame is refused, a WARN when some are', () => {
    const bad = { header: sampleHeader(), height: 2, width: 2, encoding: 'yuv422', is_bigendian: 0, step: 4, data: new Uint8Array(8) };
    const problem = problemOf(bad)!;
    expect(problem.code).toBe('UNSUPPORTED_ENCODING');
    const allBad = cameraDiagnostic({ ...base, processed: 0, latencyMs: undefined, problems: [{ ...problem, count: 100 }] }, opts);
    expect(allBad.level).toBe(LEVEL.ERROR);
    expect(allBad.message).toContain('100 frame(s) rejected: image encoding "yuv422" is not supported');
    expect(value(allBad, 'rejected: UNSUPPORTED_ENCODING')).toBe('100');
    const someBad = cameraDiagnostic({ ...base, problems: [problem] }, opts);
    expect(someBad.level).toBe(LEVEL.WARN);
  });

  it('a frame whose sizes disagree is a WARN naming the sizes', () => {
    const short = { header: sampleHeader(), height: 4, width: 4, encoding: 'rgb8', is_bigendian: 0, step: 12, data: new Uint8Array(10) };
    const s = cameraDiagnostic({ ...base, problems: [problemOf(short)!] }, opts);
    expect(s.level).toBe(LEVEL.WARN);
    expect(s.message).toMatch(/image data has 10 bytes, expected at least step 12 × height 4 = 48/);
  });

  it('deadline misses and a p99 over budget are WARN; silence is STALE; reasons at the worst level are joined', () => {
    const slow = cameraDiagnostic({ ...base, deadlineMisses: 20, latencyMs: { p50: 40, p99: 80 } }, opts);
    expect(slow.level).toBe(LEVEL.WARN);
    expect(slow.message).toBe('20 of 98 frames missed the 50.0 ms budget; latency p99 80.0 ms exceeds budget 50.0 ms');
    expect(cameraDiagnostic({ ...base, lastFrameAgeMs: 5000 }, opts)).toMatchObject({ level: LEVEL.STALE, message: 'no frames for 5.0 s' });
    expect(cameraDiagnostic({ ...base, lastFrameAgeMs: undefined }, opts)).toMatchObject({ level: LEVEL.STALE, message: 'no frames received on /front/image_raw' });
  });

  it('model and learner statuses carry the version, the reason of a refused update, and a full store', () => {
    const m = modelDiagnostic({ name: 'default', version: '1.0.3', executionProvider: 'cuda', loaded: true, swaps: 3, rollbacks: 1, lastRejectedUpdate: 'signature does not verify' }, opts);
    expect(m).toMatchObject({ level: LEVEL.WARN, name: 'perception: model', hardware_id: 'default@1.0.3', message: 'weight update refused: signature does not verify' });
    expect(value(m, 'version')).toBe('1.0.3');
    expect(modelDiagnostic({ name: 'default', version: '?', executionProvider: 'cpu', loaded: false, swaps: 0, rollbacks: 0, error: 'sha256 mismatch' }, opts).level).toBe(LEVEL.ERROR);
    const l = learnerDiagnostic({ state: 'collecting', servingVersion: '1.0.3', flaggedFrames: 7, storedSamples: 2000, maxStoredSamples: 2000, paused: false }, { nodeName: 'learner' });
    expect(l).toMatchObject({ level: LEVEL.WARN, name: 'learner: learner' });
    expect(l.message).toMatch(/sample store full/);
  });
});
