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
  readonly #stops: readonly string[];
  readonly #ids: number[] = [];
  #emitted = '';
  #holding = false;
  #stopped = false;

  /**
   * @param decode - the text of ids (the tokenizer's decode)
   * @param cleansUpSpaces - whether `decode` deletes spaces before punctuation
   * @param stops - strings that end the text where they first appear (not handed out themselves)
   */
  constructor(decode: (ids: number[]) => string, cleansUpSpaces: boolean, stops: readonly string[] = []) {
    this.#decode = decode;
    this.#cleansUpSpaces = cleansUpSpaces;
    this.#stops = stops;
  }

  /** Whether text decoded so far is held back (it would come out of {@link TextStream.finish}). */
  get holding(): boolean {
    return this.#holding;
  }

  /** Whether a stop string appeared: the text ended before it, and no more tokens are wanted. */
  get stopped(): boolean {
    return this.#stopped;
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
    if (this.#stops.length > 0) {
      const at = this.#firstStop(full);
      if (at !== undefined) {
        const text = this.#take(full, at);
        this.#stopped = true;
        this.#holding = false;
        return text;
      }
      // The start of a stop string at the end waits: the next tokens may complete it.
      end = Math.min(end, full.length - this.#stopPrefixAtEnd(full));
    }
    const text = this.#take(full, end);
    this.#holding = full.length > this.#emitted.length;
    return text;
  }

  /** The text still held back: what the decode of all ids adds to the pieces handed out. */
  finish(): string {
    const full = this.#decode(this.#ids);
    this.#holding = false;
    if (this.#stopped) return '';
    if (!full.startsWith(this.#emitted)) return full.slice(this.#emitted.length);
    const at = this.#stops.length > 0 ? this.#firstStop(full) : undefined;
    if (at !== undefined) this.#stopped = true;
    return this.#take(full, at ?? full.length);
  }

  /**
   * Where the first stop string starts in `full` past the text handed out, if one lies there whole.
   * The text stops there even where a later token could still have changed it: none will come.
   */
  #firstStop(full: string): number | undefined {
    let first: number | undefined;
    for (const stop of this.#stops) {
      const at = full.indexOf(stop, this.#emitted.length);
      if (at !== -1 && (first === undefined || at < first)) first = at;
    }
    return first;
  }

  /** The length of the longest end of `full` that begins a stop string (0: none). */
  #stopPrefixAtEnd(full: string): number {
    let longest = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, full.length); n > longest; n--) {
        if (full.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
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
