import { expect, test } from 'vitest';
import { preprocessOptionsFromHf } from '../src/index.js';

test('an HF preprocessor_config.json becomes preprocessing options; missing fields stay unset', () => {
  expect(
    preprocessOptionsFromHf({
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.25, 0.25, 0.25],
      size: { shortest_edge: 336 },
      crop_size: { height: 336, width: 336 },
      resample: 3,
      rescale_factor: 1 / 255,
    }),
  ).toEqual({
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    size: 336,
    crop: { height: 336, width: 336 },
    resample: 3,
    rescaleFactor: 1 / 255,
  });
  expect(preprocessOptionsFromHf({ size: { height: 224, width: 300 }, do_center_crop: false })).toEqual({
    size: { height: 224, width: 300 },
    crop: false,
  });
  expect(preprocessOptionsFromHf({})).toEqual({});
  expect(preprocessOptionsFromHf(null)).toBeUndefined();
  expect(preprocessOptionsFromHf([1, 2])).toBeUndefined();
});
