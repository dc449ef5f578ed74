/**
 * Two-sample Kolmogorov–Smirnov test with an exact p-value.
 *
 * The p-value is P(D ≥ d_obs) over all C(n+m, n) equally likely orderings of the pooled sample
 * (the permutation null), computed by walking the lattice of paths from (0, 0) to (n, m) and
 * summing the probability of first leaving the band |i/n − j/m| < d_obs. With ties the band is
 * checked only where the pooled sorted values change, which gives the exact null *conditional on
 * the ties* (as R's `psmirnov(exact = TRUE)` does); without ties it equals scipy's
 * `ks_2samp(method='exact')`. Cost O(n·m) time with ties, O(n·D·m) without, O(m) memory; above `exactLimit` (n·m) the
 * Kolmogorov limit with Stephens' small-sample correction is used (conservative with ties).
 */
import { kolmogorovSf } from './special.js';

export interface KsResult {
  /** sup |F_ref − F_cur|. */
  readonly statistic: number;
  readonly pValue: number;
  readonly method: 'exact' | 'asymptotic';
}

/** n·m up to which the exact lattice walk is used (about 50 ms at the limit). */
export const KS_EXACT_LIMIT = 10_000_000;

/**
 * Exact (or, beyond `exactLimit`, asymptotic) two-sided two-sample KS test.
 *
 * Inputs must be finite numbers; both samples non-empty. Inputs are not modified.
 */
export function ksTwoSample(x: readonly number[], y: readonly number[], exactLimit = KS_EXACT_LIMIT): KsResult {
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) throw new RangeError('ksTwoSample needs two non-empty samples');
  const xs = Float64Array.from(x).sort();
  const ys = Float64Array.from(y).sort();
  const total = n + m;

  // Walk the pooled order once: D on the integer scale |i·m − j·n| (exact, no rounding) and the
  // positions i + j where the pooled value changes (the only places the ECDFs can be compared).
  const boundary = new Uint8Array(total + 1);
  let i = 0;
  let j = 0;
  let dInt = 0;
  while (i < n || j < m) {
    const v = j >= m || (i < n && (xs[i] as number) <= (ys[j] as number)) ? (xs[i] as number) : (ys[j] as number);
    while (i < n && xs[i] === v) i++;
    while (j < m && ys[j] === v) j++;
    boundary[i + j] = 1;
    const diff = Math.abs(i * m - j * n);
    if (diff > dInt) dInt = diff;
  }
  const statistic = dInt / (n * m);
  if (dInt === 0) return { statistic: 0, pValue: 1, method: 'exact' };
  if (n * m > exactLimit) {
    const en = (n * m) / total;
    const sq = Math.sqrt(en);
    return { statistic, pValue: kolmogorovSf((sq + 0.12 + 0.11 / sq) * statistic), method: 'asymptotic' };
  }

  // mass[j] holds P(path reaches (i, j) without having left the band) for the current row i.
  // Steps are drawn like sampling without replacement, so each full path has probability
  // 1 / C(n+m, n); summing first-exit mass keeps full relative precision for tiny p.
  // Without ties every lattice point is checked, so mass lives only inside the band and each row
  // needs just the cells the band can reach in one step (O(n · D·m) instead of O(n·m)); with
  // ties a path may leave the band between checks, so every cell is visited.
  let noTies = true;
  for (let k = 1; k <= total && noTies; k++) if (boundary[k] !== 1) noTies = false;
  const mass = new Float64Array(m + 1);
  let pOut = 0;
  for (let ii = 0; ii <= n; ii++) {
    const lo = noTies ? Math.max(0, Math.floor(((ii - 1) * m - dInt) / n)) : 0;
    const hi = noTies ? Math.min(m, Math.ceil((ii * m + dInt) / n) + 1) : m;
    for (let jj = lo; jj <= hi; jj++) {
      let v: number;
      if (ii === 0 && jj === 0) v = 1;
      else {
        v = 0;
        if (ii > 0) {
          const rest = total - (ii - 1) - jj;
          v += (mass[jj] as number) * ((n - (ii - 1)) / rest);
        }
        // Left of `lo` nothing was computed in this row: its true mass is 0 (stale values remain).
        if (jj > lo) {
          const rest = total - ii - (jj - 1);
          v += (mass[jj - 1] as number) * ((m - (jj - 1)) / rest);
        }
      }
      if (v !== 0 && boundary[ii + jj] === 1 && Math.abs(ii * m - jj * n) >= dInt) {
        pOut += v;
        v = 0;
      }
      mass[jj] = v;
    }
  }
  return { statistic, pValue: Math.min(1, Math.max(0, pOut)), method: 'exact' };
}
