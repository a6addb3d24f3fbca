/**
 * ROS 1 ↔ ROS 2 message shapes. What is normalised, for every type (driven by the definition):
 *  - type names: `pkg/Type` ↔ `pkg/msg/Type`;
 *  - every `time`/`duration` field: ROS 1 `{sec, nsec}` ↔ ROS 2 `{sec, nanosec}`;
 *  - std_msgs/Header: ROS 1 `seq` is dropped when reading and written as 0;
 *  - sensor_msgs/CameraInfo: ROS 1 `D, K, R, P` ↔ ROS 2 `d, k, r, p`.
 * Other layout differences between the distributions (ROS 1 vision_msgs' `source_img`, integer
 * class ids) are not mapped: such messages keep their ROS 1 field names apart from the above.
 */
import { md5, parse } from '@foxglove/rosmsg';
import { rosbag, type RosMsgDefinition, type RosMsgField } from './rosbag-lib.js';
import { MESSAGE_TEXT, MSG_SEPARATOR, toRos2Name, toShortName } from '../msgs/definitions.js';
import { dependencyClosure } from '../msgs/registry.js';

const RENAMES_1TO2: Record<string, Record<string, string>> = {
  'sensor_msgs/CameraInfo': { D: 'd', K: 'k', R: 'r', P: 'p' },
};
const RENAMES_2TO1: Record<string, Record<string, string>> = Object.fromEntries(
  Object.entries(RENAMES_1TO2).map(([t, m]) => [t, Object.fromEntries(Object.entries(m).map(([a, b]) => [b, a]))]),
);

function ros1OwnText(type2: string): string {
  const short = toShortName(type2);
  const lines = MESSAGE_TEXT[type2].split('\n').map((line) => {
    let l = line.replace(/^builtin_interfaces\/Time\b/, 'time').replace(/^builtin_interfaces\/Duration\b/, 'duration');
    if (!l.includes('=')) l = l.replace(/^(\S+\s+\w+)\s+\S.*$/, '$1'); // ROS 1 has no default values
    const [ftype, fname] = l.split(/\s+/);
    const renamed = RENAMES_2TO1[short]?.[fname];
    return renamed ? `${ftype} ${renamed}` : l;
  });
  if (short === 'std_msgs/Header') lines.unshift('uint32 seq');
  return lines.join('\n');
}

export interface Ros1Definition {
  /** `pkg/Type` */
  type: string;
  text: string;
  md5sum: string;
}

/** The ROS 1 form of one of our types: definition text (with MSG sections) and its md5sum. */
export function ros1DefinitionFor(type: string): Ros1Definition {
  const [root, ...deps] = dependencyClosure(type).filter((t) => !t.startsWith('builtin_interfaces/'));
  const text = [ros1OwnText(root), ...deps.map((d) => `${MSG_SEPARATOR}\nMSG: ${toShortName(d)}\n${ros1OwnText(d)}`)].join('\n');
  return { type: toShortName(root), text, md5sum: md5(parse(text)) };
}

type Convert = (value: unknown) => unknown;

/**
 * Builds a converter between the shapes for a parsed ROS 1 definition set (rosbag's parser
 * output, root first). Compiled once per connection, applied per message.
 */
export function makeConverter(defs: RosMsgDefinition[], rootType: string, direction: '1to2' | '2to1'): Convert {
  const byName = new Map(defs.map((d, i) => [i === 0 ? rootType : d.name, d.definitions]));
  const cache = new Map<string, Convert>();
  const build = (type: string): Convert => {
    const hit = cache.get(type);
    if (hit) return hit;
    const fields = (byName.get(type) ?? []).filter((f) => !f.isConstant);
    const renames = RENAMES_1TO2[type] ?? {};
    const isHeader = type === 'std_msgs/Header';
    const plan = fields.map((f) => ({ f, name2: renames[f.name] ?? f.name, conv: fieldConverter(f) }));
    const convert: Convert = (value) => {
      const src = (value ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const { f, name2, conv } of plan) {
        if (isHeader && f.name === 'seq') {
          if (direction === '2to1') out.seq = 0;
          continue;
        }
        if (direction === '1to2') out[name2] = conv(src[f.name]);
        else out[f.name] = conv(src[name2]);
      }
      return out;
    };
    cache.set(type, convert);
    return convert;
  };
  const time: Convert =
    direction === '1to2'
      ? (v) => ({ sec: (v as { sec: number }).sec, nanosec: (v as { nsec: number }).nsec })
      : (v) => ({ sec: (v as { sec: number }).sec, nsec: (v as { nanosec: number }).nanosec });
  const fieldConverter = (f: RosMsgField): Convert => {
    let one: Convert | undefined;
    if (f.type === 'time' || f.type === 'duration') one = time;
    else if (f.isComplex) one = (v) => build(f.type)(v);
    if (!one) return (v) => v;
    const each = one;
    return f.isArray ? (v) => (v as unknown[]).map(each) : each;
  };
  return build(rootType);
}

export function parseRos1(text: string, type: string): RosMsgDefinition[] {
  return rosbag.parseMessageDefinition(text, type);
}

export { toRos2Name };
