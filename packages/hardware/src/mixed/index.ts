export * from './half.js';
export * from './grad-scaler.js';
export * from './mixed-precision.js';
