import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeFeatures, encodeFeatures, halfArray, toHalf } from './store-codec.js';
import { mergeLabels, SampleStore } from './store.js';
import { fakeSample } from '../../../test/support/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ap-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('store codec', () => {
  it('float16 round trip is within half precision', () => {
    const s = fakeSample('a', 1n);
    const { blob, shapes } = encodeFeatures(s.features, 'f16');
    const back = decodeFeatures(blob, shapes, 'f16');
    for (const h of ['det', 'seg', 'depth'] as const) {
      const a = s.features[h].data;
      const b = back[h].data;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 1e-3 + 1e-7);
    }
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(65520)).toBe(0x7c00);
    expect(toHalf(-2)).toBe(0xc000);
  });

  it('keepHalf: float16 maps also carry their bits (what the trainer caches), equal to encoding the decoded values again; float32 ones do not', () => {
    const s = fakeSample('a', 1n);
    const { blob, shapes } = encodeFeatures(s.features, 'f16');
    const plain = decodeFeatures(blob, shapes, 'f16');
    const kept = decodeFeatures(blob, shapes, 'f16', true);
    for (const h of ['det', 'seg', 'depth'] as const) {
      expect(plain[h].half).toBeUndefined();
      expect(kept[h].data).toEqual(plain[h].data);
      expect(kept[h].half).toEqual(halfArray(plain[h].data));
    }
    const f32 = encodeFeatures(s.features, 'f32');
    expect(decodeFeatures(f32.blob, f32.shapes, 'f32', true).det.half).toBeUndefined();
  });

  it("keeps a merged detector's peaks (coco_heat / coco_box) where a frame has them, and nothing where it has not", () => {
    const s = fakeSample('a', 1n);
    const coco = (c: number) => ({ channels: c, height: 2, width: 3, data: Float32Array.from({ length: c * 6 }, (_, i) => i / 10) });
    const withCoco = { ...s.features, coco_heat: coco(4), coco_box: coco(4) };
    for (const enc of ['f32', 'f16'] as const) {
      const { blob, shapes } = encodeFeatures(withCoco, enc);
      const back = decodeFeatures(blob, shapes, enc);
      expect(back.coco_heat?.channels).toBe(4);
      for (let i = 0; i < 24; i++) expect(back.coco_box!.data[i]).toBeCloseTo(i / 10, 2);
      const plain = encodeFeatures(s.features, enc);
      expect(Array.from(back.depth.data)).toEqual(Array.from(decodeFeatures(plain.blob, plain.shapes, enc).depth.data));
    }
    const plain = encodeFeatures(s.features, 'f32');
    expect(Object.keys(plain.shapes)).toEqual(['det', 'seg', 'depth']);
    expect(decodeFeatures(plain.blob, plain.shapes, 'f32').coco_heat).toBeUndefined();
    expect(() => encodeFeatures({ ...s.features, coco_heat: { channels: 4, height: 2, width: 3, data: new Float32Array(5) } }, 'f32')).toThrow(/coco_heat/);
  });
});

describe('SampleStore', () => {
  it('BAD CALL: rejects a maxSamples of 0, naming the field', () => {
    expect(() => SampleStore.open(join(dir, 'x.db'), { maxSamples: 0 })).toThrow(/maxSamples/);
  });

  it('stores a sample, adds labels later, reads both back verified', () => {
    const st = SampleStore.open(join(dir, 's.db'));
    const s = fakeSample('front', 123_000_000_001n);
    const { id } = st.insert(s);
    expect(id).not.toBeNull();
    expect(st.insert(s).id).toBeNull(); // same camera+stamp again
    expect(st.setLabels('front', 123_000_000_001n, { boxes: [{ classIndex: 1, x0: 1, y0: 2, x1: 3, y1: 4 }] })).toBe(true);
    expect(st.setLabels('front', 123_000_000_001n, { depth: { width: 2, height: 1, data: Float32Array.of(5, 0) }, lane: { width: 3, height: 1, data: Uint8Array.of(0, 1, 2) } })).toBe(true);
    expect(st.setLabels('front', 9n, { boxes: [] })).toBe(false);
    const got = st.get(id as number);
    expect(got.stampNs).toBe(123_000_000_001n);
    expect(got.labels.boxes).toEqual([{ classIndex: 1, x0: 1, y0: 2, x1: 3, y1: 4 }]);
    expect(Array.from(got.labels.depth!.data)).toEqual([5, 0]);
    expect(Array.from(got.labels.lane!.data)).toEqual([0, 1, 2]);
    expect(got.features.seg.data.length).toBe(3 * 16 * 32);
    expect(Array.from(got.image!)).toEqual(Array.from(s.image!));
    expect(st.list({ labeled: true }).map((r) => r.id)).toEqual([id]);
    st.close();
    st.close(); // idempotent
  });

  it('detects a corrupted row on read', () => {
    const file = join(dir, 'c.db');
    const st = SampleStore.open(file);
    const { id } = st.insert(fakeSample('a', 1n));
    st.close();
    // flip bytes behind the store's back
    const st2 = SampleStore.open(file);
    (st2 as unknown as { db: { prepare(s: string): { run(...a: unknown[]): void } } }).db
      .prepare("UPDATE samples SET meta = replace(meta, 'uncertainty', 'uncertaintx') WHERE id = ?")
      .run(id);
    expect(() => st2.get(id as number)).toThrow(/checksum/);
    // A label part for it is refused too (the checksum, not a decode of its features), and the row stays as it was.
    expect(() => st2.setLabels('a', 1n, { boxes: [] })).toThrow(/sample row \d+ fails its checksum/);
    expect(st2.list({ labeled: true })).toEqual([]);
    st2.close();
  });

  it('is bounded: evicts the oldest unlabeled new sample first', () => {
    const st = SampleStore.open(join(dir, 'b.db'), { maxSamples: 3 });
    const ids = [0, 1, 2].map((i) => st.insert(fakeSample('a', BigInt(i))).id);
    st.setLabels('a', 0n, { boxes: [] });
    const r = st.insert(fakeSample('a', 3n));
    expect(r.evicted).toEqual([ids[1]]); // 0 is labeled, so 1 (oldest unlabeled) goes
    expect(st.count({ domain: 'new' })).toBe(3);
    st.close();
  });

  it("ids: list's ids from memory, new after every insert, label and eviction", () => {
    const st = SampleStore.open(join(dir, 'ids.db'), { maxSamples: 3 });
    const same = (f: Parameters<SampleStore['ids']>[0]) => expect(st.ids(f)).toEqual(st.list(f).map((r) => r.id));
    const filters = [{}, { labeled: true }, { domain: 'new' as const, labeled: true }, { domain: 'old' as const }];
    expect(st.ids({ labeled: true })).toEqual([]);
    const a = st.insert(fakeSample('a', 0n)).id;
    for (const f of filters) same(f);
    const first = st.ids({});
    expect(st.ids({})).toBe(first); // unchanged store: the same array, no query
    st.setLabels('a', 0n, { boxes: [] });
    expect(st.ids({ labeled: true })).toEqual([a]);
    for (let i = 1; i <= 3; i++) st.insert(fakeSample('a', BigInt(i)));
    st.insert(fakeSample('old', 9n, 'old'));
    for (const f of filters) same(f);
    expect(st.ids({ domain: 'new' }).length).toBe(3); // one evicted
    st.close();
  });

  it('keeps a bounded, uniform reservoir of old-domain samples and a stable split', () => {
    const st = SampleStore.open(join(dir, 'r.db'), { reservoirSize: 10, valFraction: 0.3 });
    for (let i = 0; i < 200; i++) st.insert(fakeSample('old', BigInt(i) * 1000n, 'old'));
    const kept = st.list({ domain: 'old' });
    expect(kept.length).toBe(10);
    const mean = kept.reduce((a, r) => a + Number(r.stampNs / 1000n), 0) / kept.length;
    expect(mean).toBeGreaterThan(40); // not just the first ten (mean 4.5)
    for (const r of kept) expect(r.split).toBe(st.splitOf(r.camera, r.stampNs));
    const val = [...Array(1000).keys()].filter((i) => st.splitOf('c', BigInt(i)) === 'val').length;
    expect(val).toBeGreaterThan(240);
    expect(val).toBeLessThan(360);
    st.close();
  });

  it('loses no committed row when the writing process is killed mid-write', async () => {
    const file = join(dir, 'crash.db');
    const child = spawn(process.execPath, ['--import', 'tsx', join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'support', 'store-crash-child.ts'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const committed: number[] = [];
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) committed.push(Number(l));
        if (committed.length >= 40 && !child.killed) child.kill('SIGKILL');
      });
    });
    expect(committed.length).toBeGreaterThanOrEqual(40);
    const st = SampleStore.open(file);
    for (const id of committed) expect(st.get(id).camera).toBe('cam'); // present and checksum-verified
    const all = st.list();
    for (const r of all) st.get(r.id); // nothing half-written either
    expect(all.length).toBeGreaterThanOrEqual(committed.length);
    st.close();
  });
});

describe('mergeLabels', () => {
  const box = (x: number) => ({ classIndex: 0, x0: x, y0: 0, x1: x + 10, y1: 10 });
  it("later parts replace earlier ones, but a teacher's boxes never replace an annotator's", () => {
    const lane = { width: 1, height: 1, data: Uint8Array.of(1) };
    expect(mergeLabels({ boxes: [box(1)] }, { boxes: [box(2)], boxSource: 'teacher', lane })).toEqual({ boxes: [box(1)], lane });
    expect(mergeLabels({ boxes: [box(1)], boxSource: 'teacher' }, { boxes: [box(2)] })).toEqual({ boxes: [box(2)] });
    expect(mergeLabels({ boxes: [box(1)], boxSource: 'teacher' }, { boxes: [box(2)], boxSource: 'annotator' })).toEqual({ boxes: [box(2)] });
    expect(mergeLabels({ boxes: [box(1)], boxSource: 'teacher' }, { boxes: [box(4)], boxSource: 'teacher' })).toEqual({ boxes: [box(4)], boxSource: 'teacher' });
    expect(mergeLabels({ lane }, { boxes: [box(3)], boxSource: 'teacher' })).toEqual({ lane, boxes: [box(3)], boxSource: 'teacher' });
  });

  it("a package teacher's lane mask and depth never replace an annotator's, and an annotator's replace a teacher's", () => {
    const lane = (v: number) => ({ width: 1, height: 1, data: Uint8Array.of(v) });
    const depth = (v: number) => ({ width: 1, height: 1, data: Float32Array.of(v) });
    expect(mergeLabels({ lane: lane(1) }, { lane: lane(2), laneSource: 'teacher', depth: depth(5), depthSource: 'teacher' })).toEqual({ lane: lane(1), depth: depth(5), depthSource: 'teacher' });
    expect(mergeLabels({ lane: lane(2), laneSource: 'teacher' }, { lane: lane(1) })).toEqual({ lane: lane(1) });
    expect(mergeLabels({ depth: depth(5), depthSource: 'teacher' }, { depth: depth(7), depthSource: 'annotator' })).toEqual({ depth: depth(7) });
    expect(mergeLabels({ lane: lane(2), laneSource: 'teacher' }, { lane: lane(0), laneSource: 'teacher' })).toEqual({ lane: lane(0), laneSource: 'teacher' });
    // each part on its own: the annotator's boxes stay, the teacher's lane comes in
    expect(mergeLabels({ boxes: [box(1)] }, { boxes: [box(2)], boxSource: 'teacher', lane: lane(1), laneSource: 'teacher' })).toEqual({ boxes: [box(1)], lane: lane(1), laneSource: 'teacher' });
  });
});
