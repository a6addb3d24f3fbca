import { PerceptionError } from '../core/errors.js';
import type { InputSize, Manifest, OutputName } from '../model/manifest.js';
import type { RunnerTensor } from './runner.js';

/**
 * Checks one fetched output against the contract's shape and type for batch `n` at `size`,
 * so a plugged-in model that breaks the contract fails with a clear message, not a garbled decode.
 * Feature maps are checked for batch and channels only (their stride is the model's business).
 */
export function checkOutputDims(name: OutputName, t: RunnerTensor | undefined, n: number, [H, W]: InputSize, m: Manifest): void {
  const K = m.classes.length;
  const sd = m.strides.det;
  const want: { type: RunnerTensor['type']; dims: (number | undefined)[] } = (() => {
    switch (name) {
      case 'det_heat':
        return { type: 'float32', dims: [n, K, H / sd, W / sd] };
      case 'det_box':
      case 'coco_box':
        return { type: 'float32', dims: [n, 4, H / sd, W / sd] };
      case 'coco_heat':
        return { type: 'float32', dims: [n, K, H / sd, W / sd] };
      case 'seg_mask':
        return { type: 'uint8', dims: [n, H, W] };
      case 'seg_entropy':
        return { type: 'float32', dims: [n] };
      case 'depth':
        return { type: 'float32', dims: [n, H, W] };
      case 'det_feat':
        return { type: 'float32', dims: [n, m.tails.det.in, undefined, undefined] };
      case 'seg_feat':
        return { type: 'float32', dims: [n, m.tails.seg.in, undefined, undefined] };
      case 'depth_feat':
        return { type: 'float32', dims: [n, m.tails.depth.in, undefined, undefined] };
      case 'feat_mean':
        return { type: 'float32', dims: [n, undefined] };
    }
  })();
  const ok =
    t !== undefined &&
    t.type === want.type &&
    t.dims.length === want.dims.length &&
    want.dims.every((d, i) => d === undefined || d === t.dims[i]);
  if (!ok) {
    const fmt = want.dims.map((d) => d ?? '*').join(', ');
    throw new PerceptionError(
      'MODEL_RUNTIME',
      `output '${name}' is ${t ? `${t.type} [${t.dims.join(', ')}]` : 'missing'}, the contract says ${want.type} [${fmt}] at size ${H}x${W}`,
      { model: `${m.name}@${m.version}`, field: name },
    );
  }
}
