/**
 * Composite box shapes for actors and clutter. A part is an axis-aligned box in the owner's
 * local frame (x forward, y left, z up, origin on the ground under the owner's centre);
 * the renderer rotates it by the owner's heading.
 */
import { hashUnit } from './rng.js';

export type ActorClass = 'car' | 'truck' | 'pedestrian' | 'cyclist';
export const ACTOR_CLASSES: readonly ActorClass[] = ['car', 'truck', 'pedestrian', 'cyclist'];

export interface Part {
  x: number; y: number; z: number; // centre
  hx: number; hy: number; hz: number; // half extents
  r: number; g: number; b: number; // linear albedo 0..1
}

export interface Light {
  /** Local position. */
  x: number; y: number; z: number;
  kind: 'head' | 'tail' | 'street';
}

export interface Shape {
  parts: Part[];
  lights: Light[];
}

type Rgb = [number, number, number];

function part(x: number, y: number, z0: number, lx: number, ly: number, lz: number, c: Rgb): Part {
  return { x, y, z: z0 + lz / 2, hx: lx / 2, hy: ly / 2, hz: lz / 2, r: c[0], g: c[1], b: c[2] };
}

const CAR_PAINT: Rgb[] = [
  [0.7, 0.7, 0.72], [0.03, 0.03, 0.035], [0.35, 0.36, 0.38], [0.5, 0.04, 0.03], [0.04, 0.1, 0.35],
  [0.8, 0.8, 0.78], [0.12, 0.2, 0.1], [0.6, 0.35, 0.05], [0.2, 0.2, 0.22], [0.45, 0.45, 0.05],
];
const CLOTHES: Rgb[] = [
  [0.03, 0.03, 0.04], [0.05, 0.07, 0.2], [0.4, 0.05, 0.05], [0.3, 0.3, 0.3], [0.6, 0.55, 0.4],
  [0.08, 0.2, 0.08], [0.5, 0.3, 0.02], [0.7, 0.7, 0.7], [0.15, 0.1, 0.05], [0.5, 0.15, 0.3],
];
const SKIN: Rgb[] = [[0.6, 0.42, 0.3], [0.35, 0.22, 0.14], [0.15, 0.09, 0.06], [0.7, 0.5, 0.38]];
const TYRE: Rgb = [0.02, 0.02, 0.02];
const GLASS: Rgb = [0.03, 0.04, 0.05];

/** Varies a palette colour by ±15% per channel, keyed by `key` so it is stable over time. */
function tint(c: Rgb, key: number): Rgb {
  return [c[0] * (0.85 + 0.3 * hashUnit(key, 1)), c[1] * (0.85 + 0.3 * hashUnit(key, 2)), c[2] * (0.85 + 0.3 * hashUnit(key, 3))];
}

function pick<T>(items: readonly T[], u: number): T {
  return items[Math.min(items.length - 1, Math.floor(u * items.length))];
}

export interface ActorDims { length: number; width: number; height: number }

export function actorDims(cls: ActorClass, key: number): ActorDims {
  const u = hashUnit(key, 10), w = hashUnit(key, 11), h = hashUnit(key, 12);
  switch (cls) {
    case 'car': return { length: 3.9 + 1.0 * u, width: 1.7 + 0.25 * w, height: 1.4 + 0.35 * h };
    case 'truck': return { length: 7 + 5 * u, width: 2.4 + 0.1 * w, height: 3.0 + 0.9 * h };
    case 'pedestrian': return { length: 0.35, width: 0.5, height: 1.5 + 0.4 * h };
    case 'cyclist': return { length: 1.75, width: 0.6, height: 1.65 + 0.2 * h };
  }
}

function wheels(parts: Part[], xs: number[], halfTrack: number, radius: number, width: number): void {
  for (const x of xs) for (const s of [-1, 1]) parts.push(part(x, s * halfTrack, 0, radius * 2, width, radius * 2, TYRE));
}

export function carShape(d: ActorDims, key: number): Shape {
  const paint = tint(pick(CAR_PAINT, hashUnit(key, 20)), key);
  const { length: L, width: W, height: H } = d;
  const body = 0.3 + 0.5 * (H - 0.3) * (0.9 + 0.2 * hashUnit(key, 21));
  const cabinLen = L * (0.45 + 0.15 * hashUnit(key, 22));
  const parts: Part[] = [
    part(0, 0, 0.28, L, W, body - 0.28, paint),
    part(-0.08 * L, 0, body, cabinLen, W * 0.86, H - body - 0.06, GLASS),
    part(-0.08 * L, 0, H - 0.06, cabinLen * 0.92, W * 0.84, 0.06, paint),
  ];
  wheels(parts, [0.32 * L, -0.32 * L], W / 2 - 0.14, 0.32, 0.24);
  const ly = W / 2 - 0.25, lz = body - 0.15;
  return {
    parts,
    lights: [
      { x: L / 2 + 0.01, y: ly, z: lz, kind: 'head' }, { x: L / 2 + 0.01, y: -ly, z: lz, kind: 'head' },
      { x: -L / 2 - 0.01, y: ly, z: lz, kind: 'tail' }, { x: -L / 2 - 0.01, y: -ly, z: lz, kind: 'tail' },
    ],
  };
}

export function truckShape(d: ActorDims, key: number): Shape {
  const cab = tint(pick(CAR_PAINT, hashUnit(key, 30)), key);
  const box = tint(pick([[0.75, 0.75, 0.75], [0.6, 0.6, 0.55], [0.5, 0.1, 0.05], [0.1, 0.25, 0.5]] as Rgb[], hashUnit(key, 31)), key + 7);
  const { length: L, width: W, height: H } = d;
  const cabLen = 2.3;
  const parts: Part[] = [
    part(L / 2 - cabLen / 2, 0, 0.5, cabLen, W, 1.3, cab),
    part(L / 2 - cabLen / 2 - 0.2, 0, 1.8, cabLen - 0.4, W * 0.96, 0.9, GLASS),
    part(L / 2 - cabLen / 2 - 0.2, 0, 2.7, cabLen - 0.4, W, 0.2, cab),
    part(-cabLen / 2 - 0.1, 0, 0.9, L - cabLen - 0.2, W, H - 0.9, box),
    part(0, 0, 0.45, L * 0.95, W * 0.8, 0.45, [0.05, 0.05, 0.05]),
  ];
  wheels(parts, [L / 2 - 1.2, -L / 2 + 1.5, -L / 2 + 2.8], W / 2 - 0.2, 0.5, 0.35);
  const ly = W / 2 - 0.3;
  return {
    parts,
    lights: [
      { x: L / 2 + 0.01, y: ly, z: 0.9, kind: 'head' }, { x: L / 2 + 0.01, y: -ly, z: 0.9, kind: 'head' },
      { x: -L / 2 - 0.01, y: ly, z: 1.0, kind: 'tail' }, { x: -L / 2 - 0.01, y: -ly, z: 1.0, kind: 'tail' },
    ],
  };
}

/** Legs swing with `phase` (rad) so walking is visible and continuous over frames. */
export function pedestrianShape(d: ActorDims, key: number, phase: number): Shape {
  const H = d.height;
  const shirt = tint(pick(CLOTHES, hashUnit(key, 40)), key);
  const trousers = tint(pick(CLOTHES, hashUnit(key, 41)), key + 3);
  const skin = pick(SKIN, hashUnit(key, 42));
  const legH = 0.47 * H, torsoH = 0.33 * H, headH = 0.13 * H;
  const swing = 0.18 * Math.sin(phase);
  return {
    parts: [
      part(swing, 0.1, 0, 0.16, 0.15, legH, trousers),
      part(-swing, -0.1, 0, 0.16, 0.15, legH, trousers),
      part(0, 0, legH, 0.26, 0.44, torsoH, shirt),
      part(-swing * 0.6, 0.26, legH + torsoH * 0.2, 0.12, 0.1, torsoH * 0.8, shirt),
      part(swing * 0.6, -0.26, legH + torsoH * 0.2, 0.12, 0.1, torsoH * 0.8, shirt),
      part(0, 0, legH + torsoH + 0.03, 0.2, 0.18, headH, skin),
    ],
    lights: [],
  };
}

export function cyclistShape(d: ActorDims, key: number, phase: number): Shape {
  const frame = tint(pick(CAR_PAINT, hashUnit(key, 50)), key);
  const shirt = tint(pick(CLOTHES, hashUnit(key, 51)), key + 5);
  const skin = pick(SKIN, hashUnit(key, 52));
  const H = d.height;
  const pedal = 0.12 * Math.sin(phase);
  return {
    parts: [
      part(0.55, 0, 0, 0.66, 0.05, 0.66, TYRE),
      part(-0.55, 0, 0, 0.66, 0.05, 0.66, TYRE),
      part(0, 0, 0.45, 1.1, 0.06, 0.12, frame),
      part(0.05, 0, 0.3, 0.08, 0.06, 0.5, frame),
      part(-0.15, 0.1, 0.3 + pedal, 0.14, 0.12, 0.55, [0.05, 0.05, 0.08]),
      part(-0.15, -0.1, 0.3 - pedal, 0.14, 0.12, 0.55, [0.05, 0.05, 0.08]),
      part(-0.05, 0, 0.85, 0.45, 0.38, 0.55, shirt),
      part(0.3, 0, 1.05, 0.45, 0.4, 0.1, shirt),
      part(0.1, 0, H - 0.25, 0.2, 0.18, 0.25, skin),
    ],
    lights: [{ x: 0.9, y: 0, z: 0.9, kind: 'head' }, { x: -0.9, y: 0, z: 0.8, kind: 'tail' }],
  };
}

export type ClutterKind = 'pole' | 'tree' | 'building' | 'sign';

/** Static roadside object; `key` drives sizes and colours. */
export function clutterShape(kind: ClutterKind, key: number): Shape {
  const u = (i: number) => hashUnit(key, 60 + i);
  switch (kind) {
    case 'pole': {
      const h = 7 + 3 * u(0);
      return {
        parts: [part(0, 0, 0, 0.18, 0.18, h, [0.3, 0.3, 0.3]), part(0, -0.9, h - 0.2, 0.15, 1.8, 0.15, [0.3, 0.3, 0.3])],
        lights: [{ x: 0, y: -1.7, z: h - 0.3, kind: 'street' }],
      };
    }
    case 'tree': {
      const h = 2 + 2 * u(1), c = 2.5 + 3 * u(2);
      const leaf: Rgb = [0.05 + 0.1 * u(3), 0.15 + 0.15 * u(4), 0.03 + 0.05 * u(5)];
      return {
        parts: [
          part(0, 0, 0, 0.35, 0.35, h + 0.5, [0.12, 0.08, 0.05]),
          part(0, 0, h, c, c, c * (0.8 + 0.5 * u(6)), leaf),
          part(0.2 * c, -0.1 * c, h + 0.3 * c, c * 0.7, c * 0.7, c * 0.9, [leaf[0] * 1.2, leaf[1] * 1.15, leaf[2]]),
        ],
        lights: [],
      };
    }
    case 'building': {
      const w = 8 + 18 * u(7), dpt = 8 + 10 * u(8), h = 5 + 25 * u(9) ** 2;
      const wall = pick([[0.5, 0.45, 0.4], [0.35, 0.2, 0.15], [0.6, 0.6, 0.6], [0.25, 0.28, 0.3], [0.55, 0.5, 0.3]] as Rgb[], u(10));
      const parts = [part(0, 0, 0, w, dpt, h, tint(wall, key))];
      // a band of windows on the road-facing side gives buildings scale
      for (let z = 1.5; z < h - 1; z += 3.2) parts.push(part(0, -dpt / 2 - 0.02, z, w * 0.85, 0.06, 1.2, GLASS));
      return { parts, lights: [] };
    }
    case 'sign': {
      const face: Rgb = pick([[0.6, 0.05, 0.03], [0.05, 0.2, 0.5], [0.7, 0.6, 0.05], [0.05, 0.35, 0.1], [0.8, 0.8, 0.8]] as Rgb[], u(11));
      return {
        parts: [part(0, 0, 0, 0.08, 0.08, 2.2, [0.45, 0.45, 0.45]), part(0, 0, 2.0, 0.05, 0.7 + 0.5 * u(12), 0.6 + 0.4 * u(13), face)],
        lights: [],
      };
    }
  }
}
