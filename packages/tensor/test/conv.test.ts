import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gradCheck } from '../src/autograd/gradCheck.js';
import { f32ToF16 } from '../src/dtype.js';
import {
  type Conv2dOptions,
  conv2d,
  maxPool2d,
  runKernel,
  setMatmulWebGpuConfig,
  type Tensor,
  tensor,
  upsampleNearest,
} from '../src/index.node.js';
import {
  conv2dAttrs,
  conv2dGradFilterKernel,
  conv2dGradInputKernel,
  conv2dKernel,
} from '../src/kernels/conv2d.js';
import { DEFAULT_LARGE, DEFAULT_SMALL } from '../src/kernels/matmul/config.js';
import { maxPool2dGradKernel } from '../src/kernels/maxPool2d.js';
import { setConvTileFloats } from '../src/backends/cpu/conv2dIm2col.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type KernelCase } from './util/checkKernel.js';
import { expectClose } from './util/compare.js';
import { freshSeed, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

/** A conv config: x shape, w shape, bias or not, options. */
type ConvConfig = [name: string, x: number[], w: number[], bias: boolean, options: Conv2dOptions];

const convs: ConvConfig[] = [
  ['3x3 pad 1 (gemm)', [2, 3, 17, 13], [20, 3, 3, 3], true, { padding: 1 }],
  [
    '3x3 stride 2 pad 1, 65 filters (two channel tiles)',
    [1, 4, 9, 11],
    [65, 4, 3, 3],
    false,
    { stride: 2, padding: 1 },
  ],
  ['5x5 same', [1, 3, 13, 15], [16, 3, 5, 5], true, { padding: 'same' }],
  ['7x7 stride 2 pad 3', [1, 3, 33, 33], [17, 3, 7, 7], true, { stride: 2, padding: 3 }],
  ['1x1 (matmul fast path)', [2, 33, 5, 7], [17, 33, 1, 1], true, {}],
  ['1x1 stride 2', [1, 8, 9, 9], [16, 8, 1, 1], false, { stride: 2 }],
  ['groups 2', [1, 6, 9, 9], [32, 3, 3, 3], true, { groups: 2, padding: 1 }],
  ['depthwise 3x3 (direct)', [2, 8, 10, 9], [8, 1, 3, 3], true, { groups: 8, padding: 1 }],
  ['dilation 2 (direct)', [1, 3, 17, 15], [5, 3, 3, 3], false, { dilation: 2, padding: 2 }],
  [
    'dilation [2, 1] stride 2 same',
    [1, 4, 17, 17],
    [16, 4, 3, 3],
    true,
    { dilation: [2, 1], stride: 2, padding: 'same' },
  ],
  ['3x1 kernel padding [1, 0]', [1, 4, 7, 6], [16, 4, 3, 1], false, { padding: [1, 0] }],
  ['patch embed 16/16 on 3x48x48', [1, 3, 48, 48], [32, 3, 16, 16], true, { stride: 16 }],
  ['patch embed 16/16, cropped 2x3x50x49', [2, 3, 50, 49], [8, 3, 16, 16], false, { stride: 16 }],
  ['patch embed 32/32', [1, 3, 64, 64], [16, 3, 32, 32], true, { stride: 32 }],
  // The im2col GEMM over several tiles of channels, pixels and K, with and without vec4 stores.
  ['3x3 pad 1, 70 filters, 399 pixels', [2, 24, 19, 21], [70, 24, 3, 3], true, { padding: 1 }],
  ['3x3 pad 1, 40 filters, 256 pixels', [3, 16, 16, 16], [40, 16, 3, 3], true, { padding: 1 }],
];

const cases: KernelCase[] = convs.map(([name, x, w, bias, options]) => ({
  name: `conv2d ${name}`,
  inputs: bias ? [{ shape: x }, { shape: w }, { shape: [w[0]!] }] : [{ shape: x }, { shape: w }],
  run: (xt, wt, bt) => conv2d(xt!, wt!, bt, options),
  atol: 1e-4,
  rtol: 1e-4,
}));

// The gradient kernels on their own, for every backend (the FD checks below run on the reference).
for (const [name, x, w, , options] of convs.slice(0, 11)) {
  const attrs = conv2dAttrs(w, options);
  const [n, o] = [x[0]!, w[0]!];
  const oh =
    Math.floor((x[2]! + 2 * attrs.padding[0] - attrs.dilation[0] * (w[2]! - 1) - 1) / attrs.stride[0]) + 1;
  const ow =
    Math.floor((x[3]! + 2 * attrs.padding[1] - attrs.dilation[1] * (w[3]! - 1) - 1) / attrs.stride[1]) + 1;
  const dy = [n, o, oh, ow];
  cases.push({
    name: `conv2dGradInput ${name}`,
    inputs: [{ shape: dy }, { shape: w }],
    run: (d, wt) => runKernel(conv2dGradInputKernel, [d!, wt!], { ...attrs, shape: x }),
    atol: 1e-4,
    rtol: 1e-4,
  });
  cases.push({
    name: `conv2dGradFilter ${name}`,
    inputs: [{ shape: x }, { shape: dy }],
    run: (xt, d) => runKernel(conv2dGradFilterKernel, [xt!, d!], { ...attrs, shape: w }),
    atol: 1e-3,
    rtol: 1e-4,
  });
}

const pools: [
  string,
  number[],
  number | [number, number],
  number | [number, number],
  number | [number, number],
][] = [
  ['2x2 stride 2', [2, 3, 9, 11], 2, 2, 0],
  ['3x3 stride 2 pad 1', [1, 4, 17, 13], 3, 2, 1],
  ['[3, 2] stride [1, 2] pad [1, 0]', [1, 2, 7, 9], [3, 2], [1, 2], [1, 0]],
];
for (const [name, x, k, s, p] of pools) {
  cases.push({ name: `maxPool2d ${name}`, inputs: [{ shape: x }], run: (xt) => maxPool2d(xt!, k, s, p) });
  cases.push({
    name: `maxPool2dGrad ${name}`,
    inputs: [{ shape: x }],
    run: (xt) => {
      const y = maxPool2d(xt!, k, s, p);
      const dy = tensor(
        Float32Array.from({ length: y.size }, (_, i) => ((i * 7) % 11) - 5),
        y.shape,
        { backend: y.backend },
      );
      return runKernel(maxPool2dGradKernel, [xt!, dy], {
        kernel: typeof k === 'number' ? [k, k] : k,
        stride: typeof s === 'number' ? [s, s] : s,
        padding: typeof p === 'number' ? [p, p] : p,
      });
    },
  });
}

cases.push(
  { name: 'upsampleNearest x2', inputs: [{ shape: [2, 3, 5, 7] }], run: (x) => upsampleNearest(x!, 2) },
  {
    name: 'upsampleNearest [3, 1] i32',
    inputs: [{ shape: [1, 2, 3, 4], dtype: 'i32', range: [-9, 9] }],
    run: (x) => upsampleNearest(x!, [3, 1]),
  },
  {
    name: 'upsampleNearest f16 x3',
    inputs: [
      {
        shape: [1, 1, 3, 3],
        dtype: 'f16',
        data: Uint16Array.from({ length: 9 }, (_, i) => f32ToF16(i / 4 - 1)),
      },
    ],
    run: (x) => upsampleNearest(x!, 3),
  },
);

// A groups-1 convolution runs as the matmul's GEMM with an implicit im2col operand, so it takes
// the matmul's tile: a software adapter's 32x32 one in the cases above; the GPU tiles here. Their
// shaders compile slowly on a software adapter: there only with VL_MATMUL_ALL_CONFIGS=1
// (tooling/device/gpu-all.sh runs them on the GPU).
const convTiles: [string, Parameters<typeof setMatmulWebGpuConfig>[1]][] = [
  ['large tile (128x128x8, 8x8 per thread)', { large: DEFAULT_LARGE, minLargeTiles: 1 }],
  ['small tile (64x64x16, 4x4 per thread)', { large: DEFAULT_SMALL, minLargeTiles: 1 }],
];
const convTileCases = cases.filter((c) => / filters, \d+ pixels/.test(c.name));

describe('conv2d on WebGPU with the GPU tiles', () => {
  test.for(convTiles)('%s', async ([, config], ctx) => {
    const gpu = others.find((o) => o.label === 'webgpu');
    if (!gpu) return;
    if (!process.env.VL_MATMUL_ALL_CONFIGS && /software/.test(gpu.backend.name)) {
      console.warn(`skipped on ${gpu.backend.name}: set VL_MATMUL_ALL_CONFIGS=1 to run it`);
      ctx.skip(`slow to compile on ${gpu.backend.name}; VL_MATMUL_ALL_CONFIGS=1 runs it`);
    }
    expect(convTileCases.length).toBe(2);
    setMatmulWebGpuConfig(gpu.backend, config);
    try {
      for (const c of convTileCases) await checkKernelCase(c, reference, [gpu], freshSeed());
    } finally {
      setMatmulWebGpuConfig(gpu.backend, undefined);
    }
  });
});

describe('conv / pool / upsample kernels', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('the patch-embed and 1x1 fast paths equal the direct conv kernel', async () => {
    const next = rng(freshSeed());
    const rand = (shape: number[]) =>
      tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1),
        shape,
        { backend: reference },
      );
    for (const [xs, ws, stride] of [
      [[1, 3, 48, 48], [8, 3, 16, 16], 16],
      [[2, 5, 6, 7], [4, 5, 1, 1], 1],
    ] as const) {
      const x = rand([...xs]);
      const w = rand([...ws]);
      const b = rand([ws[0]]);
      const fast = conv2d(x, w, b, { stride });
      const direct = runKernel(conv2dKernel, [x, w, b], conv2dAttrs(w.shape, { stride }))[0]!;
      expectClose(
        (await fast.read()) as Float32Array,
        (await direct.read()) as Float32Array,
        1e-4,
        `fast path ${ws}`,
        1e-4,
      );
      for (const t of [x, w, b, fast, direct]) t.dispose();
    }
  });
});

// The accelerated CPU conv builds its columns a few output rows at a time. With tiny column blocks
// every conv here runs as many tiles (one or two output rows each, the last one shorter), which
// the default block size (whole small images in one tile) would never exercise.
const tiled: ConvConfig[] = [
  ['3x3 pad 1, batch 5 (flat layout, padded)', [5, 6, 11, 9], [8, 6, 3, 3], true, { padding: 1 }],
  ['3x3 unpadded, batch 3 (flat layout reads up to the end of x)', [3, 3, 9, 10], [6, 3, 3, 3], true, {}],
  ['3x3 stride 2 pad 1 (general columns)', [3, 4, 13, 11], [8, 4, 3, 3], true, { stride: 2, padding: 1 }],
  ['5x3 stride [2, 1] pad [2, 1]', [2, 3, 12, 9], [5, 3, 5, 3], false, { stride: [2, 1], padding: [2, 1] }],
  ['3x3 dilation 2 pad 2 (flat layout)', [2, 3, 12, 11], [8, 3, 3, 3], true, { dilation: 2, padding: 2 }],
  ['7x7 pad 3 on 3 channels', [2, 3, 15, 14], [16, 3, 7, 7], true, { padding: 3 }],
  ['groups 2, 3x3 pad 1', [2, 8, 9, 7], [8, 4, 3, 3], true, { groups: 2, padding: 1 }],
  ['1x1 on a batch of 4 (no columns)', [4, 16, 5, 7], [8, 16, 1, 1], true, {}],
  ['1x1 groups 2 (flat layout, no padding)', [3, 8, 5, 6], [8, 4, 1, 1], true, { groups: 2 }],
];

describe('conv kernels over many small tiles (accelerated CPU)', () => {
  let previous = 0;
  beforeAll(() => {
    // 700 floats: at most 1 or 2 output rows per tile for every config above.
    previous = setConvTileFloats(700);
  });
  afterAll(() => {
    setConvTileFloats(previous);
  });
  const tiledCases: KernelCase[] = [];
  for (const [name, x, w, bias, options] of tiled) {
    const attrs = conv2dAttrs(w, options);
    const oh =
      Math.floor((x[2]! + 2 * attrs.padding[0] - attrs.dilation[0] * (w[2]! - 1) - 1) / attrs.stride[0]) + 1;
    const ow =
      Math.floor((x[3]! + 2 * attrs.padding[1] - attrs.dilation[1] * (w[3]! - 1) - 1) / attrs.stride[1]) + 1;
    const dy = [x[0]!, w[0]!, oh, ow];
    tiledCases.push(
      {
        // The kernel itself: the conv2d op sends 1x1 convs to matmul before any kernel runs.
        name: `conv2d ${name}`,
        inputs: bias ? [{ shape: x }, { shape: w }, { shape: [w[0]!] }] : [{ shape: x }, { shape: w }],
        run: (xt, wt, bt) => runKernel(conv2dKernel, bt ? [xt!, wt!, bt] : [xt!, wt!], attrs),
        atol: 1e-4,
        rtol: 1e-4,
      },
      {
        name: `conv2dGradInput ${name}`,
        inputs: [{ shape: dy }, { shape: w }],
        run: (d, wt) => runKernel(conv2dGradInputKernel, [d!, wt!], { ...attrs, shape: x }),
        atol: 1e-4,
        rtol: 1e-4,
      },
      {
        name: `conv2dGradFilter ${name}`,
        inputs: [{ shape: x }, { shape: dy }],
        run: (xt, d) => runKernel(conv2dGradFilterKernel, [xt!, d!], { ...attrs, shape: w }),
        atol: 1e-3,
        rtol: 1e-4,
      },
    );
  }
  test.each(tiledCases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('a batch of distinct images through reused column blocks: no stale copies', async () => {
    // The WASM matmul keeps a resident copy of an array it has seen twice as its b operand; a
    // column block rewritten in place and passed as b would then be served stale from its third
    // tile on. Six images with different contents, one output row per tile, twice over.
    const next = rng(freshSeed());
    const cpu = others.find((o) => o.label.startsWith('cpu'))?.backend;
    expect(cpu, 'the accelerated CPU backend').toBeDefined();
    const shapes = { x: [6, 5, 10, 8], w: [8, 5, 3, 3], dy: [6, 8, 10, 8] };
    const attrs = conv2dAttrs(shapes.w, { padding: 1 });
    for (let round = 0; round < 2; round++) {
      const data = Object.fromEntries(
        Object.entries(shapes).map(([k, shape]) => [
          k,
          Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1),
        ]),
      ) as Record<keyof typeof shapes, Float32Array>;
      const results: Float32Array[][] = [];
      for (const backend of [reference, cpu!]) {
        const x = tensor(data.x, shapes.x, { backend });
        const w = tensor(data.w, shapes.w, { backend });
        const dy = tensor(data.dy, shapes.dy, { backend });
        const outs = [
          runKernel(conv2dKernel, [x, w], attrs)[0]!,
          runKernel(conv2dGradInputKernel, [dy, w], { ...attrs, shape: shapes.x })[0]!,
          runKernel(conv2dGradFilterKernel, [x, dy], { ...attrs, shape: shapes.w })[0]!,
        ];
        results.push(await Promise.all(outs.map(async (t) => (await t.read()) as Float32Array)));
        for (const t of [x, w, dy, ...outs]) t.dispose();
      }
      for (const [i, what] of ['conv2d', 'conv2dGradInput', 'conv2dGradFilter'].entries()) {
        expectClose(results[1]![i]!, results[0]![i]!, 1e-3, `${what}, round ${round}`, 1e-4);
      }
    }
  });
});

describe('conv / pool / upsample errors', () => {
  const t = (shape: number[]) =>
    tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { backend: reference });

  test('conv2d names both shapes', () => {
    expect(() => conv2d(t([1, 3, 16, 16]), t([8, 4, 3, 3]))).toThrow(
      'conv2d: w has shape [8, 4, 3, 3] but x has shape [1, 3, 16, 16]: w.shape[1] must be C / groups = 3',
    );
    expect(() => conv2d(t([1, 6, 8, 8]), t([8, 3, 3, 3]), undefined, { groups: 4 })).toThrow(
      'conv2d: groups 4 must divide both the input channels C=6 and the output channels O=8',
    );
    expect(() => conv2d(t([1, 3, 8, 8]), t([8, 3, 3, 3]), t([4]))).toThrow(
      'conv2d: bias has shape [4] but w has shape [8, 3, 3, 3]; expected [8]',
    );
    expect(() => conv2d(t([1, 3, 2, 2]), t([8, 3, 3, 3]))).toThrow(
      'conv2d: the 3x3 kernel (dilation [1,1]) does not fit the padded input',
    );
    expect(() => conv2d(t([3, 8, 8]), t([8, 3, 3, 3]))).toThrow(
      'conv2d: x must be [N, C, H, W], got shape [3, 8, 8]',
    );
    expect(() => conv2d(t([1, 3, 8, 8]), t([8, 3, 2, 2]), undefined, { padding: 'same' })).toThrow(
      "padding 'same' needs an odd kernel",
    );
  });

  test('maxPool2d and upsampleNearest validate their arguments', () => {
    expect(() => maxPool2d(t([1, 1, 4, 4]), 2, 2, 2)).toThrow(
      'maxPool2d: x of shape [1, 1, 4, 4] with kernel [2,2], stride [2,2], padding [2,2]: padding must be at most half the kernel',
    );
    expect(() => maxPool2d(t([4, 4]), 2)).toThrow('maxPool2d: x must be [N, C, H, W]');
    expect(() => upsampleNearest(t([1, 1, 2, 2]), 1.5)).toThrow(
      'upsampleNearest: scale must be positive integers, got [1.5, 1.5]',
    );
  });
});

describe('conv / pool / upsample gradients (finite differences)', () => {
  let next = rng(1);
  const rand = (shape: number[]) =>
    tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1),
      shape,
      { backend: reference },
    );
  /** Distinct values 0.1 apart, so a finite-difference step never changes which element is a max. */
  const distinct = (shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: size }, (_, i) => i * 0.1 - size * 0.05);
    for (let i = size - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [values[i], values[j]] = [values[j]!, values[i]!];
    }
    return tensor(values, shape, { backend: reference });
  };
  const checks: [string, () => [(...xs: Tensor[]) => Tensor, Tensor[]]][] = [
    [
      'conv2d stride 2 pad 1 + bias',
      () => [
        (x, w, b) => conv2d(x!, w!, b, { stride: 2, padding: 1 }),
        [rand([2, 2, 5, 5]), rand([3, 2, 3, 3]), rand([3])],
      ],
    ],
    [
      'conv2d groups 2 dilation 2',
      () => [
        (x, w) => conv2d(x!, w!, undefined, { groups: 2, dilation: 2, padding: 1 }),
        [rand([1, 4, 6, 5]), rand([4, 2, 3, 2])],
      ],
    ],
    [
      'conv2d patch embed (matmul path)',
      () => [
        (x, w, b) => conv2d(x!, w!, b, { stride: 2 }),
        [rand([1, 2, 5, 4]), rand([3, 2, 2, 2]), rand([3])],
      ],
    ],
    [
      'conv2d 1x1 (matmul path)',
      () => [(x, w, b) => conv2d(x!, w!, b), [rand([2, 3, 2, 3]), rand([2, 3, 1, 1]), rand([2])]],
    ],
    ['maxPool2d 3x3 stride 2 pad 1', () => [(x) => maxPool2d(x!, 3, 2, 1), [distinct([1, 2, 6, 5])]]],
    ['upsampleNearest [2, 3]', () => [(x) => upsampleNearest(x!, [2, 3]), [rand([1, 2, 3, 2])]]],
  ];
  test.each(checks)('%s', async (_, make) => {
    next = rng(freshSeed());
    const [f, xs] = make();
    const r = await gradCheck(f, xs);
    for (const x of xs) x.dispose();
    expect(r.ok, r.message).toBe(true);
  });
});
