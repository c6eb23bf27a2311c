/**
 * `@opt/schedulers`: learning-rate and hyper-parameter schedulers for `@opt/core`
 * optimizers. The whole `torch.optim.lr_scheduler` set with PyTorch 1.13
 * semantics (LambdaLR … ReduceLROnPlateau, SequentialLR, ChainedScheduler) and
 * SWALR; warm-up schedulers (LinearWarmup, WarmupCosineLR, InverseSqrtLR,
 * WarmupPolynomialLR, WarmupStableDecayLR); schedules as pure functions of the
 * step (optax style); HyperparameterScheduler for any group option; and
 * curriculum pacing. Every scheduler has a lossless, JSON-serialisable state dict.
 *
 * @packageDocumentation
 */
export * from './scheduler.js';
export * from './step-schedulers.js';
export * from './cosine.js';
export * from './cyclic.js';
export * from './onecycle.js';
export * from './plateau.js';
export * from './composite.js';
export * from './swalr.js';
export * from './schedules.js';
export * from './warmup.js';
export * from './hyperparameter.js';
export * from './curriculum.js';
