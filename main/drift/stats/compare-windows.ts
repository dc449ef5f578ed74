/**
 * `compareWindows`: the whole drift check of one window against the reference.
 *
 * Each group gets the test of its kind (numeric → MMD permutation test, scalar → exact KS with
 * PSI, categorical → chi-squared or G with Cramér's V), p-values are Bonferroni-adjusted over the
 * groups actually tested, and the verdict needs adjusted p < α and an effect above its floor
 * (verdict.ts). Groups that cannot be tested are returned with `skipped_reason`, never dropped.
 * Pure and synchronous; callers run it off the request path (a worker).
 */
import { buildTable, contingencyTest } from './contingency.js';
import { ksTwoSample } from './ks.js';
import { DegenerateSampleError, mmdPermutationTest } from './mmd.js';
import { psiScalar } from './psi.js';
import { hashString, Rng } from './rng.js';
import type {
  CategoricalGroupSamples,
  CompareOptions,
  DriftResult,
  DriftTestName,
  GroupResult,
  GroupSamples,
  NumericGroupSamples,
  ScalarGroupSamples,
} from './types.js';
import { bonferroni, effectNameOf, isDrifted, maxSeverity, severityOf } from './verdict.js';

/** Defaults of every option (config keys drift_alpha / drift_permutations map onto these). */
export const DEFAULT_COMPARE_OPTIONS = {
  alpha: 0.05,
  permutations: 500,
  seed: 0,
  categoricalTest: 'chi2',
  mmdMaxPooled: 1000,
  mmdSubsampleSize: 500,
} as const;

/** Fewer rows than this in either window → the group is skipped ('too few rows'). */
export const MIN_ROWS = 10;

/** A group that passed its test, before adjustment. */
interface Tested {
  readonly kind: 'tested';
  readonly pValue: number;
  readonly effect: number;
  readonly statistic: number;
  readonly method: string;
  readonly df?: number;
  readonly permutations?: number;
  readonly notes?: readonly string[];
}

interface Skipped {
  readonly kind: 'skipped';
  readonly reason: string;
  readonly notes?: readonly string[];
}

type Outcome = Tested | Skipped;

const testFor = (kind: GroupSamples['kind'], categoricalTest: 'chi2' | 'g_test'): DriftTestName =>
  kind === 'numeric' ? 'mmd' : kind === 'scalar' ? 'ks' : categoricalTest;

/**
 * Compares a current window with the reference, group by group, and returns the verdict.
 *
 * Groups are matched by name; a group present in only one window is reported as skipped.
 * Same inputs and seed → same result (the permutation stream of each group is seeded from the
 * seed and the group's name, so adding or reordering groups does not change the others).
 */
export function compareWindows(
  reference: readonly GroupSamples[],
  current: readonly GroupSamples[],
  options: CompareOptions = {},
): DriftResult {
  const alpha = options.alpha ?? DEFAULT_COMPARE_OPTIONS.alpha;
  const permutations = options.permutations ?? DEFAULT_COMPARE_OPTIONS.permutations;
  const seed = options.seed ?? DEFAULT_COMPARE_OPTIONS.seed;
  const categoricalTest = options.categoricalTest ?? DEFAULT_COMPARE_OPTIONS.categoricalTest;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (!Number.isInteger(permutations) || permutations < 1) throw new RangeError(`permutations must be a positive integer, got ${permutations}`);
  const mmdMaxPooled = options.mmdMaxPooled ?? DEFAULT_COMPARE_OPTIONS.mmdMaxPooled;
  const mmdSubsampleSize = options.mmdSubsampleSize ?? DEFAULT_COMPARE_OPTIONS.mmdSubsampleSize;

  for (const [label, groups] of [
    ['reference', reference],
    ['current', current],
  ] as const) {
    const seen = new Set<string>();
    for (const g of groups) {
      // Feature code must name groups uniquely; two groups with one name cannot be matched.
      if (seen.has(g.name)) throw new RangeError(`duplicate group name ${JSON.stringify(g.name)} in the ${label} window`);
      seen.add(g.name);
    }
  }
  const currentByName = new Map(current.map((g) => [g.name, g] as const));
  const referenceNames = new Set(reference.map((g) => g.name));
  const pairs: { name: string; test: DriftTestName; nRef: number; nCur: number; outcome: Outcome }[] = [];
  for (const ref of reference) {
    const cur = currentByName.get(ref.name);
    const test = testFor(ref.kind, categoricalTest);
    if (cur === undefined) {
      pairs.push({ name: ref.name, test, nRef: ref.rows.length, nCur: 0, outcome: { kind: 'skipped', reason: 'group missing from the current window' } });
      continue;
    }
    const rng = new Rng(hashString(`${seed}\u0000${ref.name}`));
    pairs.push({
      name: ref.name,
      test,
      nRef: ref.rows.length,
      nCur: cur.rows.length,
      outcome: runGroup(ref, cur, { permutations, rng, categoricalTest, mmdMaxPooled, mmdSubsampleSize }),
    });
  }
  for (const cur of current) {
    if (referenceNames.has(cur.name)) continue;
    pairs.push({
      name: cur.name,
      test: testFor(cur.kind, categoricalTest),
      nRef: 0,
      nCur: cur.rows.length,
      outcome: { kind: 'skipped', reason: 'group missing from the reference window' },
    });
  }

  const groupsTested = pairs.filter((p) => p.outcome.kind === 'tested').length;
  const groups: GroupResult[] = pairs.map(({ name, test, nRef, nCur, outcome }) => {
    const effectName = effectNameOf(test);
    if (outcome.kind === 'skipped') {
      return {
        name,
        test,
        p_value: null,
        p_adjusted: null,
        effect: null,
        drifted: false,
        severity: 'NONE',
        skipped_reason: outcome.reason,
        effect_name: effectName,
        statistic: null,
        method: null,
        n_reference: nRef,
        n_current: nCur,
        ...(outcome.notes ? { notes: outcome.notes } : {}),
      };
    }
    const pAdjusted = bonferroni(outcome.pValue, groupsTested);
    return {
      name,
      test,
      p_value: outcome.pValue,
      p_adjusted: pAdjusted,
      effect: outcome.effect,
      drifted: isDrifted(pAdjusted, outcome.effect, effectName, alpha),
      severity: severityOf(pAdjusted, outcome.effect, effectName, alpha),
      effect_name: effectName,
      statistic: outcome.statistic,
      method: outcome.method,
      n_reference: nRef,
      n_current: nCur,
      ...(outcome.df !== undefined ? { df: outcome.df } : {}),
      ...(outcome.permutations !== undefined ? { permutations: outcome.permutations } : {}),
      ...(outcome.notes ? { notes: outcome.notes } : {}),
    };
  });
  const window = options.window ?? {
    reference: Math.max(0, ...pairs.map((p) => p.nRef)),
    current: Math.max(0, ...pairs.map((p) => p.nCur)),
  };
  return {
    drifted: groups.some((g) => g.drifted),
    severity: maxSeverity(groups.map((g) => g.severity)),
    window: { reference: window.reference, current: window.current },
    alpha,
    groups,
  };
}

interface GroupRunOptions {
  readonly permutations: number;
  readonly rng: Rng;
  readonly categoricalTest: 'chi2' | 'g_test';
  readonly mmdMaxPooled: number;
  readonly mmdSubsampleSize: number;
}

function runGroup(ref: GroupSamples, cur: GroupSamples, o: GroupRunOptions): Outcome {
  if (ref.kind !== cur.kind) return skip(`kind changed: ${ref.kind} in the reference window, ${cur.kind} in the current one`);
  if (ref.rows.length < MIN_ROWS || cur.rows.length < MIN_ROWS) {
    return skip(`too few rows (reference ${ref.rows.length}, current ${cur.rows.length}; need ≥ ${MIN_ROWS} each)`);
  }
  switch (ref.kind) {
    case 'numeric':
      return runNumeric(ref, cur as NumericGroupSamples, o);
    case 'scalar':
      return runScalar(ref, cur as ScalarGroupSamples);
    case 'categorical':
      return runCategorical(ref, cur as CategoricalGroupSamples, o.categoricalTest);
  }
}

const skip = (reason: string, notes?: readonly string[]): Skipped => (notes && notes.length > 0 ? { kind: 'skipped', reason, notes } : { kind: 'skipped', reason });

function countNonFinite(values: ArrayLike<number>): number {
  let bad = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
  return bad;
}

function nonFiniteReason(badRef: number, badCur: number): string | null {
  if (badRef === 0 && badCur === 0) return null;
  return `NaN/Inf values present (reference ${badRef}, current ${badCur})`;
}

function runNumeric(ref: NumericGroupSamples, cur: NumericGroupSamples, o: GroupRunOptions): Outcome {
  const d = ref.rows[0]?.length ?? 0;
  if (d === 0) return skip('rows have no columns');
  const ragged = (rows: readonly (readonly number[])[]): boolean => rows.some((r) => r.length !== d);
  if (ragged(ref.rows) || ragged(cur.rows)) return skip(`column count differs between rows (expected ${d} everywhere)`);
  const bad = nonFiniteReason(
    ref.rows.reduce((s, r) => s + countNonFinite(r), 0),
    cur.rows.reduce((s, r) => s + countNonFinite(r), 0),
  );
  if (bad) return skip(bad);
  const columnName = (c: number): string => ref.featureNames?.[c] ?? `column ${c}`;
  const notes: string[] = [];
  // A column constant in exactly one window changed type; MMD still sees it, but say so.
  for (let c = 0; c < d; c++) {
    const constRef = isConstant(ref.rows, c);
    const constCur = isConstant(cur.rows, c);
    if (constRef !== constCur) notes.push(`${columnName(c)} is constant in the ${constRef ? 'reference' : 'current'} window only`);
  }
  try {
    const r = mmdPermutationTest(ref.rows, cur.rows, { permutations: o.permutations, rng: o.rng, maxPooled: o.mmdMaxPooled, subsampleSize: o.mmdSubsampleSize });
    if (r.constantColumns.length > 0) notes.push(`excluded as constant in both windows: ${r.constantColumns.map(columnName).join(', ')}`);
    if (r.method === 'permutation_subsample') notes.push(`subsampled to ${r.rowsUsed.reference} + ${r.rowsUsed.current} rows`);
    return {
      kind: 'tested',
      pValue: r.pValue,
      effect: r.effect,
      statistic: r.statistic,
      method: r.method,
      permutations: r.permutations,
      ...(notes.length > 0 ? { notes } : {}),
    };
  } catch (err) {
    if (err instanceof DegenerateSampleError) return skip(`constant: ${err.message}`, notes);
    throw err;
  }
}

function isConstant(rows: readonly (readonly number[])[], c: number): boolean {
  const first = rows[0]?.[c];
  return rows.every((r) => r[c] === first);
}

/** How a scalar sample looks: continuous (almost all values distinct) or discrete (few values). */
function valueShape(values: readonly number[]): 'constant' | 'continuous' | 'discrete' | 'mixed' {
  const distinct = new Set(values).size;
  if (distinct === 1) return 'constant';
  if (distinct >= 0.9 * values.length) return 'continuous';
  if (distinct <= 0.2 * values.length) return 'discrete';
  return 'mixed';
}

/** Row count from which a continuous ↔ discrete flip is judged (fewer rows repeat values rarely). */
const SHAPE_MIN_ROWS = 20;

function runScalar(ref: ScalarGroupSamples, cur: ScalarGroupSamples): Outcome {
  const bad = nonFiniteReason(countNonFinite(ref.rows), countNonFinite(cur.rows));
  if (bad) return skip(bad);
  const shapeRef = valueShape(ref.rows);
  const shapeCur = valueShape(cur.rows);
  if (shapeRef === 'constant' && shapeCur === 'constant' && ref.rows[0] === cur.rows[0]) return skip(`constant: every value is ${ref.rows[0]} in both windows`);
  if (shapeRef === 'constant' || shapeCur === 'constant') {
    const which = shapeRef === 'constant' && shapeCur === 'constant' ? 'both windows (different values)' : shapeRef === 'constant' ? 'the reference window only' : 'the current window only';
    return skip(`type changed: constant in ${which}`);
  }
  if (ref.rows.length >= SHAPE_MIN_ROWS && cur.rows.length >= SHAPE_MIN_ROWS) {
    if ((shapeRef === 'continuous' && shapeCur === 'discrete') || (shapeRef === 'discrete' && shapeCur === 'continuous')) {
      return skip(`type changed: continuous in the ${shapeRef === 'continuous' ? 'reference' : 'current'} window, rounded/discrete in the ${shapeRef === 'continuous' ? 'current' : 'reference'} one`);
    }
  }
  const ks = ksTwoSample(ref.rows, cur.rows);
  return { kind: 'tested', pValue: ks.pValue, effect: psiScalar(ref.rows, cur.rows), statistic: ks.statistic, method: ks.method };
}

function runCategorical(ref: CategoricalGroupSamples, cur: CategoricalGroupSamples, test: 'chi2' | 'g_test'): Outcome {
  const categories = new Set([...ref.rows, ...cur.rows]);
  if (categories.size < 2) return skip(`constant: only the category ${JSON.stringify([...categories][0])} occurs`);
  const table = buildTable(ref.rows, cur.rows);
  const notes = table.merged.length > 0 ? [`merged into "other" (expected count < 5): ${table.merged.join(', ')}`] : [];
  if (table.cells.length < 2) return skip('fewer than two cells with an expected count ≥ 5 after merging', notes);
  const r = contingencyTest(table, test);
  return {
    kind: 'tested',
    pValue: r.pValue,
    effect: r.cramersV,
    statistic: r.statistic,
    method: 'asymptotic',
    df: r.df,
    ...(notes.length > 0 ? { notes } : {}),
  };
}
