import { describeValue } from '../describeValue.js';
import {
  checkParseOptions,
  type ParseSafetensorsOptions,
  parseSafetensorsHeader,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './parseSafetensorsHeader.js';

/**
 * A whole safetensors file in memory: its validated header and a view of its byte buffer.
 *
 * @example
 * ```ts
 * const file: SafetensorsFile = parseSafetensors(bytes);
 * const info = file.tensors[0]!;
 * const raw = file.data.subarray(...info.dataOffsets); // that tensor's little-endian bytes
 * ```
 */
export interface SafetensorsFile extends SafetensorsHeader {
  /** The byte buffer (a view into the given bytes, not a copy); tensor offsets index into it. */
  readonly data: Uint8Array;
  /** Looks a tensor up by name. */
  get(name: string): SafetensorsTensorInfo | undefined;
}

/**
 * Validates a complete safetensors file held in memory and returns its header with a view of its
 * byte buffer; no tensor data is copied or decoded. Throws a {@link SafetensorsError} on any
 * malformation (see {@link parseSafetensorsHeader}).
 *
 * @example
 * ```ts
 * const file = parseSafetensors(await (await fetch(url)).arrayBuffer());
 * const w = file.get('text_projection.weight'); // { dtype: 'F32', shape: [32, 64], dataOffsets: [...] }
 * const { dtype, data } = decodeSafetensorsTensor(file, w!);
 * ```
 */
export function parseSafetensors(
  bytes: ArrayBuffer | ArrayBufferView,
  options: Omit<ParseSafetensorsOptions, 'fileSize'> = {},
): SafetensorsFile {
  if (!(bytes instanceof ArrayBuffer || ArrayBuffer.isView(bytes))) {
    throw new TypeError(
      `parseSafetensors: bytes must be the file's bytes (an ArrayBuffer or a Uint8Array), got ${describeValue(bytes)}`,
    );
  }
  checkParseOptions(options, 'parseSafetensors');
  const u8 = ArrayBuffer.isView(bytes)
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes);
  const header = parseSafetensorsHeader(u8, options);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  return {
    ...header,
    data: u8.subarray(header.dataStart),
    get: (name) => byName.get(name),
  };
}
