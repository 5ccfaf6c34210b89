// How embedTexts cuts its texts into forward passes. CLIP's text tower is causal, so the pooled
// state at a row's end token depends on the tokens up to it and no further: everything after the
// longest row's end token can be left out of the pass. Texts are taken shortest first, so a batch
// holds texts of about one length, and a prompt of 10 tokens costs 10 positions instead of 77.
import type { ClipTextConfig } from '../model/config.js';
import { poolPositionOf } from '../model/textTransformer.js';
import type { EncodedBatch } from '../tokenizer/ClipTokenizer.js';

/** One forward pass of {@link textBatches}. */
export interface TextBatch {
  /** Which texts (indices into the encoded batch) the rows are, in row order. */
  rows: number[];
  /** i32 `[rows.length, length]` ids, row-major. */
  inputIds: Int32Array;
  /** `[rows.length, length]`, 1 for real tokens. */
  attentionMask: Int32Array;
  /** Positions per row: up to the batch's last pooling position. */
  length: number;
}

/**
 * Cuts encoded texts into forward passes of at most `batchSize` rows, shortest texts first, each
 * trimmed after its longest row's pooling position.
 *
 * @example
 * ```ts
 * const enc = tokenizer.encodeBatch(['a cat', 'a photo of a dog']);
 * for (const b of textBatches(enc, 64, config.text_config)) console.log(b.rows, b.length); // [0, 1] 7
 * ```
 */
export function* textBatches(enc: EncodedBatch, batchSize: number, c: ClipTextConfig): Generator<TextBatch> {
  const [count, context] = enc.shape;
  const ends = Array.from({ length: count }, (_, i) =>
    poolPositionOf(enc.inputIds.subarray(i * context, (i + 1) * context), c),
  );
  const order = ends.map((_, i) => i).sort((a, b) => ends[a]! - ends[b]!); // stable: ties keep their order
  for (let first = 0; first < count; first += batchSize) {
    const rows = order.slice(first, first + batchSize);
    const length = Math.max(...rows.map((i) => ends[i]!)) + 1;
    const inputIds = new Int32Array(rows.length * length);
    const attentionMask = new Int32Array(rows.length * length);
    rows.forEach((i, r) => {
      inputIds.set(enc.inputIds.subarray(i * context, i * context + length), r * length);
      attentionMask.set(enc.attentionMask.subarray(i * context, i * context + length), r * length);
    });
    yield { rows, inputIds, attentionMask, length };
  }
}
