import { isNode } from './isNode.js';
import { type NamedTensors, writeSafetensors } from './saveSafetensors.js';
import { nodeIo } from './nodeIo.js';

/**
 * Node: {@link saveSafetensors} to a file, written tensor by tensor (one tensor's values in memory at
 * a time, so files over 4 GiB save). The bytes go to a temporary file that is then renamed over
 * `path`, so an interrupted save never leaves a truncated checkpoint behind.
 *
 * @example
 * ```ts
 * await saveSafetensorsFile('checkpoints/step-1000.safetensors', params, { step: '1000' });
 * ```
 */
export async function saveSafetensorsFile(
  path: string | URL,
  tensors: NamedTensors,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  if (!isNode()) {
    throw new Error(
      'saveSafetensorsFile() needs Node; in a browser, call saveSafetensors() and offer the bytes as a download',
    );
  }
  const { writeFileAtomic, localPath } = nodeIo('saveSafetensorsFile()');
  // Tensor by tensor into the temporary file: never the whole file in memory (a bf16 LLaVA-7B is
  // 14 GB; Node 20 holds at most 4 GiB in one buffer).
  await writeFileAtomic(localPath(path), (write) =>
    writeSafetensors('saveSafetensorsFile', tensors, metadata, write),
  );
}
