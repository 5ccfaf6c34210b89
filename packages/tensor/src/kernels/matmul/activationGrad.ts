// The backward of matmul's fused activation: dz = dy * act'(z), elementwise, for the gradient rule.
import type { TensorInfo } from '../../backend.js';
import { assertSameShape } from '../../engine.js';
import type { Kernel } from '../../kernel.js';
import { dispatchElementwise } from '../elementwise.js';
import { ACTIVATION_DERIVATIVES, type MatmulActivation, wgslActivationGrad } from './activation.js';

/** Attributes of {@link matmulActivationGradKernel}. */
export interface MatmulActivationGradAttrs {
  readonly activation: MatmulActivation;
}

const SQRT_HALF = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Inputs `[z, dy]` (z the pre-activation), output `dy * act'(z)`. */
export const matmulActivationGradKernel: Kernel<MatmulActivationGradAttrs> = {
  name: 'matmulActivationGrad',
  infer([z, dy]): TensorInfo[] {
    if (z!.dtype !== 'f32' || dy!.dtype !== 'f32') {
      throw new TypeError(`matmul gradient: z and dy must be f32, got ${z!.dtype} and ${dy!.dtype}`);
    }
    assertSameShape(z!, dy!, 'matmul gradient', ['z', 'dy']);
    return [{ shape: z!.shape, dtype: 'f32' }];
  },
  cpu([z, dy], { activation }) {
    const d = ACTIVATION_DERIVATIVES[activation];
    const zs = z!.data;
    const gs = dy!.data;
    const out = new Float32Array(zs.length);
    // A plain loop: Float32Array.from with a map callback is several times slower.
    for (let i = 0; i < zs.length; i++) out[i] = gs[i]! * d(zs[i]!);
    return [out];
  },
  webgpu(ctx, [z, dy], [out], { activation }) {
    dispatchElementwise(
      ctx,
      `matmulActGrad:${activation}`,
      [z!, dy!],
      out!,
      'b * actGrad(a)',
      wgslActivationGrad(activation),
    );
  },
  tfjs(tf, [z, dy], { activation }) {
    const sigmoidSlope = (s: unknown, x: unknown, k: number) =>
      // s + k x s (1 - s), the derivative of x * sigmoid(k x)
      tf.add(s, tf.mul(tf.mul(tf.mul(x, k), s), tf.sub(1, s)));
    let d: unknown;
    switch (activation) {
      case 'none':
        // A copy: an output never shares an input's tf.Tensor (the backend would free it twice).
        return [tf.clone(dy)];
      case 'relu':
        d = tf.cast(tf.greater(z, 0), 'float32');
        break;
      case 'gelu': {
        const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(z, SQRT_HALF))));
        d = tf.add(cdf, tf.mul(tf.mul(z, INV_SQRT_2PI), tf.exp(tf.mul(-0.5, tf.square(z)))));
        break;
      }
      case 'gelu_tanh': {
        const t = tf.tanh(tf.mul(SQRT_2_OVER_PI, tf.add(z, tf.mul(0.044715, tf.mul(z, tf.square(z))))));
        const slope = tf.mul(SQRT_2_OVER_PI, tf.add(1, tf.mul(3 * 0.044715, tf.square(z))));
        d = tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(tf.mul(0.5, z), tf.sub(1, tf.square(t))), slope));
        break;
      }
      case 'quick_gelu':
        d = sigmoidSlope(tf.sigmoid(tf.mul(z, 1.702)), z, 1.702);
        break;
      case 'silu':
        d = sigmoidSlope(tf.sigmoid(z), z, 1);
        break;
    }
    return [tf.mul(dy, d)];
  },
};
