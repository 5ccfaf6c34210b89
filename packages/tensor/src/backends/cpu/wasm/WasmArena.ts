// The WebAssembly memory the matmul module works in, and how it is laid out.
//
//   [0, heapBase)            the module's own stack (main thread); the module has no data
//   control slots            one 64-byte slot per worker (job sequence, descriptor, done, status)
//   descriptor               the job the C code reads (layout: DESC in wasmMatmul.ts)
//   per thread               packing workspace; per worker a private stack
//   dynamic region           A, B, bias, C and the batch table of the current call
//
// The dynamic region is reused by every call and grows (never shrinks) to the largest call seen:
// allocating per call would only churn, and a shared memory cannot shrink anyway.
import { MAX_PAGES } from './matmulModule.js';

const PAGE = 65536;
/** Alignment of every region: a cache line, which also keeps SIMD loads within one line. */
const ALIGN = 64;
const CONTROL_SLOT_BYTES = 64;
const WORKER_STACK_BYTES = 64 * 1024;

const alignUp = (n: number, a = ALIGN): number => Math.ceil(n / a) * a;

/** Sizes the arena needs from the module and the thread count. */
export interface ArenaOptions {
  heapBase: number;
  threads: number;
  workspaceBytes: number;
  descBytes: number;
  shared: boolean;
}

/** The memory, its fixed layout and the growable region for call data. */
export class WasmArena {
  readonly memory: WebAssembly.Memory;
  readonly descPtr: number;
  readonly #controlBase: number;
  readonly #workspaceBase: number;
  readonly #workspaceBytes: number;
  readonly #stackBase: number;
  readonly #dynamicBase: number;
  #f32: Float32Array | undefined;
  #i32: Int32Array | undefined;

  constructor(options: ArenaOptions) {
    const { heapBase, threads, workspaceBytes, descBytes } = options;
    this.#controlBase = alignUp(heapBase);
    this.descPtr = this.#controlBase + threads * CONTROL_SLOT_BYTES;
    this.#workspaceBase = alignUp(this.descPtr + descBytes);
    this.#workspaceBytes = alignUp(workspaceBytes);
    this.#stackBase = this.#workspaceBase + threads * this.#workspaceBytes;
    this.#dynamicBase = this.#stackBase + threads * WORKER_STACK_BYTES;
    const initial = Math.ceil(this.#dynamicBase / PAGE) + 16; // + 1 MiB for small calls
    this.memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: options.shared });
  }

  /** Byte offset of worker `tid`'s control slot (16 Int32 words). */
  controlPtr(tid: number): number {
    return this.#controlBase + tid * CONTROL_SLOT_BYTES;
  }

  /** Byte offset of thread `tid`'s packing workspace. */
  workspacePtr(tid: number): number {
    return this.#workspaceBase + tid * this.#workspaceBytes;
  }

  /** Initial stack pointer for thread `tid` (> 0): the top of its private stack, 16-byte aligned. */
  stackTop(tid: number): number {
    return this.#stackBase + (tid + 1) * WORKER_STACK_BYTES;
  }

  /**
   * Lays out regions of the given byte sizes in the dynamic region (each aligned, with a cache
   * line of slack after it so edge tiles may read a little past a matrix), growing the memory if
   * needed. Returns their byte offsets, or undefined when they cannot fit in 4 GiB.
   */
  layout(sizes: readonly number[]): number[] | undefined {
    const offsets: number[] = [];
    let end = this.#dynamicBase;
    for (const size of sizes) {
      offsets.push(end);
      end = alignUp(end + size + ALIGN);
    }
    return this.#ensure(end) ? offsets : undefined;
  }

  #ensure(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    // Grow by at least a quarter so a slowly growing workload does not grow on every call.
    const wanted = Math.min(MAX_PAGES, Math.max(Math.ceil(bytes / PAGE), Math.ceil((have * 1.25) / PAGE)));
    const needed = Math.ceil(bytes / PAGE);
    if (needed > MAX_PAGES) return false;
    for (const pages of [wanted, needed]) {
      try {
        this.memory.grow(pages - have / PAGE);
        return true;
      } catch {
        // out of memory for the larger request: try the exact size
      }
    }
    return false;
  }

  /** A Float32Array over the whole memory (recreated after growth). */
  get f32(): Float32Array {
    const buffer = this.memory.buffer;
    if (this.#f32?.buffer !== buffer) this.#f32 = new Float32Array(buffer);
    return this.#f32;
  }

  /** An Int32Array over the whole memory (recreated after growth). */
  get i32(): Int32Array {
    const buffer = this.memory.buffer;
    if (this.#i32?.buffer !== buffer) this.#i32 = new Int32Array(buffer);
    return this.#i32;
  }
}
