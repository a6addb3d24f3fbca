import { describe, expect, it } from 'vitest';
import { isPerceptionError } from '../core/errors.js';
import { codecFor, definitionFor, knownTypes } from './registry.js';
import { plain, sampleOfEveryType } from './samples.js';

describe('message registry', () => {
  it('has a sample for every known type and round-trips each through CDR', () => {
    const samples = sampleOfEveryType();
    expect(Object.keys(samples).sort()).toEqual(knownTypes().sort());
    for (const [type, msg] of Object.entries(samples)) {
      const codec = codecFor(type);
      const back = codec.deserialize(codec.serialize(msg));
      expect(plain(back), type).toEqual(plain(msg));
    }
  });

  it('caches codecs per type and accepts the short pkg/Type name', () => {
    expect(codecFor('sensor_msgs/Image')).toBe(codecFor('sensor_msgs/msg/Image'));
  });

  it('writes dependencies as MSG sections in the ros2msg layout', () => {
    const text = definitionFor('vision_msgs/msg/Detection2DArray');
    expect(text.startsWith('std_msgs/Header header\nDetection2D[] detections\n')).toBe(true);
    for (const dep of ['std_msgs/Header', 'vision_msgs/Detection2D', 'vision_msgs/BoundingBox2D', 'geometry_msgs/PoseWithCovariance', 'geometry_msgs/Quaternion']) {
      expect(text).toContain(`${'='.repeat(80)}\nMSG: ${dep}\n`);
    }
    expect(text.match(/MSG: std_msgs\/Header\n/g)).toHaveLength(1);
  });

  it('names an unknown type in UNKNOWN_MESSAGE_TYPE', () => {
    try {
      definitionFor('foo_msgs/msg/Bar');
      expect.unreachable();
    } catch (err) {
      expect(isPerceptionError(err, 'UNKNOWN_MESSAGE_TYPE')).toBe(true);
      expect((err as Error).message).toContain('foo_msgs/msg/Bar');
    }
  });
});
