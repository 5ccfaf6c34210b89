// The activations matmul fuses after its bias, and their derivatives: double-precision versions for
// the CPU reference and the gradient kernel, and WGSL versions for the WebGPU epilogues.

/** An activation applied to `a @ b + bias` inside the matmul kernel. */
export type MatmulActivation = 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'silu';

export const MATMUL_ACTIVATIONS: readonly MatmulActivation[] = [
  'none',
  'relu',
  'gelu',
  'gelu_tanh',
  'quick_gelu',
  'silu',
];

const SQRT_HALF = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/**
 * erfc in double precision: the Taylor series of erf near 0 (converges with little cancellation
 * below 2.5) and the Laplace continued fraction in the tail, where 1 - erf would lose the digits
 * that GELU's negative side depends on.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - 2 * INV_SQRT_PI * sum;
  }
  if (x > 27) return 0;
  // erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), evaluated backwards.
  let f = x;
  for (let n = 60; n >= 1; n--) f = x + n / 2 / f;
  return (Math.exp(-x * x) * INV_SQRT_PI) / f;
}

/** The standard normal CDF, Φ(x) = erfc(-x/√2) / 2. */
function phi(x: number): number {
  return 0.5 * erfc(-x * SQRT_HALF);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Scalar activations in double precision (the CPU reference). */
export const ACTIVATION_FNS: Record<MatmulActivation, (x: number) => number> = {
  none: (x) => x,
  relu: (x) => Math.max(x, 0),
  gelu: (x) => x * phi(x),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
  quick_gelu: (x) => x * sigmoid(1.702 * x),
  silu: (x) => x * sigmoid(x),
};

/** Derivatives of the activations with respect to their input, in double precision. */
export const ACTIVATION_DERIVATIVES: Record<MatmulActivation, (x: number) => number> = {
  none: () => 1,
  relu: (x) => (x > 0 ? 1 : 0),
  gelu: (x) => phi(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  gelu_tanh: (x) => {
    const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
  },
  quick_gelu: (x) => {
    const s = sigmoid(1.702 * x);
    return s + 1.702 * x * s * (1 - s);
  },
  silu: (x) => {
    const s = sigmoid(x);
    return s * (1 + x * (1 - s));
  },
};

// erfc for z >= 0 after Numerical Recipes' Chebyshev fit: fractional error below 1.2e-7 over the
// whole range, so GELU keeps its relative accuracy far into the negative tail.
const WGSL_ERFC = `fn erfcPos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}
fn normalCdf(x: f32) -> f32 {
  let e = 0.5 * erfcPos(abs(x) * 0.7071067811865476);
  return select(1.0 - e, e, x < 0.0);
}
`;

// tanh of large arguments is NaN on some drivers (computed from exp ratios), and |u| > 15 is
// already +-1 in f32.
const WGSL_TANH_GELU_ARG = `fn geluTanhArg(x: f32) -> f32 { return clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0); }
`;

/** Codes of the activations in the WGSL epilogues (a uniform, so one shader serves them all). */
export const ACTIVATION_CODES: Record<MatmulActivation, number> = {
  none: 0,
  relu: 1,
  gelu: 2,
  gelu_tanh: 3,
  quick_gelu: 4,
  silu: 5,
};

/**
 * WGSL `fn act(x: f32, code: u32) -> f32` applying the activation with {@link ACTIVATION_CODES}
 * `code`, and `act4` for a vec4 (one inlined copy of `act`). The code is uniform, so the switch
 * costs one well-predicted branch per output.
 */
export const WGSL_ACTIVATIONS = `${WGSL_ERFC}${WGSL_TANH_GELU_ARG}fn act(x: f32, code: u32) -> f32 {
  switch code {
    case 1u: { return select(0.0, x, x > 0.0 || (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u); } // keeps NaN
    case 2u: { return x * normalCdf(x); }
    case 3u: { return 0.5 * x * (1.0 + tanh(geluTanhArg(x))); }
    case 4u: { return x / (1.0 + exp(-1.702 * x)); }
    case 5u: { return x / (1.0 + exp(-x)); }
    default: { return x; }
  }
}
fn act4(x: vec4<f32>, code: u32) -> vec4<f32> {
  var y = x;
  for (var c = 0u; c < 4u; c++) { y[c] = act(x[c], code); }
  return y;
}
`;

/** WGSL `fn actGrad(x: f32) -> f32`: the activation's derivative (helpers included). */
export function wgslActivationGrad(activation: MatmulActivation): string {
  switch (activation) {
    case 'none':
      return 'fn actGrad(x: f32) -> f32 { return 1.0; }\n';
    case 'relu':
      return 'fn actGrad(x: f32) -> f32 { return select(0.0, 1.0, x > 0.0); }\n';
    case 'gelu':
      return `${WGSL_ERFC}fn actGrad(x: f32) -> f32 { return normalCdf(x) + x * 0.3989422804014327 * exp(-0.5 * x * x); }\n`;
    case 'gelu_tanh':
      return `${WGSL_TANH_GELU_ARG}fn actGrad(x: f32) -> f32 {
  let t = tanh(geluTanhArg(x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}
`;
    case 'quick_gelu':
      return 'fn actGrad(x: f32) -> f32 { let s = 1.0 / (1.0 + exp(-1.702 * x)); return s + 1.702 * x * s * (1.0 - s); }\n';
    case 'silu':
      return 'fn actGrad(x: f32) -> f32 { let s = 1.0 / (1.0 + exp(-x)); return s * (1.0 + x * (1.0 - s)); }\n';
  }
}

/**
 * The activation with tfjs-core ops (`tf` is the tfjs-core namespace).
 */
// biome-ignore lint/suspicious/noExplicitAny: tfjs-core is an optional structural dependency
export function tfjsActivation(tf: any, x: any, activation: MatmulActivation): any {
  switch (activation) {
    case 'none':
      return x;
    case 'relu':
      // tfjs-wasm's relu gives 0 for NaN; the reference keeps it.
      return tf.where(tf.isNaN(x), x, tf.relu(x));
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, SQRT_HALF))));
    case 'gelu_tanh': {
      const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x)))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
    case 'quick_gelu':
      return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
  }
}
