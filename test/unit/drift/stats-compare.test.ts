import { describe, expect, it } from 'vitest';
import {
  bonferroni,
  compareWindows,
  EFFECT_BANDS,
  maxSeverity,
  psiFromFractions,
  psiScalar,
  Rng,
  severityOf,
  type GroupSamples,
} from '../../../main/drift/stats/index.js';

function normals(rng: Rng, n: number, shift = 0): number[] {
  return Array.from({ length: n }, () => rng.normal() + shift);
}
function latents(rng: Rng, n: number, d: number, shift = 0): number[][] {
  return Array.from({ length: n }, () => normals(rng, d, shift));
}
function classes(rng: Rng, n: number, weights: number[]): string[] {
  const cum = weights.map((_, i) => weights.slice(0, i + 1).reduce((a, b) => a + b, 0));
  return Array.from({ length: n }, () => {
    const u = rng.nextFloat() * cum[cum.length - 1]!;
    return `class${cum.findIndex((c) => u < c)}`;
  });
}

describe('compareWindows', () => {
  const rng = new Rng(99);
  const reference: GroupSamples[] = [
    { name: 'z', kind: 'numeric', rows: latents(rng, 200, 8) },
    { name: 'brightness', kind: 'scalar', rows: normals(rng, 200) },
    { name: 'label', kind: 'categorical', rows: classes(rng, 200, [1, 1, 1, 1]) },
  ];

  it('returns the fixed JSON shape with raw and Bonferroni-adjusted p per group', () => {
    const current: GroupSamples[] = [
      { name: 'z', kind: 'numeric', rows: latents(rng, 150, 8) },
      { name: 'brightness', kind: 'scalar', rows: normals(rng, 150, 1) },
      { name: 'label', kind: 'categorical', rows: classes(rng, 150, [1, 1, 1, 1]) },
    ];
    const r = compareWindows(reference, current, { alpha: 0.05, permutations: 99, seed: 1 });
    expect(Object.keys(r).sort()).toEqual(['alpha', 'drifted', 'groups', 'severity', 'window']);
    expect(r.window).toEqual({ reference: 200, current: 150 });
    expect(r.groups.map((g) => [g.name, g.test, g.effect_name])).toEqual([
      ['z', 'mmd', 'mmd'],
      ['brightness', 'ks', 'psi'],
      ['label', 'chi2', 'cramers_v'],
    ]);
    for (const g of r.groups) {
      expect(g.p_adjusted).toBe(Math.min(1, g.p_value! * 3));
      expect(g.skipped_reason).toBeUndefined();
    }
    const brightness = r.groups[1]!;
    expect(brightness.drifted).toBe(true);
    expect(brightness.severity).toBe('HIGH');
    expect(brightness.method).toBe('exact');
    expect(r.drifted).toBe(true);
    expect(r.severity).toBe('HIGH');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('is deterministic for a seed, and a group\'s result does not depend on the other groups', () => {
    const current: GroupSamples[] = [{ name: 'z', kind: 'numeric', rows: latents(rng, 200, 8, 0.1) }];
    const a = compareWindows(reference, current, { seed: 5, permutations: 99 });
    const b = compareWindows(reference, current, { seed: 5, permutations: 99 });
    expect(b).toEqual(a);
    const alone = compareWindows([reference[0]!], current, { seed: 5, permutations: 99 });
    expect(alone.groups[0]!.p_value).toBe(a.groups[0]!.p_value);
  });

  it('Bonferroni counts only tested groups; skipped groups keep their place with a reason', () => {
    const current: GroupSamples[] = [
      { name: 'z', kind: 'numeric', rows: latents(rng, 200, 8) },
      { name: 'brightness', kind: 'scalar', rows: new Array<number>(200).fill(0.5) },
      // 'label' missing; 'extra' only in the current window.
      { name: 'extra', kind: 'scalar', rows: normals(rng, 200) },
    ];
    const r = compareWindows(reference, current, { permutations: 99 });
    expect(r.groups.map((g) => g.name)).toEqual(['z', 'brightness', 'label', 'extra']);
    const [z, brightness, label, extra] = r.groups;
    expect(z!.p_adjusted).toBe(z!.p_value); // G = 1
    expect(brightness!.skipped_reason).toBe('type changed: constant in the current window only');
    expect(label!.skipped_reason).toBe('group missing from the current window');
    expect(extra!.skipped_reason).toBe('group missing from the reference window');
    for (const g of [brightness!, label!, extra!]) {
      expect(g).toMatchObject({ p_value: null, p_adjusted: null, effect: null, drifted: false, severity: 'NONE' });
    }
  });

  it('skips degenerate groups with a reason: NaN, constant, too few rows, rounding, ragged rows, one category', () => {
    const ref: GroupSamples[] = [
      { name: 'nan', kind: 'scalar', rows: normals(rng, 50) },
      { name: 'const', kind: 'scalar', rows: new Array<number>(50).fill(2) },
      { name: 'tiny', kind: 'scalar', rows: normals(rng, 5) },
      { name: 'rounded', kind: 'scalar', rows: normals(rng, 50) },
      { name: 'ragged', kind: 'numeric', rows: latents(rng, 50, 3) },
      { name: 'zconst', kind: 'numeric', rows: Array.from({ length: 50 }, () => [1, 2]) },
      { name: 'one-class', kind: 'categorical', rows: new Array<string>(50).fill('cat') },
      { name: 'kind', kind: 'scalar', rows: normals(rng, 50) },
    ];
    const cur: GroupSamples[] = [
      { name: 'nan', kind: 'scalar', rows: [...normals(rng, 49), NaN] },
      { name: 'const', kind: 'scalar', rows: new Array<number>(50).fill(2) },
      { name: 'tiny', kind: 'scalar', rows: normals(rng, 50) },
      { name: 'rounded', kind: 'scalar', rows: normals(rng, 50).map((v) => Math.round(v)) },
      { name: 'ragged', kind: 'numeric', rows: [...latents(rng, 49, 3), [1, 2]] },
      { name: 'zconst', kind: 'numeric', rows: Array.from({ length: 50 }, () => [1, 2]) },
      { name: 'one-class', kind: 'categorical', rows: new Array<string>(50).fill('cat') },
      { name: 'kind', kind: 'categorical', rows: new Array<string>(50).fill('x') },
    ];
    const r = compareWindows(ref, cur, { permutations: 19 });
    expect(Object.fromEntries(r.groups.map((g) => [g.name, g.skipped_reason]))).toEqual({
      nan: 'NaN/Inf values present (reference 0, current 1)',
      const: 'constant: every value is 2 in both windows',
      tiny: 'too few rows (reference 5, current 50; need ≥ 10 each)',
      rounded: 'type changed: continuous in the reference window, rounded/discrete in the current one',
      ragged: 'column count differs between rows (expected 3 everywhere)',
      zconst: 'constant: every column is constant over both windows',
      'one-class': 'constant: only the category "cat" occurs',
      kind: 'kind changed: scalar in the reference window, categorical in the current one',
    });
    expect(r.drifted).toBe(false);
    expect(r.severity).toBe('NONE');
  });

  it('a tiny shift in a huge window is significant but below the effect floor, so not drifted', () => {
    const big = new Rng(3);
    const ref: GroupSamples[] = [{ name: 's', kind: 'scalar', rows: normals(big, 60_000) }];
    const cur: GroupSamples[] = [{ name: 's', kind: 'scalar', rows: normals(big, 60_000, 0.05) }];
    const r = compareWindows(ref, cur);
    const g = r.groups[0]!;
    expect(g.method).toBe('asymptotic');
    expect(g.p_adjusted!).toBeLessThan(1e-6);
    expect(g.effect!).toBeLessThan(EFFECT_BANDS.psi.floor);
    expect(g.drifted).toBe(false);
    expect(r.drifted).toBe(false);
  });

  it('notes numeric columns constant in one window only, and categories merged into "other"', () => {
    const ref: GroupSamples[] = [
      { name: 'z', kind: 'numeric', rows: latents(rng, 100, 2).map((r) => [...r, 0]), featureNames: ['a', 'b', 'c'] },
      { name: 'label', kind: 'categorical', rows: [...classes(rng, 98, [1, 1]), 'rare', 'rare'] },
    ];
    const cur: GroupSamples[] = [
      { name: 'z', kind: 'numeric', rows: latents(rng, 100, 3), featureNames: ['a', 'b', 'c'] },
      { name: 'label', kind: 'categorical', rows: [...classes(rng, 90, [1, 1]), ...new Array<string>(10).fill('new')] },
    ];
    const r = compareWindows(ref, cur, { permutations: 49 });
    expect(r.groups[0]!.notes).toEqual(['c is constant in the reference window only']);
    // 'rare' (2 rows, expected 1) is merged; "other" is then still short, so 'new' (10) joins it.
    expect(r.groups[1]!.notes).toEqual(['merged into "other" (expected count < 5): new, rare']);
    expect(r.groups[1]!.df).toBe(2);
  });

  it('rejects invalid options', () => {
    expect(() => compareWindows(reference, reference, { alpha: 0 })).toThrow(/alpha/);
    expect(() => compareWindows(reference, reference, { permutations: 0 })).toThrow(/permutations/);
    expect(() => compareWindows([...reference, reference[0]!], reference)).toThrow(/duplicate group name "z" in the reference window/);
  });
});

describe('verdict rules', () => {
  it('Bonferroni is min(1, p × G)', () => {
    expect(bonferroni(0.01, 3)).toBeCloseTo(0.03, 15);
    expect(bonferroni(0.4, 3)).toBe(1);
    expect(bonferroni(0.02, 1)).toBe(0.02);
  });

  it('maps p and effect to severity with the documented cut-offs', () => {
    const a = 0.05;
    // Not significant or below the floor → NONE.
    expect(severityOf(0.05, 0.5, 'mmd', a)).toBe('NONE');
    expect(severityOf(0.001, 0.019, 'mmd', a)).toBe('NONE');
    // Strong evidence (p_adj < α/2): the effect band decides.
    expect(severityOf(0.001, 0.02, 'mmd', a)).toBe('LOW');
    expect(severityOf(0.001, 0.05, 'mmd', a)).toBe('MEDIUM');
    expect(severityOf(0.001, 0.1, 'mmd', a)).toBe('HIGH');
    expect(severityOf(0.001, 0.05, 'psi', a)).toBe('LOW');
    expect(severityOf(0.001, 0.1, 'psi', a)).toBe('MEDIUM');
    expect(severityOf(0.001, 0.25, 'psi', a)).toBe('HIGH');
    expect(severityOf(0.001, 0.1, 'cramers_v', a)).toBe('MEDIUM');
    expect(severityOf(0.001, 0.3, 'cramers_v', a)).toBe('HIGH');
    // Borderline evidence (α/2 ≤ p_adj < α): one level lower, never below LOW.
    expect(severityOf(0.03, 0.1, 'mmd', a)).toBe('MEDIUM');
    expect(severityOf(0.03, 0.05, 'mmd', a)).toBe('LOW');
    expect(severityOf(0.03, 0.02, 'mmd', a)).toBe('LOW');
    expect(maxSeverity(['NONE', 'MEDIUM', 'LOW'])).toBe('MEDIUM');
    expect(maxSeverity([])).toBe('NONE');
  });

  it('PSI uses the reference deciles and an epsilon for empty bins', () => {
    const ref = Array.from({ length: 100 }, (_, i) => i);
    expect(psiScalar(ref, ref)).toBe(0);
    // Everything in the top decile: 0.9 of mass moves out of nine bins.
    const cur = Array.from({ length: 100 }, (_, i) => 95 + (i % 5));
    const expected = 9 * (1e-4 - 0.1) * Math.log(1e-4 / 0.1) + (1 - 0.1) * Math.log(1 / 0.1);
    expect(psiScalar(ref, cur)).toBeCloseTo(expected, 12);
    expect(psiFromFractions([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(-0.25 * Math.log(0.5) + 0.25 * Math.log(1.5), 15);
  });
});
