// Prints the WebGPU adapter Dawn finds (vendor, architecture, features, the limits the kernels use),
// or why there is none; then what Dawn's experimental features add (allow_unsafe_apis), among them
// `chromium-experimental-subgroup-matrix` and its configurations (cooperative matrices: the tensor
// cores, on NVIDIA through VK_KHR_cooperative_matrix). cd packages/tensor && node bench/adapter.mjs
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.log('adapter: none (is a Vulkan driver installed and found?)');
  process.exit(1);
}
const info = adapter.info ?? {};
const limits = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
];
console.log(`adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description}`);
console.log(`features: ${[...adapter.features].sort().join(' ')}`);
console.log(`limits: ${limits.map((k) => `${k}=${adapter.limits[k]}`).join(' ')}`);
console.log(`subgroup sizes: ${info.subgroupMinSize}-${info.subgroupMaxSize}`);

const unsafe = await create(['enable-dawn-features=allow_unsafe_apis']).requestAdapter({
  powerPreference: 'high-performance',
});
if (unsafe) {
  const extra = [...unsafe.features].filter((f) => !adapter.features.has(f)).sort();
  console.log(`with allow_unsafe_apis, also: ${extra.join(' ') || '(nothing)'}`);
  const configs = unsafe.info?.subgroupMatrixConfigs ?? [];
  for (const c of configs) {
    console.log(`  subgroup matrix ${c.M}x${c.N}x${c.K} ${c.componentType} -> ${c.resultComponentType}`);
  }
}
process.exit(0);
