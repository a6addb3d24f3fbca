import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { PerceptionError } from '../core/errors.js';
import { flattenParams } from './params.js';

/**
 * Parameter overrides from the ROS arguments (`--params-file FILE`, `-p [node:]name:=value`),
 * resolved for one node the way rclcpp does on Humble
 * (rclcpp/detail/resolve_parameter_overrides.cpp):
 *
 * - every params file and `-p` rule is read in command-line order into per-key tables (a later
 *   value for the same key and name replaces an earlier one); keys are node names, with a
 *   leading `/` added where missing and enclosing namespace maps joined (`/ns: {node: …}` is
 *   `/ns/node`);
 * - the node takes the `/**` table first, then the table of its fully qualified name, so a
 *   node-specific entry always wins over a wildcard one, whatever the order.
 *
 * Why this exists: rclnodejs 2.2 applies only `/**` and the *bare* node name (lib/node.js,
 * `_getNativeParameterOverrides`), while launch_ros writes a Node's `parameters={...}` under the
 * fully qualified name (`/perception`). Every `name:=value` launch argument was dropped. The
 * nodes therefore declare their parameters with these values and rclnodejs's own overrides
 * ignored (ParameterHost), and `use_sim_time` is set from them explicitly.
 */
export interface RosArgItem {
  readonly kind: 'params_file' | 'param';
  /** params_file: the path. */
  readonly path?: string;
  /** param: node key (`/**` when the rule names none), parameter name, YAML value. */
  readonly node?: string;
  readonly name?: string;
  readonly value?: unknown;
}

/** The parameter-related ROS arguments, in order. Other ROS arguments (remaps, log levels) are skipped. */
export function parseRosArgs(argv: readonly string[]): RosArgItem[] {
  const items: RosArgItem[] = [];
  let inRos = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--ros-args') {
      inRos = true;
      continue;
    }
    if (!inRos) continue;
    if (a === '--') {
      inRos = false;
      continue;
    }
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new PerceptionError('INVALID_ARGUMENT', `ROS argument ${a} needs a value`, { field: a });
      return v;
    };
    if (a === '--params-file') items.push({ kind: 'params_file', path: next() });
    else if (a === '-p' || a === '--param') items.push(paramRule(next()));
    else if (a === '-r' || a === '--remap' || a === '-e' || a === '--enclave' || a === '--log-level' || a === '--log-config-file') i++; // takes a value we do not need
  }
  return items;
}

function paramRule(rule: string): RosArgItem {
  const sep = rule.indexOf(':=');
  if (sep <= 0) throw new PerceptionError('INVALID_ARGUMENT', `parameter rule "${rule}" is not name:=value or node:name:=value`, { field: '-p' });
  const lhs = rule.slice(0, sep);
  const colon = lhs.lastIndexOf(':');
  const node = colon >= 0 ? normalizeNodeKey(lhs.slice(0, colon)) : '/**';
  const name = colon >= 0 ? lhs.slice(colon + 1) : lhs;
  // rcl reads the value as YAML (e.g. `[a, b]` is a list, `80` an integer, `true` a bool).
  return { kind: 'param', node, name, value: parseYaml(rule.slice(sep + 2)) as unknown };
}

function normalizeNodeKey(key: string): string {
  return key.startsWith('/') ? key : `/${key}`;
}

/**
 * The node tables of one params file: `{ "/perception": { "a.b": 1 }, "/**": {…} }`. Throws
 * INVALID_CONFIG naming the file for a file that is not a params file.
 */
export function paramsFileTables(text: string, file: string): Map<string, Record<string, unknown>> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new PerceptionError('INVALID_CONFIG', `params file ${file} is not YAML: ${(cause as Error).message}`, { field: 'params_file' }, { cause });
  }
  const tables = new Map<string, Record<string, unknown>>();
  const walk = (node: unknown, path: string[]) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      throw new PerceptionError('INVALID_CONFIG', `params file ${file}: "${path.join('/')}" is not a map of node names to ros__parameters`, { field: 'params_file' });
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === 'ros__parameters') {
        const key = normalizeNodeKey(path.join('/').replace(/^\/+/, ''));
        tables.set(key, { ...tables.get(key), ...flattenParams(v) });
      } else walk(v, [...path, k]);
    }
  };
  if (doc !== null && doc !== undefined) walk(doc, []);
  return tables;
}

/**
 * The overrides for the node `fqn` (`/perception`, `/robot1/perception`): `/**` first, then the
 * node's own, each in command-line order. `readFile` is for tests.
 */
export function resolveParamOverrides(argv: readonly string[], fqn: string, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Map<string, unknown> {
  const wildcard: Record<string, unknown> = {};
  const own: Record<string, unknown> = {};
  const take = (key: string, values: Record<string, unknown>) => {
    if (key === '/**') Object.assign(wildcard, values);
    else if (key === fqn) Object.assign(own, values);
  };
  for (const item of parseRosArgs(argv)) {
    if (item.kind === 'param') take(item.node!, { [item.name!]: item.value });
    else {
      let text: string;
      try {
        text = readFile(item.path!);
      } catch (cause) {
        throw new PerceptionError('IO', `cannot read params file ${item.path}: ${(cause as Error).message}`, { field: 'params_file' }, { cause });
      }
      for (const [key, values] of paramsFileTables(text, item.path!)) take(key, values);
    }
  }
  return new Map(Object.entries({ ...wildcard, ...own }));
}

/** `/name` or `/ns/name`, as rcl composes a node's fully qualified name. */
export function nodeFqn(namespace: string, name: string): string {
  return namespace === '/' || namespace === '' ? `/${name}` : `${namespace}/${name}`;
}
