import { describe, expect, it } from 'vitest';
import { buildTable, chi2Sf, contingencyTest, gammaQ, OTHER_CELL } from '../../../main/drift/stats/index.js';
import { scipy } from './stats-scipy-reference.js';

/** Expands counts into label lists, e.g. {a: 2, b: 1} → ['a', 'a', 'b']. */
function labels(counts: Record<string, number>): string[] {
  return Object.entries(counts).flatMap(([k, c]) => Array.from({ length: c }, () => k));
}

interface ScipyContingency {
  chi2: number;
  chi2p: number;
  g: number;
  gp: number;
  dof: number;
  v: number;
}

const SCIPY_CONTINGENCY =
  "out = []\nfor t in data:\n  a = np.array(t)\n  c = st.chi2_contingency(a, correction=False)\n  g = st.chi2_contingency(a, correction=False, lambda_='log-likelihood')\n  v = st.contingency.association(a, method='cramer')\n  out.append(dict(chi2=float(c[0]), chi2p=float(c[1]), g=float(g[0]), gp=float(g[1]), dof=int(c[2]), v=float(v)))";

const close = (got: number, want: number, rel: number): void => {
  expect(Math.abs(got - want)).toBeLessThanOrEqual(rel * Math.max(Math.abs(want), 1e-300));
};

describe('chi-squared and G-test on two windows of categories', () => {
  const cases = [
    // Ten balanced classes vs one class going 10 % → 20 % (the benchmark's scenario).
    { ref: labels(Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`c${k}`, 50]))), cur: labels({ c0: 100, c1: 44, c2: 44, c3: 45, c4: 44, c5: 45, c6: 44, c7: 45, c8: 44, c9: 45 }) },
    { ref: labels({ cat: 30, dog: 25, bird: 12 }), cur: labels({ cat: 20, dog: 35, bird: 9 }) },
    // Unequal sizes and a category that is new in the current window.
    { ref: labels({ a: 120, b: 80, c: 40 }), cur: labels({ a: 30, b: 40, c: 10, d: 20 }) },
    // Tiny p-value.
    { ref: labels({ x: 400, y: 100 }), cur: labels({ x: 250, y: 250 }) },
  ];
  const tables = cases.map((c) => buildTable(c.ref, c.cur));
  const reference = scipy<ScipyContingency[]>(SCIPY_CONTINGENCY, tables.map((t) => [t.reference, t.current]));

  it.each(cases.map((_, i) => [i] as const))('case %i: chi2, G, p-values, dof and Cramér V match scipy.stats.chi2_contingency within 1e-6', (i) => {
    const want = reference[i]!;
    const chi2 = contingencyTest(tables[i]!, 'chi2');
    const g = contingencyTest(tables[i]!, 'g_test');
    close(chi2.statistic, want.chi2, 1e-9);
    close(chi2.pValue, want.chi2p, 1e-6);
    close(g.statistic, want.g, 1e-9);
    close(g.pValue, want.gp, 1e-6);
    expect(chi2.df).toBe(want.dof);
    close(chi2.cramersV, want.v, 1e-9);
  });

  it('merges cells with expected count < 5 into "other" and lowers the degrees of freedom', () => {
    const t = buildTable(labels({ a: 50, b: 40, rare1: 2, rare2: 1 }), labels({ a: 45, b: 48, rare1: 1, rare3: 3 }));
    // rare1 (3), rare2 (1), rare3 (3) total 7 → expected ≤ 3.5 each, merged; "other" = 7 → 3.5 < 5,
    // so the next-smallest category (b) joins it; a stays.
    expect(t.merged).toEqual(['b', 'rare1', 'rare2', 'rare3']);
    expect(t.cells).toEqual(['a', OTHER_CELL]);
    expect(t.reference).toEqual([50, 43]);
    expect(t.current).toEqual([45, 52]);
    expect(contingencyTest(t, 'chi2').df).toBe(1);
    const ref = scipy<ScipyContingency[]>(SCIPY_CONTINGENCY, [[t.reference, t.current]])[0]!;
    close(contingencyTest(t, 'chi2').pValue, ref.chi2p, 1e-6);
  });

  it('keeps every cell when all expected counts are at least 5', () => {
    const t = buildTable(labels({ a: 10, b: 10 }), labels({ a: 10, b: 10 }));
    expect(t.merged).toEqual([]);
    expect(t.cells).toEqual(['a', 'b']);
  });

  it('chi2Sf and gammaQ match scipy over small and large degrees of freedom within 1e-10', () => {
    const grid = [
      [0.5, 1],
      [3.84, 1],
      [10, 3],
      [16.9, 9],
      [100, 9],
      [2, 40],
      [60, 40],
      [300, 250],
      [1e-3, 2],
    ];
    const want = scipy<{ chi2: number; q: number }[]>("import scipy.special as sp\nout = [dict(chi2=float(st.chi2.sf(x, k)), q=float(sp.gammaincc(k / 2, x))) for x, k in data]", grid);
    grid.forEach(([x, k], i) => {
      close(chi2Sf(x!, k!), want[i]!.chi2, 1e-10);
      close(gammaQ(k! / 2, x!), want[i]!.q, 1e-10);
    });
  });
});
