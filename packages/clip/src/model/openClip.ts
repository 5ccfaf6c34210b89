// open_clip checkpoints (`visual.*`, `transformer.resblocks.*`, fused `in_proj_weight`, `[in, out]`
// projections) for the ViT towers, mapped onto the HF layout the forward functions read. The
// mapping is a one-time reshuffle at load: q/k/v are slices of the fused projection and the
// projections are transposed, so both layouts run the same, fixture-checked forward code. The
// tensors are checked against the config under their own names and shapes before anything is made.
import { type Shape, type Tensor, reshape, slice, transpose } from '@vl/tensor';
import { argumentError, checkConfigArg, checkIterable, checkParamsMap } from '../checkArguments.js';
import type { ClipConfig } from './config.js';
import { modifiedResNetShapes } from './modifiedResNet.js';
import { checkParams, checkUnusedTensors } from './params.js';

/**
 * True when the tensor names are open_clip's (some name starts with `visual.` or
 * `transformer.resblocks.`); such tensors go through {@link fromOpenClip} before the forward
 * functions can read them.
 *
 * @example
 * ```ts
 * isOpenClipCheckpoint(['visual.conv1.weight', 'logit_scale']); // true
 * isOpenClipCheckpoint(['vision_model.embeddings.class_embedding']); // false: HF names
 * const params = isOpenClipCheckpoint(tensors.keys()) ? fromOpenClip(tensors, config) : tensors;
 * ```
 */
export function isOpenClipCheckpoint(names: Iterable<string>): boolean {
  checkIterable('isOpenClipCheckpoint', 'names', names, 'an iterable of tensor names');
  for (const n of names) {
    if (typeof n !== 'string')
      throw argumentError('isOpenClipCheckpoint', 'names', 'strings (tensor names)', n);
    if (n.startsWith('visual.') || n.startsWith('transformer.resblocks.')) return true;
  }
  return false;
}

/** The tensors of one open_clip `ResidualAttentionBlock` of width `C` and MLP width `F`. */
function blockShapes(prefix: string, C: number, F: number, layerScale: boolean): [string, Shape][] {
  const shapes: [string, Shape][] = [
    [`${prefix}.attn.in_proj_weight`, [3 * C, C]],
    [`${prefix}.attn.in_proj_bias`, [3 * C]],
    [`${prefix}.attn.out_proj.weight`, [C, C]],
    [`${prefix}.attn.out_proj.bias`, [C]],
    [`${prefix}.ln_1.weight`, [C]],
    [`${prefix}.ln_1.bias`, [C]],
    [`${prefix}.ln_2.weight`, [C]],
    [`${prefix}.ln_2.bias`, [C]],
    [`${prefix}.mlp.c_fc.weight`, [F, C]],
    [`${prefix}.mlp.c_fc.bias`, [F]],
    [`${prefix}.mlp.c_proj.weight`, [C, F]],
    [`${prefix}.mlp.c_proj.bias`, [C]],
  ];
  if (layerScale) shapes.push([`${prefix}.ls_1.gamma`, [C]], [`${prefix}.ls_2.gamma`, [C]]);
  return shapes;
}

/**
 * Every tensor an open_clip checkpoint of `config` holds, under open_clip's names and in its
 * orientation (`visual.proj` and `text_projection` are `[width, embed_dim]`, each block's fused
 * `in_proj_weight` is `[3·width, width]`), so a mismatch names the tensor as it is in the file.
 *
 * @example
 * ```ts
 * openClipShapes(config).get('visual.proj'); // [768, 512] for ViT-B/32
 * ```
 */
export function openClipShapes(config: ClipConfig): Map<string, Shape> {
  checkConfigArg('openClipShapes', config);
  return shapesOf(config);
}

/** {@link openClipShapes} of a config already checked. */
function shapesOf(config: ClipConfig): Map<string, Shape> {
  const t = config.text_config;
  const E = config.projection_dim;
  const T = t.hidden_size;
  const shapes = new Map<string, Shape>([
    ['token_embedding.weight', [t.vocab_size, T]],
    ['positional_embedding', [t.max_position_embeddings, T]],
    ['ln_final.weight', [T]],
    ['ln_final.bias', [T]],
    ['text_projection', [T, E]],
    ['logit_scale', []],
  ]);
  for (let i = 0; i < t.num_hidden_layers; i++)
    for (const [n, s] of blockShapes(`transformer.resblocks.${i}`, T, t.intermediate_size, !!t.layer_scale))
      shapes.set(n, s);
  if (config.vision_resnet) {
    for (const [n, s] of modifiedResNetShapes(config.vision_resnet)) shapes.set(n, s);
    return shapes;
  }
  const v = config.vision_config;
  const W = v.hidden_size;
  const grid = v.image_size / v.patch_size;
  shapes.set('visual.conv1.weight', [W, v.num_channels, v.patch_size, v.patch_size]);
  shapes.set('visual.class_embedding', [W]);
  shapes.set('visual.positional_embedding', [grid * grid + 1, W]);
  for (const ln of ['ln_pre', 'ln_post']) {
    shapes.set(`visual.${ln}.weight`, [W]);
    shapes.set(`visual.${ln}.bias`, [W]);
  }
  shapes.set('visual.proj', [W, E]);
  for (let i = 0; i < v.num_hidden_layers; i++)
    for (const [n, s] of blockShapes(
      `visual.transformer.resblocks.${i}`,
      W,
      v.intermediate_size,
      !!v.layer_scale,
    ))
      shapes.set(n, s);
  return shapes;
}

function need(src: ReadonlyMap<string, Tensor>, name: string): Tensor {
  const t = src.get(name);
  if (!t) throw new Error(`open_clip: the checkpoint has no tensor ${name}`);
  return t;
}

/** Sets HF names in `out`, keeping the tensors it makes (slices, transposes) in `made`. */
interface Mapping {
  src: ReadonlyMap<string, Tensor>;
  out: Map<string, Tensor>;
  made: Tensor[];
}

function make(m: Mapping, name: string, t: Tensor): void {
  m.made.push(t);
  m.out.set(name, t);
}

function mapBlock(m: Mapping, from: string, to: string, layerScale: boolean): void {
  const w = need(m.src, `${from}.attn.in_proj_weight`); // [3C, C]
  const b = need(m.src, `${from}.attn.in_proj_bias`); // [3C]
  const C = w.shape[1]!;
  ['q_proj', 'k_proj', 'v_proj'].forEach((p, i) => {
    make(m, `${to}.self_attn.${p}.weight`, slice(w, [i * C, 0], [C, C])); // [C, C]
    make(m, `${to}.self_attn.${p}.bias`, slice(b, [i * C], [C])); // [C]
  });
  const copy: [string, string][] = [
    ['attn.out_proj.weight', 'self_attn.out_proj.weight'],
    ['attn.out_proj.bias', 'self_attn.out_proj.bias'],
    ['ln_1.weight', 'layer_norm1.weight'],
    ['ln_1.bias', 'layer_norm1.bias'],
    ['ln_2.weight', 'layer_norm2.weight'],
    ['ln_2.bias', 'layer_norm2.bias'],
    ['mlp.c_fc.weight', 'mlp.fc1.weight'],
    ['mlp.c_fc.bias', 'mlp.fc1.bias'],
    ['mlp.c_proj.weight', 'mlp.fc2.weight'],
    ['mlp.c_proj.bias', 'mlp.fc2.bias'],
  ];
  if (layerScale) copy.push(['ls_1.gamma', 'ls_1.gamma'], ['ls_2.gamma', 'ls_2.gamma']);
  for (const [a, h] of copy) m.out.set(`${to}.${h}`, need(m.src, `${from}.${a}`));
}

/**
 * Maps open_clip tensors to HF CLIPModel names (a ModifiedResNet image tower keeps open_clip's
 * `visual.*` names, which its forward reads). First checks them against {@link openClipShapes}
 * under their own names: a missing or misshapen tensor, or one the config does not account for
 * (extra blocks, a LayerScale the config does not declare), is an error naming it as it is in the
 * file. New tensors (slices, transposes) are created for the fused and transposed ones, and freed
 * again when mapping fails; the others are shared with `src`, so dispose through the result and do
 * not dispose `src` separately. A `logit_scale` of shape `[1]` (open_clip's
 * `nonscalar_logit_scale`) is read as a scalar.
 *
 * @example
 * ```ts
 * const params = fromOpenClip(tensors, config); // params.get('text_model.encoder.layers.0.self_attn.q_proj.weight')
 * ```
 */
export function fromOpenClip(src: ReadonlyMap<string, Tensor>, config: ClipConfig): Map<string, Tensor> {
  checkParamsMap('fromOpenClip', src, 'src');
  checkConfigArg('fromOpenClip', config);
  const expected = shapesOf(config);
  const scale = src.get('logit_scale');
  const nonScalarScale = scale?.rank === 1 && scale.shape[0] === 1;
  if (nonScalarScale) expected.set('logit_scale', [1]);
  checkParams(src, expected, 'open_clip');
  checkUnusedTensors(src.keys(), expected, 'open_clip');
  const m: Mapping = { src, out: new Map(), made: [] };
  try {
    mapText(m, config);
    if (nonScalarScale) make(m, 'logit_scale', reshape(scale!, [])); // [1] -> []
    if (config.vision_resnet) {
      // The ResNet tower has no HF counterpart: its forward reads open_clip's own names.
      for (const name of expected.keys()) if (name.startsWith('visual.')) m.out.set(name, need(src, name));
    } else {
      mapVision(m, config);
    }
  } catch (e) {
    for (const t of m.made) t.dispose();
    throw e;
  }
  return m.out;
}

function mapVision(m: Mapping, config: ClipConfig): void {
  const v = config.vision_config;
  m.out.set('vision_model.embeddings.patch_embedding.weight', need(m.src, 'visual.conv1.weight'));
  m.out.set('vision_model.embeddings.class_embedding', need(m.src, 'visual.class_embedding'));
  m.out.set('vision_model.embeddings.position_embedding.weight', need(m.src, 'visual.positional_embedding'));
  m.out.set('vision_model.pre_layrnorm.weight', need(m.src, 'visual.ln_pre.weight'));
  m.out.set('vision_model.pre_layrnorm.bias', need(m.src, 'visual.ln_pre.bias'));
  m.out.set('vision_model.post_layernorm.weight', need(m.src, 'visual.ln_post.weight'));
  m.out.set('vision_model.post_layernorm.bias', need(m.src, 'visual.ln_post.bias'));
  make(m, 'visual_projection.weight', transpose(need(m.src, 'visual.proj'), [1, 0])); // [W, P] -> [P, W]
  for (let i = 0; i < v.num_hidden_layers; i++) {
    mapBlock(m, `visual.transformer.resblocks.${i}`, `vision_model.encoder.layers.${i}`, !!v.layer_scale);
  }
}

function mapText(m: Mapping, config: ClipConfig): void {
  const t = config.text_config;
  m.out.set('text_model.embeddings.token_embedding.weight', need(m.src, 'token_embedding.weight'));
  m.out.set('text_model.embeddings.position_embedding.weight', need(m.src, 'positional_embedding'));
  m.out.set('text_model.final_layer_norm.weight', need(m.src, 'ln_final.weight'));
  m.out.set('text_model.final_layer_norm.bias', need(m.src, 'ln_final.bias'));
  make(m, 'text_projection.weight', transpose(need(m.src, 'text_projection'), [1, 0])); // [W, P] -> [P, W]
  for (let i = 0; i < t.num_hidden_layers; i++) {
    mapBlock(m, `transformer.resblocks.${i}`, `text_model.encoder.layers.${i}`, !!t.layer_scale);
  }
  m.out.set('logit_scale', need(m.src, 'logit_scale'));
}
