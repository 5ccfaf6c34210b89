import { type Backend, type Tensor, tensor } from '@vl/tensor';
import { type PreprocessOptions, preprocess } from './preprocess.js';
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
  const { pixelValues, shape } = preprocess(images, options);
  return tensor(pixelValues, shape, { backend });
}
