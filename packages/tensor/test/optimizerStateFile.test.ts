// Stopping and resuming a training run exactly: AdamW states through saveOptimizerState's file,
// Rng.state / Rng.fromState, and the files and states that are refused.
import { describe, expect, test } from 'vitest';
import {
  AdamW,
  Rng,
  type Tensor,
  cosineWithWarmup,
  loadOptimizerState,
  loadOptimizers,
  mul,
  saveOptimizerState,
  saveSafetensors,
  sum,
  tensor,
  tidy,
  valueAndGrad,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

describe('Rng state', () => {
  test('a generator made from a state (through JSON) draws what the original draws next', () => {
    const seed = freshSeed();
    const a = new Rng(seed);
    for (let i = 0; i < 5; i++) a.next();
    const b = Rng.fromState(JSON.parse(JSON.stringify(a.state())));
    expect(
      Array.from({ length: 4 }, () => b.next()),
      `seed ${seed}`,
    ).toEqual(Array.from({ length: 4 }, () => a.next()));
    // A key whose high word is past a safe seed's (split() makes such generators) survives too.
    const wide = Rng.fromState({ key: [0xffffffff, 0xffffffff], draws: 3 });
    expect(wide.state()).toEqual({ key: [0xffffffff, 0xffffffff], draws: 3 });
    expect(() => Rng.fromState({ key: [1, -1], draws: 0 })).toThrow(
      'Rng.fromState: state.key must be two 32-bit unsigned integers, got [1,-1]',
    );
    expect(() => Rng.fromState({ key: [1, 2], draws: 1.5 })).toThrow(
      'Rng.fromState: state.draws must be an integer >= 0, got 1.5',
    );
    expect(() => Rng.fromState(null as never)).toThrow('Rng.fromState: state.key must be');
  });
});

describe('saveOptimizerState / loadOptimizerState', () => {
  test('a run stopped, saved to a file and resumed matches the run that did not stop, bit for bit', async () => {
    const seed = freshSeed();
    const next = rng(seed);
    const w0 = randomArray(4 * 3, 'f32', next);
    const grads = Array.from({ length: 6 }, () => randomArray(4 * 3, 'f32', next));
    const options = {
      lr: cosineWithWarmup({ lr: 0.05, warmupSteps: 2, totalSteps: 6 }),
      weightDecay: 0.1,
    };
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const live = backend.stats().liveTensors;
      const fresh = (): Record<string, Tensor> => ({ 'layer.w': tensor(w0, [4, 3], { backend }) });
      const stepAt = (opt: AdamW, params: Record<string, Tensor>, s: number) =>
        tidy(() => {
          const g = tensor(grads[s]!, [4, 3], { backend });
          opt.step(params, valueAndGrad(() => sum(mul(params['layer.w']!, g)), params).grads);
          return undefined;
        });
      const straight = fresh();
      const opt = new AdamW(options);
      for (let s = 0; s < 6; s++) stepAt(opt, straight, s);

      const resumed = fresh();
      const first = new AdamW(options);
      for (let s = 0; s < 4; s++) stepAt(first, resumed, s);
      const saved = first.stateDict();
      const bytes = await saveOptimizerState({ adamw: saved }, { step: 4, note: 'é' });
      for (const { m, v } of Object.values(saved.state)) for (const t of [m, v]) t.dispose();
      first.dispose();

      const loaded = await loadOptimizerState(bytes, { backend });
      expect(loaded.extra).toEqual({ step: 4, note: 'é' });
      const second = new AdamW(options);
      second.loadStateDict(loaded.optimizers.adamw!, resumed);
      loaded.dispose(); // the optimizer keeps views
      for (let s = 4; s < 6; s++) stepAt(second, resumed, s);
      expect([...(await resumed['layer.w']!.read())], `${backend.name} (seed ${seed})`).toEqual([
        ...(await straight['layer.w']!.read()),
      ]);
      for (const t of [straight['layer.w']!, resumed['layer.w']!]) t.dispose();
      opt.dispose();
      second.dispose();
      expect(backend.stats().liveTensors, backend.name).toBe(live);
    }
  });

  test('a file that is not an optimizer state, or does not hold what its metadata names, is refused', async () => {
    const backend = reference;
    const live = backend.stats().liveTensors;
    const w = tensor([1, 2], [2], { backend });
    const plain = await saveSafetensors({ w });
    await expect(loadOptimizerState(plain, { backend })).rejects.toThrow(
      'loadOptimizerState: the file has no "vl.optimizer_state" metadata; it is not an optimizer state from saveOptimizerState',
    );
    const numbers = (optimizers: unknown) => JSON.stringify({ version: 1, optimizers, extra: null });
    const noMoment = await saveSafetensors(
      { 'adamw.w.m': w },
      { 'vl.optimizer_state': numbers({ adamw: { stepCount: 1, steps: { w: 1 } } }) },
    );
    await expect(loadOptimizerState(noMoment, { backend })).rejects.toThrow(
      "loadOptimizerState: the file has no tensor adamw.w.v for the state of adamw's w",
    );
    const extraTensor = await saveSafetensors(
      { 'adamw.w.m': w, 'adamw.w.v': w, stray: w },
      { 'vl.optimizer_state': numbers({ adamw: { stepCount: 1, steps: { w: 1 } } }) },
    );
    await expect(loadOptimizerState(extraTensor, { backend })).rejects.toThrow(
      'loadOptimizerState: tensors no optimizer state names: stray',
    );
    const bad = await saveSafetensors({}, { 'vl.optimizer_state': numbers({ adamw: { stepCount: 'x' } }) });
    await expect(loadOptimizerState(bad, { backend })).rejects.toThrow(
      'loadOptimizerState: the metadata of optimizer "adamw" (a string) is malformed',
    );
    await expect(saveOptimizerState({ 'a.b': { stepCount: 0, state: {} } })).rejects.toThrow(
      'saveOptimizerState: optimizer name "a.b" (a string) must be letters, digits and _',
    );
    w.dispose();
    expect(backend.stats().liveTensors).toBe(live);
  });

  test("loadOptimizers says a wrong source or a missing file in its caller's words", async () => {
    const backend = reference;
    const w = tensor([1, 2], [2], { backend });
    const targets = { adamw: { optimizer: new AdamW(), params: { w } } };
    const options = { backend, caller: 'MyTrainer.loadState' };
    await expect(loadOptimizers(undefined as never, targets, options)).rejects.toThrow(
      'MyTrainer.loadState: source must be a path, URL, Blob or bytes',
    );
    const missing = loadOptimizers('/nonexistent/optimizer.safetensors', targets, options);
    await expect(missing).rejects.toThrow(
      "MyTrainer.loadState: ENOENT: no such file or directory, open '/nonexistent",
    );
    await expect(missing).rejects.toMatchObject({ code: 'ENOENT' }); // isNotFound still knows it
    w.dispose();
  });
});
