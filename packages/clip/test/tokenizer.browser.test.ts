import { afterEach, describe, expect, it, vi } from 'vitest';
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

  describe('when a bundler left the shipped vocabulary behind', () => {
    afterEach(() => {
      vi.unstubAllGlobals();
    });

    it.each([
      ['a 404', () => new Response('Not Found', { status: 404 }), 'HTTP 404'],
      [
        "a dev server's index.html",
        () => new Response('<!doctype html><html></html>', { headers: { 'content-type': 'text/html' } }),
        'an HTML page (text/html), not the file',
      ],
    ])('%s is explained, with the way out', async (_, answer, what) => {
      vi.stubGlobal('fetch', async () => answer());
      const load = ClipTokenizer.load();
      await expect(load).rejects.toThrow(what);
      await expect(load).rejects.toThrow('the bundler did not copy the asset');
      await expect(load).rejects.toThrow('pass its URL: ClipTokenizer.load(');
    });
  });
});
