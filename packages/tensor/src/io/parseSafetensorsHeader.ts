import { describeValue } from '../describeValue.js';
import { duplicateKey } from './duplicateKey.js';
import { SafetensorsError } from './SafetensorsError.js';
import { isSafetensorsDType, SAFETENSORS_DTYPE_BYTES, type SafetensorsDType } from './safetensorsDType.js';
import { setOwn } from './setOwn.js';

/**
 * One tensor as the header describes it.
 *
 * @example
 * ```ts
 * const info: SafetensorsTensorInfo = { name: 'w', dtype: 'F32', shape: [2, 3], dataOffsets: [0, 24] };
 * ```
 */
export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** `[begin, end)` in bytes, relative to the start of the byte buffer (not of the file). */
  readonly dataOffsets: readonly [number, number];
}

/**
 * A validated safetensors header.
 *
 * @example
 * ```ts
 * const header: SafetensorsHeader = parseSafetensorsHeader(bytes);
 * console.log(header.tensors.map((t) => t.name), header.metadata.format);
 * ```
 */
export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes (padding included), stored in the file's first 8 bytes. */
  readonly headerLength: number;
  /** Where the byte buffer starts in the file: `8 + headerLength`. */
  readonly dataStart: number;
  /** The byte buffer's length: every tensor's bytes, end to end. */
  readonly dataLength: number;
  /** In byte-buffer order (ascending offsets), which is not necessarily the header's key order. */
  readonly tensors: readonly SafetensorsTensorInfo[];
  /** The `__metadata__` map (empty when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Options for {@link parseSafetensorsHeader} and {@link parseSafetensors}.
 *
 * @example
 * ```ts
 * parseSafetensorsHeader(first64k, { fileSize: 548_000_000, source: 'model.safetensors' });
 * ```
 */
export interface ParseSafetensorsOptions {
  /**
   * The whole file's size when `bytes` holds only its beginning (at least the header), so the
   * header can be checked before the rest arrives. Defaults to `bytes.byteLength`.
   */
  fileSize?: number;
  /** Names the file (a URL or a path) in error messages. */
  source?: string;
}

/** The reference implementation refuses larger headers; so do we, which also catches non-safetensors files early. */
export const MAX_HEADER_BYTES = 100_000_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** @internal Throws a TypeError naming `op` unless `options` are {@link ParseSafetensorsOptions}. */
export function checkParseOptions(options: unknown, op: string): asserts options is ParseSafetensorsOptions {
  if (!isObject(options))
    throw new TypeError(`${op}: options must be an object, got ${describeValue(options)}`);
  const { fileSize, source } = options;
  if (fileSize !== undefined && !isCount(fileSize)) {
    throw new TypeError(
      `${op}: options.fileSize must be the file's size in bytes (an integer >= 0), got ${describeValue(fileSize)}`,
    );
  }
  if (source !== undefined && typeof source !== 'string')
    throw new TypeError(
      `${op}: options.source must be a string naming the file, got ${describeValue(source)}`,
    );
}

/**
 * Reads and validates a safetensors header: the 8-byte little-endian length, the JSON (no key
 * twice in one object), every tensor's dtype, shape and offsets, and that the tensors tile the byte buffer exactly (no
 * overlaps, no holes, nothing missing at the end). Throws a {@link SafetensorsError} that names
 * the problem, the tensor and the numbers.
 *
 * `bytes` may hold only the beginning of the file: pass the full size as `options.fileSize`.
 *
 * @example
 * ```ts
 * const header = parseSafetensorsHeader(new Uint8Array(await file.arrayBuffer()));
 * for (const t of header.tensors) console.log(t.name, t.dtype, t.shape);
 * ```
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `parseSafetensorsHeader: bytes must be a Uint8Array (the file, or its beginning), got ${describeValue(bytes)}`,
    );
  }
  checkParseOptions(options, 'parseSafetensorsHeader');
  const where = options.source ? ` (${options.source})` : '';
  const fail = (message: string): SafetensorsError => new SafetensorsError(`safetensors${where}: ${message}`);
  const fileSize = options.fileSize ?? bytes.byteLength;

  if (fileSize < 8) throw fail(`the file is ${fileSize} bytes, too short to hold the 8-byte header length`);
  if (bytes.byteLength < 8)
    throw fail(`only ${bytes.byteLength} bytes were given; the header length alone takes 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length64 = view.getBigUint64(0, true);
  if (length64 > BigInt(MAX_HEADER_BYTES)) {
    throw fail(
      `the header length is ${length64} bytes, over the ${MAX_HEADER_BYTES}-byte limit (is this a safetensors file?)`,
    );
  }
  const headerLength = Number(length64);
  const dataStart = 8 + headerLength;
  if (dataStart > fileSize) {
    throw fail(
      `the header length ${headerLength} runs past the end of the file (${fileSize} bytes leave at most ${fileSize - 8} for the header)`,
    );
  }
  if (dataStart > bytes.byteLength) {
    throw fail(`only ${bytes.byteLength} bytes were given but the header ends at byte ${dataStart}`);
  }

  // The format's reference implementation requires the JSON to begin at once: no BOM, no space.
  if (headerLength > 0 && bytes[8] !== 0x7b)
    throw fail(`the header must begin with "{", got byte 0x${bytes[8]!.toString(16).padStart(2, '0')}`);
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(8, dataStart));
  } catch {
    throw fail('the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) throw fail(`the header must be a JSON object, got ${describeValue(json)}`);
  const twice = duplicateKey(text);
  if (twice !== undefined) {
    throw fail(
      `the header names ${JSON.stringify(twice)} twice in one object (a tensor or a field given twice), so which one is meant is ambiguous`,
    );
  }

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!isObject(value))
        throw fail(`__metadata__ must be an object of strings, got ${describeValue(value)}`);
      for (const [key, v] of Object.entries(value)) {
        if (typeof v !== 'string')
          throw fail(`__metadata__["${key}"] must be a string, got ${describeValue(v)}`);
        setOwn(metadata, key, v);
      }
      continue;
    }
    tensors.push(parseEntry(name, value, fail));
  }

  // The spec requires the byte buffer to be fully indexed: sorted by offset, each tensor must
  // start exactly where the previous one ended, and the last must end at the end of the file.
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  const dataLength = fileSize - dataStart;
  let covered = 0;
  let previous: SafetensorsTensorInfo | undefined;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin < covered && previous) {
      throw fail(
        `tensors "${previous.name}" (data_offsets [${previous.dataOffsets.join(', ')}]) and "${t.name}" ` +
          `(data_offsets [${begin}, ${end}]) overlap`,
      );
    }
    if (begin > covered) {
      const after = previous ? `between "${previous.name}" and "${t.name}"` : `before "${t.name}"`;
      throw fail(
        `bytes [${covered}, ${begin}) of the byte buffer belong to no tensor (a hole ${after}); ` +
          'the byte buffer must be fully indexed',
      );
    }
    covered = end;
    previous = t;
  }
  if (covered > dataLength) {
    const first = tensors.find((t) => t.dataOffsets[1] > dataLength)!;
    throw fail(
      `the file is truncated: the header describes ${covered} bytes of tensor data but only ${dataLength} follow it ` +
        `(${fileSize} bytes in all, ${dataStart + covered} expected); tensor "${first.name}" ` +
        `(data_offsets [${first.dataOffsets.join(', ')}]) runs past the end`,
    );
  }
  if (covered < dataLength) {
    throw fail(
      `${dataLength - covered} bytes after the last tensor belong to no tensor (the tensors cover ${covered} of ` +
        `${dataLength} bytes of data); the byte buffer must be fully indexed`,
    );
  }
  return { headerLength, dataStart, dataLength, tensors, metadata };
}

function parseEntry(
  name: string,
  value: unknown,
  fail: (message: string) => SafetensorsError,
): SafetensorsTensorInfo {
  const what = `tensor "${name}"`;
  if (!isObject(value))
    throw fail(`${what}: expected an object with dtype, shape and data_offsets, got ${describeValue(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw fail(`${what}: dtype must be a string, got ${describeValue(dtype)}`);
  if (!isSafetensorsDType(dtype)) {
    throw fail(
      `${what} has unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail(
      `${what}: data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw fail(`${what}: data_offsets [${begin}, ${end}] end before they begin`);
  const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype];
  // A running product that leaves the safe integers is too large even if a zero follows.
  let elements = 1;
  for (const d of shape as number[]) {
    elements *= d;
    if (!Number.isSafeInteger(elements * elementBytes))
      throw fail(`${what}: shape ${JSON.stringify(shape)} is too large`);
  }
  const expected = elements * elementBytes;
  if (end - begin !== expected) {
    throw fail(
      `${what}: shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes (${elements} elements x ${elementBytes}) ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
    );
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [begin, end] };
}
