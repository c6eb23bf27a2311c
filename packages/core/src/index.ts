/**
 * `@opt/core`: optimizers with PyTorch 1.13 semantics and beyond, gradient
 * processing, composable gradient transformations and lossless state dicts.
 *
 * @packageDocumentation
 */
// The tensor types and errors users need alongside the optimizers, so one import suffices.
export {
  Parameter,
  OptError,
  InvalidOptionError,
  ShapeMismatchError,
  DTypeMismatchError,
  ParamGroupError,
  StateDictError,
  ClosureRequiredError,
  NonFiniteError,
  Rng,
  type RngState,
  type DType,
  type FloatArray,
} from '@opt/tensor';
export * from './optimizer.js';
export * from './state-dict.js';
export * from './validation.js';
export * from './optimizers/sgd.js';
export * from './optimizers/adam.js';
export * from './optimizers/adamw.js';
export * from './optimizers/adagrad.js';
export * from './optimizers/adadelta.js';
export * from './optimizers/adamax.js';
export * from './optimizers/asgd.js';
export * from './optimizers/rmsprop.js';
export * from './optimizers/nadam.js';
export * from './optimizers/radam.js';
export * from './optimizers/rprop.js';
export * from './optimizers/sparse-adam.js';
export * from './optimizers/lbfgs.js';
export * from './optimizers/lamb.js';
export * from './optimizers/lars.js';
export * from './optimizers/lion.js';
export * from './optimizers/adabound.js';
export * from './optimizers/adabelief.js';
export * from './optimizers/adafactor.js';
export * from './transforms/index.js';
export * from './clip.js';
export * from './gradient.js';
export * from './optimizers/lookahead.js';
export * from './optimizers/sam.js';
export * from './linalg.js';
export * from './optimizers/newton.js';
export * from './optimizers/levenberg-marquardt.js';
export * from './optimizers/adam8bit.js';
export * from './optimizers/yogi.js';
