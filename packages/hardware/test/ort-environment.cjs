/**
 * Jest environment for tests that use onnxruntime-node. The native binding
 * creates typed arrays in Node's main realm, and onnxruntime-common checks
 * `data instanceof Float64Array` inside jest's sandbox realm, where that check
 * fails. Sharing the main realm's typed-array constructors with the sandbox
 * makes both realms agree (this changes nothing outside the tests).
 */
const { TestEnvironment } = require(require.resolve('jest-environment-node', { paths: [require.resolve('jest')] }));

const SHARED = [
  'Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'ArrayBuffer', 'DataView',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
