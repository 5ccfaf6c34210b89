// The CPU's draws from one row of weights, computed as the WebGPU kernel computes them: in f32,
// with its sums in its order (one running sum for rows up to ROWWISE_MAX; above, 256 segment sums,
// a scan over them, then a running sum inside the segment found), so that the same seed draws the
// same ids on both backends even when a uniform number lands within rounding of a boundary (f64
// sums in index order flipped such draws by one id, about once in a few hundred test runs).

/** Rows up to this length run one sequential pass per draw on the GPU (sampling.ts's rowwise kernel). */
export const ROWWISE_MAX = 1024;
/** Invocations of the GPU's workgroup per row, each summing one contiguous segment. */
export const WG = 256;

const f = Math.fround;

/** What a row's draws depend on (see SampleAttrs in sampling.ts). */
export interface RowDrawAttrs {
  /** 'probs' weighs the values as they are; anything else ('logits') by exp. */
  mode: string;
  temperature: number;
  topP: number;
  minP: number;
}

/**
 * The row's f32 weights as the GPU's `weight()` gives them: probabilities below 0 or NaN weigh 0;
 * logits weigh `exp((x - max) / temperature)`, the largest exactly 1, NaN and a row of -Infinity 0.
 */
export function rowWeightsF32(
  v: ArrayLike<number>,
  base: number,
  K: number,
  attrs: RowDrawAttrs,
): Float32Array {
  const w = new Float32Array(K);
  if (attrs.mode === 'probs') {
    for (let j = 0; j < K; j++) {
      const x = v[base + j]!;
      // biome-ignore lint/complexity/useMathMinMax: NaN must weigh 0, which Math.max would not give
      w[j] = x > 0 ? x : 0;
    }
    return w;
  }
  let vmax = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < K; j++) if (v[base + j]! > vmax) vmax = v[base + j]!;
  if (vmax === Number.NEGATIVE_INFINITY) return w;
  const t = f(attrs.temperature);
  for (let j = 0; j < K; j++) {
    const x = v[base + j]!;
    if (Number.isNaN(x)) continue;
    w[j] = x === vmax ? 1 : f(Math.exp(f(f(x - vmax) / t))); // exp is never negative
  }
  return w;
}

/** Kept by the min-p cut and weighing something. */
const kept = (w: number, minP: number) => w >= minP && w > 0;

/**
 * The positions drawn from weights `w` (f32, one row) at uniform numbers `u[uBase + s]` for
 * `s < draws`; -1 where nothing weighs anything.
 */
export function drawRow(
  w: Float32Array,
  attrs: RowDrawAttrs,
  u: ArrayLike<number>,
  uBase: number,
  draws: number,
): Int32Array {
  return w.length <= ROWWISE_MAX
    ? drawSequential(w, attrs, u, uBase, draws)
    : drawSegmented(w, attrs, u, uBase, draws);
}

/** The GPU's rowwise kernel: running f32 sums in index order. */
function drawSequential(
  w: Float32Array,
  a: RowDrawAttrs,
  u: ArrayLike<number>,
  uBase: number,
  draws: number,
) {
  const K = w.length;
  let total = 0;
  for (let j = 0; j < K; j++) total = f(total + w[j]!);
  let end = K;
  if (a.topP < 1) {
    const threshold = f(a.topP * total);
    let c = 0;
    for (let j = 0; j < K; j++) {
      c = f(c + w[j]!);
      if (c >= threshold) {
        end = j + 1;
        break;
      }
    }
  }
  let mass = 0;
  let last = -1;
  for (let j = 0; j < end; j++) {
    if (kept(w[j]!, a.minP)) {
      mass = f(mass + w[j]!);
      last = j;
    }
  }
  const out = new Int32Array(draws).fill(last);
  if (!(mass > 0)) return out;
  for (let s = 0; s < draws; s++) {
    const goal = f(u[uBase + s]! * mass);
    out[s] = passGoal(w, a.minP, 0, end, 0, goal) ?? out[s]!;
  }
  return out;
}

/**
 * The first kept position in `[from, end)` where the f32 running sum, starting at `start`, passes
 * `goal`; undefined when none does.
 */
function passGoal(w: Float32Array, minP: number, from: number, end: number, start: number, goal: number) {
  let c = start;
  for (let j = from; j < end; j++) {
    if (!kept(w[j]!, minP)) continue;
    c = f(c + w[j]!);
    if (c > goal) return j;
  }
  return undefined;
}

/** Exclusive f32 scan of the segment sums, in order: the starts, and the total. */
function scan(sums: Float32Array): { starts: Float32Array; total: number } {
  const starts = new Float32Array(WG);
  let c = 0;
  for (let t = 0; t < WG; t++) {
    starts[t] = c;
    c = f(c + sums[t]!);
  }
  return { starts, total: c };
}

/** The GPU's workgroup kernel: segment sums, a scan over them, a search, a running sum inside. */
function drawSegmented(w: Float32Array, a: RowDrawAttrs, u: ArrayLike<number>, uBase: number, draws: number) {
  const K = w.length;
  const seg = Math.max(1, Math.ceil(K / WG));
  const range = (t: number) => [Math.min(t * seg, K), Math.min(Math.min(t * seg, K) + seg, K)] as const;
  const sums = new Float32Array(WG);
  for (let t = 0; t < WG; t++) {
    const [lo, hi] = range(t);
    let acc = 0;
    for (let j = lo; j < hi; j++) acc = f(acc + w[j]!);
    sums[t] = acc;
  }
  const first = scan(sums);
  let end = K;
  if (a.topP < 1) {
    // Each segment's first position reaching the threshold, the lowest of them.
    const threshold = f(a.topP * first.total);
    for (let t = 0; t < WG; t++) {
      const [lo, hi] = range(t);
      let c = first.starts[t]!;
      for (let j = lo; j < hi; j++) {
        c = f(c + w[j]!);
        if (c >= threshold) {
          end = Math.min(end, j + 1);
          break;
        }
      }
    }
  }
  let last = -1;
  for (let t = 0; t < WG; t++) {
    const [lo, hi] = range(t);
    let acc = 0;
    for (let j = lo; j < Math.min(hi, end); j++) {
      if (kept(w[j]!, a.minP)) {
        acc = f(acc + w[j]!);
        last = Math.max(last, j);
      }
    }
    sums[t] = acc;
  }
  const { starts, total: mass } = scan(sums);
  const out = new Int32Array(draws).fill(last);
  if (!(mass > 0)) return out;
  for (let s = 0; s < draws; s++) {
    const goal = f(u[uBase + s]! * mass);
    // The first segment whose running sum passes the goal (the GPU's binary search, step for step).
    let lo = 0;
    let hi = WG - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f(starts[mid]! + sums[mid]!) > goal) hi = mid;
      else lo = mid + 1;
    }
    out[s] = passGoal(w, a.minP, Math.min(lo * seg, end), end, starts[lo]!, goal) ?? out[s]!;
  }
  return out;
}
