/**
 * Resize-first preprocessing: rewrites the contract's in-graph preprocessing
 *   image uint8 NHWC → Cast(float) → Transpose(NCHW) → Resize(linear, sizes = [N, C, H, W])
 * into
 *   image uint8 NHWC → Resize(linear, sizes = [N, H, W, C]) → Cast(float) → Transpose(NCHW)
 * so that only the model-size image (192×384: 0.22 M values) is cast and transposed instead
 * of the camera frame (1280×720: 2.76 M). Same sampling positions and weights; the resized
 * pixels are rounded to uint8 (±0.5 of 255, 0.009 after normalisation) before normalising.
 * On this machine the two camera-size passes were 25–35 % of the FP32 model's time and ~40 %
 * of the INT8 model's (docs/experiments/2026-12-06-int8-and-students.md).
 * Returns false (model unchanged) when the graph does not have that shape.
 */
import { GraphIndex, DT, attrInt, attrInts, int64sOf, makeNode, makeTensor, pruneInitializers, type ModelProto, type NodeProto } from './onnx.js';

export function resizeFirst(model: ModelProto, log: (line: string) => void = () => {}): boolean {
  const g = model.graph;
  const idx = new GraphIndex(g);
  const image = g.input.find((v) => v.type?.tensorType?.elemType === DT.UINT8);
  const miss = (why: string) => {
    log(`preprocess: resize-first rewrite skipped (${why})`);
    return false;
  };
  if (!image) return miss('no uint8 graph input');
  const only = (t: string, op: string): NodeProto | undefined => {
    const c = idx.consumers.get(t) ?? [];
    return c.find((n) => n.opType === op);
  };
  const cast = only(image.name, 'Cast');
  if (!cast || attrInt(cast, 'to', 0) !== DT.FLOAT) return miss(`'${image.name}' does not go through Cast to float`);
  const tr = only(cast.output[0], 'Transpose');
  const perm = tr && attrInts(tr, 'perm');
  if (!tr || perm?.join(',') !== '0,3,1,2' || (idx.consumers.get(cast.output[0]) ?? []).length !== 1) return miss('Cast is not followed by its only consumer, a Transpose NHWC→NCHW');
  const resize = only(tr.output[0], 'Resize');
  if (!resize) return miss('no Resize after the Transpose');
  const others = (idx.consumers.get(tr.output[0]) ?? []).filter((n) => n !== resize);
  // The only other reader allowed: the Shape that builds the sizes input.
  if (others.some((n) => n.opType !== 'Shape')) return miss('the NCHW image has readers other than Resize and Shape');
  const sizesIn = resize.input[3];
  const concat = sizesIn ? idx.producer.get(sizesIn) : undefined;
  if (!concat || concat.opType !== 'Concat' || concat.input.length !== 2) return miss('Resize sizes are not Concat([N, C], [H, W])');
  const hw = concat.input[1];
  const nc = idx.producer.get(concat.input[0]);
  if (!nc || nc.opType !== 'Slice') return miss('Resize sizes do not start with a Slice of the image shape');
  const starts = idx.constant(nc.input[1]);
  const ends = idx.constant(nc.input[2]);
  if (!starts || !ends || int64sOf(starts)[0] !== 0 || int64sOf(ends)[0] !== 2) return miss('Resize sizes do not start with Shape[0:2]');

  const p = `${image.name}__resize_first`;
  g.initializer.push(makeTensor(`${p}_i0`, DT.INT64, [1], BigInt64Array.of(0n)), makeTensor(`${p}_i1`, DT.INT64, [1], BigInt64Array.of(1n)));
  g.initializer.push(makeTensor(`${p}_i3`, DT.INT64, [1], BigInt64Array.of(3n)), makeTensor(`${p}_i4`, DT.INT64, [1], BigInt64Array.of(4n)));
  const fresh: NodeProto[] = [
    makeNode('Shape', [image.name], [`${p}_shape`], `${p}_Shape`),
    makeNode('Slice', [`${p}_shape`, `${p}_i0`, `${p}_i1`], [`${p}_n`], `${p}_SliceN`),
    makeNode('Slice', [`${p}_shape`, `${p}_i3`, `${p}_i4`], [`${p}_c`], `${p}_SliceC`),
    makeNode('Concat', [`${p}_n`, hw, `${p}_c`], [`${p}_sizes`], `${p}_Concat`, { axis: 0 }),
    { ...makeNode('Resize', [image.name, '', '', `${p}_sizes`], [`${p}_u8`], `${p}_Resize`), attribute: resize.attribute },
    makeNode('Cast', [`${p}_u8`], [`${p}_f`], `${p}_Cast`, { to: DT.FLOAT }),
    makeNode('Transpose', [`${p}_f`], [resize.output[0]], `${p}_Transpose`, { perm: [0, 3, 1, 2] }),
  ];
  // Drop the old chain (Cast, Transpose, Shape, Slice, Concat, Resize) where nothing else reads it.
  const drop = new Set<NodeProto>([cast, tr, resize, ...others]);
  if ((idx.consumers.get(sizesIn) ?? []).length === 1) drop.add(concat);
  if ((idx.consumers.get(concat.input[0]) ?? []).length === 1) drop.add(nc);
  const at = g.node.indexOf(resize);
  const kept = g.node.filter((n, i) => i < at && !drop.has(n));
  const rest = g.node.filter((n, i) => i > at && !drop.has(n));
  g.node = [...kept, ...fresh, ...rest];
  pruneInitializers(g);
  log(`preprocess: resize-first rewrite: the camera image is resized as uint8 NHWC, then cast and transposed at model size`);
  return true;
}
