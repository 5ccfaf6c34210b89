// The check behind each package's badArguments test: every exported function, called with a wrong
// value in each argument, must fail with an Error that names the function, never with JavaScript's
// own "Cannot read properties of undefined" from deep inside, a non-Error, or a hang.

/** What a failure inside a library, rather than a check of its input, says. */
export const RAW_ERROR =
  /Cannot read propert|is not a function|is not iterable|Cannot convert|Cannot destructure|Invalid array length|Invalid typed array length|Maximum call stack|is not a constructor|Cannot create property|Cannot use 'in' operator|Reduce of empty|undefined is not|null is not|Array buffer allocation|Invalid string length/;

/** The wrong values every argument gets, by label; `extra` adds a package's own (a disposed tensor). */
export function wrongValues(extra = []) {
  return [
    ['undefined', () => undefined],
    ['null', () => null],
    ['{}', () => ({})],
    ["'x'", () => 'x'],
    ['3.5', () => 3.5],
    ['[]', () => []],
    ['NaN', () => Number.NaN],
    ['-1', () => -1],
    ["[1, 'a']", () => [1, 'a']],
    ...extra,
  ];
}

/**
 * `live` and `release` for {@link unclearFailures} on a `@vl/tensor` backend: its live tensor count,
 * and the tensors made for a call disposed after it.
 */
export function trackTensors(backend, TensorClass) {
  return {
    live: () => backend.stats().liveTensors,
    release: (argument) => {
      if (argument instanceof TensorClass && !argument.isDisposed) argument.dispose();
    },
  };
}

/** The module's exported functions (not classes), but those in `skip`, as [name, function]. */
export function exportedFunctions(module, skip = []) {
  const skipped = new Set(skip);
  return Object.entries(module).filter(
    ([name, value]) => typeof value === 'function' && !/^[A-Z]/.test(name) && !skipped.has(name),
  );
}

/**
 * The module's exported classes as callables: each constructor (`new C(...)`, labelled `C`) and each
 * static method (labelled `C.method`), as [label, class name, function]. Error classes are left out.
 */
export function exportedClassCalls(module, skip = []) {
  const skipped = new Set(skip);
  const calls = [];
  for (const [name, value] of Object.entries(module)) {
    if (typeof value !== 'function' || !/^[A-Z]/.test(name) || skipped.has(name)) continue;
    if (value.prototype instanceof Error) continue;
    const construct = (...args) => new value(...args);
    Object.defineProperty(construct, 'length', { value: value.length });
    calls.push([name, name, construct]);
    for (const key of Object.getOwnPropertyNames(value)) {
      const member = value[key];
      if (['length', 'name', 'prototype'].includes(key) || typeof member !== 'function') continue;
      if (skipped.has(`${name}.${key}`)) continue;
      const call = (...args) => member.apply(value, args);
      Object.defineProperty(call, 'length', { value: member.length });
      calls.push([`${name}.${key}`, name, call]);
    }
  }
  return calls;
}

/**
 * The methods of an object a user holds (a loaded model, an index, a tokenizer), own and inherited
 * up to Object.prototype, but those in `skip`, as [name, function bound to the object]. Getters are
 * not called.
 */
export function methodCalls(object, skip = []) {
  const skipped = new Set(['constructor', ...skip]);
  const calls = new Map();
  for (let o = object; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (skipped.has(key) || calls.has(key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, key);
      if (typeof descriptor?.value !== 'function') continue;
      const method = descriptor.value;
      const call = (...args) => method.apply(object, args);
      Object.defineProperty(call, 'length', { value: method.length });
      calls.set(key, call);
    }
  }
  return [...calls];
}

/** The error a call threw or rejected with, or undefined; `dispose` gets what it returned. */
async function failureOf(f, args, dispose, timeoutMs) {
  let timer;
  const hang = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const run = async () => {
      const result = await f(...args);
      // A generator (generate(), a stream) checks its arguments when first asked for a value.
      if (result && typeof result[Symbol.asyncIterator] === 'function' && typeof result.next === 'function') {
        try {
          await result.next();
        } finally {
          await result.return?.();
        }
        return undefined;
      }
      return result;
    };
    dispose(await Promise.race([run(), hang]));
    return undefined;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `f` with each wrong value at each position (the arguments before it made by `valid()`, none
 * after it) and lists the calls whose error is unclear: not an Error, a raw JavaScript error, a
 * hang, or a message that does not contain `name` (in any case: `new UniformLayout` may speak as
 * `uniformLayout`). With `live` (the backend's live tensor count) and `release` (frees an argument
 * the check made), a call that failed must also leave no tensor of its own allocated.
 */
export async function unclearFailures(
  name,
  f,
  { valid, values = wrongValues(), dispose = () => {}, timeoutMs = 5000, live, release = () => {} },
) {
  const unclear = [];
  const count = Math.max(1, f.length) + 1;
  for (let at = 0; at < count; at++) {
    for (const [label, wrong] of values) {
      const before = live?.();
      const args = Array.from({ length: at + 1 }, (_, k) => (k === at ? wrong() : valid()));
      const e = await failureOf(f, args, dispose, timeoutMs);
      for (const arg of args) release(arg);
      if (e === undefined) continue;
      const left = live ? live() - before : 0;
      if (left > 0) unclear.push(`argument ${at} = ${label}: the failed call left ${left} tensors allocated`);
      const message = e instanceof Error ? e.message : `a thrown ${typeof e}: ${String(e)}`;
      if (
        !(e instanceof Error) ||
        RAW_ERROR.test(message) ||
        message.startsWith('HANG') ||
        !message.toLowerCase().includes(name.toLowerCase())
      ) {
        unclear.push(`argument ${at} = ${label}: ${message.slice(0, 160)}`);
      }
    }
  }
  return unclear;
}
