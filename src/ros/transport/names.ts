import { PerceptionError } from '../../core/errors.js';
import { RESULTS_QOS, SENSOR_DATA_QOS, type QosProfile } from './types.js';

const NAME = /^~?\/?[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Checks a node namespace (`/` or `/a/b`) and returns it; throws INVALID_ARGUMENT naming the field. */
export function checkNamespace(namespace: string, field = 'namespace'): string {
  if (namespace === '' || namespace === '/') return '/';
  if (!namespace.startsWith('/') || namespace.endsWith('/') || !NAME.test(namespace)) {
    throw new PerceptionError('INVALID_ARGUMENT', `${field} must be "/" or "/name[/name…]", got "${namespace}"`, { field });
  }
  return namespace;
}

/**
 * Resolves a topic name the way rcl does for the cases we use: absolute names stay, relative
 * names go under the namespace, `~/x` under namespace/node. Both transports use it, so a bag
 * records exactly the names a ROS graph would show.
 */
export function resolveTopic(name: string, namespace: string, nodeName = 'node'): string {
  if (!NAME.test(name)) {
    throw new PerceptionError('INVALID_ARGUMENT', `"${name}" is not a valid ROS 2 topic name (letters, digits, _ and / between tokens; a token may not start with a digit)`, { topic: name, field: 'topic' });
  }
  const ns = checkNamespace(namespace);
  const base = ns === '/' ? '' : ns;
  if (name.startsWith('/')) return name;
  if (name.startsWith('~/')) return `${base}/${nodeName}/${name.slice(2)}`;
  return `${base}/${name}`;
}

const IMAGE_TYPES = new Set(['sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage', 'sensor_msgs/msg/CameraInfo']);

/** Camera streams get sensor-data QoS (a late frame is worthless; never block the driver); the rest is reliable. */
export function defaultSubscribeQos(type: string): QosProfile {
  return IMAGE_TYPES.has(type) ? SENSOR_DATA_QOS : RESULTS_QOS;
}

export function checkQos(qos: QosProfile, field = 'qos'): QosProfile {
  if (qos.reliability !== 'reliable' && qos.reliability !== 'best_effort') {
    throw new PerceptionError('INVALID_ARGUMENT', `${field}.reliability must be "reliable" or "best_effort", got "${String(qos.reliability)}"`, { field: `${field}.reliability` });
  }
  if (!Number.isInteger(qos.depth) || qos.depth < 1 || qos.depth > 1000) {
    throw new PerceptionError('INVALID_ARGUMENT', `${field}.depth must be an integer in 1..1000, got ${qos.depth}`, { field: `${field}.depth` });
  }
  if (qos.durability !== 'volatile' && qos.durability !== 'transient_local') {
    throw new PerceptionError('INVALID_ARGUMENT', `${field}.durability must be "volatile" or "transient_local", got "${String(qos.durability)}"`, { field: `${field}.durability` });
  }
  return Object.freeze({ reliability: qos.reliability, depth: qos.depth, durability: qos.durability });
}
