/**
 * Classic optimisation test functions with analytic gradients, dense Hessians
 * and Hessian-vector products, each an `Objective` over one parameter `x`.
 *
 * @packageDocumentation
 */
export { TestFunction, type TestFunctionOptions } from './test-function.js';
export { Rosenbrock, type RosenbrockOptions } from './rosenbrock.js';
export { Beale } from './beale.js';
export { Booth } from './booth.js';
export { Himmelblau } from './himmelblau.js';
export { Rastrigin, type RastriginOptions } from './rastrigin.js';
export { Ackley, type AckleyOptions } from './ackley.js';
export { IllConditionedQuadratic, type IllConditionedQuadraticOptions } from './quadratic.js';
export { RandomLeastSquares, type RandomLeastSquaresOptions } from './least-squares.js';
