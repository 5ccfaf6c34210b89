// The table-driven kernel check: build the same random inputs on the reference backend and on
// every other backend, run the op, and compare every output with the reference's.
import { expect } from 'vitest';
import {
  type Backend,
  type DType,
  type Shape,
  type Tensor,
  type TypedArray,
  tensor,
  tidy,
} from '../../src/index.node.js';
import type { NamedBackend } from './backends.js';
import { expectClose } from './compare.js';
import { randomArray, rng } from './random.js';

export interface InputSpec {
  shape: Shape;
  dtype?: DType;
  /** Value range for random data (default [-2, 2]); or explicit data. */
  range?: [number, number];
  data?: TypedArray;
}

export interface KernelCase {
  name: string;
  inputs: InputSpec[];
  /** Runs the op; returns one tensor or several. */
  run: (...xs: Tensor[]) => Tensor | Tensor[];
  /** Absolute tolerance (default 1e-5) and relative tolerance (default 1e-5). */
  atol?: number;
  rtol?: number;
  /** Backend labels to skip, with the reason printed. */
  skip?: Partial<Record<string, string>>;
}

export async function checkKernelCase(
  c: KernelCase,
  reference: Backend,
  others: NamedBackend[],
  seed: number,
): Promise<void> {
  const next = rng(seed);
  const data = c.inputs.map(
    (s) =>
      s.data ??
      randomArray(
        s.shape.reduce((a, b) => a * b, 1),
        s.dtype ?? 'f32',
        next,
        s.range,
      ),
  );
  const runOn = async (backend: Backend) => {
    const outs = tidy(() => {
      const xs = c.inputs.map((s, i) => tensor(data[i]!, s.shape, { backend, dtype: s.dtype ?? 'f32' }));
      const r = c.run(...xs);
      return Array.isArray(r) ? r : [r];
    });
    const values = await Promise.all(outs.map((o) => o.read()));
    const shapes = outs.map((o) => [...o.shape]);
    const dtypes = outs.map((o) => o.dtype);
    for (const o of outs) o.dispose();
    return { values, shapes, dtypes };
  };
  const ref = await runOn(reference);
  for (const { label, backend } of others) {
    if (c.skip?.[label]) continue;
    const got = await runOn(backend);
    const where = `${c.name} on ${label} (seed ${seed})`;
    expect(got.shapes, `${where}: shapes`).toEqual(ref.shapes);
    expect(got.dtypes, `${where}: dtypes`).toEqual(ref.dtypes);
    for (const [i, v] of got.values.entries()) {
      expectClose(v, ref.values[i]!, c.atol ?? 1e-5, `${where} output ${i}`, c.rtol ?? 1e-5);
    }
  }
}
