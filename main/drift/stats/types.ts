/**
 * The contract between feature extraction (main/drift/*) and the statistics (main/drift/stats/*).
 *
 * Feature code hands over one `GroupSamples` per feature group and window; `compareWindows`
 * returns a `DriftResult`, which is also the JSON of `shift compare --json`, `shift status --json`
 * and the `drift_check` event (issue 10 fixes those keys). Groups are matched by `name` between
 * the reference and the current window.
 */

/** Test families, one per group kind. `kind` decides the test; `categoricalTest` picks chi2 vs G. */
export type DriftTestName = 'mmd' | 'ks' | 'chi2' | 'g_test';

/** Ordered levels; NONE whenever the group (or window) is not drifted. */
export type DriftSeverity = 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';

/**
 * Multivariate numeric group: one row per sample, every row the same length (D features).
 * Tested with RBF-kernel MMD and a permutation test. A D = 1 group is allowed (still MMD);
 * use `scalar` for a single feature that should get the exact KS test and PSI.
 */
export interface NumericGroupSamples {
  readonly name: string;
  readonly kind: 'numeric';
  readonly rows: readonly (readonly number[])[];
  /** Names of the D columns (optional; used in notes about excluded constant columns). */
  readonly featureNames?: readonly string[];
}

/** One scalar feature: exact two-sample KS, PSI as effect size. */
export interface ScalarGroupSamples {
  readonly name: string;
  readonly kind: 'scalar';
  readonly rows: readonly number[];
}

/** Categorical feature (class labels, etc.): chi-squared or G-test on the 2×K table. */
export interface CategoricalGroupSamples {
  readonly name: string;
  readonly kind: 'categorical';
  readonly rows: readonly string[];
}

/** One feature group of one window. */
export type GroupSamples = NumericGroupSamples | ScalarGroupSamples | CategoricalGroupSamples;

export type GroupKind = GroupSamples['kind'];

/** Options of `compareWindows`; every field has a default (see `DEFAULT_COMPARE_OPTIONS`). */
export interface CompareOptions {
  /** Family-wise significance level after Bonferroni (config `drift_alpha`, default 0.05). */
  readonly alpha?: number;
  /** Permutations of the MMD test (config `drift_permutations`, default 500). */
  readonly permutations?: number;
  /** Seed of permutations and subsamples; same inputs + same seed → same result (default 0). */
  readonly seed?: number;
  /** Test for categorical groups (default 'chi2'). */
  readonly categoricalTest?: 'chi2' | 'g_test';
  /** MMD: pooled sizes above this use a fixed-size random subsample per side (default 1000). */
  readonly mmdMaxPooled?: number;
  /** MMD: rows kept per side when subsampling (default 500). */
  readonly mmdSubsampleSize?: number;
  /** Override of the reported window sizes (default: the largest row count over groups). */
  readonly window?: { readonly reference: number; readonly current: number };
}

/** Result of one group. Numbers are null only when the group is skipped. */
export interface GroupResult {
  readonly name: string;
  readonly test: DriftTestName;
  /** Raw p-value of the group's test. */
  readonly p_value: number | null;
  /** Bonferroni-adjusted: min(1, p_value × G), G = number of groups actually tested. */
  readonly p_adjusted: number | null;
  /** Effect size: MMD (sqrt of unbiased MMD², clipped at 0) | PSI | Cramér's V — see effect_name. */
  readonly effect: number | null;
  readonly drifted: boolean;
  readonly severity: DriftSeverity;
  /** Present exactly when the group was not tested; says why (constant, NaN, too few rows …). */
  readonly skipped_reason?: string;
  /** Which effect size `effect` is. */
  readonly effect_name: 'mmd' | 'psi' | 'cramers_v';
  /** The test statistic (unbiased MMD², KS D, chi-squared or G). */
  readonly statistic: number | null;
  /** How p was obtained, e.g. 'permutation', 'permutation_subsample', 'exact', 'asymptotic'. */
  readonly method: string | null;
  /** Rows of this group in each window (before any subsampling). */
  readonly n_reference: number;
  readonly n_current: number;
  /** Degrees of freedom for chi2 / G after merging small cells. */
  readonly df?: number;
  /** Permutations used (MMD). */
  readonly permutations?: number;
  /** Non-fatal remarks: columns excluded as constant, cells merged into "other" … */
  readonly notes?: readonly string[];
}

/** The verdict for one window; JSON of `shift compare/status` and `drift_check` events. */
export interface DriftResult {
  readonly drifted: boolean;
  readonly severity: DriftSeverity;
  readonly window: { readonly reference: number; readonly current: number };
  readonly alpha: number;
  readonly groups: readonly GroupResult[];
}
