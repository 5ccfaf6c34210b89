// The text of one answer, streamed piece by piece as tokens arrive. Decoding the ids so far and
// handing out the new end is not enough: the last characters can still change when more tokens
// come. A character split across byte tokens decodes as U+FFFD until its last byte arrives, and
// `clean_up_tokenization_spaces` deletes a space once the punctuation after it arrives
// ("hello" + " " + "." decodes to "hello."). So a piece only hands out text that no later token
// can change, and `finish` hands out the rest: the pieces then add up to the decode of all the
// ids, exactly.

/**
 * How far back a later token can still change text when spaces are cleaned up: transformers'
 * clean-up deletes the space of " .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've" and
 * " 're", and one deletion can complete another match to its left (" n ' t" -> " n't" -> "n't").
 * A space farther than this from the end is followed by text that no longer changes.
 */
const CLEAN_UP_REACH = 12;

/** Streams the text of one sequence of ids. */
export class TextStream {
  readonly #decode: (ids: number[]) => string;
  readonly #cleansUpSpaces: boolean;
  readonly #ids: number[] = [];
  #emitted = '';
  #holding = false;

  /**
   * @param decode - the text of ids (the tokenizer's decode)
   * @param cleansUpSpaces - whether `decode` deletes spaces before punctuation
   */
  constructor(decode: (ids: number[]) => string, cleansUpSpaces: boolean) {
    this.#decode = decode;
    this.#cleansUpSpaces = cleansUpSpaces;
  }

  /** Whether text decoded so far is held back (it would come out of {@link TextStream.finish}). */
  get holding(): boolean {
    return this.#holding;
  }

  /** Adds a token; returns the text that became final with it (often '' while it is held back). */
  push(token: number): string {
    this.#ids.push(token);
    const full = this.#decode(this.#ids);
    let end = full.length;
    // U+FFFD at the end: a character whose remaining bytes have not come yet.
    while (end > 0 && full[end - 1] === '\ufffd') end--;
    if (this.#cleansUpSpaces) {
      const from = Math.max(0, full.length - CLEAN_UP_REACH);
      const space = full.indexOf(' ', from);
      if (space !== -1) end = Math.min(end, space);
    }
    const text = this.#take(full, end);
    this.#holding = full.length > this.#emitted.length;
    return text;
  }

  /** The text still held back: what the decode of all ids adds to the pieces handed out. */
  finish(): string {
    const full = this.#decode(this.#ids);
    this.#holding = false;
    if (!full.startsWith(this.#emitted)) return full.slice(this.#emitted.length);
    return this.#take(full, full.length);
  }

  #take(full: string, end: number): string {
    // The text handed out is a prefix of every later decode (see CLEAN_UP_REACH); should a
    // tokenizer break that, what was handed out stays and only text past it is added.
    if (end <= this.#emitted.length || !full.startsWith(this.#emitted)) return '';
    const text = full.slice(this.#emitted.length, end);
    this.#emitted = full.slice(0, end);
    return text;
  }
}
