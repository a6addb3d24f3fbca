/**
 * COCO classes and how a COCO detector's boxes become this product's four classes.
 *
 * Mapping (decided 2026-12-06, docs/experiments/2026-12-06-teacher.md):
 * - car → car; truck and bus → truck (our `truck` is any large road vehicle);
 * - person → pedestrian, unless it is riding: COCO draws a cyclist as two boxes, a person
 *   and a bicycle (or motorcycle), while our ground truth draws one box round rider and
 *   bike. A person box whose lower part sits on a bicycle/motorcycle box (their x-ranges
 *   overlap by half the narrower width; the person's top is above the bike's and its bottom
 *   reaches into the bike's upper part) is merged with it into one `cyclist` box, the union,
 *   scored with the bike's score (the bike is what makes it a cyclist);
 * - a bicycle or motorcycle without a rider → cyclist as well (a parked bike is a false
 *   positive we accept: our world has none, and a rider hidden by the bike is common);
 * - every other COCO class is dropped.
 */
import type { TeacherClass } from './types.js';

/** The 80 COCO class names in the order detectors index them (0-based). */
export const COCO_NAMES: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
];

export const COCO = { person: 0, bicycle: 1, car: 2, motorcycle: 3, bus: 5, truck: 7 } as const;

/** What the teacher keeps of a COCO detection before riders are merged. */
export type CocoKind = 'person' | 'bike' | 'car' | 'truck';

/** COCO index → kind, or null for classes the teacher drops. */
export function cocoKind(index: number): CocoKind | null {
  switch (index) {
    case COCO.person: return 'person';
    case COCO.bicycle: case COCO.motorcycle: return 'bike';
    case COCO.car: return 'car';
    case COCO.truck: case COCO.bus: return 'truck';
    default: return null;
  }
}

/** A detection in camera pixels (x1, y1 exclusive). */
export interface RawBox {
  kind: CocoKind;
  score: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface MappedBox {
  cls: TeacherClass;
  score: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function iou(a: { x0: number; y0: number; x1: number; y1: number }, b: { x0: number; y0: number; x1: number; y1: number }): number {
  const iw = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const ih = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter);
}

/** Greedy NMS within each group of kinds (person | bike | car+truck), highest score first. */
export function nmsByGroup(boxes: readonly RawBox[], iouThreshold: number): RawBox[] {
  const group = (k: CocoKind) => (k === 'truck' ? 'car' : k);
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: RawBox[] = [];
  for (const b of sorted) {
    if (kept.some((k) => group(k.kind) === group(b.kind) && iou(k, b) > iouThreshold)) continue;
    kept.push(b);
  }
  return kept;
}

/** Is `p` a person riding bike `b` (see the module comment)? */
export function isRider(p: RawBox, b: RawBox): boolean {
  const overlapX = Math.min(p.x1, b.x1) - Math.max(p.x0, b.x0);
  const narrower = Math.min(p.x1 - p.x0, b.x1 - b.x0);
  return overlapX >= 0.5 * narrower && p.y0 < b.y0 && p.y1 > b.y0 + 0.15 * (b.y1 - b.y0);
}

/** Kinds → classes, riders merged with their bikes into cyclists; sorted by score. */
export function mapToClasses(boxes: readonly RawBox[]): MappedBox[] {
  const bikes = boxes.filter((b) => b.kind === 'bike').sort((a, b) => b.score - a.score);
  const people = boxes.filter((b) => b.kind === 'person');
  const riding = new Set<RawBox>();
  const out: MappedBox[] = [];
  for (const bike of bikes) {
    let rider: RawBox | null = null, best = 0;
    for (const p of people) {
      if (riding.has(p) || !isRider(p, bike)) continue;
      const area = (Math.min(p.x1, bike.x1) - Math.max(p.x0, bike.x0)) * (Math.min(p.y1, bike.y1) - Math.max(p.y0, bike.y0));
      if (area > best) { best = area; rider = p; }
    }
    if (rider) {
      riding.add(rider);
      out.push({ cls: 'cyclist', score: bike.score, x0: Math.min(rider.x0, bike.x0), y0: Math.min(rider.y0, bike.y0), x1: Math.max(rider.x1, bike.x1), y1: Math.max(rider.y1, bike.y1) });
    } else {
      out.push({ cls: 'cyclist', score: bike.score, x0: bike.x0, y0: bike.y0, x1: bike.x1, y1: bike.y1 });
    }
  }
  for (const b of boxes) {
    if (b.kind === 'bike' || riding.has(b)) continue;
    out.push({ cls: b.kind === 'person' ? 'pedestrian' : b.kind, score: b.score, x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 });
  }
  return out.sort((a, b) => b.score - a.score);
}
