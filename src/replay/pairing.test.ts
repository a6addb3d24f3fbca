import { describe, expect, it } from 'vitest';
import { Pairing, type TruthPart } from './pairing.js';

function make(expected: TruthPart[], maxPending = 64) {
  const scored: Array<{ camera: string; stamp: bigint; pred: string; truth: Record<string, string> }> = [];
  let retained = 0;
  const p = new Pairing<string, string>({
    expected: () => new Set(expected),
    score: (camera, stamp, pred, truth) => scored.push({ camera, stamp, pred, truth: truth as Record<string, string> }),
    retain: (pred) => {
      retained++;
      return `${pred}*`;
    },
    maxPending,
  });
  return { p, scored, retained: () => retained };
}

describe('Pairing', () => {
  it('scores at once, without copying, when truth came first', () => {
    const { p, scored, retained } = make(['detections', 'lane']);
    p.addTruth('front', 1n, 'detections', 'd1');
    p.addTruth('front', 1n, 'lane', 'l1');
    p.addPrediction('front', 1n, 'p1');
    expect(scored).toEqual([{ camera: 'front', stamp: 1n, pred: 'p1', truth: { detections: 'd1', lane: 'l1' } }]);
    expect(retained()).toBe(0);
  });
  it('keeps a copy of the prediction when truth is late, and matches by camera and stamp', () => {
    const { p, scored, retained } = make(['depth']);
    p.addPrediction('front', 5n, 'pf');
    p.addPrediction('left', 5n, 'pl');
    p.addTruth('left', 5n, 'depth', 'zl');
    p.addTruth('front', 6n, 'depth', 'other-stamp');
    p.addTruth('front', 5n, 'depth', 'zf');
    expect(scored.map((s) => [s.camera, s.pred, s.truth.depth])).toEqual([
      ['left', 'pl*', 'zl'],
      ['front', 'pf*', 'zf'],
    ]);
    expect(retained()).toBe(2);
  });
  it('flush scores partial truth and counts frames that never matched', () => {
    const { p, scored } = make(['detections', 'lane']);
    p.addPrediction('front', 1n, 'p1');
    p.addTruth('front', 1n, 'lane', 'l1');
    p.addPrediction('front', 2n, 'p2');
    p.flush();
    expect(scored.map((s) => s.pred)).toEqual(['p1*']);
    expect(p.unmatched).toBe(1);
  });
  it('stays bounded: the oldest waiting stamp is settled first', () => {
    const { p, scored } = make(['detections'], 3);
    for (let i = 0n; i < 10n; i++) p.addPrediction('front', i, `p${i}`);
    expect(p.unmatched).toBe(7);
    p.addTruth('front', 9n, 'detections', 'd9');
    expect(scored.map((s) => s.pred)).toEqual(['p9*']);
  });
  it('does nothing for a camera without truth topics', () => {
    const { p, scored } = make([]);
    p.addPrediction('front', 1n, 'p');
    p.flush();
    expect(scored).toEqual([]);
    expect(p.unmatched).toBe(0);
  });
});
