import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const m = process.argv[2] || '';
const opts = {};
if (m.includes('f')) opts.requiredFeatures = ['subgroups', 'timestamp-query'].filter((f) => adapter.features.has(f));
if (m.includes('l')) { opts.requiredLimits = {}; for (const k of ['maxBufferSize','maxStorageBufferBindingSize','maxComputeWorkgroupStorageSize','maxComputeInvocationsPerWorkgroup','maxComputeWorkgroupSizeX','maxComputeWorkgroupSizeY','maxComputeWorkgroupsPerDimension','maxStorageBuffersPerShaderStage']) opts.requiredLimits[k] = adapter.limits[k]; }
const device = await adapter.requestDevice(opts);
if (m.includes('e')) { device.lost.then(() => {}); device.onuncapturederror = () => {}; }
const src = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
const staging = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
for (let i = 0; i < 300; i++) {
  device.queue.writeBuffer(src, 0, new Float32Array([i, 2, 3, 4]));
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, 12);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(1, 0, 12);
  const v = new Float32Array(staging.getMappedRange(0, 12).slice(0));
  staging.unmap();
  if (m.includes("g")) globalThis.gc();
}
device.destroy();
console.log('done');
