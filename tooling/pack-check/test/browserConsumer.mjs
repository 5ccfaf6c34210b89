// A new user's page: every package that runs in a browser, imported by name and used a little.
// The check bundles it from the packed tarballs for the browser (esbuild, platform browser), which
// fails on a Node builtin reached from a browser entry or an import the tarballs cannot resolve.
import { ClipTokenizer, EmbeddingIndex, loadClip, preprocess } from '@vl/clip';
import { loadDvae } from '@vl/dvae';
import { heldOutShapes, shapesModel } from '@vl/shapes';
import { createBackend, matmul, tensor } from '@vl/tensor';
import { loadVlm } from '@vl/vlm';

const backend = await createBackend('auto');
const product = matmul(tensor([1, 2], [1, 2], { backend }), tensor([3, 4], [2, 1], { backend }));
const tokenizer = await ClipTokenizer.load();
const [sample] = heldOutShapes(1);
const clip = await loadClip(shapesModel('clip'), { backend });
const index = new EmbeddingIndex(clip.embeddingDim);
index.add(await clip.embedImages([sample.image]), [sample.caption]);
const dvae = await loadDvae(shapesModel('dvae'), { backend });
const vlm = await loadVlm(shapesModel('vlm'), { backend });
console.log(await product.read(), tokenizer.encode(sample.caption), preprocess, dvae.config, vlm.config);
