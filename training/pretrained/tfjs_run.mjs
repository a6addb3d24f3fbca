// Runs an original TensorFlow.js graph model (the reference the PyTorch port is checked
// against, and the COCO teacher for pseudo-labels):
//   node training/pretrained/tfjs_run.mjs MODEL_JSON INPUT.bin N,H,W,C OUT_DIR OUTPUT_NAME[,OUTPUT_NAME...]
// INPUT.bin: float32 little-endian NHWC in the units the model expects. Writes OUT_DIR/<i>.bin
// (float32, the graph's NHWC layout) and OUT_DIR/index.json with shapes.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

const [modelJson, inputPath, shapeStr, outDir, outNames] = process.argv.slice(2);
const model = JSON.parse(readFileSync(modelJson, 'utf8'));
const specs = [];
const bufs = [];
for (const g of model.weightsManifest) {
  specs.push(...g.weights);
  for (const p of g.paths) bufs.push(readFileSync(join(dirname(modelJson), p)));
}
const all = Buffer.concat(bufs);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
await tf.setBackend(process.env.TFJS_BACKEND || 'cpu');
const gm = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData, format: model.format, signature: model.signature }));
const shape = shapeStr.split(',').map(Number);
const raw = readFileSync(inputPath);
const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape, 'float32');
const names = outNames.split(',');
const t0 = Date.now();
let outs = gm.execute(x, names);
if (!Array.isArray(outs)) outs = [outs];
mkdirSync(outDir, { recursive: true });
const index = [];
for (let i = 0; i < outs.length; i++) {
  const d = await outs[i].data();
  writeFileSync(join(outDir, `${i}.bin`), Buffer.from(new Float32Array(d).buffer));
  index.push({ name: names[i], shape: outs[i].shape });
}
writeFileSync(join(outDir, 'index.json'), JSON.stringify(index));
console.log(`ran ${modelJson} in ${Date.now() - t0} ms: ${JSON.stringify(index)}`);
