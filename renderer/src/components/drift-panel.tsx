/**
 * Drift: the last check's severity overall and per feature group (test, p-value, effect), the
 * reference and window fill, and per group the reference vs current histograms on shared bins
 * (reference as bars, current as a line), so a shift is visible as a picture.
 */
import { useEffect, useId, useMemo, useState, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { FeatureGroupView } from '../../../preload/contract';
import { groupHistograms, type CategoryShares, type HistogramPair } from '../domain/drift-histograms';
import { formatTime } from '../domain/format';
import { useStores } from '../stores/app-stores';

const W = 200;
const H = 60;

function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(3) : v.toExponential(1);
}

function Histogram({ pair }: { readonly pair: HistogramPair }): ReactNode {
  const top = Math.max(...pair.reference, ...pair.current, 1e-9);
  const bw = W / pair.reference.length;
  const line = pair.current.map((v, i) => `${(i * bw + bw / 2).toFixed(1)},${(H - (v / top) * H).toFixed(1)}`).join(' ');
  const hasCurrent = pair.current.some((v) => v > 0);
  return (
    <figure className="histogram">
      <svg width={W} height={H + 12} viewBox={`0 0 ${W} ${H + 12}`} role="img" aria-label={`${pair.feature}: reference (bars)${hasCurrent ? ' and current (line)' : ', no current window yet'}, from ${num(pair.lo)} to ${num(pair.hi)}`}>
        {pair.reference.map((v, i) => (
          <rect key={i} className="hist-ref" x={i * bw} y={H - (v / top) * H} width={Math.max(0.5, bw - 1)} height={(v / top) * H} />
        ))}
        {hasCurrent ? <polyline className="hist-cur" points={line} fill="none" strokeWidth={2} /> : null}
        <text className="hist-axis" x={0} y={H + 10} fontSize={9}>
          {num(pair.lo)}
        </text>
        <text className="hist-axis" x={W} y={H + 10} fontSize={9} textAnchor="end">
          {num(pair.hi)}
        </text>
      </svg>
      <figcaption>{pair.feature}</figcaption>
    </figure>
  );
}

function Shares({ shares }: { readonly shares: CategoryShares }): ReactNode {
  const pct = (v: number): string => `${(v * 100).toFixed(1)} %`;
  return (
    <table className="compact">
      <caption>{shares.feature}: share per category</caption>
      <thead>
        <tr>
          <th scope="col">category</th>
          <th scope="col">reference</th>
          <th scope="col">current</th>
        </tr>
      </thead>
      <tbody>
        {shares.rows.map((r) => (
          <tr key={r.category}>
            <th scope="row">{r.category}</th>
            <td>{pct(r.reference)}</td>
            <td>{pct(r.current)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function GroupFigures({ reference, current }: { readonly reference: FeatureGroupView; readonly current: FeatureGroupView | null }): ReactNode {
  const h = useMemo(() => groupHistograms(reference, current), [reference, current]);
  return <div className="histograms">{Array.isArray(h) ? h.map((p) => <Histogram key={p.feature} pair={p} />) : <Shares shares={h} />}</div>;
}

export function DriftPanel({ name, checkedAt }: { readonly name: string; readonly checkedAt: string | null }): ReactNode {
  const { drift } = useStores();
  const state = useStore(drift, (s) => s.byModel[name]);
  const [open, setOpen] = useState(false);
  const figuresId = useId();

  useEffect(() => {
    void drift.getState().load(name);
  }, [name, checkedAt, drift]);

  const status = state?.status ?? null;
  const last = status?.last ?? null;
  // Until the reference is complete, the rows gathered so far stand in for it (said so below).
  const filling = !state?.samples?.reference && status?.tracker?.reference_ready === false;
  const reference = state?.samples?.reference ?? (filling ? (state?.samples?.recent ?? null) : null);
  const current = state?.samples?.current ?? null;
  const curByName = new Map((current ?? []).map((g) => [g.name, g] as const));
  const t = status?.tracker ?? null;
  return (
    <section className="card" aria-labelledby="drift-title">
      <h2 id="drift-title">Drift</h2>
      {state?.error ? (
        <p role="alert" className="error">
          {state.error}
        </p>
      ) : null}
      {!status ? (
        <p className="muted">Loading drift state…</p>
      ) : !status.enabled ? (
        <p className="muted">Drift monitoring is off (deploy.drift_enabled).</p>
      ) : (
        <>
          <p>
            {last ? (
              <>
                <span className={`badge severity-${last.severity.toLowerCase()}`}>{last.drifted ? `drifted · ${last.severity}` : `no drift · ${last.severity}`}</span>{' '}
                <span className="muted">
                  last check {formatTime(last.ts)} on {last.version}, {last.consecutive} drifted window(s) in a row, {last.window.reference} reference vs {last.window.current} current rows
                </span>
              </>
            ) : (
              <span className="muted">No window checked yet.</span>
            )}
          </p>
          <p className="muted small-text">
            {t
              ? `Reference: ${t.reference_source}, ${t.reference_rows} rows${t.reference_ready ? '' : ' (still filling)'}; window ${t.window_rows}/${t.window_size} rows; ${t.windows_checked} window(s) checked; ${status.sampled} sampled, ${status.dropped} dropped.`
              : 'No sampled traffic yet.'}
          </p>
          {last && last.groups.length > 0 ? (
            <div className="table-wrap">
              <table className="compact">
                <caption>Severity per feature group</caption>
                <thead>
                  <tr>
                    <th scope="col">group</th>
                    <th scope="col">test</th>
                    <th scope="col">p (adjusted)</th>
                    <th scope="col">effect</th>
                    <th scope="col">severity</th>
                  </tr>
                </thead>
                <tbody>
                  {last.groups.map((g) => (
                    <tr key={g.name}>
                      <th scope="row">{g.name}</th>
                      <td>{g.test}</td>
                      <td>
                        {num(g.p_value)} ({num(g.p_adjusted)})
                      </td>
                      <td>{num(g.effect)}</td>
                      <td>
                        <span className={`badge severity-${g.severity.toLowerCase()}`}>{g.skipped_reason ? `skipped: ${g.skipped_reason}` : g.severity}</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          {reference && reference.length > 0 ? (
            <div className="drift-figures">
              <button type="button" aria-expanded={open} aria-controls={figuresId} onClick={() => setOpen(!open)}>
                {open ? 'Hide' : 'Show'} {filling ? 'reference histograms (still filling)' : 'reference vs current histograms'}
              </button>
              {open ? (
                <div id={figuresId}>
                  {reference.map((g) => (
                    <section key={g.name} aria-label={`Histograms of ${g.name}`}>
                      <h3>{g.name}</h3>
                      <GroupFigures reference={g} current={curByName.get(g.name) ?? null} />
                    </section>
                  ))}
                </div>
              ) : null}
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
