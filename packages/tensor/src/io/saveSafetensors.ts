import { bytesPerElement, type DType, isQuantized, type QuantizedDType, type TypedArray } from '../dtype.js';
import { describeValue } from '../describeValue.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { DecodedSafetensorsTensor } from './decodeSafetensorsTensor.js';
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
const OP = 'saveSafetensors';

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads every tensor and returns a safetensors file: f32 as F32, i32 as I32, u32 as U32, f16 as
 * F16, bf16 as BF16, bool as BOOL. Tensors are laid out largest element size first, then by name
 * (close to the Rust crate's order, which ranks dtypes of one size by its own enum: the bytes can
 * differ from its, the tensors cannot): with the header padded with spaces to a multiple of 8,
 * every tensor then starts at a multiple of its element size, so readers can view it in place,
 * and the same tensors give the same bytes whatever order they were passed in. Names and metadata
 * must be well-formed Unicode (a lone surrogate has no UTF-8 form).
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
  const { header, placed, size } = planSave(OP, tensors, metadata);
  const out = allocateFile(OP, size);
  out.set(header);
  // One tensor's values on the host at a time.
  for (const { name, tensor: t, at } of placed)
    writeLittleEndian(await readAll(OP, name, t), t.dtype, out, at);
  return out;
}

/**
 * The file of {@link saveSafetensors} laid out (after the checks), before any tensor is read; `op`
 * is the public function the caller called, which starts every error's message.
 */
function planSave(op: string, tensors: NamedTensors, metadata: Readonly<Record<string, string>> | undefined) {
  const entries = checkTensors(op, tensors);
  checkMetadata(op, metadata);
  return layOut(
    entries.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, size: t.size, tensor: t })),
    metadata,
  );
}

/**
 * The named tensors, checked: string names, live tensors of a dtype safetensors stores. `op` (the
 * public function called, e.g. `saveSafetensors`) starts every error's message.
 * @internal Also saveCheckpointTensors', which checks every shard's tensors before writing any.
 */
export function checkTensors(op: string, tensors: NamedTensors): [string, Tensor][] {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
    throw new TypeError(
      `${op}(): tensors must be a Map or an object of named tensors, got ${describeValue(tensors)}`,
    );
  }
  const entries: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of entries) {
    checkName(op, name);
    if (!(t instanceof Tensor)) throw new TypeError(`${op}(): "${name}" is not a Tensor`);
    if (t.isDisposed) throw new Error(`${op}(): tensor "${name}" (${t.describe()}) was disposed`);
    // No safetensors dtype (nor a convention other readers share) exists for these blocks.
    if (isQuantized(t.dtype)) {
      throw new TypeError(
        `${op}(): tensor "${name}" is a block-quantized weight (${t.describe()}), which safetensors cannot ` +
          'store; save the float weights (dequantize() gives them back) and quantize after loading',
      );
    }
  }
  return entries;
}

/**
 * Node, for saveSafetensorsFile and saveCheckpointTensors: the file's bytes handed to `write` in
 * order (the header, then each tensor's bytes, one tensor on the host at a time), so a file larger
 * than one buffer saves. The checks and the layout are {@link saveSafetensors}'s; `op`, the public
 * function called, starts every error's message.
 * @internal
 */
export async function writeSafetensors(
  op: string,
  tensors: NamedTensors,
  metadata: Readonly<Record<string, string>> | undefined,
  write: (piece: Uint8Array) => Promise<void>,
): Promise<void> {
  const { header, placed } = planSave(op, tensors, metadata);
  await write(header);
  for (const { name, tensor: t } of placed) {
    const data = await readAll(op, name, t);
    const bytes = new Uint8Array(data.byteLength);
    writeLittleEndian(data, t.dtype, bytes, 0);
    await write(bytes);
  }
}

/** A tensor's values, all of them (a read that came back short is an error naming it). */
async function readAll(op: string, name: string, t: Tensor): Promise<TypedArray> {
  const data = await t.read();
  if (data.length !== t.size) {
    throw new Error(
      `${op}(): tensor "${name}" (${t.describe()}) read back ${data.length} values, not ${t.size}`,
    );
  }
  return data;
}

/** The whole file's buffer, or an error (starting with `op`) that says how large it is and what saves it anyway. */
function allocateFile(op: string, size: number): Uint8Array {
  try {
    return new Uint8Array(size);
  } catch (e) {
    throw new RangeError(
      `${op}(): the file would be ${size} bytes, more than this JavaScript engine holds in one buffer; in Node, saveSafetensorsFile() writes it tensor by tensor`,
      { cause: e },
    );
  }
}

const ARRAY_TYPES: Readonly<Record<Exclude<DType, QuantizedDType>, new (n: number) => TypedArray>> = {
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
  bool: Uint8Array,
  f16: Uint16Array,
  bf16: Uint16Array,
};

/**
 * The safetensors file of host arrays (`{ dtype, shape, data }`, as {@link decodeSafetensorsTensor}
 * gives them: f32 in a Float32Array, i32 Int32Array, u32 Uint32Array, bool Uint8Array, f16 and bf16
 * bits in a Uint16Array), laid out as {@link saveSafetensors} lays out tensors. Synchronous, and
 * needs no backend: for data that never was a tensor (an embedding index, a cache).
 *
 * @example
 * ```ts
 * const bytes = encodeSafetensors({ vectors: { dtype: 'f32', shape: [2, 3], data: new Float32Array(6) } }, { kind: 'demo' });
 * const file = parseSafetensors(bytes);
 * ```
 */
export function encodeSafetensors(
  arrays: Readonly<Record<string, DecodedSafetensorsTensor>> | ReadonlyMap<string, DecodedSafetensorsTensor>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  if (arrays === null || typeof arrays !== 'object' || Array.isArray(arrays)) {
    throw new TypeError(
      `encodeSafetensors(): arrays must be a Map or an object of named { dtype, shape, data }, got ${describeValue(arrays)}`,
    );
  }
  const entries = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  const described = entries.map(([name, a]) => {
    checkName('encodeSafetensors', name);
    const { dtype, shape, data } = (a ?? {}) as Partial<DecodedSafetensorsTensor>;
    const kind = Object.hasOwn(ARRAY_TYPES, String(dtype))
      ? ARRAY_TYPES[dtype as keyof typeof ARRAY_TYPES]
      : undefined;
    if (kind === undefined || !(data instanceof kind)) {
      throw new TypeError(
        `encodeSafetensors(): "${name}" must be { dtype, shape, data } with dtype one of ${Object.keys(ARRAY_TYPES).join(', ')} and data its typed array, got dtype ${describeValue(dtype)} and data ${describeValue(data)}`,
      );
    }
    const size = checkShape('encodeSafetensors', name, shape);
    if ((data as TypedArray).length !== size) {
      throw new RangeError(
        `encodeSafetensors(): "${name}" has ${(data as TypedArray).length} values for shape ${formatShape(shape!)} (${size})`,
      );
    }
    if (dtype === 'bool') {
      // BOOL holds 0 or 1 (what tensor() accepts); readers treat other bytes differently.
      const bad = (data as Uint8Array).findIndex((v) => v > 1);
      if (bad >= 0)
        throw new RangeError(
          `encodeSafetensors(): "${name}" is bool but holds ${(data as Uint8Array)[bad]} at index ${bad}; bool values are 0 or 1`,
        );
    }
    return { name, dtype: dtype!, shape: shape!, size, data: data as TypedArray };
  });
  checkMetadata('encodeSafetensors', metadata);
  const { header, placed, size } = layOut(described, metadata);
  const out = allocateFile('encodeSafetensors', size);
  out.set(header);
  for (const { dtype, data, at } of placed) writeLittleEndian(data, dtype, out, at);
  return out;
}

function checkName(op: string, name: unknown): void {
  // A number key would be written unquoted, and the file would not parse.
  if (typeof name !== 'string')
    throw new TypeError(`${op}(): tensor names must be strings, got the key ${describeValue(name)}`);
  if (name === '__metadata__')
    throw new RangeError(`${op}(): "__metadata__" is reserved and cannot name a tensor`);
  checkWellFormed(op, `the tensor name ${JSON.stringify(name)}`, name);
}

/**
 * A string with a lone UTF-16 surrogate has no UTF-8 form: JSON.stringify writes it as an escape
 * that Python's safetensors (serde_json) refuses, so the file would not open there.
 */
function checkWellFormed(op: string, what: string, text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      throw new RangeError(
        `${op}(): ${what} holds a lone UTF-16 surrogate (U+${c.toString(16).toUpperCase()}) at index ${i}, which has no UTF-8 form; safetensors headers are UTF-8`,
      );
    }
  }
}

function checkShape(op: string, name: string, shape: unknown): number {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TypeError(
      `${op}(): "${name}" needs a shape of non-negative integers, got ${describeValue(shape)}`,
    );
  }
  return shape.reduce((a: number, d: number) => a * d, 1);
}

/** @internal Also saveCheckpointTensors'. */
export function checkMetadata(op: string, metadata: unknown): void {
  if (metadata === undefined) return;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || metadata instanceof Map)
    throw new TypeError(`${op}(): metadata must be an object of strings, got ${describeValue(metadata)}`);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new TypeError(`${op}(): metadata["${key}"] must be a string, got ${typeof value}`);
    }
    checkWellFormed(op, `the metadata key ${JSON.stringify(key)}`, key);
    checkWellFormed(op, `metadata[${JSON.stringify(key)}]`, value);
  }
}

interface Entry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly size: number;
}

/**
 * The file with its header written and its data zeroed, and where each entry's bytes go: largest
 * element size first, then by name, the header padded with spaces to a multiple of 8.
 */
function layOut<E extends Entry>(
  entries: E[],
  metadata: Readonly<Record<string, string>> | undefined,
): { header: Uint8Array; placed: (E & { at: number })[]; size: number } {
  const sorted = [...entries].sort(
    (a, b) => bytesPerElement(b.dtype) - bytesPerElement(a.dtype) || byName(a.name, b.name),
  );
  // The header is written key by key so its order matches the byte buffer's.
  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`"__metadata__":${JSON.stringify(metadata)}`);
  const offsets: number[] = [];
  let dataLength = 0;
  for (const { name, dtype, shape, size } of sorted) {
    const end = dataLength + size * bytesPerElement(dtype);
    fields.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype: STORED_AS[dtype as Exclude<DType, QuantizedDType>], shape, data_offsets: [dataLength, end] })}`,
    );
    offsets.push(dataLength);
    dataLength = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const dataStart = 8 + headerLength;
  // The 8-byte length, the JSON, and spaces up to a multiple of 8: [dataStart] bytes.
  const header = new Uint8Array(dataStart);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLength), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.byteLength, dataStart);
  return {
    header,
    placed: sorted.map((e, i) => ({ ...e, at: dataStart + offsets[i]! })),
    size: dataStart + dataLength,
  };
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
