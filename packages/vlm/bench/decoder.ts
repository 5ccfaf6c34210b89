// Prefill and decode speed of a Llama-shaped decoder of about 0.5B parameters (Qwen2.5-0.5B's shape:
// 24 layers, hidden 896, 14 query / 2 kv heads of 64, SwiGLU 4864, vocabulary 151,936, tied
// embeddings: 494M parameters) with random weights, through @vl/vlm's llamaForward and KV cache,
// on vl's CPU backend and, side by side in the same process, on the peer: the same decoder steps
// through @vl/tensor's tfjs backend on @tensorflow/tfjs-backend-wasm. WebGPU on request: it needs an
// adapter whose maxStorageBufferBindingSize holds the 545 MB embedding table (GPUs do; SwiftShader's
// 128 MiB does not, so on a machine without a GPU only the CPU peers run).
//
//   cd packages/vlm && node --conditions=source --import tsx bench/decoder.ts [options]
//
//   --weights=f32|int8|q4   weight storage of the linear layers (int8/q4 need @vl/tensor's quantizeWeight)
//   --backends=cpu,tfjs-wasm[,webgpu][,webgpu-nosplit]   (webgpu-nosplit: the matmul without split-K)
//   --prompt=N              prefill tokens (default 32)
//   --decode=N              decode tokens timed (default 4)
//   --layers=N              fewer layers for a quick look (default 24)
//   --vocab=N               a smaller vocabulary (default 151936; 32000 fits SwiftShader's 128 MiB)
//   --out=FILE              where the JSON goes (default: see below)
//
// Prints a table (prefill tokens/s, decode tokens/s, peak RSS and heap, ratios to tfjs-wasm) and
// writes bench/results/decoder-<weights>.json (decoder-<weights>-<n>layers.json with --layers). The same seeded weights and prompt run on every
// backend, and the greedy tokens are compared, so the peers compute the same thing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as vt from '@vl/tensor';
import {
  type Backend,
  type Tensor,
  createBackend,
  createKvCache,
  embedding,
  keep,
  reshape,
  sample,
  setMatmulWebGpuConfig,
  tensor,
  tidy,
} from '@vl/tensor';
import { type LlamaConfig, llamaForward, llamaShapes, parseLlamaConfig } from '../src/index.js';

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const weightsKind = arg('weights', 'f32');
const backends = arg('backends', 'cpu,tfjs-wasm').split(',');
const promptTokens = Number(arg('prompt', '32'));
const decodeTokens = Number(arg('decode', '4'));
const layers = Number(arg('layers', '24'));
const vocab = Number(arg('vocab', '151936'));
const outFile = arg('out', '');

if (!['f32', 'int8', 'q4'].includes(weightsKind))
  throw new Error(`--weights must be f32, int8 or q4, got ${weightsKind}`);
type Quantize = (x: Tensor, options: { dtype: 'q8' | 'q4' }) => Tensor;
const quantizeWeight = (vt as unknown as { quantizeWeight?: Quantize }).quantizeWeight;
if (weightsKind !== 'f32' && !quantizeWeight) {
  console.log(`--weights=${weightsKind}: pending (this @vl/tensor has no quantizeWeight yet)`);
  process.exit(0);
}

const config: LlamaConfig = parseLlamaConfig({
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: layers,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: vocab,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
});
// Quantized runs keep the embedding table in f32 for the lookup and read a quantized copy as the head.
const shapes = llamaShapes(weightsKind === 'f32' ? config : { ...config, tie_word_embeddings: false });
const paramCount = [...llamaShapes(config).values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);

/** Seeded values in [-0.05, 0.05) (xorshift), the same on every backend. */
function randomValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 0.1;
  }
  return out;
}

function makeParams(backend: Backend): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  let seed = 1;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNorm = name.endsWith('norm.weight');
    const source = name.endsWith('lm_head.weight') ? 'language_model.model.embed_tokens.weight' : name;
    const values = isNorm ? new Float32Array(n).fill(1) : randomValues(n, source === name ? seed++ : 1);
    let t = keep(tensor(values, shape, { backend }));
    if (weightsKind !== 'f32' && shape.length === 2 && !name.includes('embed_tokens')) {
      const q = keep(quantizeWeight!(t, { dtype: weightsKind === 'int8' ? 'q8' : 'q4' }));
      t.dispose();
      t = q;
    }
    params.set(name, t);
  }
  return params;
}

let peakRss = 0;
let peakHeap = 0;
function sampleMemory(): void {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}

interface Result {
  backend: string;
  prefillTokensPerSecond: number;
  prefillMs: number;
  decodeTokensPerSecond: number;
  decodeMsPerToken: number;
  peakRssMiB: number;
  peakHeapMiB: number;
  tokens: number[];
}

async function run(name: string, backend: Backend): Promise<Result> {
  peakRss = 0;
  peakHeap = 0;
  const params = makeParams(backend);
  sampleMemory();
  const c = weightsKind === 'f32' ? config : { ...config, tie_word_embeddings: false };
  const table = params.get('language_model.model.embed_tokens.weight')!;
  const prompt = Int32Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 11) % config.vocab_size);
  const once = async (timed: boolean) => {
    const cache = createKvCache({
      backend,
      layers: c.num_hidden_layers,
      batch: 1,
      kvHeads: c.num_key_value_heads,
      maxLength: promptTokens + decodeTokens,
      headDim: c.head_dim,
    });
    const tokens: number[] = [];
    const step = async (ids: Int32Array, lastOnly: boolean) => {
      const next = tidy(() => {
        const embeds = embedding(table, tensor(ids, [1, ids.length], { backend, dtype: 'i32' })); // [1, T, C]
        const logits = llamaForward(params, embeds, c, { cache, lastOnly }); // [1, 1, V]
        return sample(reshape(logits, [1, c.vocab_size]), { temperature: 0 }); // i32 [1]
      });
      const id = ((await next.read()) as Int32Array)[0]!;
      next.dispose();
      sampleMemory();
      return id;
    };
    let t0 = performance.now();
    tokens.push(await step(prompt, true));
    const prefillMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 1; i < (timed ? decodeTokens + 1 : 2); i++)
      tokens.push(await step(Int32Array.of(tokens.at(-1)!), false));
    const decodeMs = (performance.now() - t0) / (timed ? decodeTokens : 1);
    cache.dispose();
    return { prefillMs, decodeMs, tokens };
  };
  await once(false); // warm-up: pipelines, buffer pools, WASM modules
  const { prefillMs, decodeMs, tokens } = await once(true);
  for (const t of params.values()) t.dispose();
  return {
    backend: name,
    prefillMs,
    prefillTokensPerSecond: promptTokens / (prefillMs / 1000),
    decodeMsPerToken: decodeMs,
    decodeTokensPerSecond: 1000 / decodeMs,
    peakRssMiB: peakRss / 2 ** 20,
    peakHeapMiB: peakHeap / 2 ** 20,
    tokens,
  };
}

async function backendFor(name: string): Promise<Backend> {
  if (name === 'tfjs-wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(
      `${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`,
    );
    return createBackend('tfjs', { tfjs: { tf: tf as never, tfBackend: 'wasm' } });
  }
  if (name === 'webgpu-nosplit') {
    // The WebGPU matmul without split-K (an A/B of that choice in one process).
    const gpu = await createBackend('webgpu');
    setMatmulWebGpuConfig(gpu, { splitK: { minK: 2 ** 30 } });
    return gpu;
  }
  return createBackend(name as 'cpu' | 'webgpu');
}

const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}`;
console.log(
  `${machine}\nLlama-shaped decoder: ${(paramCount / 1e6).toFixed(0)}M parameters, ${layers} layers, ${weightsKind} weights; prefill ${promptTokens} tokens, decode ${decodeTokens} tokens\n`,
);
const results: Result[] = [];
for (const name of backends) {
  const backend = await backendFor(name);
  try {
    const r = await run(name, backend);
    results.push(r);
    console.log(
      `${name.padEnd(10)} prefill ${r.prefillTokensPerSecond.toFixed(1).padStart(7)} tok/s (${r.prefillMs.toFixed(0)} ms)  decode ${r.decodeTokensPerSecond.toFixed(2).padStart(6)} tok/s (${r.decodeMsPerToken.toFixed(0)} ms/token)  peak RSS ${r.peakRssMiB.toFixed(0)} MiB, heap ${r.peakHeapMiB.toFixed(0)} MiB  tokens ${r.tokens.join(' ')}`,
    );
  } finally {
    backend.dispose();
  }
}
const peer = results.find((r) => r.backend === 'tfjs-wasm');
if (peer) {
  console.log('\nratios to tfjs-wasm (higher is faster):');
  for (const r of results) {
    if (r === peer) continue;
    console.log(
      `${r.backend.padEnd(10)} prefill x${(r.prefillTokensPerSecond / peer.prefillTokensPerSecond).toFixed(2)}  decode x${(r.decodeTokensPerSecond / peer.decodeTokensPerSecond).toFixed(2)}  same greedy tokens: ${r.tokens.join() === peer.tokens.join()}`,
    );
  }
}
const out = outFile
  ? path.resolve(outFile)
  : path.join(
      fileURLToPath(new URL('./results/', import.meta.url)),
      `decoder-${weightsKind}${layers === 24 ? '' : `-${layers}layers`}${vocab === 151936 ? '' : `-vocab${vocab}`}.json`,
    );
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ machine, date: new Date().toISOString(), weights: weightsKind, params: paramCount, layers, vocab, promptTokens, decodeTokens, loadavg: os.loadavg(), results }, null, 2)}\n`,
);
