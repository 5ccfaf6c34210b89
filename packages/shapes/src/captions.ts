import { checkScene } from './checkScene.js';
import { dominantRelation, type Relation } from './relations.js';
import type { Scene, SceneObject } from './scene.js';
import { article, NUMBER_WORDS, pluralShape } from './world.js';

/** Objects sharing shape and color, in the order captions list them (left to right). */
interface Group {
  objects: SceneObject[];
}

function groups(scene: Scene): Group[] {
  const byKey = new Map<string, Group>();
  const ordered = [...scene.objects].sort((a, b) => a.center.x - b.center.x);
  for (const object of ordered) {
    const key = `${object.color} ${object.shape}`;
    const group = byKey.get(key);
    if (group) group.objects.push(object);
    else byKey.set(key, { objects: [object] });
  }
  return [...byKey.values()];
}

/** "a red circle", "two green triangles"; with sizes "a small red circle" (when the group shares one). */
function nounPhrase(group: Group, withSize: boolean): string {
  const [first] = group.objects;
  const count = group.objects.length;
  const sizes = new Set(group.objects.map((o) => o.size));
  const size = withSize && sizes.size === 1 ? `${first!.size} ` : '';
  if (count === 1) return `${article(`${size}${first!.color}`)} ${size}${first!.color} ${first!.shape}`;
  return `${NUMBER_WORDS[count]} ${size}${first!.color} ${pluralShape(first!.shape)}`;
}

function list(phrases: readonly string[]): string {
  if (phrases.length <= 1) return phrases.join('');
  return `${phrases.slice(0, -1).join(', ')} and ${phrases[phrases.length - 1]}`;
}

const INVERSE: Record<Relation, Relation> = {
  'left of': 'right of',
  'right of': 'left of',
  above: 'below',
  below: 'above',
};

/** The relation caption parts for a two-object scene with different objects, read left/top first. */
function relationParts(scene: Scene): { a: SceneObject; relation: Relation; b: SceneObject } | null {
  if (scene.objects.length !== 2) return null;
  const [p, q] = scene.objects as [SceneObject, SceneObject];
  if (p.shape === q.shape && p.color === q.color) return null;
  const relation = dominantRelation(p, q, scene);
  if (relation === null) return null;
  // Canonical order: the left (or upper) object first, so the relation is "left of" or "above".
  return relation === 'left of' || relation === 'above'
    ? { a: p, relation, b: q }
    : { a: q, relation: INVERSE[relation], b: p };
}

function single(object: SceneObject): Group {
  return { objects: [object] };
}

/**
 * The canonical caption: colors, shapes and counts (left to right), and for two different objects
 * that are clearly side by side or one above the other, their relation. No sizes, no background.
 * A scene outside what the generator makes throws an error naming the field.
 *
 * @example
 * ```ts
 * canonicalCaption(generateShapes(3).scene); // "a white heart left of a black heart"
 * ```
 */
export function canonicalCaption(scene: Scene): string {
  checkScene(scene, 'canonicalCaption()');
  return canonicalOf(scene);
}

function canonicalOf(scene: Scene): string {
  const parts = relationParts(scene);
  if (parts)
    return `${nounPhrase(single(parts.a), false)} ${parts.relation} ${nounPhrase(single(parts.b), false)}`;
  return list(groups(scene).map((g) => nounPhrase(g, false)));
}

/**
 * Every caption template's wording of the scene, all true of it: the canonical caption first, then
 * variants with sizes, the background pattern, the region of a single object, the inverse relation,
 * other orders and a few carrier phrases ("there are two green triangles"). A scene outside what the
 * generator makes throws an error naming the field.
 *
 * @example
 * ```ts
 * const variants = sceneCaptions(generateShapes(3).scene);
 * // ["a white heart left of a black heart", "a small white heart and a small black heart", "a white heart left of a black heart on a checkered background", ...]
 * ```
 */
export function sceneCaptions(scene: Scene): string[] {
  checkScene(scene, 'sceneCaptions()');
  const canonical = canonicalOf(scene);
  const background = `on a ${scene.background.pattern} background`;
  const all = groups(scene);
  const detailed = list(all.map((g) => nounPhrase(g, true)));
  const captions = [canonical, detailed, `${canonical} ${background}`, `${detailed} ${background}`];
  captions.push(`a picture of ${canonical}`);
  const total = scene.objects.length;
  const [firstGroup] = all;
  const verb = firstGroup!.objects.length === 1 ? 'there is' : 'there are'; // agrees with the first noun
  captions.push(`${verb} ${list(all.map((g) => nounPhrase(g, false)))}`);
  if (total === 1) {
    const [object] = scene.objects;
    if (object!.region) captions.push(`${canonical} in the ${object!.region}`);
  }
  const parts = relationParts(scene);
  if (parts) {
    const a = single(parts.a);
    const b = single(parts.b);
    captions.push(`${nounPhrase(b, false)} ${INVERSE[parts.relation]} ${nounPhrase(a, false)}`);
    captions.push(`${nounPhrase(a, true)} ${parts.relation} ${nounPhrase(b, true)}`);
    captions.push(`${nounPhrase(a, false)} and ${nounPhrase(b, false)}`);
  }
  if (all.length > 1) captions.push(list([...all].reverse().map((g) => nounPhrase(g, false))));
  if (all.length > 2) captions.push(`${NUMBER_WORDS[total]} shapes ${background}`);
  return [...new Set(captions)];
}
