// Child process of store.test.ts: inserts samples in a loop and prints each committed id,
// until the parent SIGKILLs it mid-write.
import { SampleStore } from '../../src/adaptation/learner/store.js';
import { fakeSample } from './store.js';

const store = SampleStore.open(process.argv[2], { maxSamples: 100_000, featureEncoding: 'f32' });
for (let i = 0; ; i++) {
  const r = store.insert(fakeSample('cam', BigInt(i) * 100_000_000n, 'new', i));
  process.stdout.write(`${r.id}\n`);
}
