export declare function webgpuRequired(env?: Record<string, string | undefined>): boolean;
export declare function fixtureBackends<T extends { dispose(): void }>(
  createBackend: (kind: 'cpu' | 'webgpu') => Promise<T>,
  what: string,
  required?: boolean,
): Promise<T[]>;
export declare function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number;
