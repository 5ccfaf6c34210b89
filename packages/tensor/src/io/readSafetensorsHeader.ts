import type { ByteSource } from './ByteSource.js';
import {
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  type SafetensorsHeader,
} from './parseSafetensorsHeader.js';

/**
 * Reads and validates the header of a safetensors file without reading its tensors: the 8-byte
 * length, then the JSON it announces (see {@link parseSafetensorsHeader}; `name` goes into errors).
 */
export async function readSafetensorsHeader(source: ByteSource, name: string): Promise<SafetensorsHeader> {
  const options = { fileSize: source.size, source: name };
  const lead = await source.read(0, Math.min(8, source.size));
  if (lead.byteLength < 8) return parseSafetensorsHeader(lead, options); // throws: too short
  const length = new DataView(lead.buffer, lead.byteOffset, 8).getBigUint64(0, true);
  // A length past the limit or the end of the file: the 8 bytes are enough for the error.
  if (length > BigInt(MAX_HEADER_BYTES) || 8 + Number(length) > source.size)
    return parseSafetensorsHeader(lead, options);
  return parseSafetensorsHeader(await source.read(0, 8 + Number(length)), options);
}
