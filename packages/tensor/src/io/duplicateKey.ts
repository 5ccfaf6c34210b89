// JSON.parse keeps the last of two equal keys in an object and says nothing: a safetensors header
// that names a tensor twice, or an index that maps one tensor to two shards, would load one of the
// two meanings silently.

// A string (escapes and all), or one of the characters that open, close or separate values.
const TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"|[{}[\],:]/g;

/**
 * The first key that some object in `text` (valid JSON) names twice, or undefined when no object
 * does. Keys are compared as JSON.parse reads them (`"\u0061"` and `"a"` are one key).
 *
 * @example
 * ```ts
 * duplicateKey('{"w": {"dtype": "F32"}, "w": {"dtype": "I32"}}'); // 'w'
 * ```
 */
export function duplicateKey(text: string): string | undefined {
  // The keys seen in each open object, undefined for an open array.
  const open: (Set<string> | undefined)[] = [];
  let keyNext = false;
  for (const [token] of text.matchAll(TOKEN)) {
    if (token === '{' || token === '[') {
      open.push(token === '{' ? new Set() : undefined);
      keyNext = token === '{';
    } else if (token === '}' || token === ']') {
      open.pop();
      keyNext = false;
    } else if (token === ',') keyNext = open.at(-1) !== undefined;
    else if (token === ':') keyNext = false;
    else if (keyNext) {
      const key = token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
      const keys = open.at(-1)!;
      if (keys.has(key)) return key;
      keys.add(key);
      keyNext = false;
    }
  }
  return undefined;
}
