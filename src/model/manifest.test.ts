import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { precisionVariants, tailRowWidth, tailTensorSpecs, validateManifest } from './manifest.js';

const HEX = 'a'.repeat(64);

function good(): Record<string, unknown> {
  return {
    format: 'adaptive-perception/model@1',
    name: 'default',
    version: '1.0.0',
    input: { sizes: [[192, 384], [128, 256]], mean: [123.7, 116.3, 103.5], std: [58.4, 57.1, 57.4] },
    classes: ['car', 'truck', 'pedestrian', 'cyclist'],
    strides: { det: 4, seg: 2, depth: 4 },
    outputs: ['det_heat', 'det_box', 'seg_mask', 'seg_entropy', 'depth', 'det_feat', 'seg_feat', 'depth_feat', 'feat_mean'],
    files: { model: 'model.onnx', tails: 'tails.json' },
    sha256: { 'model.onnx': HEX, 'tails.json': HEX },
    tails: {
      det: { feature: 'det_feat', in: 32, layers: [{ out: 32, act: 'relu' }, { out: 8, act: 'linear' }] },
      seg: { feature: 'seg_feat', in: 16, layers: [{ out: 16, act: 'relu' }, { out: 3, act: 'linear' }] },
      depth: { feature: 'depth_feat', in: 32, layers: [{ out: 16, act: 'relu' }, { out: 1, act: 'linear' }] },
    },
    depth: { min_m: 1, max_m: 120 },
  };
}

/** Applies `edit` to a fresh valid manifest and expects MODEL_INVALID naming `field`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests poke arbitrary fields into the JSON
function expectBad(edit: (m: any) => void, field: string, range?: RegExp): void {
  const m = good();
  edit(m);
  let err: unknown;
  try {
    validateManifest(m, 'x/manifest.json');
  } catch (e) {
    err = e;
  }
  expect(isPerceptionError(err, 'MODEL_INVALID'), `expected MODEL_INVALID for ${field}, got ${String(err)}`).toBe(true);
  const pe = err as Error & { context: Record<string, unknown> };
  expect(pe.context.field).toBe(field);
  expect(pe.message).toContain(`'${field}'`);
  expect(pe.message).toContain('file=x/manifest.json');
  if (range) expect(pe.message).toMatch(range);
}

describe('validateManifest', () => {
  describe('BAD CALL', () => {
    it('rejects a non-object', () => expectBad((m) => Object.keys(m).forEach((k) => delete m[k]), 'format'));
    it('wrong format', () => expectBad((m) => (m.format = 'onnx'), 'format', /adaptive-perception\/model@1/));
    it('empty name', () => expectBad((m) => (m.name = ''), 'name'));
    it('bad version', () => expectBad((m) => (m.version = 'v1'), 'version', /1\.2\.3/));
    it('empty size ladder', () => expectBad((m) => (m.input.sizes = []), 'input.sizes', /at least one/));
    it('size not a multiple of 32', () => expectBad((m) => (m.input.sizes[1] = [128, 250]), 'input.sizes[1][1]', /multiple of 32/));
    it('size not a pair', () => expectBad((m) => (m.input.sizes[0] = [192]), 'input.sizes[0]', /exactly 2/));
    it('mean of length 2', () => expectBad((m) => (m.input.mean = [1, 2]), 'input.mean', /exactly 3/));
    it('std zero', () => expectBad((m) => (m.input.std[2] = 0), 'input.std[2]', /> 0/));
    it('no classes', () => expectBad((m) => (m.classes = []), 'classes'));
    it('duplicate class', () => expectBad((m) => (m.classes[2] = 'car'), 'classes[2]', /unique/));
    it('stride not a positive int', () => expectBad((m) => (m.strides.seg = 1.5), 'strides.seg', /positive integer/));
    it('missing files.tails', () => expectBad((m) => delete m.files.tails, 'files.tails'));
    it('file escaping the package', () => expectBad((m) => (m.files.model = '../m.onnx'), 'files.model', /inside the package/));
    it('missing hash', () => expectBad((m) => delete m.sha256['tails.json'], 'sha256["tails.json"]', /64 lowercase hex/));
    it('short hash', () => expectBad((m) => (m.sha256['model.onnx'] = 'abc'), 'sha256["model.onnx"]', /64/));
    it('missing tail head', () => expectBad((m) => delete m.tails.depth, 'tails.depth'));
    it('tail in = 0', () => expectBad((m) => (m.tails.det.in = 0), 'tails.det.in', /positive integer/));
    it('tail layer out = 0', () => expectBad((m) => (m.tails.seg.layers[0].out = 0), 'tails.seg.layers[0].out'));
    it('unknown activation', () => expectBad((m) => (m.tails.det.layers[0].act = 'gelu'), 'tails.det.layers[0].act', /relu.*linear/));
    it('even tail kernel', () => expectBad((m) => (m.tails.det.layers[0].kernel = 2), 'tails.det.layers[0].kernel', /odd positive integer/));
    it('narrow kernel wider than the first layer', () => expectBad((m) => Object.assign(m.tails.det, { narrow_kernel: 5 }), 'tails.det.narrow_kernel', /no wider than the first layer's kernel/));
    it('even narrow kernel', () => expectBad((m) => Object.assign(m.tails.det, { narrow_kernel: 2 }), 'tails.det.narrow_kernel', /odd positive integer/));
    it('wide kernel past the first layer', () => expectBad((m) => (m.tails.det.layers[1].kernel = 3), 'tails.det.layers[1].kernel', /only the first layer/));
    it('det tail not K+4', () => expectBad((m) => (m.tails.det.layers[1].out = 7), 'tails.det.layers[1].out', /must be 8 \(K\+4/));
    it('seg tail not 3', () => expectBad((m) => (m.tails.seg.layers[1].out = 2), 'tails.seg.layers[1].out', /must be 3/));
    it('depth tail not 1', () => expectBad((m) => (m.tails.depth.layers[1].out = 2), 'tails.depth.layers[1].out', /must be 1/));
    it('unknown output', () => expectBad((m) => m.outputs.push('logits'), 'outputs[9]', /one of det_heat/));
    it('missing required output', () => expectBad((m) => m.outputs.splice(2, 1), 'outputs', /must include "seg_mask"/));
    it('tail feature not an output', () => expectBad((m) => m.outputs.splice(6, 1), 'tails.seg.feature', /seg_feat.*not in 'outputs'/));
    it('feature_stats lengths differ', () => expectBad((m) => (m.feature_stats = { mean: [0, 0], std: [1] }), 'feature_stats.std', /exactly 2/));
    it('feature_stats std negative', () => expectBad((m) => (m.feature_stats = { mean: [0], std: [-1] }), 'feature_stats.std[0]', /≥ 0/));
    it('depth range inverted', () => expectBad((m) => (m.depth.max_m = 0.5), 'depth.max_m'));
    it('depth focal not positive', () => expectBad((m) => (m.depth.focal = { fx_over_width: 0 }), 'depth.focal.fx_over_width', /fx ÷ image width/));
    it('depth focal exponent out of range', () => expectBad((m) => (m.depth.focal = { fx_over_width: 0.5, exponent: -1 }), 'depth.focal.exponent'));
    it('depth focal camera height not positive', () => expectBad((m) => (m.depth.focal = { fx_over_width: 0.5, camera_height_m: -1 }), 'depth.focal.camera_height_m', /metres above the road/));
    it('depth focal height exponent out of range', () => expectBad((m) => (m.depth.focal = { fx_over_width: 0.5, camera_height_m: 1.5, height_exponent: 3 }), 'depth.focal.height_exponent'));
    it('depth focal aspect not positive', () => expectBad((m) => (m.depth.focal = { fx_over_width: 0.5, aspect: 0 }), 'depth.focal.aspect', /width ÷ height/));
  });

  it('accepts the README example and lists tail tensors in order', () => {
    const m = validateManifest(good(), 'm.json');
    expect(m.classes).toHaveLength(4);
    const specs = tailTensorSpecs(m.tails);
    expect(specs.map((s) => s.name)).toEqual(['det_w0', 'det_b0', 'det_w1', 'det_b1', 'seg_w0', 'seg_b0', 'seg_w1', 'seg_b1', 'depth_w0', 'depth_b0', 'depth_w1', 'depth_b1']);
    expect(specs[2].shape).toEqual([8, 32, 1, 1]);
    expect(specs[9].shape).toEqual([16]);
  });

  it('a first layer with a k×k kernel: weights [out, in, k, k], rows in·k·k long', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests poke arbitrary fields into the JSON
    const raw = good() as any;
    raw.tails.det.in = 56;
    raw.tails.det.layers[0].kernel = 3;
    const m = validateManifest(raw, 'm.json');
    expect(tailTensorSpecs(m.tails)[0].shape).toEqual([32, 56, 3, 3]);
    expect(tailTensorSpecs(m.tails)[2].shape).toEqual([8, 32, 1, 1]);
    expect(tailRowWidth(m.tails.det)).toBe(504);
    expect(tailRowWidth(m.tails.seg)).toBe(16);
  });
});

describe('manifest precisions', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests poke arbitrary fields into the JSON
  const withVariants = (m: any) => {
    m.files.model_int8 = 'model.int8.onnx';
    m.sha256['model.int8.onnx'] = HEX;
    m.sha256['model.fp16.onnx'] = HEX;
    m.precisions = { default: 'int8', variants: { fp32: { file: 'model.onnx' }, int8: { file: 'model.int8.onnx', providers: ['cpu'] }, fp16: { file: 'model.fp16.onnx' } } };
  };

  it('a manifest without precisions has one variant: fp32 = files.model, the default', () => {
    const m = validateManifest(good(), 'm.json');
    expect(precisionVariants(m)).toEqual({ default: 'fp32', variants: { fp32: { file: 'model.onnx' } } });
  });

  it('reads the variants and the default', () => {
    const raw = good();
    withVariants(raw);
    const p = precisionVariants(validateManifest(raw, 'm.json'));
    expect(p.default).toBe('int8');
    expect(Object.keys(p.variants).sort()).toEqual(['fp16', 'fp32', 'int8']);
    expect(p.variants.fp16?.file).toBe('model.fp16.onnx');
  });

  it('fp32 is implied when the variants leave it out; default fp32 when not given', () => {
    const raw = good();
    raw.sha256 = { ...(raw.sha256 as object), 'model.int8.onnx': HEX };
    raw.precisions = { variants: { int8: { file: 'model.int8.onnx' } } };
    const p = precisionVariants(validateManifest(raw, 'm.json'));
    expect(p.default).toBe('fp32');
    expect(p.variants.fp32?.file).toBe('model.onnx');
    expect(p.variants.int8?.file).toBe('model.int8.onnx');
  });

  describe('BAD CALL', () => {
    const bad = (edit: (m: Record<string, any>) => void, field: string, re?: RegExp) => // eslint-disable-line @typescript-eslint/no-explicit-any
      expectBad((m) => {
        withVariants(m);
        edit(m);
      }, field, re);
    it('precisions not an object', () => bad((m) => (m.precisions = ['int8']), 'precisions'));
    it('unknown key beside default and variants', () => bad((m) => (m.precisions.int8 = 'x.onnx'), 'precisions.int8', /default, variants/));
    it('unknown precision name', () => bad((m) => (m.precisions.variants.int4 = { file: 'model.onnx' }), 'precisions.variants.int4', /unknown precision "int4".*fp32, int8, fp16/));
    it('variant without file', () => bad((m) => (m.precisions.variants.int8 = {}), 'precisions.variants.int8.file'));
    it('variant escaping the package', () => bad((m) => (m.precisions.variants.int8.file = '../x.onnx'), 'precisions.variants.int8.file', /inside the package/));
    it('variant file without sha256', () => bad((m) => delete m.sha256['model.fp16.onnx'], 'sha256["model.fp16.onnx"]', /precisions\.variants\.fp16/));
    it('default not a precision', () => bad((m) => (m.precisions.default = 'fast'), 'precisions.default', /one of fp32, int8, fp16/));
    it('default not among the variants', () => bad((m) => delete m.precisions.variants.int8, 'precisions.default', /"int8", which is not in precisions.variants \(has: fp32, fp16\)/));
    it('providers not a list', () => bad((m) => (m.precisions.variants.fp16.providers = 'cuda'), 'precisions.variants.fp16.providers'));
  });
});
