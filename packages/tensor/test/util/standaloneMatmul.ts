// The WebAssembly matmul on an arena of its own, one thread, outside any backend: for tests that
// need the module flavour or the memory layout in hand.
import { expect } from 'vitest';
import { WasmArena } from '../../src/backends/cpu/wasm/WasmArena.js';
import { instantiate, loadMatmulModule } from '../../src/backends/cpu/wasm/matmulModule.js';
import { createWasmMatmul, DESC_BYTES } from '../../src/backends/cpu/wasm/wasmMatmul.js';

export async function standaloneMatmul(options: { shared: boolean; relaxed: boolean }) {
  const loaded = await loadMatmulModule(options);
  expect(loaded, 'the WebAssembly matmul module').toBeDefined();
  const { module, flavor, shared } = loaded!;
  const probe = instantiate(
    module,
    new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: options.shared }),
  );
  const arena = new WasmArena({
    heapBase: probe.__heap_base.value as number,
    threads: 1,
    workspaceBytes: probe.workspace_floats() * 4,
    descBytes: DESC_BYTES,
    shared: options.shared,
  });
  const matmul = createWasmMatmul({
    arena,
    exports: instantiate(module, arena.memory),
    workers: undefined,
    threads: 1,
  });
  return { matmul, arena, flavor, shared };
}
