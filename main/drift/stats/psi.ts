/**
 * Population stability index, the effect size reported next to KS (and usable for categories).
 *
 * PSI = Σ (c_k − r_k) · ln(c_k / r_k) over bins k, with r/c the reference/current fractions.
 * Scalar bins are the reference deciles (right-closed, duplicate edges merged, so discrete
 * features get one bin per value); an empty bin counts as `PSI_EPSILON` so the log stays finite.
 * PSI is biased upwards at small n (about (K−1)(1/n + 1/m) under no change), which is one reason
 * the verdict also needs a p-value.
 */

/** Fraction given to an empty bin. */
export const PSI_EPSILON = 1e-4;
/** Quantile bins of the reference. */
export const PSI_BINS = 10;

/** PSI of two fraction vectors of equal length. */
export function psiFromFractions(ref: readonly number[], cur: readonly number[]): number {
  let psi = 0;
  for (let k = 0; k < ref.length; k++) {
    const r = Math.max(ref[k] as number, PSI_EPSILON);
    const c = Math.max(cur[k] as number, PSI_EPSILON);
    psi += (c - r) * Math.log(c / r);
  }
  return psi;
}

/** PSI of a scalar feature over the reference's quantile bins. Inputs must be finite. */
export function psiScalar(reference: readonly number[], current: readonly number[], bins = PSI_BINS): number {
  const ref = Float64Array.from(reference).sort();
  const n = ref.length;
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = ref[Math.min(n - 1, Math.max(0, Math.ceil((k * n) / bins) - 1))] as number;
    if (edges.length === 0 || e > (edges[edges.length - 1] as number)) edges.push(e);
  }
  const count = (values: ArrayLike<number>): number[] => {
    const c = new Array<number>(edges.length + 1).fill(0);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      // Binary search for the first edge ≥ v (right-closed bins).
      let lo = 0;
      let hi = edges.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((edges[mid] as number) < v) lo = mid + 1;
        else hi = mid;
      }
      c[lo] = (c[lo] as number) + 1;
    }
    return c.map((x) => x / values.length);
  };
  return psiFromFractions(count(ref), count(current));
}
