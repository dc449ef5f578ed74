/**
 * Special functions the tests need: log-gamma, the regularized incomplete gamma function (for the
 * chi-squared survival function) and the Kolmogorov limiting distribution.
 *
 * Hand-written to avoid a numeric dependency; accuracy is ~1e-14 relative in the ranges used
 * (checked against scipy in test/unit/drift/stats-special.test.ts).
 */

const LANCZOS_G = 7;
const LANCZOS_COEF = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma needs x > 0, got ${x}`);
  if (x < 0.5) {
    // Reflection keeps the approximation in its accurate range.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const xm = x - 1;
  let a = LANCZOS_COEF[0] as number;
  const t = xm + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS_G + 2; i++) a += (LANCZOS_COEF[i] as number) / (xm + i);
  return 0.5 * Math.log(2 * Math.PI) + (xm + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-16;
const MAX_ITER = 10_000;

/** Series for P(a, x), converges fast for x < a + 1. */
function gammaPSeries(a: number, x: number): number {
  let sum = 1 / a;
  let term = sum;
  let ap = a;
  for (let n = 0; n < MAX_ITER; n++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Continued fraction for Q(a, x) (modified Lentz), converges fast for x ≥ a + 1. */
function gammaQContinuedFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0)) throw new RangeError(`gammaQ needs a > 0, got ${a}`);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQContinuedFraction(a, x);
}

/** Regularized lower incomplete gamma P(a, x). */
export function gammaP(a: number, x: number): number {
  if (!(a > 0)) throw new RangeError(`gammaP needs a > 0, got ${a}`);
  if (x <= 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaPSeries(a, x) : 1 - gammaQContinuedFraction(a, x);
}

/** Survival function of the chi-squared distribution: P(X ≥ x) for X ~ χ²(df). */
export function chi2Sf(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`chi2Sf needs df > 0, got ${df}`);
  return gammaQ(df / 2, x / 2);
}

/**
 * Survival function of the Kolmogorov distribution, Q(λ) = P(K ≥ λ) = 2 Σ (−1)^{k−1} e^{−2k²λ²}.
 *
 * For small λ the alternating series converges slowly, so the Jacobi-theta form of the CDF
 * (√(2π)/λ Σ e^{−(2k−1)²π²/(8λ²)}) is used there instead.
 */
export function kolmogorovSf(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1.18) {
    const f = -(Math.PI * Math.PI) / (8 * lambda * lambda);
    let cdf = 0;
    for (let k = 1; k < 100; k++) {
      const term = Math.exp(f * (2 * k - 1) * (2 * k - 1));
      cdf += term;
      if (term < 1e-17 * cdf) break;
    }
    cdf *= Math.sqrt(2 * Math.PI) / lambda;
    return Math.min(1, Math.max(0, 1 - cdf));
  }
  let sum = 0;
  for (let k = 1; k < 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += k % 2 === 1 ? term : -term;
    if (term < 1e-17 * Math.abs(sum)) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}
