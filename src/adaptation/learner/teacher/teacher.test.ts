import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPerceptionError } from '../../../core/errors.js';
import { COCO, COCO_NAMES, cocoKind, iou, mapToClasses, nmsByGroup, type RawBox } from './coco.js';
import { Teacher, type TeacherOptions } from './teacher.js';
import { PRECISION_ENV } from '../../../engine/engine.js';
import type { TeacherBox, TeacherFrame } from './types.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'day-1234-12');

async function fixture(): Promise<{ frame: TeacherFrame; gt: { cls: string; x0: number; y0: number; x1: number; y1: number }[] }> {
  const { data, info } = await sharp(`${FIXTURE}.jpg`).raw().toBuffer({ resolveWithObject: true });
  return { frame: { rgb: new Uint8Array(data), width: info.width, height: info.height }, gt: JSON.parse(readFileSync(`${FIXTURE}.json`, 'utf8')).boxes };
}

const corners = (b: TeacherBox) => ({ x0: b.x, y0: b.y, x1: b.x + b.w, y1: b.y + b.h });
const raw = (kind: RawBox['kind'], score: number, x0: number, y0: number, x1: number, y1: number): RawBox => ({ kind, score, x0, y0, x1, y1 });

async function expectInvalid(p: Promise<unknown>, field: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(isPerceptionError(err, 'INVALID_ARGUMENT'), String(err)).toBe(true);
  expect((err as { context: { field?: string } }).context.field).toBe(field);
  expect((err as Error).message).toContain(field);
}

describe('COCO → our classes', () => {
  it('maps car, truck/bus, person, bicycle/motorcycle and drops the rest', () => {
    expect(COCO_NAMES).toHaveLength(80);
    expect(COCO_NAMES[COCO.bus]).toBe('bus');
    expect(cocoKind(COCO.car)).toBe('car');
    expect(cocoKind(COCO.truck)).toBe('truck');
    expect(cocoKind(COCO.bus)).toBe('truck');
    expect(cocoKind(COCO.person)).toBe('person');
    expect(cocoKind(COCO.bicycle)).toBe('bike');
    expect(cocoKind(COCO.motorcycle)).toBe('bike');
    const kept = COCO_NAMES.map((_, i) => cocoKind(i)).filter((k) => k !== null);
    expect(kept).toHaveLength(6);
    expect(cocoKind(COCO_NAMES.indexOf('airplane'))).toBeNull();
    expect(cocoKind(-1)).toBeNull();
  });

  it('merges a rider with the bike under it into one cyclist box (the union, the bike’s score)', () => {
    const rider = raw('person', 0.9, 100, 50, 130, 140);
    const bike = raw('bike', 0.6, 95, 100, 140, 150);
    const walker = raw('person', 0.8, 300, 50, 330, 140);
    const out = mapToClasses([rider, bike, walker]);
    expect(out).toEqual([
      { cls: 'pedestrian', score: 0.8, x0: 300, y0: 50, x1: 330, y1: 140 },
      { cls: 'cyclist', score: 0.6, x0: 95, y0: 50, x1: 140, y1: 150 },
    ]);
  });

  it('keeps a person beside a bike a pedestrian, a riderless bike a cyclist, buses trucks', () => {
    const beside = raw('person', 0.9, 200, 50, 230, 140);
    const bike = raw('bike', 0.6, 95, 100, 140, 150);
    const bus = raw('truck', 0.7, 400, 40, 600, 200);
    const out = mapToClasses([beside, bike, bus]);
    expect(out.map((b) => b.cls)).toEqual(['pedestrian', 'truck', 'cyclist']);
    expect(out[2]).toMatchObject({ x0: 95, y0: 100, x1: 140, y1: 150 });
    // a person standing on the bike's level (its top below the bike's top) is not riding it
    expect(mapToClasses([raw('person', 0.9, 100, 110, 130, 150), bike]).map((b) => b.cls).sort()).toEqual(['cyclist', 'pedestrian']);
  });

  it('suppresses duplicates within a group, not across groups', () => {
    const car = raw('car', 0.9, 0, 0, 100, 50);
    const sameAsTruck = raw('truck', 0.5, 2, 0, 100, 52); // one vehicle, two kinds: keep the better
    const riderBike = raw('bike', 0.7, 0, 10, 100, 50); // overlaps the car but is another group
    const kept = nmsByGroup([sameAsTruck, car, riderBike], 0.5);
    expect(kept).toEqual([car, riderBike]);
    expect(iou(car, sameAsTruck)).toBeGreaterThan(0.5);
  });
});

describe('Teacher (FastestDet, committed weights)', () => {
  let teacher: Teacher;
  let data: Awaited<ReturnType<typeof fixture>>;
  beforeAll(async () => {
    // the fixture's car scores 0.64: below the default 0.7, so ask for 0.5
    teacher = await Teacher.create({ threshold: 0.5 });
    data = await fixture();
  });
  afterAll(async () => {
    await teacher.dispose();
  });

  it('finds the car of a synthetic frame, in camera pixels', async () => {
    const { boxes } = await teacher.label(data.frame);
    const gtCar = data.gt.find((b) => b.cls === 'car' && b.x1 - b.x0 > 25)!;
    const car = boxes.find((b) => b.cls === 'car' && iou(corners(b), gtCar) >= 0.5);
    expect(car, JSON.stringify(boxes)).toBeDefined();
    expect(car!.score).toBeGreaterThanOrEqual(teacher.threshold);
    for (const b of boxes) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.y).toBeGreaterThanOrEqual(0);
      expect(b.x + b.w).toBeLessThanOrEqual(data.frame.width);
      expect(b.y + b.h).toBeLessThanOrEqual(data.frame.height);
      expect(['car', 'truck', 'pedestrian', 'cyclist']).toContain(b.cls);
    }
  });

  it('gives boxes in the frame’s own pixels whatever its size', async () => {
    const { data: half } = await sharp(data.frame.rgb, { raw: { width: 640, height: 360, channels: 3 } }).resize(320, 180).raw().toBuffer({ resolveWithObject: true });
    const full = (await teacher.label(data.frame)).boxes.find((b) => b.cls === 'car')!;
    const small = (await teacher.label({ rgb: new Uint8Array(half), width: 320, height: 180 })).boxes.find((b) => b.cls === 'car');
    expect(small, 'the car at half size').toBeDefined();
    const scaled = { x0: small!.x * 2, y0: small!.y * 2, x1: (small!.x + small!.w) * 2, y1: (small!.y + small!.h) * 2 };
    expect(iou(scaled, corners(full))).toBeGreaterThan(0.6);
  });

  it('keeps only boxes at or above its threshold; a higher threshold keeps a subset', async () => {
    const low = await Teacher.create({ threshold: 0.2 });
    const high = await Teacher.create({ threshold: 0.7 });
    try {
      const a = (await low.label(data.frame)).boxes, b = (await high.label(data.frame)).boxes;
      expect(a.every((x) => x.score >= 0.2)).toBe(true);
      expect(b.every((x) => x.score >= 0.7)).toBe(true);
      expect(a.length).toBeGreaterThan(b.length);
      for (const x of b) expect(a.some((y) => y.cls === x.cls && iou(corners(x), corners(y)) > 0.99)).toBe(true);
    } finally {
      await low.dispose();
      await high.dispose();
    }
  });

  it('without tiles (one squashed full-frame run) still finds the car, and finds no more boxes', async () => {
    const plain = await Teacher.create({ threshold: 0.5, tiles: false });
    try {
      expect(plain.tiles).toBe(false);
      expect(teacher.tiles).toBe(true);
      const boxes = (await plain.label(data.frame)).boxes;
      expect(boxes.some((b) => b.cls === 'car')).toBe(true);
      expect(boxes.length).toBeLessThanOrEqual((await teacher.label(data.frame)).boxes.length);
    } finally {
      await plain.dispose();
    }
  });

  it('rejects a malformed frame, naming the field', async () => {
    const { frame } = data;
    await expectInvalid(teacher.label({ ...frame, width: 641 }), 'frame.rgb');
    await expectInvalid(teacher.label({ ...frame, width: 0 }), 'frame.width');
    await expectInvalid(teacher.label({ ...frame, height: 1.5 }), 'frame.height');
    await expectInvalid(teacher.label({ ...frame, rgb: Array.from(frame.rgb) as unknown as Uint8Array }), 'frame.rgb');
    await expectInvalid(teacher.label({ ...frame, rgb: frame.rgb.subarray(3) }), 'frame.rgb');
    await expectInvalid(teacher.label(null as unknown as TeacherFrame), 'frame');
  });
});

describe('Teacher lifecycle and options', () => {
  it('defaults to FastestDet with tiles at the pseudo-label threshold', async () => {
    const t = await Teacher.create();
    expect([t.model, t.tiles, t.threshold]).toEqual(['fastestdet', true, 0.7]);
    await t.dispose();
  });

  it('dispose is idempotent; label afterwards rejects clearly', async () => {
    const t = await Teacher.create();
    expect(t.disposed).toBe(false);
    await t.dispose();
    await t.dispose();
    expect(t.disposed).toBe(true);
    const { frame } = await fixture();
    await expectInvalid(t.label(frame), 'teacher');
  });

  it('dispose waits for a label in progress, which still returns its boxes', async () => {
    const t = await Teacher.create({ threshold: 0.5 });
    const { frame } = await fixture();
    const pending = t.label(frame);
    await t.dispose();
    expect((await pending).boxes.some((b) => b.cls === 'car')).toBe(true);
    await expectInvalid(t.label(frame), 'teacher');
  });

  it('labels frames of any size and shape, tiny and portrait included', async () => {
    const t = await Teacher.create();
    try {
      for (const [w, h] of [[1, 1], [7, 3], [180, 320]]) {
        const { boxes } = await t.label({ rgb: new Uint8Array(w * h * 3).fill(90), width: w, height: h });
        for (const b of boxes) expect(b.x + b.w <= w && b.y + b.h <= h).toBe(true);
      }
    } finally {
      await t.dispose();
    }
  });

  it('rejects bad options, naming the field', async () => {
    await expectInvalid(Teacher.create({ model: 'yolo' } as unknown as TeacherOptions), 'model');
    await expectInvalid(Teacher.create({ threshold: 1.5 }), 'threshold');
    await expectInvalid(Teacher.create({ threshold: Number.NaN }), 'threshold');
    await expectInvalid(Teacher.create({ weights: '' }), 'weights');
    await expectInvalid(Teacher.create({ model: 'centernet', tiles: true }), 'tiles');
    await expectInvalid(Teacher.create({ cameraHeightM: 0.05 }), 'cameraHeightM');
    await expectInvalid(Teacher.create({ cameraHeightM: -1.5 }), 'cameraHeightM');
    await expectInvalid(Teacher.create({ cameraHeightM: Number.NaN }), 'cameraHeightM');
  });

  it('says where to get nanodet/centernet weights when they are missing', async () => {
    const err = await Teacher.create({ model: 'nanodet', weights: '/nonexistent/human-models' }).then(() => null, (e: unknown) => e);
    expect(isPerceptionError(err, 'IO')).toBe(true);
    expect((err as Error).message).toContain('nanodet');
    expect((err as Error).message).toContain('/nonexistent/human-models');
  });

  it('reports a missing FastestDet file as a model error naming the file', async () => {
    const err = await Teacher.create({ weights: '/nonexistent/FastestDet.onnx' }).then(() => null, (e: unknown) => e);
    expect(isPerceptionError(err, 'MODEL_RUNTIME')).toBe(true);
    expect((err as Error).message).toContain('/nonexistent/FastestDet.onnx');
  });
});

describe('Teacher (a perception package: the real-roads candidate)', () => {
  let teacher: Teacher;
  let data: Awaited<ReturnType<typeof fixture>>;
  beforeAll(async () => {
    teacher = await Teacher.create({ model: 'package', heads: ['det', 'seg', 'depth'], threshold: 0.3 });
    data = await fixture();
  });
  afterAll(async () => {
    await teacher.dispose();
  });

  it('labels boxes in the frame’s pixels, a lane / drivable mask and metric depth over the whole frame', async () => {
    expect(teacher.description).toMatch(/^package .+@/);
    const { boxes, lane, depth } = await teacher.label(data.frame);
    const gtCar = data.gt.find((b) => b.cls === 'car' && b.x1 - b.x0 > 25)!;
    expect(boxes.some((b) => b.cls === 'car' && iou(corners(b), gtCar) >= 0.5), JSON.stringify(boxes)).toBe(true);
    for (const b of boxes) expect(b.score >= 0.3 && b.x >= 0 && b.y >= 0 && b.x + b.w <= 640 && b.y + b.h <= 360).toBe(true);
    expect(lane && depth).toBeTruthy();
    // every value a seg class, or 255 (ignore) where the mirrored run disagreed
    expect(lane!.data.length).toBe(lane!.width * lane!.height);
    expect(lane!.data.every((v) => v <= 2 || v === 255)).toBe(true);
    // a road scene: the bottom middle of the frame is drivable road, the top is not
    const at = (m: { width: number; height: number; data: Uint8Array }, fx: number, fy: number) => m.data[Math.floor(fy * m.height) * m.width + Math.floor(fx * m.width)];
    expect(at(lane!, 0.5, 0.95)).not.toBe(0);
    expect(at(lane!, 0.5, 0.05)).toBe(0);
    const lanePixels = lane!.data.filter((v) => v === 1).length;
    expect(lanePixels).toBeGreaterThan(0);
    expect(depth!.data.length).toBe(depth!.width * depth!.height);
    expect(depth!.data.every((v) => Number.isFinite(v) && v >= 0)).toBe(true); // 0: the runs disagreed (invalid)
    expect(depth!.data.filter((v) => v > 0).length).toBeGreaterThan(depth!.data.length / 2);
    // nearer at the bottom of the frame (the road in front) than at the horizon
    const d = (fy: number) => depth!.data[Math.floor(fy * depth!.height) * depth!.width + (depth!.width >> 1)];
    expect(d(0.95)).toBeLessThan(d(0.5));
  });

  it('with flip (the default) keeps only what the mirrored frame agrees on: a subset of the plain run', async () => {
    const plain = await Teacher.create({ model: 'package', heads: ['det', 'seg', 'depth'], threshold: 0.3, flip: false });
    try {
      expect([teacher.flip, plain.flip]).toEqual([true, false]);
      const a = await plain.label(data.frame), b = await teacher.label(data.frame);
      expect(a.lane!.data.every((v) => v <= 2)).toBe(true);
      let ignored = 0;
      for (let i = 0; i < a.lane!.data.length; i++) {
        if (b.lane!.data[i] === 255) ignored++;
        else expect(b.lane!.data[i]).toBe(a.lane!.data[i]);
      }
      expect(ignored).toBeGreaterThan(0);
      expect(ignored).toBeLessThan(a.lane!.data.length / 4);
      for (let i = 0; i < a.depth!.data.length; i++) if (b.depth!.data[i] > 0) expect(b.depth!.data[i]).toBe(a.depth!.data[i]);
      expect(b.boxes.length).toBeLessThanOrEqual(a.boxes.length);
      for (const x of b.boxes) expect(a.boxes.some((y) => y.cls === x.cls && iou(corners(x), corners(y)) > 0.99)).toBe(true);
    } finally {
      await plain.dispose();
    }
  });

  it('labels only the heads it is asked to', async () => {
    const segOnly = await Teacher.create({ model: 'package', heads: ['seg'] });
    try {
      expect(segOnly.heads).toEqual(['seg']);
      const r = await segOnly.label(data.frame);
      expect(r.boxes).toEqual([]);
      expect(r.lane).toBeDefined();
      expect(r.depth).toBeUndefined();
    } finally {
      await segOnly.dispose();
    }
  });

  it('defaults to lanes from the bundled candidate; refuses heads a COCO detector cannot label', async () => {
    const t = await Teacher.create({ model: 'package' });
    expect([t.model, t.heads, t.tiles, t.flip, t.threshold]).toEqual(['package', ['seg'], false, true, 0.5]);
    await t.dispose();
    await expectInvalid(Teacher.create({ heads: ['seg'] }), 'heads');
    await expectInvalid(Teacher.create({ model: 'package', heads: [] }), 'heads');
    await expectInvalid(Teacher.create({ model: 'package', heads: ['det', 'det'] }), 'heads');
    await expectInvalid(Teacher.create({ model: 'package', heads: ['lane'] as unknown as TeacherOptions['heads'] }), 'heads');
    await expectInvalid(Teacher.create({ model: 'package', tiles: true }), 'tiles');
    await expectInvalid(Teacher.create({ flip: true }), 'flip');
  });

  it('runs at fp32 whatever precision the student is told through the environment', async () => {
    const before = process.env[PRECISION_ENV];
    process.env[PRECISION_ENV] = 'int8'; // the candidate has no int8 variant: an engine honouring this would refuse
    try {
      const t = await Teacher.create({ model: 'package' });
      expect((await t.label(data.frame)).lane).toBeDefined();
      await t.dispose();
    } finally {
      if (before === undefined) delete process.env[PRECISION_ENV];
      else process.env[PRECISION_ENV] = before;
    }
  });

  it('knows when it is the model being adapted', async () => {
    expect(teacher.isSameModelAs({ name: 'real', version: '2.0.0' })).toBe(true);
    expect(teacher.isSameModelAs({ name: 'default', version: '1.0.0' })).toBe(false);
    const coco = await Teacher.create();
    expect(coco.isSameModelAs({ name: 'real', version: '2.0.0' })).toBe(false);
    await coco.dispose();
  });

  it('reports a folder that is not a package as a model error naming it', async () => {
    const err = await Teacher.create({ model: 'package', weights: '/nonexistent/pkg' }).then(() => null, (e: unknown) => e);
    expect(isPerceptionError(err, 'MODEL_RUNTIME'), String(err)).toBe(true);
    expect((err as Error).message).toContain('/nonexistent/pkg');
  });
});
