import type { Manifest } from '../../src/model/manifest.js';
import type { TailTensor, TailWeights } from '../../src/model/package.js';
import type { Domain, GtBox } from '../../src/adaptation/learner/store-types.js';
import { rng } from './store.js';
import { detTargets } from '../../src/adaptation/learner/targets.js';
import type { TrainSample, TrainingSource } from '../../src/adaptation/learner/trainer.js';

/**
 * A synthetic, learnable world for trainer and gate tests: a tiny tails spec, and samples whose
 * features encode their labels. The seg code differs by domain (new: label l in channel
 * (l + 1) % 3, with a domain channel), so a tail trained on one domain alone fails the other,
 * and one trained on both (using the domain channel) can serve both.
 */
export const SYN_MANIFEST: Pick<Manifest, 'tails' | 'classes' | 'strides' | 'depth'> = {
  classes: ['car'],
  strides: { det: 4, seg: 2, depth: 4 },
  depth: { min_m: 1, max_m: 120 },
  tails: {
    det: { feature: 'det_feat', in: 4, layers: [{ out: 8, act: 'relu' }, { out: 5, act: 'linear' }] },
    seg: { feature: 'seg_feat', in: 5, layers: [{ out: 12, act: 'relu' }, { out: 3, act: 'linear' }] },
    depth: { feature: 'depth_feat', in: 3, layers: [{ out: 8, act: 'relu' }, { out: 1, act: 'linear' }] },
  },
};

const H = 32;
const W = 64;

export function synSample(domain: Domain, seed: number): TrainSample {
  const r = rng(seed);
  const boxes: GtBox[] = [];
  for (let i = 0; i < 2; i++) {
    const bw = 8 + r() * 12;
    const bh = 6 + r() * 8;
    const x0 = r() * (W - bw);
    const y0 = r() * (H - bh);
    boxes.push({ classIndex: 0, x0, y0, x1: x0 + bw, y1: y0 + bh });
  }
  const t = detTargets(boxes, { inputSize: [H, W], cameraSize: { width: W, height: H }, stride: 4, numClasses: 1 });
  const dp = t.h * t.w;
  const det = new Float32Array(4 * dp);
  for (let i = 0; i < dp; i++) {
    det[i] = t.heat[i] * 3;
    det[dp + i] = t.mask[i] * t.reg[i];
    det[2 * dp + i] = t.mask[i] * t.reg[dp + i];
    det[3 * dp + i] = t.mask[i] * (t.reg[2 * dp + i] + t.reg[3 * dp + i]) * 0.5;
  }
  // lanes: vertical bands of labels 0/1/2 at camera resolution
  const cuts = [10 + r() * 10, 30 + r() * 10];
  const lane = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) lane[y * W + x] = x < cuts[0] ? 2 : x < cuts[0] + 4 ? 1 : x < cuts[1] ? 2 : 0;
  const sh = H / 2;
  const sw = W / 2;
  const seg = new Float32Array(5 * sh * sw);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const l = lane[(2 * y) * W + 2 * x];
      const ch = domain === 'new' ? (l + 1) % 3 : l;
      const i = y * sw + x;
      seg[ch * sh * sw + i] = 1 + 0.2 * r();
      seg[3 * sh * sw + i] = domain === 'new' ? 1 : 0;
      seg[4 * sh * sw + i] = r();
    }
  }
  const depth = new Float32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) depth[y * W + x] = 2 + 60 * ((H - y) / H) ** 2 + 3 * r();
  const dh = H / 4;
  const dw = W / 4;
  const df = new Float32Array(3 * dh * dw);
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const d = depth[(4 * y + 2) * W + 4 * x + 2];
      df[y * dw + x] = Math.log(d) / Math.log(120);
      df[dh * dw + y * dw + x] = r();
      df[2 * dh * dw + y * dw + x] = domain === 'new' ? 1 : 0;
    }
  }
  return {
    inputSize: [H, W],
    cameraSize: { width: W, height: H },
    features: {
      det: { channels: 4, height: t.h, width: t.w, data: det },
      seg: { channels: 5, height: sh, width: sw, data: seg },
      depth: { channels: 3, height: dh, width: dw, data: df },
    },
    labels: { boxes, lane: { width: W, height: H, data: lane }, depth: { width: W, height: H, data: depth } },
  };
}

/** Small random tail weights for the synthetic spec (seeded). */
export function synWeights(seed = 3): TailWeights {
  const r = rng(seed);
  const out = new Map<string, TailTensor>();
  for (const [head, s] of Object.entries(SYN_MANIFEST.tails)) {
    let cin = s.in;
    s.layers.forEach((l, i) => {
      const scale = 1 / Math.sqrt(cin);
      out.set(`${head}_w${i}`, { shape: [l.out, cin, 1, 1], data: Float32Array.from({ length: l.out * cin }, () => (r() * 2 - 1) * scale) });
      out.set(`${head}_b${i}`, { shape: [l.out], data: new Float32Array(l.out) });
      cin = l.out;
    });
  }
  return out;
}

/** A TrainingSource over arrays. */
export function arraySource(news: readonly TrainSample[], olds: readonly TrainSample[]): TrainingSource {
  const all = [...news, ...olds];
  return {
    newIds: () => news.map((_, i) => i),
    oldIds: () => olds.map((_, i) => news.length + i),
    load: (id) => all[id],
  };
}
