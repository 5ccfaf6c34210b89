// Leak test: many iterations of a small transformer block forward and of a training step
// (valueAndGrad + clipGradNorm + AdamW) on every backend; after a warm-up, live tensors, live
// buffers and pooled bytes must not move, and WebGPU compiles no new pipelines. Iterations:
// VL_LEAK_ITERATIONS, or 1,000 on cpu, 20 on webgpu and 250 on tfjs-cpu: on 2 shared cores a
// training step takes ~0.2-1 s on lavapipe (the first one ~50 s of shader compiles under load)
// and ~40 ms on tfjs-cpu, so 1,000 of them would take minutes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AdamW,
  type Backend,
  type BackendStats,
  type Tensor,
  add,
  attention,
  clipGradNorm,
  gelu,
  isBiasOrNorm,
  layerNorm,
  linear,
  matmul,
  mean,
  reshape,
  scale,
  slice,
  softmax,
  square,
  sub,
  sumToShape,
  tensor,
  tidy,
  transpose,
  valueAndGrad,
} from '../src/index.node.js';
import { type NamedBackend, kernelBackends } from './util/backends.js';
import { randomArray, rng } from './util/random.js';

const [B, T, C, H] = [2, 5, 12, 3];
const D = C / H;
const WARMUP = 3;

/** Iterations per backend: 1,000 on cpu; webgpu (lavapipe) and tfjs-cpu run fewer unless told. */
function iterations(label: string): number {
  const env = Number(process.env.VL_LEAK_ITERATIONS);
  if (env > 0) return env;
  return label === 'cpu' ? 1000 : label === 'webgpu' ? 20 : 250;
}

type Params = Record<string, Tensor>;

function makeParams(backend: Backend, seed: number): Params {
  const next = rng(seed);
  const p = (shape: number[], range: [number, number] = [-0.2, 0.2]) =>
    tensor(
      randomArray(
        shape.reduce((a, b) => a * b, 1),
        'f32',
        next,
        range,
      ),
      shape,
      { backend },
    );
  return {
    'ln_1.weight': p([C], [0.9, 1.1]),
    'ln_1.bias': p([C]),
    'attn.c_attn.weight': p([3 * C, C]),
    'attn.c_attn.bias': p([3 * C]),
    'attn.c_proj.weight': p([C, C]),
    'attn.c_proj.bias': p([C]),
    'ln_2.weight': p([C], [0.9, 1.1]),
    'ln_2.bias': p([C]),
    'mlp.c_fc.weight': p([4 * C, C]),
    'mlp.c_fc.bias': p([4 * C]),
    'mlp.c_proj.weight': p([C, 4 * C]),
    'mlp.c_proj.bias': p([C]),
  };
}

/**
 * A pre-norm GPT block. `fused` uses the attention kernel; otherwise softmax(q kᵀ / sqrt(D) + mask) v
 * written out (the path training differentiates through here).
 */
function block(params: Params, x: Tensor, causalMask: Tensor, fused: boolean): Tensor {
  const w = (name: string) => params[name]!;
  const h = layerNorm(x, w('ln_1.weight'), w('ln_1.bias'), 1e-5); // [B, T, C]
  const qkv = transpose(
    reshape(linear(h, w('attn.c_attn.weight'), w('attn.c_attn.bias')), [B, T, 3, H, D]),
    [2, 0, 3, 1, 4],
  ); // [3, B, H, T, D]
  const [q, k, v] = [0, 1, 2].map((i) =>
    reshape(slice(qkv, [i, 0, 0, 0, 0], [1, -1, -1, -1, -1]), [B, H, T, D]),
  ) as [Tensor, Tensor, Tensor];
  let a: Tensor; // [B, H, T, D]
  if (fused) a = attention(q, k, v, { causal: true });
  else {
    const scores = add(scale(matmul(q, k, { transposeB: true }), 1 / Math.sqrt(D)), causalMask); // [B, H, T, T]
    a = matmul(softmax(scores, -1), v);
  }
  const merged = reshape(transpose(a, [0, 2, 1, 3]), [B, T, C]); // [B, T, C]
  const x1 = add(x, linear(merged, w('attn.c_proj.weight'), w('attn.c_proj.bias'))); // [B, T, C]
  const h2 = layerNorm(x1, w('ln_2.weight'), w('ln_2.bias'), 1e-5);
  const m = linear(
    gelu(linear(h2, w('mlp.c_fc.weight'), w('mlp.c_fc.bias'))),
    w('mlp.c_proj.weight'),
    w('mlp.c_proj.bias'),
  ); // [B, T, C]
  return add(x1, m);
}

function causal(backend: Backend): Tensor {
  const data = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) data[i * T + j] = -1e9;
  return tensor(data, [T, T], { backend });
}

/** The distinct pipeline keys a WebGPU backend is asked for from now on (none elsewhere). */
function countPipelines(backend: Backend): Set<string> {
  const keys = new Set<string>();
  const gpu = backend as Backend & { pipeline?: (key: string, code: () => string) => unknown };
  const original = gpu.pipeline?.bind(backend);
  if (original) {
    gpu.pipeline = (key, code) => {
      keys.add(key);
      return original(key, code);
    };
  }
  return keys;
}

const flat = (s: BackendStats) => ({
  liveTensors: s.liveTensors,
  liveBuffers: s.liveBuffers,
  liveBytes: s.liveBytes,
  pooledBytes: s.pooledBytes,
  otherBytes: s.otherBytes, // WebGPU: read staging and uniform chunks
});

let backends: NamedBackend[];
let dispose: () => void;
beforeAll(async () => {
  const all = await kernelBackends();
  all.reference.dispose();
  backends = all.others;
  dispose = all.dispose;
});
afterAll(() => dispose());

describe('leak test: transformer block forward and training step', () => {
  for (const label of ['cpu', 'webgpu', 'tfjs-cpu']) {
    test(`${label}: stats stay flat`, { timeout: 300_000 }, async () => {
      const found = backends.find((b) => b.label === label);
      if (!found) return; // kernelBackends warned loudly (or failed, when VL_REQUIRE_WEBGPU is set)
      const { backend } = found;
      const n = iterations(label);
      const next = rng(7);
      const x = tensor(randomArray(B * T * C, 'f32', next), [B, T, C], { backend });
      const target = tensor(randomArray(B * T * C, 'f32', next), [B, T, C], { backend });
      const mask = causal(backend);
      const params = makeParams(backend, 11);
      const opt = new AdamW({
        lr: 1e-3,
        weightDecay: 0.1,
        groups: [{ match: isBiasOrNorm, weightDecay: 0 }],
      });

      const forward = async () => {
        const y = tidy(() => block(params, x, mask, true));
        await y.read();
        y.dispose();
      };
      const trainStep = async () => {
        const loss = tidy(() => {
          const { value, grads } = valueAndGrad(
            () => mean(square(sub(block(params, x, mask, false), target))),
            params,
          );
          clipGradNorm(grads, 1);
          opt.step(params, grads);
          return value;
        });
        const v = await loss.item();
        loss.dispose();
        return v;
      };

      const compiled = countPipelines(backend);
      for (let i = 0; i < WARMUP; i++) {
        const t0 = performance.now();
        await forward();
        const t1 = performance.now();
        await trainStep();
        if (process.env.VL_LEAK_TIMING) {
          console.log(
            `${label} warm-up ${i}: forward ${(t1 - t0).toFixed(0)} ms, step ${(performance.now() - t1).toFixed(0)} ms`,
          );
        }
      }
      const pipelines = compiled.size;
      const before = flat(backend.stats());
      let first = Number.NaN;
      let last = Number.NaN;
      for (let i = 0; i < n; i++) {
        await forward();
        last = await trainStep();
        if (i === 0) first = last;
      }
      const after = flat(backend.stats());
      expect(after, `${label} after ${n} iterations`).toEqual(before);
      expect(compiled.size, `${label}: pipelines compiled after the warm-up`).toBe(pipelines);
      // The steps train: the loss goes down.
      expect(last).toBeLessThan(first);
      opt.dispose();
      for (const t of [x, target, mask, ...Object.values(params)]) t.dispose();
      expect(backend.stats().liveTensors, `${label}: everything freed`).toBe(0);
    });
  }
});

describe('ops called outside a tidy leave only their result', () => {
  for (const label of ['cpu', 'webgpu', 'tfjs-cpu', 'tfjs-wasm']) {
    test(`${label}: sumToShape`, async () => {
      const found = backends.find((b) => b.label === label);
      if (!found) return;
      const { backend } = found;
      const dy = tensor(randomArray(2 * 3 * 4, 'f32', rng(3)), [2, 3, 4], { backend });
      const before = backend.stats().liveTensors;
      const bias = sumToShape(dy, [1, 4]); // sums axes 0 and 1
      expect(backend.stats().liveTensors, `${label}: live tensors after sumToShape`).toBe(before + 1);
      bias.dispose();
      dy.dispose();
    });
  }
});
