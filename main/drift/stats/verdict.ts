/**
 * From p-values and effect sizes to verdicts: Bonferroni, effect floors and severity.
 *
 * A group is drifted when p_adjusted < α AND effect ≥ the floor of its effect size. The floors
 * exist because with very large windows every p-value becomes tiny; the effect size answers
 * "is the change big enough to care". Severity of a drifted group comes from the effect band:
 *
 * | effect (test)          | floor (LOW from) | MEDIUM from | HIGH from | rough meaning                              |
 * |------------------------|------------------|-------------|-----------|--------------------------------------------|
 * | MMD = √MMD²_u (mmd)    | 0.02             | 0.05        | 0.10      | ≈ 0.55 × RMS per-feature mean shift in σ   |
 * | PSI (ks)               | 0.05             | 0.10        | 0.25      | 0.1 / 0.25: the usual "moderate"/"major"   |
 * | Cramér's V (chi2, g)   | 0.05             | 0.10        | 0.30      | Cohen: 0.1 small, 0.3 medium               |
 *
 * then lowered by one level (never below LOW) when the evidence is borderline:
 * p_adjusted ≥ α / 2. Not drifted → NONE. The window's severity is the highest of its groups.
 * See main/drift/STATISTICS.md for the reasoning and the measured error rates.
 */
import type { DriftSeverity, DriftTestName } from './types.js';

export type EffectName = 'mmd' | 'psi' | 'cramers_v';

export interface EffectBands {
  /** Below this the group is never drifted (and has severity NONE). */
  readonly floor: number;
  readonly medium: number;
  readonly high: number;
}

/** Effect floors and severity bands per effect size (see the table above). */
export const EFFECT_BANDS: Readonly<Record<EffectName, EffectBands>> = {
  mmd: { floor: 0.02, medium: 0.05, high: 0.1 },
  psi: { floor: 0.05, medium: 0.1, high: 0.25 },
  cramers_v: { floor: 0.05, medium: 0.1, high: 0.3 },
};

/** The effect size each test reports. */
export function effectNameOf(test: DriftTestName): EffectName {
  switch (test) {
    case 'mmd':
      return 'mmd';
    case 'ks':
      return 'psi';
    case 'chi2':
    case 'g_test':
      return 'cramers_v';
  }
}

/** Bonferroni: min(1, p × G) for G tests. */
export function bonferroni(p: number, groupsTested: number): number {
  return Math.min(1, p * Math.max(1, groupsTested));
}

const ORDER: readonly DriftSeverity[] = ['NONE', 'LOW', 'MEDIUM', 'HIGH'];

/** Whether a tested group counts as drifted: adjusted p below α and effect at or above the floor. */
export function isDrifted(pAdjusted: number, effect: number, effectName: EffectName, alpha: number): boolean {
  return pAdjusted < alpha && effect >= EFFECT_BANDS[effectName].floor;
}

/** Severity of one tested group (cut-offs in the module comment). */
export function severityOf(pAdjusted: number, effect: number, effectName: EffectName, alpha: number): DriftSeverity {
  if (!isDrifted(pAdjusted, effect, effectName, alpha)) return 'NONE';
  const bands = EFFECT_BANDS[effectName];
  let level = effect >= bands.high ? 3 : effect >= bands.medium ? 2 : 1;
  if (pAdjusted >= alpha / 2) level = Math.max(1, level - 1);
  return ORDER[level] as DriftSeverity;
}

/** The highest of several severities (NONE for none). */
export function maxSeverity(severities: readonly DriftSeverity[]): DriftSeverity {
  let best = 0;
  for (const s of severities) best = Math.max(best, ORDER.indexOf(s));
  return ORDER[best] as DriftSeverity;
}
