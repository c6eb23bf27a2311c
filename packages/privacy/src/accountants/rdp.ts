import { BaseAccountant, type AccountantMechanism } from './accountant.js';
import {
  DEFAULT_RDP_ORDERS,
  checkOrders,
  rdpPoissonGaussian,
  rdpToDelta,
  rdpToEpsilon,
  type EpsilonAndOrder,
  type RdpConversion,
} from './rdp-analysis.js';
import { InvalidOptionError } from '@opt/tensor';

/** Options of {@link RDPAccountant}. */
export interface RDPAccountantOptions {
  /** RDP orders α > 1 to optimise over (default: dp_accounting's 156, `DEFAULT_RDP_ORDERS`). */
  orders?: readonly number[];
  /** RDP → (ε, δ) conversion used by `getEpsilon` (default `'improved'`). */
  conversion?: RdpConversion;
}

/** Per-call overrides of {@link RDPAccountant.getEpsilonAndOrder}. */
export interface RDPEpsilonOptions {
  /** Orders to optimise over instead of the accountant's. */
  orders?: readonly number[];
  /** Conversion instead of the accountant's. */
  conversion?: RdpConversion;
}

/**
 * Rényi-DP accountant for DP-SGD (Poisson-subsampled Gaussian mechanism, add-or-remove-one adjacency;
 * Mironov, Talwar, Zhang 2019). Each history entry (σ, q, T) contributes T·ε_{q,σ}(α) at every order α;
 * the total is converted to (ε, δ) by minimising over α:
 *
 * improved (default): ε = min_α [ ε(α) + log(1 − 1/α) − log(δα)/(α − 1) ] (Balle et al. 2020, Thm 21),
 * with dp_accounting's KL shortcut and clip at 0; basic: ε = min_α [ ε(α) + log(1/δ)/(α − 1) ] (Mironov
 * 2017), which reproduces historical numbers such as Abadi et al.'s 1.26.
 *
 * Fractional orders use the exact signed series (Opacus' arithmetic), so ε agrees with Opacus on the
 * same order grid to ~1e-10 and never exceeds dp_accounting's value (whose fractional orders are an
 * absolute-value upper bound). Per-step RDP vectors are cached per (σ, q, orders), so `getEpsilon` after
 * a `step` costs one pass over the orders.
 *
 * @example
 * ```ts
 * import { RDPAccountant } from '@opt/privacy';
 * const accountant = new RDPAccountant();
 * accountant.step({ noiseMultiplier: 1.1, sampleRate: 256 / 60000 }, 14063); // 60 epochs of MNIST
 * const { epsilon, order } = accountant.getEpsilonAndOrder(1e-5);
 * console.log(epsilon.toFixed(4), order); // 2.5967 8.1
 * ```
 */
export class RDPAccountant extends BaseAccountant {
  /** Always `'rdp'`. */
  readonly mechanism: AccountantMechanism = 'rdp';
  /** The orders α the accountant optimises over. */
  readonly orders: readonly number[];
  /** The conversion `getEpsilon` uses. */
  readonly conversion: RdpConversion;

  private readonly cache = new Map<string, Float64Array>();

  /**
   * @param options - orders (default dp_accounting's 156) and conversion (default `'improved'`)
   */
  constructor(options: RDPAccountantOptions = {}) {
    super();
    this.orders = Object.freeze(checkOrders([...(options.orders ?? DEFAULT_RDP_ORDERS)], 'RDPAccountant').slice());
    this.conversion = checkConversion(options.conversion ?? 'improved', 'RDPAccountant');
  }

  /**
   * Total RDP of the history at each order: Σ_entries T·ε_{q,σ}(α).
   *
   * @param orders - orders to evaluate (default: the accountant's)
   * @returns one value per order (0 for an empty history)
   */
  getRdp(orders: readonly number[] = this.orders): number[] {
    const list = orders === this.orders ? orders : checkOrders([...orders], 'RDPAccountant.getRdp');
    const total = new Array<number>(list.length).fill(0);
    for (const e of this.entries) {
      const perStep = this.perStep(e.sampleRate, e.noiseMultiplier, list);
      for (let i = 0; i < list.length; i++) total[i]! += perStep[i]! * e.steps;
    }
    return total;
  }

  /**
   * ε spent so far at δ with the accountant's orders and conversion (0 for an empty history).
   *
   * @param delta - target δ in (0, 1)
   */
  getEpsilon(delta: number): number {
    return this.getEpsilonAndOrder(delta).epsilon;
  }

  /**
   * ε spent so far at δ and the optimal order. Optional per-call `orders` / `conversion` overrides.
   * An optimum at the smallest or largest order means the grid is too narrow (extend it).
   *
   * @param delta - target δ in (0, 1)
   * @param options - orders and conversion overrides
   */
  getEpsilonAndOrder(delta: number, options: RDPEpsilonOptions = {}): EpsilonAndOrder {
    this.checkDelta(delta);
    const orders = options.orders ?? this.orders;
    const conversion = checkConversion(options.conversion ?? this.conversion, 'RDPAccountant.getEpsilonAndOrder');
    if (this.entries.length === 0) return { epsilon: 0, order: NaN };
    return rdpToEpsilon(orders, this.getRdp(orders), delta, conversion);
  }

  /**
   * The smallest δ certified at this ε (dp_accounting's `compute_delta`), 0 for an empty history.
   *
   * @param epsilon - ε ≥ 0
   */
  getDelta(epsilon: number): number {
    if (this.entries.length === 0) return 0;
    return rdpToDelta(this.orders, this.getRdp(), epsilon);
  }

  private perStep(q: number, sigma: number, orders: readonly number[]): Float64Array {
    const key = orders === this.orders ? `${sigma}|${q}` : `${sigma}|${q}|${orders.join(',')}`;
    let v = this.cache.get(key);
    if (!v) {
      v = new Float64Array(orders.length);
      for (let i = 0; i < orders.length; i++) v[i] = sharedRdp(q, sigma, orders[i]!);
      // A schedule that changes σ every step would grow the cache without bound; keep the newest only.
      if (this.cache.size >= 256) this.cache.clear();
      this.cache.set(key, v);
    }
    return v;
  }
}

/**
 * Per-order RDP values shared by every accountant of the process: accountants replaying the same
 * (σ, q) on overlapping order grids (restored copies, budget probes, calibration brackets) compute each
 * fractional-order series once. Bounded; cleared when full.
 */
const SHARED_RDP = new Map<string, number>();

function sharedRdp(q: number, sigma: number, alpha: number): number {
  const key = `${sigma}|${q}|${alpha}`;
  let v = SHARED_RDP.get(key);
  if (v === undefined) {
    v = rdpPoissonGaussian(q, sigma, alpha);
    if (SHARED_RDP.size >= 100000) SHARED_RDP.clear();
    SHARED_RDP.set(key, v);
  }
  return v;
}

function checkConversion(value: unknown, where: string): RdpConversion {
  if (value !== 'improved' && value !== 'basic') {
    throw new InvalidOptionError('conversion', value, "'improved' or 'basic'", where);
  }
  return value;
}
