/** The Node-only imports reachable from a browser entry (see browserGraph.mjs). */
export function nodeOnlyImports(entry: string, nodeOnly?: (specifier: string) => boolean): string[];

/** Node-only by default: node: modules, Node's built-ins by bare name, and the `webgpu` package (Dawn). */
export declare const isNodeOnly: (specifier: string) => boolean;
