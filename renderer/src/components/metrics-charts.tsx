/**
 * Live p50/p95/p99, error-rate and request-rate charts of one deployment, redrawn once a second.
 * The threshold is a horizontal line; deploys and rollbacks are vertical markers; seconds
 * without data are gaps (null points, `connectNulls` off), never zeros.
 */
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { CartesianGrid, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStore } from 'zustand';
import type { EventView, MetricsSample } from '../../../preload/contract';
import { buildMarkers, buildSeries, RANGES, rangeSpec, type ChartMarker, type SeriesPoint } from '../domain/chart-series';
import { formatMs, formatRate } from '../domain/format';
import { useStores } from '../stores/app-stores';

const NO_SAMPLES: readonly MetricsSample[] = [];
const NO_EVENTS: readonly EventView[] = [];

/** The current time, ticking every `ms` (the charts slide even when no sample arrives). */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

const timeTick = (t: number): string => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

interface ChartProps {
  readonly data: readonly SeriesPoint[];
  readonly markers: readonly ChartMarker[];
  /** Fixed width in px; omitted: the container's width. */
  readonly width?: number;
  readonly height: number;
  readonly children: ReactNode;
  readonly yLabel: string;
}

function Chart({ data, markers, width, height, children, yLabel }: ChartProps): ReactNode {
  const first = data[0]?.t ?? 0;
  const last = data[data.length - 1]?.t ?? 0;
  // accessibilityLayer off: recharts 3 otherwise makes the SVG a focusable, unnamed
  // role="application" inside our role="img" figure, whose aria-label already states the values.
  const chart = (
    <LineChart data={data as SeriesPoint[]} width={width} height={height} margin={{ top: 8, right: 16, bottom: 0, left: 0 }} accessibilityLayer={false}>
      <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
      <XAxis dataKey="t" type="number" domain={[first, last]} tickFormatter={timeTick} stroke="var(--muted)" minTickGap={40} />
      <YAxis stroke="var(--muted)" width={56} label={{ value: yLabel, angle: -90, position: 'insideLeft', fill: 'var(--muted)' }} />
      <Tooltip labelFormatter={(t) => timeTick(Number(t))} contentStyle={{ background: 'var(--panel)', borderColor: 'var(--border)' }} />
      {markers.map((m) => (
        <ReferenceLine key={`${m.kind}-${m.t}`} x={m.t} stroke={m.kind === 'rollback' ? 'var(--bad)' : 'var(--accent)'} strokeDasharray="4 2" label={{ value: m.label, position: 'insideTopLeft', fill: 'var(--muted)', fontSize: 11 }} />
      ))}
      {children}
    </LineChart>
  );
  if (width !== undefined) return chart;
  return (
    <ResponsiveContainer width="100%" height={height}>
      {chart}
    </ResponsiveContainer>
  );
}

export interface MetricsChartsProps {
  readonly name: string;
  readonly threshold: number | null;
  /** For tests (jsdom has no layout): a fixed chart width. */
  readonly width?: number;
  /** For tests: a fixed clock. */
  readonly now?: number;
}

export function MetricsCharts({ name, threshold, width, now: fixedNow }: MetricsChartsProps): ReactNode {
  const { metrics, events } = useStores();
  const samples = useStore(metrics, (s) => s.samples[name] ?? NO_SAMPLES);
  const rangeKey = useStore(metrics, (s) => s.range);
  const modelEvents = useStore(events, (s) => s.byModel[name] ?? NO_EVENTS);
  const ticking = useNow(1000);
  const now = fixedNow ?? ticking;
  const range = rangeSpec(rangeKey);
  const data = useMemo(() => buildSeries(samples, range, now), [samples, range, now]);
  const markers = useMemo(() => buildMarkers(modelEvents, range, now), [modelEvents, range, now]);
  const last = samples[samples.length - 1];
  const hasData = data.some((p) => p.p95 !== null || p.errorPct !== null || p.rps !== null);

  return (
    <section aria-labelledby="charts-title" className="charts">
      <div className="row between">
        <h2 id="charts-title">Live metrics</h2>
        <div role="group" aria-label="Time range" className="segmented">
          {RANGES.map((r) => (
            <button key={r.key} type="button" aria-pressed={r.key === rangeKey} onClick={() => metrics.getState().setRange(r.key)}>
              {r.label}
            </button>
          ))}
        </div>
      </div>
      {!hasData ? <p className="muted">No requests in this range: the charts show gaps, not zeros.</p> : null}
      <figure
        className="chart"
        role="img"
        aria-label={`Latency of ${name} over ${range.label}: p50 ${formatMs(last?.p50_ms)}, p95 ${formatMs(last?.p95_ms)}, p99 ${formatMs(last?.p99_ms)}${threshold !== null ? `, threshold ${formatMs(threshold)}` : ''}`}
      >
        <figcaption>Latency (ms)</figcaption>
        <Chart data={data} markers={markers} width={width} height={220} yLabel="ms">
          {threshold !== null ? <ReferenceLine y={threshold} ifOverflow="extendDomain" stroke="var(--bad)" strokeDasharray="6 3" label={{ value: `threshold ${formatMs(threshold)}`, position: 'insideTopRight', fill: 'var(--bad)', fontSize: 11 }} /> : null}
          <Line type="linear" dataKey="p50" name="p50" stroke="var(--series-1)" dot={false} connectNulls={false} isAnimationActive={false} />
          <Line type="linear" dataKey="p95" name="p95" stroke="var(--series-2)" dot={false} connectNulls={false} isAnimationActive={false} strokeWidth={2} />
          <Line type="linear" dataKey="p99" name="p99" stroke="var(--series-3)" dot={false} connectNulls={false} isAnimationActive={false} />
        </Chart>
      </figure>
      <div className="chart-pair">
        <figure className="chart" role="img" aria-label={`Error rate of ${name}: ${formatRate(last?.error_rate)}`}>
          <figcaption>Error rate (%)</figcaption>
          <Chart data={data} markers={markers} width={width} height={160} yLabel="%">
            <Line type="linear" dataKey="errorPct" name="error rate %" stroke="var(--bad)" dot={false} connectNulls={false} isAnimationActive={false} />
          </Chart>
        </figure>
        <figure className="chart" role="img" aria-label={`Request rate of ${name}: ${last?.requests_per_s != null ? `${last.requests_per_s.toFixed(1)} per second` : 'no data'}`}>
          <figcaption>Requests per second</figcaption>
          <Chart data={data} markers={markers} width={width} height={160} yLabel="req/s">
            <Line type="linear" dataKey="rps" name="req/s" stroke="var(--series-1)" dot={false} connectNulls={false} isAnimationActive={false} />
          </Chart>
        </figure>
      </div>
    </section>
  );
}
