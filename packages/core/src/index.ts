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
  type DType,
  type FloatArray,
} from '@opt/tensor';
export * from './optimizer.js';
export * from './state-dict.js';
export * from './validation.js';
export * from './optimizers/sgd.js';
export * from './optimizers/adam.js';
