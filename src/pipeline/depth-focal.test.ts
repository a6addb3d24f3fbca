import { describe, expect, it } from 'vitest';
import type { FrameOutcome } from './frame-runner.js';
import { assumedDepthScale, CameraFocals, depthScale, heightDepthScale, toModelDepth, withCameraFocals } from './depth-focal.js';

const info = (width: number, fx: number) => ({ width, height: Math.round(width * 0.5625), k: [fx, 0, width / 2, 0, fx, width * 0.28, 0, 0, 1] });

describe('depth from the camera focal', () => {
  it('scales by the focal ratio to the exponent', () => {
    expect(depthScale({ fx_over_width: 0.5, exponent: 1 }, info(640, 320))).toBeCloseTo(1, 9);
    expect(depthScale({ fx_over_width: 0.5, exponent: 1 }, info(1000, 1000))).toBeCloseTo(2, 9);
    expect(depthScale({ fx_over_width: 0.5, exponent: 0.5 }, info(1000, 1000))).toBeCloseTo(Math.SQRT2, 9);
    // Only fx ÷ width matters: the same lens at half the resolution.
    expect(depthScale({ fx_over_width: 0.5, exponent: 1 }, info(500, 500))).toBeCloseTo(2, 9);
  });

  // A package that states the shape its focal was fitted on (16:9 here) scales by the vertical
  // focal: every frame is resized to the model's input, so a 4:3 or a KITTI-shaped camera shows
  // the road's rows at another scale than its fx/width says.
  const AT_16_9 = { fx_over_width: 0.5, exponent: 1, aspect: 16 / 9 };
  const cam = (width: number, height: number, fx: number, fy = fx) => ({ width, height, k: [fx, 0, width / 2, 0, fy, height / 2, 0, 0, 1] });

  it('with the fitted aspect: fy/height against fx_over_width × aspect (the fx rule at that shape)', () => {
    expect(depthScale(AT_16_9, cam(1280, 720, 1000))).toBeCloseTo(depthScale({ fx_over_width: 0.5, exponent: 1 }, cam(1280, 720, 1000)), 9);
    expect(depthScale(AT_16_9, cam(1280, 720, 640))).toBeCloseTo(1, 9);
    // KITTI's shape, an 81° lens: fx/width 0.58 but fy/height 1.92.
    expect(depthScale(AT_16_9, cam(1242, 375, 721))).toBeCloseTo(721 / 375 / (0.5 * 16 / 9), 9);
    expect(depthScale(AT_16_9, cam(640, 480, 320))).toBeCloseTo(0.75, 9);
    // fy is K[4]; a K that leaves it 0 states square pixels.
    expect(depthScale(AT_16_9, cam(640, 480, 320, 400))).toBeCloseTo(400 / 480 / (0.5 * 16 / 9), 9);
    expect(depthScale(AT_16_9, cam(640, 480, 320, 0))).toBeCloseTo(0.75, 9);
    expect(depthScale({ ...AT_16_9, exponent: 0.5 }, cam(640, 480, 320))).toBeCloseTo(Math.sqrt(0.75), 9);
    expect(() => depthScale(AT_16_9, cam(640, 0, 320), 'front')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', context: expect.objectContaining({ field: 'camera_info.height', camera: 'front' }) }));
  });

  it('without camera_info: the package\'s own lens with square pixels on the frames\' shape', () => {
    expect(assumedDepthScale(AT_16_9, { width: 1280, height: 720 })).toBeCloseTo(1, 9);
    expect(assumedDepthScale(AT_16_9, { width: 640, height: 480 })).toBeCloseTo(0.75, 9);
    expect(assumedDepthScale({ fx_over_width: 0.5, exponent: 1 }, { width: 640, height: 480 })).toBe(1);
    const lines: string[] = [];
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: AT_16_9 } }, (l) => lines.push(l));
    expect(f.scale('front')).toBe(1); // nothing known of it yet
    expect(f.scale('front', { width: 160, height: 120 })).toBeCloseTo(0.75, 9); // a label's shape
    f.seen('front', { width: 1242, height: 375 });
    expect(f.scale('front', { width: 160, height: 120 })).toBeCloseTo(1242 / 375 / (16 / 9), 9); // the frames' shape first
    expect(f.intrinsics('front', { width: 1242, height: 375 })?.depthScale).toBeCloseTo(1242 / 375 / (16 / 9), 9);
    f.note('front', cam(1242, 375, 721));
    expect(f.scale('front')).toBeCloseTo(721 / 375 / (0.5 * 16 / 9), 9);
    expect(lines.at(-1)).toMatch(/front: camera_info fy\/height 1\.923 \(the model assumes 0\.889\): depth × 2\.163/);
  });

  it('the runner scales a camera without camera_info by its frames\' shape', async () => {
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: AT_16_9 } });
    const out = (w: number, h: number): FrameOutcome => ({ ok: true, image: { width: w, height: h, data: new Uint8Array(3 * w * h) }, result: { depth: { width: 2, height: 1, data: new Float32Array([4, 8]) } } as never });
    const runner = withCameraFocals({ run: async () => [out(640, 480), out(1280, 720)] }, f);
    const r = await runner.run([{ camera: 'front' }, { camera: 'left' }], [192, 384]);
    expect(r[0].ok && [...r[0].result.depth.data]).toEqual([3, 6]);
    expect(r[1].ok && [...r[1].result.depth.data]).toEqual([4, 8]);
  });

  // A package that states the camera height its depth learned: a camera whose height TF gives
  // has depth × (height ÷ that) ^ height_exponent, on top of its lens.
  const HIGH = { fx_over_width: 0.5, exponent: 1, aspect: 16 / 9, camera_height_m: 1.5, height_exponent: 1 };

  it('the camera\'s height from TF scales depth where the package states the height its depth learned', async () => {
    expect(heightDepthScale(HIGH, 0.75)).toBeCloseTo(0.5, 9);
    expect(heightDepthScale({ ...HIGH, height_exponent: 0.5 }, 6)).toBeCloseTo(2, 9);
    expect(heightDepthScale(HIGH, undefined)).toBe(1);
    expect(heightDepthScale(AT_16_9, 0.75)).toBe(1);
    const lines: string[] = [];
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: HIGH } }, (l) => lines.push(l));
    expect(f.heightAware).toBe(true);
    f.seen('front', { width: 640, height: 480 }); // no camera_info: × 0.75 for the shape
    f.mounted('front', 0.75); // × 0.5 for the height
    expect(f.scale('front')).toBeCloseTo(0.375, 9);
    expect(lines.at(-1)).toMatch(/front: 0\.75 m above the road in TF \(the model's depth assumes 1\.5 m\): depth × 0\.500 for the height/);
    f.note('front', cam(1280, 720, 640)); // the lens as the model's: × 1
    expect(f.scale('front')).toBeCloseTo(0.5, 9);
    expect(f.intrinsics('front', { width: 1280, height: 720 })?.depthScale).toBeCloseTo(0.5, 9);
    // Labels go to the model's units by the same factor.
    expect([...toModelDepth({ width: 1, height: 1, data: new Float32Array([10]) }, f.scale('front')).data]).toEqual([20]);
    // Out of range: refused once, the camera keeps its height; gone from TF: the model's own.
    f.mounted('front', 40);
    f.mounted('front', -1);
    expect(lines.filter((l) => /TF height .* ignored for depth/.test(l))).toHaveLength(1);
    expect(f.scale('front')).toBeCloseTo(0.5, 9);
    f.mounted('front', undefined);
    expect(f.scale('front')).toBeCloseTo(1, 9);
    expect(lines.at(-1)).toMatch(/no height in TF any more/);
    // The runner applies it.
    const out: FrameOutcome = { ok: true, image: { width: 1280, height: 720, data: new Uint8Array(3) }, result: { depth: { width: 2, height: 1, data: new Float32Array([4, 8]) } } as never };
    f.mounted('front', 3);
    const r = await withCameraFocals({ run: async () => [out] }, f).run([{ camera: 'front' }], [192, 384]);
    expect(r[0].ok && [...r[0].result.depth.data]).toEqual([8, 16]);
    // A package that states no height: TF heights change nothing.
    const plain = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: AT_16_9 } });
    expect(plain.heightAware).toBe(false);
    plain.mounted('front', 0.75);
    expect(plain.scale('front', { width: 1280, height: 720 })).toBeCloseTo(1, 9);
  });

  it('refuses a camera_info that cannot say, naming the field; CameraFocals keeps 1 and says why once', () => {
    expect(() => depthScale({ fx_over_width: 0.5, exponent: 1 }, info(0, 300), 'front')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', context: expect.objectContaining({ field: 'camera_info.width', camera: 'front' }) }));
    expect(() => depthScale({ fx_over_width: 0.5, exponent: 1 }, info(640, 0))).toThrow(/uncalibrated/);
    const lines: string[] = [];
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: { fx_over_width: 0.5 } } }, (l) => lines.push(l));
    f.note('front', info(640, 0));
    f.note('front', info(640, 0));
    expect(f.scale('front')).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/front: camera_info ignored for depth/);
    f.note('front', info(640, 640));
    expect(f.scale('front')).toBeCloseTo(2, 9);
    expect(f.scale('left')).toBe(1);
  });

  it("intrinsics: camera_info's for the frame's size, else the lens the package assumes, else none", () => {
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: { fx_over_width: 0.5 } } });
    expect(f.intrinsics('front', { width: 640, height: 360 })).toEqual({ k: [320, 320, 320, 180], depthScale: 1 });
    f.note('front', info(1280, 1280)); // fy = fx, cy = 0.28 × width
    const k = f.intrinsics('front', { width: 640, height: 360 })!;
    expect(k.k).toEqual([640, 1280 * (360 / 720), 320, 1280 * 0.28 * 0.5]);
    expect(k.depthScale).toBeCloseTo(2, 9);
    f.note('left', info(640, 0)); // an uncalibrated camera tells nothing
    expect(f.intrinsics('left', { width: 640, height: 360 })).toEqual({ k: [320, 320, 320, 180], depthScale: 1 });
    const none = new CameraFocals({ depth: { min_m: 1, max_m: 100 } });
    expect(none.intrinsics('front', { width: 640, height: 360 })).toBeUndefined();
    none.note('front', info(640, 320));
    expect(none.intrinsics('front', { width: 640, height: 360 })?.k[0]).toBe(320);
  });

  it('a package without a focal leaves depth alone, whatever camera_info says', async () => {
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100 } });
    f.note('front', info(640, 640));
    expect(f.enabled).toBe(false);
    expect(f.scale('front')).toBe(1);
    const runner = { run: async () => [] as FrameOutcome[] };
    expect(withCameraFocals(runner, f)).toBe(runner);
  });

  it('the runner multiplies each frame\'s depth by its camera\'s scale; errors pass through', async () => {
    const f = new CameraFocals({ depth: { min_m: 1, max_m: 100, focal: { fx_over_width: 0.5, exponent: 1 } } });
    f.note('front', info(640, 640)); // × 2
    const out = (v: number): FrameOutcome => ({ ok: true, image: { width: 1, height: 1, data: new Uint8Array(3) }, result: { depth: { width: 2, height: 1, data: new Float32Array([v, v]) } } as never });
    const bad: FrameOutcome = { ok: false, error: new Error('x') as never };
    const runner = withCameraFocals({ run: async () => [out(3), out(3), bad] }, f);
    const r = await runner.run([{ camera: 'front' }, { camera: 'left' }, { camera: 'front' }], [192, 384]);
    expect(r[0].ok && [...r[0].result.depth.data]).toEqual([6, 6]);
    expect(r[1].ok && [...r[1].result.depth.data]).toEqual([3, 3]);
    expect(r[2]).toBe(bad);
  });

  it('labels go back to the model\'s units', () => {
    const label = { width: 2, height: 1, data: new Float32Array([10, 20]) };
    expect([...toModelDepth(label, 2).data]).toEqual([5, 10]);
    expect(toModelDepth(label, 1)).toBe(label);
    expect([...label.data]).toEqual([10, 20]);
  });
});
