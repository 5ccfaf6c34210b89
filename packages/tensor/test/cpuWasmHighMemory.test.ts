// The WebAssembly kernels address a memory of up to 4 GiB: byte offsets past 2 GiB must not turn
// negative when they become array indices (`ptr >> 2` did: a set() threw, a subarray() read from
// the end, a job-table write vanished and the kernel ran on a stale table). A resident block of
// 2 GiB (only reserved: its pages are never touched) puts every region of the next call past it.
import { expect, test } from 'vitest';
import { quantizeArray } from '../src/kernels/quantize/codec.js';
import { matmulReference } from '../src/kernels/matmul/reference.js';
import { standaloneMatmul } from './util/standaloneMatmul.js';

test('matmul with its regions past 2 GiB matches the reference (f32 and a resident q8 weight)', async () => {
  const { matmul, arena } = await standaloneMatmul({ shared: true, relaxed: false });
  const reserved = arena.allocResident(2 ** 31);
  expect(reserved, 'a 2 GiB reservation').toBeDefined();
  expect(arena.layout([64])![0]!).toBeGreaterThan(2 ** 31);
  const [M, N, K] = [5, 7, 64];
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i * 0.7));
  const attrs = { transposeA: false, transposeB: true, activation: 'none' } as const;
  for (const [data, dtype] of [
    [b, 'f32'],
    [quantizeArray(b, 'q8'), 'q8'],
  ] as const) {
    const inputs = [
      { data: a, shape: [M, K], dtype: 'f32' as const },
      { data, shape: [N, K], dtype },
    ];
    const want = matmulReference(inputs, attrs as never);
    for (let run = 0; run < 2; run++) {
      // The second run reads a q8 weight kept resident, also past 2 GiB.
      const [got] = matmul(inputs as never, attrs as never, [
        { shape: [M, N], dtype: 'f32' },
      ]) as Float32Array[];
      for (let i = 0; i < M * N; i++)
        expect(got![i], `${dtype} run ${run} element ${i}`).toBeCloseTo(want[i]!, 2);
    }
  }
}, 60_000);
