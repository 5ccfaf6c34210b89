// Host arrays that kernels write in place. Tensors are immutable except where a kernel updates its
// input's buffer on purpose (the KV cache append); such kernels report the array here, so caches
// keyed by host arrays (the CPU matmul's resident weights) never serve stale copies.

const mutated = new WeakSet<object>();
const listeners = new Set<(array: object) => void>();

/** @internal Records that `array` (a CPU tensor's buffer) was written in place; call after writing. */
export function noteMutated(array: object): void {
  mutated.add(array);
  for (const listener of listeners) listener(array);
}

/** @internal Whether `array` was ever written in place. */
export function wasMutated(array: object): boolean {
  return mutated.has(array);
}

/** @internal Calls `listener` on every in-place write; returns the unsubscribe function. */
export function onMutated(listener: (array: object) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
