export declare function webgpuRequired(env?: Record<string, string | undefined>): boolean;
export declare function fixtureBackends<T>(
  createBackend: (kind: 'cpu' | 'webgpu') => Promise<T>,
  what: string,
): Promise<T[]>;
