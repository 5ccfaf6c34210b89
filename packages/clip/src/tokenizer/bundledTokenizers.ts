import type { ClipTokenizer } from './ClipTokenizer.js';

// Tokenizers loadClip gave a checkpoint for want of its own (the bundled openai/CLIP vocabulary):
// those must match the text tower's vocabulary exactly, where a checkpoint's own tokenizer may be
// smaller than its embedding table.
const bundled = new WeakSet<ClipTokenizer>();

/** Marks a tokenizer as the bundled fallback. */
export function markBundled(tokenizer: ClipTokenizer): ClipTokenizer {
  bundled.add(tokenizer);
  return tokenizer;
}

/** Whether loadClip gave this tokenizer for want of the checkpoint's own. */
export function isBundled(tokenizer: ClipTokenizer): boolean {
  return bundled.has(tokenizer);
}
