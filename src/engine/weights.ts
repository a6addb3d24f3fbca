import { PerceptionError } from '../core/errors.js';
import { routerTensorSpecs, tailTensorSpecs, type Manifest } from '../model/manifest.js';
import { allNarrow } from './narrow-tail.js';
import type { Router } from './router.js';
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

  /**
   * A routed set (see router.ts): these tensors are the tails adapted to a new domain, `router`
   * says per camera which domain it is in, and `fallback` (the shipped set) serves the rest.
   */
  readonly router?: Router;
  readonly fallback?: WeightSet;
  /**
   * The set reads only the centre tap of the trunk channels of every widened tail (the shipped
   * weights do): the engine may run it on the narrow graph (narrow-tail.ts), same outputs.
   */
  readonly narrow: boolean;

  private constructor(
    /** A label for logs and results (e.g. the weight bundle version). */
    readonly id: string,
    tensors: Map<string, RunnerTensor>,
    routing: { router: Router; fallback: WeightSet } | undefined,
    narrow: boolean,
  ) {
    this.tensors = tensors;
    this.narrow = narrow;
    if (routing) {
      this.router = Object.freeze({ w: routing.router.w, b: routing.router.b });
      this.fallback = routing.fallback;
    }
    Object.freeze(this);
  }

  /**
   * Builds a set from tail weights, checking names and shapes against the manifest's tails
   * spec. The data is copied: the set owns its arrays, so nobody can change a set that runs
   * are using (typed arrays cannot be frozen).
   */
  static fromTails(tails: TailWeights, manifest: Pick<Manifest, 'tails'>, id: string, fallback?: WeightSet): WeightSet {
    const specs = tailTensorSpecs(manifest.tails);
    const routerSpecs = routerTensorSpecs(manifest.tails);
    let router: Router | undefined;
    if (routerSpecs.some((r) => tails.has(r.name))) {
      const [w, b] = routerSpecs.map((r) => checkTensor(tails.get(r.name), r.name, r.shape, id));
      if (!fallback) throw new PerceptionError('INVALID_ARGUMENT', `weight set '${id}' carries a router but there is no fallback set to route to`, { field: 'router_w' });
      router = { w: Float32Array.from(w.data), b: b.data[0] };
      tails = new Map([...tails].filter(([name]) => !name.startsWith('router_')));
    }
    if (tails.size !== specs.length) {
      const extra = [...tails.keys()].filter((k) => !specs.some((s) => s.name === k));
      throw new PerceptionError('INVALID_ARGUMENT', `weight set '${id}' has ${tails.size} tensors, the model takes ${specs.length}${extra.length ? ` (unknown: ${extra.join(', ')})` : ''}`, { field: 'tails' });
    }
    const out = new Map<string, RunnerTensor>();
    for (const { name, shape } of specs) {
      const t = checkTensor(tails.get(name), name, shape, id);
      out.set(name, Object.freeze({ type: 'float32', dims: Object.freeze([...shape]), data: Float32Array.from(t.data) }));
    }
    const narrow = allNarrow(manifest, new Map([...out].map(([name, t]) => [name, { shape: t.dims, data: t.data as Float32Array }])));
    return new WeightSet(id, out, router && fallback ? { router, fallback: fallback.fallback ?? fallback } : undefined, narrow);
  }

  /** The set as tail weights (copies), router tensors included: what rebuilds it elsewhere (a worker). */
  toTails(): TailWeights {
    const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [name, t] of this.tensors) out.set(name, { shape: [...t.dims], data: Float32Array.from(t.data as Float32Array) });
    if (this.router) {
      out.set('router_w', { shape: [this.router.w.length], data: Float32Array.from(this.router.w) });
      out.set('router_b', { shape: [1], data: Float32Array.of(this.router.b) });
    }
    return out;
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

function checkTensor(t: { shape: readonly number[]; data: ArrayLike<number> } | undefined, name: string, shape: readonly number[], id: string): { data: ArrayLike<number> } {
  if (t === undefined) throw new PerceptionError('INVALID_ARGUMENT', `weight set '${id}' lacks tensor '${name}'`, { field: name });
  if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
    throw new PerceptionError('INVALID_ARGUMENT', `weight '${name}' in set '${id}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { field: name });
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new PerceptionError('INVALID_ARGUMENT', `weight '${name}' has ${t.data.length} values, expected ${n}`, { field: name });
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(t.data[i])) throw new PerceptionError('INVALID_ARGUMENT', `weight '${name}' value [${i}] is ${t.data[i]}: weights must be finite`, { field: name });
  }
  return t;
}
