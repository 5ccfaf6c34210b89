// Where our CPU backend spends a ViT-B/32 forward pass, kernel by kernel: wraps the backend's
// `execute` (the engine calls it synchronously once per kernel) with a timer, so the split is exact
// per kernel and shape, which a sampling profile of minified JS and WASM frames is not.
//
//   node --conditions=source --import tsx bench/profile-cpu.ts [--tower image|text] [--runs 3]
//
// Pair it with `node --cpu-prof` on clip-cpu.ts to see which functions inside a kernel are hot.
import { parseArgs } from 'node:util';
import { type Backend, createBackend, randomNormal, tensor, tidy } from '@vl/tensor';
import { getImageFeatures, getTextFeatures, initClipParams } from '../src/index.js';
import { VIT_B32 } from './vitB32.js';

const { values: args } = parseArgs({
  options: {
    tower: { type: 'string', default: 'image' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
  },
});
const config = VIT_B32;

interface Entry {
  ms: number;
  calls: number;
}
const byKernel = new Map<string, Entry>();
const byShape = new Map<string, Entry>();
let recording = false;

const backend: Backend = await createBackend('cpu');
type Execute = Backend['execute'];
const execute: Execute = backend.execute.bind(backend);
backend.execute = ((kernel, inputs, outputs, attrs) => {
  if (!recording) return execute(kernel, inputs, outputs, attrs);
  const t0 = performance.now();
  const result = execute(kernel, inputs, outputs, attrs);
  const ms = performance.now() - t0;
  const shape = `${kernel.name} ${inputs.map((t) => `[${t.shape.join(',')}]`).join(' ')} ${JSON.stringify(attrs ?? {})}`;
  for (const [map, key] of [
    [byKernel, kernel.name],
    [byShape, shape],
  ] as const) {
    const e = map.get(key) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    map.set(key, e);
  }
  return result;
}) as Execute;

const params = initClipParams(config, { backend, seed: 1 });
const { image_size: S, num_channels: C } = config.vision_config;
const T = config.text_config.max_position_embeddings;
const pixels = randomNormal([1, C, S, S], { backend, seed: 2 }); // [1, 3, 224, 224]
const ids = tensor(
  Int32Array.from({ length: T }, (_, t) => (t === 0 ? 49406 : t === T - 1 ? 49407 : (t * 7919) % 49405)),
  [1, T],
  { backend },
); // i32 [1, 77]
const forward =
  args.tower === 'text'
    ? () => getTextFeatures(params, ids, undefined, config) // [1, 512]
    : () => getImageFeatures(params, pixels, config); // [1, 512]

async function once(): Promise<number> {
  const t0 = performance.now();
  const out = tidy(forward);
  await out.read();
  out.dispose();
  return performance.now() - t0;
}

for (let i = 0; i < Number(args.warmup); i++) await once();
recording = true;
const runs = Number(args.runs);
let wall = 0;
for (let i = 0; i < runs; i++) wall += await once();
recording = false;

const kernelMs = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
console.log(
  `${backend.name}, ViT-B/32 ${args.tower} tower, batch 1: ${(wall / runs).toFixed(1)} ms per forward ` +
    `(${((kernelMs / wall) * 100).toFixed(1)}% inside kernels, the rest is op dispatch and JS glue)`,
);
const print = (title: string, map: Map<string, Entry>, top: number) => {
  console.log(`\n${title}`);
  console.log('  ms/forward   share   calls/forward  what');
  for (const [key, e] of [...map].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(
      `  ${(e.ms / runs).toFixed(2).padStart(10)}  ${((e.ms / wall) * 100).toFixed(1).padStart(5)}%  ${String(e.calls / runs).padStart(13)}  ${key}`,
    );
  }
};
print('by kernel', byKernel, 30);
print('by kernel and input shapes', byShape, 25);
backend.dispose();
