// Where the WebGPU time of a forward pass goes, kernel by kernel (shared by the model benches'
// `*-webgpu-ops.ts`): one forward is recorded (every kernel call the backend executes, with its
// input shapes and attributes), then each distinct call is replayed on its own, queued `reps`
// times and synced once, for its GPU time per call. Time per call x calls per forward, summed per
// kernel, is printed. View kernels (reshape) are free and skipped.
import {
  type Backend,
  type Kernel,
  type Tensor,
  type TensorInfo,
  randomNormal,
  zeros,
} from '../src/index.js';

interface Call {
  kernel: Kernel;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  attrs: unknown;
}

/** Records the kernel calls of `forward` on `backend`, replays each distinct one, prints the table. */
export async function printKernelProfile(
  backend: Backend,
  forward: () => Promise<unknown>,
  reps: number,
  title: string,
): Promise<void> {
  const calls: Call[] = [];
  const execute = backend.execute.bind(backend);
  (backend as { execute: Backend['execute'] }).execute = (kernel, inputs, outputs, attrs) => {
    if (kernel.aliasInput === undefined) {
      calls.push({
        kernel,
        inputs: inputs.map((t) => ({ shape: t.shape, dtype: t.dtype })),
        outputs: [...outputs],
        attrs,
      });
    }
    return execute(kernel, inputs, outputs, attrs);
  };
  try {
    await forward();
  } finally {
    (backend as { execute: Backend['execute'] }).execute = execute;
  }

  const key = (c: Call) =>
    `${c.kernel.name} ${c.inputs.map((i) => `${i.dtype}[${i.shape.join(',')}]`).join(' ')} ${JSON.stringify(c.attrs) ?? ''}`;
  const groups = new Map<string, { call: Call; count: number }>();
  for (const c of calls) {
    const g = groups.get(key(c));
    if (g) g.count++;
    else groups.set(key(c), { call: c, count: 1 });
  }
  const rows: { name: string; shapes: string; count: number; ms: number }[] = [];
  for (const { call, count } of groups.values()) {
    const inputs: Tensor[] = call.inputs.map((i) =>
      i.dtype === 'f32'
        ? randomNormal(i.shape, { backend, seed: 3 })
        : zeros(i.shape, { backend, dtype: i.dtype }),
    );
    const run = () => {
      const handles = backend.execute(call.kernel, inputs, call.outputs, call.attrs);
      for (let i = 0; i < handles.length; i++) backend.release(handles[i], call.outputs[i]!);
    };
    run();
    await backend.sync();
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) run();
    await backend.sync();
    const ms = (performance.now() - t0) / reps;
    for (const t of inputs) t.dispose();
    rows.push({
      name: call.kernel.name,
      shapes: key(call).slice(call.kernel.name.length + 1, 110),
      count,
      ms,
    });
  }

  const byKernel = new Map<string, number>();
  for (const r of rows) byKernel.set(r.name, (byKernel.get(r.name) ?? 0) + r.ms * r.count);
  const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
  console.log(
    `${title}: ${calls.length} kernel calls; sum of replayed kernel times ${total.toFixed(2)} ms\n`,
  );
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1])) {
    console.log(
      `${name.padEnd(24)} ${ms.toFixed(3).padStart(8)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)}%`,
    );
  }
  console.log('\nper call (ms x calls per forward):');
  for (const r of rows.sort((a, b) => b.ms * b.count - a.ms * a.count).slice(0, 25)) {
    console.log(
      `${(r.ms * r.count).toFixed(3).padStart(8)} = ${r.ms.toFixed(4)} x ${String(r.count).padStart(3)}  ${r.name} ${r.shapes}`,
    );
  }
}
