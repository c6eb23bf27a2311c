/**
 * `@opt/regularizers`: regularisers with exact gradients for hand-written
 * layers. Buffers are `Float32Array | Float64Array` plus shapes; every function
 * adds its gradient into a provided buffer (or a parameter's `grad`) or writes
 * into a provided output buffer.
 *
 * - Weight penalties: L1, L2 (and ½L2), elastic net, soft orthogonality, SRIP.
 * - Activity, entropy (confidence penalty) and graph-Laplacian (manifold) terms.
 * - Weight re-parametrisations: spectral normalisation, weight standardisation.
 * - Seeded stochastic regularisers: dropout, spatial dropout, DropConnect,
 *   stochastic depth, ShakeDrop, scheduled and adaptive dropout rates.
 * - Losses and label mixing (cross-entropy with label smoothing, MixUp/CutMix)
 *   and weight averaging (EMA, Polyak, SWA).
 *
 * @packageDocumentation
 */
export * from './penalties.js';
export * from './orthogonal.js';
export * from './activity.js';
export * from './manifold.js';
export * from './normalization.js';
export * from './stochastic.js';
export * from './losses.js';
export * from './mixing.js';
export * from './averaging.js';
