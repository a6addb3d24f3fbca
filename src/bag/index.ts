export type { BagFormat, BagInfo, BagMessage, BagReader, BagWriter, ReadOptions, TopicInfo } from './types.js';
export { openBag } from './reader.js';
export { McapBagReader } from './mcap-reader.js';
export { McapBagWriter, type McapBagWriterOptions } from './mcap-writer.js';
export { Ros1BagReader } from './ros1-reader.js';
export { Ros1BagWriter, type Ros1BagWriterOptions } from './ros1-writer.js';
export { ros1DefinitionFor } from './ros1-convert.js';
export type { Compression } from './compression.js';
