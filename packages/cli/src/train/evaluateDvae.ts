import type { DvaeModel } from '@vl/dvae';
import { heldOutShapes } from '@vl/shapes';
import { imagesToTensor, psnr, tensorToRgbImages } from '../pixels.js';

/** Reconstruction quality of a dVAE on the shapes world's held-out images. */
export interface DvaeShapesQuality {
  /** Mean over images of each image's PSNR in dB (8-bit pixels, as a PNG would hold them). */
  psnr: number;
  /** The worst image's PSNR. */
  minPsnr: number;
  /** Distinct codes used over all the images' token grids. */
  codesUsed: number;
  n: number;
}

/** Encodes and decodes `n` held-out images and measures the reconstructions against them. */
export async function evaluateDvaeOnShapes(
  model: DvaeModel,
  { n = 64, size = 64 } = {},
): Promise<DvaeShapesQuality> {
  const samples = heldOutShapes(n, { size });
  const psnrs: number[] = [];
  const codes = new Set<number>();
  for (let i = 0; i < samples.length; i += 16) {
    const chunk = samples.slice(i, i + 16);
    const x = imagesToTensor(
      chunk.map((s) => s.image),
      model.backend,
    ); // [b, 3, S, S]
    const tokens = model.encode(x); // [b, h, w]
    const y = await model.decode(tokens); // [b, 3, S, S]
    for (const t of await tokens.read()) codes.add(t);
    const decoded = await tensorToRgbImages(y);
    for (const t of [x, tokens, y]) t.dispose();
    chunk.forEach((s, b) => {
      const p = psnr(s.image, decoded[b]!);
      psnrs.push(Number.isFinite(p) ? p : 99);
    });
  }
  return {
    psnr: psnrs.reduce((a, b) => a + b, 0) / psnrs.length,
    minPsnr: Math.min(...psnrs),
    codesUsed: codes.size,
    n: samples.length,
  };
}
