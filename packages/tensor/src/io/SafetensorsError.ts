/**
 * Thrown when bytes are not a valid safetensors file or index (a bad header, an unknown dtype,
 * offsets that do not tile the byte buffer, a truncated file), or hold a value our dtypes cannot
 * (an I64 beyond the i32 range). The message names the tensor and the numbers involved. Network,
 * file-system and abort errors are not SafetensorsErrors.
 *
 * @example
 * ```ts
 * try {
 *   parseSafetensors(bytes);
 * } catch (e) {
 *   if (e instanceof SafetensorsError) console.error('not a usable checkpoint:', e.message);
 *   else throw e;
 * }
 * ```
 */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
}
