import { describe, expect, it } from 'vitest';
import { HEADS } from '../../model/manifest.js';
import type { FlaggedSample, ModelView } from '../learner/store-types.js';
import { decodeMessage, encodeMessage, type SampleMessage } from './channel-codec.js';
import { sampleFromMessage, sampleToMessage } from './wire.js';

const view: ModelView = {
  depth: { width: 4, height: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
  seg: { width: 2, height: 1, data: Uint8Array.from([1, 2]) },
  cameraSize: { width: 640, height: 360 },
  k: [320, 321, 319.5, 180.5],
  depthScale: 0.9,
};
const sample = (v?: ModelView): FlaggedSample => ({
  camera: 'front',
  stampNs: 42n,
  domain: 'new',
  reasons: ['entropy'],
  scores: { entropy: 0.5 },
  inputSize: [192, 384],
  cameraSize: { width: 640, height: 360 },
  features: Object.fromEntries(HEADS.map((h) => [h, { channels: 1, height: 1, width: 2, data: Float32Array.from([0.5, 1]) }])) as FlaggedSample['features'],
  ...(v ? { view: v } : {}),
});
/** Through the channel's own framing, as perception → learner. */
const roundTrip = (m: SampleMessage) => decodeMessage(encodeMessage(m), ['sample']) as SampleMessage;

describe('flagged samples on the wire', () => {
  it("carry a merged detector's peaks when the frame has them", () => {
    const coco = { channels: 4, height: 1, width: 2, data: Float32Array.from([0, 0.6, 0, 0, 0, 0, 0, 0]) };
    const box = { channels: 4, height: 1, width: 2, data: Float32Array.from([0.5, 0.5, 0.2, 0.2, 30, 30, 12, 12]) };
    const s = sample();
    const back = sampleFromMessage(roundTrip(sampleToMessage({ ...s, features: { ...s.features, coco_heat: coco, coco_box: box } })));
    expect(Array.from(back.features.coco_heat!.data)).toEqual(Array.from(coco.data));
    expect(Array.from(back.features.coco_box!.data)).toEqual(Array.from(box.data));
    expect(sampleFromMessage(roundTrip(sampleToMessage(s))).features.coco_heat).toBeUndefined();
  });

  it("carry the serving model's view (depth, segmentation, intrinsics, depth scale) when there is one", () => {
    const back = sampleFromMessage(roundTrip(sampleToMessage(sample(view))));
    expect(back.view?.k).toEqual(view.k);
    expect(back.view?.depthScale).toBe(0.9);
    expect(back.view?.cameraSize).toEqual({ width: 640, height: 360 });
    expect([back.view?.depth.width, back.view?.depth.height, Array.from(back.view!.depth.data)]).toEqual([4, 2, [1, 2, 3, 4, 5, 6, 7, 8]]);
    expect([back.view?.seg.width, back.view?.seg.height, Array.from(back.view!.seg.data)]).toEqual([2, 1, [1, 2]]);
    expect(back.view?.heightM).toBeUndefined();
    expect(sampleFromMessage(roundTrip(sampleToMessage(sample({ ...view, heightM: 1.8, pitchRad: 0.05 })))).view).toMatchObject({ heightM: 1.8, pitchRad: 0.05 }); // the robot's TF
    expect(sampleFromMessage(roundTrip(sampleToMessage(sample()))).view).toBeUndefined();
  });

  it('refuse a view that cannot be used, naming what is wrong', () => {
    const m = sampleToMessage(sample(view));
    const info = m.info as Record<string, unknown>;
    const withView = (v: unknown, tensors = m.tensors) => ({ ...m, tensors, info: { ...info, view: v } }) as SampleMessage;
    const good = info.view as Record<string, unknown>;
    expect(() => sampleFromMessage(withView({ ...good, k: [320, 0, 320, 180] }))).toThrow(/view\.k must be four positive numbers/);
    expect(() => sampleFromMessage(withView({ ...good, depth_scale: -1 }))).toThrow(/view\.depth_scale/);
    expect(() => sampleFromMessage(withView({ ...good, camera_size: [640] }))).toThrow(/view\.camera_size/);
    for (const h of [-1.5, 0, 'high', null]) expect(() => sampleFromMessage(withView({ ...good, height_m: h }))).toThrow(/view\.height_m must be a positive number/);
    for (const p of [2, -1.6, 'down', null]) expect(() => sampleFromMessage(withView({ ...good, height_m: 1.5, pitch_rad: p }))).toThrow(/view\.pitch_rad must be an angle in \[-pi\/2, pi\/2\]/);
    const { view_depth: _, ...noDepth } = m.tensors;
    expect(() => sampleFromMessage(withView(good, noDepth))).toThrow(expect.objectContaining({ code: 'MESSAGE_DECODE', message: expect.stringMatching(/view_depth must be a non-empty float32 \[H, W\] tensor/) }));
    const short = { ...m.tensors, view_seg: { dtype: 'uint8' as const, shape: [2, 2], data: Uint8Array.from([1, 2]) } };
    expect(() => sampleFromMessage(withView(good, short))).toThrow(/view_seg/);
  });
});
