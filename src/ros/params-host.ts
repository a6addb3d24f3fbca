import { PerceptionError } from '../core/errors.js';
import { checkParam, declareParams, onSetParameters, type ParamSpec } from './params.js';
import { PARAMETER_TYPE, type RclLike, type RclNodeLike, type RclParameterLike, type RclSetParametersResult } from './transport/rcl-like.js';

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
  params = params.map((p) => ({ name: p.name, value: specs.has(p.name) ? widen(specs.get(p.name)!, p.value) : p.value }));
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
      const value = num(this.#overrides.has(spec.name) ? widen(spec, this.#overrides.get(spec.name)) : spec.default);
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
    if (result.successful) this.#values.set(name, num(widen(spec, value)));
    return result;
  }

  onChange(handler: ChangeHandler | undefined): void {
    this.#handler = handler;
  }
}

/**
 * Parameters of an rclnodejs node, declared with descriptors (type, description, range,
 * read-only) so `ros2 param list|get|describe|set` work as for any node.
 *
 * - Values come from `overrides`, resolved from the ROS arguments with rclcpp's rules
 *   (src/ros/param-overrides.ts); rclnodejs's own override lookup is bypassed on declaration,
 *   because it drops the `/<node>` entries launch_ros writes.
 * - `ros2 param set` reaches `node.setParameters` (rclnodejs's parameter service calls it).
 *   rclnodejs checks the type and the descriptor's range there, before any on-set callback, and
 *   refuses an integer for a double and an out-of-range value with its own garbled text
 *   ("Parameter x does not  readonly"). The host wraps `setParameters` and
 *   `setParametersAtomically` on this node: integers are widened for double parameters, and the
 *   spec validator answers first, in our words (the same as at declaration).
 * One on-set callback serves the whole table (each validator refuses names it does not know, so
 * declaring in stages with one validator per stage would refuse every set).
 */
export class RclParameterHost implements ParameterHost {
  readonly #specs = new Map<string, ParamSpec>();
  readonly #overrides: ReadonlyMap<string, unknown>;
  readonly #log: (line: string) => void;
  #handler: ChangeHandler | undefined;
  #installed = false;

  constructor(
    private readonly rcl: RclLike,
    private readonly node: RclNodeLike,
    options: { readonly overrides?: ReadonlyMap<string, unknown>; readonly log?: (line: string) => void } = {},
  ) {
    this.#overrides = options.overrides ?? new Map();
    this.#log = options.log ?? (() => {});
  }

  declare(specs: readonly ParamSpec[]): ReadonlyMap<string, unknown> {
    if (!this.#installed) this.#install();
    const fresh = specs.filter((s) => !this.#specs.has(s.name) && !this.node.hasParameter(s.name));
    // Known before declaring, so the callback accepts the values the declaration itself checks.
    for (const s of specs) this.#specs.set(s.name, s);
    const values = new Map<string, unknown>();
    for (const s of fresh) if (this.#overrides.has(s.name)) values.set(s.name, widen(s, this.#overrides.get(s.name)));
    declareParams(this.rcl, this.node, fresh, { installValidator: false, values });
    return new Map(this.names().map((n) => [n, this.get(n)]));
  }

  /** Override names no declared parameter takes (typos in a params file or a launch argument), for a warning. */
  unused(): string[] {
    return [...this.#overrides.keys()].filter((n) => n !== 'use_sim_time' && !this.#specs.has(n));
  }

  get(name: string): unknown {
    return num(this.node.getParameter(name).value);
  }

  names(): string[] {
    return [...this.#specs.keys()];
  }

  set(name: string, value: unknown): RclSetParametersResult {
    const spec = this.#specs.get(name);
    const type = spec ? TYPE_OF[spec.kind] : typeOfValue(value);
    const v = type === PARAMETER_TYPE.INTEGER && typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : value;
    return this.node.setParameter(new this.rcl.Parameter(name, type, v));
  }

  onChange(handler: ChangeHandler | undefined): void {
    this.#handler = handler;
  }

  #install(): void {
    this.#installed = true;
    const node = this.node;
    node.addOnSetParametersCallback((params: RclParameterLike[]) => vet(this.#specs, this.#handler, params));
    // rclnodejs's own setParameters sets each parameter atomically on its own; so do we.
    const setAtomically = node.setParametersAtomically.bind(node);
    node.setParameters = (params) => params.map((p) => this.#precheck(p) ?? setAtomically([this.#widened(p)]));
    node.setParametersAtomically = (params) => params.map((p) => this.#precheck(p)).find((r) => r !== undefined) ?? setAtomically(params.map((p) => this.#widened(p)));
  }

  /** Our refusal for a set rclnodejs would refuse with its own text; undefined to let it through. */
  #precheck(p: RclParameterLike): RclSetParametersResult | undefined {
    const spec = this.#specs.get(p.name);
    if (!spec) return p.name === 'use_sim_time' ? undefined : { successful: false, reason: `parameter ${p.name} is not declared by ${this.node.name()}` };
    if (spec.readOnly) return { successful: false, reason: `parameter ${p.name} is read-only: changing it needs a restart of the node` };
    const bad = checkParam(spec, widen(spec, p.value));
    if (bad) {
      this.#log(`parameter set refused: ${bad}`);
      return { successful: false, reason: bad };
    }
    return undefined;
  }

  #widened(p: RclParameterLike): RclParameterLike {
    const spec = this.#specs.get(p.name);
    if (spec?.kind === 'double' && p.type === PARAMETER_TYPE.INTEGER) return new this.rcl.Parameter(p.name, PARAMETER_TYPE.DOUBLE, Number(p.value));
    if (spec?.kind === 'integer' && p.type === PARAMETER_TYPE.DOUBLE && Number.isInteger(p.value)) return new this.rcl.Parameter(p.name, PARAMETER_TYPE.INTEGER, BigInt(p.value as number));
    return p;
  }
}

const TYPE_OF: Record<ParamSpec['kind'], number> = {
  bool: PARAMETER_TYPE.BOOL,
  integer: PARAMETER_TYPE.INTEGER,
  double: PARAMETER_TYPE.DOUBLE,
  string: PARAMETER_TYPE.STRING,
  string_array: PARAMETER_TYPE.STRING_ARRAY,
};

const typeOfValue = (v: unknown): number =>
  typeof v === 'boolean' ? PARAMETER_TYPE.BOOL
  : typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)) ? PARAMETER_TYPE.INTEGER
  : typeof v === 'number' ? PARAMETER_TYPE.DOUBLE
  : typeof v === 'string' ? PARAMETER_TYPE.STRING
  : PARAMETER_TYPE.STRING_ARRAY;

/** Numeric parameters take integers and floats alike (`80` for a double, `5.0` for an integer), as users type them. */
export function widen(spec: ParamSpec, value: unknown): unknown {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (spec.kind === 'double' && typeof n === 'number') return n;
  if (spec.kind === 'integer' && typeof n === 'number' && Number.isInteger(n)) return n;
  return value;
}
