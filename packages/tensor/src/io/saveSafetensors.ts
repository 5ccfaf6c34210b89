import { bytesPerElement, type DType, isQuantized, type QuantizedDType, type TypedArray } from '../dtype.js';
import { describeValue } from '../describeValue.js';
import { Tensor } from '../tensor.js';
import type { SafetensorsDType } from './safetensorsDType.js';

/**
 * Tensors by name, as {@link saveSafetensors} takes them.
 *
 * @example
 * ```ts
 * const named: NamedTensors = new Map([['proj.weight', w], ['proj.bias', b]]);
 * ```
 */
export type NamedTensors = Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>;

const STORED_AS: Readonly<Record<Exclude<DType, QuantizedDType>, SafetensorsDType>> = {
  f32: 'F32',
  i32: 'I32',
  u32: 'U32',
  bool: 'BOOL',
  f16: 'F16',
  bf16: 'BF16',
};

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads every tensor and returns a safetensors file: f32 as F32, i32 as I32, u32 as U32, f16 as
 * F16, bf16 as BF16, bool as BOOL. Tensors are laid out largest element size first, then by name
 * (the reference implementation's order): with the header padded with spaces to a multiple of 8,
 * every tensor then starts at a multiple of its element size, so readers can view it in place,
 * and the same tensors give the same bytes whatever order they were passed in.
 *
 * @example
 * ```ts
 * const bytes = await saveSafetensors({ 'proj.weight': w, 'proj.bias': b }, { format: 'pt' });
 * const { tensors } = await loadSafetensors(bytes, { backend });
 * ```
 */
export async function saveSafetensors(
  tensors: NamedTensors,
  metadata?: Readonly<Record<string, string>>,
): Promise<Uint8Array> {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
    throw new TypeError(
      `saveSafetensors(): tensors must be a Map or an object of named tensors, got ${describeValue(tensors)}`,
    );
  }
  const entries: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '__metadata__')
      throw new RangeError('saveSafetensors(): "__metadata__" is reserved and cannot name a tensor');
    if (!(t instanceof Tensor)) throw new TypeError(`saveSafetensors(): "${name}" is not a Tensor`);
    if (t.isDisposed) throw new Error(`saveSafetensors(): tensor "${name}" (${t.describe()}) was disposed`);
    // No safetensors dtype (nor a convention other readers share) exists for these blocks.
    if (isQuantized(t.dtype)) {
      throw new TypeError(
        `saveSafetensors(): tensor "${name}" is a block-quantized weight (${t.describe()}), which safetensors cannot ` +
          'store; save the float weights (dequantize() gives them back) and quantize after loading',
      );
    }
  }
  if (metadata !== undefined) {
    if (
      metadata === null ||
      typeof metadata !== 'object' ||
      Array.isArray(metadata) ||
      metadata instanceof Map
    )
      throw new TypeError(
        `saveSafetensors(): metadata must be an object of strings, got ${describeValue(metadata)}`,
      );
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new TypeError(`saveSafetensors(): metadata["${key}"] must be a string, got ${typeof value}`);
      }
    }
  }
  entries.sort(([a, ta], [b, tb]) => bytesPerElement(tb.dtype) - bytesPerElement(ta.dtype) || byName(a, b));

  // The header is written key by key so its order matches the byte buffer's.
  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`"__metadata__":${JSON.stringify(metadata)}`);
  const offsets: number[] = [];
  let dataLength = 0;
  for (const [name, t] of entries) {
    const end = dataLength + t.size * bytesPerElement(t.dtype);
    fields.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype: STORED_AS[t.dtype as Exclude<DType, QuantizedDType>], shape: t.shape, data_offsets: [dataLength, end] })}`,
    );
    offsets.push(dataLength);
    dataLength = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const dataStart = 8 + headerLength;
  const out = new Uint8Array(dataStart + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, dataStart);

  for (let i = 0; i < entries.length; i++) {
    const [name, t] = entries[i]!;
    const data = await t.read();
    if (data.length !== t.size) {
      throw new Error(
        `saveSafetensors(): tensor "${name}" (${t.describe()}) read back ${data.length} values, not ${t.size}`,
      );
    }
    writeLittleEndian(data, t.dtype, out, dataStart + offsets[i]!);
  }
  return out;
}

function writeLittleEndian(data: TypedArray, dtype: DType, out: Uint8Array, at: number): void {
  if (littleEndianHost || dtype === 'bool') {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + at, data.byteLength);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (dtype === 'f32') view.setFloat32(i * 4, v, true);
    else if (dtype === 'i32') view.setInt32(i * 4, v, true);
    else if (dtype === 'u32') view.setUint32(i * 4, v, true);
    else view.setUint16(i * 2, v, true);
  }
}
