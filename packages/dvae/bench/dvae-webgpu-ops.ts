// Where the WebGPU time of the full-size dVAE's encode and decode goes, kernel by kernel (see
// tensor/bench/kernelProfile.ts): not a comparison, the map for making the dVAE bench faster.
//
//   node --conditions=source --import tsx bench/dvae-webgpu-ops.ts [--batch 8] [--reps 5] [--n-hid 256]
//     [--pool-gib 2]   the backend's buffer pool cap (maxPooledBytes), in GiB
//     [--cpu]          the CPU backend instead (where its time goes there)
import { parseArgs } from 'node:util';
import { createBackend, randomUniform, tensor } from '@vl/tensor';
import { benchWebGpu } from '../../tensor/bench/benchWebGpu.js';
import { printKernelProfile } from '../../tensor/bench/kernelProfile.js';
import {
  type DvaeConfig,
  createDvaeModel,
  defaultDecoderConfig,
  defaultEncoderConfig,
  initDvaeParams,
  LOGIT_LAPLACE_EPS,
} from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    reps: { type: 'string', default: '5' },
    'n-hid': { type: 'string', default: String(defaultEncoderConfig.n_hid) },
    'pool-gib': { type: 'string' },
    cpu: { type: 'boolean', default: false },
  },
});
const n = Number(args.batch);
const reps = Number(args.reps);
const nHid = Number(args['n-hid']);
const config: DvaeConfig = {
  encoder: { ...defaultEncoderConfig, n_hid: nHid },
  decoder: { ...defaultDecoderConfig, n_hid: nHid },
  logit_laplace_eps: LOGIT_LAPLACE_EPS,
};
const backend = args.cpu
  ? await createBackend('cpu')
  : await benchWebGpu(args['pool-gib'] ? { maxPooledBytes: Number(args['pool-gib']) * 2 ** 30 } : {});
const params = initDvaeParams(config, { backend, seed: 1 });
const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {
  for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
});
const S = 256;
const grid = S / 2 ** (config.encoder.group_count - 1);
const images = randomUniform([n, 3, S, S], { backend, seed: 2 }); // [n, 3, 256, 256]
const ids = Int32Array.from({ length: n * grid * grid }, (_, i) => (i * 7919) % config.encoder.vocab_size);
const tokens = tensor(ids, [n, grid, grid], { backend, dtype: 'i32' }); // [n, 32, 32]

const encode = async () => {
  const z = model.encode(images); // i32 [n, 32, 32]
  await z.read();
  z.dispose();
};
const decode = async () => {
  const x = await model.decode(tokens); // [n, 3, 256, 256]
  await x.read();
  x.dispose();
};
for (const [name, f] of [
  ['encode', encode],
  ['decode', decode],
] as const) {
  await f(); // compile
  const t0 = performance.now();
  await f();
  const whole = performance.now() - t0;
  const t1 = performance.now();
  await f();
  const pool = args['pool-gib'] ? `pool ${args['pool-gib']} GiB` : 'default pool';
  console.log(
    `\n${name}, batch ${n}, ${backend.name}, ${pool}: whole ${whole.toFixed(1)} ms, again ${(performance.now() - t1).toFixed(1)} ms`,
  );
  await printKernelProfile(backend, f, reps, name);
}
model.dispose();
images.dispose();
tokens.dispose();
backend.dispose();
