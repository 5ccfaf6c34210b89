// tensor(), full(), arange() and the backends' upload on bad or surprising input: data is copied
// (never aliased), f16/bf16 from numbers are values (a Uint16Array is bits), integer and bool
// dtypes reject values they cannot hold, and every error names the problem.
import { describe, expect, test } from 'vitest';
import { arange, cast, full, ones, type TensorOptions, tensor, zeros } from '../src/index.node.js';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../src/dtype.js';
import { suiteBackends } from './util/backends.js';

const { reference, others } = await suiteBackends();
const all = [{ label: 'reference', backend: reference }, ...others];

describe('tensor() copies its data', () => {
  const cases = [
    { dtype: 'f32', make: () => new Float32Array([1, 2, 3]), poke: 99 },
    { dtype: 'i32', make: () => new Int32Array([1, 2, 3]), poke: 99 },
    { dtype: 'u32', make: () => new Uint32Array([1, 2, 3]), poke: 99 },
    { dtype: 'bool', make: () => new Uint8Array([1, 0, 1]), poke: 0 },
    { dtype: 'f16', make: () => Uint16Array.from([1, 2, 3], f32ToF16), poke: f32ToF16(99) },
  ] as const;
  for (const { label, backend } of all) {
    for (const c of cases) {
      test(`${label}: ${c.dtype} data changed after tensor() does not change the tensor`, async () => {
        const data = c.make();
        const before = Array.from(data);
        const t = tensor(data, [3], { backend, dtype: c.dtype });
        data[0] = c.poke;
        expect(Array.from(await t.read())).toEqual(before);
        t.dispose();
      });
    }
    test(`${label}: q8 words changed after tensor() do not change the tensor`, async () => {
      const words = new Uint32Array(8 + 1);
      words.fill(0x01020304, 0, 8);
      words[8] = new Uint32Array(new Float32Array([0.5]).buffer)[0]!;
      const before = Array.from(words);
      const t = tensor(words, [1, 32], { backend, dtype: 'q8' });
      words[0] = 0;
      expect(Array.from(await t.read())).toEqual(before);
      t.dispose();
    });
  }
});

describe('f16 and bf16 from numbers are values, from a Uint16Array bits', () => {
  for (const { label, backend } of all) {
    const o: TensorOptions = { backend };
    test(`${label}: tensor() rounds numbers and Float32Arrays to halves, keeps Uint16Array bits`, async () => {
      for (const dtype of ['f16', 'bf16'] as const) {
        for (const data of [
          [1.5, 2, -0.25],
          new Float32Array([1.5, 2, -0.25]),
          new Float64Array([1.5, 2, -0.25]),
        ]) {
          // Float64Array is not in TensorData's type, but JavaScript callers pass one.
          const t = tensor(data as Float32Array, [3], { ...o, dtype });
          const y = cast(t, 'f32');
          expect(Array.from(await y.read()), `${dtype} from ${data.constructor.name}`).toEqual([
            1.5, 2, -0.25,
          ]);
          t.dispose();
          y.dispose();
        }
      }
      const h = tensor([1 / 3], [1], { ...o, dtype: 'f16' });
      expect(Array.from(await h.read())).toEqual([f32ToF16(1 / 3)]);
      h.dispose();
      // A Uint16Array stays raw bits.
      const bits = Uint16Array.from([1.5, -3], f32ToF16);
      const t = tensor(bits, [2], { ...o, dtype: 'f16' });
      expect(Array.from(await t.read())).toEqual(Array.from(bits));
      const b = tensor(Uint16Array.from([1.5, -3], f32ToBf16), [2], { ...o, dtype: 'bf16' });
      const y = cast(b, 'f32');
      expect(Array.from(await y.read())).toEqual([1.5, -3]);
      for (const x of [t, b, y]) x.dispose();
    });
    test(`${label}: full() with f16/bf16 fills with the value`, async () => {
      for (const dtype of ['f16', 'bf16'] as const) {
        const t = full([2], 1.5, { ...o, dtype });
        const y = cast(t, 'f32');
        expect(Array.from(await y.read()), dtype).toEqual([1.5, 1.5]);
        t.dispose();
        y.dispose();
      }
      const one = ones([2], { ...o, dtype: 'f16' });
      expect(Array.from(await one.read()).map(f16ToF32)).toEqual([1, 1]);
      one.dispose();
    });
  }
});

describe('values a dtype cannot hold are rejected', () => {
  const o = { backend: reference };
  test('i32 and u32 need integers in range', async () => {
    expect(() => tensor([1.5, 2 ** 40, Number.NaN], [3], { ...o, dtype: 'i32' })).toThrow(
      /tensor\(\): value 1\.5 at index 0 is not an i32 \(integers in \[-2\^31, 2\^31\)\)/,
    );
    expect(() => tensor([1, 2 ** 40], [2], { ...o, dtype: 'i32' })).toThrow(/value 1099511627776 at index 1/);
    expect(() => tensor([0, Number.NaN], [2], { ...o, dtype: 'i32' })).toThrow(/value NaN at index 1/);
    expect(() => tensor(new Uint32Array([4294967295]), [1], { ...o, dtype: 'i32' })).toThrow(
      /value 4294967295 at index 0 is not an i32/,
    );
    expect(() => tensor(new Float32Array([0, 0.5]), [2], { ...o, dtype: 'i32' })).toThrow(RangeError);
    expect(() => tensor([3, -1], [2], { ...o, dtype: 'u32' })).toThrow(
      /value -1 at index 1 is not a u32 \(integers in \[0, 2\^32\)\)/,
    );
    expect(() => tensor(new Int32Array([-2]), [1], { ...o, dtype: 'u32' })).toThrow(RangeError);
    expect(() => full([1], 1e10, { ...o, dtype: 'i32' })).toThrow(
      /full\(\): value 10000000000 is not an i32/,
    );
    expect(() => full([1], 0.5, { ...o, dtype: 'u32' })).toThrow(/full\(\): value 0\.5 is not a u32/);
    // In-range integers (and booleans) convert.
    const a = tensor([-(2 ** 31), 2 ** 31 - 1, true] as never, [3], { ...o, dtype: 'i32' });
    expect(Array.from(await a.read())).toEqual([-(2 ** 31), 2 ** 31 - 1, 1]);
    const b = tensor(new Float64Array([0, 2 ** 32 - 1]) as never, [2], { ...o, dtype: 'u32' });
    expect(Array.from(await b.read())).toEqual([0, 2 ** 32 - 1]);
    const c = tensor(new Uint8Array([200, 3]), [2], { ...o, dtype: 'i32' });
    expect(Array.from(await c.read())).toEqual([200, 3]);
    const d = full([2], 2 ** 31 - 1, { ...o, dtype: 'i32' });
    expect(Array.from(await d.read())).toEqual([2 ** 31 - 1, 2 ** 31 - 1]);
    for (const t of [a, b, c, d]) t.dispose();
  });

  test('bool takes 0, 1, true and false only', async () => {
    expect(() => tensor([2, -1, 0.5], [3], { ...o, dtype: 'bool' })).toThrow(
      /tensor\(\): value 2 at index 0 is not a bool \(0, 1, true or false\)/,
    );
    expect(() => tensor([1, 0.5], [2], { ...o, dtype: 'bool' })).toThrow(/value 0\.5 at index 1/);
    expect(() => tensor(new Uint8Array([0, 255]), [2], o)).toThrow(/value 255 at index 1 is not a bool/);
    expect(() => full([2], 2, { ...o, dtype: 'bool' })).toThrow(/full\(\): value 2 is not a bool/);
    const t = tensor([true, false, 1, 0] as never, [4], { ...o, dtype: 'bool' });
    expect(Array.from(await t.read())).toEqual([1, 0, 1, 0]);
    const m = full([2], 1, { ...o, dtype: 'bool' });
    expect(Array.from(await m.read())).toEqual([1, 1]);
    t.dispose();
    m.dispose();
  });

  test('nested arrays, strings and other non-numbers in data are TypeErrors', () => {
    expect(() =>
      tensor(
        [
          [1, 2],
          [3, 4],
        ] as never,
        [2],
        o,
      ),
    ).toThrow(/tensor\(\): data\[0\] is an array; pass flat data with the shape/);
    expect(() =>
      tensor(
        [
          [1, 2],
          [3, 4],
        ] as never,
        [2, 2],
        o,
      ),
    ).toThrow(TypeError);
    expect(() => tensor([1, [2]] as never, [2], o)).toThrow(/data\[1\] is an array/);
    expect(() => tensor('abc' as never, [3], o)).toThrow(
      /tensor\(\): data must be an array or typed array of values for shape \[3\], got the string "abc"/,
    );
    expect(() => tensor([1, '2'] as never, [2], o)).toThrow(/data\[1\] is the string "2", not a number/);
    expect(() => tensor([1, null] as never, [2], o)).toThrow(/data\[1\] is null/);
    expect(() => tensor(new ArrayBuffer(4) as never, [1], o)).toThrow(/got a ArrayBuffer; wrap the bytes/);
    expect(() => tensor(new DataView(new ArrayBuffer(4)) as never, [1], o)).toThrow(/got a DataView/);
  });

  test('arange needs finite arguments, integers for an integer dtype', async () => {
    expect(() => arange(0, 2, 0.5, o)).toThrow(
      /arange\(\): step 0\.5 is not an integer, and the dtype is i32/,
    );
    expect(() => arange(0.5, 2, 1, o)).toThrow(/start 0\.5 is not an integer/);
    expect(() => arange(0, Number.POSITIVE_INFINITY, 1, o)).toThrow(
      /end must be a finite number, got the number Infinity/,
    );
    expect(() => arange(Number.NaN, 2, 1, o)).toThrow(/start must be a finite number/);
    expect(() => arange(0, 2, 1, { ...o, dtype: 'q8' })).toThrow(/quantizeWeight/);
    const f = arange(0, 2, 0.5, { ...o, dtype: 'f32' });
    expect(Array.from(await f.read())).toEqual([0, 0.5, 1, 1.5]);
    const i = arange(5, 0, -2, o);
    expect(Array.from(await i.read())).toEqual([5, 3, 1]);
    f.dispose();
    i.dispose();
  });
});

describe('error messages name the problem', () => {
  const o = { backend: reference };
  test('missing data or options', () => {
    expect(() => tensor(null as never, [1], o)).toThrow(/tensor\(\): data is missing \(got null\)/);
    expect(() => tensor(undefined as never, [1], o)).toThrow(/data is missing \(got undefined\)/);
    expect(() => (tensor as (...a: unknown[]) => unknown)([1], [1])).toThrow(
      /tensor\(\): options with a backend are required/,
    );
    expect(() => (full as (...a: unknown[]) => unknown)([1], 0)).toThrow(/full\(\): options with a backend/);
    expect(() => tensor([1], [1], {} as never)).toThrow(/options\.backend is required/);
    expect(() => (arange as (...a: unknown[]) => unknown)(0, 2, 1)).toThrow(
      /arange\(\): options with a backend/,
    );
    // A misspelt dtype used to make an f32 tensor without a word.
    const backend = o.backend;
    expect(() => tensor([1], [1], { backend, dtyp: 'i32' } as never)).toThrow(
      'tensor(): unknown option "dtyp" (expected backend, dtype)',
    );
    expect(() => full([1], 1, { backend, type: 'i32' } as never)).toThrow('full(): unknown option "type"');
  });

  test('a scalar number is not data', () => {
    expect(() => tensor(5 as never, [], o)).toThrow(
      /data must be an array or typed array .* got the number 5; for a scalar pass \[5\] with shape \[\]/,
    );
  });

  test('tensors too big to allocate say how big', () => {
    expect(() => full([1e6, 1e6], 0, o)).toThrow(
      /full\(\): the f32\[1000000, 1000000\] tensor would have 1000000000000 elements .* more than can be allocated/,
    );
    expect(() => zeros([1e6, 1e6], o)).toThrow(/zeros\(\): .* 1000000000000 elements/);
    expect(() => arange(0, 1e12, 1, o)).toThrow(
      /arange\(\): the i32\[1000000000000\] tensor would have 1000000000000 elements/,
    );
  });

  test('q8 tensors come from quantizeWeight', () => {
    expect(() => full([1, 32], 0, { ...o, dtype: 'q8' })).toThrow(
      /q8 tensors hold block-quantized weights; make one with quantizeWeight/,
    );
    expect(() => tensor([1, 2], [1, 32], { ...o, dtype: 'q4' })).toThrow(/quantizeWeight/);
  });

  test('shapes print NaN and Infinity as such', () => {
    expect(() => tensor([1], [Number.NaN], o)).toThrow(
      /tensor\(\): shape \[NaN\] has an invalid dimension NaN at axis 0/,
    );
    expect(() => full([2, Number.POSITIVE_INFINITY], 0, o)).toThrow(
      /shape \[2, Infinity\] has an invalid dimension Infinity at axis 1/,
    );
    expect(() => full([-1], 0, o)).toThrow(/full\(\): shape \[-1\]/);
  });

  test('an unknown dtype is named by the function called', () => {
    expect(() => full([1], 0, { ...o, dtype: 'f64' as never })).toThrow(/full\(\): unknown dtype "f64"/);
    expect(() => arange(0, 1, 1, { ...o, dtype: 'f64' as never })).toThrow(/arange\(\): unknown dtype "f64"/);
  });
});
