/** The model's overview: production version, endpoint (with copy), p95 and error-rate tiles. */
import type { ReactNode } from 'react';
import { useStore } from 'zustand';
import type { DeploymentStatus, MetricsSample } from '../../../preload/contract';
import { thresholdFromWatcher } from '../domain/chart-series';
import { formatMs, formatRate } from '../domain/format';
import { useStores } from '../stores/app-stores';
import { CopyButton } from './copy-button';

/** The live p95 / error rate: the newest sample when there is one, else the status's window. */
function currentMetrics(status: DeploymentStatus, last: MetricsSample | undefined): { p95: number | null; errorRate: number | null } {
  if (last) return { p95: last.p95_ms, errorRate: last.error_rate };
  const m = status.metrics;
  if (!m || m.window_requests === 0) return { p95: null, errorRate: null };
  return { p95: m.p95_ms, errorRate: m.error_rate };
}

export function OverviewCards({ status }: { readonly status: DeploymentStatus }): ReactNode {
  const { metrics } = useStores();
  const last = useStore(metrics, (s) => s.latest[status.name]);
  const { p95, errorRate } = currentMetrics(status, last);
  const threshold = thresholdFromWatcher(status.watcher);
  const over = p95 !== null && threshold !== null && p95 > threshold;
  return (
    <section className="cards" aria-label="Overview">
      <div className="card">
        <h3>Production</h3>
        <p className="big">{status.production ?? '—'}</p>
        <p className="muted">{status.serving ? `serving ${status.serving_version ?? ''}` : 'not serving'}{status.target ? ` · ${status.target}` : ''}</p>
      </div>
      <div className="card">
        <h3>Endpoint</h3>
        {status.endpoint ? (
          <p className="endpoint">
            <code>{status.endpoint}</code> <CopyButton text={status.endpoint} label={`Copy endpoint ${status.endpoint}`} />
          </p>
        ) : (
          <p className="muted">none</p>
        )}
      </div>
      <div className={over ? 'card tile warn' : 'card tile'}>
        <h3>p95</h3>
        <p className="big" aria-label={`p95 latency ${formatMs(p95)}`}>{formatMs(p95)}</p>
        <p className="muted">{threshold !== null ? `threshold ${formatMs(threshold)}` : 'no watcher rule'}</p>
      </div>
      <div className="card tile">
        <h3>Error rate</h3>
        <p className="big" aria-label={`error rate ${formatRate(errorRate)}`}>{formatRate(errorRate)}</p>
        <p className="muted">over the recent window</p>
      </div>
    </section>
  );
}
