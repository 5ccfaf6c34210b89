import { checkString } from '../checkArguments.js';
import { htmlUnescape } from './htmlUnescape.js';

// Python's `str.isspace()` characters, which both `re`'s `\s` and `str.strip()` use. JavaScript's `\s`
// and `trim()` differ (they include U+FEFF and leave out U+001C-U+001F and U+0085), so the class is
// spelled out.
const pythonSpace =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const spaceRuns = new RegExp(`[${pythonSpace}]+`, 'gu');
const edgeSpace = new RegExp(`^[${pythonSpace}]+|[${pythonSpace}]+$`, 'gu');

// What ftfy's `remove_control_chars` (part of `ftfy.fix_text`) deletes: C0 controls other than the
// whitespace ones (U+0000-U+0008, U+000B, U+000E-U+001F), DEL, the deprecated Arabic format
// characters U+206A-U+206F, the byte order mark U+FEFF and U+FFF9-U+FFFC.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters to delete
const controlChars = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

/** Python's `str.strip()`. */
function strip(text: string): string {
  return text.replace(edgeSpace, '');
}

/**
 * Normalizes text the way openai/CLIP's tokenizer does before splitting it into words: control
 * characters are deleted, HTML references are unescaped twice (`html.unescape(html.unescape(text))`),
 * runs of whitespace become one space, the ends are stripped, and the text is lowercased.
 *
 * openai/CLIP runs `ftfy.fix_text` first. Of it, `remove_control_chars` and the final NFC
 * normalization are done here: the C0 controls that are not whitespace (U+0000-U+0008, U+000B,
 * U+000E-U+001F), U+007F, U+206A-U+206F, U+FEFF and U+FFF9-U+FFFC are deleted, so `'a\x1cb'` is the
 * word `ab`, and a decomposed `é` (e + U+0301) is the same word as a composed one (Hugging Face's
 * tokenizer.json for CLIP starts with NFC too). The rest is a large heuristic library and is not
 * done, so results match the reference for text that ftfy leaves alone: text without mojibake
 * (`cafÃ©`), C1 controls (U+0080-U+009F, which ftfy reads as Windows-1252), curly quotes,
 * ligatures (`ﬁ`) or full-width forms.
 *
 * @example
 * ```ts
 * cleanText('  A  Photo &amp;amp;\tMore '); // 'a photo & more'
 * cleanText('tab\vbar'); // 'tabbar' (U+000B is deleted, as ftfy does)
 * ```
 */
export function cleanText(text: string): string {
  checkString('cleanText', 'text', text);
  // ftfy.fix_text ends with NFC (its default normalization), before openai's two unescapes.
  const fixed = text.replace(controlChars, '').normalize('NFC');
  const basic = strip(htmlUnescape(htmlUnescape(fixed)));
  return strip(basic.replace(spaceRuns, ' ')).toLowerCase();
}
