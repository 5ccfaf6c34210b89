// Storage buffers pooled by size class: powers of two up to 1 MiB, then 1 MiB steps, so a buffer
// freed by one op is reused by the next op of a similar size.
const MIB = 1 << 20;

export function sizeClass(byteLength: number): number {
  const n = Math.max(16, byteLength);
  if (n <= MIB) return 2 ** Math.ceil(Math.log2(n));
  return Math.ceil(n / MIB) * MIB;
}

export class BufferPool {
  readonly #free = new Map<number, GPUBuffer[]>();
  #pooledBytes = 0;
  #pooledCount = 0;
  liveBytes = 0;
  liveCount = 0;

  constructor(
    readonly device: GPUDevice,
    readonly usage: GPUBufferUsageFlags,
    readonly maxPooledBytes = 2 ** 31,
  ) {}

  acquire(byteLength: number): GPUBuffer {
    const size = sizeClass(byteLength);
    const list = this.#free.get(size);
    const buffer = list?.pop();
    this.liveBytes += size;
    this.liveCount++;
    if (buffer) {
      this.#pooledBytes -= size;
      this.#pooledCount--;
      return buffer;
    }
    return this.device.createBuffer({ size, usage: this.usage });
  }

  release(buffer: GPUBuffer): void {
    this.liveBytes -= buffer.size;
    this.liveCount--;
    if (this.#pooledBytes + buffer.size > this.maxPooledBytes) {
      buffer.destroy();
      return;
    }
    let list = this.#free.get(buffer.size);
    if (!list) this.#free.set(buffer.size, (list = []));
    list.push(buffer);
    this.#pooledBytes += buffer.size;
    this.#pooledCount++;
  }

  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  get pooledCount(): number {
    return this.#pooledCount;
  }

  /** Destroys the free buffers (live ones stay with their owners). */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.#pooledBytes = 0;
    this.#pooledCount = 0;
  }
}
