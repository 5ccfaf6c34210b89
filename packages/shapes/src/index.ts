// The public API of @vl/shapes (browser entry, no Node built-ins). Explicit named exports only.

// --- the world's vocabulary of things (world.ts) ---
export type { ColorName, PatternName, RegionName, ShapeName, SizeName } from './world.js';
export {
  COLOR_RGB,
  COLORS,
  MAX_OBJECTS,
  NUMBER_WORDS,
  PATTERNS,
  pluralShape,
  REGIONS,
  SHAPES,
  SIZE_RADIUS,
  SIZES,
} from './world.js';

// --- scenes, drawing ---
export type { Box, Scene, SceneBackground, SceneLayout, SceneObject } from './scene.js';
export type { ShapesOptions } from './options.js';
export type { ShapesImage } from './renderScene.js';
export { renderScene } from './renderScene.js';
export type { Random } from './random.js';
export { createRandom, hashSeed } from './random.js';

// --- language ---
export type { Relation } from './relations.js';
export { RELATIONS } from './relations.js';
export { canonicalCaption, sceneCaptions } from './captions.js';
export type { QuestionAnswer, QuestionKind } from './questions.js';
export { pickQuestion, sceneQuestions } from './questions.js';
export { shapesVocabulary, tokenizeShapesText } from './vocabulary.js';

// --- samples and splits ---
export type { ShapesSample } from './generateShapes.js';
export { generateShapes, heldOutSeed, heldOutShapes, shapesStream, trainingSeed } from './generateShapes.js';
export type { SingleObjectOptions, SingleObjectSample } from './singleObject.js';
export {
  heldOutSingleObjects,
  sampleSingleObject,
  shapeLabelIndex,
  shapeLabels,
  singleObjectStream,
} from './singleObject.js';

// --- the embedded models trained on this world (shapesModel.ts) ---
export type { ShapesModelKind } from './shapesModel.js';
export { shapesModel } from './shapesModel.js';
