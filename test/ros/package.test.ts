/**
 * The ROS package files, checked without ROS: they parse, and they agree with the code (launch
 * arguments, parameters declared by the nodes, topics the node publishes, message dependencies).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseMsg } from '@foxglove/rosmsg';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { MESSAGE_TEXT, definitionFor, dependencyClosure } from '../../src/msgs/index.js';
import { LEARNER_PARAMS, checkParams, flattenParams, perceptionParamSpecs } from '../../src/ros/params.js';
import { learnerPublications, learnerSubscriptions, perceptionPublications, perceptionSubscriptions } from '../../src/ros/topics.js';
import { resolveTopic } from '../../src/ros/transport/names.js';

const root = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
/**
 * DeclareLaunchArgument names in a launch .py, read from its text (no Python or ROS needed: the
 * live suite, test/ros/live.test.ts, runs the launch files under `ros2 launch`).
 */
function pyLaunchArguments(path: string): string[] {
  const text = read(path);
  if (!/^def generate_launch_description\(\):/m.test(text)) throw new Error(`${path} has no generate_launch_description()`);
  return [...text.matchAll(/DeclareLaunchArgument\(\s*'([A-Za-z_][A-Za-z0-9_]*)'/g)].map((m) => m[1]);
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['arg', 'node', 'param', 'depend', 'exec_depend', 'build_depend', 'buildtool_depend'].includes(name) });

const LAUNCH_ARGS = ['cameras', 'model', 'params_file', 'use_sim_time'];

describe('launch files', () => {
  it('perception.launch.py declares cameras, model, params_file, use_sim_time', () => {
    expect(pyLaunchArguments('launch/perception.launch.py')).toEqual(expect.arrayContaining(LAUNCH_ARGS));
  });

  it('perception.launch.xml parses and is the twin of the .py (same arguments, both nodes, the same parameters)', () => {
    const doc = xml.parse(read('launch/perception.launch.xml')) as { launch: { arg: { name: string }[]; node: { exec: string; name: string; param: { name?: string; from?: string }[] }[] } };
    expect(doc.launch.arg.map((a) => a.name).sort()).toEqual(pyLaunchArguments('launch/perception.launch.py').sort());
    expect(doc.launch.node.map((n) => [n.exec, n.name])).toEqual([['perception', 'perception'], ['learner', 'learner']]);
    const perception = doc.launch.node[0].param;
    expect(perception.map((p) => p.name ?? 'from')).toEqual(['from', 'use_sim_time', 'camera_topics', 'model_path']);
    const declared = new Set(perceptionParamSpecs(['/front/image_raw']).map((s) => s.name));
    for (const p of perception) if (p.name && p.name !== 'use_sim_time') expect(declared).toContain(p.name);
  });

  it('replay.launch.py declares its arguments, plays the bag with --clock and runs the nodes on sim time', () => {
    expect(pyLaunchArguments('launch/replay.launch.py')).toEqual(expect.arrayContaining(['bag', 'rate', 'cameras', 'model', 'params_file']));
    const text = read('launch/replay.launch.py');
    expect(text).toContain("'--clock'");
    expect(text).toMatch(/'use_sim_time':\s*'true'/);
  });
});

describe('params files', () => {
  const cases = [
    ['config/perception.params.yaml', 'perception'],
    ['config/learner.params.yaml', 'learner'],
  ] as const;
  for (const [file, node] of cases) {
    it(`${file} parses, and every parameter in it is declared by the ${node} node and valid`, () => {
      const doc = parseYaml(read(file)) as Record<string, { ros__parameters: unknown }>;
      expect(Object.keys(doc)).toEqual([node]);
      const values = flattenParams(doc[node].ros__parameters);
      expect(Object.keys(values).length).toBeGreaterThan(3);
      const specs = node === 'perception' ? perceptionParamSpecs(values.camera_topics as string[]) : [...LEARNER_PARAMS];
      expect(checkParams(specs, values)).toEqual([]);
    });
  }

  it('the check catches an undeclared or out-of-range entry (so the test above means something)', () => {
    const specs = perceptionParamSpecs(['/front/image_raw']);
    expect(checkParams(specs, { 'cameras.front.budget_ms': 0.5, 'publish.overlays': true })).toEqual([
      'parameter cameras.front.budget_ms = 0.5 is outside the allowed range 1..1000',
      'parameter publish.overlays is not declared by the node',
    ]);
  });
});

describe('rviz2 config', () => {
  it('parses, and every topic it shows is one the perception node publishes (at the root namespace)', () => {
    const doc = parseYaml(read('config/adaptation.rviz')) as { 'Visualization Manager': { Displays: { Class: string; Topic?: { Value: string } }[] } };
    const displays = doc['Visualization Manager'].Displays;
    const topics = displays.flatMap((d) => (d.Topic ? [d.Topic.Value] : []));
    expect(topics.length).toBeGreaterThanOrEqual(3);
    const published = perceptionPublications(['/front/image_raw']).map((t) => resolveTopic(t.topic, '/'));
    for (const t of topics) expect(published).toContain(t);
    expect(topics).toEqual(expect.arrayContaining(['/front/perception/overlay', '/front/perception/markers', '/adaptation/status_text']));
    for (const d of displays) expect(d.Class).toMatch(/^rviz_default_plugins\//);
  });
});

describe('package.xml and CMakeLists.txt', () => {
  const pkg = (xml.parse(read('package.xml')) as { package: Record<string, unknown> & { format: string } }).package;
  const list = (k: string) => ((pkg[k] as string[] | undefined) ?? []).map(String);

  it('is format 3, ament_cmake, an interface package', () => {
    expect(pkg.format).toBe('3');
    expect(pkg.name).toBe('adaptive_perception');
    expect(list('buildtool_depend')).toEqual(expect.arrayContaining(['ament_cmake', 'rosidl_default_generators']));
    expect(list('exec_depend')).toContain('rosidl_default_runtime');
    expect(pkg.member_of_group).toBe('rosidl_interface_packages');
    expect((pkg.export as { build_type: string }).build_type).toBe('ament_cmake');
  });

  it('depends on every package whose messages the nodes publish or subscribe to', () => {
    const types = [...perceptionPublications(['/front/image_raw']), ...perceptionSubscriptions(['/front/image_raw', '/rear/image_raw/compressed']), ...learnerPublications(), ...learnerSubscriptions()].map((t) => t.type);
    const packages = new Set(types.flatMap((t) => dependencyClosure(t)).map((t) => t.split('/')[0]));
    packages.delete('adaptive_perception');
    const deps = new Set([...list('depend'), ...list('exec_depend')]);
    for (const p of packages) expect(deps, `package.xml lacks ${p}`).toContain(p);
  });

  it('CMakeLists generates every .msg in msgs/msg and depends on what those files use', () => {
    const cmake = read('CMakeLists.txt');
    const files = readdirSync(join(root, 'msgs/msg')).filter((f) => f.endsWith('.msg'));
    for (const f of files) expect(cmake).toContain(`"msgs/msg/${f}"`);
    const block = /rosidl_generate_interfaces\(([\s\S]*?)\)/.exec(cmake)?.[1] ?? '';
    const used = new Set(files.flatMap((f) => dependencyClosure(`adaptive_perception/msg/${f.replace('.msg', '')}`)).map((t) => t.split('/')[0]));
    used.delete('adaptive_perception');
    for (const p of used) expect(block, `DEPENDENCIES lacks ${p}`).toMatch(new RegExp(`DEPENDENCIES[^)]*\\b${p}\\b`));
  });
});

describe('custom messages', () => {
  const files = readdirSync(join(root, 'msgs/msg')).filter((f) => f.endsWith('.msg'));

  it('are the three no standard type covers', () => {
    expect(files.sort()).toEqual(['AdaptationStatus.msg', 'FlaggedFrame.msg', 'WeightUpdate.msg']);
  });

  for (const f of files) {
    it(`${f} parses with @foxglove/rosmsg and matches the definition the codecs use`, () => {
      const type = `adaptive_perception/msg/${f.replace('.msg', '')}`;
      // The file's own fields, then the dependency sections our registry appends.
      const deps = definitionFor(type).slice(MESSAGE_TEXT[type].length);
      const fromFile = parseMsg(read(`msgs/msg/${f}`) + deps, { ros2: true })[0];
      const fromCode = parseMsg(definitionFor(type), { ros2: true })[0];
      expect(fromFile.definitions).toEqual(fromCode.definitions);
      expect(fromFile.definitions.filter((d) => !d.isConstant).length).toBeGreaterThan(3);
    });
  }
});
