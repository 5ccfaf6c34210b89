// The WebAssembly memory the matmul module works in, and how it is laid out.
//
//   [0, heapBase)            the module's own stack (main thread); the module has no data
//   control slots            one 64-byte slot per worker (job sequence, descriptor, done, status)
//   descriptor               the job the C code reads (layout: DESC in wasmMatmul.ts)
//   per thread               packing workspace; per worker a private stack
//   resident region          weights kept across calls (quantized weights, which never change)
//   dynamic region           A, B, bias, C and the batch table of the current call
//
// The resident region is a first-fit allocator with coalescing free blocks; the dynamic region
// starts where it ends, so it moves up when a weight is added (it holds nothing between calls).
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
  /** End of the resident region (= start of the dynamic region). */
  #residentEnd: number;
  /** Free blocks inside the resident region: offset -> bytes. */
  readonly #free = new Map<number, number>();
  /** Live resident blocks: offset -> bytes. */
  readonly #used = new Map<number, number>();

  constructor(options: ArenaOptions) {
    const { heapBase, threads, workspaceBytes, descBytes } = options;
    this.#controlBase = alignUp(heapBase);
    this.descPtr = this.#controlBase + threads * CONTROL_SLOT_BYTES;
    this.#workspaceBase = alignUp(this.descPtr + descBytes);
    this.#workspaceBytes = alignUp(workspaceBytes);
    this.#stackBase = this.#workspaceBase + threads * this.#workspaceBytes;
    this.#dynamicBase = this.#stackBase + threads * WORKER_STACK_BYTES;
    this.#residentEnd = this.#dynamicBase;
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
    let end = this.#residentEnd;
    for (const size of sizes) {
      offsets.push(end);
      end = alignUp(end + size + ALIGN);
    }
    return this.#ensure(end) ? offsets : undefined;
  }

  /**
   * Allocates `bytes` in the resident region (kept until {@link freeResident}); returns the byte
   * offset, or undefined when memory cannot grow enough.
   */
  allocResident(bytes: number): number | undefined {
    const size = alignUp(bytes + ALIGN); // slack, as in layout()
    for (const [ptr, free] of this.#free) {
      if (free < size) continue;
      this.#free.delete(ptr);
      if (free > size) this.#free.set(ptr + size, free - size);
      this.#used.set(ptr, size);
      return ptr;
    }
    const ptr = this.#residentEnd;
    if (!this.#ensure(ptr + size)) return undefined;
    this.#residentEnd = ptr + size;
    this.#used.set(ptr, size);
    return ptr;
  }

  /** Frees a block from {@link allocResident} (merging free neighbours; the region shrinks at its end). */
  freeResident(ptr: number): void {
    let size = this.#used.get(ptr);
    if (size === undefined) return;
    this.#used.delete(ptr);
    let start = ptr;
    const after = this.#free.get(start + size);
    if (after !== undefined) {
      this.#free.delete(start + size);
      size += after;
    }
    for (const [p, s] of this.#free) {
      if (p + s === start) {
        this.#free.delete(p);
        start = p;
        size += s;
        break;
      }
    }
    if (start + size === this.#residentEnd) this.#residentEnd = start;
    else this.#free.set(start, size);
  }

  /** Bytes held by resident blocks. */
  get residentBytes(): number {
    let bytes = 0;
    for (const s of this.#used.values()) bytes += s;
    return bytes;
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
