/**
 * Road geometry. The road centre line is a lateral offset `y = c(x)` as a function of the
 * distance x along the world's x axis: a sum of long sinusoids, so curvature changes slowly
 * (radius ≥ ~300 m) and the heading stays within ~±12°. Road-frame coordinates of a ground
 * point are `s` (arc length along the centre line) and `d` (signed lateral offset, + left).
 */
import { Rng } from './rng.js';

export type PaintColour = 'white' | 'yellow';
export type LinePattern = 'solid' | 'dashed' | 'double';
export type Verge = 'grass' | 'sidewalk';

export interface LaneLine {
  /** Lateral position of the line's centre (m, road frame). */
  d: number;
  colour: PaintColour;
  pattern: LinePattern;
}

export interface RoadSpec {
  lanes: number;
  laneWidth: number;
  /** True when the left half carries oncoming traffic (right-hand traffic). */
  twoWay: boolean;
  lines: LaneLine[];
  /** Painted line width (m). */
  lineWidth: number;
  dashLength: number;
  dashPeriod: number;
  shoulder: number;
  verge: Verge;
  sidewalkWidth: number;
  /** Curvature model: amplitude (m), wavelength (m), phase (rad) of each sinusoid. */
  bends: { amp: number; wavelength: number; phase: number }[];
}

export function makeRoad(rng: Rng): RoadSpec {
  const lanes = rng.int(2, 4);
  const laneWidth = rng.range(3.0, 3.8);
  const twoWay = lanes !== 3 && rng.chance(0.6);
  const half = (lanes * laneWidth) / 2;
  const lines: LaneLine[] = [];
  const yellowLeft = !twoWay && rng.chance(0.5);
  for (let k = 0; k <= lanes; k++) {
    const d = -half + k * laneWidth;
    if (k === 0) lines.push({ d, colour: 'white', pattern: 'solid' });
    else if (k === lanes) lines.push({ d, colour: yellowLeft ? 'yellow' : 'white', pattern: 'solid' });
    else if (twoWay && k === lanes / 2) lines.push({ d, colour: 'yellow', pattern: rng.chance(0.6) ? 'double' : 'dashed' });
    else lines.push({ d, colour: 'white', pattern: 'dashed' });
  }
  const straight = rng.chance(0.25);
  const bends = straight
    ? []
    : [0, 1].map(() => {
        const wavelength = rng.range(350, 1400);
        // amplitude such that curvature amp·(2π/λ)² stays below ~1/300 m⁻¹ per component
        const maxAmp = (1 / 600) * (wavelength / (2 * Math.PI)) ** 2;
        return { amp: rng.range(0.2, 1) * Math.min(maxAmp, wavelength / 60), wavelength, phase: rng.range(0, 2 * Math.PI) };
      });
  const dashLength = rng.range(2, 4);
  return {
    lanes,
    laneWidth,
    twoWay,
    lines,
    lineWidth: rng.range(0.12, 0.2),
    dashLength,
    dashPeriod: dashLength + rng.range(4, 10),
    shoulder: rng.range(0.3, 2.0),
    verge: rng.chance(0.5) ? 'sidewalk' : 'grass',
    sidewalkWidth: rng.range(1.8, 3.5),
    bends,
  };
}

export function roadHalfWidth(road: RoadSpec): number {
  return (road.lanes * road.laneWidth) / 2;
}

/** Centre-line lateral offset c(x). */
export function centreY(road: RoadSpec, x: number): number {
  let y = 0;
  for (const b of road.bends) y += b.amp * Math.sin((2 * Math.PI * x) / b.wavelength + b.phase);
  return y;
}

/** Slope dc/dx of the centre line. */
export function centreSlope(road: RoadSpec, x: number): number {
  let g = 0;
  for (const b of road.bends) {
    const k = (2 * Math.PI) / b.wavelength;
    g += b.amp * k * Math.cos(k * x + b.phase);
  }
  return g;
}

/** Heading (rad) of the road's forward direction at x. */
export function roadHeading(road: RoadSpec, x: number): number {
  return Math.atan(centreSlope(road, x));
}

/** World position of road-frame point (x along the axis, lateral d). */
export function roadToWorld(road: RoadSpec, x: number, d: number): { x: number; y: number; heading: number } {
  const g = centreSlope(road, x);
  const inv = Math.sqrt(1 + g * g);
  // step d along the centre line's normal (-g, 1)/|.|
  return { x: x - (d * g) / inv, y: centreY(road, x) + d / inv, heading: Math.atan(g) };
}

/**
 * Per-frame lookup table over a window of x: centre offset, cos(heading) and arc length,
 * so the per-pixel road lookup is two array reads instead of trigonometry.
 */
export class RoadTable {
  readonly step = 0.25;
  x0 = 0;
  readonly size: number;
  readonly cy: Float32Array;
  readonly cosH: Float32Array;
  readonly arc: Float64Array;

  constructor(readonly span: number) {
    this.size = Math.ceil(span / this.step) + 2;
    this.cy = new Float32Array(this.size);
    this.cosH = new Float32Array(this.size);
    this.arc = new Float64Array(this.size);
  }

  fill(road: RoadSpec, xCentre: number): void {
    this.x0 = Math.floor((xCentre - this.span / 2) / this.step) * this.step;
    // arc length measured from x = 0 so dashes stay put as the window moves
    let s = approxArc(road, this.x0);
    for (let i = 0; i < this.size; i++) {
      const x = this.x0 + i * this.step;
      const g = centreSlope(road, x);
      this.cy[i] = centreY(road, x);
      this.cosH[i] = 1 / Math.sqrt(1 + g * g);
      this.arc[i] = s;
      s += this.step / this.cosH[i];
    }
  }
}

/** Arc length from x = 0 to x (trapezoid rule, 1 m steps; only its continuity matters). */
function approxArc(road: RoadSpec, x: number): number {
  if (road.bends.length === 0) return x;
  const n = Math.max(1, Math.ceil(Math.abs(x)));
  const h = x / n;
  let s = 0;
  let prev = Math.sqrt(1 + centreSlope(road, 0) ** 2);
  for (let i = 1; i <= n; i++) {
    const cur = Math.sqrt(1 + centreSlope(road, i * h) ** 2);
    s += ((prev + cur) / 2) * h;
    prev = cur;
  }
  return s;
}
