/**
 * A seeded world: one road, an ego vehicle driving along it, and infinite "streams" of actors
 * and clutter. Everything at time t is a pure function of (seed, t): the k-th car of a lane
 * is at x = x_k + v·t with its attributes hashed from (seed, stream, k), so any frame can be
 * rendered directly and consecutive frames are temporally coherent.
 */
import { hash32, hashUnit, Rng } from './rng.js';
import { makeRoad, roadHalfWidth, roadToWorld, type RoadSpec } from './road.js';
import {
  actorDims, carShape, clutterShape, cyclistShape, pedestrianShape, truckShape,
  type ActorClass, type ActorDims, type ClutterKind, type Shape,
} from './shapes.js';

export interface Pose { x: number; y: number; heading: number }

export interface Instance {
  /** Stable id over time (> 0) for actors; 0 for clutter. */
  id: number;
  cls: ActorClass | null;
  pose: Pose;
  dims: ActorDims | null;
  shape: Shape;
}

interface Stream {
  cls: 'traffic' | 'parked' | 'cyclist' | 'walker';
  d: number; // lateral road-frame offset of the stream's centre
  speed: number; // m/s along +x (negative: oncoming)
  spacing: number;
  fill: number;
  truckShare: number;
  skipNearEgo: boolean;
}

export interface Scene {
  t: number;
  ego: Pose;
  actors: Instance[];
  clutter: Instance[];
}

/** Half-open window of x around the ego that can be seen by any camera (far plane ≈ 200 m). */
const BEHIND = 150, AHEAD = 210;
const CELL = 10;

export class World {
  readonly seed: number;
  readonly road: RoadSpec;
  readonly urban: boolean;
  readonly egoSpeed: number;
  readonly egoLaneD: number;
  readonly egoX0: number;
  private readonly streams: Stream[] = [];
  private readonly crossingRate: number;
  private readonly clutterDensity: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    const rng = new Rng(hash32(this.seed, 0x5eed));
    this.road = makeRoad(rng);
    this.urban = this.road.verge === 'sidewalk';
    const half = roadHalfWidth(this.road);
    const w = this.road.laneWidth;
    const n = this.road.lanes;
    const forwardLanes = this.road.twoWay ? n / 2 : n;
    const egoLane = rng.int(0, forwardLanes - 1);
    this.egoSpeed = rng.range(6, 25);
    this.egoLaneD = -half + (egoLane + 0.5) * w;
    this.egoX0 = rng.range(0, 4000);
    const density = rng.range(0.25, 1);
    for (let i = 0; i < n; i++) {
      const forward = i < forwardLanes;
      const speed = i === egoLane ? this.egoSpeed : (forward ? 1 : -1) * this.egoSpeed * rng.range(0.75, 1.3);
      this.streams.push({
        cls: 'traffic', d: -half + (i + 0.5) * w, speed, spacing: rng.range(16, 60), fill: density * rng.range(0.5, 1),
        truckShare: rng.range(0, 0.3), skipNearEgo: i === egoLane,
      });
    }
    if (rng.chance(0.5)) {
      this.streams.push({ cls: 'parked', d: -half - 0.6, speed: 0, spacing: rng.range(6, 12), fill: rng.range(0.2, 0.8), truckShare: 0.05, skipNearEgo: false });
    }
    if (rng.chance(0.7)) {
      this.streams.push({ cls: 'cyclist', d: -half + 0.8, speed: rng.range(3.5, 7), spacing: rng.range(40, 150), fill: density, truckShare: 0, skipNearEgo: true });
    }
    const walkD = half + this.road.shoulder + (this.urban ? this.road.sidewalkWidth / 2 : 0.8);
    const walkers = this.urban ? 4 : 1;
    for (let i = 0; i < walkers; i++) {
      const side = i % 2 === 0 ? -1 : 1;
      const speed = (rng.chance(0.5) ? 1 : -1) * rng.range(0.9, 1.7);
      this.streams.push({ cls: 'walker', d: side * (walkD + rng.range(-0.5, 0.5)), speed, spacing: rng.range(6, 40), fill: density * rng.range(0.3, 0.9), truckShare: 0, skipNearEgo: false });
    }
    this.crossingRate = this.urban ? rng.range(0.05, 0.3) : rng.range(0, 0.05);
    this.clutterDensity = rng.range(0.4, 1);
  }

  egoPose(t: number): Pose {
    const x = this.egoX0 + this.egoSpeed * t;
    // slow lateral wander within the lane keeps the horizon and lanes from being fixed
    const wander = 0.25 * Math.sin(t * 0.4 + (this.seed % 7));
    return roadToWorld(this.road, x, this.egoLaneD + wander);
  }

  sceneAt(t: number): Scene {
    const ego = this.egoPose(t);
    const lo = ego.x - BEHIND, hi = ego.x + AHEAD;
    const actors: Instance[] = [];
    this.streams.forEach((st, j) => this.streamActors(st, j, t, lo, hi, ego, actors));
    this.crossingActors(t, lo, hi, actors);
    return { t, ego, actors, clutter: this.clutterIn(lo, hi) };
  }

  private streamActors(st: Stream, j: number, t: number, lo: number, hi: number, ego: Pose, out: Instance[]): void {
    const shift = st.speed * t;
    const k0 = Math.floor((lo - shift) / st.spacing) - 1, k1 = Math.ceil((hi - shift) / st.spacing) + 1;
    for (let k = k0; k <= k1; k++) {
      const key = hash32(this.seed, j + 1, k);
      if (hashUnit(key, 1) >= st.fill) continue;
      const cls: ActorClass = st.cls === 'walker' ? 'pedestrian' : st.cls === 'cyclist' ? 'cyclist' : hashUnit(key, 2) < st.truckShare ? 'truck' : 'car';
      const dims = actorDims(cls, key);
      const room = Math.max(0, st.spacing - dims.length - 2);
      const x = k * st.spacing + room * hashUnit(key, 3) + shift;
      if (x < lo || x > hi) continue;
      if (st.skipNearEgo && Math.abs(x - ego.x) < dims.length / 2 + 6) continue;
      const wobble = st.cls === 'walker' ? 0.8 : st.cls === 'parked' ? 0.3 : 0.25;
      const p = roadToWorld(this.road, x, st.d + wobble * (hashUnit(key, 4) - 0.5));
      const heading = st.speed < 0 || (st.cls === 'parked' && hashUnit(key, 5) < 0.2) ? p.heading + Math.PI : p.heading;
      const phase = (Math.abs(shift) / (cls === 'cyclist' ? 2 : 0.7)) * Math.PI + hashUnit(key, 6) * 6.28;
      out.push({ id: idOf(key), cls, dims, pose: { x: p.x, y: p.y, heading }, shape: this.shapeOf(cls, dims, key, phase) });
    }
  }

  /** Pedestrians walking back and forth across the road at hashed places. */
  private crossingActors(t: number, lo: number, hi: number, out: Instance[]): void {
    const reach = roadHalfWidth(this.road) + this.road.shoulder + 1.5;
    const period = 60;
    for (let c = Math.floor(lo / period); c <= Math.ceil(hi / period); c++) {
      const key = hash32(this.seed, 0xc055, c);
      if (hashUnit(key, 1) >= this.crossingRate) continue;
      const x = c * period + period * hashUnit(key, 2);
      if (x < lo || x > hi) continue;
      const speed = 1 + 0.6 * hashUnit(key, 3);
      const span = 2 * reach;
      const travelled = speed * t + span * 2 * hashUnit(key, 4);
      const m = travelled % (2 * span);
      const leftward = m < span;
      const d = leftward ? -reach + m : reach - (m - span);
      const p = roadToWorld(this.road, x, d);
      const dims = actorDims('pedestrian', key);
      out.push({
        id: idOf(key), cls: 'pedestrian', dims,
        pose: { x: p.x, y: p.y, heading: p.heading + (leftward ? Math.PI / 2 : -Math.PI / 2) },
        shape: pedestrianShape(dims, key, (travelled / 0.7) * Math.PI),
      });
    }
  }

  private shapeOf(cls: ActorClass, dims: ActorDims, key: number, phase: number): Shape {
    switch (cls) {
      case 'car': return carShape(dims, key);
      case 'truck': return truckShape(dims, key);
      case 'pedestrian': return pedestrianShape(dims, key, phase);
      case 'cyclist': return cyclistShape(dims, key, phase);
    }
  }

  private clutterIn(lo: number, hi: number): Instance[] {
    const out: Instance[] = [];
    const half = roadHalfWidth(this.road);
    const verge = half + this.road.shoulder;
    const walk = this.urban ? this.road.sidewalkWidth : 0.5;
    for (let c = Math.floor(lo / CELL); c <= Math.ceil(hi / CELL); c++) {
      for (const side of [-1, 1]) {
        const key = hash32(this.seed, 0xc1077e, c, side);
        const u = hashUnit(key, 1) / this.clutterDensity;
        const kind = pickClutter(u, this.urban);
        if (kind === null) continue;
        const x = c * CELL + CELL * hashUnit(key, 2);
        if (x < lo || x > hi) continue;
        const shape = clutterShape(kind, key);
        let d: number;
        switch (kind) {
          case 'pole': case 'sign': d = verge + 0.4; break;
          case 'tree': d = verge + walk + 1 + 6 * hashUnit(key, 3); break;
          case 'building': d = verge + walk + 3 + (this.urban ? 4 : 25) * hashUnit(key, 3) + 4 + 5 * hashUnit(key, 68); break;
        }
        const p = roadToWorld(this.road, x, side * d);
        // objects face the road: left-side ones keep the road heading, right-side ones turn round
        out.push({ id: 0, cls: null, dims: null, pose: { x: p.x, y: p.y, heading: p.heading + (side < 0 ? Math.PI : 0) }, shape });
      }
    }
    return out;
  }
}

function pickClutter(u: number, urban: boolean): ClutterKind | null {
  const table: [ClutterKind, number][] = urban
    ? [['building', 0.4], ['pole', 0.18], ['sign', 0.06], ['tree', 0.14]]
    : [['tree', 0.45], ['pole', 0.06], ['sign', 0.05], ['building', 0.04]];
  let acc = 0;
  for (const [kind, p] of table) {
    acc += p;
    if (u < acc) return kind;
  }
  return null;
}

function idOf(key: number): number {
  return (key & 0x7fffffff) || 1;
}
