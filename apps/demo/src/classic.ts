/**
 * The classic benchmark (`--suite classic`): every optimizer on the classic test problems, with the learning
 * rate of each first-order method picked from a grid per problem, then a table of final loss, steps and closure
 * evaluations to tolerance, and wall time.
 */
import { InvalidOptionError, NonFiniteError, Parameter, Rng } from '@opt/core';
import { OPTIMIZERS, type OptimizerEntry } from './optimizers.js';
import { type Problem, beale, illConditionedQuadratic, logisticRegression, rosenbrock } from './problems.js';
import { ProgressBar } from '@opt/app-kit';
import { formatTable } from './table.js';

interface RunResult {
  lr: number | null;
  gap: number; // f(x_final) − f*
  stepsToTol: number | null;
  evalsToTol: number | null;
  evals: number;
  ms: number;
  diverged: boolean;
}

function makeLogistic(): Problem {
  const rng = new Rng(7);
  const d = 10;
  const trueW = Array.from({ length: d }, () => rng.normal());
  const samples: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 200; i++) {
    const x = Array.from({ length: d }, () => rng.normal());
    const z = x.reduce((s, xi, j) => s + xi * trueW[j]!, 0.3) + rng.normal(0, 1.5); // label noise: not separable
    samples.push(x);
    labels.push(z > 0 ? 1 : -1);
  }
  const problem = logisticRegression(samples, labels);
  return { ...problem, fStar: solveByNewton(problem) };
}

/** f* of a smooth strongly convex problem: Newton iterations with a dense Hessian, to machine precision. */
function solveByNewton(problem: Problem): number {
  const n = problem.dim;
  const x = problem.init();
  const g = new Float64Array(n);
  const h = new Float64Array(n * n);
  for (let it = 0; it < 50; it++) {
    problem.evaluate(x, g);
    problem.hessian!(x, h);
    const step = solveSymmetric(h, g, n);
    let size = 0;
    for (let i = 0; i < n; i++) {
      x[i] = x[i]! - step[i]!;
      size = Math.max(size, Math.abs(step[i]!));
    }
    if (size < 1e-15) break;
  }
  return problem.evaluate(x);
}

/** Solve H s = g for a symmetric positive definite H by Cholesky (small n). */
function solveSymmetric(h: Float64Array, g: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = h[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = g[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * y[k]!;
    y[i] = s / l[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

function run(problem: Problem, entry: OptimizerEntry, lr: number, tol: number): RunResult {
  const p = new Parameter(problem.init(), [problem.dim], 'x');
  const grad = p.ensureGrad();
  let evals = 0;
  const closure = () => {
    evals++;
    return problem.evaluate(p.data as Float64Array, grad as Float64Array);
  };
  const opt = entry.make([p], lr, { problem, countEvaluation: () => evals++ });
  let stepsToTol: number | null = null;
  let evalsToTol: number | null = null;
  let diverged = false;
  const started = performance.now();
  try {
    for (let k = 1; k <= entry.steps; k++) {
      if (entry.gradientBeforeStep) closure();
      opt.step(closure);
      const gap = problem.evaluate(p.data as Float64Array) - problem.fStar;
      if (!Number.isFinite(gap)) {
        diverged = true;
        break;
      }
      if (gap <= tol) {
        stepsToTol = k;
        evalsToTol = evals;
        break;
      }
    }
  } catch (e) {
    // A diverging run hits a non-finite gradient; the optimizer refuses to apply it.
    if (!(e instanceof NonFiniteError)) throw e;
    diverged = true;
  }
  const ms = performance.now() - started;
  const gap = diverged ? Infinity : problem.evaluate(p.data as Float64Array) - problem.fStar;
  return { lr, gap, stepsToTol, evalsToTol, evals, ms, diverged };
}

function better(a: RunResult, b: RunResult): boolean {
  if (a.stepsToTol !== null || b.stepsToTol !== null) {
    if (a.stepsToTol === null) return false;
    if (b.stepsToTol === null) return true;
    return a.stepsToTol < b.stepsToTol;
  }
  return a.gap < b.gap;
}

/** What the classic suite reads from the command line. */
export interface ClassicArgs {
  problems: string[] | null;
  optimizers: string[] | null;
  tol: number;
}

/** Run the classic benchmark and print its tables to stdout. */
export function runClassic(args: ClassicArgs): void {
  const allProblems = [rosenbrock, beale, illConditionedQuadratic(), makeLogistic()];
  const problems = args.problems ? allProblems.filter((p) => args.problems!.includes(p.name)) : allProblems;
  const chosen = args.optimizers ? OPTIMIZERS.filter((o) => args.optimizers!.includes(o.name)) : OPTIMIZERS;
  if (problems.length === 0) {
    throw new InvalidOptionError('--problems', args.problems, `names among ${allProblems.map((p) => p.name).join(', ')}`, 'demo');
  }
  if (chosen.length === 0) {
    throw new InvalidOptionError('--optimizers', args.optimizers, `names among ${OPTIMIZERS.map((o) => o.name).join(', ')}`, 'demo');
  }

  const sections: string[] = [];
  const wins = new Map<string, number>();
  for (const problem of problems) {
    const optimizers = chosen.filter((o) => o.applies?.(problem) ?? true);
    const runs = optimizers.reduce((n, o) => n + (o.lrGrid?.length ?? 1), 0);
    const bar = new ProgressBar(problem.name, runs);
    const rows: string[][] = [];
    const results: Array<[string, RunResult]> = [];
    for (const entry of optimizers) {
      let best: RunResult | null = null;
      for (const lr of entry.lrGrid ?? [NaN]) {
        const r = run(problem, entry, lr, args.tol);
        if (best === null || better(r, best)) best = r;
        bar.tick();
      }
      results.push([entry.name, best!]);
    }
    bar.finish();
    const fastest = results.filter(([, r]) => r.evalsToTol !== null).sort((a, b) => a[1].evalsToTol! - b[1].evalsToTol!)[0];
    if (fastest) wins.set(fastest[0], (wins.get(fastest[0]) ?? 0) + 1);
    for (const [name, r] of results) {
      rows.push([
        name,
        r.lr === null || Number.isNaN(r.lr) ? 'n/a' : String(r.lr),
        r.diverged ? 'diverged' : r.gap.toExponential(2),
        r.stepsToTol === null ? '—' : String(r.stepsToTol),
        r.evalsToTol === null ? '—' : String(r.evalsToTol),
        r.ms.toFixed(1),
      ]);
    }
    sections.push(
      `${problem.name}: ${problem.description} (tolerance f - f* <= ${args.tol})\n` +
        formatTable(['optimizer', 'best lr', 'final f - f*', 'steps to tol', 'evals to tol', 'ms'], rows),
    );
  }
  process.stdout.write(`\n${sections.join('\n\n')}\n\n`);
  const summary = [...wins.entries()].map(([n, w]) => `${n} (${w})`).join(', ');
  process.stdout.write(`Fewest objective evaluations to tolerance: ${summary || 'none reached it'}\n`);
}
