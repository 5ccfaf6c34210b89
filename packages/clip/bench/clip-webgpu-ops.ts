// Where the WebGPU time of the ViT-B/32 image tower goes, kernel by kernel (see
// tensor/bench/kernelProfile.ts), beside the measured whole forward.
//
//   node --conditions=source --import tsx bench/clip-webgpu-ops.ts [--batch 32] [--reps 50] [--separate-qkv]
import { parseArgs } from 'node:util';
import { randomNormal, tidy } from '@vl/tensor';
import { printKernelProfile } from '../../tensor/bench/kernelProfile.js';
import { fuseQkvProjections, getImageFeatures, initClipParams } from '../src/index.js';
import { benchWebGpu } from '../../tensor/bench/benchWebGpu.js';
import { VIT_B32 } from './vitB32.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    reps: { type: 'string', default: '50' },
    'separate-qkv': { type: 'boolean', default: false },
  },
});
const batch = Number(args.batch);
const reps = Number(args.reps);
const config = VIT_B32;
const S = config.vision_config.image_size;

const backend = await benchWebGpu();
const weights = initClipParams(config, { backend, seed: 1 });
// As ClipModel runs on WebGPU: one fused qkv product per block (--separate-qkv: the three products).
const fused = args['separate-qkv'] ? new Map() : fuseQkvProjections(weights);
const params = new Map([...weights, ...fused]);
const pixels = randomNormal([batch, 3, S, S], { backend, seed: 2 }); // [B, 3, 224, 224]

async function forward(): Promise<number> {
  const t0 = performance.now();
  const out = tidy(() => getImageFeatures(params, pixels, config)); // [B, 512]
  await out.read();
  out.dispose();
  return performance.now() - t0;
}
for (let i = 0; i < 3; i++) await forward(); // compile and warm up
const wholeMs = Math.min(await forward(), await forward(), await forward());

console.log(
  `ViT-B/32 image tower, batch ${batch}, ${backend.name}; whole forward (best of 3, with read-back): ${wholeMs.toFixed(2)} ms`,
);
await printKernelProfile(backend, forward, reps, 'one forward');
for (const t of params.values()) t.dispose(); // the checkpoint's and the fused tensors
pixels.dispose();
backend.dispose();
