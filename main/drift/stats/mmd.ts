/**
 * Multivariate two-sample test: unbiased MMD² with an RBF kernel and a permutation test.
 *
 * - Features are standardized per column on the pooled sample (mean 0, sd 1), so no single
 *   feature's units dominate the distance; columns constant in the pooled sample are excluded.
 * - Kernel k(a, b) = exp(−‖a − b‖² / (2σ²)), σ² = median of the pooled pairwise squared distances
 *   (the median heuristic).
 * - Statistic: the unbiased estimator MMD²_u (Gretton et al. 2012, eq. 3); it can be negative.
 * - p = (k + 1) / (B + 1), k = number of the B label permutations whose MMD²_u ≥ the observed one
 *   (counting the observed statistic keeps p > 0 and the test exact at level α).
 * - The (n+m)² kernel matrix is built once (upper triangle, Float64Array); a permutation only
 *   needs the sum of kernel values inside the smaller side, S_AA, because the row sums are
 *   fixed: S_AB = Σ_{i∈A} R_i − S_AA and S_BB = S − S_AA − 2·S_AB. That is |A|²/2 reads per
 *   permutation instead of (n+m)².
 * - Above `maxPooled` rows in total, each side is replaced by a seeded random subsample of
 *   `subsampleSize` rows (method 'permutation_subsample'), bounding memory at
 *   8·(2·subsampleSize)² bytes (8 MB for 500 + 500).
 */
import type { Rng } from './rng.js';

export interface MmdOptions {
  readonly permutations: number;
  readonly rng: Rng;
  readonly maxPooled: number;
  readonly subsampleSize: number;
}

export interface MmdResult {
  /** Unbiased MMD² of the (possibly subsampled) standardized data. */
  readonly statistic: number;
  /** √max(0, MMD²_u): the effect size, in the kernel's feature-space units. */
  readonly effect: number;
  readonly pValue: number;
  /** Permuted statistics ≥ observed. */
  readonly exceedances: number;
  readonly permutations: number;
  readonly method: 'permutation' | 'permutation_subsample';
  readonly bandwidth2: number;
  /** Indices of columns left out because they are constant over both windows. */
  readonly constantColumns: readonly number[];
  readonly rowsUsed: { readonly reference: number; readonly current: number };
}

/** Thrown (and turned into a skip by the caller) when no column varies or all rows coincide. */
export class DegenerateSampleError extends Error {
  override readonly name = 'DegenerateSampleError';
}

/**
 * Runs the MMD permutation test. Rows must be finite and all of the same length d ≥ 1, with at
 * least two rows per side; the caller checks that and reports violations as skips.
 */
export function mmdPermutationTest(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  options: MmdOptions,
): MmdResult {
  const { rng } = options;
  let ref = reference;
  let cur = current;
  let method: MmdResult['method'] = 'permutation';
  if (ref.length + cur.length > options.maxPooled) {
    method = 'permutation_subsample';
    const take = (rows: readonly (readonly number[])[]): readonly (readonly number[])[] =>
      rows.length <= options.subsampleSize ? rows : Array.from(rng.sampleIndices(rows.length, options.subsampleSize), (i) => rows[i] as readonly number[]);
    ref = take(ref);
    cur = take(cur);
  }
  const n = ref.length;
  const m = cur.length;
  const total = n + m;
  if (n < 2 || m < 2) throw new RangeError(`MMD needs at least 2 rows per side, got ${n} and ${m}`);
  const d = (ref[0] ?? cur[0] ?? []).length;

  // Pooled standardization; constant columns carry no information and would divide by zero.
  const mean = new Float64Array(d);
  const sd = new Float64Array(d);
  const rowAt = (i: number): readonly number[] => (i < n ? (ref[i] as readonly number[]) : (cur[i - n] as readonly number[]));
  for (let i = 0; i < total; i++) {
    const r = rowAt(i);
    for (let c = 0; c < d; c++) mean[c] = (mean[c] as number) + (r[c] as number);
  }
  for (let c = 0; c < d; c++) mean[c] = (mean[c] as number) / total;
  for (let i = 0; i < total; i++) {
    const r = rowAt(i);
    for (let c = 0; c < d; c++) {
      const dv = (r[c] as number) - (mean[c] as number);
      sd[c] = (sd[c] as number) + dv * dv;
    }
  }
  const used: number[] = [];
  const constantColumns: number[] = [];
  for (let c = 0; c < d; c++) {
    const s = Math.sqrt((sd[c] as number) / total);
    sd[c] = s;
    // Relative threshold: float noise around a large constant must not count as variation.
    if (s > 1e-12 * Math.max(1, Math.abs(mean[c] as number))) used.push(c);
    else constantColumns.push(c);
  }
  if (used.length === 0) throw new DegenerateSampleError('every column is constant over both windows');
  const du = used.length;
  const z = new Float64Array(total * du);
  for (let i = 0; i < total; i++) {
    const r = rowAt(i);
    for (let u = 0; u < du; u++) {
      const c = used[u] as number;
      z[i * du + u] = ((r[c] as number) - (mean[c] as number)) / (sd[c] as number);
    }
  }

  // Upper triangle of squared distances, then the median heuristic, then the kernel in place.
  const kmat = new Float64Array(total * total);
  const pairs = new Float64Array((total * (total - 1)) / 2);
  let p = 0;
  for (let i = 0; i < total; i++) {
    const oi = i * du;
    for (let j = i + 1; j < total; j++) {
      const oj = j * du;
      let s = 0;
      for (let u = 0; u < du; u++) {
        const diff = (z[oi + u] as number) - (z[oj + u] as number);
        s += diff * diff;
      }
      kmat[i * total + j] = s;
      pairs[p++] = s;
    }
  }
  let bandwidth2 = median(pairs);
  if (!(bandwidth2 > 0)) {
    // Over half the pairs coincide (heavily duplicated rows): fall back to the mean distance.
    let sum = 0;
    for (let q = 0; q < pairs.length; q++) sum += pairs[q] as number;
    bandwidth2 = sum / pairs.length;
    if (!(bandwidth2 > 0)) throw new DegenerateSampleError('all rows are identical over both windows');
  }
  const scale = -1 / (2 * bandwidth2);
  const rowSum = new Float64Array(total);
  let sumOff = 0;
  for (let i = 0; i < total; i++) {
    for (let j = i + 1; j < total; j++) {
      const k = Math.exp((kmat[i * total + j] as number) * scale);
      kmat[i * total + j] = k;
      rowSum[i] = (rowSum[i] as number) + k;
      rowSum[j] = (rowSum[j] as number) + k;
    }
  }
  for (let i = 0; i < total; i++) sumOff += rowSum[i] as number;

  // A = the smaller side; the statistic is symmetric in the two sides.
  const nA = Math.min(n, m);
  const nB = total - nA;
  const members = new Int32Array(nA);
  const statFor = (): number => {
    let sAA = 0;
    let rA = 0;
    for (let a = 0; a < nA; a++) {
      const ia = members[a] as number;
      rA += rowSum[ia] as number;
      const base = ia * total;
      for (let b = a + 1; b < nA; b++) sAA += kmat[base + (members[b] as number)] as number;
    }
    const within = 2 * sAA;
    const cross = rA - within;
    const otherWithin = sumOff - within - 2 * cross;
    return within / (nA * (nA - 1)) + otherWithin / (nB * (nB - 1)) - (2 * cross) / (nA * nB);
  };

  const offsetA = n <= m ? 0 : n;
  for (let a = 0; a < nA; a++) members[a] = offsetA + a;
  const observed = statFor();

  const pool = new Int32Array(total);
  for (let i = 0; i < total; i++) pool[i] = i;
  const mask = new Uint8Array(total);
  let exceed = 0;
  // Permuted statistics that equal the observed one up to rounding must count as ≥.
  const threshold = observed - 1e-12 * Math.max(1, Math.abs(observed));
  for (let b = 0; b < options.permutations; b++) {
    rng.partialShuffle(pool, nA);
    mask.fill(0);
    for (let a = 0; a < nA; a++) mask[pool[a] as number] = 1;
    // Increasing order keeps every read in the upper triangle and the reads near-sequential.
    let w = 0;
    for (let i = 0; i < total; i++) if (mask[i] === 1) members[w++] = i;
    if (statFor() >= threshold) exceed++;
  }
  return {
    statistic: observed,
    effect: Math.sqrt(Math.max(0, observed)),
    pValue: (exceed + 1) / (options.permutations + 1),
    exceedances: exceed,
    permutations: options.permutations,
    method,
    bandwidth2,
    constantColumns,
    rowsUsed: { reference: n, current: m },
  };
}

/** Median of a Float64Array (reorders it). */
function median(values: Float64Array): number {
  const len = values.length;
  if (len === 0) return NaN;
  const hi = select(values, len >> 1);
  if (len % 2 === 1) return hi;
  // The lower middle is the largest value left of the upper middle after selection.
  let lo = -Infinity;
  for (let i = 0; i < len >> 1; i++) if ((values[i] as number) > lo) lo = values[i] as number;
  return (lo + hi) / 2;
}

/** Quickselect (Hoare partition, median-of-three pivot): k-th smallest, partially sorting `a`. */
function select(a: Float64Array, k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    const mid = (left + right) >> 1;
    const x = a[left] as number;
    const y = a[mid] as number;
    const zz = a[right] as number;
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), zz));
    let i = left;
    let j = right;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k] as number;
  }
  return a[k] as number;
}
