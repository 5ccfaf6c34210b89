// A toy CLIP checkpoint folder for VLM tests: one `trainClip` step on the shapes world, so it has the
// shapes config's convolutional stem tower at a small image size.
import type { Backend } from '@vl/tensor';
import type { CliIo } from '../src/io.js';
import { shapesCaptionData } from '../src/train/captionData.js';
import { trainClip } from '../src/train/trainClip.js';

/** Writes the toy CLIP (seed 0, one step of batch 2) to `out`. */
export async function writeToyClip(out: string, backend: Backend, io: CliIo, imageSize = 32): Promise<void> {
  const data = shapesCaptionData(0, imageSize);
  const args = { data, out, steps: 1, batchSize: 2, lr: 1e-3, seed: 0, imageSize, backend, io };
  (await trainClip(args)).dispose();
}
