// Packed, cache-blocked f32 GEMM for wasm32 + SIMD128, run by one or more threads that share one
// WebAssembly.Memory. Built by ./build.mjs (see there for the flags); the TypeScript side lives in
// src/backends/cpu/wasm/.
//
// C[m, n] = act(sum_k A[m, k] * B[k, n] + bias[n]), for a batch of (A, B, C) pointer triples that
// share one shape. The host writes a job descriptor into memory and every thread calls run(desc,
// tid). The job is cut into tasks (an item, a block of rows, a block of columns, all of K) that the
// threads take in turn from an atomic counter: a thread that is slowed down (a busy neighbour on
// the machine, a late wake-up) simply takes fewer tasks, which a static split cannot do.
//
// Why it looks like this (GotoBLAS / BLIS structure):
// - A 4x8 register tile: 8 f32x4 accumulators + 2 B vectors + 1 A splat fit in the 15 SIMD
//   registers V8 leaves us; a larger tile spills.
// - B is packed into 8-column strips (one strip of KC rows is 8 KiB: it stays in L1 while the
//   kernel sweeps every 4-row strip of the packed A block, which stays in L2). A thread packs the
//   B panel of a task for all of K at once and keeps it for its next task if that task has the
//   same columns (tasks are ordered rows-fastest, so it usually does).
// - Packing also turns both transpose cases into the same contiguous, unit-stride kernel.
// - The kernels use no shadow stack (no address-taken locals, no arrays on the stack), which is
//   what makes one module instance per thread safe on a shared memory whose stack pointer starts at
//   the same address in every instance. The host also gives each worker its own stack through the
//   exported __stack_pointer, so a future change that does spill to the stack stays safe.

#include <wasm_simd128.h>

#define MR 4
#define NR 8
// Block sizes (overridable with -D for tuning experiments; 256/128 measured as good as any here).
// K block: a packed B strip of KC x NR floats is 8 KiB (L1 is 32 KiB).
#ifndef KC
#define KC 256
#endif
// M block: a packed A block of MC x KC floats is 128 KiB (L2 is 512 KiB).
#ifndef MC
#define MC 128
#endif
// Packed B panel of a task: K x (columns of the task, rounded up to NR) floats, 4 MiB. The host
// picks the task's columns so that it fits.
#define PACK_B_FLOATS (1024 * 1024)
#define PACK_A_FLOATS (MC * KC)
#define TILE_FLOATS (MR * NR)
#define WORKSPACE_FLOATS (PACK_A_FLOATS + PACK_B_FLOATS + TILE_FLOATS)
#define MAX_THREADS 16

enum {
  KIND_GEMM = 0,
  KIND_Q8_GEMV,
  KIND_Q4_GEMV,
  KIND_Q8_DEQUANT,
  KIND_Q4_DEQUANT,
  KIND_ATTENTION,
  KIND_F16_WIDEN,
  KIND_BF16_WIDEN
};

enum { ACT_NONE = 0, ACT_RELU, ACT_GELU, ACT_GELU_TANH, ACT_QUICK_GELU, ACT_SILU };

// The job descriptor the host writes (all 32-bit words; pointers are byte offsets in memory).
typedef struct {
  int m, n, k;
  int lda, ldb, ldc;
  int trans_a, trans_b;
  const float *bias; // 0 when there is no bias; padded by NR floats so tiles may read past N
  int act;
  int batch;
  const int *table;  // batch x {a, b, c} pointers
  int task_rows;     // rows per task (a multiple of MR)
  int task_cols;     // columns per task (a multiple of NR; k * task_cols <= PACK_B_FLOATS)
  int next_task;     // the task counter, zeroed by the host, taken atomically by the threads
  int kind;          // KIND_GEMM, or a quantized-weight job (see the quantized section)
  int packed_b;      // 1: the table's B is already packed whole by pack_b_full (GEMM, batch 1)
  const int *b_rows; // 0, or K offsets (floats): row k of B starts at B + b_rows[k] (not transposed;
                     // a convolution's taps over its padded input, without an im2col matrix)
  float *workspace[MAX_THREADS]; // per thread: WORKSPACE_FLOATS floats, 16-byte aligned
} Desc;

// clang lowers zero-fill loops and struct copies to memset/memcpy calls; with -mbulk-memory these
// builtins become memory.fill / memory.copy, and these definitions satisfy any call that remains.
void *memset(void *dst, int value, unsigned long size) {
  __builtin_memset(dst, value, size);
  return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, unsigned long size) {
  __builtin_memcpy(dst, src, size);
  return dst;
}

static inline int min_int(int a, int b) { return a < b ? a : b; }

// Splits `total` into equal blocks of at most `max_block` (a multiple of `align`), rounded up to
// `align`: K = 300 runs as 152 + 148 rather than 256 + 44, whose short second pass would pay the
// tile load/store overhead for little work.
static inline int block_size(int total, int max_block, int align) {
  int blocks = (total + max_block - 1) / max_block;
  int size = (total + blocks - 1) / blocks;
  return (size + align - 1) / align * align;
}

// ---- packing -------------------------------------------------------------------------------

// Transposes a 4x4 block held in r0..r3 in place (rows become columns).
#define TRANSPOSE4(r0, r1, r2, r3)                         \
  do {                                                     \
    v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5);    \
    v128_t t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);    \
    v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);    \
    v128_t t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);    \
    r0 = wasm_i64x2_shuffle(t0, t2, 0, 2);                 \
    r1 = wasm_i64x2_shuffle(t0, t2, 1, 3);                 \
    r2 = wasm_i64x2_shuffle(t1, t3, 0, 2);                 \
    r3 = wasm_i64x2_shuffle(t1, t3, 1, 3);                 \
  } while (0)

// Packs A[m0 : m0+mc, k0 : k0+kc] into strips of MR rows: dst[strip][k][i], zero-padding the last
// strip. A[m, k] is src[m * ld + k], or src[k * ld + m] when transposed.
__attribute__((noinline)) static void pack_a(const float *src, int ld, int trans, int m0, int mc, int k0, int kc, float *dst) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    int rows = min_int(MR, mc - i0);
    float *d = dst + i0 * kc;
    if (trans) {
      const float *s = src + k0 * ld + m0 + i0;
      if (rows == MR) {
        for (int k = 0; k < kc; k++) wasm_v128_store(d + k * MR, wasm_v128_load(s + k * ld));
      } else {
        for (int k = 0; k < kc; k++)
          for (int i = 0; i < MR; i++) d[k * MR + i] = i < rows ? s[k * ld + i] : 0.0f;
      }
    } else {
      const float *s = src + (m0 + i0) * ld + k0;
      if (rows == MR) {
        int k = 0;
        for (; k + 4 <= kc; k += 4) {
          v128_t r0 = wasm_v128_load(s + k);
          v128_t r1 = wasm_v128_load(s + ld + k);
          v128_t r2 = wasm_v128_load(s + 2 * ld + k);
          v128_t r3 = wasm_v128_load(s + 3 * ld + k);
          TRANSPOSE4(r0, r1, r2, r3);
          wasm_v128_store(d + k * MR, r0);
          wasm_v128_store(d + k * MR + 4, r1);
          wasm_v128_store(d + k * MR + 8, r2);
          wasm_v128_store(d + k * MR + 12, r3);
        }
        for (; k < kc; k++)
          for (int i = 0; i < MR; i++) d[k * MR + i] = s[i * ld + k];
      } else {
        for (int k = 0; k < kc; k++)
          for (int i = 0; i < MR; i++) d[k * MR + i] = i < rows ? s[i * ld + k] : 0.0f;
      }
    }
  }
}

// Packs B[k0 : k0+kc, n0 : n0+nc] into strips of NR columns: dst[strip][k][j], zero-padding the last
// strip. B[k, n] is src[k * ld + n], or src[rows[k] + n] with a row table, or src[n * ld + k] when
// transposed.
__attribute__((noinline)) static void pack_b(const float *src, int ld, int trans, const int *rows, int k0, int kc,
                                             int n0, int nc, float *dst) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    int cols = min_int(NR, nc - j0);
    float *d = dst + j0 * kc;
    if (!trans && rows) {
      for (int k = 0; k < kc; k++) {
        const float *s = src + rows[k0 + k] + n0 + j0;
        if (cols == NR) {
          wasm_v128_store(d + k * NR, wasm_v128_load(s));
          wasm_v128_store(d + k * NR + 4, wasm_v128_load(s + 4));
        } else {
          for (int j = 0; j < NR; j++) d[k * NR + j] = j < cols ? s[j] : 0.0f;
        }
      }
    } else if (!trans) {
      const float *s = src + k0 * ld + n0 + j0;
      if (cols == NR) {
        for (int k = 0; k < kc; k++) {
          wasm_v128_store(d + k * NR, wasm_v128_load(s + k * ld));
          wasm_v128_store(d + k * NR + 4, wasm_v128_load(s + k * ld + 4));
        }
      } else {
        for (int k = 0; k < kc; k++)
          for (int j = 0; j < NR; j++) d[k * NR + j] = j < cols ? s[k * ld + j] : 0.0f;
      }
    } else {
      // Rows of the source are columns of B: transpose 4x4 blocks from 8 source rows at a time.
      const float *s = src + (n0 + j0) * ld + k0;
      if (cols == NR) {
        int k = 0;
        for (; k + 4 <= kc; k += 4) {
          v128_t r0 = wasm_v128_load(s + k);
          v128_t r1 = wasm_v128_load(s + ld + k);
          v128_t r2 = wasm_v128_load(s + 2 * ld + k);
          v128_t r3 = wasm_v128_load(s + 3 * ld + k);
          v128_t r4 = wasm_v128_load(s + 4 * ld + k);
          v128_t r5 = wasm_v128_load(s + 5 * ld + k);
          v128_t r6 = wasm_v128_load(s + 6 * ld + k);
          v128_t r7 = wasm_v128_load(s + 7 * ld + k);
          TRANSPOSE4(r0, r1, r2, r3);
          TRANSPOSE4(r4, r5, r6, r7);
          wasm_v128_store(d + k * NR, r0);
          wasm_v128_store(d + k * NR + 4, r4);
          wasm_v128_store(d + k * NR + 8, r1);
          wasm_v128_store(d + k * NR + 12, r5);
          wasm_v128_store(d + k * NR + 16, r2);
          wasm_v128_store(d + k * NR + 20, r6);
          wasm_v128_store(d + k * NR + 24, r3);
          wasm_v128_store(d + k * NR + 28, r7);
        }
        for (; k < kc; k++)
          for (int j = 0; j < NR; j++) d[k * NR + j] = s[j * ld + k];
      } else {
        for (int k = 0; k < kc; k++)
          for (int j = 0; j < NR; j++) d[k * NR + j] = j < cols ? s[j * ld + k] : 0.0f;
      }
    }
  }
}

// ---- the 4x8 micro-kernel ------------------------------------------------------------------

#ifdef VL_RELAXED_SIMD
// f32x4.relaxed_madd(a, b, c) = a * b + c, fused or not at the engine's choice. clang 14 spells it
// __builtin_wasm_fma_f32x4 and encodes a pre-standard opcode (whose operand order was c + a * b)
// that wasmPeephole.mjs rewrites to the standard one, so the operands are in the standard order.
#define MADD(acc, a, b) __builtin_wasm_fma_f32x4(a, b, acc)
#else
#define MADD(acc, a, b) wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))
#endif

// c[0:4, 0:8] (+)= a[kc x 4] * b[kc x 8]: row i of a at a_i, the next k `astep` floats on; b rows
// are bstride floats apart (NR when packed).
static inline __attribute__((always_inline)) void tile_4x8(int kc, const float *a0, const float *a1,
                                                           const float *a2, const float *a3, int astep,
                                                           const float *b, int bstride, float *c, int ldc,
                                                           int accumulate) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < kc; k++) {
    v128_t b0 = wasm_v128_load(b);
    v128_t b1 = wasm_v128_load(b + 4);
    v128_t x0 = wasm_v128_load32_splat(a0);
    c00 = MADD(c00, x0, b0);
    c01 = MADD(c01, x0, b1);
    v128_t x1 = wasm_v128_load32_splat(a1);
    c10 = MADD(c10, x1, b0);
    c11 = MADD(c11, x1, b1);
    v128_t x2 = wasm_v128_load32_splat(a2);
    c20 = MADD(c20, x2, b0);
    c21 = MADD(c21, x2, b1);
    v128_t x3 = wasm_v128_load32_splat(a3);
    c30 = MADD(c30, x3, b0);
    c31 = MADD(c31, x3, b1);
    a0 += astep;
    a1 += astep;
    a2 += astep;
    a3 += astep;
    b += bstride;
  }
  if (accumulate) {
    c00 = wasm_f32x4_add(c00, wasm_v128_load(c));
    c01 = wasm_f32x4_add(c01, wasm_v128_load(c + 4));
    c10 = wasm_f32x4_add(c10, wasm_v128_load(c + ldc));
    c11 = wasm_f32x4_add(c11, wasm_v128_load(c + ldc + 4));
    c20 = wasm_f32x4_add(c20, wasm_v128_load(c + 2 * ldc));
    c21 = wasm_f32x4_add(c21, wasm_v128_load(c + 2 * ldc + 4));
    c30 = wasm_f32x4_add(c30, wasm_v128_load(c + 3 * ldc));
    c31 = wasm_f32x4_add(c31, wasm_v128_load(c + 3 * ldc + 4));
  }
  wasm_v128_store(c, c00);
  wasm_v128_store(c + 4, c01);
  wasm_v128_store(c + ldc, c10);
  wasm_v128_store(c + ldc + 4, c11);
  wasm_v128_store(c + 2 * ldc, c20);
  wasm_v128_store(c + 2 * ldc + 4, c21);
  wasm_v128_store(c + 3 * ldc, c30);
  wasm_v128_store(c + 3 * ldc + 4, c31);
}

// A packed into a strip of MR rows (pack_a): a[k * MR + i].
__attribute__((noinline)) static void kernel_4x8(int kc, const float *a, const float *b, int bstride, float *c, int ldc,
                                                 int accumulate) {
  tile_4x8(kc, a, a + 1, a + 2, a + 3, MR, b, bstride, c, ldc, accumulate);
}

// A read in place: `rows` (1..MR) rows lda floats apart; a missing row repeats the last one (its
// results land in tile rows the caller discards), so nothing past A is read.
__attribute__((noinline)) static void kernel_4x8_rows(int kc, const float *a, int lda, int rows, const float *b,
                                                      int bstride, float *c, int ldc, int accumulate) {
  tile_4x8(kc, a, a + min_int(1, rows - 1) * lda, a + min_int(2, rows - 1) * lda, a + min_int(3, rows - 1) * lda,
           1, b, bstride, c, ldc, accumulate);
}

// ---- epilogue: bias and activation ---------------------------------------------------------

static inline v128_t splat(float x) { return wasm_f32x4_splat(x); }

// exp(x) for f32 lanes, Cephes-style: x = n ln2 + r, |r| <= ln2/2, degree-7 polynomial for e^r,
// 2^n built in the exponent bits. Relative error ~1e-7; inputs are clamped to the normal range.
#define EXP_MIN_ARG -87.3f // below it exp(x) is not a normal float

static inline v128_t vexp(v128_t x) {
  // Past ln(FLT_MAX) the result is +Inf (so a sigmoid of a very negative input is 0, not a tiny
  // number that turns x * sigmoid(x) into O(1) for x near -FLT_MAX).
  const v128_t overflow = wasm_f32x4_gt(x, splat(88.72284f));
  x = wasm_f32x4_min(wasm_f32x4_max(x, splat(EXP_MIN_ARG)), splat(88.3f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, splat(-2.12194440e-4f)));
  v128_t p = splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(p, wasm_f32x4_mul(r, r)), r), splat(1.0f));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_v128_bitselect(splat(__builtin_inff()), wasm_f32x4_mul(p, scale), overflow);
}

// 1 / (1 + exp(-x))
static inline v128_t vsigmoid(v128_t x) {
  return wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), vexp(wasm_f32x4_neg(x))));
}

// erfc(z) for z >= 0, after the Chebyshev fit in Numerical Recipes (erfcc): fractional error below
// 1.2e-7 over the whole range, so GELU keeps its relative accuracy far into the negative tail,
// where 1 + erf(x) would cancel to nothing (it matches the WebGPU kernel's formula).
static inline v128_t verfc_pos(v128_t z) {
  v128_t t = wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), wasm_f32x4_mul(splat(0.5f), z)));
  v128_t p = splat(0.17087277f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-0.82215223f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(1.48851587f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-1.13520398f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.27886807f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-0.18628806f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.09678418f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.37409196f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(1.00002368f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-1.26551223f));
  return wasm_f32x4_mul(t, vexp(wasm_f32x4_sub(p, wasm_f32x4_mul(z, z))));
}

// Phi(x), the standard normal CDF: erfc(-x / sqrt 2) / 2 = 1 - erfc(x / sqrt 2) / 2, from erfc of
// |x| so that the negative tail keeps its relative accuracy.
static inline v128_t vnormal_cdf(v128_t x) {
  v128_t half_erfc = wasm_f32x4_mul(splat(0.5f), verfc_pos(wasm_f32x4_mul(wasm_f32x4_abs(x), splat(0.70710678118654752f))));
  return wasm_v128_bitselect(half_erfc, wasm_f32x4_sub(splat(1.0f), half_erfc), wasm_f32x4_lt(x, splat(0.0f)));
}

static inline v128_t activate(v128_t x, int act) {
  switch (act) {
    case ACT_RELU:
      return wasm_f32x4_max(x, splat(0.0f));
    case ACT_GELU:
      return wasm_f32x4_mul(x, vnormal_cdf(x));
    case ACT_GELU_TANH: { // 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation for u << 0
      v128_t u = wasm_f32x4_mul(splat(0.79788456080286536f),
                                wasm_f32x4_add(x, wasm_f32x4_mul(splat(0.044715f), wasm_f32x4_mul(x, wasm_f32x4_mul(x, x)))));
      return wasm_f32x4_mul(x, vsigmoid(wasm_f32x4_add(u, u)));
    }
    case ACT_QUICK_GELU:
      return wasm_f32x4_mul(x, vsigmoid(wasm_f32x4_mul(x, splat(1.702f))));
    case ACT_SILU:
      return wasm_f32x4_mul(x, vsigmoid(x));
    default:
      return x;
  }
}

// Applies bias (may be 0) and the activation to a 4x8 tile of c in place.
static void epilogue_4x8(float *c, int ldc, const float *bias, int act) {
  v128_t b0 = bias ? wasm_v128_load(bias) : splat(0.0f);
  v128_t b1 = bias ? wasm_v128_load(bias + 4) : splat(0.0f);
  for (int i = 0; i < MR; i++) {
    float *row = c + i * ldc;
    wasm_v128_store(row, activate(wasm_f32x4_add(wasm_v128_load(row), b0), act));
    wasm_v128_store(row + 4, activate(wasm_f32x4_add(wasm_v128_load(row + 4), b1), act));
  }
}

// ---- one task: rows [m0, m1) x columns [n0, n1) of one item, all of K ------------------------

// Packs B[:, n0:n1] for all of K: for each K block of kc_step rows, the strips of that block are
// contiguous, so the strip for (pc, jr) starts at pb + pc * round_up(n1 - n0, NR) + jr * kc.
static void pack_b_panel(const float *B, int ldb, int trans_b, const int *rows, int K, int n0, int n1, float *pb) {
  const int kc_step = block_size(K, KC, 4), ncp = (n1 - n0 + NR - 1) / NR * NR;
  for (int pc = 0; pc < K; pc += kc_step)
    pack_b(B, ldb, trans_b, rows, pc, min_int(kc_step, K - pc), n0, n1 - n0, pb + pc * ncp);
}

// `pb` holds packed strips laid out as pack_b_panel writes them, `pb_ncp` columns wide per K block,
// with this task's first column at strip offset `pb_col` (0 for a task's own panel, n0 for a B
// packed whole ahead of time).
// With `direct_a` the kernel reads A's rows in place instead of a packed copy (A not transposed):
// a task that covers few columns would otherwise spend much of its time packing A.
static void run_task(const Desc *d, int item, int m0, int m1, int n0, int n1, int direct_b, int direct_a,
                     const float *pb, int pb_ncp, int pb_col, float *ws) {
  const float *A = (const float *)d->table[3 * item];
  const float *B = (const float *)d->table[3 * item + 1];
  float *C = (float *)d->table[3 * item + 2];
  const int K = d->k, ldc = d->ldc, act = d->act;
  const float *bias = d->bias;
  const int epilogue = bias != 0 || act != ACT_NONE;
  float *pa = ws;
  float *tile = ws + PACK_A_FLOATS + PACK_B_FLOATS;
  const int nc = n1 - n0;
  const int kc_step = block_size(K, KC, 4), mc_step = block_size(m1 - m0, MC, MR);
  for (int pc = 0; pc < K; pc += kc_step) {
    int kc = min_int(kc_step, K - pc);
    int first = pc == 0, last = pc + kc >= K;
    for (int ic = m0; ic < m1; ic += mc_step) {
      int mc = min_int(mc_step, m1 - ic);
      if (!direct_a) pack_a(A, d->lda, d->trans_a, ic, mc, pc, kc, pa);
      for (int jr = 0; jr < nc; jr += NR) {
        int cols = min_int(NR, nc - jr);
        const float *b = direct_b ? B + pc * d->ldb + n0 + jr : pb + pc * pb_ncp + (pb_col + jr) * kc;
        int bstride = direct_b ? d->ldb : NR;
        const float *bias_j = bias ? bias + n0 + jr : 0;
        for (int ir = 0; ir < mc; ir += MR) {
          int rows = min_int(MR, mc - ir);
          float *c = C + (ic + ir) * ldc + n0 + jr;
          const float *a = direct_a ? A + (ic + ir) * d->lda + pc : pa + ir * kc;
          if (rows == MR && cols == NR) {
            if (direct_a) kernel_4x8_rows(kc, a, d->lda, MR, b, bstride, c, ldc, !first);
            else kernel_4x8(kc, a, b, bstride, c, ldc, !first);
            if (last && epilogue) epilogue_4x8(c, ldc, bias_j, act);
          } else {
            // Edge tile: compute the full tile into scratch (padding lanes are discarded; in
            // direct-B mode they may hold bytes from past the row, which is harmless).
            if (direct_a) kernel_4x8_rows(kc, a, d->lda, rows, b, bstride, tile, NR, 0);
            else kernel_4x8(kc, a, b, bstride, tile, NR, 0);
            if (!first)
              for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) tile[i * NR + j] += c[i * ldc + j];
            if (last && epilogue) epilogue_4x8(tile, NR, bias_j, act);
            for (int i = 0; i < rows; i++)
              for (int j = 0; j < cols; j++) c[i * ldc + j] = tile[i * NR + j];
          }
        }
      }
    }
  }
}


// ---- quantized weights (q8, q4) ------------------------------------------------------------
//
// b is a [N, K] weight (the `linear` layout) in blocks of 32 values along K with one f32 scale each
// (layout: QuantizedDType in src/dtype.ts): N * K int8 (q8) or N * K / 2 bytes of nibbles (q4,
// value 2j in the low nibble of byte j, stored as q + 8), then N * K / 32 f32 scales.
// - KIND_Q*_GEMV, a few rows of A (decode): tasks are blocks of task_cols columns. The host hands
//   A over as int16 with one f32 scale per block of 32 (x ~ xq * xs, error 1/65534 of the block's
//   largest |x|, far below the weights' own), so a block's dot product is 4 i32x4.dot_i16x8_s on
//   sign-extended weights, exact in int32, then one convert and one multiply-add by the two scales:
//   about a third of the instructions of converting every weight to f32.
// - KIND_Q*_DEQUANT (many rows): tasks are blocks of task_rows weight rows written as f32 [N, K] to
//   C; the host then runs the f32 GEMM on them with trans_b.
// Table entry 0 holds {A, the quantized weight, C}; m, n, k, bias and act as for the GEMM.

// 32 signed values of a block as two i8x16 vectors (values 0..15 and 16..31).
#define LOAD_Q8(w, v0, v1)                \
  do {                                     \
    v0 = wasm_v128_load(w);                \
    v1 = wasm_v128_load((w) + 16);         \
  } while (0)
// q4: byte j holds values 2j (low nibble) and 2j + 1 (high nibble). v0 gets the even values and v1
// the odd ones; the host stores each block of A's int16 values in that order (evens, then odds), so
// no shuffle is needed here.
#define LOAD_Q4(w, v0, v1)                                                             \
  do {                                                                                 \
    v128_t raw = wasm_v128_load(w);                                                    \
    v0 = wasm_i8x16_sub(wasm_v128_and(raw, wasm_i8x16_splat(15)), wasm_i8x16_splat(8)); \
    v1 = wasm_i8x16_sub(wasm_u8x16_shr(raw, 4), wasm_i8x16_splat(8));                  \
  } while (0)

// The 4 f32 lanes of the i8x16 `v`'s quarter `q` (0..3).
#define CVT(v, q)                                                                                   \
  wasm_f32x4_convert_i32x4((q) & 1 ? wasm_i32x4_extend_high_i16x8((q) & 2 ? wasm_i16x8_extend_high_i8x16(v) : wasm_i16x8_extend_low_i8x16(v)) \
                                   : wasm_i32x4_extend_low_i16x8((q) & 2 ? wasm_i16x8_extend_high_i8x16(v) : wasm_i16x8_extend_low_i8x16(v)))

// sum_i v[i] * x[i] over a block of 32 with int16 x: exact int32 sums (|v| <= 127, |x| <= 32767).
static inline v128_t block_dot_i16(v128_t v0, v128_t v1, const short *x) {
  v128_t p = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(v0), wasm_v128_load(x));
  v128_t q = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(v0), wasm_v128_load(x + 8));
  p = wasm_i32x4_add(p, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(v1), wasm_v128_load(x + 16)));
  q = wasm_i32x4_add(q, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(v1), wasm_v128_load(x + 24)));
  return wasm_i32x4_add(p, q);
}

// out[0:32] = v * scale.
static inline void block_store(v128_t v0, v128_t v1, v128_t scale, float *out) {
  wasm_v128_store(out, wasm_f32x4_mul(CVT(v0, 0), scale));
  wasm_v128_store(out + 4, wasm_f32x4_mul(CVT(v0, 1), scale));
  wasm_v128_store(out + 8, wasm_f32x4_mul(CVT(v0, 2), scale));
  wasm_v128_store(out + 12, wasm_f32x4_mul(CVT(v0, 3), scale));
  wasm_v128_store(out + 16, wasm_f32x4_mul(CVT(v1, 0), scale));
  wasm_v128_store(out + 20, wasm_f32x4_mul(CVT(v1, 1), scale));
  wasm_v128_store(out + 24, wasm_f32x4_mul(CVT(v1, 2), scale));
  wasm_v128_store(out + 28, wasm_f32x4_mul(CVT(v1, 3), scale));
}

static inline float hsum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

// Dequantizes weight row `j` (K values) into out.
static void dequant_row(const unsigned char *w, const float *scales, int q4, int K, int j, float *out) {
  const int nb = K / 32;
  const unsigned char *row = w + (q4 ? j * (K / 2) : j * K);
  const float *s = scales + j * nb;
  for (int b = 0; b < nb; b++) {
    v128_t v0, v1;
    if (q4) {
      v128_t even, odd;
      LOAD_Q4(row + b * 16, even, odd);
      v0 = wasm_i8x16_shuffle(even, odd, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      v1 = wasm_i8x16_shuffle(even, odd, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    } else {
      LOAD_Q8(row + b * 32, v0, v1);
    }
    block_store(v0, v1, wasm_f32x4_splat(s[b]), out + b * 32);
  }
}

// Bias and activation over `count` consecutive outputs.
static void epilogue_run(float *c, int count, const float *bias, int act) {
  int j = 0;
  for (; j + 4 <= count; j += 4) {
    v128_t x = wasm_v128_load(c + j);
    if (bias) x = wasm_f32x4_add(x, wasm_v128_load(bias + j));
    wasm_v128_store(c + j, activate(x, act));
  }
  for (; j < count; j++) {
    float x = c[j] + (bias ? bias[j] : 0.0f);
    c[j] = wasm_f32x4_extract_lane(activate(wasm_f32x4_splat(x), act), 0);
  }
}

static void run_quantized(Desc *d) {
  const int q4 = d->kind == KIND_Q4_GEMV || d->kind == KIND_Q4_DEQUANT;
  const int dequant = d->kind == KIND_Q8_DEQUANT || d->kind == KIND_Q4_DEQUANT;
  const int M = d->m, N = d->n, K = d->k, nb = K / 32;
  const float *A = (const float *)d->table[0];
  // GEMV: A arrives as int16 with one f32 scale per block of 32 (rows' values, then their scales).
  const short *XQ = (const short *)A;
  const float *XS = (const float *)(XQ + M * K);
  const unsigned char *W = (const unsigned char *)d->table[1];
  float *C = (float *)d->table[2];
  const float *scales = (const float *)(W + (q4 ? N * (K / 2) : N * K));
  const int per_task = dequant ? d->task_rows : d->task_cols;
  const int tasks = (N + per_task - 1) / per_task;
  for (;;) {
    int t = __atomic_fetch_add(&d->next_task, 1, __ATOMIC_RELAXED);
    if (t >= tasks) return;
    const int j0 = t * per_task, j1 = min_int(N, j0 + per_task);
    if (dequant) {
      for (int j = j0; j < j1; j++) dequant_row(W, scales, q4, K, j, C + j * K);
      continue;
    }
    for (int j = j0; j < j1; j++) {
      const signed char *row = (const signed char *)W + (q4 ? j * (K / 2) : j * K);
      const float *s = scales + j * nb;
      for (int i = 0; i < M; i++) {
        const short *xq = XQ + i * K;
        const float *xs = XS + i * nb;
        v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0;
        int b = 0;
        // Two blocks per step: two independent accumulation chains.
        for (; b + 2 <= nb; b += 2) {
          v128_t v0, v1, u0, u1;
          if (q4) {
            LOAD_Q4(row + b * 16, v0, v1);
            LOAD_Q4(row + b * 16 + 16, u0, u1);
          } else {
            LOAD_Q8(row + b * 32, v0, v1);
            LOAD_Q8(row + b * 32 + 32, u0, u1);
          }
          acc0 = MADD(acc0, wasm_f32x4_convert_i32x4(block_dot_i16(v0, v1, xq + b * 32)),
                      wasm_f32x4_splat(s[b] * xs[b]));
          acc1 = MADD(acc1, wasm_f32x4_convert_i32x4(block_dot_i16(u0, u1, xq + b * 32 + 32)),
                      wasm_f32x4_splat(s[b + 1] * xs[b + 1]));
        }
        if (b < nb) {
          v128_t v0, v1;
          if (q4) LOAD_Q4(row + b * 16, v0, v1);
          else LOAD_Q8(row + b * 32, v0, v1);
          acc0 = MADD(acc0, wasm_f32x4_convert_i32x4(block_dot_i16(v0, v1, xq + b * 32)),
                      wasm_f32x4_splat(s[b] * xs[b]));
        }
        C[i * N + j] = hsum(wasm_f32x4_add(acc0, acc1));
      }
    }
    if (d->bias || d->act)
      for (int i = 0; i < M; i++) epilogue_run(C + i * N + j0, j1 - j0, d->bias ? d->bias + j0 : 0, d->act);
  }
}

// ---- row softmax and activation derivatives (training's elementwise hot spots) ------------------

static inline float hmax(v128_t v) {
  v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

// exp(x - max), exactly 0 where x - max is below exp's normal range (masked keys are -inf).
static inline v128_t shifted_exp(v128_t x, v128_t max) {
  v128_t d = wasm_f32x4_sub(x, max);
  return wasm_v128_and(vexp(d), wasm_f32x4_ge(d, splat(EXP_MIN_ARG)));
}

// Softmax of each row of s (`rows` x `cols`, row-major) after scaling by `scale`, in place. A row
// of -inf only (every key masked) becomes zeros. NaN propagates through the row's max.
static void softmax_row(float *row, int cols, float scale) {
  const v128_t k = splat(scale);
  v128_t m4 = splat(-__builtin_inff());
  int j = 0;
  for (; j + 4 <= cols; j += 4) {
    v128_t x = wasm_f32x4_mul(wasm_v128_load(row + j), k);
    wasm_v128_store(row + j, x);
    m4 = wasm_f32x4_max(m4, x);
  }
  float max = hmax(m4);
  for (; j < cols; j++) {
    row[j] *= scale;
    max = row[j] > max || row[j] != row[j] ? row[j] : max;
  }
  if (max == -__builtin_inff()) {
    for (j = 0; j < cols; j++) row[j] = 0.0f;
    return;
  }
  const v128_t mv = splat(max);
  v128_t s4 = splat(0.0f);
  for (j = 0; j + 4 <= cols; j += 4) {
    v128_t e = shifted_exp(wasm_v128_load(row + j), mv);
    wasm_v128_store(row + j, e);
    s4 = wasm_f32x4_add(s4, e);
  }
  float sum = hsum(s4);
  for (; j < cols; j++) {
    float e = wasm_f32x4_extract_lane(shifted_exp(wasm_f32x4_splat(row[j]), mv), 0);
    row[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (j = 0; j + 4 <= cols; j += 4) wasm_v128_store(row + j, wasm_f32x4_mul(wasm_v128_load(row + j), splat(inv)));
  for (; j < cols; j++) row[j] *= inv;
}

// d/dx of activate(x, act), for the backward of a matmul's fused activation.
static inline v128_t activate_grad(v128_t x, int act) {
  const v128_t one = splat(1.0f);
  switch (act) {
    case ACT_RELU:
      return wasm_v128_and(one, wasm_f32x4_gt(x, splat(0.0f)));
    case ACT_GELU: { // Phi(x) + x phi(x)
      v128_t cdf = vnormal_cdf(x);
      v128_t pdf = wasm_f32x4_mul(splat(0.39894228040143268f), vexp(wasm_f32x4_mul(splat(-0.5f), wasm_f32x4_mul(x, x))));
      return wasm_f32x4_add(cdf, wasm_f32x4_mul(x, pdf));
    }
    case ACT_GELU_TANH: { // s = sigmoid(2u) = (1 + tanh u) / 2: s + 2 x s (1 - s) u'
      v128_t x2 = wasm_f32x4_mul(x, x);
      v128_t u = wasm_f32x4_mul(splat(0.79788456080286536f), wasm_f32x4_add(x, wasm_f32x4_mul(splat(0.044715f), wasm_f32x4_mul(x, x2))));
      v128_t du = wasm_f32x4_mul(splat(0.79788456080286536f), wasm_f32x4_add(one, wasm_f32x4_mul(splat(3 * 0.044715f), x2)));
      v128_t s = vsigmoid(wasm_f32x4_add(u, u));
      v128_t sp = wasm_f32x4_mul(s, wasm_f32x4_sub(one, s));
      return wasm_f32x4_add(s, wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_add(x, x), sp), du));
    }
    case ACT_QUICK_GELU: { // s + 1.702 x s (1 - s), s = sigmoid(1.702 x)
      v128_t kx = wasm_f32x4_mul(x, splat(1.702f));
      v128_t s = vsigmoid(kx);
      return wasm_f32x4_add(s, wasm_f32x4_mul(wasm_f32x4_mul(kx, s), wasm_f32x4_sub(one, s)));
    }
    case ACT_SILU: { // s (1 + x (1 - s)), s = sigmoid(x)
      v128_t s = vsigmoid(x);
      return wasm_f32x4_mul(s, wasm_f32x4_add(one, wasm_f32x4_mul(x, wasm_f32x4_sub(one, s))));
    }
    default:
      return one;
  }
}

// ---- row normalization (layerNorm, rmsNorm) ----------------------------------------------------

// Sum of n floats at p: four f32x4 accumulators (16 partial sums, so the error grows about 16
// times slower than one running sum's), then the tail.
static float row_sum(const float *p, int n) {
  v128_t a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    a0 = wasm_f32x4_add(a0, wasm_v128_load(p + j));
    a1 = wasm_f32x4_add(a1, wasm_v128_load(p + j + 4));
    a2 = wasm_f32x4_add(a2, wasm_v128_load(p + j + 8));
    a3 = wasm_f32x4_add(a3, wasm_v128_load(p + j + 12));
  }
  for (; j + 4 <= n; j += 4) a0 = wasm_f32x4_add(a0, wasm_v128_load(p + j));
  float s = hsum(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)));
  for (; j < n; j++) s += p[j];
  return s;
}

// Sum of (p[j] - mu)^2 over n floats, accumulated as row_sum does.
static float row_sum_sq(const float *p, int n, float mu) {
  const v128_t m = splat(mu);
  v128_t a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    v128_t d0 = wasm_f32x4_sub(wasm_v128_load(p + j), m), d1 = wasm_f32x4_sub(wasm_v128_load(p + j + 4), m);
    v128_t d2 = wasm_f32x4_sub(wasm_v128_load(p + j + 8), m), d3 = wasm_f32x4_sub(wasm_v128_load(p + j + 12), m);
    a0 = MADD(a0, d0, d0);
    a1 = MADD(a1, d1, d1);
    a2 = MADD(a2, d2, d2);
    a3 = MADD(a3, d3, d3);
  }
  for (; j + 4 <= n; j += 4) {
    v128_t d = wasm_f32x4_sub(wasm_v128_load(p + j), m);
    a0 = MADD(a0, d, d);
  }
  float s = hsum(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)));
  for (; j < n; j++) s += (p[j] - mu) * (p[j] - mu);
  return s;
}

// Sums of d = p[j] - mu and of d^2 over n floats, accumulated as row_sum does. Always inlined, so
// the two results never pass through the (shared) shadow stack.
__attribute__((always_inline)) static inline void row_sum_dev(const float *p, int n, float mu, float *sum_d,
                                                              float *sum_dd) {
  const v128_t m = splat(mu);
  v128_t a0 = splat(0.0f), a1 = a0, q0 = a0, q1 = a0;
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    v128_t d0 = wasm_f32x4_sub(wasm_v128_load(p + j), m), d1 = wasm_f32x4_sub(wasm_v128_load(p + j + 4), m);
    a0 = wasm_f32x4_add(a0, d0);
    a1 = wasm_f32x4_add(a1, d1);
    q0 = MADD(q0, d0, d0);
    q1 = MADD(q1, d1, d1);
  }
  for (; j + 4 <= n; j += 4) {
    v128_t d = wasm_f32x4_sub(wasm_v128_load(p + j), m);
    a0 = wasm_f32x4_add(a0, d);
    q0 = MADD(q0, d, d);
  }
  float sd = hsum(wasm_f32x4_add(a0, a1)), sq = hsum(wasm_f32x4_add(q0, q1));
  for (; j < n; j++) {
    const float d = p[j] - mu;
    sd += d;
    sq += d * d;
  }
  *sum_d = sd;
  *sum_dd = sq;
}

// Below this var + eps, norm_row works in f64: the squares of the row's deviations (|d| below
// ~1e-19) are f32 subnormals that have lost their digits, or 0, and 1 / sqrt(var + eps) may
// overflow f32 (|x| ~ 1e-40 with eps 0).
#define NORM_F32_MIN_VAR 0x1p-100f

// norm_row in f64 throughout, as the reference computes: for rows whose f32 sums overflow (|x| ~
// 1e18 over thousands of columns) or whose variance underflows (see NORM_F32_MIN_VAR). A non-finite
// input stays non-finite.
static void norm_row_f64(const float *x, const float *gamma, const float *beta, float *y, int cols, float eps,
                         int center) {
  double m = 0.0, s = 0.0, e = 0.0;
  if (center) {
    for (int j = 0; j < cols; j++) m += x[j];
    m /= cols;
  }
  for (int j = 0; j < cols; j++) {
    const double d = (double)x[j] - m;
    e += d;
    s += d * d;
  }
  double v = center ? (s - e * (e / cols)) / cols : s / cols;
  if (v < 0.0) v = 0.0; // rounding; NaN stays NaN
  const double mu = center ? m + e / cols : 0.0, rstd = 1.0 / __builtin_sqrt(v + eps);
  for (int j = 0; j < cols; j++) {
    double t = ((double)x[j] - mu) * rstd;
    if (gamma) t *= gamma[j];
    if (beta) t += beta[j];
    y[j] = (float)t;
  }
}

// Each row of x (`rows` x `cols`) normalized into out: (x - mean) * rstd * gamma + beta when
// `center` (layerNorm), else x * rstd * gamma with rstd = 1 / sqrt(mean(x^2) + eps) (rmsNorm).
// layerNorm's variance is the corrected two-pass one: after mu = sum(x) / n, with d = x - mu,
// mean = mu + sum(d) / n and var = (sum(d^2) - sum(d)^2 / n) / n (at least 0). The f32 mu is off by
// a few ulps of the row's magnitude; the correction removes that error from both, so a constant row
// normalizes to exactly 0 instead of (ulps) / sqrt(eps). gamma and beta may be 0 (absent).
static void norm_row(const float *x, const float *gamma, const float *beta, float *y, int cols, float eps,
                     int center) {
  const float n = (float)cols;
  // The mean is mu + delta, kept apart: x - mu is exact for a row whose spread is small against its
  // mean, where mu + delta rounded to f32 would be off by up to half an ulp of the mean.
  float mu = 0.0f, delta = 0.0f, var, ss;
  if (center) {
    mu = row_sum(x, cols) / n;
    float sd;
    row_sum_dev(x, cols, mu, &sd, &ss);
    var = (ss - sd * (sd / n)) / n;
    if (var < 0.0f) var = 0.0f; // rounding; NaN stays NaN
    delta = sd / n;
  } else {
    ss = row_sum_sq(x, cols, 0.0f);
    var = ss / n;
  }
  if (!__builtin_isfinite(ss) || var + eps < NORM_F32_MIN_VAR) {
    norm_row_f64(x, gamma, beta, y, cols, eps, center);
    return;
  }
  const float rstd = 1.0f / __builtin_sqrtf(var + eps);
  const v128_t m = splat(mu), dm = splat(delta), r = splat(rstd);
  int j = 0;
  for (; j + 4 <= cols; j += 4) {
    v128_t v = wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(x + j), m), dm), r);
    if (gamma) v = wasm_f32x4_mul(v, wasm_v128_load(gamma + j));
    if (beta) v = wasm_f32x4_add(v, wasm_v128_load(beta + j));
    wasm_v128_store(y + j, v);
  }
  for (; j < cols; j++) {
    float v = (x[j] - mu - delta) * rstd;
    if (gamma) v *= gamma[j];
    if (beta) v += beta[j];
    y[j] = v;
  }
}

// ---- half-precision weights (f16, bf16) -------------------------------------------------------
//
// KIND_F16_WIDEN / KIND_BF16_WIDEN: b is [N, K] half-precision bits (the `linear` layout); tasks are
// blocks of task_rows weight rows written as f32 [N, K] to C, as KIND_Q*_DEQUANT does, and the host
// then runs the f32 GEMM on them. Table entry 0 holds {unused, the weight, C}.

// The f32 values of four f16 bit patterns (one per u32 lane): the magnitude's bits moved to the f32
// positions and scaled by 2^112 (the exponent biases' difference), which also makes f16 subnormals
// f32 normals exactly; infinities and NaN (exponent all ones) keep their bits with the f32 exponent.
static inline v128_t f16_to_f32(v128_t h) {
  const v128_t sign = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16);
  const v128_t mag = wasm_v128_and(h, wasm_i32x4_splat(0x7fff));
  const v128_t bits = wasm_i32x4_shl(mag, 13);
  const v128_t scaled = wasm_f32x4_mul(bits, wasm_f32x4_splat(0x1p112f));
  const v128_t special = wasm_i32x4_ge(mag, wasm_i32x4_splat(0x7c00));
  const v128_t f = wasm_v128_bitselect(wasm_v128_or(bits, wasm_i32x4_splat(0x7f800000)), scaled, special);
  return wasm_v128_or(f, sign);
}

// Widens weight row `j` (K half-precision values) into out.
static void widen_row(const unsigned short *w, int bf16, int K, int j, float *out) {
  const unsigned short *row = w + j * K;
  int i = 0;
  for (; i + 8 <= K; i += 8) {
    const v128_t h = wasm_v128_load(row + i);
    const v128_t lo = wasm_u32x4_extend_low_u16x8(h), hi = wasm_u32x4_extend_high_u16x8(h);
    wasm_v128_store(out + i, bf16 ? wasm_i32x4_shl(lo, 16) : f16_to_f32(lo));
    wasm_v128_store(out + i + 4, bf16 ? wasm_i32x4_shl(hi, 16) : f16_to_f32(hi));
  }
  for (; i < K; i++) {
    const v128_t h = wasm_i32x4_splat(row[i]);
    out[i] = wasm_f32x4_extract_lane(bf16 ? wasm_i32x4_shl(h, 16) : f16_to_f32(h), 0);
  }
}

static void run_widen(Desc *d) {
  const int bf16 = d->kind == KIND_BF16_WIDEN;
  const int N = d->n, K = d->k;
  const unsigned short *W = (const unsigned short *)d->table[1];
  float *C = (float *)d->table[2];
  const int tasks = (N + d->task_rows - 1) / d->task_rows;
  for (;;) {
    const int t = __atomic_fetch_add(&d->next_task, 1, __ATOMIC_RELAXED);
    if (t >= tasks) return;
    const int j1 = min_int(N, (t + 1) * d->task_rows);
    for (int j = t * d->task_rows; j < j1; j++) widen_row(W, bf16, K, j, C + j * K);
  }
}

// ---- attention over short sequences (KIND_ATTENTION) ------------------------------------------
//
// One task per (batch item, query head), all in the thread's workspace: S = Q K^T through the 4x8
// micro-kernel (K packed as the B operand), scaled and causally limited, a softmax per row, then
// O = P V written straight into the output's rows. Each operand is a view: element (b, h, t, x) at
// its pointer + b * batch + h * head + t * token + x (so [B, T, H, D], [B, H, T, D] and a packed qkv
// all read in place); the first L keys are used. The host takes this path only when S (Tq x L,
// padded) fits the packed-A region and K or V (L x D, padded) the packed-B one.
// The table: q, k, v, out pointers; scale (f32 bits), causal, queryOffset, Hq, Hkv; then the
// (batch, head, token) strides of q, k, v and out.

// C[0:M, 0:N] = A[0:M, 0:K] (rows lda apart) x B (packed strips of K x NR), rows of C ldc apart.
static void gemm_packed(int M, int N, int K, const float *A, int lda, const float *pb, float *C, int ldc,
                        float *tile) {
  for (int jr = 0; jr < N; jr += NR) {
    const int cols = min_int(NR, N - jr);
    const float *b = pb + jr * K;
    for (int ir = 0; ir < M; ir += MR) {
      const int rows = min_int(MR, M - ir);
      float *c = C + ir * ldc + jr;
      if (rows == MR && cols == NR) {
        kernel_4x8_rows(K, A + ir * lda, lda, MR, b, NR, c, ldc, 0);
      } else {
        kernel_4x8_rows(K, A + ir * lda, lda, rows, b, NR, tile, NR, 0);
        for (int i = 0; i < rows; i++)
          for (int j = 0; j < cols; j++) c[i * ldc + j] = tile[i * NR + j];
      }
    }
  }
}

static void attention_task(const Desc *d, int task, float *ws) {
  const int *p = d->table;
  const float scale = ((const float *)p)[4];
  const int causal = p[5], offset = p[6], Hq = p[7], Hkv = p[8];
  const int *sq = p + 9, *sk = p + 12, *sv = p + 15, *so = p + 18; // (batch, head, token) strides
  const int Tq = d->m, L = d->n, D = d->k;
  const int b = task / Hq, h = task % Hq, g = h / (Hq / Hkv);
  const float *q = (const float *)p[0] + b * sq[0] + h * sq[1];
  const float *kh = (const float *)p[1] + b * sk[0] + g * sk[1];
  const float *vh = (const float *)p[2] + b * sv[0] + g * sv[1];
  float *o = (float *)p[3] + b * so[0] + h * so[1];
  const int lp = (L + NR - 1) / NR * NR;
  float *s = ws;                     // [Tq, lp]: scores, then probabilities
  float *pk = ws + PACK_A_FLOATS;    // K^T as strips [D x lp], then V as strips [L x round_up(D)]
  float *tile = ws + PACK_A_FLOATS + PACK_B_FLOATS;
  pack_b(kh, sk[2], 1, 0, 0, D, 0, L, pk); // B[k, n] = K[n, k]
  gemm_packed(Tq, L, D, q, sq[2], pk, s, lp, tile);
  for (int i = 0; i < Tq; i++) {
    float *row = s + i * lp;
    const int see = i + offset + 1; // the host clamps offset to [-Tq - 1, L]: no overflow
    const int limit = causal ? min_int(L, see < 0 ? 0 : see) : L;
    // The keys a row sees, then zeros (scaling -inf first would give NaN for a scale <= 0); a row
    // that sees no key becomes zeros, as the reference's.
    softmax_row(row, limit, scale);
    for (int j = limit; j < L; j++) row[j] = 0.0f;
  }
  pack_b(vh, sv[2], 0, 0, 0, L, 0, D, pk); // B[k, n] = V[k, n]
  gemm_packed(Tq, D, L, s, lp, pk, o, so[2], tile);
}

static void run_attention(Desc *d, float *ws) {
  for (;;) {
    int t = __atomic_fetch_add(&d->next_task, 1, __ATOMIC_RELAXED);
    if (t >= d->batch) return;
    attention_task(d, t, ws);
  }
}

// ---- exports -------------------------------------------------------------------------------

/** Floats of workspace each thread needs (packed A block, packed B panel, one edge tile). */
__attribute__((export_name("workspace_floats"))) int workspace_floats(void) { return WORKSPACE_FLOATS; }

/** Floats of the packed B panel: a task's k * round_up(columns, 8) must not exceed it. */
__attribute__((export_name("pack_b_floats"))) int pack_b_floats(void) { return PACK_B_FLOATS; }

/** Bytes of the descriptor. */
__attribute__((export_name("desc_bytes"))) int desc_bytes(void) { return (int)sizeof(Desc); }

/**
 * Packs a whole K x N matrix B (B[k, n] = src[k * ld + n], or src[n * ld + k] when `trans`) into
 * `dst`, K * round_up(N, 8) floats, in the layout a job with packed_b = 1 reads: a constant weight
 * is packed once instead of on every call.
 */
__attribute__((export_name("pack_b_full"))) void pack_b_full(const float *src, int ld, int trans, int K, int N,
                                                              float *dst) {
  pack_b_panel(src, ld, trans, 0, K, 0, N, dst);
}

/** Takes and runs tasks of the job described at `d` until none are left; `tid` picks the workspace. */
__attribute__((export_name("run"))) void run(Desc *d, int tid) {
  float *ws = d->workspace[tid];
  if (d->kind == KIND_ATTENTION) {
    run_attention(d, ws);
    return;
  }
  if (d->kind == KIND_F16_WIDEN || d->kind == KIND_BF16_WIDEN) {
    run_widen(d);
    return;
  }
  if (d->kind != KIND_GEMM) {
    run_quantized(d);
    return;
  }
  const int row_tasks = (d->m + d->task_rows - 1) / d->task_rows;
  const int col_tasks = (d->n + d->task_cols - 1) / d->task_cols;
  const int tasks = d->batch * row_tasks * col_tasks;
  // A thin A (a few rows) reads each B element about once: packing B would only add a pass over it.
  const int packed_b = d->packed_b;
  const int direct_b = !packed_b && !d->trans_b && !d->b_rows && d->m <= MR;
  const int full_ncp = (d->n + NR - 1) / NR * NR;
  float *panel = ws + PACK_A_FLOATS;
  int packed_item = -1, packed_n0 = -1;
  for (;;) {
    // Relaxed is enough: the host's writes happen-before the job starts (it publishes the job with
    // a sequentially consistent store), and tasks write disjoint parts of C.
    int t = __atomic_fetch_add(&d->next_task, 1, __ATOMIC_RELAXED);
    if (t >= tasks) return;
    const int rb = t % row_tasks, cb = (t / row_tasks) % col_tasks, item = t / row_tasks / col_tasks;
    const int m0 = rb * d->task_rows, m1 = min_int(d->m, m0 + d->task_rows);
    const int n0 = cb * d->task_cols, n1 = min_int(d->n, n0 + d->task_cols);
    if (packed_b) {
      run_task(d, item, m0, m1, n0, n1, 0, !d->trans_a, (const float *)d->table[3 * item + 1], full_ncp, n0, ws);
      continue;
    }
    if (!direct_b && (item != packed_item || n0 != packed_n0)) {
      pack_b_panel((const float *)d->table[3 * item + 1], d->ldb, d->trans_b, d->b_rows, d->k, n0, n1, panel);
      packed_item = item;
      packed_n0 = n0;
    }
    run_task(d, item, m0, m1, n0, n1, direct_b, 0, panel, (n1 - n0 + NR - 1) / NR * NR, 0, ws);
  }
}

/**
 * layerNorm (`center` 1) or rmsNorm (0) of each of `rows` rows of `cols` floats at `x` into `out`
 * (which may alias x); `gamma` and `beta` are `cols` floats each, or 0.
 */
__attribute__((export_name("norm_rows"))) void norm_rows(const float *x, const float *gamma, const float *beta,
                                                          float *out, int rows, int cols, float eps, int center) {
  for (int i = 0; i < rows; i++) norm_row(x + i * cols, gamma, beta, out + i * cols, cols, eps, center);
}

/** Softmax of each of `rows` rows of `cols` floats at `s`, scaled by `scale` first, in place. */
__attribute__((export_name("softmax_rows"))) void softmax_rows(float *s, int rows, int cols, float scale) {
  for (int i = 0; i < rows; i++) softmax_row(s + i * cols, cols, scale);
}

/** out[i] = dy[i] * act'(z[i]) over n floats (out may alias dy). */
__attribute__((export_name("activation_grad"))) void activation_grad(const float *z, const float *dy, float *out,
                                                                      int n, int act) {
  int i = 0;
  for (; i + 4 <= n; i += 4)
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_v128_load(dy + i), activate_grad(wasm_v128_load(z + i), act)));
  for (; i < n; i++)
    out[i] = dy[i] * wasm_f32x4_extract_lane(activate_grad(wasm_f32x4_splat(z[i]), act), 0);
}
