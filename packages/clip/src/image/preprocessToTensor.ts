import { type Backend, type Tensor, tensor } from '@vl/tensor';
import { argumentError } from '../checkArguments.js';
import { type PreprocessOptions, type PreprocessedImages, calledBy, preprocess } from './preprocess.js';
import type { ImageInput } from './toRgbImage.js';

/**
 * {@link preprocess} straight into an f32 tensor `[images, 3, crop, crop]` on a backend, ready for the
 * image tower. Dispose it when done.
 *
 * @example
 * ```ts
 * const backend = await createBackend('auto');
 * const pixelValues = preprocessToTensor([image], backend); // [1, 3, 224, 224]
 * ```
 */
export function preprocessToTensor(
  images: ImageInput | readonly ImageInput[],
  backend: Backend,
  options?: PreprocessOptions,
): Tensor {
  // Checked before any image is resized (tensor() would name itself); the images and options by
  // preprocess, its errors said as this function's.
  if (typeof (backend as { upload?: unknown } | null | undefined)?.upload !== 'function')
    throw argumentError('preprocessToTensor()', 'backend', 'a Backend from createBackend()', backend);
  let pixels: PreprocessedImages;
  try {
    pixels = preprocess(images, options);
  } catch (e) {
    throw calledBy(e, 'preprocessToTensor()');
  }
  return tensor(pixels.pixelValues, pixels.shape, { backend });
}
