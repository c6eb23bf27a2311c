/**
 * `@opt/privacy`: differentially private training (DP-SGD) and privacy accountants.
 *
 * @packageDocumentation
 */
