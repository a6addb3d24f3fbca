export * from './types.js';
export * from './time.js';
export * from './image.js';
export { MESSAGE_TEXT, toRos2Name, toShortName } from './definitions.js';
export { definitionFor, knownTypes, codecFor, makeRos2Codec, dependencyClosure, type Ros2Codec } from './registry.js';
