import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import type { Manifest } from '../model/manifest.js';
import { routerDim } from '../model/manifest.js';
import { fitRouter, poolFeatures, routerScore, RouterState } from './router.js';
import { WeightSet } from './weights.js';

const tails: Manifest['tails'] = {
  det: { feature: 'det_feat', in: 2, layers: [{ out: 5, act: 'linear' }] },
  seg: { feature: 'seg_feat', in: 1, layers: [{ out: 3, act: 'linear' }] },
  depth: { feature: 'depth_feat', in: 1, layers: [{ out: 1, act: 'linear' }] },
} as Manifest['tails'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe('domain router', () => {
  it('pools mean and standard deviation per channel, heads in order', () => {
    const p = poolFeatures(
      {
        det: { channels: 2, height: 1, width: 2, data: Float32Array.of(1, 3, 5, 5) },
        seg: { channels: 1, height: 1, width: 2, data: Float32Array.of(0, 2) },
        depth: { channels: 1, height: 2, width: 1, data: Float32Array.of(-1, -1) },
      },
      tails,
    );
    expect(p.length).toBe(routerDim(tails));
    expect(Array.from(p)).toEqual([2, 1, 5, 0, 1, 1, -1, 0]);
  });

  it('BAD INPUT: a feature map with the wrong channel count or too few values', () => {
    const ok = { channels: 1, height: 1, width: 1, data: Float32Array.of(0) };
    expect(() => poolFeatures({ det: ok, seg: ok, depth: ok }, tails)).toThrow(/det features have 1 channels, the det tail takes 2/);
    expect(() => poolFeatures({ det: { channels: 2, height: 2, width: 2, data: new Float32Array(3) }, seg: ok, depth: ok }, tails)).toThrow(/hold 3 values/);
  });

  it('fits a discriminant that tells two noisy clusters apart, > 0 for the new one', () => {
    const r = rng(7);
    const cluster = (shift: number) => Array.from({ length: 40 }, () => Float32Array.from({ length: 8 }, (_, j) => (j === 3 ? shift : 0) + (r() - 0.5) * 2));
    const olds = cluster(0);
    const news = cluster(3);
    const router = fitRouter(olds, news);
    const fresh = [cluster(0), cluster(3)];
    const right = fresh[0].filter((x) => routerScore(router, x) < 0).length + fresh[1].filter((x) => routerScore(router, x) > 0).length;
    expect(right / 80).toBeGreaterThan(0.9);
    // Channel 3 carries the difference: its weight dominates.
    const mag = Array.from(router.w, Math.abs);
    expect(mag.indexOf(Math.max(...mag))).toBe(3);
  });

  it('BAD CALL: too few samples of a domain, or vectors of different lengths', () => {
    const v = new Float32Array(4);
    expect(() => fitRouter([v], [v, v])).toThrow(/≥ 2 samples of each domain/);
    expect(() => fitRouter([v, v], [v, new Float32Array(3)])).toThrow(/differ in length/);
  });

  it('routes a camera to the adapted tails only once its average score is above zero', () => {
    const s = new RouterState(0.5);
    expect(s.useAdapted('front')).toBe(false); // nothing scored yet: shipped tails
    s.observe('front', 4);
    expect(s.useAdapted('front')).toBe(true);
    s.observe('front', -2); // one odd frame: average 1, still new
    expect(s.useAdapted('front')).toBe(true);
    s.observe('front', -2); // average -0.5: back to the shipped tails
    expect(s.useAdapted('front')).toBe(false);
    expect(s.useAdapted('rear')).toBe(false); // per camera
    s.observe('front', NaN); // ignored
    expect(s.useAdapted('front')).toBe(false);
    s.observe('rear', 1);
    s.reset();
    expect(s.useAdapted('rear')).toBe(false);
  });
});

describe('routed weight sets', () => {
  const tailWeights = (v: number) =>
    new Map<string, { shape: number[]; data: Float32Array }>([
      ['det_w0', { shape: [5, 2, 1, 1], data: new Float32Array(10).fill(v) }],
      ['det_b0', { shape: [5], data: new Float32Array(5) }],
      ['seg_w0', { shape: [3, 1, 1, 1], data: new Float32Array(3).fill(v) }],
      ['seg_b0', { shape: [3], data: new Float32Array(3) }],
      ['depth_w0', { shape: [1, 1, 1, 1], data: new Float32Array(1).fill(v) }],
      ['depth_b0', { shape: [1], data: new Float32Array(1) }],
    ]);
  type Entry = [string, { shape: number[]; data: Float32Array }];
  const router = (b: number, n = routerDim(tails)): Entry[] => [
    ['router_w', { shape: [n], data: new Float32Array(n).fill(0.5) }],
    ['router_b', { shape: [1], data: Float32Array.of(b) }],
  ];

  it('splits the router off the tails, routes to the fallback, and rebuilds from toTails()', () => {
    const shipped = WeightSet.fromTails(tailWeights(1), { tails }, 'shipped');
    const routed = WeightSet.fromTails(new Map([...tailWeights(2), ...router(-3)]), { tails }, 'v1', shipped);
    expect(routed.router?.b).toBe(-3);
    expect(routed.fallback).toBe(shipped);
    expect(routed.tensors.has('router_w')).toBe(false);
    expect(routed.matches(shipped)).toBe(true);
    const again = WeightSet.fromTails(routed.toTails(), { tails }, 'v1', shipped);
    expect(Array.from(again.router!.w)).toEqual(Array.from(routed.router!.w));
    expect(Array.from(again.tensors.get('seg_w0')!.data as Float32Array)).toEqual([2, 2, 2]);
    // Routing from a routed set falls back to the shipped one, never to another routed set.
    const v2 = WeightSet.fromTails(new Map([...tailWeights(3), ...router(1)]), { tails }, 'v2', routed);
    expect(v2.fallback).toBe(shipped);
    expect(shipped.toTails().has('router_w')).toBe(false);
  });

  it('BAD INPUT: a router without a fallback, half a router, a router of the wrong length or not finite', () => {
    const shipped = WeightSet.fromTails(tailWeights(1), { tails }, 'shipped');
    const expectBad = (f: () => unknown, re: RegExp) => {
      try {
        f();
      } catch (e) {
        expect(isPerceptionError(e, 'INVALID_ARGUMENT'), String(e)).toBe(true);
        expect((e as Error).message).toMatch(re);
        return;
      }
      throw new Error('expected a rejection');
    };
    expectBad(() => WeightSet.fromTails(new Map([...tailWeights(2), ...router(1)]), { tails }, 'v1'), /no fallback/);
    expectBad(() => WeightSet.fromTails(new Map([...tailWeights(2), router(1)[0]]), { tails }, 'v1', shipped), /lacks tensor 'router_b'/);
    expectBad(() => WeightSet.fromTails(new Map([...tailWeights(2), ...router(1, 3)]), { tails }, 'v1', shipped), /router_w.*shape \[3\]/);
    const nan = new Map([...tailWeights(2), ...router(NaN)]);
    expectBad(() => WeightSet.fromTails(nan, { tails }, 'v1', shipped), /router_b.*NaN/);
  });
});
