import { InvalidOptionError } from '@opt/tensor';

/** Options of {@link GradScaler}: the camelCase of `torch.cuda.amp.GradScaler`'s arguments. */
export interface GradScalerOptions {
  /** Starting loss scale. Default 2¹⁶. */
  initScale?: number;
  /** Scale multiplier after `growthInterval` consecutive steps without overflow. Default 2. */
  growthFactor?: number;
  /** Scale multiplier after an overflow. Default 0.5. */
  backoffFactor?: number;
  /** Consecutive good steps before the scale grows. Default 2000. */
  growthInterval?: number;
  /** When false the scale is 1 and never changes. Default true. */
  enabled?: boolean;
}

/** The scaler's saved state, keyed as PyTorch's `GradScaler.state_dict()`. */
export interface GradScalerState {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  _growth_tracker: number;
}

/**
 * Dynamic loss scaling with PyTorch `GradScaler` semantics. Multiply the loss
 * (or the incoming gradient) by `scale` before backpropagating in low precision;
 * the optimizer unscales by `1/scale`. After each step call `update(foundInf)`:
 * an overflow (any non-finite gradient) skips the step and multiplies the scale
 * by `backoffFactor`; `growthInterval` consecutive finite steps multiply it by
 * `growthFactor`.
 *
 * @example
 * ```ts
 * const scaler = new GradScaler({ initScale: 1024, growthInterval: 100 });
 * scaler.update(true); // overflow: scale 512
 * ```
 */
export class GradScaler {
  /** Current loss scale. */
  scale: number;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  readonly enabled: boolean;
  /** Consecutive steps without overflow since the last change of scale. */
  growthTracker = 0;

  constructor(options: GradScalerOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.scale = this.enabled ? (options.initScale ?? 65536) : 1;
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    if (!(this.scale > 0) || !Number.isFinite(this.scale)) throw new InvalidOptionError('initScale', this.scale, 'a finite number > 0', 'GradScaler');
    if (!(this.growthFactor > 1)) throw new InvalidOptionError('growthFactor', this.growthFactor, 'a number > 1', 'GradScaler');
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) {
      throw new InvalidOptionError('backoffFactor', this.backoffFactor, 'a number in (0, 1)', 'GradScaler');
    }
    if (!(Number.isInteger(this.growthInterval) && this.growthInterval >= 1)) {
      throw new InvalidOptionError('growthInterval', this.growthInterval, 'an integer ≥ 1', 'GradScaler');
    }
  }

  /** `1/scale`, the factor that unscales gradients (computed in float64, then used in float32 as PyTorch does). */
  get invScale(): number {
    return 1 / this.scale;
  }

  /** Adjust the scale after a step: back off on overflow, grow after enough good steps. */
  update(foundInf: boolean): void {
    if (!this.enabled) return;
    if (foundInf) {
      this.scale *= this.backoffFactor;
      this.growthTracker = 0;
      return;
    }
    this.growthTracker++;
    if (this.growthTracker === this.growthInterval) {
      const grown = this.scale * this.growthFactor;
      // PyTorch keeps the old scale when growing would overflow float32.
      if (Number.isFinite(Math.fround(grown))) this.scale = grown;
      this.growthTracker = 0;
    }
  }

  /** The scaler's state (PyTorch's keys). */
  stateDict(): GradScalerState {
    return {
      scale: this.scale,
      growth_factor: this.growthFactor,
      backoff_factor: this.backoffFactor,
      growth_interval: this.growthInterval,
      _growth_tracker: this.growthTracker,
    };
  }

  /** Restore the scale and growth tracker saved by {@link GradScaler.stateDict}. */
  loadStateDict(state: GradScalerState): void {
    this.scale = state.scale;
    this.growthTracker = state._growth_tracker;
  }
}
