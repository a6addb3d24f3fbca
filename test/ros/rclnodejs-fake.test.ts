import { describe } from 'vitest';
import type { RclLike } from '../../src/ros/transport/rcl-like.js';
import { createFakeRcl, type FakeNode, type FakeRcl } from './fake-rclnodejs.js';
import { rclnodejsContract } from './rclnodejs.contract.js';

describe('rclnodejs contract: the in-memory fake', () => {
  const fake = (rcl: RclLike) => rcl as FakeRcl;
  rclnodejsContract(
    {
      async open(argv) {
        const rcl = createFakeRcl();
        await rcl.init(undefined, argv);
        return rcl;
      },
      async close(rcl) {
        if (!rcl.isShutdown()) rcl.shutdown();
      },
      settle: (rcl) => fake(rcl).graph.settle(),
      sigintHandled: (rcl) => fake(rcl).sigintHandled(),
      describe: async (_rcl, node, name) => (node as FakeNode).params.get(name)!.descriptor.toMessage() as Record<string, unknown>,
      call: (rcl, _node, service, _type, request) => fake(rcl).graph.callService(service, request),
    },
    'fake',
  );
});
