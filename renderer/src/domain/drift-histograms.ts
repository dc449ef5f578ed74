/**
 * Reference vs current histograms of a drift group, on shared bins (the HTML report's method):
 * numeric groups per feature column, scalar groups as one, categorical groups as shares per
 * category.
 */
import type { FeatureGroupView } from '../../../preload/contract';

export const DRIFT_BINS = 20;
/** Features drawn per numeric group at most (a latent group may have 128 columns). */
export const MAX_FEATURES = 6;

/** Two densities on shared bins, each summing to 1 (or all zero with no values). */
export interface HistogramPair {
  readonly feature: string;
  readonly lo: number;
  readonly hi: number;
  readonly reference: readonly number[];
  readonly current: readonly number[];
}

export interface CategoryShares {
  readonly feature: string;
  readonly rows: readonly { readonly category: string; readonly reference: number; readonly current: number }[];
}

function column(g: FeatureGroupView, j: number): number[] {
  if (g.kind === 'numeric') return g.rows.map((r) => (Array.isArray(r) ? Number(r[j]) : NaN)).filter(Number.isFinite);
  if (g.kind === 'scalar') return g.rows.map(Number).filter(Number.isFinite);
  return [];
}

/** Two value lists on `bins` shared bins. */
export function histogramPair(feature: string, ref: readonly number[], cur: readonly number[], bins = DRIFT_BINS): HistogramPair {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of [...ref, ...cur]) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return { feature, lo: 0, hi: 0, reference: new Array<number>(bins).fill(0), current: new Array<number>(bins).fill(0) };
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const density = (xs: readonly number[]): number[] => {
    const h = new Array<number>(bins).fill(0);
    for (const x of xs) {
      const b = Math.min(bins - 1, Math.max(0, Math.floor(((x - lo) / (hi - lo)) * bins)));
      h[b] = (h[b] ?? 0) + 1;
    }
    return xs.length > 0 ? h.map((c) => c / xs.length) : h;
  };
  return { feature, lo, hi, reference: density(ref), current: density(cur) };
}

/** The histograms of one group (null current: only the reference is drawn). */
export function groupHistograms(ref: FeatureGroupView, cur: FeatureGroupView | null): HistogramPair[] | CategoryShares {
  if (ref.kind === 'categorical') {
    const count = (rows: readonly unknown[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const r of rows) m.set(String(r), (m.get(String(r)) ?? 0) + 1);
      return m;
    };
    const a = count(ref.rows);
    const curRows = cur?.kind === 'categorical' ? cur.rows : [];
    const b = count(curRows);
    const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
    return {
      feature: ref.name,
      rows: keys.map((k) => ({ category: k, reference: ref.rows.length ? (a.get(k) ?? 0) / ref.rows.length : 0, current: curRows.length ? (b.get(k) ?? 0) / curRows.length : 0 })),
    };
  }
  const width = ref.kind === 'numeric' ? (Array.isArray(ref.rows[0]) ? (ref.rows[0] as unknown[]).length : 0) : 1;
  const names = ref.kind === 'numeric' ? (ref.featureNames ? [...ref.featureNames] : Array.from({ length: width }, (_, i) => `${ref.name}[${i}]`)) : [ref.name];
  const same = cur && cur.kind === ref.kind ? cur : null;
  return names.slice(0, MAX_FEATURES).map((f, j) => histogramPair(f, column(ref, j), same ? column(same, j) : []));
}
