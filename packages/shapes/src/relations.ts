import type { Scene, SceneObject } from './scene.js';

/**
 * Spatial relations between two objects, as captions and questions word them.
 *
 * @example
 * ```ts
 * RELATIONS; // ['left of', 'right of', 'above', 'below']
 * ```
 */
export const RELATIONS = ['left of', 'right of', 'above', 'below'] as const;
/**
 * One of {@link RELATIONS}: "a left of b", "a above b".
 *
 * @example
 * ```ts
 * const relation: Relation = 'above';
 * ```
 */
export type Relation = (typeof RELATIONS)[number];

/** Centers closer than this (fraction of the image side) along an axis are not compared on it. */
const RELATION_CLEARANCE = 0.12;

/** Whether `a` stands in `relation` to `b`, or `null` when the centers are too close on that axis to say. */
export function holds(
  relation: Relation,
  a: SceneObject,
  b: SceneObject,
  scene: Pick<Scene, 'width' | 'height'>,
): boolean | null {
  const horizontal = relation === 'left of' || relation === 'right of';
  const delta = horizontal ? b.center.x - a.center.x : b.center.y - a.center.y;
  const side = horizontal ? scene.width : scene.height;
  if (Math.abs(delta) < RELATION_CLEARANCE * side) return null;
  return relation === 'left of' || relation === 'above' ? delta > 0 : delta < 0;
}

/**
 * The one relation a caption may state for `a` to `b`: along the axis where they are clearly apart
 * and at least twice as far apart as along the other axis; `null` when the layout is diagonal.
 */
export function dominantRelation(
  a: SceneObject,
  b: SceneObject,
  scene: Pick<Scene, 'width' | 'height'>,
): Relation | null {
  const dx = Math.abs(b.center.x - a.center.x);
  const dy = Math.abs(b.center.y - a.center.y);
  for (const relation of RELATIONS) {
    if (holds(relation, a, b, scene) !== true) continue;
    const horizontal = relation === 'left of' || relation === 'right of';
    if (horizontal ? dx >= 2 * dy : dy >= 2 * dx) return relation;
  }
  return null;
}
