/**
 * The command table of `meta-train`: each line exports one command's `run(args)` under its command name.
 * Commands added by other modules are appended here as `export { run as <name> } from './<file>.js';`.
 */
export { run as train } from './train.js';
export { run as evaluate } from './evaluate.js';
export { run as smoke } from './smoke.js';
export { run as maml } from './maml.js';
export { run as trainLstm } from './lstm.js';
export { run as trainTransformer } from './transformer.js';
export { run as depthLr } from './depth-lr.js';
