import { expect, test } from 'vitest';
import { preprocess, preprocessOptionsFromHf } from '../src/index.js';

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

test('do_resize, do_rescale and do_normalize false skip their steps; nearest resampling is refused at once', () => {
  expect(
    preprocessOptionsFromHf({
      do_resize: false,
      size: { shortest_edge: 224 },
      do_rescale: false,
      rescale_factor: 1 / 255,
      do_normalize: false,
      image_mean: [0.5, 0.5, 0.5],
      crop_size: 4,
    }),
  ).toEqual({ size: false, crop: 4, rescaleFactor: 1, mean: [0, 0, 0], std: [1, 1, 1] });
  // The pixels as they are: no resize (a 6x4 image is only cropped), no rescale, no normalization.
  const data = Uint8Array.from({ length: 6 * 4 * 3 }, (_, i) => i);
  const options = preprocessOptionsFromHf({
    do_resize: false,
    do_rescale: false,
    do_normalize: false,
    crop_size: 4,
  })!;
  const { pixelValues, shape } = preprocess({ data, width: 6, height: 4 }, options);
  expect(shape).toEqual([1, 3, 4, 4]);
  expect(pixelValues[0]).toBe(data[3]); // red of column 1 (the crop starts at floor((6 - 4) / 2))
  expect(() => preprocessOptionsFromHf({ resample: 0 })).toThrow(
    'preprocessor_config.json: resample must be a filter this package resamples with (1..5; not 0, nearest), got 0',
  );
  expect(() => preprocessOptionsFromHf({ do_normalize: 'yes' })).toThrow(
    'preprocessor_config.json: do_normalize must be true or false, got "yes"',
  );
});
