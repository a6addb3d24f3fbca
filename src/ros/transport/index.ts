export * from './types.js';
export { resolveTopic, checkNamespace, defaultSubscribeQos } from './names.js';
export { conformMessage, conformError } from './conform.js';
export { BagTransport, type BagTransportOptions, type PlayOptions, type PlaySummary } from './bag-transport.js';
export { RosTransport, loadRclnodejs, type RosTransportOptions } from './ros-transport.js';
export type * from './rcl-like.js';
export { RMW, PARAMETER_TYPE } from './rcl-like.js';
