// Errors found inside WebGPU kernels (an index out of range, a weight that cannot be quantized): a
// kernel cannot throw, so it sets a bit in a small flag buffer of the backend and carries on
// (with a clamped index, a NaN); the next read
// copies the flags with its result and throws, naming the ops that set them. CUDA reports its
// device-side asserts the same way, at the next synchronization.

/** The bit each checking op sets. */
export const DEVICE_ERROR_BITS = {
  gather: 1,
  scatterAdd: 2,
  crossEntropy: 4,
  quantizeWeight: 8,
} as const;

export type DeviceErrorOp = keyof typeof DEVICE_ERROR_BITS;

/** WGSL `flagError(bit)`, for a shader that declares the flag buffer as `deviceErrors` itself. */
export const WGSL_FLAG_ERROR = 'fn flagError(bit: u32) { atomicOr(&deviceErrors[0], bit); }';

/** WGSL declaring the flag buffer at `binding`, and `flagError(bit)`. */
export function wgslDeviceErrors(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> deviceErrors: array<atomic<u32>>;
${WGSL_FLAG_ERROR}`;
}

/** The error a read throws for the flags `bits` (nonzero). */
export function deviceError(bits: number): Error {
  const ops = Object.entries(DEVICE_ERROR_BITS)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([op]) => op);
  const indexOps = ops.filter((op) => op !== 'quantizeWeight');
  const found = [
    ...(indexOps.length > 0 ? [`${indexOps.join(' and ')} met an index out of range`] : []),
    ...(ops.includes('quantizeWeight') ? ['quantizeWeight met NaN or an infinity in the weight'] : []),
  ];
  return new RangeError(
    `WebGPU: ${found.join(', and ')} in a kernel queued before this read; what depends on it is wrong ` +
      '(gather and scatterAdd clamp the index, crossEntropy gives NaN, quantizeWeight a NaN scale). ' +
      'The CPU backend names the value and its position.',
  );
}
