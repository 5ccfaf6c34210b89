import type { CliIo } from './io.js';

/**
 * A progress bar on stderr. On a terminal it redraws one line; elsewhere (pipes, CI logs) it prints
 * a line at every 10%, and at least once a minute on long work, so logs stay short but alive.
 * Work done within `quietMs` (1 s by default) prints nothing at all, its closing line included: a
 * model that loads at once is not worth a dozen lines.
 */
export class ProgressBar {
  readonly #io: CliIo;
  readonly #label: string;
  #lastTenth = -1;
  #lastLine = 0;
  #start = performance.now();
  #done = false;
  /** Whether any line (or redraw) was written: the closing line only follows one. */
  #shown = false;

  readonly #bytes: boolean;
  readonly #quietMs: number;

  /**
   * `bytes`: the units are bytes, shown as kB / MB / GB. `quietMs`: how long the bar stays silent
   * at first (default 1000; 0 prints from the first update, as training does to say it began).
   */
  constructor(io: CliIo, label: string, options: { bytes?: boolean; quietMs?: number } = {}) {
    this.#io = io;
    this.#label = label;
    this.#bytes = options.bytes === true;
    this.#quietMs = options.quietMs ?? 1000;
  }

  /** Reports `done` of `total` units, with an optional note (a loss, a file name). */
  update(done: number, total: number, note = ''): void {
    if (this.#done) return;
    const now = performance.now();
    if (!this.#shown && now - this.#start < this.#quietMs) return;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const percent = Math.round(fraction * 100);
    const elapsed = (performance.now() - this.#start) / 1000;
    const eta =
      fraction > 0 && fraction < 1 ? ` eta ${formatSeconds((elapsed / fraction) * (1 - fraction))}` : '';
    const amount = this.#bytes ? `${formatBytes(done)} of ${formatBytes(total)}` : `${done}/${total}`;
    const tail = `${percent}% ${amount}${eta}${note ? ` ${note}` : ''}`;
    if (this.#io.stderr.isTTY) {
      const width = 24;
      const filled = Math.round(fraction * width);
      this.#io.stderr.write(
        `\r\x1b[2K${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${tail}`,
      );
      this.#shown = true;
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== this.#lastTenth || now - this.#lastLine > 60_000) {
      this.#shown = true;
      this.#lastTenth = tenth;
      this.#lastLine = now;
      this.#io.stderr.write(`${this.#label}: ${tail}\n`);
    }
  }

  /** Ends the bar with the total time (nothing when it never showed: the work was quick). */
  finish(note = ''): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.#shown) return;
    const elapsed = formatSeconds((performance.now() - this.#start) / 1000);
    const line = `${this.#label}: done in ${elapsed}${note ? ` ${note}` : ''}`;
    this.#io.stderr.write(this.#io.stderr.isTTY ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  const [unit, size] = n < 1e6 ? ['kB', 1e3] : n < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(n / (size as number)).toFixed(1)} ${unit}`;
}
