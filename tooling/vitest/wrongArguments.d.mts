export declare const RAW_ERROR: RegExp;
export type WrongValue = [label: string, make: () => unknown];
export declare function wrongValues(extra?: WrongValue[]): WrongValue[];
export declare function exportedFunctions(
  module: Record<string, unknown>,
  skip?: readonly string[],
): [string, (...args: unknown[]) => unknown][];
export declare function unclearFailures(
  name: string,
  f: (...args: unknown[]) => unknown,
  options: {
    valid: () => unknown;
    values?: WrongValue[];
    dispose?: (result: unknown) => void;
    timeoutMs?: number;
    live?: () => number;
    release?: (argument: unknown) => void;
  },
): Promise<string[]>;
export declare function exportedClassCalls(
  module: Record<string, unknown>,
  skip?: readonly string[],
): [label: string, className: string, call: (...args: unknown[]) => unknown][];
export declare function methodCalls(
  object: object,
  skip?: readonly string[],
): [name: string, call: (...args: unknown[]) => unknown][];
export declare function trackTensors(
  backend: { stats(): { liveTensors: number } },
  TensorClass: abstract new (...args: never[]) => { isDisposed: boolean; dispose(): void },
): { live: () => number; release: (argument: unknown) => void };
