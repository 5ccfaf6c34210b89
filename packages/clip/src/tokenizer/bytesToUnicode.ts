let table: readonly string[] | undefined;

/**
 * The byte-level BPE alphabet of GPT-2 and CLIP: one printable character for each byte value, so that
 * any UTF-8 byte sequence becomes a string the merges can work on. Printable Latin-1 bytes
 * (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for themselves; the other 68 bytes map, in order, to U+0100
 * upwards. Index `i` holds the character for byte `i`.
 *
 * @example
 * ```ts
 * bytesToUnicode()[0x41]; // 'A'
 * bytesToUnicode()[0x20]; // 'Ġ' (U+0120): a space byte
 * ```
 */
export function bytesToUnicode(): readonly string[] {
  if (table) return table;
  const chars: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  }
  table = chars;
  return table;
}
