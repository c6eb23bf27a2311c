import { InvalidOptionError } from '@opt/tensor';
import { NoiseCalibrationError, PRVAccountant, RDPAccountant, getNoiseMultiplier } from '../src/index';
import { ErrorTracker, loadVectors, relErr } from './fixtures/replay';

const V = loadVectors();

function rdpEpsilon(sigma: number, q: number, steps: number, delta: number, orders?: readonly number[]): number {
  const acc = new RDPAccountant(orders ? { orders } : {});
  acc.step({ noiseMultiplier: sigma, sampleRate: q }, steps);
  return acc.getEpsilon(delta);
}

describe('noise multiplier for a target epsilon (inverse vectors)', () => {
  const opacusRoot = new ErrorTracker('Opacus 1.5.4 RDP (exact root, brentq rtol 1e-12)', 'noise multiplier, Opacus orders (sigma_rdp_opacus)', '1e-6');
  const dpRoot = new ErrorTracker('dp_accounting 0.6.0 RDP (exact root)', 'noise multiplier, default orders, cases where its RDP is exact (sigma_rdp_dpaccounting)', '1e-6 (one-sided elsewhere)');
  const bisection = new ErrorTracker('Opacus 1.5.4 get_noise_multiplier', "noise multiplier, 'opacus' method (sigma_opacus_get_noise_multiplier_rdp)", 'exact');
  afterAll(() => [opacusRoot, dpRoot, bisection].forEach((t) => t.report()));

  test.each(V.inverse.map((c) => [c.id, c] as const))('%s', (id, c) => {
    const base = { targetEpsilon: c.target_eps, delta: c.delta, sampleRate: c.q, steps: c.steps };
    // Default method: bisection to 1e-9·target in epsilon, always on the safe side.
    const sigma = getNoiseMultiplier({ ...base, orders: V.orders.opacus_default });
    expect(opacusRoot.add(id, sigma, c.sigma_rdp_opacus)).toBeLessThanOrEqual(1e-6);
    const eps = rdpEpsilon(sigma, c.q, c.steps, c.delta, V.orders.opacus_default);
    expect(eps).toBeLessThanOrEqual(c.target_eps);
    expect(eps).toBeGreaterThanOrEqual(c.target_eps * (1 - 1e-9));

    const sigmaDp = getNoiseMultiplier(base);
    // dp_accounting over-states fractional orders, so its root is never below ours ...
    expect(sigmaDp).toBeLessThanOrEqual(c.sigma_rdp_dpaccounting * (1 + 1e-9));
    // ... and equal to it wherever its epsilon at its root is the exact one.
    if (relErr(rdpEpsilon(c.sigma_rdp_dpaccounting, c.q, c.steps, c.delta), c.check_eps_rdp_dpaccounting_at_sigma) < 1e-9) {
      expect(dpRoot.add(id, sigmaDp, c.sigma_rdp_dpaccounting)).toBeLessThanOrEqual(1e-6);
    }

    // Opacus' own search (sigma 10 doubled, then bisection to 0.01 in epsilon) gives its exact output.
    const sigmaOpacus = getNoiseMultiplier({ ...base, method: 'opacus' });
    bisection.add(id, sigmaOpacus, c.sigma_opacus_get_noise_multiplier_rdp);
    expect(sigmaOpacus).toBe(c.sigma_opacus_get_noise_multiplier_rdp);
  }, 60_000);
});

describe("Opacus' get_noise_multiplier unit tests", () => {
  // The PRV anchors run ~25 PRV compositions of ~2 250-step grids each (a few seconds).
  test.each(V.anchors.filter((a) => a.kind === 'inverse').map((a) => [a.name, a] as const))(
    '%s reproduces Opacus exactly',
    (_name, a) => {
      const span = a.steps !== undefined ? { steps: a.steps } : { epochs: a.epochs };
      const sigma = getNoiseMultiplier({
        targetEpsilon: a.target_eps,
        delta: a.delta,
        sampleRate: a.q,
        ...span,
        accountant: a.accountant,
        method: 'opacus',
      });
      expect(sigma).toBe(a.sigma_opacus_get_noise_multiplier_now);
      expect(sigma).toBeCloseTo(a.published_sigma, 4);
    },
    600_000,
  );
});

describe('noise calibration with the tight and the CLT accountants', () => {
  test('PRV calibration lands between the PLD root and the PRV upper-bound root', () => {
    const cheap = V.inverse.filter((c) => c.steps <= 100 && c.q <= 0.01 && c.target_eps === 1).slice(0, 2);
    expect(cheap.length).toBeGreaterThan(0);
    for (const c of cheap) {
      const sigma = getNoiseMultiplier({
        targetEpsilon: c.target_eps,
        delta: c.delta,
        sampleRate: c.q,
        steps: c.steps,
        accountant: 'prv',
        epsilonTolerance: 1e-4,
      });
      expect(sigma).toBeGreaterThanOrEqual(c.sigma_pld_dpaccounting * (1 - 1e-3));
      expect(sigma).toBeLessThanOrEqual(c.sigma_prv_opacus * (1 + 1e-4));
      const acc = new PRVAccountant();
      acc.step({ noiseMultiplier: sigma, sampleRate: c.q }, c.steps);
      expect(acc.getEpsilon(c.delta)).toBeLessThanOrEqual(c.target_eps);
    }
  }, 60_000);

  test('GDP calibration meets its own target and needs less noise than RDP', () => {
    const opts = { targetEpsilon: 2, delta: 1e-5, sampleRate: 0.01, steps: 1000 };
    const gdp = getNoiseMultiplier({ ...opts, accountant: 'gdp' });
    const rdp = getNoiseMultiplier(opts);
    expect(gdp).toBeLessThan(rdp);
  });

  test('epochs convert to floor(epochs / q) steps', () => {
    const viaEpochs = getNoiseMultiplier({ targetEpsilon: 3, delta: 1e-5, sampleRate: 0.01, epochs: 2.5 });
    const viaSteps = getNoiseMultiplier({ targetEpsilon: 3, delta: 1e-5, sampleRate: 0.01, steps: 250 });
    expect(viaEpochs).toBe(viaSteps);
  });

  test('a looser epsilon tolerance returns a larger (safer) sigma', () => {
    const opts = { targetEpsilon: 1, delta: 1e-5, sampleRate: 0.01, steps: 1000 };
    const tight = getNoiseMultiplier(opts);
    const loose = getNoiseMultiplier({ ...opts, epsilonTolerance: 0.05 });
    expect(loose).toBeGreaterThanOrEqual(tight);
    expect(rdpEpsilon(loose, 0.01, 1000, 1e-5)).toBeGreaterThanOrEqual(1 - 0.05);
  });
});

describe('calibration errors', () => {
  test('a target no noise multiplier reaches throws NoiseCalibrationError', () => {
    // The basic conversion never goes below log(1/delta)/(alpha_max - 1) = 0.0113 on the default orders.
    const basic = { targetEpsilon: 0.001, delta: 1e-5, sampleRate: 1, steps: 1, conversion: 'basic' as const };
    expect(() => getNoiseMultiplier(basic)).toThrow(NoiseCalibrationError);
    expect(() => getNoiseMultiplier({ ...basic, method: 'opacus' })).toThrow(NoiseCalibrationError);
    // A cap on the noise multiplier makes an otherwise reachable target unreachable.
    expect(() => getNoiseMultiplier({ targetEpsilon: 0.1, delta: 1e-5, sampleRate: 1, steps: 100, maxNoiseMultiplier: 4 })).toThrow(
      /no noise multiplier reaches target epsilon 0.1/,
    );
    // The PRV upper bound is at least epsError, so a target at or below it is unreachable.
    expect(() => getNoiseMultiplier({ targetEpsilon: 0.005, delta: 1e-5, sampleRate: 0.01, steps: 10, accountant: 'prv' })).toThrow(
      NoiseCalibrationError,
    );
  });

  test('bad inputs throw InvalidOptionError naming the option', () => {
    const ok = { targetEpsilon: 1, delta: 1e-5, sampleRate: 0.01, steps: 100 };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ok, targetEpsilon: 0 }, 'targetEpsilon'],
      [{ ...ok, delta: 1 }, 'delta'],
      [{ ...ok, delta: 0 }, 'delta'],
      [{ ...ok, sampleRate: 0 }, 'sampleRate'],
      [{ ...ok, sampleRate: 2 }, 'sampleRate'],
      [{ ...ok, steps: -1 }, 'steps'],
      [{ ...ok, steps: 1.5 }, 'steps'],
      [{ ...ok, epochs: 3 }, 'steps'],
      [{ targetEpsilon: 1, delta: 1e-5, sampleRate: 0.01 }, 'steps'],
      [{ ...ok, accountant: 'pld' }, 'accountant'],
      [{ ...ok, method: 'newton' }, 'method'],
      [{ ...ok, epsilonTolerance: -1 }, 'epsilonTolerance'],
    ];
    for (const [opts, option] of cases) {
      let caught: unknown;
      try {
        getNoiseMultiplier(opts as never);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).option).toBe(option);
    }
  });

  test('zero steps need no noise', () => {
    expect(getNoiseMultiplier({ targetEpsilon: 1, delta: 1e-5, sampleRate: 0.01, steps: 0 })).toBe(0);
  });
});
