import { htmlUnescape } from './htmlUnescape.js';

// Python's `str.isspace()` characters, which both `re`'s `\s` and `str.strip()` use. JavaScript's `\s`
// and `trim()` differ (they include U+FEFF and leave out U+001C-U+001F and U+0085), so the class is
// spelled out.
const pythonSpace =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const spaceRuns = new RegExp(`[${pythonSpace}]+`, 'gu');
const edgeSpace = new RegExp(`^[${pythonSpace}]+|[${pythonSpace}]+$`, 'gu');

/** Python's `str.strip()`. */
function strip(text: string): string {
  return text.replace(edgeSpace, '');
}

/**
 * Normalizes text the way openai/CLIP's tokenizer does before splitting it into words: HTML
 * references are unescaped twice (`html.unescape(html.unescape(text))`), runs of whitespace become one
 * space, the ends are stripped, and the text is lowercased.
 *
 * openai/CLIP also runs `ftfy.fix_text` first. That is not done here (it is a large heuristic
 * library), so results match the reference for text that ftfy leaves alone: NFC-normalized text
 * without mojibake (`cafÃ©`), curly quotes, ligatures (`ﬁ`) or full-width forms. Normalize such text
 * yourself if it matters (for example `text.normalize('NFC')`).
 *
 * @example
 * ```ts
 * cleanText('  A  Photo &amp;amp;\tMore '); // 'a photo & more'
 * ```
 */
export function cleanText(text: string): string {
  const basic = strip(htmlUnescape(htmlUnescape(text)));
  return strip(basic.replace(spaceRuns, ' ')).toLowerCase();
}
