import { describe, expect, it } from 'vitest';
import { nodeFqn, paramsFileTables, parseRosArgs, resolveParamOverrides } from './param-overrides.js';

const files: Record<string, string> = {
  // The package's params file: keyed by the bare node name.
  'shipped.yaml': 'perception:\n  ros__parameters:\n    camera_topics: ["/front/image_raw"]\n    overlay:\n      width: 640\n    model_path: ""\n',
  // What launch_ros writes for a Node's parameters={...}: keyed by the fully qualified name.
  'launch.yaml': '/perception:\n  ros__parameters:\n    camera_topics: ["/front/image_raw", "/left/image_raw"]\n    use_sim_time: true\n',
  'wild.yaml': '/**:\n  ros__parameters:\n    overlay:\n      width: 320\n    diagnostics_period_s: 2\n',
  'ns.yaml': '/robot1:\n  perception:\n    ros__parameters:\n      model_path: /models/r1\n',
};
const read = (p: string) => {
  if (!(p in files)) throw new Error(`ENOENT: ${p}`);
  return files[p];
};

describe('ROS parameter overrides (rclcpp rules on Humble)', () => {
  it('launch arguments written under /<node> win over the package params file given before them', () => {
    const o = resolveParamOverrides(['--ros-args', '-r', '__node:=perception', '--params-file', 'shipped.yaml', '--params-file', 'launch.yaml'], '/perception', read);
    expect(o.get('camera_topics')).toEqual(['/front/image_raw', '/left/image_raw']);
    expect(o.get('overlay.width')).toBe(640);
    expect(o.get('use_sim_time')).toBe(true);
  });

  it('node-specific entries win over /** entries whatever the order; later files replace earlier ones per key', () => {
    const o = resolveParamOverrides(['--ros-args', '--params-file', 'shipped.yaml', '--params-file', 'wild.yaml'], '/perception', read);
    expect(o.get('overlay.width')).toBe(640);
    expect(o.get('diagnostics_period_s')).toBe(2);
    const later = resolveParamOverrides(['--ros-args', '--params-file', 'wild.yaml', '-p', 'perception:overlay.width:=100', '-p', 'perception:overlay.width:=200'], '/perception', read);
    expect(later.get('overlay.width')).toBe(200);
  });

  it('-p rules: bare names are /** rules, node:name rules are node-specific; values are YAML', () => {
    expect(parseRosArgs(['--ros-args', '-p', 'a:=80', '-p', 'perception:b:=[x, y]', '--param', 'c:=true'])).toEqual([
      { kind: 'param', node: '/**', name: 'a', value: 80 },
      { kind: 'param', node: '/perception', name: 'b', value: ['x', 'y'] },
      { kind: 'param', node: '/**', name: 'c', value: true },
    ]);
    const o = resolveParamOverrides(['--ros-args', '-p', 'overlay.width:=100', '--params-file', 'shipped.yaml'], '/perception', read);
    expect(o.get('overlay.width')).toBe(640); // the -p rule is a wildcard: the file's node entry wins
  });

  it('only the node it names: other nodes and namespaces are left out; nested namespace maps are joined', () => {
    const args = ['--ros-args', '--params-file', 'shipped.yaml', '--params-file', 'ns.yaml'];
    expect(resolveParamOverrides(args, '/learner', read).size).toBe(0);
    expect(resolveParamOverrides(args, '/robot1/perception', read)).toEqual(new Map([['model_path', '/models/r1']]));
    expect(paramsFileTables(files['ns.yaml'], 'ns.yaml').has('/robot1/perception')).toBe(true);
    expect(nodeFqn('/', 'perception')).toBe('/perception');
    expect(nodeFqn('/robot1', 'perception')).toBe('/robot1/perception');
  });

  it('arguments outside --ros-args … -- are not ROS arguments', () => {
    expect(parseRosArgs(['-p', 'a:=1', '--ros-args', '-p', 'b:=2', '--', '-p', 'c:=3'])).toEqual([{ kind: 'param', node: '/**', name: 'b', value: 2 }]);
  });

  it('BAD CALL: a missing file, a file that is not a params file, a rule without := and a flag without its value name what is wrong', () => {
    expect(() => resolveParamOverrides(['--ros-args', '--params-file', 'nope.yaml'], '/perception', read)).toThrow(expect.objectContaining({ code: 'IO', message: expect.stringMatching(/cannot read params file nope\.yaml/) }));
    expect(() => paramsFileTables('perception: [1, 2]', 'bad.yaml')).toThrow(/params file bad\.yaml: "perception" is not a map/);
    expect(() => paramsFileTables('a: : :', 'broken.yaml')).toThrow(/params file broken\.yaml is not YAML/);
    expect(() => parseRosArgs(['--ros-args', '-p', 'width=3'])).toThrow(/parameter rule "width=3" is not name:=value/);
    expect(() => parseRosArgs(['--ros-args', '--params-file'])).toThrow(/--params-file needs a value/);
  });
});
