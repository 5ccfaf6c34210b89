// Bind groups reused across dispatches. A forward pass repeats the same (pipeline, buffers, uniform
// slot) combinations step after step, since pooled buffers come back in the same order, and creating
// a bind group is the largest CPU cost of a dispatch. The cache is a trie of Maps keyed by the objects
// themselves (pipeline, then each bound buffer, then the uniform slot), which is cheaper per dispatch
// than building and hashing a string key. A destroyed buffer's entries are dropped with it
// (`forget`), so groups that can never be used again do not pile up until the size cap empties the
// cache.

/** One step of the trie: the group of the key path that ends here, and the longer paths. */
export class BindGroupNode {
  group: GPUBindGroup | undefined;
  next: Map<unknown, BindGroupNode> | undefined;
}

export class BindGroupCache {
  readonly #roots = new Map<GPUComputePipeline, BindGroupNode>();
  /** For each buffer used as a key: the nodes that have a child under it. */
  readonly #parents = new Map<object, Set<BindGroupNode>>();
  #count = 0;

  /** `max`: groups kept at most; reaching it empties the cache (a workload that never repeats). */
  constructor(readonly max = 8192) {}

  /** Groups held now. */
  get size(): number {
    return this.#count;
  }

  root(pipeline: GPUComputePipeline): BindGroupNode {
    let node = this.#roots.get(pipeline);
    if (!node) this.#roots.set(pipeline, (node = new BindGroupNode()));
    return node;
  }

  child(node: BindGroupNode, key: unknown): BindGroupNode {
    node.next ??= new Map();
    let child = node.next.get(key);
    if (!child) {
      node.next.set(key, (child = new BindGroupNode()));
      if (typeof key === 'object' && key !== null) {
        let parents = this.#parents.get(key);
        if (!parents) this.#parents.set(key, (parents = new Set()));
        parents.add(node);
      }
    }
    return child;
  }

  /** Keeps `group` for the path ending at `node`, unless the cache is full (then empties it). */
  set(node: BindGroupNode, group: GPUBindGroup): void {
    if (this.#count >= this.max) {
      this.clear();
      return;
    }
    node.group = group;
    this.#count++;
  }

  /** Drops every group that binds `key` (a buffer about to be destroyed). */
  forget(key: object): void {
    const parents = this.#parents.get(key);
    if (!parents) return;
    this.#parents.delete(key);
    for (const parent of parents) {
      const sub = parent.next?.get(key);
      parent.next?.delete(key);
      if (sub) this.#detach(sub);
    }
  }

  clear(): void {
    this.#roots.clear();
    this.#parents.clear();
    this.#count = 0;
  }

  /**
   * Uncounts a subtree cut from the trie, unregisters its nodes as parents and empties them: a path
   * that binds one buffer twice (`[qkv, qkv, qkv, out]`) lists nodes of this subtree among that
   * buffer's parents too, and they must not count their groups a second time.
   */
  #detach(node: BindGroupNode): void {
    if (node.group) this.#count--;
    node.group = undefined;
    const next = node.next;
    node.next = undefined;
    if (!next) return;
    for (const [key, child] of next) {
      if (typeof key === 'object' && key !== null) {
        const parents = this.#parents.get(key);
        parents?.delete(node);
        if (parents?.size === 0) this.#parents.delete(key);
      }
      this.#detach(child);
    }
  }
}
