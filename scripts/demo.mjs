#!/usr/bin/env node
// `npm run demo`: until the shapes-world models land (issue 7), a tour of what works today, on
// this machine: backend selection, the real CLIP tokenizer and Pillow-exact preprocessing of real
// photos, the CLIP model checked against transformers' outputs, and the CPU matmul kernels.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tensorPkg = await import(join(root, 'packages/tensor/dist/index.node.js'));
const clipPkg = await import(join(root, 'packages/clip/dist/index.node.js'));
const { createBackend, loadSafetensors, matmul, tensor, tidy } = tensorPkg;
const { ClipTokenizer, loadClip, loadImage, preprocess } = clipPkg;

const backend = await createBackend('auto');
console.log(
  `backend: ${backend.name}` +
    (backend.kind === 'webgpu' ? ' (WebGPU adapter found)' : ' (no WebGPU adapter found: using the CPU)'),
);

// 1. The real CLIP tokenizer (openai/CLIP's BPE vocabulary ships with @vl/clip).
const tokenizer = await ClipTokenizer.load();
const prompt = 'a photo of a tabby cat sitting on a sofa';
const ids = tokenizer.encode(prompt);
console.log(`\ntokenizer: "${prompt}" -> [${ids.join(', ')}] -> "${tokenizer.decode(ids)}"`);

// 2. Real photos, resized and cropped exactly as Pillow does for CLIP.
const photos = ['chelsea.png', 'rocket.jpg'].map((f) => join(root, 'packages/clip/test/fixtures/images', f));
for (const path of photos) {
  const image = await loadImage(path);
  const { shape, pixelValues } = preprocess([image]);
  const mean = pixelValues.reduce((a, b) => a + b, 0) / pixelValues.length;
  console.log(
    `image: ${path.split('/').pop()} ${image.width}x${image.height} -> [${shape.join(', ')}], mean ${mean.toFixed(3)}`,
  );
}

// 3. CLIP (HF checkpoint layout) against the outputs transformers produced for the same weights.
const fixture = join(root, 'packages/clip/test/fixtures/clip-tiny');
const clip = await loadClip(fixture, { backend });
const { tensors: ref } = await loadSafetensors(join(fixture, 'reference.safetensors'), { backend });
const t0 = performance.now();
const embeds = await clip.embedImages(ref.get('pixel_values'));
const want = await ref.get('image_embeds').read();
let worst = 0;
for (const [i, row] of embeds.entries()) {
  for (const [j, v] of row.entries()) worst = Math.max(worst, Math.abs(v - want[i * row.length + j]));
}
console.log(
  `\nclip-tiny (random weights, real architecture): ${embeds.length} image embeddings in ${(performance.now() - t0).toFixed(0)} ms ` +
    `on ${backend.kind}, max |diff| vs transformers ${worst.toExponential(2)}`,
);
for (const t of ref.values()) t.dispose();
clip.dispose();

// 4. The CPU matmul: WASM SIMD on worker threads against the TypeScript reference.
const fast = await createBackend('cpu');
const plain = await createBackend('cpu', { cpu: { wasm: false } });
const n = 384;
const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
for (const b of [plain, fast]) {
  const x = tensor(a, [n, n], { backend: b });
  const start = performance.now();
  const y = tidy(() => matmul(x, x));
  await y.read();
  const ms = performance.now() - start;
  console.log(
    `matmul ${n}^3 on ${b.name}: ${ms.toFixed(1)} ms (${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s)`,
  );
  x.dispose();
  y.dispose();
  b.dispose();
}
backend.dispose();
console.log(`\nMore: README.md (packages), packages/*/bench (benchmarks against their peers).`);
