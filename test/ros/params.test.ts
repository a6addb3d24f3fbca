import { describe, expect, it } from 'vitest';
import { LEARNER_PARAMS, checkParam, declareParams, inferenceThreads, perceptionParamSpecs } from '../../src/ros/params.js';
import { RclParameterHost } from '../../src/ros/params-host.js';
import { PARAMETER_TYPE } from '../../src/ros/transport/rcl-like.js';
import { createFakeRcl, FakeDescriptor, type FakeNode } from './fake-rclnodejs.js';

describe('node parameters', () => {
  it('inference_threads: automatic keeps a core for the node thread when the model runs in the worker; a set value is used as is', () => {
    expect(inferenceThreads(0, 'worker', 2)).toBe(1);
    expect(inferenceThreads(0, 'worker', 1)).toBe(1);
    expect(inferenceThreads(0, 'worker', 8)).toBe(7);
    expect(inferenceThreads(0, 'main', 8)).toBeUndefined(); // ONNX Runtime's own default
    expect(inferenceThreads(3, 'worker', 2)).toBe(3);
    expect(inferenceThreads(2, 'main', 8)).toBe(2);
  });

  const cams = ['/front/image_raw', '/robot1/rear/image_raw/compressed'];

  it('are declared with descriptors: type, description, ranges and read-only where a restart is needed', async () => {
    const rcl = createFakeRcl();
    await rcl.init();
    const node = new rcl.Node('perception') as FakeNode;
    const values = declareParams(rcl, node, perceptionParamSpecs(cams));
    expect(values.get('camera_topics')).toEqual(['/front/image_raw']);
    expect(values.get('cameras.robot1.rear.priority')).toBe(5);
    const d = (name: string) => node.params.get(name)!.descriptor as FakeDescriptor;
    expect(d('camera_topics')).toMatchObject({ type: PARAMETER_TYPE.STRING_ARRAY, readOnly: true });
    expect(d('cameras.front.budget_ms')).toMatchObject({ type: PARAMETER_TYPE.DOUBLE, readOnly: false, range: { fromValue: 1, toValue: 1000 } });
    expect(d('cameras.front.priority')).toMatchObject({ type: PARAMETER_TYPE.INTEGER, range: { fromValue: 0, toValue: 10, step: 1 } });
    expect(d('execution_providers').description).toContain('one of: tensorrt, cuda, cpu');
    for (const [, { descriptor }] of node.params) if (descriptor.name !== 'use_sim_time') expect(descriptor.description.length).toBeGreaterThan(10);
    rcl.shutdown();
  });

  it('a set out of range is refused with our reason, and the old value stays; numbers are accepted as integers or floats', async () => {
    const rcl = createFakeRcl();
    await rcl.init();
    const node = new rcl.Node('perception');
    const host = new RclParameterHost(rcl, node);
    host.declare(perceptionParamSpecs(cams));
    // What `ros2 param set` calls: node.setParameters (the host's check answers before rclnodejs's own).
    const [r] = node.setParameters([new rcl.Parameter('cameras.front.budget_ms', PARAMETER_TYPE.DOUBLE, 5000)]);
    expect(r).toEqual({ successful: false, reason: 'parameter cameras.front.budget_ms = 5000 is outside the allowed range 1..1000' });
    expect(node.getParameter('cameras.front.budget_ms').value).toBe(50);
    expect(node.setParameters([new rcl.Parameter('cameras.front.budget_ms', PARAMETER_TYPE.INTEGER, 80n)])).toEqual([{ successful: true, reason: '' }]); // `ros2 param set … 80`
    expect(host.get('cameras.front.budget_ms')).toBe(80);
    expect(node.getParameter('cameras.front.budget_ms').type).toBe(PARAMETER_TYPE.DOUBLE);
    expect(node.setParameter(new rcl.Parameter('overlay.width', PARAMETER_TYPE.INTEGER, 10n))).toEqual({ successful: false, reason: expect.stringContaining('overlay.width = 10 is outside the allowed range 64..4096') });
    expect(node.setParametersAtomically([new rcl.Parameter('camera_topics', PARAMETER_TYPE.STRING_ARRAY, ['/x/image_raw'])])).toEqual({ successful: false, reason: 'parameter camera_topics is read-only: changing it needs a restart of the node' });
    rcl.shutdown();
  });

  it('without the host, rclnodejs refuses the same sets in its own words (why the host answers first)', async () => {
    const rcl = createFakeRcl();
    await rcl.init();
    const node = new rcl.Node('perception');
    declareParams(rcl, node, perceptionParamSpecs(cams));
    expect(node.setParameter(new rcl.Parameter('cameras.front.budget_ms', PARAMETER_TYPE.DOUBLE, 5000)).reason).toBe('Parameter cameras.front.budget_ms does not  readonly');
    expect(node.setParameter(new rcl.Parameter('cameras.front.budget_ms', PARAMETER_TYPE.INTEGER, 80n)).successful).toBe(false);
    rcl.shutdown();
  });

  it('ranges are in the descriptor message `ros2 param describe` receives (rclnodejs leaves them out)', async () => {
    const rcl = createFakeRcl();
    await rcl.init();
    const node = new rcl.Node('perception') as FakeNode;
    declareParams(rcl, node, perceptionParamSpecs(cams));
    const msg = (name: string) => node.params.get(name)!.descriptor.toMessage() as Record<string, unknown>;
    expect(msg('overlay.width')).toMatchObject({ read_only: false, integer_range: [{ from_value: 64n, to_value: 4096n, step: 1n }] });
    expect(msg('cameras.front.budget_ms')).toMatchObject({ floating_point_range: [{ from_value: 1, to_value: 1000, step: 0 }] });
    expect(msg('camera_topics')).toMatchObject({ read_only: true });
    expect(msg('camera_topics')).not.toHaveProperty('integer_range');
    rcl.shutdown();
  });

  it('the validator refuses wrong kinds and unknown choices by name (it is also what runs on set)', () => {
    const providers = perceptionParamSpecs([]).find((s) => s.name === 'execution_providers')!;
    expect(checkParam(providers, ['cuda', 'openvino'])).toBe('parameter execution_providers: "openvino" is not one of tensorrt, cuda, cpu');
    expect(checkParam(providers, [])).toMatch(/at least 1/);
    const slack = LEARNER_PARAMS.find((s) => s.name === 'training_slack_share')!;
    expect(checkParam(slack, 1.5)).toMatch(/outside the allowed range 0\.\.1/);
    expect(checkParam(slack, '0.5')).toMatch(/must be a finite number/);
    const flags = LEARNER_PARAMS.find((s) => s.name === 'max_flags_per_minute')!;
    expect(checkParam(flags, 12n)).toBeUndefined();
    expect(checkParam(flags, 1.5)).toMatch(/must be an integer/);
    const cache = LEARNER_PARAMS.find((s) => s.name === 'trainer_cache_mb')!;
    expect(cache.default).toBe(1024);
    expect(checkParam(cache, 256n)).toBeUndefined();
    expect(checkParam(cache, -1n)).toMatch(/outside the allowed range 0\.\.1048576/);
  });

  it('a camera topic that is not /CAM/image_raw[/compressed] is refused at configuration', () => {
    expect(() => perceptionParamSpecs(['/front/points'])).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', context: expect.objectContaining({ field: 'camera_topics' }) }));
  });
});
