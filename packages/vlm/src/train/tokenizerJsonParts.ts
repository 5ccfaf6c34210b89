// Parts of an HF `tokenizer.json` that this package writes the same way in every tokenizer it
// makes (wordTokenizerFiles, and scripts/makeTinyTokenizer.ts for the llava-tiny fixture).

/** The `added_tokens` entry of a special token: matched whole, never normalized or stripped. */
export function specialToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** A `TemplateProcessing` post-processor that puts `bos` (id `bosId`) in front of every encoded text. */
export function bosTemplateProcessing(bos: string, bosId: number) {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
  };
}
