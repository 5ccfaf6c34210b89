// The WebGPU backend's bind-group cache as a data structure: hits for a repeated key path, and a
// destroyed buffer's groups dropped with it (they could never be bound again). Plain objects stand in
// for the pipeline, buffers and groups: the cache only compares them by identity.
import { expect, test } from 'vitest';
import { BindGroupCache, type BindGroupNode } from '../src/backends/webgpu/bindGroupCache.js';

const obj = <T>(name: string) => ({ name }) as unknown as T;

function path(cache: BindGroupCache, pipeline: GPUComputePipeline, keys: unknown[]): BindGroupNode {
  let node = cache.root(pipeline);
  for (const k of keys) node = cache.child(node, k);
  return node;
}

test('the same key path finds the group it was given; another path does not', () => {
  const cache = new BindGroupCache();
  const [p, a, b, u] = ['p', 'a', 'b', 'u'].map((n) => obj<GPUComputePipeline>(n));
  const g = obj<GPUBindGroup>('g');
  cache.set(path(cache, p!, [a, b, u, 0x10]), g);
  expect(path(cache, p!, [a, b, u, 0x10]).group).toBe(g);
  expect(path(cache, p!, [b, a, u, 0x10]).group).toBeUndefined();
  expect(path(cache, p!, [a, b, u, 0x20]).group).toBeUndefined();
  expect(cache.size).toBe(1);
});

test('forget(buffer) drops exactly the groups that bind it, wherever it sits in the path', () => {
  const cache = new BindGroupCache();
  const p = obj<GPUComputePipeline>('p');
  const q = obj<GPUComputePipeline>('q');
  const [w, x1, x2, out] = (['w', 'x1', 'x2', 'out'] as const).map((n) => obj<GPUBuffer>(n)) as [
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
  ];
  const groups = new Map<string, GPUBindGroup>();
  const put = (pipe: GPUComputePipeline, keys: unknown[], name: string) => {
    const g = obj<GPUBindGroup>(name);
    groups.set(name, g);
    cache.set(path(cache, pipe, keys), g);
  };
  put(p, [x1, w, out], 'x1·w');
  put(p, [x2, w, out], 'x2·w');
  put(q, [out, x1], 'q(out, x1)');
  expect(cache.size).toBe(3);

  cache.forget(x1); // first key of one path, last of another
  expect(cache.size).toBe(1);
  expect(path(cache, p, [x1, w, out]).group).toBeUndefined();
  expect(path(cache, q, [out, x1]).group).toBeUndefined();
  expect(path(cache, p, [x2, w, out]).group).toBe(groups.get('x2·w'));

  cache.forget(w); // a buffer in the middle of the path
  expect(cache.size).toBe(0);
  cache.forget(w); // twice, or a buffer never bound: nothing happens
  cache.forget(obj<GPUBuffer>('never'));
  expect(cache.size).toBe(0);
});

test('a buffer bound more than once in a path (attentionQkv: [qkv, qkv, qkv, out]) is forgotten once', () => {
  const cache = new BindGroupCache(4);
  const p = obj<GPUComputePipeline>('attention');
  for (let i = 0; i < 10; i++) {
    const qkv = obj<GPUBuffer>(`qkv${i}`);
    cache.set(path(cache, p, [qkv, qkv, qkv, obj(`out${i}`)]), obj<GPUBindGroup>(`g${i}`));
    expect(cache.size).toBe(1);
    cache.forget(qkv);
    expect(cache.size).toBe(0); // not -2: the count, and so the cap, stay true
  }
  for (let i = 0; i < 20; i++) {
    cache.set(path(cache, p, [obj(`x${i}`)]), obj<GPUBindGroup>(`h${i}`));
    expect(cache.size).toBeLessThanOrEqual(4);
  }
});

test('churning buffers that are forgotten leaves the cache no larger than what is alive', () => {
  const cache = new BindGroupCache(1_000_000);
  const p = obj<GPUComputePipeline>('p');
  const weight = obj<GPUBuffer>('weight');
  for (let i = 0; i < 10_000; i++) {
    const input = obj<GPUBuffer>(`in${i}`);
    const output = obj<GPUBuffer>(`out${i}`);
    cache.set(path(cache, p, [input, weight, output]), obj<GPUBindGroup>(`g${i}`));
    cache.forget(input);
    cache.forget(output);
  }
  expect(cache.size).toBe(0);
});

test('reaching the cap empties the cache instead of growing past it', () => {
  const cache = new BindGroupCache(4);
  const p = obj<GPUComputePipeline>('p');
  for (let i = 0; i < 5; i++) cache.set(path(cache, p, [obj(`b${i}`)]), obj<GPUBindGroup>(`g${i}`));
  expect(cache.size).toBe(0); // the fifth found it full
  cache.set(path(cache, p, [obj('b5')]), obj<GPUBindGroup>('g5'));
  expect(cache.size).toBe(1);
});
