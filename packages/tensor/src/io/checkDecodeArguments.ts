// The arguments of decodeSafetensorsTensor, checked before any byte is read: an info that is not
// a header entry (undefined from a misspelt name in file.get(), say) would otherwise fail inside with
// "Cannot read properties of undefined", and one whose offsets do not span its shape would decode
// garbage.
import { describeValue } from '../describeValue.js';
import type { DecodeSafetensorsOptions } from './decodeSafetensorsTensor.js';
import type { SafetensorsTensorInfo } from './parseSafetensorsHeader.js';
import { isSafetensorsDType, SAFETENSORS_DTYPE_BYTES } from './safetensorsDType.js';

const OP = 'decodeSafetensorsTensor';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Throws a TypeError or RangeError naming decodeSafetensorsTensor and the argument that is wrong. */
export function checkDecodeArguments(
  file: unknown,
  info: unknown,
  options: unknown,
): asserts info is SafetensorsTensorInfo {
  if (!isObject(file) || !(file.data instanceof Uint8Array)) {
    throw new TypeError(
      `${OP}: file must be a parsed file with its byte buffer as data (from parseSafetensors()), got ${describeValue(file)}`,
    );
  }
  if (!isObject(info)) {
    throw new TypeError(
      `${OP}: info must be a tensor of the file's header (from file.get(name)), got ${describeValue(info)}`,
    );
  }
  const { name, dtype, shape, dataOffsets } = info;
  const what = `${OP}: info${typeof name === 'string' ? ` of tensor ${JSON.stringify(name)}` : ''}`;
  if (typeof name !== 'string')
    throw new TypeError(`${what}: name must be a string, got ${describeValue(name)}`);
  if (typeof dtype !== 'string' || !isSafetensorsDType(dtype)) {
    throw new TypeError(
      `${what}: dtype must be one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}, got ${describeValue(dtype)}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw new TypeError(`${what}: shape must be an array of integers >= 0, got ${describeValue(shape)}`);
  if (!Array.isArray(dataOffsets) || dataOffsets.length !== 2 || !dataOffsets.every(isCount)) {
    throw new TypeError(
      `${what}: dataOffsets must be two integers [begin, end] >= 0, got ${describeValue(dataOffsets)}`,
    );
  }
  const [begin, end] = dataOffsets as [number, number];
  const bytes = (shape as number[]).reduce((a, d) => a * d, SAFETENSORS_DTYPE_BYTES[dtype]);
  if (end - begin !== bytes) {
    throw new RangeError(
      `${what}: shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes, but dataOffsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  if (!isObject(options))
    throw new TypeError(`${OP}: options must be an object, got ${describeValue(options)}`);
  const { dtype: to, source } = options as DecodeSafetensorsOptions;
  if (to !== undefined && to !== 'f32')
    throw new TypeError(`${OP}: options.dtype must be 'f32' or left out, got ${describeValue(to)}`);
  if (source !== undefined && typeof source !== 'string')
    throw new TypeError(
      `${OP}: options.source must be a string naming the file, got ${describeValue(source)}`,
    );
}
