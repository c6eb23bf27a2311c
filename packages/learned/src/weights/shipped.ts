/**
 * The weight records shipped with the package, one re-export per line, each
 * of the form `export { weights as <camelName> } from './<name>.js';` where the
 * generated module `./<name>.ts` exports `weights: WeightsRecord`. The training
 * scripts APPEND their line here; the registry in `./index.ts` picks up every
 * export of this module.
 */
export {};
export { weights as mlpHybridV1 } from './mlp-hybrid-v1.js';
export { weights as lstmL2lV1 } from './lstm-l2l-v1.js';
export { weights as transformerCtrlV1 } from './transformer-ctrl-v1.js';
export { weights as mlpHybridV3 } from './mlp-hybrid-v3.js';
export { weights as mlpHybridV9 } from './mlp-hybrid-v9.js';
export { weights as mlpHybridV11 } from './mlp-hybrid-v11.js';
export { weights as mlpHybridV12 } from './mlp-hybrid-v12.js';
