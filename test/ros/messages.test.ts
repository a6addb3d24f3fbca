/** Every message the nodes publish round-trips through @foxglove/rosmsg2-serialization with its definition. */
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';
import { parse } from '@foxglove/rosmsg';
import { describe, expect, it } from 'vitest';
import { definitionFor, makeImage, type Image } from '../../src/msgs/index.js';
import { plain, sampleDetections, sampleHeader, sampleOfEveryType } from '../../src/msgs/samples.js';
import { buildDiagnostics } from '../../src/ros/diagnostics.js';
import { learnerPublications, perceptionPublications } from '../../src/ros/topics.js';

function roundTrip(type: string, msg: unknown): unknown {
  const defs = parse(definitionFor(type), { ros2: true });
  const bytes = new MessageWriter(defs).writeMessage(msg);
  return new MessageReader(defs).readMessage(bytes);
}

const header = sampleHeader(1_700_000_000, 5, 'front_camera_optical_frame');
const image = (encoding: 'mono8' | '32FC1' | 'rgb8', w: number, h: number): Image => {
  const bpp = { mono8: 1, '32FC1': 4, rgb8: 3 }[encoding];
  const data = new Uint8Array(w * h * bpp).map((_, i) => (i * 7) & 0xff);
  return makeImage({ stamp: header.stamp, frameId: header.frame_id, width: w, height: h, encoding, data });
};

const samples: [string, string, unknown][] = [
  ['detections', 'vision_msgs/msg/Detection2DArray', sampleDetections(header)],
  ['lane mask (mono8)', 'sensor_msgs/msg/Image', image('mono8', 8, 4)],
  ['depth (32FC1)', 'sensor_msgs/msg/Image', image('32FC1', 8, 4)],
  ['overlay (rgb8)', 'sensor_msgs/msg/Image', image('rgb8', 8, 4)],
  ['markers', 'visualization_msgs/msg/MarkerArray', sampleOfEveryType()['visualization_msgs/msg/MarkerArray']],
  ['latency', 'std_msgs/msg/Float64', { data: 12.5 }],
  [
    'diagnostics',
    'diagnostic_msgs/msg/DiagnosticArray',
    buildDiagnostics(header.stamp, {
      cameras: [{ camera: 'front', topic: '/front/image_raw', received: 10, processed: 9, lastFrameAgeMs: 10, latencyMs: { p50: 8, p99: 20 }, budgetMs: 50, deadlineMisses: 0, drops: { superseded: 1 } }],
      model: { name: 'default', version: '1.0.0', executionProvider: 'cpu', loaded: true, swaps: 0, rollbacks: 0 },
    }, { nodeName: 'perception' }),
  ],
  ['adaptation status', 'adaptive_perception/msg/AdaptationStatus', sampleOfEveryType()['adaptive_perception/msg/AdaptationStatus']],
  ['flagged frame', 'adaptive_perception/msg/FlaggedFrame', sampleOfEveryType()['adaptive_perception/msg/FlaggedFrame']],
  ['weight update', 'adaptive_perception/msg/WeightUpdate', sampleOfEveryType()['adaptive_perception/msg/WeightUpdate']],
];

describe('published messages round-trip through CDR', () => {
  for (const [what, type, msg] of samples) {
    it(`${what} (${type})`, () => {
      expect(plain(roundTrip(type, msg))).toEqual(plain(msg));
    });
  }

  it('the samples cover every type the perception and learner nodes publish', () => {
    const published = new Set([...perceptionPublications(['/front/image_raw']), ...learnerPublications()].map((t) => t.type));
    const covered = new Set(samples.map(([, type]) => type));
    for (const t of published) expect(covered, `no round-trip sample for ${t}`).toContain(t);
  });
});
