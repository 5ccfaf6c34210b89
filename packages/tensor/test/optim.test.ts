// AdamW against the published algorithm (PyTorch's torch.optim.AdamW) computed in float64 here,
// the fused update kernel on every backend, schedules, param groups, params the loss does not reach,
// saving and resuming the state, TrainingInterruptedError, clipGradNorm and gradNorm.
import { describe, expect, test } from 'vitest';
import {
  AdamW,
  type AdamWOptions,
  type Tensor,
  add,
  adamwUpdate,
  clipGradNorm,
  cosineWithWarmup,
  gradNorm,
  guardedStep,
  isBiasOrNorm,
  mul,
  sum,
  TrainingInterruptedError,
  tensor,
  tidy,
  valueAndGrad,
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
    // A gradient no param matches (a misspelt key) used to be ignored.
    const g = { w: tensor([1, 1], [2], { backend }), v: tensor([1], [1], { backend }) };
    expect(() => opt.step(p, g)).toThrow(
      "AdamW.step: gradient 'v' f32[1] has no param with that key path (params: 'w')",
    );
    // Two params with one key path used to share a gradient and an optimizer state.
    const clash = { a: { b: tensor([1], [1], { backend }) }, 'a.b': tensor([5], [1], { backend }) };
    const clashGrads = { a: { b: tensor([1], [1], { backend }) }, 'a.b': tensor([-1], [1], { backend }) };
    expect(() => opt.step(clash, clashGrads)).toThrow("AdamW.step: two params have the key path 'a.b'");
    expect(opt.stepCount).toBe(0);
    for (const t of [g.w, g.v, clash.a.b, clash['a.b'], clashGrads.a.b, clashGrads['a.b']]) t.dispose();
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

describe('AdamW and params the loss does not reach', () => {
  test('they are skipped as PyTorch skips grad None: no update, no decay, no state, until reached', async () => {
    const w0 = [0.5, -1, 2];
    const u0 = [1, -2, 3];
    const c = [0.3, -0.2, 0.1];
    for (const { label, backend } of all()) {
      const params = { w: tensor(w0, [3], { backend }), head: { unused: tensor(u0, [3], { backend }) } };
      const opt = new AdamW({ lr: 0.1, weightDecay: 0.1 });
      const unreached: (readonly string[])[] = [];
      for (let s = 0; s < 3; s++) {
        tidy(() => {
          const r = valueAndGrad(() => sum(mul(params.w, params.w)), params);
          unreached.push(r.unreached);
          clipGradNorm(r.grads, 1); // leaves the placeholder zeros alone
          opt.step(params, r.grads);
          return undefined;
        });
      }
      // Decay alone would have made it u0 * (1 - 0.1 * 0.1)^3.
      expect([...(await params.head.unused.read())], label).toEqual(u0);
      expect(opt.state.has('head.unused'), label).toBe(false);
      expect([opt.stepCount, opt.state.get('w')!.step], label).toEqual([3, 3]);
      expect(unreached, label).toEqual([['head.unused'], ['head.unused'], ['head.unused']]);
      // Reached at last, it takes its first step (bias correction of step 1); w now waits.
      const wBefore = [...(await params.w.read())];
      tidy(() => {
        const { grads } = valueAndGrad(
          () => sum(mul(params.head.unused, tensor(c, [3], { backend }))),
          params,
        );
        opt.step(params, grads);
        return undefined;
      });
      const want = referenceAdamW(u0, [c], { lrs: [0.1], betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 });
      expectClose(await params.head.unused.read(), Float32Array.from(want), 1e-6, `${label}: unused`, 1e-6);
      expect([...(await params.w.read())], label).toEqual(wBefore);
      expect([opt.state.get('head.unused')!.step, opt.state.get('w')!.step], label).toEqual([1, 3]);
      for (const p of [params.w, params.head.unused]) p.dispose();
      opt.dispose();
    }
  });

  test('gradNorm measures the gradients without scaling them, skipping the placeholder zeros', async () => {
    const backend = reference;
    const x = tensor([3, 4], [2], { backend });
    const idle = tensor([1], [1], { backend });
    const { value, grads } = valueAndGrad(() => sum(mul(x, x)), { x, idle }); // grads.x = [6, 8]
    const norm = gradNorm(grads);
    expect(await norm.item()).toBeCloseTo(10, 5);
    expect([...(await grads.x.read())]).toEqual([6, 8]);
    for (const t of [x, idle, value, grads.x, grads.idle, norm]) t.dispose();
  });

  test('the norm does not depend on the order the params were put in (a loaded checkpoint resumes exactly)', async () => {
    // Squares 3, 2^24 and 3: in the order a, b, c, 3 + 2^24 rounds to 2^24 + 4 in f32 and the total
    // to 2^24 + 8; in the order a, c, b the total is 2^24 + 6. Summed by key path, both trees give
    // one bit pattern.
    for (const { backend } of all()) {
      const a = tensor([1, 1, 1], [3], { backend });
      const b = tensor([4096], [1], { backend });
      const c = tensor([1, 1, 1], [3], { backend });
      const one = gradNorm({ a, b, c });
      const other = gradNorm({ a, c, b });
      expect(await other.item(), backend.name).toBe(await one.item());
      for (const t of [a, b, c, one, other]) t.dispose();
    }
  });
});

describe('AdamW state dict', () => {
  const options: AdamWOptions = {
    lr: cosineWithWarmup({ lr: 0.05, warmupSteps: 2, totalSteps: 6, minLr: 0.001 }),
    betas: [0.8, 0.95],
    weightDecay: 0.1,
    groups: [{ match: isBiasOrNorm, weightDecay: 0, lrScale: 0.5 }],
  };

  test('3 steps, save, a new optimizer, load, 3 steps equal 6 steps straight', async () => {
    const seed = freshSeed();
    const next = rng(seed);
    const w0 = randomArray(3 * 5, 'f32', next);
    const b0 = randomArray(5, 'f32', next);
    const gw = Array.from({ length: 6 }, () => randomArray(3 * 5, 'f32', next));
    const gb = Array.from({ length: 6 }, () => randomArray(5, 'f32', next));
    for (const { label, backend } of all()) {
      const fresh = (): Record<string, Tensor> => ({
        'fc.weight': tensor(w0, [3, 5], { backend }),
        'fc.bias': tensor(b0, [5], { backend }),
      });
      // The bias is not reached at step 0, so its own step count lags the optimizer's by one.
      const stepAt = (opt: AdamW, params: Record<string, Tensor>, s: number) =>
        tidy(() => {
          const { grads } = valueAndGrad(() => {
            const lw = sum(mul(params['fc.weight']!, tensor(gw[s]!, [3, 5], { backend })));
            return s === 0 ? lw : add(lw, sum(mul(params['fc.bias']!, tensor(gb[s]!, [5], { backend }))));
          }, params);
          opt.step(params, grads);
          return undefined;
        });
      const live = backend.stats().liveTensors;
      const straight = fresh();
      const opt = new AdamW(options);
      for (let s = 0; s < 6; s++) stepAt(opt, straight, s);

      const resumed = fresh();
      const first = new AdamW(options);
      for (let s = 0; s < 3; s++) stepAt(first, resumed, s);
      const saved = first.stateDict();
      first.dispose(); // the saved tensors outlive the optimizer
      expect(saved.stepCount).toBe(3);
      expect(Object.fromEntries(Object.entries(saved.state).map(([k, v]) => [k, v.step]))).toEqual({
        'fc.weight': 3,
        'fc.bias': 2,
      });
      const second = new AdamW(options);
      second.loadStateDict(saved, resumed);
      for (const { m, v } of Object.values(saved.state)) for (const t of [m, v]) t.dispose(); // the optimizer keeps its own
      expect(second.lr).toBe((options.lr as (step: number) => number)(3)); // no second warmup
      for (let s = 3; s < 6; s++) stepAt(second, resumed, s);

      const where = `${label} (seed ${seed})`;
      for (const name of ['fc.weight', 'fc.bias']) {
        expect([...(await resumed[name]!.read())], `${where}: ${name}`).toEqual([
          ...(await straight[name]!.read()),
        ]);
      }
      expect([second.stepCount, second.state.get('fc.bias')!.step], where).toEqual([6, 5]);
      for (const t of [...Object.values(straight), ...Object.values(resumed)]) t.dispose();
      opt.dispose();
      second.dispose();
      expect(backend.stats().liveTensors, `${where}: live tensors`).toBe(live);
    }
  });

  test('a saved state that does not fit the params is named, and nothing is loaded', async () => {
    const backend = reference;
    const params = { w: tensor([1, 2], [2], { backend }) };
    const opt = new AdamW({ lr: 0.1 });
    tidy(() => opt.step(params, { w: tensor([1, -1], [2], { backend }) }));
    const saved = opt.stateDict();
    const other = new AdamW();
    const m3 = tensor([0, 0, 0], [3], { backend });
    expect(() => other.loadStateDict({ stepCount: 1, state: { v: saved.state.w! } }, params)).toThrow(
      "AdamW.loadStateDict: saved state for 'v' matches no param (params: 'w')",
    );
    expect(() =>
      other.loadStateDict({ stepCount: 1, state: { w: { ...saved.state.w!, m: m3 } } }, params),
    ).toThrow("AdamW.loadStateDict: state['w'].m is f32[3] on cpu but param 'w' is f32[2] on cpu");
    expect(() => other.loadStateDict({ stepCount: 0, state: saved.state }, params)).toThrow(
      "AdamW.loadStateDict: state['w'].step must be an integer in [1, stepCount 0], got 1",
    );
    expect(() => other.loadStateDict({ stepCount: -1, state: {} }, params)).toThrow(
      'AdamW.loadStateDict: stepCount must be an integer >= 0, got -1',
    );
    expect([other.stepCount, other.state.size]).toEqual([0, 0]);
    opt.dispose();
    expect(() => opt.stateDict()).toThrow('AdamW.stateDict: the optimizer was disposed');
    for (const t of [params.w, m3, saved.state.w!.m, saved.state.w!.v]) t.dispose();
    other.dispose();
  });
});

describe('TrainingInterruptedError', () => {
  test('keeps the name of an abort, carries the params and the steps, and names the cause', () => {
    const names = (cause: unknown, signal?: AbortSignal) => {
      const e = new TrainingInterruptedError('loop', { params: [], steps: 2, cause, signal });
      return [e.name, e.aborted];
    };
    const stopped = new AbortController();
    stopped.abort(); // reason: a DOMException named AbortError
    expect(names(stopped.signal.reason, stopped.signal)).toEqual(['AbortError', true]);
    const custom = new AbortController();
    custom.abort(new Error('user stop'));
    expect(names(custom.signal.reason, custom.signal)).toEqual(['AbortError', true]);
    const timeout = new AbortController();
    timeout.abort(new DOMException('timed out', 'TimeoutError'));
    expect(names(timeout.signal.reason, timeout.signal)).toEqual(['TimeoutError', true]);
    expect(names(new RangeError('bad batch'), custom.signal)).toEqual(['TrainingInterruptedError', false]);
    const params = { w: tensor([1], [1], { backend: reference }) };
    const e = new TrainingInterruptedError('loop', { params, steps: 1, cause: new RangeError('bad batch') });
    expect(e.message).toBe(
      "loop: stopped after 1 step: bad batch (the latest params are on this error's .params, which the caller now owns)",
    );
    expect([e.params, e.steps, e.cause instanceof RangeError, e instanceof Error]).toEqual([
      params,
      1,
      true,
      true,
    ]);
    params.w.dispose();
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

describe('guardedStep', () => {
  test.each(all())(
    '$label: a finite batch updates (then afterUpdate runs); a NaN one changes nothing',
    async ({ backend }) => {
      const before = backend.stats().liveTensors;
      const params = { w: tensor([1, -2], [2], { backend }) };
      const optimizer = new AdamW({ lr: 0.1, weightDecay: 0 });
      let after = 0;
      const x = tensor([3, 4], [2], { backend });
      const ok = await guardedStep(optimizer, params, () => sum(mul(params.w, x)), {
        maxGradNorm: 1,
        afterUpdate: () => after++,
      });
      // d(w . x)/dw = x, norm 5 (clipped to 1); AdamW's first step moves each weight by lr.
      expect(ok).toEqual({ loss: 3 - 8, gradNorm: 5, skipped: false });
      expect(after).toBe(1);
      expectClose(await params.w.read(), Float32Array.from([0.9, -2.1]), 1e-6, 'w');
      const nan = tensor([Number.NaN, 1], [2], { backend });
      const bad = await guardedStep(optimizer, params, () => sum(mul(params.w, nan)), {
        afterUpdate: () => after++,
      });
      expect(bad.skipped).toBe(true);
      expect(after).toBe(1);
      expect(optimizer.stepCount).toBe(1);
      expectClose(await params.w.read(), Float32Array.from([0.9, -2.1]), 1e-6, 'w');
      for (const t of [x, nan, params.w]) t.dispose();
      optimizer.dispose();
      expect(backend.stats().liveTensors).toBe(before);
    },
  );

  test('a misspelt option or a maxGradNorm that is not > 0 throws before any work', async () => {
    // `{ maxNorm: 1 }` used to train without clipping, and `maxGradNorm: NaN` as well.
    const params = { w: tensor([1, -2], [2], { backend: reference }) };
    const optimizer = new AdamW({ lr: 0.1 });
    const loss = () => sum(mul(params.w, params.w));
    const before = reference.stats().liveTensors;
    await expect(guardedStep(optimizer, params, loss, { maxNorm: 1 } as never)).rejects.toThrow(
      'guardedStep: unknown option "maxNorm" (expected maxGradNorm, afterUpdate)',
    );
    for (const bad of [Number.NaN, 0, -1])
      await expect(guardedStep(optimizer, params, loss, { maxGradNorm: bad })).rejects.toThrow(
        `guardedStep: maxGradNorm must be > 0 (Infinity for no clipping), got ${bad}`,
      );
    expect(optimizer.stepCount).toBe(0);
    expect(reference.stats().liveTensors).toBe(before);
    // Infinity measures the norm without clipping.
    const r = await guardedStep(optimizer, params, loss, { maxGradNorm: Number.POSITIVE_INFINITY });
    expect(r.skipped).toBe(false);
    params.w.dispose();
    optimizer.dispose();
  });
});
