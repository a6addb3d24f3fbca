import { PerceptionError } from '../errors.js';
import { tailTensorSpecs, type Manifest } from '../model/manifest.js';
import type { TailWeights } from '../model/package.js';
import type { RunnerTensor } from './runner.js';

/**
 * One complete, immutable set of tail weights, ready to feed. The engine holds exactly one
 * reference to the current set and replaces it between runs (`Engine.swapWeights`); a run
 * captures the reference when it starts, so it always sees one consistent set even if a swap
 * happens while it is in flight.
 */
export class WeightSet {
  /** Feed tensors by graph-input name. Never mutated after construction. */
  readonly tensors: ReadonlyMap<string, RunnerTensor>;

  private constructor(
    /** A label for logs and results (e.g. the weight bundle version). */
    readonly id: string,
    tensors: Map<string, RunnerTensor>,
  ) {
    this.tensors = tensors;
    Object.freeze(this);
  }

  /**
   * Builds a set from tail weights, checking names and shapes against the manifest's tails
   * spec. The data is copied: the set owns its arrays, so nobody can change a set that runs
   * are using (typed arrays cannot be frozen).
   */
  static fromTails(tails: TailWeights, manifest: Pick<Manifest, 'tails'>, id: string): WeightSet {
    const specs = tailTensorSpecs(manifest.tails);
    if (tails.size !== specs.length) {
      const extra = [...tails.keys()].filter((k) => !specs.some((s) => s.name === k));
      throw new PerceptionError('INVALID_ARGUMENT', `weight set '${id}' has ${tails.size} tensors, the model takes ${specs.length}${extra.length ? ` (unknown: ${extra.join(', ')})` : ''}`, { field: 'tails' });
    }
    const out = new Map<string, RunnerTensor>();
    for (const { name, shape } of specs) {
      const t = tails.get(name);
      if (t === undefined) throw new PerceptionError('INVALID_ARGUMENT', `weight set '${id}' lacks tensor '${name}'`, { field: name });
      if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
        throw new PerceptionError('INVALID_ARGUMENT', `weight '${name}' in set '${id}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { field: name });
      }
      const n = shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new PerceptionError('INVALID_ARGUMENT', `weight '${name}' has ${t.data.length} values, expected ${n}`, { field: name });
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(t.data[i])) {
          throw new PerceptionError('INVALID_ARGUMENT', `weight '${name}' value [${i}] is ${t.data[i]}: weights must be finite`, { field: name });
        }
      }
      out.set(name, Object.freeze({ type: 'float32', dims: Object.freeze([...shape]), data: Float32Array.from(t.data) }));
    }
    return new WeightSet(id, out);
  }

  /** Same-model check: every tensor name and shape matches. */
  matches(other: WeightSet): boolean {
    if (other.tensors.size !== this.tensors.size) return false;
    for (const [name, t] of this.tensors) {
      const o = other.tensors.get(name);
      if (o === undefined || o.dims.length !== t.dims.length || o.dims.some((v, i) => v !== t.dims[i])) return false;
    }
    return true;
  }
}
