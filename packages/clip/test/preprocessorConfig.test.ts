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

test('a field of the wrong kind is named instead of left out', () => {
  expect(() => preprocessOptionsFromHf({ image_mean: '0.5' })).toThrow(
    'preprocessor_config.json: image_mean must be three numbers (or one for every channel), got "0.5"',
  );
  expect(() => preprocessOptionsFromHf({ image_std: [0.2, 0.2] })).toThrow(
    'image_std must be three positive numbers',
  );
  // A std is divided by: 0 would make every pixel infinite.
  expect(() => preprocessOptionsFromHf({ image_std: [0.2, 0, 0.2] })).toThrow(
    'preprocessor_config.json: image_std must be three positive numbers (or one for every channel), got [0.2,0,0.2]',
  );
  expect(() => preprocessOptionsFromHf({ image_std: -1 })).toThrow(
    'image_std must be three positive numbers',
  );
  expect(preprocessOptionsFromHf({ image_mean: [-1, 0, 1] })).toEqual({ mean: [-1, 0, 1] });
  expect(() => preprocessOptionsFromHf({ size: { shortest_edge: '224' } })).toThrow(
    'preprocessor_config.json: size.shortest_edge must be a positive integer, got "224"',
  );
  expect(() => preprocessOptionsFromHf({ crop_size: 'big' })).toThrow(
    'crop_size must be a number or { height, width }',
  );
  expect(() => preprocessOptionsFromHf({ resample: 9 })).toThrow(
    "resample must be one of PIL's filter numbers 0..5",
  );
  expect(() => preprocessOptionsFromHf({ rescale_factor: 0 })).toThrow(
    'rescale_factor must be a positive number',
  );
  expect(preprocessOptionsFromHf({ image_mean: 0.5, size: 224 })).toEqual({
    mean: [0.5, 0.5, 0.5],
    size: 224,
  });
  // Unset entries written as null, as HF does for fields a processor does not use.
  expect(preprocessOptionsFromHf({ size: { height: 384, width: 384, shortest_edge: null } })).toEqual({
    size: { height: 384, width: 384 },
  });
});
