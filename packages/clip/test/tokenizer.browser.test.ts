import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../src/tokenizer/ClipTokenizer.js';
import reference from './fixtures/tokenizer-reference.json' with { type: 'json' };

describe('ClipTokenizer in the browser', () => {
  it('fetches and gunzips the shipped vocabulary and matches openai/CLIP', async () => {
    const tokenizer = await ClipTokenizer.load();
    expect(tokenizer.vocabSize).toBe(49408);
    for (const { text, ids, decoded } of reference) {
      expect(tokenizer.encode(text)).toEqual(ids);
      expect(tokenizer.decode(ids)).toBe(decoded);
    }
  });
});
