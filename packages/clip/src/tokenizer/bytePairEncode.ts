/**
 * Splits one word (already mapped to the byte-level alphabet) into BPE tokens: the last character
 * carries the `</w>` word end, then the adjacent pair with the lowest merge rank is merged everywhere,
 * left to right, until no adjacent pair has a rank. `ranks` maps `"left right"` to its merge rank.
 *
 * @example
 * ```ts
 * const ranks = new Map([['c a', 0], ['ca t</w>', 1]]);
 * bytePairEncode('cat', ranks); // ['cat</w>']
 * ```
 */
export function bytePairEncode(word: string, ranks: ReadonlyMap<string, number>): string[] {
  let parts = Array.from(word);
  if (parts.length === 0) return [];
  parts[parts.length - 1] += '</w>';
  while (parts.length > 1) {
    let best = Number.POSITIVE_INFINITY;
    let left = '';
    let right = '';
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = ranks.get(parts[i] + ' ' + parts[i + 1]);
      if (rank !== undefined && rank < best) {
        best = rank;
        left = parts[i]!;
        right = parts[i + 1]!;
      }
    }
    if (best === Number.POSITIVE_INFINITY) break;
    const merged: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (i + 1 < parts.length && parts[i] === left && parts[i + 1] === right) {
        merged.push(left + right);
        i++;
      } else {
        merged.push(parts[i]!);
      }
    }
    parts = merged;
  }
  return parts;
}
