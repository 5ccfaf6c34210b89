// Writes a CLIP checkpoint whose vision tower is a VLM's (e.g. the shipped VLM's grounded tower),
// so that a fresh VLM decoder can be trained on that tower without grounding it again. Not a test.
//
//   cp -r ../shapes/models/clip /tmp/gclip
//   node --conditions=source --import tsx probes/groundedClip.mts ../shapes/models/vlm /tmp/gclip
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBackend, loadSafetensors, saveSafetensors } from '@vl/tensor';

const [vlmFolder, clipFolder] = process.argv.slice(2);
if (!vlmFolder || !clipFolder) throw new Error('usage: groundedClip.mts <vlm folder> <clip folder>');
const backend = await createBackend('cpu');
const clip = await loadSafetensors(join(clipFolder, 'model.safetensors'), { backend });
const vlm = await loadSafetensors(join(vlmFolder, 'model.safetensors'), { backend });
const out = new Map(clip.tensors);
let replaced = 0;
for (const [name, t] of vlm.tensors) {
  if (!name.startsWith('vision_tower.')) continue;
  const inClip = name.slice('vision_tower.'.length);
  if (!out.has(inClip)) throw new Error(`${clipFolder} has no ${inClip}`);
  out.set(inClip, t);
  replaced++;
}
await writeFile(join(clipFolder, 'model.safetensors'), await saveSafetensors(out));
console.log(`${clipFolder}: ${replaced} vision tower tensors from ${vlmFolder}`);
backend.dispose();
