/** The Node-only imports reachable from a browser entry (see browserGraph.mjs). */
export function nodeOnlyImports(entry: string, nodeOnly?: (specifier: string) => boolean): string[];
