import { PRECISIONS, precisionVariants, type InputSize, type Manifest, type Precision } from '../model/manifest.js';
import type { Rung } from '../scheduler/index.js';

/**
 * The precision variants a ladder steps through by default: every variant of the package meant
 * for `provider` (its manifest `providers` absent or naming it). FP16 variants name the GPU
 * providers: on the CPU provider ONNX Runtime runs them in FP32 behind casts, no faster
 * (docs/experiments/2026-12-06-int8-and-students.md, §6), so they are not CPU rungs.
 */
export function defaultLadderVariants(manifest: Manifest, provider: string): Precision[] {
  const { variants } = precisionVariants(manifest);
  return PRECISIONS.filter((p) => {
    const v = variants[p];
    return v !== undefined && (v.providers === undefined || v.providers.includes(provider));
  });
}

/**
 * The ladder's rungs for a model package, in order of preference, best first: size-major
 * (largest first, up to `maxSize`), and within a size the engine's main precision, then the
 * others in the order of PRECISIONS (fp32, int8, fp16). The main precision's rungs carry no
 * variant (the runner's default model); the others name theirs. The scheduler learns each
 * rung's cost and keeps only those measured cheaper than every better one, so the order here
 * is one of quality: a smaller input costs more accuracy than a quantized graph
 * (docs/experiments/2026-12-06-ladder-and-per-frame-path.md). A width variant (a student)
 * would be one more name here, with its own measured cost.
 */
export function ladderRungs(manifest: Manifest, o: { main: string; maxSize: InputSize; variants?: readonly string[] }): Rung[] {
  const max = o.maxSize[0] * o.maxSize[1];
  const sizes = manifest.input.sizes.filter((s) => s[0] * s[1] <= max);
  const others = PRECISIONS.filter((p) => p !== o.main && (o.variants ?? []).includes(p));
  const rungs: Rung[] = [];
  for (const size of sizes) {
    rungs.push({ size });
    for (const v of others) rungs.push({ size, variant: v });
  }
  return rungs;
}
