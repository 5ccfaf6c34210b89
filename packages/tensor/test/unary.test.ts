// Unary elementwise ops, cast and where on every backend against the CPU reference, their
// gradients (and binary ops' gradients) against finite differences, and their input errors.
import { describe, expect, test } from 'vitest';
import { f32ToBf16, f32ToF16 } from '../src/dtype.js';
import {
  abs,
  add,
  type Backend,
  cast,
  clamp,
  compare,
  cos,
  type DType,
  div,
  erf,
  exp,
  gelu,
  geluTanh,
  gradCheck,
  log,
  matmul,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  quickGelu,
  relu,
  rsqrt,
  scale,
  sigmoid,
  sign,
  silu,
  sin,
  sqrt,
  square,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  valueAndGrad,
  where,
} from '../src/index.node.js';
import { erfcRef, erfRef } from '../src/kernels/unary.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type KernelCase } from './util/checkKernel.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

const shapes = [[1], [17], [3, 65], [2, 3, 130]];

type Op = (x: Tensor) => Tensor;
const floatOps: [string, Op, [number, number]?, number?][] = [
  ['neg', neg],
  ['exp', exp, [-10, 10]],
  ['log', log, [0.01, 50]],
  ['sqrt', sqrt, [0, 50]],
  ['rsqrt', rsqrt, [0.01, 50]],
  ['abs', abs],
  ['sign', sign],
  ['tanh', tanh, [-12, 12]],
  ['sigmoid', sigmoid, [-40, 40]],
  ['relu', relu],
  ['erf', erf, [-5, 5], 1e-6],
  ['gelu', gelu, [-8, 8], 1e-6],
  ['geluTanh', geluTanh, [-8, 8]],
  ['quickGelu', quickGelu, [-8, 8]],
  ['silu', silu, [-20, 20]],
  ['square', square],
  ['sin', sin, [-100, 100]],
  ['cos', cos, [-100, 100]],
  ['clamp', (x) => clamp(x, -0.5, 1.25)],
  ['scale', (x) => scale(x, 1.5, -0.25)],
];

const cases: KernelCase[] = [];
for (const shape of shapes) {
  for (const [name, run, range, tol] of floatOps) {
    cases.push({
      name: `${name} ${JSON.stringify(shape)}`,
      inputs: [{ shape, range }],
      run,
      atol: tol ?? 1e-5,
      rtol: tol ?? 1e-5,
    });
  }
  for (const [name, run] of [
    ['neg', neg],
    ['abs', abs],
    ['sign', sign],
  ] as const) {
    cases.push({
      name: `${name} i32 ${JSON.stringify(shape)}`,
      inputs: [{ shape, dtype: 'i32', range: [-1000, 1000] }],
      run,
    });
  }
}

// Values where naive formulas overflow, cancel, or hit driver-specific builtins.
const extremes = Float32Array.from([
  0, -0, 1e-30, -1e-30, 1e-6, -1e-6, 0.29, -0.31, 0.5, -0.5, 3, -3, 15, -15, 44, -44, 89, -89, 100, -100, 1e4,
  -1e4, 1e30, -1e30,
]);
const extremeCases: KernelCase[] = [
  { name: 'tanh extremes', inputs: [{ shape: [extremes.length], data: extremes }], run: tanh },
  { name: 'sigmoid extremes', inputs: [{ shape: [extremes.length], data: extremes }], run: sigmoid },
  { name: 'silu extremes', inputs: [{ shape: [extremes.length], data: extremes }], run: silu },
  { name: 'quickGelu extremes', inputs: [{ shape: [extremes.length], data: extremes }], run: quickGelu },
  {
    name: 'geluTanh extremes',
    inputs: [{ shape: [extremes.length], data: extremes }],
    run: geluTanh,
    atol: 1e-6,
  },
  { name: 'gelu extremes', inputs: [{ shape: [extremes.length], data: extremes }], run: gelu, atol: 1e-6 },
  {
    name: 'erf extremes',
    inputs: [{ shape: [extremes.length], data: extremes }],
    run: erf,
    atol: 1e-6,
    rtol: 0,
  },
  {
    name: 'sin/cos large arguments',
    inputs: [{ shape: [5], data: Float32Array.from([1000.5, -2999.25, 1234.5678, 0.785, 1.5707964]) }],
    run: (x) => [sin(x), cos(x)],
    atol: 2e-6,
  },
  {
    name: 'log/sqrt/rsqrt at 0 and below',
    inputs: [{ shape: [3], data: Float32Array.from([0, -1, 4]) }],
    run: (x) => [log(x), sqrt(x), rsqrt(x)],
  },
];

// Dense erf grid: the WGSL approximation must stay within 1e-6 (absolute) of a double erf.
const grid = Float32Array.from({ length: 2401 }, (_, i) => -6 + i * 0.005);

describe('unary kernels', () => {
  test.each([...cases, ...extremeCases].map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('erf stays within 1e-6 of a double-precision erf on every backend', async () => {
    const want = Float64Array.from(grid, (v) => erfRef(v));
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const got = await erf(tensor(grid, [grid.length], { backend })).read();
      let worst = 0;
      for (let i = 0; i < grid.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst, `erf on ${label}`).toBeLessThan(label === 'tfjs-cpu' ? 2e-6 : 1e-6);
    }
  });

  test('the reference erf matches known values', () => {
    expect(erfRef(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erfRef(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erfRef(-2.5)).toBeCloseTo(-0.999593047982555, 14);
    expect(erfcRef(3) / 2.209049699858544e-5).toBeCloseTo(1, 12);
    expect(erfcRef(5) / 1.5374597944280349e-12).toBeCloseTo(1, 12);
    expect(erfRef(0)).toBe(0);
  });

  test('tanh and sigmoid of huge inputs are exact limits, not NaN', async () => {
    for (const { label, backend } of others) {
      const x = tensor([1e30, -1e30, 1e4, -1e4], [4], { backend });
      expect([...(await tanh(x).read())], label).toEqual([1, -1, 1, -1]);
      expect([...(await sigmoid(x).read())], label).toEqual([1, 0, 1, 0]);
    }
  });

  // On the CPU backends (the CPU one takes a bit-mask path) and WebGPU, which tests a NaN's bits;
  // GPUs may flush subnormals, so WebGPU is held to everything but those.
  test('relu of special values: NaN kept (of either sign), -0 and negatives to +0, subnormals kept', async () => {
    const negativeNaN = new Float32Array(new Int32Array([0xffc00000 | 0]).buffer)[0]!;
    const values = [Number.NaN, negativeNaN, -0, 0, -1, 1, Infinity, -Infinity, 1e-40, -1e-40, 3.5, -3.5];
    const expected = [Number.NaN, Number.NaN, 0, 0, 0, 1, Infinity, 0, 1e-40, 0, 3.5, 0];
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const got = [...(await relu(tensor(values, [values.length], { backend })).read())];
      const fused = [
        ...(await matmul(tensor(values, [values.length, 1], { backend }), tensor([1], [1, 1], { backend }), {
          activation: 'relu',
        }).read()),
      ];
      [...got, ...fused].forEach((v, j) => {
        const i = j % values.length;
        if (label.startsWith('webgpu') && Math.abs(values[i]!) === 1e-40) return; // may be flushed
        const want = Math.fround(expected[i]!);
        if (Number.isNaN(want)) expect(v, `${label} relu(${values[i]})`).toBeNaN();
        else expect(Object.is(v, want), `${label} relu(${values[i]}) = ${v}, want ${want}`).toBe(true);
      });
    }
  });

  test('bad inputs name the op, the input and its dtype/shape', () => {
    const i = tensor(new Int32Array([1, 2]), [2], { backend: reference });
    expect(() => exp(i)).toThrow('exp: x must be f32, got i32[2]');
    expect(() => gelu(cast(i, 'f16'))).toThrow('gelu: x must be f32, got f16[2]; cast to f32 first');
    const x = tensor([1, 2], [2], { backend: reference });
    expect(() => clamp(x, 2, 1)).toThrow('clamp: min (2) must not exceed max (1) for x f32[2]');
    expect(() => scale(x, Number.NaN)).toThrow(
      'scale: alpha (NaN) and beta (0) must be finite numbers (x f32[2])',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// cast

const DTYPES: DType[] = ['f32', 'i32', 'u32', 'bool', 'f16', 'bf16'];
const SIZE = 37; // odd: the last packed f16 word holds one element

function castSource(
  dtype: DType,
  next: () => number,
): Uint16Array | Float32Array | Int32Array | Uint32Array | Uint8Array {
  const special = [
    0,
    -0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    -0.7,
    65504,
    65520,
    1e-7,
    2 ** -25,
    3e9,
    -3e9,
    5e9,
    1e20,
    Infinity,
    -Infinity,
    Number.NaN,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
  ];
  const floats = Float32Array.from(
    { length: SIZE },
    (_, i) => special[i] ?? (next() - 0.5) * 10 ** Math.floor(next() * 8 - 3),
  );
  switch (dtype) {
    case 'f32':
      return floats;
    case 'f16':
      return Uint16Array.from(floats, f32ToF16);
    case 'bf16':
      return Uint16Array.from(floats, f32ToBf16);
    case 'i32':
      return Int32Array.from(
        { length: SIZE },
        (_, i) =>
          [-2147483648, 2147483647, 16777217, -16777217, 0, -1][i] ?? Math.floor((next() - 0.5) * 2e6),
      );
    case 'u32':
      return Uint32Array.from(
        { length: SIZE },
        (_, i) => [4294967295, 2147483648, 16777217, 0, 1][i] ?? Math.floor(next() * 4e9),
      );
    case 'bool':
      return randomArray(SIZE, 'bool', next) as Uint8Array;
    default:
      throw new Error(`no cast source for ${dtype}`);
  }
}

describe('cast', () => {
  const castCases: KernelCase[] = [];
  for (const from of DTYPES) {
    for (const to of DTYPES) {
      castCases.push({
        name: `cast ${from} -> ${to}`,
        inputs: [{ shape: [SIZE], dtype: from, data: castSource(from, rng(DTYPES.indexOf(from) * 7 + 1)) }],
        run: (x) => cast(x, to),
        atol: 0,
        rtol: 0,
      });
    }
  }
  test.each(castCases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('cast rounds to nearest even and saturates', async () => {
    const x = tensor([2.5, -2.7, 3e9, -3e9, Number.NaN, 1 + 2 ** -11, 1 + 3 * 2 ** -11], [7], {
      backend: reference,
    });
    expect([...(await cast(x, 'i32').read())]).toEqual([2, -2, 2147483647, -2147483648, 0, 1, 1]);
    expect([...(await cast(x, 'u32').read())]).toEqual([2, 0, 3000000000, 0, 0, 1, 1]);
    const half = await cast(x, 'f16').read();
    expect(half[5]).toBe(0x3c00); // 1 + 2^-11 is halfway: ties to even (1.0)
    expect(half[6]).toBe(0x3c02); // 1 + 3 * 2^-11: ties to even (1 + 2^-9)
  });

  test('cast rejects unknown dtypes', () => {
    const x = tensor([1], [1], { backend: reference });
    expect(() => cast(x, 'f64' as DType)).toThrow('cast: unknown dtype "f64"');
  });
});

// ---------------------------------------------------------------------------------------------
// where

describe('where', () => {
  const whereShapes: [number[], number[], number[]][] = [
    [[7], [7], [7]],
    [[3, 1], [1, 5], [5]],
    [[2, 1, 4], [3, 1], []],
    [[1], [65, 3], [65, 1]],
  ];
  const whereCases: KernelCase[] = [];
  for (const [c, a, b] of whereShapes) {
    for (const dtype of ['f32', 'i32'] as const) {
      whereCases.push({
        name: `where ${dtype} ${JSON.stringify([c, a, b])}`,
        inputs: [
          { shape: c, dtype: 'bool' },
          { shape: a, dtype },
          { shape: b, dtype },
        ],
        run: (cond, x, y) => where(cond!, x!, y!),
      });
    }
  }
  test.each(whereCases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('where errors name the inputs and shapes', () => {
    const cond = tensor(new Uint8Array([1, 0]), [2], { backend: reference });
    const a = tensor([1, 2], [2], { backend: reference });
    const b3 = tensor([1, 2, 3], [3], { backend: reference });
    const i = tensor(new Int32Array([1, 2]), [2], { backend: reference });
    expect(() => where(a, a, a)).toThrow('where: cond must be bool, got f32[2]');
    expect(() => where(cond, a, i)).toThrow('where: a and b must have the same dtype, got f32[2] and i32[2]');
    expect(() => where(cond, a, b3)).toThrow('shapes [2] and [3] cannot be broadcast together');
    const c3 = tensor(new Uint8Array([1, 0, 1]), [3], { backend: reference });
    expect(() => where(c3, a, a)).toThrow('where: cond [3], a [2] and b [2] cannot be broadcast together');
  });
});

// ---------------------------------------------------------------------------------------------
// Gradients: finite differences on the reference backend, and the same analytic gradients on
// every backend.

/** Shuffled values on a grid 0.25 apart around 0 (+ `offset`), so kinks (relu at 0, clamp bounds, ties of max) stay farther than eps away. */
function spread(size: number, next: () => number, offset = 0): Float32Array {
  const order = Array.from({ length: size }, (_, i) => i).sort(() => next() - 0.5);
  return Float32Array.from(
    order,
    (k) => (k - Math.floor(size / 2)) * 0.25 + 0.07 + offset + (next() - 0.5) * 0.02,
  );
}

interface GradCase {
  name: string;
  inputs: { shape: number[]; range?: [number, number]; spread?: number }[];
  f: (...xs: Tensor[]) => Tensor;
}

const KINKED = new Set(['abs', 'sign', 'relu', 'clamp']);
const gradCases: GradCase[] = [
  ...floatOps.map(
    ([name, f, range]): GradCase => ({
      name,
      inputs: [
        {
          shape: [2, 3],
          range: name === 'exp' ? [-2, 2] : range && range[0] >= 0 ? [0.5, 3] : [-3, 3],
          spread: KINKED.has(name) ? 0 : undefined,
        },
      ],
      f: name === 'clamp' ? (x) => clamp(x, -0.45, 0.5) : f,
    }),
  ),
  { name: 'add', inputs: [{ shape: [2, 3] }, { shape: [3] }], f: add },
  { name: 'sub', inputs: [{ shape: [2, 1] }, { shape: [2, 3] }], f: sub },
  { name: 'mul', inputs: [{ shape: [2, 3] }, { shape: [1, 3] }], f: mul },
  { name: 'div', inputs: [{ shape: [2, 3] }, { shape: [3], range: [0.5, 2] }], f: div },
  {
    name: 'pow',
    inputs: [
      { shape: [2, 3], range: [0.5, 2] },
      { shape: [3], range: [-1, 2] },
    ],
    f: pow,
  },
  // b sits half a grid step off a's grid: no pair ties within eps.
  {
    name: 'maximum',
    inputs: [
      { shape: [2, 3], spread: 0 },
      { shape: [2, 3], spread: 0.125 },
    ],
    f: maximum,
  },
  {
    name: 'minimum',
    inputs: [
      { shape: [2, 3], spread: 0 },
      { shape: [3], spread: 0.125 },
    ],
    f: minimum,
  },
  {
    name: 'where',
    inputs: [
      { shape: [2, 3], spread: 0 },
      { shape: [3], spread: 0.125 },
    ],
    f: (a, b) => where(compare('greater', a!, b!), mul(a!, a!), b!),
  },
  { name: 'cast f32 -> f32', inputs: [{ shape: [4] }], f: (x) => mul(cast(x, 'f32'), x) },
];

function gradInputs(c: GradCase, backend: Backend, seed: number): Tensor[] {
  const next = rng(seed);
  return c.inputs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const data =
      s.spread !== undefined
        ? spread(size, next, s.spread)
        : randomArray(size, 'f32', next, s.range ?? [-2, 2]);
    return tensor(data, s.shape, { backend });
  });
}

describe('gradients', () => {
  test.each(gradCases.map((c) => [c.name, c] as const))('%s matches finite differences', async (_, c) => {
    const seed = freshSeed();
    const r = await gradCheck(c.f, gradInputs(c, reference, seed));
    expect(r.ok, `${r.message} (seed ${seed})`).toBe(true);
  });

  test.each(gradCases.map((c) => [c.name, c] as const))(
    '%s gradients agree across backends',
    async (_, c) => {
      await checkKernelCase(
        {
          name: `grad ${c.name}`,
          inputs: c.inputs.map((s) => ({ shape: s.shape, range: s.range ?? [-2, 2] })),
          run: (...xs) => valueAndGrad(() => sum(square(c.f(...xs))), xs).grads,
          atol: 1e-4,
          rtol: 1e-4,
        },
        reference,
        others,
        freshSeed(),
      );
    },
  );

  test('comparisons and integer ops pass no gradient', async () => {
    const x = tensor([1, 2], [2], { backend: reference });
    const { grads } = valueAndGrad(() => sum(cast(compare('less', x, x), 'f32')), [x]);
    expect([...(await grads[0]!.read())]).toEqual([0, 0]);
  });
});
