// The names a sharded checkpoint's index goes by, shared by the loader and the saver.

/**
 * The names under which the index of `file`'s shards may stand, in the order
 * {@link loadCheckpointTensors} tries them: `<file>.index.json`, then, when `file` names a weight
 * variant (`model.fp16.safetensors`, what `save_pretrained(variant="fp16")` writes unsharded),
 * transformers' name for it, the variant before `.json` (`model.safetensors.index.fp16.json`), as
 * its `_add_variant` puts it. The variant is the last dot-separated part of the name.
 */
export function indexFileNames(file: string): string[] {
  const names = [`${file}.index.json`];
  const variant = /^(.*[^/\\])\.([^./\\]+)\.safetensors$/.exec(file);
  if (variant) names.push(`${variant[1]}.safetensors.index.${variant[2]}.json`);
  return names;
}

/** The index name saveCheckpointTensors writes: transformers' (the variant's, for a variant). */
export function indexFileName(file: string): string {
  return indexFileNames(file).at(-1)!;
}
