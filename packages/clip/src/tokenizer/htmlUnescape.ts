import { htmlEntities } from './htmlEntities.js';

// The rules below are Python's `html.unescape` (the HTML5 character reference rules), written out so
// the tokenizer sees the same text as openai/CLIP's `basic_clean`.

/** A reference: `&#123;`, `&#x1F;`, or a name of 1 to 32 characters, each with an optional `;`. */
const reference = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Numeric references that HTML maps to other characters (Windows-1252 for 0x80-0x9F). */
const remappedCodePoints: ReadonlyMap<number, string> = new Map([
  [0x00, '\ufffd'],
  [0x0d, '\r'],
  [0x80, '\u20ac'],
  [0x81, '\x81'],
  [0x82, '\u201a'],
  [0x83, '\u0192'],
  [0x84, '\u201e'],
  [0x85, '\u2026'],
  [0x86, '\u2020'],
  [0x87, '\u2021'],
  [0x88, '\u02c6'],
  [0x89, '\u2030'],
  [0x8a, '\u0160'],
  [0x8b, '\u2039'],
  [0x8c, '\u0152'],
  [0x8d, '\x8d'],
  [0x8e, '\u017d'],
  [0x8f, '\x8f'],
  [0x90, '\x90'],
  [0x91, '\u2018'],
  [0x92, '\u2019'],
  [0x93, '\u201c'],
  [0x94, '\u201d'],
  [0x95, '\u2022'],
  [0x96, '\u2013'],
  [0x97, '\u2014'],
  [0x98, '\u02dc'],
  [0x99, '\u2122'],
  [0x9a, '\u0161'],
  [0x9b, '\u203a'],
  [0x9c, '\u0153'],
  [0x9d, '\x9d'],
  [0x9e, '\u017e'],
  [0x9f, '\u0178'],
]);

/** Code points that a numeric reference may not produce: they are dropped. */
function isDroppedCodePoint(cp: number): boolean {
  return (
    (cp >= 0x01 && cp <= 0x08) ||
    cp === 0x0b ||
    (cp >= 0x0e && cp <= 0x1f) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe // U+FFFE, U+FFFF, U+1FFFE, ... U+10FFFF
  );
}

function numericReference(body: string): string {
  const digits = body.endsWith(';') ? body.slice(0, -1) : body;
  const hex = digits[1] === 'x' || digits[1] === 'X';
  // Digit strings can be arbitrarily long; a float that overflows still compares as "too large".
  const cp = hex ? Number.parseInt(digits.slice(2), 16) : Number.parseInt(digits.slice(1), 10);
  const remapped = remappedCodePoints.get(cp);
  if (remapped !== undefined) return remapped;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  if (isDroppedCodePoint(cp)) return '';
  return String.fromCodePoint(cp);
}

function entity(name: string): string | undefined {
  // Own properties only: `constructor` or `toString` are not references.
  return Object.hasOwn(htmlEntities, name) ? htmlEntities[name] : undefined;
}

function namedReference(body: string): string {
  const exact = entity(body);
  if (exact !== undefined) return exact;
  // The longest known prefix wins (legacy names such as `&amp` match without `;`); prefixes are
  // counted in code points and must be at least two long.
  const chars = Array.from(body);
  for (let n = chars.length - 1; n > 1; n--) {
    const prefix = chars.slice(0, n).join('');
    const value = entity(prefix);
    if (value !== undefined) return value + chars.slice(n).join('');
  }
  return '&' + body;
}

/**
 * Replaces HTML character references (`&amp;`, `&lt`, `&#39;`, `&#x1F600;`, ...) with the characters
 * they stand for, following the HTML5 rules exactly as Python's `html.unescape` does.
 *
 * @example
 * ```ts
 * htmlUnescape('fish &amp; chips &#x1F35F;'); // 'fish & chips 🍟'
 * ```
 */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(reference, (_match, body: string) =>
    body[0] === '#' ? numericReference(body) : namedReference(body),
  );
}
