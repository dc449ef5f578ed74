/**
 * Drift statistics: two-sample tests, effect sizes and the window verdict.
 * Entry point `compareWindows`; the data contract is in ./types.ts.
 */
export * from './types.js';
export { compareWindows, DEFAULT_COMPARE_OPTIONS, MIN_ROWS } from './compare-windows.js';
export { ksTwoSample, KS_EXACT_LIMIT, type KsResult } from './ks.js';
export { buildTable, contingencyTest, MIN_EXPECTED, OTHER_CELL, type ContingencyResult, type ContingencyTable } from './contingency.js';
export { mmdPermutationTest, DegenerateSampleError, type MmdOptions, type MmdResult } from './mmd.js';
export { psiScalar, psiFromFractions, PSI_BINS, PSI_EPSILON } from './psi.js';
export { Rng, hashString } from './rng.js';
export { chi2Sf, gammaP, gammaQ, kolmogorovSf, logGamma } from './special.js';
export { bonferroni, EFFECT_BANDS, effectNameOf, isDrifted, maxSeverity, severityOf, type EffectBands, type EffectName } from './verdict.js';
