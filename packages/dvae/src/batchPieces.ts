// Large batches in pieces: a WebGPU kernel binds each tensor whole, and a device caps one binding
// (maxStorageBufferBindingSize: 2 GiB - 4 on an NVIDIA H200), which the full-size decoder reaches at
// batch 16 (its last group reads [16, 512, 256, 256] f32, 2 GiB). Splitting the batch keeps every
// activation under the cap; the pieces' outputs are concatenated, so callers see one tensor.
import { type Backend, concat, slice, type Tensor, tidy } from '@vl/tensor';
import type { DvaeDecoderConfig, DvaeEncoderConfig } from './config.js';

const F32 = 4;

/** Bytes of the encoder's largest f32 activation for one [3, H, W] image: group 1 at full size. */
export function encoderBytesPerImage(c: DvaeEncoderConfig, height: number, width: number): number {
  const grid = (height * width) / 4 ** (c.group_count - 1);
  return F32 * Math.max(c.n_hid * height * width, c.vocab_size * grid); // vs the [V, h, w] logits
}

/** Bytes of the decoder's largest f32 activation for one [h, w] token grid. */
export function decoderBytesPerImage(c: DvaeDecoderConfig, height: number, width: number): number {
  const pixels = height * width * 4 ** (c.group_count - 1);
  // The one-hot input [V, h, w]; the last group's input, 2 * n_hid channels upsampled to full size.
  return F32 * Math.max(c.vocab_size * height * width, 2 * c.n_hid * pixels);
}

/** `[start, count]` pieces of a batch, even in size, each under the backend's maxTensorBytes. */
export function batchPieces(batch: number, bytesPerItem: number, backend: Backend): [number, number][] {
  const limit = backend.maxTensorBytes;
  if (limit === undefined || batch <= 1 || batch * bytesPerItem <= limit) return [[0, batch]];
  const count = Math.min(batch, Math.ceil((batch * bytesPerItem) / limit));
  const size = Math.ceil(batch / count);
  const pieces: [number, number][] = [];
  for (let start = 0; start < batch; start += size) pieces.push([start, Math.min(size, batch - start)]);
  return pieces;
}

/**
 * `fn` over pieces of `x` along its first axis (see {@link batchPieces}), outputs concatenated along
 * the first axis; one call on `x` itself when it fits.
 */
export function mapBatch(x: Tensor, bytesPerItem: number, fn: (piece: Tensor) => Tensor): Tensor {
  const pieces = batchPieces(x.shape[0]!, bytesPerItem, x.backend);
  if (pieces.length === 1) return fn(x);
  const rest = x.shape.slice(1);
  return tidy(() =>
    concat(
      pieces.map(([start, n]) => fn(slice(x, [start, ...rest.map(() => 0)], [n, ...rest]))),
      0,
    ),
  );
}
