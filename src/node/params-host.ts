import { PerceptionError } from '../errors.js';
import { checkParam, declareParams, onSetParameters, type ParamSpec } from '../ros/params.js';
import { PARAMETER_TYPE, type RclLike, type RclNodeLike, type RclParameterLike, type RclSetParametersResult } from '../transport/rcl-like.js';

/**
 * Where a node's parameters live: the ROS node's parameter service under rclnodejs, or a plain
 * table for bag replay and tests. The node declares its specs (values from the params file or
 * the overrides apply), reads them, and is asked before every later set: it may refuse one it
 * cannot apply with a reason (after the spec validator has accepted it).
 */
export interface ParamChange {
  readonly name: string;
  /** Integers as numbers (rclnodejs hands bigints; the host converts). */
  readonly value: unknown;
}

/** Returns a reason to refuse the whole set, or undefined to accept (and then apply) it. */
export type ChangeHandler = (changes: readonly ParamChange[]) => string | undefined;

export interface ParameterHost {
  /**
   * Declares specs; a second call adds more (names already declared are skipped, so a node
   * configured twice does not redeclare). Returns every declared value. Throws INVALID_CONFIG.
   */
  declare(specs: readonly ParamSpec[]): ReadonlyMap<string, unknown>;
  get(name: string): unknown;
  /** Declared names (without `use_sim_time`). */
  names(): string[];
  /** Sets one value as `ros2 param set` would; refused sets leave the old value. */
  set(name: string, value: unknown): RclSetParametersResult;
  /** The node's veto-and-apply hook; one at a time (a later call replaces it). */
  onChange(handler: ChangeHandler | undefined): void;
}

const num = (v: unknown) => (typeof v === 'bigint' ? Number(v) : v);

/** Runs the spec validator for every change, then the node's handler. */
function vet(specs: ReadonlyMap<string, ParamSpec>, handler: ChangeHandler | undefined, params: readonly ParamChange[]): RclSetParametersResult {
  const relevant = params.filter((p) => p.name !== 'use_sim_time');
  const basic = onSetParameters([...specs.values()])(relevant.map((p) => ({ name: p.name, type: 0, value: p.value })));
  if (!basic.successful) return basic;
  const reason = handler?.(relevant.map((p) => ({ name: p.name, value: num(p.value) })));
  return reason === undefined ? { successful: true, reason: '' } : { successful: false, reason };
}

/** Parameters in memory: bag replay and tests. `overrides` play the part of a params file. */
export class MemoryParameterHost implements ParameterHost {
  readonly #values = new Map<string, unknown>();
  readonly #specs = new Map<string, ParamSpec>();
  readonly #overrides: ReadonlyMap<string, unknown>;
  #handler: ChangeHandler | undefined;

  constructor(overrides: Readonly<Record<string, unknown>> = {}) {
    this.#overrides = new Map(Object.entries(overrides));
  }

  declare(specs: readonly ParamSpec[]): ReadonlyMap<string, unknown> {
    const reasons: string[] = [];
    for (const spec of specs) {
      if (this.#specs.has(spec.name)) continue;
      const value = num(this.#overrides.has(spec.name) ? this.#overrides.get(spec.name) : spec.default);
      const bad = checkParam(spec, value);
      if (bad) reasons.push(bad);
      this.#specs.set(spec.name, spec);
      this.#values.set(spec.name, Array.isArray(value) ? [...(value as unknown[])] : value);
    }
    if (reasons.length > 0) throw new PerceptionError('INVALID_CONFIG', `invalid parameters: ${reasons.join('; ')}`, { field: 'parameters' });
    return new Map(this.#values);
  }

  get(name: string): unknown {
    return this.#values.get(name);
  }

  names(): string[] {
    return [...this.#specs.keys()];
  }

  set(name: string, value: unknown): RclSetParametersResult {
    const spec = this.#specs.get(name);
    if (!spec) return { successful: false, reason: `parameter ${name} is not declared by the node` };
    // rcl refuses these from the descriptor before any callback runs (declaration passes them).
    if (spec.readOnly) return { successful: false, reason: `parameter ${name} is read-only: changing it needs a restart of the node` };
    const result = vet(this.#specs, this.#handler, [{ name, value }]);
    if (result.successful) this.#values.set(name, num(value));
    return result;
  }

  onChange(handler: ChangeHandler | undefined): void {
    this.#handler = handler;
  }
}

const TYPE_OF_VALUE = (v: unknown): number =>
  typeof v === 'boolean' ? PARAMETER_TYPE.BOOL
  : typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)) ? PARAMETER_TYPE.INTEGER
  : typeof v === 'number' ? PARAMETER_TYPE.DOUBLE
  : typeof v === 'string' ? PARAMETER_TYPE.STRING
  : PARAMETER_TYPE.STRING_ARRAY;

/**
 * Parameters of an rclnodejs node: declared with descriptors (`declareParams`), so
 * `--params-file` overrides and `ros2 param` work as for any node. One on-set callback for the
 * whole table (each validator refuses names it does not know, so declaring in stages with one
 * validator per stage would refuse every set).
 */
export class RclParameterHost implements ParameterHost {
  readonly #specs = new Map<string, ParamSpec>();
  #handler: ChangeHandler | undefined;
  #installed = false;

  constructor(
    private readonly rcl: RclLike,
    private readonly node: RclNodeLike,
  ) {}

  declare(specs: readonly ParamSpec[]): ReadonlyMap<string, unknown> {
    if (!this.#installed) {
      this.#installed = true;
      this.node.addOnSetParametersCallback((params: RclParameterLike[]) => vet(this.#specs, this.#handler, params));
    }
    const fresh = specs.filter((s) => !this.#specs.has(s.name) && !this.node.hasParameter(s.name));
    // Known before declaring, so the callback accepts the values the declaration itself checks.
    for (const s of specs) this.#specs.set(s.name, s);
    declareParams(this.rcl, this.node, fresh, { installValidator: false });
    return new Map(this.names().map((n) => [n, this.get(n)]));
  }

  get(name: string): unknown {
    return num(this.node.getParameter(name).value);
  }

  names(): string[] {
    return [...this.#specs.keys()];
  }

  set(name: string, value: unknown): RclSetParametersResult {
    const spec = this.#specs.get(name);
    const type = spec ? TYPE_OF_VALUE(spec.kind === 'double' ? 0.5 : spec.default) : TYPE_OF_VALUE(value);
    const v = type === PARAMETER_TYPE.INTEGER && typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : value;
    return this.node.setParameter(new this.rcl.Parameter(name, type, v));
  }

  onChange(handler: ChangeHandler | undefined): void {
    this.#handler = handler;
  }
}
