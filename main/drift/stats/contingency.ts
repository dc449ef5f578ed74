/**
 * Chi-squared and G-test for two samples of categories (a 2×K contingency table).
 *
 * Categories whose smallest expected count (min over the two windows of row total × column
 * total / N) is below `MIN_EXPECTED` are merged into one "other" cell, smallest first; if the
 * "other" cell itself is still below the minimum, the next-smallest category joins it. The test
 * then has K' − 1 degrees of freedom for the K' cells left. No Yates correction (it is only
 * defined for 1 degree of freedom and makes the test conservative); this matches
 * `scipy.stats.chi2_contingency(table, correction=False)` on the merged table.
 */
import { chi2Sf } from './special.js';

/** Smallest expected count a cell may have before it is merged into "other". */
export const MIN_EXPECTED = 5;
/** Name of the merged cell. */
export const OTHER_CELL = '__other__';

export interface ContingencyTable {
  /** Cell names (categories; `OTHER_CELL` for the merged one). */
  readonly cells: readonly string[];
  readonly reference: readonly number[];
  readonly current: readonly number[];
  /** Categories that were merged into `OTHER_CELL`. */
  readonly merged: readonly string[];
}

export interface ContingencyResult {
  readonly statistic: number;
  readonly df: number;
  readonly pValue: number;
  /** Cramér's V from the chi-squared statistic: √(χ² / (N · (min(2, K') − 1))). */
  readonly cramersV: number;
  readonly table: ContingencyTable;
}

/** Counts per category of both windows, with small cells merged as described above. */
export function buildTable(reference: readonly string[], current: readonly string[]): ContingencyTable {
  const counts = new Map<string, [number, number]>();
  for (const c of reference) {
    const e = counts.get(c) ?? [0, 0];
    e[0]++;
    counts.set(c, e);
  }
  for (const c of current) {
    const e = counts.get(c) ?? [0, 0];
    e[1]++;
    counts.set(c, e);
  }
  const n = reference.length;
  const m = current.length;
  const total = n + m;
  const minRow = Math.min(n, m);
  const minExpected = (colTotal: number): number => (minRow * colTotal) / total;
  // Smallest column first; ties broken by name so the table never depends on input order.
  const cats = [...counts.entries()].sort((a, b) => a[1][0] + a[1][1] - (b[1][0] + b[1][1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: string[] = [];
  const other: [number, number] = [0, 0];
  let next = 0;
  while (next < cats.length) {
    const entry = cats[next] as [string, [number, number]];
    const small = minExpected(entry[1][0] + entry[1][1]) < MIN_EXPECTED;
    const otherShort = merged.length > 0 && minExpected(other[0] + other[1]) < MIN_EXPECTED;
    if (!small && !otherShort) break;
    merged.push(entry[0]);
    other[0] += entry[1][0];
    other[1] += entry[1][1];
    next++;
  }
  const kept = cats.slice(next).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const cells = kept.map((c) => c[0]);
  const ref = kept.map((c) => c[1][0]);
  const cur = kept.map((c) => c[1][1]);
  if (merged.length > 0) {
    cells.push(OTHER_CELL);
    ref.push(other[0]);
    cur.push(other[1]);
  }
  return { cells, reference: ref, current: cur, merged: merged.sort() };
}

/**
 * Pearson chi-squared ('chi2') or likelihood-ratio G ('g_test') test on a 2×K table.
 *
 * Needs at least two cells and two non-empty rows; the caller skips the group otherwise.
 */
export function contingencyTest(table: ContingencyTable, test: 'chi2' | 'g_test'): ContingencyResult {
  const k = table.cells.length;
  if (k < 2) throw new RangeError('contingencyTest needs at least two cells');
  const n = table.reference.reduce((a, b) => a + b, 0);
  const m = table.current.reduce((a, b) => a + b, 0);
  const total = n + m;
  let chi2 = 0;
  let g = 0;
  for (let c = 0; c < k; c++) {
    const col = (table.reference[c] as number) + (table.current[c] as number);
    for (const [obs, row] of [
      [table.reference[c] as number, n],
      [table.current[c] as number, m],
    ] as const) {
      const exp = (row * col) / total;
      chi2 += ((obs - exp) * (obs - exp)) / exp;
      if (obs > 0) g += 2 * obs * Math.log(obs / exp);
    }
  }
  const df = k - 1;
  const statistic = test === 'chi2' ? chi2 : g;
  return {
    statistic,
    df,
    pValue: chi2Sf(statistic, df),
    cramersV: Math.sqrt(chi2 / (total * (Math.min(2, k) - 1))),
    table,
  };
}
