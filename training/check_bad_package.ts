// Checks that a model package with a wrong tail shape, or a truncated model.onnx, is refused with a
// message naming the file and tensor (the contract's bad-input rule), on a scratch copy of PKG:
//   node --import tsx training/check_bad_package.ts PKG_DIR
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { loadModelPackage } from '../src/model/package.js';
import { Engine } from '../src/engine/engine.js';
const src = process.argv[2];
const dir = `${process.env.TMPDIR ?? '/tmp'}/bad-pkg-${process.pid}`;
cpSync(src, dir, { recursive: true });
const m = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'));
const tails = JSON.parse(readFileSync(`${dir}/tails.json`, 'utf8'));
tails.det_w0.shape = [48, 47, 1, 1];
tails.det_w0.data = tails.det_w0.data.slice(0, 48 * 47);
writeFileSync(`${dir}/tails.json`, JSON.stringify(tails));
m.sha256['tails.json'] = createHash('sha256').update(readFileSync(`${dir}/tails.json`)).digest('hex');
writeFileSync(`${dir}/manifest.json`, JSON.stringify(m));
try { await loadModelPackage(dir); console.log('tails shape: LOADED (unexpected)'); } catch (e) { console.log('tails shape refused:', (e as Error).message); }
cpSync(src, dir, { recursive: true });
const onnx = readFileSync(`${dir}/model.onnx`);
writeFileSync(`${dir}/model.onnx`, onnx.subarray(0, onnx.length >> 1));
const m2 = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'));
m2.sha256['model.onnx'] = createHash('sha256').update(readFileSync(`${dir}/model.onnx`)).digest('hex');
writeFileSync(`${dir}/manifest.json`, JSON.stringify(m2));
try { const e = await Engine.create({ modelDir: dir, providers: ['cpu'] }); console.log('truncated onnx: LOADED (unexpected)'); await e.dispose(); } catch (e) { console.log('truncated model.onnx refused:', (e as Error).message); }
