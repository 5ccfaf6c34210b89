// Prints the WebGPU adapter Dawn finds (vendor, architecture, features, the limits the kernels use),
// or why there is none. cd packages/tensor && node bench/adapter.mjs
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
process.exit(0);
