/**
 * Node side of the WebGPU fixture replays: loads the float32 cases of the five fixture files and scores a
 * {@link RawDeviceReplay} with core's own harness functions (`scaledError`, `compareState`), the measure every
 * `@opt/core` fixture test uses: max_i |actual_i − expected_i| / max_i |expected_i| per tensor.
 */
import { compareState, loadFixture, scaledError, type OptimizerCase } from '../../../core/test/helpers/fixtures';
import { FIXTURE_OPTIMIZERS, type FixtureOptimizer, type RawDeviceReplay } from './fixture-device-replay';

/** A float32 case with the fixture file it comes from. */
export interface NamedCase {
  optimizer: FixtureOptimizer;
  case: OptimizerCase;
}

/** Every float32 case of adam, adamw, sgd, rmsprop and adagrad (17 cases). */
export function float32Cases(): NamedCase[] {
  return FIXTURE_OPTIMIZERS.flatMap((optimizer) =>
    loadFixture(`optim/${optimizer}.json`)
      .cases.filter((c) => c.dtype === 'float32')
      .map((c) => ({ optimizer, case: c })),
  );
}

/** The errors of one replay. */
export interface CaseScore {
  optimizer: FixtureOptimizer;
  id: string;
  device: string;
  /** Largest scaled error of the parameters against PyTorch over every step. */
  paramError: number;
  /** Largest scaled error of the final state tensors and scalars against PyTorch. */
  stateError: number;
  keyMismatches: string[];
  /** Largest scaled error of the parameters against the reference replay (the CPU provider), when given. */
  vsReference?: number;
  ms: number;
}

/**
 * Score a replay against PyTorch and, optionally, against another replay of the same case.
 *
 * @param named - the case.
 * @param raw - the replay to score.
 * @param reference - the same case on another device (the CPU provider with float32 graphs).
 */
export function scoreReplay(named: NamedCase, raw: RawDeviceReplay, reference?: RawDeviceReplay): CaseScore {
  const c = named.case;
  let paramError = raw.params.length === c.steps.length ? 0 : Infinity;
  raw.params.forEach((step, k) =>
    step.forEach((values, i) => {
      paramError = Math.max(paramError, scaledError(values, c.steps[k]!.params[i]!));
    }),
  );
  const { stateError, keyMismatches } = compareState(raw.state, c.final_state.state);
  const score: CaseScore = { optimizer: named.optimizer, id: c.id, device: raw.device, paramError, stateError, keyMismatches, ms: raw.ms };
  if (reference !== undefined) {
    let vs = 0;
    raw.params.forEach((step, k) =>
      step.forEach((values, i) => {
        vs = Math.max(vs, scaledError(values, reference.params[k]![i]!));
      }),
    );
    score.vsReference = vs;
  }
  return score;
}

/** The largest errors per fixture file (for the README's parity table). */
export function maxPerOptimizer(scores: CaseScore[]): Record<string, { paramError: number; stateError: number; vsReference: number }> {
  const out: Record<string, { paramError: number; stateError: number; vsReference: number }> = {};
  for (const s of scores) {
    const m = (out[s.optimizer] ??= { paramError: 0, stateError: 0, vsReference: 0 });
    m.paramError = Math.max(m.paramError, s.paramError);
    m.stateError = Math.max(m.stateError, s.stateError);
    m.vsReference = Math.max(m.vsReference, s.vsReference ?? 0);
  }
  return out;
}
