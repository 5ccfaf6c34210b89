import { isNode } from './isNode.js';
import { type NamedTensors, saveSafetensors } from './saveSafetensors.js';
import { nodeIo } from './nodeIo.js';

/**
 * Node: {@link saveSafetensors} to a file. The bytes go to a temporary file that is then renamed
 * over `path`, so an interrupted save never leaves a truncated checkpoint behind.
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
  const bytes = await saveSafetensors(tensors, metadata);
  const { writeFileAtomic, localPath } = nodeIo('saveSafetensorsFile()');
  await writeFileAtomic(localPath(path), bytes);
}
