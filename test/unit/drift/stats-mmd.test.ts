import { describe, expect, it } from 'vitest';
import { mmdPermutationTest, Rng } from '../../../main/drift/stats/index.js';

function gaussian(rng: Rng, n: number, d: number, shift: number): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal() + shift));
}

/** Textbook unbiased MMD² with the same standardization and median-heuristic RBF kernel, O(N²) per call. */
function naiveMmd2(x: number[][], y: number[][]): number {
  const pooled = [...x, ...y];
  const d = pooled[0]!.length;
  const mean = Array.from({ length: d }, (_, c) => pooled.reduce((s, r) => s + r[c]!, 0) / pooled.length);
  const sd = Array.from({ length: d }, (_, c) => Math.sqrt(pooled.reduce((s, r) => s + (r[c]! - mean[c]!) ** 2, 0) / pooled.length));
  const z = pooled.map((r) => r.map((v, c) => (v - mean[c]!) / sd[c]!));
  const dist2 = (a: number[], b: number[]): number => a.reduce((s, v, c) => s + (v - b[c]!) ** 2, 0);
  const all: number[] = [];
  for (let i = 0; i < z.length; i++) for (let j = i + 1; j < z.length; j++) all.push(dist2(z[i]!, z[j]!));
  all.sort((a, b) => a - b);
  const med = all.length % 2 ? all[(all.length - 1) / 2]! : (all[all.length / 2 - 1]! + all[all.length / 2]!) / 2;
  const k = (a: number[], b: number[]): number => Math.exp(-dist2(a, b) / (2 * med));
  const zx = z.slice(0, x.length);
  const zy = z.slice(x.length);
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  zx.forEach((a, i) => zx.forEach((b, j) => (sxx += i === j ? 0 : k(a, b))));
  zy.forEach((a, i) => zy.forEach((b, j) => (syy += i === j ? 0 : k(a, b))));
  zx.forEach((a) => zy.forEach((b) => (sxy += k(a, b))));
  const n = x.length;
  const m = y.length;
  return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - (2 * sxy) / (n * m);
}

const opts = (seed: number, permutations = 200) => ({ permutations, rng: new Rng(seed), maxPooled: 1000, subsampleSize: 500 });

describe('MMD permutation test', () => {
  const data = new Rng(7);
  const x = gaussian(data, 60, 4, 0);
  const y = gaussian(data, 45, 4, 0.3);

  it('computes the unbiased MMD² of a direct textbook implementation (unequal sizes)', () => {
    const r = mmdPermutationTest(x, y, opts(1));
    expect(r.statistic).toBeCloseTo(naiveMmd2(x, y), 12);
    expect(r.effect).toBeCloseTo(Math.sqrt(Math.max(0, r.statistic)), 15);
    // Swapping the sides does not change the statistic.
    expect(mmdPermutationTest(y, x, opts(1)).statistic).toBeCloseTo(r.statistic, 12);
  });

  it('p = (k + 1) / (B + 1) with k the exceedances, in (0, 1]', () => {
    for (const B of [1, 19, 200]) {
      const r = mmdPermutationTest(x, y, opts(3, B));
      expect(r.permutations).toBe(B);
      expect(r.pValue).toBe((r.exceedances + 1) / (B + 1));
      expect(r.pValue).toBeGreaterThan(0);
      expect(r.pValue).toBeLessThanOrEqual(1);
      expect(Number.isInteger(r.exceedances)).toBe(true);
    }
  });

  it('is deterministic given the seed and varies with it', () => {
    const a = mmdPermutationTest(x, y.map((r) => r.map((v) => v - 0.2)), opts(11));
    const b = mmdPermutationTest(x, y.map((r) => r.map((v) => v - 0.2)), opts(11));
    expect(b).toEqual(a);
    const ps = new Set([11, 12, 13, 14, 15].map((s) => mmdPermutationTest(x, y.map((r) => r.map((v) => v - 0.2)), opts(s)).exceedances));
    expect(ps.size).toBeGreaterThan(1);
  });

  it('identical samples give a large p (the observed MMD² is negative)', () => {
    const r = mmdPermutationTest(x, x, opts(5));
    expect(r.statistic).toBeLessThan(0);
    expect(r.pValue).toBeGreaterThan(0.9);
  });

  it('far-apart samples give the smallest possible p, 1 / (B + 1)', () => {
    const far = gaussian(data, 50, 4, 5);
    const r = mmdPermutationTest(x, far, opts(5, 500));
    expect(r.exceedances).toBe(0);
    expect(r.pValue).toBe(1 / 501);
  });

  it('excludes columns constant over both windows and reports them', () => {
    const withConst = x.map((r) => [...r, 3]);
    const yConst = y.map((r) => [...r, 3]);
    const r = mmdPermutationTest(withConst, yConst, opts(1));
    expect(r.constantColumns).toEqual([4]);
    expect(r.statistic).toBeCloseTo(mmdPermutationTest(x, y, opts(1)).statistic, 12);
  });

  it('above maxPooled rows uses a fixed-size seeded subsample per side and says so', () => {
    const big = gaussian(data, 700, 3, 0);
    const big2 = gaussian(data, 650, 3, 0);
    const r = mmdPermutationTest(big, big2, { permutations: 50, rng: new Rng(9), maxPooled: 1000, subsampleSize: 300 });
    expect(r.method).toBe('permutation_subsample');
    expect(r.rowsUsed).toEqual({ reference: 300, current: 300 });
    const again = mmdPermutationTest(big, big2, { permutations: 50, rng: new Rng(9), maxPooled: 1000, subsampleSize: 300 });
    expect(again.statistic).toBe(r.statistic);
    expect(mmdPermutationTest(x, y, opts(1)).method).toBe('permutation');
  });
});

describe('seeded generator', () => {
  it('repeats its stream for a seed and draws integers uniformly', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const seqA = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(seqA);
    expect(new Rng(43).nextUint32()).not.toBe(seqA[0]);
    const rng = new Rng(1);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[rng.nextInt(10)]!++;
    // Chi-squared with 9 df: 27.9 is the 0.999 quantile.
    const chi2 = counts.reduce((s, c) => s + (c - 10_000) ** 2 / 10_000, 0);
    expect(chi2).toBeLessThan(27.9);
    const u = Array.from({ length: 1000 }, () => rng.nextFloat());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
  });

  it('sampleIndices returns k distinct sorted indices', () => {
    const idx = Array.from(new Rng(3).sampleIndices(100, 30));
    expect(idx).toHaveLength(30);
    expect(new Set(idx).size).toBe(30);
    expect([...idx].sort((p, q) => p - q)).toEqual(idx);
    expect(idx.every((i) => i >= 0 && i < 100)).toBe(true);
  });
});
