/**
 * Drift statistics: error rates of the window verdict and the cost of one check (issue 10).
 *
 * Every number is a fraction of independent simulated windows judged by `compareWindows` with
 * α = 0.05; data and permutations are seeded, so a run is reproducible. Scenarios:
 * - false alarms: both windows from the same distribution, a generator-like window of four
 *   groups (16-d `z` → MMD, 10-class label → chi-squared, guidance_scale → KS, num_steps with
 *   two values → KS with ties), Bonferroni over the four;
 * - power on 16-d latents (the `z` group alone), every dimension shifted by 0.1σ / 0.2σ;
 * - power on class labels (the label group alone), one class 10 % → 20 %, n = 500;
 * - the wall time of one check, n = m = 500, 32-d, 500 permutations (median of 5).
 * To keep `npm run bench` under a minute of CPU, the false-alarm trials use 200 permutations
 * instead of the default 500 (a permutation test's level does not depend on B; B only sets the
 * p-value's resolution), and at 2000 vs 2000 the MMD runs on a seeded subsample of 250 rows per
 * side (the 'permutation_subsample' method; the default keeps 500 per side). KS stays exact at
 * 2000 vs 2000. Power and cost rows use the defaults (500 permutations).
 *
 * Run alone: `npm run build && node dist/test/bench/drift-bench.js`.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { compareWindows, Rng, type CompareOptions, type GroupSamples } from '../../main/drift/stats/index.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';

export interface DriftBenchOptions {
  /** Multiplies every trial count (default 1; 0.2 for a quick look). */
  readonly scale?: number;
}

const CLASSES = 10;

function latents(rng: Rng, n: number, d: number, shift: number): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal() + shift));
}

/** Labels with class 0 at `p0` and the rest sharing 1 − p0 equally. */
function labels(rng: Rng, n: number, p0: number): string[] {
  return Array.from({ length: n }, () => {
    const u = rng.nextFloat();
    if (u < p0) return 'class0';
    return `class${1 + Math.min(CLASSES - 2, Math.floor(((u - p0) / (1 - p0)) * (CLASSES - 1)))}`;
  });
}

/** One generator-like window of n rows: z, label, guidance_scale, num_steps. */
function window(rng: Rng, n: number): GroupSamples[] {
  return [
    { name: 'z', kind: 'numeric', rows: latents(rng, n, 16, 0) },
    { name: 'label', kind: 'categorical', rows: labels(rng, n, 1 / CLASSES) },
    { name: 'guidance_scale', kind: 'scalar', rows: Array.from({ length: n }, () => 1 + 9 * rng.nextFloat()) },
    { name: 'num_steps', kind: 'scalar', rows: Array.from({ length: n }, () => (rng.nextFloat() < 0.5 ? 25 : 50)) },
  ];
}

/** Fraction of `trials` windows flagged drifted; `make` builds the trial's two windows. */
function rate(trials: number, make: (rng: Rng) => [GroupSamples[], GroupSamples[]], options: CompareOptions): { rate: number; significant: number; ms: number } {
  let flagged = 0;
  let significant = 0;
  const t0 = performance.now();
  for (let t = 0; t < trials; t++) {
    const rng = new Rng(1_000_003 * (t + 1));
    const [ref, cur] = make(rng);
    const r = compareWindows(ref, cur, { ...options, seed: t });
    if (r.drifted) flagged++;
    // The p-value gate alone (before effect floors): shows the tests' calibration.
    if (r.groups.some((g) => g.p_adjusted !== null && g.p_adjusted < r.alpha)) significant++;
  }
  return { rate: flagged / trials, significant: significant / trials, ms: performance.now() - t0 };
}

/** 95 % Wilson interval of a proportion, as "a–b %". */
function wilson(p: number, n: number): string {
  const z = 1.96;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return `${(100 * Math.max(0, centre - half)).toFixed(1)}–${(100 * Math.min(1, centre + half)).toFixed(1)} %`;
}

function pct(metric: string, r: number, trials: number, target: string, pass: boolean): BenchResult {
  return { metric: `${metric} (${trials} windows, 95 % CI ${wilson(r, trials)})`, value: 100 * r, unit: '%', target, pass };
}

/** Runs every scenario and returns the table rows. */
export function runDriftBench(options: DriftBenchOptions = {}): BenchResult[] {
  const scale = options.scale ?? 1;
  const trials = (n: number): number => Math.max(10, Math.round(n * scale));
  const rows: BenchResult[] = [];

  const n200 = trials(500);
  const fa200 = rate(n200, (rng) => [window(rng, 200), window(rng, 200)], { permutations: 200 });
  rows.push(pct('false alarms, same distribution, 200 vs 200, 4 groups, B = 200', fa200.rate, n200, '≤ 7', fa200.rate <= 0.07));
  rows.push(pct('false alarms at 200 vs 200 are not zero (not deaf)', fa200.rate, n200, '≥ 1', fa200.rate >= 0.01));
  rows.push({ ...pct('(info) some adjusted p < α, before effect floors, 200 vs 200', fa200.significant, n200, '', true), target: null, pass: null });

  const n2000 = trials(200);
  const fa2000 = rate(n2000, (rng) => [window(rng, 2000), window(rng, 2000)], { permutations: 200, mmdSubsampleSize: 250 });
  rows.push(pct('false alarms, 2000 vs 2000, 4 groups, MMD B = 200 on a 250 + 250 subsample', fa2000.rate, n2000, '≤ 7', fa2000.rate <= 0.07));
  rows.push({ ...pct('(info) some adjusted p < α, before effect floors, 2000 vs 2000', fa2000.significant, n2000, '', true), target: null, pass: null });

  const nPow = trials(200);
  const z = (shift: number) => (rng: Rng): [GroupSamples[], GroupSamples[]] => [
    [{ name: 'z', kind: 'numeric', rows: latents(rng, 200, 16, 0) }],
    [{ name: 'z', kind: 'numeric', rows: latents(rng, 200, 16, shift) }],
  ];
  const p02 = rate(nPow, z(0.2), { permutations: 500 });
  rows.push(pct('power, 16-d z, every dim +0.2σ, n = 200, B = 500', p02.rate, nPow, '≥ 95', p02.rate >= 0.95));
  const p01 = rate(nPow, z(0.1), { permutations: 500 });
  rows.push(pct('power, 16-d z, every dim +0.1σ, n = 200, B = 500', p01.rate, nPow, '≥ 60', p01.rate >= 0.6));

  const nCls = trials(300);
  const cls = rate(
    nCls,
    (rng) => [[{ name: 'label', kind: 'categorical', rows: labels(rng, 500, 0.1) }], [{ name: 'label', kind: 'categorical', rows: labels(rng, 500, 0.2) }]],
    {},
  );
  rows.push(pct('power, 10 class labels, one class 10 % → 20 %, n = 500, chi-squared', cls.rate, nCls, '≥ 80', cls.rate >= 0.8));

  const costRng = new Rng(77);
  const ref = [{ name: 'z', kind: 'numeric', rows: latents(costRng, 500, 32, 0) }] as const satisfies GroupSamples[];
  const cur = [{ name: 'z', kind: 'numeric', rows: latents(costRng, 500, 32, 0.05) }] as const satisfies GroupSamples[];
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    compareWindows(ref, cur, { permutations: 500, seed: i });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[2] as number;
  rows.push({ metric: 'one check, n = m = 500, 32-d, B = 500 (median of 5, one thread)', value: median, unit: 'ms', target: '≤ 500', pass: median <= 500 });
  const totalMs = fa200.ms + fa2000.ms + p02.ms + p01.ms + cls.ms;
  rows.push({ metric: 'wall time of the simulations above', value: totalMs / 1000, unit: 's', target: null, pass: null });
  return rows;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const scaleArg = process.argv.indexOf('--scale');
  console.log(formatBenchTable(runDriftBench(scaleArg >= 0 ? { scale: Number(process.argv[scaleArg + 1]) } : {})));
}
