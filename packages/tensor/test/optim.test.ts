// AdamW against the published algorithm (PyTorch's torch.optim.AdamW) computed in float64 here,
// the fused update kernel on every backend, schedules, param groups and clipGradNorm.
import { describe, expect, test } from 'vitest';
import {
  AdamW,
  type Tensor,
  adamwUpdate,
  clipGradNorm,
  cosineWithWarmup,
  isBiasOrNorm,
  tensor,
  tidy,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { type KernelCase, checkKernelCase } from './util/checkKernel.js';
import { expectClose } from './util/compare.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

const all = () => [{ label: 'reference', backend: reference }, ...others];

interface RefOptions {
  lrs: number[];
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/**
 * torch.optim.AdamW, single-tensor path (amsgrad off), in float64:
 *   p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
function referenceAdamW(p0: ArrayLike<number>, grads: ArrayLike<number>[], o: RefOptions): Float64Array {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  const [b1, b2] = o.betas;
  grads.forEach((g, s) => {
    const t = s + 1;
    const lr = o.lrs[s]!;
    for (let i = 0; i < p.length; i++) {
      p[i]! *= 1 - lr * o.weightDecay;
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + o.eps;
      p[i]! -= (lr / (1 - b1 ** t)) * (m[i]! / denom);
    }
  });
  return p;
}

describe('AdamW', () => {
  test('fused update kernel matches the reference on every backend', async () => {
    const shapes = [[1], [17], [3, 65], [130, 3]];
    const attrs = {
      decay: 1 - 1e-3 * 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      stepSize: 1e-3 / (1 - 0.9 ** 3),
      bc2Sqrt: Math.sqrt(1 - 0.999 ** 3),
    };
    for (const shape of shapes) {
      const c: KernelCase = {
        name: `adamwUpdate ${JSON.stringify(shape)}`,
        inputs: [{ shape }, { shape }, { shape }, { shape, range: [0, 1] }],
        run: (p, g, m, v) => adamwUpdate(p!, g!, m!, v!, attrs),
        atol: 1e-6,
        rtol: 1e-5,
      };
      await checkKernelCase(c, reference, others, freshSeed());
    }
  });

  test('five steps match float64 PyTorch AdamW (defaults, then betas/eps/wd, schedule and groups)', async () => {
    const seed = freshSeed();
    const next = rng(seed);
    const steps = 5;
    const w0 = randomArray(3 * 17, 'f32', next) as Float32Array;
    const b0 = randomArray(17, 'f32', next) as Float32Array;
    const gw = Array.from({ length: steps }, () => randomArray(3 * 17, 'f32', next));
    const gb = Array.from({ length: steps }, () => randomArray(17, 'f32', next, [-0.01, 0.01]));
    const schedule = cosineWithWarmup({ lr: 0.05, warmupSteps: 2, totalSteps: 6, minLr: 0.001 });
    const configs = [
      {
        name: 'defaults',
        make: () => new AdamW(),
        w: { lrs: Array(steps).fill(1e-3), betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 } as RefOptions,
        b: { lrs: Array(steps).fill(1e-3), betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 } as RefOptions,
      },
      {
        name: 'schedule, betas, no decay for the bias group with half the lr',
        make: () =>
          new AdamW({
            lr: schedule,
            betas: [0.8, 0.95],
            eps: 1e-6,
            weightDecay: 0.1,
            groups: [{ match: isBiasOrNorm, weightDecay: 0, lrScale: 0.5 }],
          }),
        w: {
          lrs: [0, 1, 2, 3, 4].map(schedule),
          betas: [0.8, 0.95],
          eps: 1e-6,
          weightDecay: 0.1,
        } as RefOptions,
        b: {
          lrs: [0, 1, 2, 3, 4].map((s) => schedule(s) * 0.5),
          betas: [0.8, 0.95],
          eps: 1e-6,
          weightDecay: 0,
        } as RefOptions,
      },
    ];
    for (const config of configs) {
      const wantW = referenceAdamW(w0, gw, config.w);
      const wantB = referenceAdamW(b0, gb, config.b);
      for (const { label, backend } of all()) {
        const opt = config.make();
        const params: Record<string, Tensor> = {
          'fc.weight': tensor(w0, [3, 17], { backend }),
          'fc.bias': tensor(b0, [17], { backend }),
        };
        for (let s = 0; s < steps; s++) {
          // The grads are freed by tidy; the new params are kept by the optimizer.
          tidy(() =>
            opt.step(params, {
              'fc.weight': tensor(gw[s]!, [3, 17], { backend }),
              'fc.bias': tensor(gb[s]!, [17], { backend }),
            }),
          );
        }
        const where = `${config.name} on ${label} (seed ${seed})`;
        expect(opt.stepCount).toBe(steps);
        expectClose(
          await params['fc.weight']!.read(),
          Float32Array.from(wantW),
          2e-6,
          `${where}: weight`,
          1e-5,
        );
        expectClose(await params['fc.bias']!.read(), Float32Array.from(wantB), 2e-6, `${where}: bias`, 1e-5);
        expect(opt.state.get('fc.bias')!.step).toBe(steps);
        for (const p of Object.values(params)) p.dispose();
        opt.dispose();
      }
    }
  });

  test('steps replace params in place, dispose the old tensors and keep the new ones past tidy', async () => {
    const backend = reference;
    const opt = new AdamW({ lr: 0.1 });
    const params = [tensor([1, 2], [2], { backend })];
    const old = params[0]!;
    const before = backend.stats();
    for (let i = 0; i < 3; i++) tidy(() => opt.step(params, [tensor([1, -1], [2], { backend })]));
    expect(old.isDisposed).toBe(true);
    expect(params[0]).not.toBe(old);
    expect(params[0]!.isDisposed).toBe(false);
    // The new param replaces the old one; m and v are the only other live tensors.
    expect(backend.stats().liveTensors - before.liveTensors).toBe(2);
    opt.dispose();
    expect(backend.stats().liveTensors - before.liveTensors).toBe(0);
    params[0]!.dispose();
  });

  test('bad input is named', () => {
    const backend = reference;
    const p = { w: tensor([1, 2], [2], { backend }) };
    const opt = new AdamW();
    expect(() => opt.step(p, { w: tensor([1, 2, 3], [3], { backend }) })).toThrow(
      "AdamW.step: param 'w' is f32[2] on cpu but its gradient is f32[3] on cpu",
    );
    expect(() => opt.step(p, {} as typeof p)).toThrow("AdamW.step: no gradient for param 'w' f32[2]");
    expect(() => opt.step(p.w, p.w)).toThrow('AdamW.step: params must be an array or an object of tensors');
    expect(() => new AdamW({ betas: [0.9, 1] })).toThrow('AdamW: betas[1] must be in [0, 1), got 1');
    expect(() => new AdamW({ lr: -1 })).toThrow('AdamW: lr must be >= 0, got -1');
    expect(() => new AdamW({ lr: () => Number.NaN }).lr).toThrow(
      'AdamW: the schedule returned learning rate NaN for step 0',
    );
    expect(() =>
      adamwUpdate(p.w, tensor([1], [1], { backend }), p.w, p.w, {
        decay: 1,
        beta1: 0.9,
        beta2: 0.9,
        eps: 0,
        stepSize: 1,
        bc2Sqrt: 1,
      }),
    ).toThrow('adamwUpdate: param has shape [2] but grad has shape [1]');
    p.w.dispose();
  });

  test('cosineWithWarmup and isBiasOrNorm', () => {
    const s = cosineWithWarmup({ lr: 1, warmupSteps: 4, totalSteps: 14, minLr: 0.1 });
    expect([0, 1, 3].map(s)).toEqual([0.25, 0.5, 1]);
    expect(s(4)).toBe(1);
    expect(s(9)).toBeCloseTo(0.55, 12);
    expect([s(14), s(100)]).toEqual([0.1, 0.1]);
    expect(() => cosineWithWarmup({ lr: 1, warmupSteps: 5, totalSteps: 4 })).toThrow(
      'warmupSteps (5) <= totalSteps (4)',
    );
    const m = tensor(new Float32Array(4), [2, 2], { backend: reference });
    const v = tensor(new Float32Array(2), [2], { backend: reference });
    expect(isBiasOrNorm('h.0.mlp.c_fc.weight', m)).toBe(false);
    expect(isBiasOrNorm('h.0.mlp.c_fc.bias', v)).toBe(true);
    expect(isBiasOrNorm('h.0.ln_1.weight', v)).toBe(true);
    expect(isBiasOrNorm('encoder.layers.0.layer_norm1.weight', m)).toBe(true);
    expect(isBiasOrNorm('wte.weight', m)).toBe(false);
    m.dispose();
    v.dispose();
  });
});

describe('clipGradNorm', () => {
  test('scales all gradients by maxNorm / norm like torch.nn.utils.clip_grad_norm_', async () => {
    const seed = freshSeed();
    const next = rng(seed);
    const a = randomArray(3 * 17, 'f32', next);
    const b = randomArray(33, 'f32', next);
    let sq = 0;
    for (const x of [...a, ...b]) sq += x * x;
    const norm = Math.sqrt(sq);
    for (const maxNorm of [1, norm * 2]) {
      const coef = Math.min(1, maxNorm / (norm + 1e-6));
      for (const { label, backend } of all()) {
        const grads = { a: tensor(a, [3, 17], { backend }), nested: [tensor(b, [33], { backend })] };
        const old = grads.a;
        const live = backend.stats().liveTensors;
        const total = clipGradNorm(grads, maxNorm);
        const where = `clipGradNorm(${maxNorm}) on ${label} (seed ${seed})`;
        expect(old.isDisposed, where).toBe(true);
        expect(backend.stats().liveTensors - live, `${where}: live tensors`).toBe(1);
        expect(await total.item()).toBeCloseTo(norm, 4);
        expectClose(
          await grads.a.read(),
          Float32Array.from(a, (x) => x * coef),
          1e-6,
          `${where}: a`,
          1e-5,
        );
        expectClose(
          await grads.nested[0]!.read(),
          Float32Array.from(b, (x) => x * coef),
          1e-6,
          `${where}: b`,
          1e-5,
        );
        for (const t of [total, grads.a, grads.nested[0]!]) t.dispose();
      }
    }
  });

  test('bad input is named', () => {
    expect(() => clipGradNorm({}, 1)).toThrow('clipGradNorm: no gradients given');
    const g = tensor([1], [1], { backend: reference });
    expect(() => clipGradNorm([g], 0)).toThrow('clipGradNorm: maxNorm must be > 0, got 0');
    expect(() => clipGradNorm(g, 1)).toThrow('clipGradNorm: grads must be an array or an object of tensors');
    g.dispose();
  });
});
