// Writes test/fixtures/llava-tiny/tokenizer.json and tokenizer_config.json: a byte-level BPE
// tokenizer (GPT-2 style) sized for the llava-tiny checkpoint's 300-token vocabulary, whose
// reference fixture ships no tokenizer. The ids follow the fixture's config: 0 <unk> (also padding),
// 1 <s> (BOS), 2 </s> (EOS), 299 <image> (image_token_index). Ids 3..258 are the 256 byte symbols and
// 259..298 are 40 merges learned here from a small corpus by plain BPE training (most frequent pair
// first, ties to the lexicographically smallest pair), so the file is the output of a procedure,
// not hand-written merges. The chat template is llava-hf's LLaVA-1.5 template with a BOS.
//
// Run: node --conditions=source --import tsx scripts/makeTinyTokenizer.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bosTemplateProcessing, specialToken } from '../src/train/tokenizerJsonParts.js';

const out = fileURLToPath(new URL('../test/fixtures/llava-tiny/', import.meta.url));

/** GPT-2's reversible map of bytes to printable characters. */
function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

// The ByteLevel pre-tokenizer's split (use_regex: true).
const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const corpus = [
  'USER: What is shown in the image? ASSISTANT: The image shows a cat sitting on a mat.',
  'USER: Describe the picture. ASSISTANT: There is a red car in the street.',
  'USER: How many dogs are there? ASSISTANT: There are two dogs in the picture.',
  'USER: What color is the sky? ASSISTANT: The sky is blue and the sun is shining.',
  'USER: Compare the two images. ASSISTANT: The first image shows a cat, the second a dog.',
].join('\n');

const byteMap = bytesToUnicode();
const encoder = new TextEncoder();
const words = new Map<string, number>();
for (const piece of corpus.match(SPLIT) ?? []) {
  const mapped = Array.from(encoder.encode(piece), (b) => byteMap[b]!).join('\u0000');
  words.set(mapped, (words.get(mapped) ?? 0) + 1);
}
let seqs = [...words].map(([w, n]) => ({ symbols: w.split('\u0000'), n }));
const merges: [string, string][] = [];
while (merges.length < 40) {
  const counts = new Map<string, number>();
  for (const { symbols, n } of seqs) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
  }
  const best = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))[0];
  if (!best) break;
  const [a, b] = best[0].split('\u0000') as [string, string];
  merges.push([a, b]);
  seqs = seqs.map(({ symbols, n }) => {
    const next: string[] = [];
    for (let i = 0; i < symbols.length; i++) {
      if (symbols[i] === a && symbols[i + 1] === b) {
        next.push(a + b);
        i++;
      } else next.push(symbols[i]!);
    }
    return { symbols: next, n };
  });
}

const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
byteMap.forEach((ch, b) => {
  vocab[ch] = 3 + b;
});
merges.forEach(([a, b], i) => {
  vocab[a + b] = 259 + i;
});
vocab['<image>'] = 299;

const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [
    specialToken(0, '<unk>'),
    specialToken(1, '<s>'),
    specialToken(2, '</s>'),
    specialToken(299, '<image>'),
  ],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: bosTemplateProcessing('<s>', 1),
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: '<unk>',
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab,
    merges: merges.map(([a, b]) => [a, b]),
  },
};

// llava-hf/llava-1.5-7b-hf's template (images first, then text, per message), with a BOS in front.
const chatTemplate =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}" +
  "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}" +
  "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' ' }}{% endfor %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

const config = {
  tokenizer_class: 'PreTrainedTokenizerFast',
  bos_token: '<s>',
  eos_token: '</s>',
  unk_token: '<unk>',
  pad_token: '<unk>',
  model_max_length: 128,
  clean_up_tokenization_spaces: false,
  chat_template: chatTemplate,
};

writeFileSync(`${out}tokenizer.json`, `${JSON.stringify(tokenizer, null, 2)}\n`);
writeFileSync(`${out}tokenizer_config.json`, `${JSON.stringify(config, null, 2)}\n`);
console.log(`wrote ${out}tokenizer.json (${Object.keys(vocab).length} tokens, ${merges.length} merges)`);
