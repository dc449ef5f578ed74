/**
 * Two versions side by side: stage, target, created, and every lineage and artifact field, with
 * the rows that differ marked, so "what changed between v2 and v3" is one look.
 */
import type { ReactNode } from 'react';
import type { VersionView } from '../../../preload/contract';
import { formatTime } from '../domain/format';

interface Row {
  readonly label: string;
  readonly a: string;
  readonly b: string;
}

function show(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The compared rows, fixed fields first, then the union of lineage and artifact keys. */
export function compareRows(a: VersionView, b: VersionView): Row[] {
  const rows: Row[] = [
    { label: 'stage', a: a.stage, b: b.stage },
    { label: 'type', a: a.type, b: b.type },
    { label: 'target', a: a.target, b: b.target },
    { label: 'created', a: formatTime(a.created_at), b: formatTime(b.created_at) },
  ];
  for (const [group, ra, rb] of [['lineage', a.lineage, b.lineage], ['artifacts', a.artifacts, b.artifacts]] as const) {
    const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort();
    for (const k of keys) rows.push({ label: `${group}.${k}`, a: show(ra[k]), b: show(rb[k]) });
  }
  return rows;
}

export function CompareVersions({ a, b, onClose }: { readonly a: VersionView; readonly b: VersionView; readonly onClose: () => void }): ReactNode {
  const rows = compareRows(a, b);
  return (
    <section className="card" aria-labelledby="compare-title">
      <div className="row between">
        <h2 id="compare-title">
          Compare {a.version} and {b.version}
        </h2>
        <button type="button" onClick={onClose}>
          Close comparison
        </button>
      </div>
      <div className="table-wrap">
        <table className="compact">
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">{a.version}</th>
              <th scope="col">{b.version}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.label} className={r.a === r.b ? undefined : 'differs'}>
                <th scope="row">
                  {r.label}
                  {r.a === r.b ? null : <span className="sr-only"> (differs)</span>}
                </th>
                <td>
                  <code className="wrap">{r.a}</code>
                </td>
                <td>
                  <code className="wrap">{r.b}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
