// Entry point of the CPU backend's WebAssembly acceleration: compiles the module, lays out the
// memory, starts the worker threads and returns the accelerated kernels.
import type { HostTensor } from '../../../kernel.js';
import type { CpuAccelerated } from '../CpuBackend.js';
import { canBlock, MatmulWorkers } from './MatmulWorkers.js';
import { instantiate, loadMatmulModule, sharedMemoryAvailable } from './matmulModule.js';
import { WasmArena } from './WasmArena.js';
import { createWasmMatmul, DESC_BYTES, MAX_THREADS } from './wasmMatmul.js';
import { createWasmAttention } from './wasmAttention.js';
import { createWasmRowOps, wasmActivationGrad, wasmLayerNorm, wasmRmsNorm } from './wasmRowOps.js';
import { attentionQkvOperands, matmulAttention, matmulAttentionProbs } from '../attentionMatmul.js';
import { im2colConv2d, im2colConv2dGradFilter, im2colConv2dGradInput } from '../conv2dIm2col.js';

/** Options for {@link createCpuAcceleration}. */
export interface CpuAccelerationOptions {
  /**
   * Threads for large matmuls, including the calling one (default: 2, or 1 on a single-core
   * machine). More than one needs shared memory (always in Node; cross-origin isolation in
   * browsers) and a thread that may block (not a browser's main thread); otherwise one is used.
   */
  threads?: number;
  /**
   * Use relaxed SIMD (fused multiply-add) where the engine supports it (default true). On Node 20,
   * whose V8 has it behind `--experimental-wasm-relaxed-simd`, this turns that flag on; false
   * leaves the engine's flags alone.
   */
  relaxedSimd?: boolean;
}

/** The accelerated kernels, for `new CpuBackend({ accelerated, description, onDispose: dispose })`. */
export interface CpuAcceleration {
  /** Faster implementations by kernel name (matmul, conv2d, attention, ...; empty without WebAssembly SIMD). */
  readonly accelerated: Map<string, CpuAccelerated>;
  /** E.g. `wasm-simd, 2 threads`, `wasm-relaxed-simd, 2 threads`, or `js` without WebAssembly SIMD. */
  readonly description: string;
  /** Stops the worker threads (so that a Node process can exit) and drops the memory. */
  dispose(): void;
  /** Frees what the kernels keep for a host array (a resident weight copy); for `CpuBackend`'s `onRelease`. */
  release(handle: unknown): void;
}

/** Logical CPUs: navigator.hardwareConcurrency in browsers (and Node >= 21), node:os in Node 20. */
async function hardwareThreads(): Promise<number> {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  if (typeof n === 'number' && n > 0) return n;
  if (typeof process === 'object' && typeof process.versions?.node === 'string') {
    const specifier = 'node:os'; // hidden from bundlers, like node:worker_threads
    const os = (await import(/* @vite-ignore */ specifier)) as typeof import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  }
  return 2;
}

/**
 * V8 first runs WebAssembly in its baseline compiler (Liftoff, ~3x slower here) and moves a function
 * to the optimizing one after it has run for a while; a few small jobs now start that in the
 * background, so that a model's first large matmul does not run the slow code from start to end.
 */
function warmUp(matmul: CpuAccelerated): void {
  const x: HostTensor = { data: new Float32Array(64 * 256), shape: [64, 256], dtype: 'f32' };
  const attrs = { transposeA: false, transposeB: true, activation: 'none' };
  for (let i = 0; i < 4; i++) matmul([x, x], attrs, [{ shape: [64, 64], dtype: 'f32' }]);
}

/**
 * Creates the WebAssembly SIMD implementations of the CPU backend's heavy kernels (a blocked,
 * packed f32 matmul with fused bias and activation, split across threads that share one memory).
 *
 * @example
 * ```ts
 * const acceleration = await createCpuAcceleration({ threads: 2 });
 * const backend = new CpuBackend({
 *   accelerated: acceleration.accelerated,
 *   onRelease: acceleration.release,
 *   description: acceleration.description, // "wasm-simd, 2 threads"
 *   onDispose: acceleration.dispose,
 * });
 * // ... matmul(x, w) now runs in WebAssembly ...
 * backend.dispose(); // also stops the worker threads
 * ```
 */
export async function createCpuAcceleration(options: CpuAccelerationOptions = {}): Promise<CpuAcceleration> {
  const requested = options.threads ?? Math.min(2, await hardwareThreads());
  if (!Number.isInteger(requested) || requested < 1) {
    throw new RangeError(`createCpuAcceleration(): threads must be a positive integer, got ${requested}`);
  }
  const shared = sharedMemoryAvailable();
  const threads = shared && canBlock() ? Math.min(requested, MAX_THREADS) : 1;
  const loaded = await loadMatmulModule({ shared, relaxed: options.relaxedSimd ?? true });
  if (!loaded) return { accelerated: new Map(), description: 'js', dispose() {}, release() {} };
  const { module, flavor } = loaded;

  // A throwaway instance tells the sizes the layout needs.
  const probe = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared });
  const probeExports = instantiate(module, probe);
  if (probeExports.desc_bytes() !== DESC_BYTES) {
    throw new Error(
      `matmul wasm: descriptor is ${probeExports.desc_bytes()} bytes, expected ${DESC_BYTES}; rebuild with wasm/build.mjs`,
    );
  }
  const arena = new WasmArena({
    heapBase: probeExports.__heap_base.value as number,
    threads,
    workspaceBytes: probeExports.workspace_floats() * 4,
    descBytes: DESC_BYTES,
    shared,
  });
  const exports = instantiate(module, arena.memory);
  // Workers can fail to start (a Content-Security-Policy without blob: workers, say): then the
  // calling thread does all the work, and the description says so.
  const workers =
    threads > 1 ? await MatmulWorkers.start(threads - 1, module, arena).catch(() => undefined) : undefined;
  const used = workers ? threads : 1;

  const matmul = createWasmMatmul({ arena, exports, workers, threads: used });
  const rows = createWasmRowOps(arena, exports);
  const fused = createWasmAttention({ arena, exports, workers, threads: used });
  const accelerated = new Map<string, CpuAccelerated>([
    ['matmul', matmul],
    ['conv2d', im2colConv2d(matmul)],
    ['conv2dGradFilter', im2colConv2dGradFilter(matmul)],
    ['conv2dGradInput', im2colConv2dGradInput(matmul)],
    ['attention', matmulAttention(matmul, rows, undefined, fused)],
    ['attentionQkv', matmulAttention(matmul, rows, attentionQkvOperands, fused)],
    ['attentionProbs', matmulAttentionProbs(matmul, rows)],
    ['matmulActivationGrad', wasmActivationGrad(rows)],
    ['layerNorm', wasmLayerNorm(rows)],
    ['rmsNorm', wasmRmsNorm(rows)],
  ]);
  warmUp(accelerated.get('matmul')!);
  let disposed = false;
  return {
    accelerated,
    description: `wasm-${flavor}, ${used} thread${used === 1 ? '' : 's'}`,
    release: (handle) => {
      if (!disposed) matmul.release(handle);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      workers?.dispose();
      matmul.dispose();
      // Later calls (there should be none: the backend is disposed) fall back to the reference.
      for (const name of accelerated.keys()) accelerated.set(name, () => undefined);
    },
  };
}
