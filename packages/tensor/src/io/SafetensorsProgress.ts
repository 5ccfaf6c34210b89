/**
 * Byte progress of one file that {@link loadSafetensors} reads: a download, a cached copy, a local
 * file, a Blob, or bytes already in memory (one event). Sharded checkpoints report each file (the
 * index, then every shard) on its own.
 *
 * @example
 * ```ts
 * const onProgress = ({ file, loaded, total }: SafetensorsProgress) =>
 *   console.log(`${file}: ${total ? Math.round((100 * loaded) / total) + '%' : loaded + ' bytes'}`);
 * ```
 */
export interface SafetensorsProgress {
  /** The URL, path or Blob name being read. */
  readonly file: string;
  /** Bytes read so far. */
  readonly loaded: number;
  /** The file's size, when known (a download without Content-Length, or a compressed one, has none). */
  readonly total: number | undefined;
}

/** What every reader needs: where to report progress and what cancels it. */
export interface ReadContext {
  readonly file: string;
  readonly onProgress?: ((progress: SafetensorsProgress) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}
