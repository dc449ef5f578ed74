import { describe, expect, it } from 'vitest';
import { kolmogorovSf, ksTwoSample, Rng } from '../../../main/drift/stats/index.js';
import { scipy } from './stats-scipy-reference.js';

/** Fixed, tie-free samples: seeded normals (the seed makes the data part of the test). */
function sample(rng: Rng, n: number, shift: number): number[] {
  return Array.from({ length: n }, () => rng.normal() + shift);
}

/** Brute force: P(D ≥ d_obs) over every split of the pooled values into sizes n and m. */
function bruteForceP(x: number[], y: number[]): number {
  const pooled = [...x, ...y];
  const n = x.length;
  const total = pooled.length;
  const values = [...new Set(pooled)].sort((a, b) => a - b);
  const dOf = (inX: boolean[]): number => {
    let best = 0;
    for (const v of values) {
      let cx = 0;
      let cy = 0;
      pooled.forEach((p, i) => {
        if (p <= v) {
          if (inX[i]) cx++;
          else cy++;
        }
      });
      best = Math.max(best, Math.abs(cx * (total - n) - cy * n));
    }
    return best;
  };
  const observed = dOf(pooled.map((_, i) => i < n));
  let hit = 0;
  let count = 0;
  for (let mask = 0; mask < 1 << total; mask++) {
    let bits = 0;
    for (let b = mask; b; b &= b - 1) bits++;
    if (bits !== n) continue;
    count++;
    if (dOf(pooled.map((_, i) => ((mask >> i) & 1) === 1)) >= observed) hit++;
  }
  return hit / count;
}

describe('exact two-sample KS', () => {
  const rng = new Rng(20240610);
  const cases = [
    { n: 10, m: 10, shift: 1 },
    { n: 8, m: 13, shift: 0.2 },
    { n: 30, m: 45, shift: 0.3 },
    { n: 200, m: 200, shift: 0 },
    { n: 200, m: 200, shift: 0.6 },
    { n: 150, m: 333, shift: 0.25 },
    { n: 1000, m: 800, shift: 0.1 },
  ].map((c) => ({ ...c, x: sample(rng, c.n, 0), y: sample(rng, c.m, c.shift) }));
  const reference = scipy<{ d: number; p: number }[]>(
    "out = [dict(d=float(r.statistic), p=float(r.pvalue)) for r in (st.ks_2samp(np.array(c['x']), np.array(c['y']), method='exact') for c in data)]",
    cases.map((c) => ({ x: c.x, y: c.y })),
  );

  it.each(cases.map((c, i) => [`${c.n} vs ${c.m}, shift ${c.shift}`, i] as const))('matches scipy ks_2samp(method="exact") within 1e-9 relative: %s', (_label, i) => {
    const c = cases[i]!;
    const ref = reference[i]!;
    const got = ksTwoSample(c.x, c.y);
    expect(got.method).toBe('exact');
    expect(got.statistic).toBeCloseTo(ref.d, 14);
    expect(Math.abs(got.pValue - ref.p)).toBeLessThanOrEqual(1e-9 * ref.p);
  });

  it('covers both tails of p: a tiny p-value keeps its relative precision', () => {
    const i = cases.findIndex((c) => c.n === 200 && c.shift === 0.6);
    expect(reference[i]!.p).toBeLessThan(1e-6);
    expect(ksTwoSample(cases[i]!.x, cases[i]!.y).pValue).toBeGreaterThan(0);
  });

  it('with ties, gives the exact permutation p-value conditional on the ties (brute force over all splits)', () => {
    const x = [1, 2, 2, 3, 3, 3];
    const y = [2, 3, 4, 4, 5, 5, 6];
    const got = ksTwoSample(x, y);
    expect(got.statistic).toBeCloseTo(Math.max(...[1, 2, 3, 4, 5, 6].map((v) => Math.abs(x.filter((a) => a <= v).length / 6 - y.filter((b) => b <= v).length / 7))), 15);
    expect(got.pValue).toBeCloseTo(bruteForceP(x, y), 12);
    const xs = [0, 0, 1, 1, 1];
    const ys = [0, 1, 1, 1, 1, 1, 0, 1];
    expect(ksTwoSample(xs, ys).pValue).toBeCloseTo(bruteForceP(xs, ys), 12);
  });

  it('identical samples give D = 0 and p = 1', () => {
    const r = ksTwoSample([3, 1, 2, 5, 4], [5, 4, 3, 2, 1]);
    expect(r).toEqual({ statistic: 0, pValue: 1, method: 'exact' });
  });

  it('beyond the exact limit uses the Kolmogorov limit, close to the exact value', () => {
    const x = sample(rng, 600, 0);
    const y = sample(rng, 700, 0.1);
    const exact = ksTwoSample(x, y);
    const asymptotic = ksTwoSample(x, y, 1000);
    expect(asymptotic.method).toBe('asymptotic');
    expect(asymptotic.statistic).toBe(exact.statistic);
    expect(Math.abs(asymptotic.pValue - exact.pValue)).toBeLessThan(0.01);
  });

  it('kolmogorovSf matches scipy.stats.kstwobign.sf within 1e-12', () => {
    const grid = [0.2, 0.5, 0.8, 1.0, 1.17, 1.19, 1.36, 1.63, 2.0, 3.0];
    const ref = scipy<number[]>("out = [float(st.kstwobign.sf(v)) for v in data]", grid);
    grid.forEach((v, i) => expect(Math.abs(kolmogorovSf(v) - ref[i]!)).toBeLessThan(1e-12));
  });
});
