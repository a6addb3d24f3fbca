/**
 * What the project relies on rclnodejs 2.2 to do, as one suite run against the in-memory fake
 * (test/ros/rclnodejs-fake.test.ts, everywhere) and against the real library on a real ROS 2
 * graph (test/ros/live.test.ts, where ROS 2 is sourced). When rclnodejs changes, the live run
 * fails here first, and the fake is brought back in line with it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sampleHeader } from '../../src/msgs/samples.js';
import { RclParameterHost } from '../../src/ros/params-host.js';
import { resolveParamOverrides } from '../../src/ros/param-overrides.js';
import { declareParams, type ParamSpec } from '../../src/ros/params.js';
import { PARAMETER_TYPE, RMW, type RclLike, type RclNodeLike } from '../../src/ros/transport/rcl-like.js';
import { RosTransport } from '../../src/ros/transport/ros-transport.js';

export interface RclHarness {
  /** An rclnodejs module, initialised with these ROS arguments (shut down by `close`). */
  open(argv: string[]): Promise<RclLike>;
  close(rcl: RclLike): Promise<void>;
  /** Waits until messages published so far have been delivered. */
  settle(rcl: RclLike): Promise<void>;
  /** Whether rclnodejs's own SIGINT handler is installed for this module. */
  sigintHandled(rcl: RclLike): boolean;
  /** The rcl_interfaces/ParameterDescriptor a client (`ros2 param describe`) receives. */
  describe(rcl: RclLike, node: RclNodeLike, name: string): Promise<Record<string, unknown>>;
  /** Calls a service as a client would. */
  call(rcl: RclLike, node: RclNodeLike, service: string, type: string, request: object): Promise<Record<string, unknown>>;
}

const dir = mkdtempSync(join(tmpdir(), 'ap-rcl-contract-'));
const SPECS: ParamSpec[] = [
  { name: 'from_wildcard', kind: 'integer', default: 0, description: 'set by a /** entry' },
  { name: 'from_bare', kind: 'integer', default: 0, description: 'set by an entry keyed by the bare node name' },
  { name: 'from_fqn', kind: 'integer', default: 0, description: 'set by an entry keyed by /<node> (what launch_ros writes)' },
  { name: 'rate', kind: 'double', default: 10, range: { from: 0.5, to: 60 }, description: 'a double with a range' },
];

/** The suite; `prefix` names the module it runs against. */
export function rclnodejsContract(h: RclHarness, prefix: string): void {
  const spin = (rcl: RclLike, name: string) => {
    const node = new rcl.Node(name);
    node.spin();
    return node;
  };

  it(`${prefix}: loading installs a SIGINT handler that would shut rcl down under our graceful stop; removeSignalHandlers takes it away`, async () => {
    const rcl = await h.open([]);
    expect(h.sigintHandled(rcl)).toBe(true);
    rcl.removeSignalHandlers();
    expect(h.sigintHandled(rcl)).toBe(false);
    await h.close(rcl);
  });

  it(`${prefix}: parameter overrides: rclnodejs applies /** and the bare node name but drops /<node>; ours apply all, node-specific last`, async () => {
    const file = join(dir, 'overrides.yaml');
    writeFileSync(file, ['/**:', '  ros__parameters:', '    from_wildcard: 1', 'contract_a:', '  ros__parameters:', '    from_bare: 2', '/contract_a:', '  ros__parameters:', '    from_fqn: 3', '    from_wildcard: 4', ''].join('\n'));
    const argv = ['node', '--ros-args', '--params-file', file];
    const rcl = await h.open(argv);
    try {
      const raw = new rcl.Node('contract_a');
      const values = declareParams(rcl, raw, SPECS);
      expect([values.get('from_wildcard'), values.get('from_bare'), values.get('from_fqn')]).toEqual([1, 2, 0]);
      raw.destroy();
      const node = new rcl.Node('contract_a');
      const host = new RclParameterHost(rcl, node, { overrides: resolveParamOverrides(argv, '/contract_a') });
      const ours = host.declare(SPECS);
      expect([ours.get('from_wildcard'), ours.get('from_bare'), ours.get('from_fqn')]).toEqual([4, 2, 3]);
      node.destroy();
    } finally {
      await h.close(rcl);
    }
  });

  it(`${prefix}: setParameters checks type and range before the on-set callback, in rclnodejs's words; the host answers first and takes integers for doubles`, async () => {
    const rcl = await h.open([]);
    try {
      const raw = spin(rcl, 'contract_b');
      declareParams(rcl, raw, SPECS);
      expect(raw.setParameters([new rcl.Parameter('rate', PARAMETER_TYPE.INTEGER, 5n)])[0].successful).toBe(false);
      expect(raw.setParameters([new rcl.Parameter('rate', PARAMETER_TYPE.DOUBLE, 99)])[0]).toMatchObject({ successful: false, reason: expect.stringMatching(/^Parameter rate does not\s+readonly$/) });
      const node = spin(rcl, 'contract_c');
      const host = new RclParameterHost(rcl, node);
      host.declare(SPECS);
      expect(node.setParameters([new rcl.Parameter('rate', PARAMETER_TYPE.INTEGER, 5n)])).toEqual([{ successful: true, reason: '' }]);
      expect(host.get('rate')).toBe(5);
      expect(node.setParameters([new rcl.Parameter('rate', PARAMETER_TYPE.DOUBLE, 99)])[0]).toEqual({ successful: false, reason: 'parameter rate = 99 is outside the allowed range 0.5..60' });
      // What `ros2 param describe` shows.
      expect(await h.describe(rcl, node, 'rate')).toMatchObject({ floating_point_range: [expect.objectContaining({ from_value: 0.5, to_value: 60 })] });
    } finally {
      await h.close(rcl);
    }
  });

  it(`${prefix}: a transient-local subscriber that joins late gets the latched message; a volatile one does not`, async () => {
    const rcl = await h.open([]);
    try {
      const node = spin(rcl, 'contract_d');
      const latched = new rcl.QoS(RMW.HISTORY_KEEP_LAST, 1, RMW.RELIABILITY_RELIABLE, RMW.DURABILITY_TRANSIENT_LOCAL);
      node.createPublisher('std_msgs/msg/String', '/contract/latched', { qos: latched }).publish({ data: 'status' });
      await h.settle(rcl);
      const late = spin(rcl, 'contract_e');
      const got: string[] = [];
      late.createSubscription('std_msgs/msg/String', '/contract/latched', { qos: latched }, (m) => void got.push(`latched:${(m as { data: string }).data}`));
      late.createSubscription('std_msgs/msg/String', '/contract/latched', { qos: new rcl.QoS(RMW.HISTORY_KEEP_LAST, 1, RMW.RELIABILITY_RELIABLE, RMW.DURABILITY_VOLATILE) }, (m) => void got.push(`volatile:${(m as { data: string }).data}`));
      await h.settle(rcl);
      expect(got).toEqual(['latched:status']);
    } finally {
      await h.close(rcl);
    }
  });

  it(`${prefix}: a typed-array view is sent from the start of its buffer; through RosTransport it is sent as the bytes it views`, async () => {
    const rcl = await h.open([]);
    try {
      const node = spin(rcl, 'contract_f');
      const got: number[][] = [];
      node.createSubscription('sensor_msgs/msg/CompressedImage', '/contract/bytes', { qos: undefined, enableTypedArray: true }, (m) => void got.push(Array.from((m as { data: Uint8Array }).data)));
      const view = Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7).subarray(4, 8);
      const msg = { header: sampleHeader(), format: 'jpeg', data: view };
      const raw = node.createPublisher('sensor_msgs/msg/CompressedImage', '/contract/bytes', { enableTypedArray: true });
      const transport = await RosTransport.open({ rcl, node, nodeName: 'contract_f' });
      await h.settle(rcl);
      raw.publish(msg);
      await h.settle(rcl);
      transport.advertise('/contract/bytes', 'sensor_msgs/msg/CompressedImage').publish(msg);
      await h.settle(rcl);
      expect(got).toEqual([
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ]);
      await transport.dispose();
    } finally {
      await h.close(rcl);
    }
  });

  it(`${prefix}: a service callback may answer with a promise (the lifecycle server answers when a transition has ended)`, async () => {
    const rcl = await h.open([]);
    try {
      const node = spin(rcl, 'contract_g');
      node.createService('lifecycle_msgs/srv/GetState', '~/get_state', undefined, async () => {
        await new Promise((r) => setTimeout(r, 50));
        return { current_state: { id: 10, label: 'configuring' } };
      });
      expect(await h.call(rcl, node, '/contract_g/get_state', 'lifecycle_msgs/srv/GetState', {})).toMatchObject({ current_state: { id: 10, label: 'configuring' } });
    } finally {
      await h.close(rcl);
    }
  });
}
