import {
  COLORS,
  heldOutSingleObjects,
  SHAPES,
  sampleSingleObject,
  shapeLabelIndex,
  shapeLabels,
  singleObjectStream,
} from '@vl/shapes';
import { describe, expect, it } from 'vitest';
import { pixel, rgbOf } from './helpers.js';

describe('single objects', () => {
  it('lists 48 labels, colors outer and shapes inner', () => {
    const labels = shapeLabels();
    expect(labels).toHaveLength(COLORS.length * SHAPES.length);
    expect(labels.length).toBe(48);
    expect(labels[0]).toBe('a red circle');
    expect(labels[shapeLabelIndex('blue', 'star')]).toBe('a blue star');
    expect(labels[shapeLabelIndex('orange', 'heart')]).toBe('an orange heart');
    expect(new Set(labels).size).toBe(48);
    expect(() => shapeLabelIndex('pink' as never, 'star')).toThrow(/unknown color 'pink'/);
  });

  it('draws one object whose label matches the scene and the pixels', () => {
    const stream = singleObjectStream(0, { size: 32 });
    for (let i = 0; i < 100; i++) {
      const sample = stream.next().value;
      expect(sample.scene.objects).toHaveLength(1);
      const [object] = sample.scene.objects;
      expect(sample.label).toBe(
        `${object!.color === 'orange' ? 'an' : 'a'} ${object!.color} ${object!.shape}`,
      );
      expect(shapeLabels()[sample.labelIndex]).toBe(sample.label);
      expect(pixel(sample.image, object!.center.x, object!.center.y)).toEqual(rgbOf(object!));
    }
  });

  it('has a fixed held-out set covering most labels, odd seeds only', () => {
    const heldOut = heldOutSingleObjects(240);
    expect(heldOut.every((s) => s.seed % 2 === 1)).toBe(true);
    expect(new Set(heldOut.map((s) => s.labelIndex)).size).toBeGreaterThan(44);
    expect(sampleSingleObject(heldOut[3]!.seed).label).toBe(heldOut[3]!.label);
  });
});
