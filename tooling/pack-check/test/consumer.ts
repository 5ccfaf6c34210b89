// A new user's TypeScript: the public types of every package, type-checked against the packed
// declarations (strict, without skipLibCheck) under node16 and bundler module resolution.
import { runCli } from '@vl/cli';
import { ClipTokenizer, EmbeddingIndex, loadClip, loadImage } from '@vl/clip';
import { loadDvae } from '@vl/dvae';
import { heldOutShapes, shapesModel } from '@vl/shapes';
import { createBackend, matmul, type Tensor, tensor, tidy } from '@vl/tensor';
import { type ChatMessage, loadVlm, type VlmImage } from '@vl/vlm';

const backend = await createBackend('auto');
const y: Tensor = tidy(() =>
  matmul(tensor([1, 2], [1, 2], { backend }), tensor([3, 4], [2, 1], { backend })),
);
const product = await y.read();
const ids: number[] = (await ClipTokenizer.load()).encode('a cat');
const model = await loadClip(shapesModel('clip'), { backend });
const index = new EmbeddingIndex<string>(model.embeddingDim);
index.add(await model.embedImages([await loadImage('scene.png')]), ['scene.png']);
const dvae = await loadDvae(shapesModel('dvae'), { backend });
const vlm = await loadVlm(shapesModel('vlm'), { backend });
const image: VlmImage = heldOutShapes(1)[0]!.image;
const messages: ChatMessage<VlmImage>[] = [
  {
    role: 'user',
    content: [
      { type: 'image', image },
      { type: 'text', text: 'what is this?' },
    ],
  },
];
for await (const { text } of vlm.generate(messages, { maxNewTokens: 4 })) process.stdout.write(text);
console.log(product, ids, dvae.config, await runCli(['--help']));
