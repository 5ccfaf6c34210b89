// Storage buffers pooled by size class: powers of two up to 1 MiB, then 1 MiB steps, so a buffer
// freed by one op is reused by the next op of a similar size.
const MIB = 1 << 20;

export function sizeClass(byteLength: number): number {
  const n = Math.max(16, byteLength);
  // The next power of two, with integer ops (this runs for every kernel output).
  if (n <= MIB) return 1 << (32 - Math.clz32(n - 1));
  return Math.ceil(n / MIB) * MIB;
}

export class BufferPool {
  readonly #free = new Map<number, GPUBuffer[]>();
  /** Released past the pool's cap: destroyed by destroyReleased(), once no unsubmitted command uses them. */
  readonly #doomed: GPUBuffer[] = [];
  readonly #sizes = new WeakMap<GPUBuffer, number>();
  #pooledBytes = 0;
  #pooledCount = 0;
  liveBytes = 0;
  liveCount = 0;
  /** The most bytes in use at once since the pool was made or trimmed. */
  #peakLiveBytes = 0;
  /** Called with each buffer just before the pool destroys it (to drop what refers to it). */
  onDestroy: ((buffer: GPUBuffer) => void) | undefined;

  /**
   * `maxPooledBytes` given: free buffers are kept up to that many bytes. Not given: up to the peak
   * of bytes in use at once, at least 2 GiB, so a loop over the same sizes never allocates again
   * (as PyTorch's caching allocator): allocating and freeing GPU memory per call cost the full-size
   * dVAE (0.5-1 GiB activations) 4.6x its kernel time on an H200.
   */
  constructor(
    readonly device: GPUDevice,
    readonly usage: GPUBufferUsageFlags,
    readonly maxPooledBytes?: number,
    /** The adaptive cap's floor. */
    readonly minCapBytes = 2 ** 31,
  ) {}

  /** Bytes of free buffers kept now: the fixed cap, or the adaptive one. */
  get capBytes(): number {
    return this.maxPooledBytes ?? Math.max(this.minCapBytes, this.#peakLiveBytes);
  }

  acquire(byteLength: number): GPUBuffer {
    const size = sizeClass(byteLength);
    const list = this.#free.get(size);
    const buffer = list?.pop();
    this.liveBytes += size;
    this.liveCount++;
    if (this.liveBytes > this.#peakLiveBytes) this.#peakLiveBytes = this.liveBytes;
    if (buffer) {
      this.#pooledBytes -= size;
      this.#pooledCount--;
      return buffer;
    }
    const created = this.device.createBuffer({ size, usage: this.usage });
    this.#sizes.set(created, size);
    return created;
  }

  release(buffer: GPUBuffer): void {
    // GPUBuffer.size is a getter into Dawn (a native call, ~0.3 us in Node): remember sizes here.
    const size = this.#sizes.get(buffer) ?? buffer.size;
    this.liveBytes -= size;
    this.liveCount--;
    if (this.#pooledBytes + size > this.capBytes) {
      // Not destroyed here: commands still being encoded may use it, and submitting a command
      // buffer that uses a destroyed buffer is a validation error. Submitted work is safe.
      this.#doomed.push(buffer);
      return;
    }
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, (list = []));
    list.push(buffer);
    this.#pooledBytes += size;
    this.#pooledCount++;
  }

  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  get pooledCount(): number {
    return this.#pooledCount;
  }

  /** Destroys the buffers released past the cap; call when no unsubmitted command uses them. */
  destroyReleased(): void {
    for (const b of this.#doomed) this.#destroy(b);
    this.#doomed.length = 0;
  }

  /** Destroys the free buffers (live ones stay with their owners); call after submitting. */
  trim(): void {
    this.destroyReleased();
    for (const list of this.#free.values()) for (const b of list) this.#destroy(b);
    this.#free.clear();
    this.#pooledBytes = 0;
    this.#pooledCount = 0;
    this.#peakLiveBytes = this.liveBytes;
  }

  #destroy(buffer: GPUBuffer): void {
    this.onDestroy?.(buffer);
    buffer.destroy();
  }
}
