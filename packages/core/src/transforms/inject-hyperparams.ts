import { InvalidOptionError } from '@opt/tensor';
import { type GradientTransformation, type ScalarOrSchedule, type Schedule, valueAt } from './types.js';

/** State of a transform built by {@link injectHyperparams}. */
export interface InjectHyperparamsState<K extends string, S> {
  /** Updates done so far; schedules are evaluated at this count. */
  count: number;
  /**
   * The current value of every injected hyper-parameter: read it to see the
   * learning rate in use, write it to change a constant one (a scheduled one is
   * overwritten by its schedule at the next update).
   */
  hyperparams: Record<K, number>;
  /** The state of the transform the factory built. */
  inner: S;
}

/** A transform whose hyper-parameters live in its state; see {@link injectHyperparams}. */
export interface InjectedTransformation<K extends string, S> extends GradientTransformation<InjectHyperparamsState<K, S>> {
  /** The injected hyper-parameters' names. */
  readonly hyperparamNames: readonly K[];
  /** The constants and schedules the transform was built with. */
  readonly hyperparamSources: Readonly<Record<K, ScalarOrSchedule>>;
}

/**
 * Move hyper-parameters into the state (optax `inject_hyperparams`), so they
 * can be read and changed between updates and survive checkpoints:
 *
 * ```ts
 * const tx = injectHyperparams((h: { lr: Schedule; momentum: Schedule }) => sgd(h.lr, { momentum: h.momentum }))({
 *   lr: (step) => 0.1 * 0.5 ** Math.floor(step / 100),
 *   momentum: 0.9,
 * });
 * const state = tx.init(params);
 * state.hyperparams.momentum = 0.95; // takes effect at the next update
 * ```
 *
 * On every update, each scheduled hyper-parameter is evaluated at `state.count`
 * and written into `state.hyperparams`; then the inner transform runs with the
 * values in `state.hyperparams`; then `count` advances. So after an update,
 * `state.hyperparams` holds the values that update used, as in optax.
 *
 * The factory is called once, with one getter per hyper-parameter (a
 * {@link Schedule} that returns the value of the state being updated), so no
 * transform is rebuilt per step; the inner transforms check the values they
 * read against their ranges at every update.
 *
 * @param factory - builds the transform from its hyper-parameters (each a schedule-shaped getter).
 * @returns a function from the hyper-parameters (constants or schedules) to the transform.
 */
export function injectHyperparams<K extends string, S>(
  factory: (hyperparams: Record<K, Schedule>) => GradientTransformation<S>,
): (hyperparams: Record<K, ScalarOrSchedule>) => InjectedTransformation<K, S> {
  return (sources) => {
    if (typeof sources !== 'object' || sources === null) {
      throw new InvalidOptionError('hyperparams', sources, 'an object of numbers and schedules', 'injectHyperparams');
    }
    const names = Object.keys(sources) as K[];
    for (const name of names) {
      const v: unknown = sources[name];
      if (typeof v !== 'function' && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw new InvalidOptionError(name, v, 'a finite number or a schedule (step) => number', 'injectHyperparams');
      }
    }
    const frozen = Object.freeze({ ...sources });
    // The values of the state being updated; written just before the inner update reads them.
    // A typed array holds doubles unboxed, so refreshing it every update allocates nothing.
    const current = new Float64Array(names.length);
    const getters = {} as Record<K, Schedule>;
    names.forEach((name, k) => {
      current[k] = valueAt(frozen[name], 0);
      getters[name] = () => current[k]!;
    });
    const inner = factory(getters);
    return {
      hyperparamNames: Object.freeze([...names]),
      hyperparamSources: frozen,
      init(params) {
        const hyperparams = {} as Record<K, number>;
        for (const name of names) hyperparams[name] = valueAt(frozen[name], 0);
        return { count: 0, hyperparams, inner: inner.init(params) };
      },
      update(updates, state, params) {
        const values = state.hyperparams;
        for (let i = 0; i < names.length; i++) {
          const name = names[i]!;
          const source = frozen[name];
          if (typeof source === 'function') values[name] = source(state.count);
          current[i] = values[name];
        }
        inner.update(updates, state.inner, params);
        state.count++;
      },
    };
  };
}
