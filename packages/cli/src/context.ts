import type { Backend } from '@vl/tensor';
import { type OpenBackendOptions, openBackend } from './backend.js';
import type { CliIo } from './io.js';

/** Parsed option values: strings, booleans and repeated strings. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command gets: its positionals, its options, and the shared I/O. */
export class CommandContext {
  #backend: Backend | undefined;

  constructor(
    readonly io: CliIo,
    readonly cwd: string,
    readonly positionals: readonly string[],
    readonly options: OptionValues,
  ) {}

  /** `--json`: machine-readable output on stdout. */
  get json(): boolean {
    return this.options.json === true;
  }

  /** A string option (the last one when repeated). */
  string(name: string): string | undefined {
    const v = this.options[name];
    return Array.isArray(v) ? v.at(-1) : typeof v === 'string' ? v : undefined;
  }

  /** A repeated string option, in order. */
  strings(name: string): string[] {
    const v = this.options[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** The backend, created on first use from `--backend` (see {@link OpenBackendOptions}). */
  async backend(options: OpenBackendOptions = {}): Promise<Backend> {
    this.#backend ??= await openBackend(this.string('backend') ?? 'auto', this.io, options);
    return this.#backend;
  }

  /** Prints a result line. */
  print(line: string): void {
    this.io.stdout.write(`${line}\n`);
  }

  /** Prints one JSON value on its own line. */
  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Frees the backend if one was created. */
  dispose(): void {
    this.#backend?.dispose();
  }
}
