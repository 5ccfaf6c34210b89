// The backward of matmul's fused activation (dy * act'(z)) against the double-precision reference
// on every backend, directly on the kernel: the CPU backend runs it in WebAssembly SIMD (float32
// exp, sigmoid and erfc), so every activation is checked over a wide range of z, a length that is
// not a multiple of the vector width, and the tails where sigmoid and erfc underflow.
import { describe, test } from 'vitest';
import type { Tensor } from '../src/index.node.js';
import { run1 } from '../src/engine.js';
import { MATMUL_ACTIVATIONS } from '../src/kernels/matmul/activation.js';
import { matmulActivationGradKernel } from '../src/kernels/matmul/activationGrad.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase } from './util/checkKernel.js';
import { freshSeed } from './util/random.js';

const { reference, others } = await suiteBackends();

/** z over [-range, range] plus values that hit each formula's edges. */
function edges(n: number, range: number): Float32Array {
  const z = new Float32Array(n);
  const special = [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 88, -88, 100, -100, 1e4, -1e4];
  for (let i = 0; i < n; i++) z[i] = i < special.length ? special[i]! : -range + (2 * range * i) / (n - 1);
  return z;
}

describe('matmulActivationGrad', () => {
  // 'none' never reaches the kernel: matmul's gradient passes dy through.
  for (const activation of MATMUL_ACTIVATIONS.filter((a) => a !== 'none')) {
    test.each([
      ['random z in [-2, 2]', undefined],
      ['z over [-30, 30] and the edges', 30],
    ] as const)(`${activation}: %s`, async (_, range) => {
      const seed = freshSeed();
      const n = 1031; // 257 vectors of 4, then 3 alone
      const c = {
        name: `matmulActivationGrad ${activation}`,
        inputs: [
          range === undefined ? { shape: [n] } : { shape: [n], data: edges(n, range) },
          { shape: [n] },
        ],
        run: (z: Tensor | undefined, dy: Tensor | undefined) =>
          run1(matmulActivationGradKernel, [z!, dy!], { activation }),
      };
      // The CPU backend's float32 version, tighter than the default tolerance (a few float32 ulps
      // of dy's scale: the derivatives cross zero, so no relative bound holds everywhere).
      const cpu = others.filter((o) => o.label === 'cpu');
      await checkKernelCase({ ...c, atol: 2e-6, rtol: 2e-6 }, reference, cpu, seed);
      await checkKernelCase(c, reference, others, seed);
    });
  }
});
