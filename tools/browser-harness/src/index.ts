/**
 * Test tooling for browser tests.
 *
 * @packageDocumentation
 */
export {};
