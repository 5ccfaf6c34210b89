// Picks and compiles the matmul WebAssembly module (wasm/matmul.c, embedded as base64).
import {
  MATMUL_WASM_RELAXED,
  MATMUL_WASM_SHARED,
  MATMUL_WASM_SINGLE,
  MATMUL_WASM_SINGLE_RELAXED,
} from './matmulWasm.wasm.js';

/** Which build of the module runs: relaxed SIMD (threads), plain SIMD (threads), plain SIMD (one thread). */
export type MatmulFlavor = 'relaxed-simd' | 'simd';

/** The compiled module and what it needs. */
export interface MatmulModule {
  readonly module: WebAssembly.Module;
  readonly flavor: MatmulFlavor;
  /** Whether the module imports a shared memory (required for worker threads). */
  readonly shared: boolean;
}

/** The exports of an instance of the matmul module. */
export interface MatmulExports {
  readonly run: (desc: number, tid: number) => void;
  readonly workspace_floats: () => number;
  readonly pack_b_floats: () => number;
  readonly desc_bytes: () => number;
  readonly pack_b_full: (src: number, ld: number, trans: number, k: number, n: number, dst: number) => void;
  readonly softmax_rows: (s: number, rows: number, cols: number, scale: number) => void;
  readonly activation_grad: (z: number, dy: number, out: number, n: number, act: number) => void;
  readonly norm_rows: (
    x: number,
    gamma: number,
    beta: number,
    out: number,
    rows: number,
    cols: number,
    eps: number,
    center: number,
  ) => void;
  readonly __heap_base: WebAssembly.Global;
  readonly __stack_pointer: WebAssembly.Global;
}

/** The largest memory the module may use, in 64 KiB pages (wasm32: 4 GiB). */
export const MAX_PAGES = 65536;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Whether shared WebAssembly memories work here: Node always; browsers only when the page is
 * cross-origin isolated (SharedArrayBuffer is hidden otherwise).
 */
export function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Node 20's V8 (11.3) implements relaxed SIMD behind `--experimental-wasm-relaxed-simd` (on by
 * default from Node 22, V8 11.4+, as in Chrome 114+). Turns that flag on in Node 20; the flag only
 * lets modules that use the instructions validate. True when it was set.
 */
async function enableNodeRelaxedSimd(): Promise<boolean> {
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  if (!node || Number(node.split('.')[0]) !== 20) return false;
  const specifier = 'node:v8'; // hidden from bundlers, like node:worker_threads
  try {
    const v8 = (await import(/* @vite-ignore */ specifier)) as typeof import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    return true;
  } catch {
    return false; // a runtime that only looks like Node 20 (no node:v8): plain SIMD then
  }
}

/**
 * Compiles the best module this engine runs: relaxed SIMD where `f32x4.relaxed_madd` validates
 * (Node >= 22, Chrome >= 114; Node 20 after turning on its flag, see enableNodeRelaxedSimd) and
 * `relaxed` is allowed, else plain SIMD128; each as the shared-memory build (threads) or, without
 * shared memory (a page that is not cross-origin isolated), the single-thread one.
 * Returns undefined where WebAssembly or its SIMD is missing (Safari before 16.4, some locked-down
 * engines).
 */
export async function loadMatmulModule(options: {
  shared: boolean;
  relaxed: boolean;
}): Promise<MatmulModule | undefined> {
  if (typeof WebAssembly !== 'object') return undefined;
  const candidates: [string, MatmulFlavor][] = [];
  if (options.relaxed)
    candidates.push([options.shared ? MATMUL_WASM_RELAXED : MATMUL_WASM_SINGLE_RELAXED, 'relaxed-simd']);
  candidates.push([options.shared ? MATMUL_WASM_SHARED : MATMUL_WASM_SINGLE, 'simd']);
  for (const [base64, flavor] of candidates) {
    const bytes = decodeBase64(base64);
    const valid =
      WebAssembly.validate(bytes) ||
      (flavor === 'relaxed-simd' && (await enableNodeRelaxedSimd()) && WebAssembly.validate(bytes));
    if (valid) return { module: await WebAssembly.compile(bytes), flavor, shared: options.shared };
  }
  return undefined;
}

/** Instantiates the module on `memory` (synchronous: the module is already compiled). */
export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): MatmulExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as MatmulExports;
}
