// Full-size ViT-B/32 parity with onnxruntime-node: the real HF CLIP towers exported to ONNX (the
// fixture graphs in ./fixtures/vit-b32-onnx, copied from ../shared/peers so a fresh clone needs
// nothing outside the repo) run with exactly the weights our forward functions use, and the
// projected embeddings must agree to 1e-4 relative to their largest magnitude.
//
// Two things about the exported graphs shape how the weights get there:
// - torch folded every `linear` weight's transpose into an anonymous initializer
//   (`onnx::MatMul_<n>`, [in, out]); make-weights.mjs copies by name, so the safetensors file we
//   hand it carries those names too (their order in the manifest is per layer q, k, v, out, fc1,
//   fc2, then the projection, which the graph's node names confirm).
// - torch deduplicated initializers with equal values when exporting HF's init (zero biases, unit
//   LayerNorm gains), so the graph ties every bias of one size to one tensor and every LayerNorm
//   gain to one tensor. Our params get the same ties, but with random values rather than 0 and 1,
//   so the bias and gain paths are exercised too.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Backend,
  type Tensor,
  createBackend,
  randomNormal,
  saveSafetensors,
  tensor,
  tidy,
  transpose,
} from '@vl/tensor';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ClipConfig,
  defaultTextConfig,
  defaultVisionConfig,
  getImageFeatures,
  getTextFeatures,
  initClipParams,
} from '../src/index.js';

const fixtures = fileURLToPath(new URL('./fixtures/vit-b32-onnx/', import.meta.url));
const config: ClipConfig = {
  text_config: defaultTextConfig,
  vision_config: defaultVisionConfig,
  projection_dim: 512,
  logit_scale_init_value: 2.6592,
};
const TOLERANCE = 1e-4;
const BATCH = 2;
// A few seconds with the CPU backend's WASM matmul; the plain-JS fallback (no WebAssembly SIMD) needs
// ~20 s per image on 2 cores, which must not fail the test.
const TIMEOUT = 240_000;

interface ManifestEntry {
  name: string;
  dims: number[];
  data_type: number;
}
type Tower = 'vision_model' | 'text_model';

const LINEARS = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.out_proj',
  'mlp.fc1',
  'mlp.fc2',
];

let backend: Backend;
let params: Map<string, Tensor>;
let work: string;

beforeAll(async () => {
  backend = await createBackend('cpu');
  params = initClipParams(config, { backend, seed: 7 });
  work = mkdtempSync(join(tmpdir(), 'vl-vitb32-'));
}, TIMEOUT);

afterAll(() => {
  for (const t of params?.values() ?? []) t.dispose();
  backend?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * Gives every bias (and every LayerNorm gain) of one tower that the graph ties together one shared
 * random value, and returns the safetensors bytes holding each of the graph's initializers by the
 * name make-weights.mjs looks up.
 */
async function graphWeights(tower: Tower, manifest: ManifestEntry[], seed: number): Promise<Uint8Array> {
  const shared = new Map<string, Tensor>();
  const sharedValue = (kind: 'bias' | 'gain', size: number): Tensor => {
    const key = `${kind}${size}`;
    let t = shared.get(key);
    if (!t) {
      t =
        kind === 'gain'
          ? randomNormal([size], { backend, seed: seed + size + 1, mean: 1, std: 0.1 })
          : randomNormal([size], { backend, seed: seed + size, std: 0.05 });
      shared.set(key, t);
    }
    return t;
  };
  for (const [name, t] of [...params]) {
    if (!name.startsWith(`${tower}.`) || t.rank !== 1) continue;
    const isGain = /layer_?norm|layrnorm/.test(name) && name.endsWith('.weight');
    if (!isGain && !name.endsWith('.bias')) continue;
    t.dispose();
    params.set(name, sharedValue(isGain ? 'gain' : 'bias', t.shape[0]!));
  }

  const layers = config[tower === 'vision_model' ? 'vision_config' : 'text_config'].num_hidden_layers;
  const projection = tower === 'vision_model' ? 'visual_projection.weight' : 'text_projection.weight';
  const anonymous = manifest.filter((e) => e.name.startsWith('onnx::MatMul_'));
  expect(anonymous.length).toBe(layers * LINEARS.length + 1);
  const out = new Map<string, Tensor>();
  anonymous.forEach((entry, i) => {
    const source =
      i === layers * LINEARS.length
        ? projection
        : `${tower}.encoder.layers.${Math.floor(i / LINEARS.length)}.${LINEARS[i % LINEARS.length]}.weight`;
    const w = params.get(source)!; // [out, in]
    expect([...w.shape].reverse(), `${entry.name} <- ${source}`).toEqual(entry.dims);
    out.set(entry.name, transpose(w, [1, 0])); // [in, out]
  });
  for (const entry of manifest) {
    if (!entry.name.startsWith('m.')) continue;
    const name = entry.name.slice(2);
    const t = params.get(name);
    expect(t, name).toBeDefined();
    expect([...t!.shape], name).toEqual(entry.dims);
    out.set(name, t!);
  }
  const bytes = await saveSafetensors(out);
  for (const [name, t] of out) if (name.startsWith('onnx::')) t.dispose();
  return bytes;
}

/** Writes the tower's weights into the fixture graph and opens it with onnxruntime-node. */
async function peerSession(tower: Tower, seed: number): Promise<ort.InferenceSession> {
  const manifest = (
    JSON.parse(readFileSync(`${fixtures}${tower}.manifest.json`, 'utf8')) as { initializers: ManifestEntry[] }
  ).initializers;
  const from = join(work, `${tower}.safetensors`);
  writeFileSync(from, await graphWeights(tower, manifest, seed));
  const log = execFileSync(
    process.execPath,
    [`${fixtures}make-weights.mjs`, tower, '--out', work, '--from', from],
    { encoding: 'utf8' },
  );
  rmSync(from);
  // Initializers that make-weights.mjs does not find by name get random values silently, so a
  // name mismatch would only show as a large error: count them instead.
  const floats = manifest.filter((e) => e.data_type === 1).length;
  expect(log).toMatch(new RegExp(`, ${floats} copied from safetensors`));
  const session = await ort.InferenceSession.create(join(work, `${tower}.onnx`), { intraOpNumThreads: 2 });
  // The projected embeddings (HF `image_embeds` / `text_embeds`) are the graph's `embeds` output.
  expect(session.outputNames).toContain('embeds');
  return session;
}

function relativeError(ours: Float32Array, peer: Float32Array): number {
  expect(ours.length).toBe(peer.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ours.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - peer[i]!));
    scale = Math.max(scale, Math.abs(peer[i]!));
  }
  expect(scale).toBeGreaterThan(0);
  return diff / scale;
}

describe('ViT-B/32 at full size agrees with onnxruntime-node on the same weights', () => {
  test(
    'image tower: getImageFeatures vs the HF graph',
    async () => {
      const session = await peerSession('vision_model', 101);
      try {
        const { image_size: S, num_channels: C } = config.vision_config;
        const pixels = randomNormal([BATCH, C, S, S], { backend, seed: 3 }); // normalized [B, 3, H, W]
        const pixelData = (await pixels.read()) as Float32Array;
        const result = await session.run({
          pixel_values: new ort.Tensor('float32', pixelData, [BATCH, C, S, S]),
        });
        const peer = result.embeds!.data as Float32Array; // [B, 512]
        const features = tidy(() => getImageFeatures(params, pixels, config)); // [B, 512]
        const ours = (await features.read()) as Float32Array;
        features.dispose();
        pixels.dispose();
        const err = relativeError(ours, peer);
        console.log(`ViT-B/32 image embeds, batch ${BATCH}: max relative error ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(TOLERANCE);
      } finally {
        await session.release();
      }
    },
    TIMEOUT,
  );

  test(
    'text tower: getTextFeatures vs the HF graph',
    async () => {
      const session = await peerSession('text_model', 202);
      try {
        const T = config.text_config.max_position_embeddings;
        const { bos_token_id: bos, eos_token_id: eos, pad_token_id: pad } = config.text_config;
        // Rows of different lengths, padded after the end token: the graph has no mask input and
        // pools at the first end token, which causal attention keeps clear of the padding.
        const lengths = [9, T];
        const ids = new Int32Array(BATCH * T);
        const mask = new Int32Array(BATCH * T);
        let state = 12345;
        for (let b = 0; b < BATCH; b++) {
          const n = lengths[b]!;
          for (let t = 0; t < T; t++) {
            state = (state * 1103515245 + 12345) >>> 0;
            const token = t === 0 ? bos : t === n - 1 ? eos : t < n ? state % (bos - 1) : pad;
            ids[b * T + t] = token;
            mask[b * T + t] = t < n ? 1 : 0;
          }
        }
        const result = await session.run({
          input_ids: new ort.Tensor(
            'int64',
            BigInt64Array.from(ids, (v) => BigInt(v)),
            [BATCH, T],
          ),
        });
        const peer = result.embeds!.data as Float32Array; // [B, 512]
        const features = tidy(() =>
          getTextFeatures(
            params,
            tensor(ids, [BATCH, T], { backend }),
            tensor(mask, [BATCH, T], { backend }),
            config,
          ),
        ); // [B, 512]
        const ours = (await features.read()) as Float32Array;
        features.dispose();
        const err = relativeError(ours, peer);
        console.log(
          `ViT-B/32 text embeds, batch ${BATCH} x ${T} tokens: max relative error ${err.toExponential(2)}`,
        );
        expect(err).toBeLessThanOrEqual(TOLERANCE);
      } finally {
        await session.release();
      }
    },
    TIMEOUT,
  );
});
