// Writes sample images for eyeballing: a grid PNG per size, each sample's PNG, and a text file with
// every caption and question. Usage: node --conditions=source --import tsx scripts/preview.mts [count]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng, heldOutShapes, type ShapesImage } from '@vl/shapes';

const count = Number(process.argv[2] ?? 16);
const out = join(import.meta.dirname, '..', 'scratch', 'preview');
mkdirSync(out, { recursive: true });

function grid(images: readonly ShapesImage[], columns: number, scale: number): ShapesImage {
  const { width, height } = images[0]!;
  const rows = Math.ceil(images.length / columns);
  const pad = 2;
  const W = columns * (width * scale + pad) + pad;
  const H = rows * (height * scale + pad) + pad;
  const data = new Uint8ClampedArray(W * H * 4).fill(255);
  images.forEach((image, k) => {
    const ox = pad + (k % columns) * (width * scale + pad);
    const oy = pad + Math.floor(k / columns) * (height * scale + pad);
    for (let y = 0; y < height * scale; y++) {
      for (let x = 0; x < width * scale; x++) {
        const from = (Math.floor(y / scale) * width + Math.floor(x / scale)) * 4;
        const to = ((oy + y) * W + ox + x) * 4;
        data.set(image.data.subarray(from, from + 4), to);
      }
    }
  });
  return { data, width: W, height: H };
}

for (const size of [32, 64, 224]) {
  const samples = heldOutShapes(count, { size });
  const scale = size === 32 ? 4 : size === 64 ? 2 : 1;
  writeFileSync(
    join(out, `grid-${size}.png`),
    encodePng(
      grid(
        samples.map((s) => s.image),
        4,
        scale,
      ),
    ),
  );
  const lines: string[] = [];
  samples.forEach((s, i) => {
    writeFileSync(join(out, `${size}-${i}.png`), encodePng(s.image));
    lines.push(`#${i} seed ${s.seed} (${s.scene.layout}, ${s.scene.background.pattern})`);
    lines.push(`  caption: ${s.caption}`);
    for (const c of s.captions) lines.push(`    - ${c}`);
    for (const q of s.questions) lines.push(`  ${q.kind}: ${q.question} -> ${q.answer}`);
  });
  writeFileSync(join(out, `captions-${size}.txt`), `${lines.join('\n')}\n`);
}
console.log(`wrote ${out}`);
