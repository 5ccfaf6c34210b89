import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { f32ToBf16, f32ToF16 } from '../src/dtype.js';
import { locateSource } from '../src/io/locateSource.js';
import {
  type Backend,
  createBackend,
  decodeSafetensorsTensor,
  dequantizeArray,
  encodeSafetensors,
  hubFileUrl,
  isNotFound,
  joinSource,
  loadCheckpointTensors,
  loadFile,
  loadFileIfExists,
  loadJson,
  loadJsonIfExists,
  loadSafetensors,
  matmul,
  parseSafetensors,
  parseSafetensorsHeader,
  quantizeArray,
  SafetensorsError,
  type SafetensorsProgress,
  saveSafetensors,
  saveSafetensorsFile,
  type Tensor,
  tensor,
} from '../src/index.node.js';
import { closeServer, listenLocal } from './util/localServer.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/io/clip-tiny.safetensors', import.meta.url));

let backend: Backend;
let temp: string;

beforeAll(async () => {
  backend = await createBackend('cpu');
  temp = await mkdtemp(join(tmpdir(), 'vl-safetensors-'));
});

afterAll(async () => {
  backend.dispose();
  await rm(temp, { recursive: true, force: true });
});

/** A safetensors file from a header (object or raw JSON text) and a byte buffer. */
function build(header: unknown, data: ArrayLike<number> = [], headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** Little-endian bytes written by a DataView setter. */
function le(
  size: number,
  values: readonly (number | bigint)[],
  set: (v: DataView, o: number, x: never) => void,
): number[] {
  const view = new DataView(new ArrayBuffer(size * values.length));
  for (const [i, x] of values.entries()) set(view, i * size, x as never);
  return [...new Uint8Array(view.buffer)];
}

async function values(t: Tensor | undefined): Promise<number[]> {
  expect(t).toBeDefined();
  return Array.from(await t!.read());
}

function live(): number {
  return backend.stats().liveTensors;
}

/** A folder's files, without the cache's `.version` notes beside its entries. */
async function dir(path: string): Promise<string[]> {
  return (await readdir(path).catch(() => [] as string[])).filter((f) => !f.endsWith('.version'));
}

describe('saveSafetensors / loadSafetensors round trip', () => {
  test('every dtype, with metadata, in an aligned layout', async () => {
    const before = live();
    const halfs = [1, -2.5, 0.333251953125, 65504];
    const originals = {
      'w.f32': tensor([1.5, -2, 3.25, 1e-30, 7, 8], [2, 3], { backend }),
      'ids.i32': tensor(new Int32Array([-2147483648, 0, 2147483647]), [3], { backend }),
      'u.u32': tensor(new Uint32Array([0, 4294967295]), [2, 1], { backend }),
      'mask.bool': tensor([1, 0, 1], [3], { backend, dtype: 'bool' }),
      'h.f16': tensor(Uint16Array.from(halfs, f32ToF16), [4], { backend, dtype: 'f16' }),
      'b.bf16': tensor(Uint16Array.from([1, -3, 0.5], f32ToBf16), [3], { backend, dtype: 'bf16' }),
      scalar: tensor([42], [], { backend }),
      empty: tensor([], [0, 4], { backend }),
    };
    const bytes = await saveSafetensors(originals, { format: 'pt', note: 'ünïcode' });

    const header = parseSafetensorsHeader(bytes);
    expect(header.headerLength % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, header.dataStart));
    expect(text.slice(text.lastIndexOf('}') + 1)).toMatch(/^ {0,7}$/);
    // Largest elements first, then by name; each tensor starts at a multiple of its element size.
    expect(header.tensors.map((t) => t.name)).toEqual([
      'empty',
      'ids.i32',
      'scalar',
      'u.u32',
      'w.f32',
      'b.bf16',
      'h.f16',
      'mask.bool',
    ]);
    const sizes = { F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, BOOL: 1 } as Record<string, number>;
    for (const t of header.tensors) expect((header.dataStart + t.dataOffsets[0]) % sizes[t.dtype]!).toBe(0);

    const loaded = await loadSafetensors(bytes, { backend });
    expect(loaded.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    for (const [name, original] of Object.entries(originals)) {
      const t = loaded.tensors.get(name)!;
      expect(t.dtype, name).toBe(original.dtype);
      expect(t.shape, name).toEqual(original.shape);
      expect(await values(t), name).toEqual(await values(original));
    }
    // Insertion order does not change the bytes.
    const reversed = new Map(Object.entries(originals).reverse());
    expect(await saveSafetensors(reversed, { format: 'pt', note: 'ünïcode' })).toEqual(bytes);

    const asF32 = await loadSafetensors(bytes, {
      backend,
      dtype: 'f32',
      filter: (n) => n === 'h.f16' || n === 'b.bf16',
    });
    expect([...asF32.tensors.keys()].sort()).toEqual(['b.bf16', 'h.f16']);
    expect(asF32.tensors.get('h.f16')!.dtype).toBe('f32');
    expect(await values(asF32.tensors.get('h.f16'))).toEqual(halfs);
    expect(await values(asF32.tensors.get('b.bf16'))).toEqual([1, -3, 0.5]);

    asF32.dispose();
    loaded.dispose();
    for (const t of Object.values(originals)) t.dispose();
    expect(live()).toBe(before);
  });

  test('saveSafetensors refuses a reserved name, a disposed tensor and non-string metadata', async () => {
    const t = tensor([1], [1], { backend });
    await expect(saveSafetensors({ __metadata__: t })).rejects.toThrow(/reserved/);
    const folder = await mkdtemp(join(tmpdir(), 'vl-st-folder-'));
    await expect(loadSafetensors(folder, { backend })).rejects.toThrow(
      `loadSafetensors(): ${folder} is a folder; give the .safetensors file in it (or its index.json)`,
    );
    await expect(saveSafetensors({ t }, 'abc' as never)).rejects.toThrow(
      'saveSafetensors(): metadata must be an object of strings, got the string "abc"',
    );
    await expect(saveSafetensors(null as never)).rejects.toThrow(
      'saveSafetensors(): tensors must be a Map or an object of named tensors, got null',
    );
    await expect(saveSafetensors({ t }, { n: 1 as unknown as string })).rejects.toThrow(
      /metadata\["n"\] must be a string/,
    );
    t.dispose();
    await expect(saveSafetensors({ t })).rejects.toThrow(/"t" \(f32\[1\]\) was disposed/);
  });

  test('encodeSafetensors writes host arrays as saveSafetensors writes the same tensors', async () => {
    const arrays = {
      v: { dtype: 'f32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-30, 7) },
      ids: { dtype: 'i32', shape: [2], data: Int32Array.of(-5, 9) },
      h: { dtype: 'f16', shape: [1], data: Uint16Array.of(f32ToF16(1.5)) },
      m: { dtype: 'bool', shape: [3], data: Uint8Array.of(1, 0, 1) },
    } as const;
    const bytes = encodeSafetensors(arrays, { kind: 'index' });
    const tensors = Object.fromEntries(
      Object.entries(arrays).map(([name, a]) => [
        name,
        tensor(a.data, [...a.shape], { backend, dtype: a.dtype }),
      ]),
    );
    expect(await saveSafetensors(tensors, { kind: 'index' })).toEqual(bytes);
    for (const t of Object.values(tensors)) t.dispose();
    const file = parseSafetensors(bytes);
    expect(decodeSafetensorsTensor(file, file.get('v')!).data).toEqual(arrays.v.data);
    expect(file.metadata).toEqual({ kind: 'index' });

    expect(() => encodeSafetensors({ v: { dtype: 'f32', shape: [4], data: new Float32Array(3) } })).toThrow(
      'encodeSafetensors(): "v" has 3 values for shape [4] (4)',
    );
    expect(() => encodeSafetensors({ v: { dtype: 'f16', shape: [1], data: new Float32Array(1) } })).toThrow(
      /"v" must be \{ dtype, shape, data \} with dtype one of f32, i32, u32, bool, f16, bf16 and data its typed array/,
    );
    expect(() => encodeSafetensors({ v: { dtype: 'f32', shape: [-1], data: new Float32Array(1) } })).toThrow(
      /"v" needs a shape of non-negative integers/,
    );
    expect(() => encodeSafetensors({ __metadata__: arrays.v })).toThrow(/reserved/);
    expect(() => encodeSafetensors({}, { n: 1 as unknown as string })).toThrow(
      /metadata\["n"\] must be a string/,
    );
  });

  test('saveSafetensorsFile writes a file that loads from its path and its file: URL', async () => {
    const path = join(temp, 'saved', 'model.safetensors');
    const w = tensor([1, 2, 3, 4], [2, 2], { backend });
    await saveSafetensorsFile(path, { w }, { step: '7' });
    w.dispose();
    expect(await dir(join(temp, 'saved'))).toEqual(['model.safetensors']);
    for (const source of [path, pathToFileURL(path), pathToFileURL(path).href]) {
      const { tensors, metadata, dispose } = await loadSafetensors(source, { backend });
      expect(metadata).toEqual({ step: '7' });
      expect(await values(tensors.get('w'))).toEqual([1, 2, 3, 4]);
      dispose();
    }
  });
});

describe('format dtypes', () => {
  test('every safetensors dtype decodes to ours, at unaligned offsets', async () => {
    // A 1-byte tensor first puts every following tensor at an odd offset.
    const parts: [string, string, number[], number[]][] = [
      ['a.u8', 'U8', [3], [0, 200, 255]],
      ['f64', 'F64', [2], le(8, [1.5, -1e300], (v, o, x) => v.setFloat64(o, x, true))],
      ['f32', 'F32', [2], le(4, [0.25, -3], (v, o, x) => v.setFloat32(o, x, true))],
      ['i64', 'I64', [3], le(8, [-2147483648n, -1n, 2147483647n], (v, o, x) => v.setBigInt64(o, x, true))],
      ['u64', 'U64', [2], le(8, [0n, 2147483647n], (v, o, x) => v.setBigUint64(o, x, true))],
      ['i32', 'I32', [2], le(4, [-5, 6], (v, o, x) => v.setInt32(o, x, true))],
      ['u32', 'U32', [1], le(4, [4000000000], (v, o, x) => v.setUint32(o, x, true))],
      ['i16', 'I16', [2], le(2, [-32768, 32767], (v, o, x) => v.setInt16(o, x, true))],
      ['u16', 'U16', [1], le(2, [65535], (v, o, x) => v.setUint16(o, x, true))],
      ['i8', 'I8', [2], [0x80, 0x7f]],
      ['bool', 'BOOL', [3], [0, 1, 7]],
      ['f16', 'F16', [2], le(2, [0x3c00, 0xc000], (v, o, x) => v.setUint16(o, x, true))],
      ['bf16', 'BF16', [2], le(2, [0x3f80, 0xc040], (v, o, x) => v.setUint16(o, x, true))],
      ['e4m3', 'F8_E4M3', [5], [0x38, 0x7e, 0x01, 0xc0, 0xff]],
      ['e5m2', 'F8_E5M2', [3], [0x3c, 0x7c, 0xc0]],
    ];
    const header: Record<string, unknown> = {};
    const data: number[] = [];
    for (const [name, dtype, shape, bytes] of parts) {
      header[name] = { dtype, shape, data_offsets: [data.length, data.length + bytes.length] };
      data.push(...bytes);
    }
    const { tensors, dispose } = await loadSafetensors(build(header, data), { backend });
    const expected: Record<string, [string, number[]]> = {
      'a.u8': ['i32', [0, 200, 255]],
      f64: ['f32', [1.5, -Infinity]],
      f32: ['f32', [0.25, -3]],
      i64: ['i32', [-2147483648, -1, 2147483647]],
      u64: ['i32', [0, 2147483647]],
      i32: ['i32', [-5, 6]],
      u32: ['u32', [4000000000]],
      i16: ['i32', [-32768, 32767]],
      u16: ['i32', [65535]],
      i8: ['i32', [-128, 127]],
      bool: ['bool', [0, 1, 1]],
      f16: ['f16', [0x3c00, 0xc000]],
      bf16: ['bf16', [0x3f80, 0xc040]],
      e4m3: ['f16', [1, 448, 2 ** -9, -2, Number.NaN].map(f32ToF16)],
      e5m2: ['f16', [0x3c00, 0x7c00, 0xc000]],
    };
    for (const [name, [dtype, want]] of Object.entries(expected)) {
      expect(tensors.get(name)!.dtype, name).toBe(dtype);
      expect(await values(tensors.get(name)), name).toEqual(want);
    }
    dispose();

    const f32 = await loadSafetensors(build(header, data), {
      backend,
      dtype: 'f32',
      filter: (n) => /f16|e4m3|e5m2/.test(n),
    });
    expect(await values(f32.tensors.get('f16'))).toEqual([1, -2]);
    expect(await values(f32.tensors.get('bf16'))).toEqual([1, -3]);
    expect(await values(f32.tensors.get('e4m3'))).toEqual([1, 448, 2 ** -9, -2, Number.NaN]);
    expect(await values(f32.tensors.get('e5m2'))).toEqual([1, Infinity, -2]);
    f32.dispose();
  });

  test('I64 and U64 values outside the i32 range are refused, and nothing is left behind', async () => {
    const before = live();
    const ok = le(4, [1, 2], (v, o, x) => v.setFloat32(o, x, true));
    const big = le(8, [1n, 2147483648n], (v, o, x) => v.setBigInt64(o, x, true));
    const file = build(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        ids: { dtype: 'I64', shape: [2], data_offsets: [8, 24] },
      },
      [...ok, ...big],
    );
    await expect(loadSafetensors(file, { backend })).rejects.toThrow(
      /tensor "ids" \(I64 \[2\]\) holds 2147483648 at element 1, outside the i32 range/,
    );
    expect(live()).toBe(before);
    const huge = build(
      { u: { dtype: 'U64', shape: [1], data_offsets: [0, 8] } },
      le(8, [2n ** 64n - 1n], (v, o, x) => v.setBigUint64(o, x, true)),
    );
    await expect(loadSafetensors(huge, { backend })).rejects.toThrow(
      /holds 18446744073709551615 at element 0/,
    );
  });
});

describe('storeAs: weights stored as f16, bf16, q8 or q4 as they load', () => {
  const w = Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
  const bf = [1.5, -2, 0.25, 3].flatMap((x) => Array.from({ length: 16 }, (_, i) => x * (i + 1)));
  const parts: [string, string, number[], number[]][] = [
    ['dec.q_proj.weight', 'F32', [4, 64], le(4, w, (v, o, x) => v.setFloat32(o, x, true))],
    ['dec.up_proj.weight', 'BF16', [2, 32], le(2, bf.map(f32ToBf16), (v, o, x) => v.setUint16(o, x, true))],
    ['dec.norm.weight', 'F32', [3], le(4, [1, 2, 3], (v, o, x) => v.setFloat32(o, x, true))],
    ['ids', 'I32', [2], le(4, [7, 8], (v, o, x) => v.setInt32(o, x, true))],
  ];
  const header: Record<string, unknown> = {};
  const data: number[] = [];
  for (const [name, dtype, shape, bytes] of parts) {
    header[name] = { dtype, shape, data_offsets: [data.length, data.length + bytes.length] };
    data.push(...bytes);
  }
  const file = build(header, data);

  test('each tensor gets the dtype the callback names; the rest follow dtype', async () => {
    const seen: [string, readonly number[], string][] = [];
    const { tensors, dispose } = await loadSafetensors(file, {
      backend,
      dtype: 'f32',
      storeAs: (name, shape, dtype) => {
        seen.push([name, shape, dtype]);
        return name === 'dec.q_proj.weight' ? 'q8' : name === 'dec.up_proj.weight' ? 'bf16' : undefined;
      },
    });
    // Asked about the floating-point tensors only, with their file dtype.
    expect(seen).toEqual(
      parts.filter(([, dtype]) => dtype !== 'I32').map(([name, dtype, shape]) => [name, shape, dtype]),
    );
    const q = tensors.get('dec.q_proj.weight')!;
    expect(q.describe()).toBe('q8[4, 64]');
    // The host codec's words, and matmul reads them as the dequantized weight.
    expect(Array.from(await q.read())).toEqual(Array.from(quantizeArray(Float32Array.from(w), 'q8')));
    const x = tensor(
      Array.from({ length: 64 }, (_, i) => (i % 5) - 2),
      [1, 64],
      { backend },
    );
    const want = dequantizeArray(quantizeArray(Float32Array.from(w), 'q8'), 'q8', w.length);
    const y = matmul(x, q, { transposeB: true });
    const ref = matmul(x, tensor(want, [4, 64], { backend }), { transposeB: true });
    const [got, exact] = [await y.read(), await ref.read()];
    for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(exact[i]!, 2);
    for (const t of [x, y, ref]) t.dispose();
    // BF16 asked for as bf16: the file's bits, unchanged.
    expect(tensors.get('dec.up_proj.weight')!.dtype).toBe('bf16');
    expect(await values(tensors.get('dec.up_proj.weight'))).toEqual(bf.map(f32ToBf16));
    expect(tensors.get('dec.norm.weight')!.dtype).toBe('f32');
    expect(tensors.get('ids')!.dtype).toBe('i32');
    dispose();

    // F32 to f16 and q4, BF16 to f16: through f32, rounded to nearest.
    const half = await loadSafetensors(file, {
      backend,
      filter: (name) => name.startsWith('dec.'),
      storeAs: (name) => (name === 'dec.q_proj.weight' ? 'q4' : 'f16'),
    });
    expect(Array.from(await half.tensors.get('dec.q_proj.weight')!.read())).toEqual(
      Array.from(quantizeArray(Float32Array.from(w), 'q4')),
    );
    expect(await values(half.tensors.get('dec.up_proj.weight'))).toEqual(bf.map(f32ToF16));
    expect(await values(half.tensors.get('dec.norm.weight'))).toEqual([1, 2, 3].map(f32ToF16));
    half.dispose();
  });

  test('F64 stored as f16 or bf16 rounds once, from the double (not through f32)', async () => {
    // Just past the midpoint between two halves: through f32 the 2^-40 is lost and ties go even.
    const x = [1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -8 + 2 ** -40, -(1 + 2 ** -11 + 2 ** -40), 1e300, 0.5];
    const f = build(
      { d: { dtype: 'F64', shape: [5], data_offsets: [0, 40] } },
      le(8, x, (v, o, n) => v.setFloat64(o, n, true)),
    );
    for (const [store, expected] of [
      ['f16', [0x3c01, 0x3c04, 0xbc01, 0x7c00, 0x3800]],
      ['bf16', [0x3f80, 0x3f81, 0xbf80, 0x7f80, 0x3f00]],
    ] as const) {
      const { tensors, dispose } = await loadSafetensors(f, { backend, storeAs: () => store });
      expect(Array.from(await tensors.get('d')!.read()), store).toEqual(expected);
      dispose();
    }
  });

  test("integer tensors load as they are whatever storeAs would say (an HF checkpoint's position ids)", async () => {
    const all = await loadSafetensors(file, { backend, storeAs: () => 'f16' });
    expect(all.tensors.get('ids')!.describe()).toBe('i32[2]');
    expect(Array.from(await all.tensors.get('ids')!.read())).toEqual([7, 8]);
    expect(all.tensors.get('dec.norm.weight')!.dtype).toBe('f16');
    all.dispose();
  });

  test.each([
    [
      'q4 for a 1-D tensor',
      (n: string) => (n === 'dec.norm.weight' ? 'q4' : undefined),
      /tensor "dec.norm.weight" \(F32\[3\]\): storeAs chose q4, which needs a 2-D \[out, in\] weight/,
    ],
    [
      'an unknown dtype',
      () => 'int8',
      /storeAs must return one of f32, f16, bf16, q8, q4 or undefined, got "int8"/,
    ],
  ])('%s is refused, naming the tensor, and nothing is left behind', async (_, storeAs, message) => {
    const before = live();
    await expect(loadSafetensors(file, { backend, storeAs: storeAs as () => undefined })).rejects.toThrow(
      message,
    );
    expect(live()).toBe(before);
  });

  test('a non-finite value in a weight to quantize is named', async () => {
    const bad = w.slice();
    bad[70] = Number.NaN;
    const f = build(
      { w: { dtype: 'F32', shape: [4, 64], data_offsets: [0, 1024] } },
      le(4, bad, (v, o, x) => v.setFloat32(o, x, true)),
    );
    await expect(loadSafetensors(f, { backend, storeAs: () => 'q8' })).rejects.toThrow(
      /tensor "w" \(F32\[4, 64\]\): value NaN at index 70 cannot be quantized/,
    );
    await expect(loadSafetensors(f, { backend, storeAs: 'q8' as never })).rejects.toThrow(
      /options.storeAs must be a function/,
    );
  });
});

describe('the clip-tiny fixture', () => {
  test('header names, shapes, metadata and values', async () => {
    const bytes = await readFile(FIXTURE);
    const file = parseSafetensors(bytes);
    expect(file.tensors).toHaveLength(78);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.get('logit_scale')).toMatchObject({ dtype: 'F32', shape: [], dataOffsets: [0, 4] });
    expect(file.get('text_projection.weight')?.shape).toEqual([32, 64]);
    expect(file.get('vision_model.embeddings.patch_embedding.weight')?.shape).toEqual([64, 3, 8, 8]);
    expect(file.get('text_model.embeddings.token_embedding.weight')?.shape).toEqual([512, 64]);
    const w = decodeSafetensorsTensor(file, file.get('text_projection.weight')!);
    expect(Array.from(w.data.subarray(0, 3))).toEqual([
      0.029191911220550537, 0.04978115111589432, -0.04547154903411865,
    ]);

    const before = live();
    const progress: SafetensorsProgress[] = [];
    const { tensors, dispose } = await loadSafetensors(FIXTURE, {
      backend,
      filter: (n) => n.startsWith('vision_model.') || n === 'logit_scale',
      onProgress: (p) => progress.push(p),
    });
    expect(tensors.size).toBe(1 + 39);
    expect(await tensors.get('logit_scale')!.item()).toBeCloseTo(2.6592, 4);
    expect(progress.at(-1)).toEqual({ file: FIXTURE, loaded: 750980, total: 750980 });
    dispose();
    // The whole file: each byte count once, rising, though the last tensor ends at the end of the file.
    const all: SafetensorsProgress[] = [];
    const whole = await loadSafetensors(FIXTURE, { backend, onProgress: (p) => all.push(p) });
    const counts = all.map((p) => p.loaded);
    expect(counts.at(-1)).toBe(750980);
    expect(counts.every((n, i) => i === 0 || n > counts[i - 1]!)).toBe(true);
    whole.dispose();
    expect(live()).toBe(before);
  });
});

describe('corrupted files', () => {
  const f32x2 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const eight = new Array<number>(8).fill(0);
  const cases: [string, Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), /the file is 5 bytes, too short/],
    [
      'a header length past the end of the file',
      build({}, [], 1000n),
      /header length 1000 runs past the end of the file \(10 bytes/,
    ],
    [
      'a header over 100 MB',
      build({}, [], 200_000_000n),
      /header length is 200000000 bytes, over the 100000000-byte limit/,
    ],
    ['invalid JSON', build('{"a": {', []), /the header is not valid JSON/],
    ['invalid UTF-8', build('{"\xff"}').map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8/],
    ['a JSON array', build('[1, 2]'), /the header must begin with "\{", got byte 0x5b/],
    ['a header that begins with a space', build(' {}'), /the header must begin with "\{", got byte 0x20/],
    ['a header that begins with a BOM', build('\ufeff{}'), /the header must begin with "\{", got byte 0xef/],
    [
      'a shape whose running product overflows before a zero',
      build({ w: { dtype: 'F32', shape: [2 ** 52, 2 ** 52, 0], data_offsets: [0, 0] } }, []),
      /tensor "w": shape \[4503599627370496,4503599627370496,0\] is too large/,
    ],
    [
      'an unknown dtype',
      build({ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, eight),
      /tensor "w" has unknown dtype "Q4" \(supported: F64/,
    ],
    [
      'a size that does not match the shape',
      build({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, new Array(20).fill(0)),
      /tensor "w": shape \[2, 3\] of F32 needs 24 bytes \(6 elements x 4\) but data_offsets \[0, 20\] span 20 bytes/,
    ],
    [
      'offsets that end before they begin',
      build({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, eight),
      /tensor "w": data_offsets \[8, 4\] end before they begin/,
    ],
    [
      'negative offsets',
      build({ w: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, eight),
      /tensor "w": data_offsets must be two non-negative integers/,
    ],
    [
      'a bad shape',
      build({ w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, eight),
      /tensor "w": shape must be an array of non-negative integers/,
    ],
    [
      'offsets past the end of the data',
      build({ w: f32x2, v: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, eight),
      /the file is truncated: the header describes 24 bytes of tensor data but only 8 follow it .* tensor "v" \(data_offsets \[8, 24\]\) runs past the end/,
    ],
    [
      'overlapping tensors',
      build({ a: f32x2, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Array(12).fill(0)),
      /tensors "a" \(data_offsets \[0, 8\]\) and "b" \(data_offsets \[4, 12\]\) overlap/,
    ],
    [
      'a hole between tensors',
      build({ a: f32x2, b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } }, new Array(20).fill(0)),
      /bytes \[8, 12\) of the byte buffer belong to no tensor \(a hole between "a" and "b"\)/,
    ],
    [
      'a hole at the start',
      build({ b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Array(12).fill(0)),
      /bytes \[0, 4\) .* \(a hole before "b"\)/,
    ],
    [
      'bytes after the last tensor',
      build({ a: f32x2 }, new Array(12).fill(0)),
      /4 bytes after the last tensor belong to no tensor/,
    ],
    [
      'a truncated file',
      build({ a: f32x2 }, [0, 0, 0]),
      /the file is truncated: the header describes 8 bytes of tensor data but only 3 follow it/,
    ],
    [
      'a tensor named twice (JSON.parse would keep the last silently)',
      build(
        '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}',
        eight,
      ),
      /the header names "w" twice in one object/,
    ],
    [
      'a field given twice',
      build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"dtype":"I32"}}', eight),
      /the header names "dtype" twice in one object/,
    ],
    [
      'non-string metadata',
      build({ __metadata__: { n: 1 } }),
      /__metadata__\["n"\] must be a string, got the number 1/,
    ],
  ];
  test.each(cases)('%s', async (_, bytes, message) => {
    expect(() => parseSafetensors(bytes)).toThrow(message);
    expect(() => parseSafetensors(bytes)).toThrow(SafetensorsError);
    const before = live();
    await expect(loadSafetensors(bytes, { backend })).rejects.toThrow(message);
    expect(live()).toBe(before);
  });

  test('a header padded with spaces is valid', () => {
    const file = build(`${JSON.stringify({ a: f32x2, __metadata__: { k: 'v' } })}       `, eight);
    expect(parseSafetensors(file)).toMatchObject({
      metadata: { k: 'v' },
      dataLength: 8,
      tensors: [{ name: 'a' }],
    });
  });

  test('the header can be checked from the beginning of a file, given its size', () => {
    const file = build({ a: f32x2 }, eight);
    const header = parseSafetensorsHeader(file.subarray(0, file.byteLength - 8), {
      fileSize: file.byteLength,
      source: 'x.safetensors',
    });
    expect(header.tensors.map((t) => t.name)).toEqual(['a']);
    expect(() =>
      parseSafetensorsHeader(file, { fileSize: file.byteLength + 1, source: 'x.safetensors' }),
    ).toThrow(/safetensors \(x\.safetensors\): 1 bytes after the last tensor/);
  });
});

/** Two shards and an index in `folder`; returns the tensors' expected values. */
async function writeShards(folder: string): Promise<void> {
  const a = tensor([1, 2], [2], { backend });
  const b = tensor([3, 4, 5], [3], { backend });
  const c = tensor(new Int32Array([6]), [1], { backend });
  await saveSafetensorsFile(join(folder, 'model-00001-of-00002.safetensors'), { a, b }, { format: 'pt' });
  await saveSafetensorsFile(
    join(folder, 'model-00002-of-00002.safetensors'),
    { c },
    { format: 'np', extra: 'x' },
  );
  for (const t of [a, b, c]) t.dispose();
  const weight_map = {
    a: 'model-00001-of-00002.safetensors',
    b: 'model-00001-of-00002.safetensors',
    c: 'model-00002-of-00002.safetensors',
  };
  await writeFile(
    join(folder, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: 24 }, weight_map }),
  );
}

describe('sharded checkpoints', () => {
  test('an index loads every shard from its folder; a filter skips unneeded shards', async () => {
    const folder = join(temp, 'sharded');
    await writeShards(folder);
    const index = join(folder, 'model.safetensors.index.json');
    const progress: string[] = [];
    const all = await loadSafetensors(index, { backend, onProgress: (p) => progress.push(p.file) });
    expect([...all.tensors.keys()]).toEqual(['a', 'b', 'c']);
    expect(await values(all.tensors.get('c'))).toEqual([6]);
    expect(all.metadata).toEqual({ format: 'pt', extra: 'x' });
    expect(new Set(progress)).toEqual(
      new Set([
        index,
        join(folder, 'model-00001-of-00002.safetensors'),
        join(folder, 'model-00002-of-00002.safetensors'),
      ]),
    );
    all.dispose();

    // Shard 2 is never opened when no tensor in it is wanted.
    await rm(join(folder, 'model-00002-of-00002.safetensors'));
    const some = await loadSafetensors(pathToFileURL(index), { backend, filter: (n) => n !== 'c' });
    expect([...some.tensors.keys()]).toEqual(['a', 'b']);
    some.dispose();

    // A missing shard fails the load and disposes the first shard's tensors.
    const before = live();
    await expect(loadSafetensors(index, { backend })).rejects.toThrow(/ENOENT.*model-00002-of-00002/);
    expect(live()).toBe(before);
  });

  test('a tensor the index promises but the shard lacks, and unsafe shard names, are errors', async () => {
    const folder = join(temp, 'bad-index');
    await writeShards(folder);
    const index = join(folder, 'model.safetensors.index.json');
    await writeFile(
      index,
      JSON.stringify({
        weight_map: { a: 'model-00001-of-00002.safetensors', z: 'model-00001-of-00002.safetensors' },
      }),
    );
    const before = live();
    await expect(loadSafetensors(index, { backend })).rejects.toThrow(
      /1 tensors it maps to model-00001-of-00002.safetensors are not in that file: "z"/,
    );
    expect(live()).toBe(before);
    await writeFile(index, JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
    await expect(loadSafetensors(index, { backend })).rejects.toThrow(/shard names must be relative paths/);
    await writeFile(index, JSON.stringify({ tensors: {} }));
    await expect(loadSafetensors(index, { backend })).rejects.toThrow(/"weight_map" object/);
    // One tensor mapped to two shards: which one holds it is ambiguous, not the last one's say.
    await writeFile(
      index,
      '{"weight_map": {"a": "model-00001-of-00002.safetensors", "a": "model-00002-of-00002.safetensors"}}',
    );
    await expect(loadSafetensors(index, { backend })).rejects.toThrow(
      /names "a" twice in one object \(a tensor mapped to two shards\?\)/,
    );
    expect(live()).toBe(before);
  });
});

describe('checkpoint folders', () => {
  test("model.safetensors, else its sharded index; with neither, the single file's error", async () => {
    const sharded = join(temp, 'folder-sharded');
    await writeShards(sharded);
    const fromIndex = await loadCheckpointTensors(sharded, { backend });
    expect([...fromIndex.keys()]).toEqual(['a', 'b', 'c']);
    for (const t of fromIndex.values()) t.dispose();

    const single = join(temp, 'folder-single');
    await mkdir(single, { recursive: true });
    await writeFile(join(single, 'open_clip_model.safetensors'), await readFile(FIXTURE));
    const own = await loadCheckpointTensors(pathToFileURL(single), {
      backend,
      file: 'open_clip_model.safetensors',
      filter: (n) => n === 'logit_scale',
    });
    expect([...own.keys()]).toEqual(['logit_scale']);
    for (const t of own.values()) t.dispose();

    const before = live();
    await expect(loadCheckpointTensors(single, { backend })).rejects.toThrow(
      /ENOENT.*folder-single.model\.safetensors/,
    );
    expect(live()).toBe(before);
    const aborted = new AbortController();
    aborted.abort();
    await expect(loadCheckpointTensors(sharded, { backend, signal: aborted.signal })).rejects.toThrow(
      expect.objectContaining({ name: 'AbortError' }),
    );
  });

  test('a damaged model.safetensors is reported as itself, not hidden behind a sharded index', async () => {
    const both = join(temp, 'folder-damaged');
    await writeShards(both);
    await writeFile(join(both, 'model.safetensors'), 'garbage');
    const before = live();
    await expect(loadCheckpointTensors(both, { backend })).rejects.toThrow(
      /folder-damaged.model\.safetensors.*7 bytes, too short/,
    );
    expect(live()).toBe(before);
  });

  test('a shard missing from a sharded folder is named, not reported as a missing model.safetensors', async () => {
    const gap = join(temp, 'folder-gap');
    await writeShards(gap);
    await rm(join(gap, 'model-00002-of-00002.safetensors'));
    const before = live();
    await expect(loadCheckpointTensors(gap, { backend })).rejects.toThrow(/ENOENT.*model-00002-of-00002/);
    expect(live()).toBe(before);
  });
});

describe('optional files', () => {
  test('loadFileIfExists / loadJsonIfExists: undefined only when the file is not there', async () => {
    const folder = join(temp, 'optional');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'good.json'), '{"a": 1}');
    await writeFile(join(folder, 'bad.json'), '{"a": ');
    expect(await loadJsonIfExists(join(folder, 'good.json'))).toEqual({ a: 1 });
    expect(await loadJsonIfExists(join(folder, 'missing.json'))).toBeUndefined();
    expect(await loadFileIfExists(join(folder, 'good.json', 'below-a-file'))).toBeUndefined(); // ENOTDIR
    await expect(loadJsonIfExists(join(folder, 'bad.json'))).rejects.toThrow(/bad\.json: not valid JSON/);
    const aborted = new AbortController();
    aborted.abort();
    await expect(loadFileIfExists(join(folder, 'missing.json'), { signal: aborted.signal })).rejects.toThrow(
      expect.objectContaining({ name: 'AbortError' }),
    );
    await expect(loadFile(join(folder, 'missing.json'))).rejects.toSatisfy(isNotFound);
    expect(isNotFound(new Error('disk on fire'))).toBe(false);
  });
});

describe('Blob and in-memory sources', () => {
  test('Blob, File, ArrayBuffer and an offset Uint8Array', async () => {
    const bytes = await readFile(FIXTURE);
    const exact = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const padded = new Uint8Array(bytes.byteLength + 3);
    padded.set(bytes, 3);
    const sources = [new Blob([bytes]), new File([bytes], 'clip.safetensors'), exact, padded.subarray(3)];
    for (const source of sources) {
      const progress: SafetensorsProgress[] = [];
      const { tensors, dispose } = await loadSafetensors(source, {
        backend,
        filter: (n) => n === 'logit_scale',
        onProgress: (p) => progress.push(p),
      });
      expect(await tensors.get('logit_scale')!.item()).toBeCloseTo(2.6592, 4);
      expect(progress.at(-1)).toMatchObject({ loaded: 750980, total: 750980 });
      dispose();
    }
  });

  test('an aborted signal and a missing backend are clear errors', async () => {
    const bytes = await readFile(FIXTURE);
    await expect(loadSafetensors(bytes, { backend, signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    await expect(loadSafetensors(bytes, {} as never)).rejects.toThrow(/options.backend is required/);
    await expect(loadSafetensors(42 as never, { backend })).rejects.toThrow(
      /source must be a path, URL, Blob or bytes .*, got the number 42/,
    );
  });
});

describe('sources as people pass them', () => {
  test('in Node a relative path may hold a colon; URLs need a known scheme or //', () => {
    expect(locateSource('step:1.safetensors')).toEqual({ kind: 'path', path: 'step:1.safetensors' });
    expect(locateSource('checkpoints/epoch:3/model.safetensors').kind).toBe('path');
    expect(locateSource('https://example.com/m.safetensors').kind).toBe('url');
    expect(locateSource('s3://bucket/m.safetensors').kind).toBe('url');
  });

  test("loadFile of bytes in memory gives a copy: writing to it leaves the caller's bytes alone", async () => {
    const mine = new Uint8Array([1, 2, 3]);
    const got = await loadFile(mine);
    got[0] = 99;
    expect(Array.from(mine)).toEqual([1, 2, 3]);
  });

  test('a sharded index given as a File says where its shards would have to come from', async () => {
    const index = new File(
      [JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors' } })],
      'model.safetensors.index.json',
    );
    await expect(loadSafetensors(index, { backend })).rejects.toThrow(
      /the shards of model\.safetensors\.index\.json cannot be located; load the index from a URL or a path/,
    );
  });

  test('saving a tensor under a key that is not a string is refused, naming the key', async () => {
    const t = tensor([1], [1], { backend });
    await expect(saveSafetensors(new Map([[1 as never, t]]))).rejects.toThrow(
      'saveSafetensors(): tensor names must be strings, got the key the number 1',
    );
    expect(() =>
      encodeSafetensors(new Map([[2 as never, { dtype: 'f32', shape: [1], data: new Float32Array(1) }]])),
    ).toThrow('encodeSafetensors(): tensor names must be strings');
    t.dispose();
  });
});

describe('Hugging Face Hub addresses', () => {
  const repo = 'https://huggingface.co/openai/clip-vit-base-patch32';
  test.each([
    ['hf://openai/clip-vit-base-patch32', `${repo}/resolve/main`],
    [
      String(joinSource('hf://openai/clip-vit-base-patch32', 'config.json')),
      `${repo}/resolve/main/config.json`,
    ],
    [
      String(joinSource('hf://openai/clip-vit-base-patch32@v2', 'x.safetensors')),
      `${repo}/resolve/v2/x.safetensors`,
    ],
    [String(joinSource(repo, 'config.json')), `${repo}/resolve/main/config.json`], // the page URL
    [`${repo}/tree/refs%2Fpr%2F1/config.json`, `${repo}/resolve/refs%2Fpr%2F1/config.json`],
    [`${repo}/blob/main/config.json`, `${repo}/resolve/main/config.json`],
    [`${repo}/resolve/main/config.json`, `${repo}/resolve/main/config.json`],
    [
      'https://huggingface.co/datasets/a/b/resolve/main/x.json',
      'https://huggingface.co/datasets/a/b/resolve/main/x.json',
    ],
    ['https://example.com/a/b/c.json', 'https://example.com/a/b/c.json'],
    // A page URL's query says nothing about the files; a one-word model's URLs stay its own.
    [String(joinSource(`${repo}?library=transformers`, 'config.json')), `${repo}/resolve/main/config.json`],
    [
      'https://huggingface.co/gpt2/resolve/main/config.json',
      'https://huggingface.co/gpt2/resolve/main/config.json',
    ],
    ['https://huggingface.co/gpt2/tree/main', 'https://huggingface.co/gpt2/resolve/main'],
    [
      String(joinSource('hf://openai/clip-vit-base-patch32@refs/pr/1', 'a.json')),
      `${repo}/resolve/refs%2Fpr%2F1/a.json`,
    ],
  ])('%s is read from %s', (given, served) => {
    expect(hubFileUrl(given)).toBe(served);
  });

  test('an hf:// address without an organization is refused; joining keeps a URL query', () => {
    expect(() => hubFileUrl('hf://gpt2')).toThrow(
      'hf://gpt2: an hf:// address names a model as hf://org/name[@revision][/file] (one-word models have an organization now, e.g. hf://openai-community/gpt2)',
    );
    // Joined onto hf://gpt2, config.json would read as the model's name: the join refuses it.
    expect(() => joinSource('hf://gpt2', 'config.json')).toThrow('hf://gpt2: an hf:// address names a model');
    // So is a one-word model's page: the file would read as the model's name there too.
    expect(() => joinSource('https://huggingface.co/gpt2', 'config.json')).toThrow(
      'https://huggingface.co/gpt2: a model folder on the Hub is https://huggingface.co/org/name',
    );
    expect(String(joinSource('https://example.com/m?sig=abc', 'config.json'))).toBe(
      'https://example.com/m/config.json?sig=abc',
    );
  });
});

describe('URLs', () => {
  let server: Server;
  let base: string;
  let fixture: Buffer;
  const requests: string[] = [];
  const heads: string[] = [];
  const shards = join(tmpdir(), `vl-safetensors-shards-${process.pid}`);

  beforeAll(async () => {
    fixture = await readFile(FIXTURE);
    await writeShards(shards);
    let flaky = 0;
    heads.length = 0;
    server = createServer((req, res) => {
      // Downloads only: the HEAD requests that ask whether a kept copy changed are counted apart.
      if (req.method === 'HEAD') heads.push(req.url ?? '/');
      else requests.push(req.url ?? '/');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'HEAD') {
        res.writeHead(200, { etag: '"v1"' }).end();
        return;
      }
      if (path === '/model.safetensors') {
        res.writeHead(200, { 'content-length': String(fixture.byteLength), etag: '"v1"' });
        // Several writes so the client sees several chunks.
        const step = 100_000;
        for (let at = 0; at < fixture.byteLength; at += step) res.write(fixture.subarray(at, at + step));
        res.end();
      } else if (path === '/liar.safetensors') {
        res.writeHead(200, { 'content-length': String(fixture.byteLength + 1000) });
        res.write(fixture, () => res.destroy());
      } else if (path === '/stall.safetensors') {
        res.writeHead(200, { 'content-length': String(fixture.byteLength) });
        res.write(fixture.subarray(0, 65536)); // and then nothing, until the client gives up
      } else if (path.startsWith('/sharded/')) {
        readFile(join(shards, path.slice('/sharded/'.length))).then(
          (body) => res.writeHead(200, { etag: '"v1"' }).end(body),
          () => res.writeHead(404).end(),
        );
      } else if (path === '/flaky/config.json') {
        // An error page served with status 200 first (a proxy's), then the real file.
        res.end(flaky++ === 0 ? '<html>502 Bad Gateway</html>' : '{"hidden_size": 8}');
      } else if (path === '/broken.json') {
        res.writeHead(500, 'Internal Server Error').end();
      } else res.writeHead(404, 'Not Found').end();
    });
    base = await listenLocal(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await rm(shards, { recursive: true, force: true });
  });

  test('streams with progress, caches, and serves the second load from the cache', async () => {
    const cacheDir = join(temp, 'cache-hit');
    const url = `${base}/model.safetensors`;
    const progress: SafetensorsProgress[] = [];
    const first = await loadSafetensors(url, { backend, cacheDir, onProgress: (p) => progress.push(p) });
    expect(first.tensors.size).toBe(78);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.every((p) => p.file === url && p.total === fixture.byteLength)).toBe(true);
    expect(progress.map((p) => p.loaded)).toEqual([...progress.map((p) => p.loaded)].sort((a, b) => a - b));
    expect(progress.at(-1)!.loaded).toBe(fixture.byteLength);
    const files = await dir(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{16}-model\.safetensors$/);

    const count = requests.length;
    const cachedProgress: SafetensorsProgress[] = [];
    const second = await loadSafetensors(new URL(url), {
      backend,
      cacheDir,
      onProgress: (p) => cachedProgress.push(p),
    });
    expect(requests.length).toBe(count);
    expect(cachedProgress.at(-1)).toEqual({
      file: url,
      loaded: fixture.byteLength,
      total: fixture.byteLength,
    });
    expect(await values(second.tensors.get('text_projection.weight'))).toEqual(
      await values(first.tensors.get('text_projection.weight')),
    );
    first.dispose();
    second.dispose();

    // A damaged cached copy is dropped and downloaded again.
    await writeFile(join(cacheDir, files[0]!), fixture.subarray(0, 1000));
    const third = await loadSafetensors(url, { backend, cacheDir });
    expect(requests.length).toBe(count + 1);
    expect(third.tensors.size).toBe(78);
    expect((await readFile(join(cacheDir, files[0]!))).byteLength).toBe(fixture.byteLength);
    third.dispose();

    // cache: false neither reads nor writes the cache.
    const fourth = await loadSafetensors(url, { backend, cacheDir: join(temp, 'unused'), cache: false });
    expect(requests.length).toBe(count + 2);
    expect(await dir(join(temp, 'unused'))).toEqual([]);
    fourth.dispose();
  });

  test('a download shorter than its Content-Length is an error and is not cached', async () => {
    const cacheDir = join(temp, 'cache-truncated');
    const before = live();
    await expect(loadSafetensors(`${base}/liar.safetensors`, { backend, cacheDir })).rejects.toThrow(
      new RegExp(
        // (How much arrives before the connection drops depends on timing.)
        `the download of ${base}/liar.safetensors was truncated: received \\d+ of the ${fixture.byteLength + 1000} bytes`,
      ),
    );
    expect(live()).toBe(before);
    expect(await dir(cacheDir)).toEqual([]);
  });

  test('an abort mid-stream rejects with an AbortError and caches nothing', async () => {
    const cacheDir = join(temp, 'cache-aborted');
    const controller = new AbortController();
    const before = live();
    const load = loadSafetensors(`${base}/stall.safetensors`, {
      backend,
      cacheDir,
      signal: controller.signal,
      onProgress: ({ loaded }) => loaded > 0 && controller.abort(),
    });
    await expect(load).rejects.toMatchObject({
      name: 'AbortError',
      message: expect.stringMatching(
        /the download of http:\/\/127\.0\.0\.1:\d+\/stall\.safetensors was aborted after \d+ of 750980 bytes/,
      ),
    });
    expect(live()).toBe(before);
    expect(await dir(cacheDir)).toEqual([]);
  });

  test('HTTP errors name the URL and status', async () => {
    await expect(loadSafetensors(`${base}/missing.safetensors`, { backend, cache: false })).rejects.toThrow(
      new RegExp(`could not fetch ${base}/missing.safetensors: HTTP 404 Not Found`),
    );
  });

  test('a server that cannot be reached is named with the reason, not only "fetch failed"', async () => {
    // A port that was just free and is closed again: the connection is refused.
    const probe = createServer();
    await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
    const { port } = probe.address() as AddressInfo;
    await new Promise((done) => probe.close(done));
    await expect(
      loadSafetensors(`http://127.0.0.1:${port}/m.safetensors`, { backend, cache: false }),
    ).rejects.toThrow(
      /could not fetch http:\/\/127\.0\.0\.1:\d+\/m\.safetensors: fetch failed \(.*ECONNREFUSED.*\)/,
    );
  });

  test('a 404 is a missing optional file; a server error is not', async () => {
    expect(await loadJsonIfExists(`${base}/missing.json`, { cache: false })).toBeUndefined();
    await expect(loadFileIfExists(`${base}/broken.json`, { cache: false })).rejects.toThrow(
      new RegExp(`could not fetch ${base}/broken.json: HTTP 500`),
    );
  });

  test('a JSON file that does not parse is not cached; a cached copy that does not is fetched again', async () => {
    const cacheDir = join(temp, 'cache-json');
    const url = `${base}/flaky/config.json`;
    await expect(loadJson(url, { cacheDir })).rejects.toThrow(/flaky\/config\.json: not valid JSON/);
    expect(await dir(cacheDir)).toEqual([]);
    expect(await loadJson(url, { cacheDir })).toEqual({ hidden_size: 8 });
    const [cached] = await dir(cacheDir);
    await writeFile(join(cacheDir, cached!), '<html>');
    expect(await loadJsonIfExists(url, { cacheDir })).toEqual({ hidden_size: 8 });
    expect(await readFile(join(cacheDir, cached!), 'utf8')).toBe('{"hidden_size": 8}');
  });

  test("a sharded index's query (a token) goes with its shards; %2e%2e cannot leave its folder", async () => {
    const url = `${base}/sharded/model.safetensors.index.json?token=abc`;
    const count = requests.length;
    const loaded = await loadSafetensors(url, { backend, cache: false });
    expect([...loaded.tensors.keys()]).toEqual(['a', 'b', 'c']);
    loaded.dispose();
    expect(requests.slice(count)).toEqual([
      '/sharded/model.safetensors.index.json?token=abc',
      '/sharded/model-00001-of-00002.safetensors?token=abc',
      '/sharded/model-00002-of-00002.safetensors?token=abc',
    ]);
    for (const name of ['%2e%2e/model.safetensors', 'a/.%2E/%2e./model.safetensors']) {
      await writeFile(
        join(shards, 'evil.safetensors.index.json'),
        JSON.stringify({ weight_map: { a: name } }),
      );
      await expect(
        loadSafetensors(`${base}/sharded/evil.safetensors.index.json`, { backend, cache: false }),
      ).rejects.toThrow(/shard names must be relative paths/);
    }
  });

  test('a sharded index resolves its shards relative to its URL, and is cached with them', async () => {
    const cacheDir = join(temp, 'cache-sharded');
    const url = `${base}/sharded/model.safetensors.index.json`;
    const first = await loadSafetensors(url, { backend, cacheDir });
    expect([...first.tensors.keys()]).toEqual(['a', 'b', 'c']);
    expect(await values(first.tensors.get('b'))).toEqual([3, 4, 5]);
    first.dispose();
    expect(await dir(cacheDir)).toHaveLength(3);
    const count = requests.length;
    const second = await loadSafetensors(url, { backend, cacheDir });
    expect(requests.length).toBe(count);
    second.dispose();
  });
});
