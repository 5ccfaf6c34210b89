import { createHash } from 'node:crypto';
import { COLOR_RGB, type Scene, type SceneObject, type ShapesImage } from '@vl/shapes';

export function digest(image: ShapesImage): string {
  return createHash('sha1').update(image.data).digest('hex');
}

export function pixel(image: ShapesImage, x: number, y: number): [number, number, number, number] {
  const at = (Math.floor(y) * image.width + Math.floor(x)) * 4;
  return [image.data[at]!, image.data[at + 1]!, image.data[at + 2]!, image.data[at + 3]!];
}

export function rgbOf(object: SceneObject): [number, number, number, number] {
  return [...COLOR_RGB[object.color], 255];
}

/** Words of a phrase like "two green triangles" read back from the scene, for cross-checks. */
export function countWhere(scene: Scene, test: (o: SceneObject) => boolean): number {
  return scene.objects.filter(test).length;
}
