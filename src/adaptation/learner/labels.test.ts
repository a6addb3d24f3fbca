import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Annotator, DelayQueue, LabelMatcher, validateLabels, type LabelEvent } from './labels.js';
import { SampleStore } from './store.js';
import { fakeSample } from '../../../test/support/store.js';

const boxes = (camera: string, stampNs: bigint): LabelEvent => ({ camera, stampNs, labels: { boxes: [{ classIndex: 0, x0: 0, y0: 0, x1: 4, y1: 4 }] } });
const lane = (camera: string, stampNs: bigint): LabelEvent => ({ camera, stampNs, labels: { lane: { width: 2, height: 1, data: Uint8Array.of(1, 2) } } });

describe('DelayQueue', () => {
  it('releases items after the delay, in order', () => {
    const q = new DelayQueue<string>(100);
    q.push(0, 'a');
    q.push(50, 'b');
    q.push(10, 'c');
    expect(q.drain(99)).toEqual([]);
    expect(q.drain(110)).toEqual(['a', 'c']);
    expect(q.drain(1000)).toEqual(['b']);
    expect(() => new DelayQueue(-1)).toThrow(/delayMs/);
  });
});

describe('Annotator', () => {
  it('labels only flagged frames, after the delay, ground truth before or after the flag', () => {
    const a = new Annotator({ delayMs: 1000, ttlMs: 5000 });
    a.onGroundTruth(0, boxes('cam', 1n)); // before its flag
    a.onGroundTruth(0, lane('cam', 1n));
    a.onGroundTruth(0, boxes('cam', 2n)); // never flagged
    a.onFlag(100, 'cam', 1n);
    a.onFlag(200, 'cam', 3n);
    a.onGroundTruth(300, boxes('cam', 3n)); // after its flag
    expect(a.poll(1000)).toEqual([]);
    const out = a.poll(1100);
    expect(out.map((e) => e.stampNs)).toEqual([1n]);
    expect(Object.keys(out[0].labels).sort()).toEqual(['boxes', 'lane']);
    expect(a.poll(1300).map((e) => e.stampNs)).toEqual([3n]);
    a.poll(6000);
    expect(a.stats).toEqual({ released: 2, dropped: 1 });
  });
});

describe('LabelMatcher with the store', () => {
  it('matches late and early labels; the learner never sees a label of an unflagged frame', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-labels-'));
    try {
      const st = SampleStore.open(join(dir, 's.db'));
      const m = new LabelMatcher(st, { waitMs: 1000 });
      st.insert(fakeSample('cam', 1n));
      expect(m.onLabel(10, boxes('cam', 1n))).toBe(true); // late label, sample stored
      expect(m.onLabel(20, boxes('cam', 2n))).toBe(false); // early label: waits
      st.insert(fakeSample('cam', 2n));
      expect(m.onSample(30, 'cam', 2n)).toBe(true);
      expect(m.onLabel(40, lane('cam', 9n))).toBe(false); // frame 9 was never flagged
      m.expire(2000);
      expect(m.stats).toEqual({ matched: 2, early: 2, dropped: 1 });
      expect(st.has('cam', 9n)).toBe(false);
      expect(st.list().map((r) => [r.stampNs, r.labeled])).toEqual([[1n, true], [2n, true]]);
      for (const r of st.list()) expect(st.get(r.id).labels.lane).toBeUndefined(); // frame 9's lane went nowhere
      st.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('validateLabels', () => {
  const ev = (labels: LabelEvent['labels']): LabelEvent => ({ camera: 'front', stampNs: 7n, labels });
  it('accepts boxes, lane masks (0, 1, 2, 255 = ignore) and depth (any float: unknown pixels are masked)', () => {
    expect(() => validateLabels(ev({ boxes: [{ classIndex: 3, x0: 0, y0: 0, x1: 4, y1: 4 }], lane: { width: 2, height: 2, data: Uint8Array.of(0, 1, 2, 255) }, depth: { width: 1, height: 2, data: Float32Array.of(NaN, -1) } }), 4)).not.toThrow();
  });
  it('refuses a lane value outside the classes, naming the pixel and the value', () => {
    expect(() => validateLabels(ev({ lane: { width: 3, height: 1, data: Uint8Array.of(0, 1, 4) } }), 4)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/lane mask value 4 at pixel 2/), context: expect.objectContaining({ field: 'lane', index: 2 }) }),
    );
  });
  it('refuses images whose size and data disagree, and absurd sizes', () => {
    expect(() => validateLabels(ev({ lane: { width: 3, height: 2, data: new Uint8Array(5) } }), 4)).toThrow(/lane image has 5 values, 3x2 needs 6/);
    expect(() => validateLabels(ev({ depth: { width: 0, height: 2, data: new Float32Array(0) } }), 4)).toThrow(/depth image is 0x2/);
  });
  it('refuses boxes with an unknown class or corners that are not finite and ordered', () => {
    expect(() => validateLabels(ev({ boxes: [{ classIndex: 4, x0: 0, y0: 0, x1: 1, y1: 1 }] }), 4)).toThrow(/box 0 has class index 4, not one of 0..3/);
    expect(() => validateLabels(ev({ boxes: [{ classIndex: 0, x0: 0, y0: NaN, x1: 1, y1: 1 }] }), 4)).toThrow(/box 0 has corners/);
    expect(() => validateLabels(ev({ boxes: [{ classIndex: 0, x0: 5, y0: 0, x1: 1, y1: 1 }] }), 4)).toThrow(/x1 ≥ x0/);
  });
});
