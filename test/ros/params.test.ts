import { describe, expect, it } from 'vitest';
import { LEARNER_PARAMS, checkParam, declareParams, perceptionParamSpecs } from '../../src/ros/params.js';
import { PARAMETER_TYPE } from '../../src/transport/rcl-like.js';
import { createFakeRcl, FakeDescriptor, type FakeNode } from './fake-rclnodejs.js';

describe('node parameters', () => {
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

  it('a set out of range is refused with a reason, and the old value stays', async () => {
    const rcl = createFakeRcl();
    await rcl.init();
    const node = new rcl.Node('perception');
    declareParams(rcl, node, perceptionParamSpecs(cams));
    const r = node.setParameter(new rcl.Parameter('cameras.front.budget_ms', PARAMETER_TYPE.DOUBLE, 5000));
    expect(r.successful).toBe(false);
    expect(r.reason).toMatch(/cameras\.front\.budget_ms.*5000.*1\.\.1000/);
    expect(node.getParameter('cameras.front.budget_ms').value).toBe(50);
    expect(node.setParameter(new rcl.Parameter('cameras.front.budget_ms', PARAMETER_TYPE.DOUBLE, 33)).successful).toBe(true);
    const ep = node.setParameter(new rcl.Parameter('overlay.width', PARAMETER_TYPE.INTEGER, 10n));
    expect(ep).toEqual({ successful: false, reason: expect.stringContaining('overlay.width') });
    expect(node.setParameter(new rcl.Parameter('camera_topics', PARAMETER_TYPE.STRING_ARRAY, ['/x/image_raw'])).successful).toBe(false);
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
  });

  it('a camera topic that is not /CAM/image_raw[/compressed] is refused at configuration', () => {
    expect(() => perceptionParamSpecs(['/front/points'])).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', context: expect.objectContaining({ field: 'camera_topics' }) }));
  });
});

describe('fake rclnodejs lifecycle (what the managed nodes will use)', () => {
  it('walks unconfigured → inactive → active and back; a failing callback keeps the state', async () => {
    const rcl = createFakeRcl();
    await rcl.init();
    const node = new rcl.lifecycle.LifecycleNode('perception');
    let ok = false;
    node.registerOnConfigure(() => (ok ? 97 : 98));
    expect(node.configure().asMessage().label).toBe('unconfigured');
    ok = true;
    expect(node.configure().asMessage().label).toBe('inactive');
    expect(node.activate().asMessage().label).toBe('active');
    expect(node.deactivate().asMessage().label).toBe('inactive');
    expect(node.shutdown().asMessage().label).toBe('finalized');
    rcl.shutdown();
  });
});
