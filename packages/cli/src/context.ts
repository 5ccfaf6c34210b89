import type { Backend } from '@vl/tensor';
import { type OpenBackendOptions, openBackend } from './backend.js';
import type { CliIo } from './io.js';

/** Parsed option values: strings, booleans and repeated strings. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command gets: its positionals, its options, and the shared I/O. */
export class CommandContext {
  #backend: Backend | undefined;
  /** Set on a {@link CommandContext.derive}d context: the backend is the parent's. */
  #parent: CommandContext | undefined;

  constructor(
    readonly io: CliIo,
    readonly cwd: string,
    readonly positionals: readonly string[],
    readonly options: OptionValues,
  ) {}

  /** Made by {@link CommandContext.derive} (a `vl train --stage`). */
  get isDerived(): boolean {
    return this.#parent !== undefined;
  }

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

  /**
   * A context for a follow-on run of the same command (a `vl train --stage`): other options,
   * the same I/O, and the same backend, which stays this context's to dispose.
   */
  derive(options: OptionValues): CommandContext {
    const child = new CommandContext(this.io, this.cwd, this.positionals, options);
    child.#parent = this.#parent ?? this;
    return child;
  }

  /** The backend, created on first use from `--backend` (see {@link OpenBackendOptions}). */
  async backend(options: OpenBackendOptions = {}): Promise<Backend> {
    if (this.#parent) return this.#parent.backend(options);
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

  /** Frees the backend if one was created (a derived context leaves it to its parent). */
  dispose(): void {
    if (!this.#parent) this.#backend?.dispose();
  }
}
