// A new user's first script: imports each package by name and runs a little of each. The check runs
// it twice, once beside the workspace's packages and once in a project that installed the packed
// tarballs, and compares what the two print (JSON on stdout).
import { writeFileSync } from 'node:fs';
import * as cli from '@vl/cli';
import * as clip from '@vl/clip';
import * as dvae from '@vl/dvae';
import * as shapes from '@vl/shapes';
import * as vlTensor from '@vl/tensor';
import * as vlm from '@vl/vlm';

const backend = await vlTensor.createBackend('cpu');
const x = vlTensor.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
const w = vlTensor.tensor([1, 0, 0, 1, 1, 1], [3, 2], { backend });
const product = Array.from(await vlTensor.tidy(() => vlTensor.matmul(x, w)).read());

// The vocabulary shipped in @vl/clip's assets.
const tokenizer = await clip.ClipTokenizer.load();
const ids = tokenizer.encode('a photo of a cat');

// The embedded shapes CLIP, from @vl/shapes' models folder, on one held-out scene.
const [sample] = shapes.heldOutShapes(1);
const model = await clip.loadClip(shapes.shapesModel('clip'), { backend });
const ranked = await model.zeroShot(sample.image, ['a red circle', 'two blue squares', sample.caption], {
  templates: ['{}'],
});
model.dispose();
writeFileSync('scene.png', shapes.encodePng(sample.image));
backend.dispose();

const exportsOf = (m) => Object.keys(m).sort();
console.log(
  JSON.stringify({
    exports: {
      cli: exportsOf(cli),
      clip: exportsOf(clip),
      dvae: exportsOf(dvae),
      shapes: exportsOf(shapes),
      tensor: exportsOf(vlTensor),
      vlm: exportsOf(vlm),
    },
    product,
    ids,
    ranked: ranked.map(({ label, score }) => ({ label, score: score.toFixed(5) })),
  }),
);
