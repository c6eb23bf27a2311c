/**
 * Privacy accountants: the common `PrivacyAccountant` interface, the RDP accountant (always available),
 * the PRV accountant (tight, with error bounds) and the GDP/CLT accountant (an approximation).
 *
 * @packageDocumentation
 */
export * from './accountant.js';
export * from './rdp-analysis.js';
export * from './rdp.js';
export * from './prv-analysis.js';
export * from './prv.js';
export * from './gdp.js';
