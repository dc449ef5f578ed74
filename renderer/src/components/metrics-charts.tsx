/**
 * Live p50/p95/p99, error-rate and request-rate charts of one deployment, redrawn once a second.
 * The threshold is a horizontal line; deploys and rollbacks are vertical markers; seconds
 * without data are gaps (null points, `connectNulls` off), never zeros.
 *
 * Kept cheap because it redraws every second (recharts re-renders the whole SVG each time):
 * - one redraw per second: the clock advances with this deployment's own samples (and only
 *   slides on a timer when none come), so a sample, a tick and an event do not each redraw;
 * - nothing else wakes it: the component is memoised (its parent re-renders on every status
 *   push), it selects only its own deployment's series revision and its own marker events, and
 *   every recharts prop that does not change is a module constant;
 * - the rows come from the store's ring for the shown range only, at most one per pixel.
 */
import { memo, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { CartesianGrid, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStore } from 'zustand';
import { useShallow } from 'zustand/react/shallow';
import type { EventView, MetricsSample } from '../../../preload/contract';
import { buildMarkers, buildSeries, decimate, formatTick, isMarkerEvent, RANGES, rangeSpec, timeTicks, type ChartMarker, type RangeSpec, type SeriesPoint } from '../domain/chart-series';
import { formatMs, formatRate } from '../domain/format';
import { useStores } from '../stores/app-stores';

const NO_EVENTS: readonly EventView[] = [];
const NO_SAMPLES: readonly MetricsSample[] = [];
/** The clock slides the charts on its own only when no sample came for this long. */
const IDLE_TICK_MS = 1100;
/** Rows per chart at most: about one per pixel of the narrowest plot area. */
const MAX_ROWS = 400;

const timeTick = (t: number): string => formatTick(t);
const tooltipLabel = (t: unknown): string => formatTick(Number(t));

// Constant props: recharts compares them by reference, so a fresh object per render would make
// it redo work for nothing.
const MARGIN = { top: 8, right: 16, bottom: 0, left: 0 };
const TOOLTIP_STYLE = { background: 'var(--panel)', borderColor: 'var(--border)' };
const MARKER_LABEL_STYLE = { position: 'insideTopLeft', fill: 'var(--muted)', fontSize: 11 } as const;

interface LineSpec {
  readonly key: keyof Omit<SeriesPoint, 't'>;
  readonly name: string;
  readonly stroke: string;
  readonly strokeWidth?: number;
}

const LATENCY_LINES: readonly LineSpec[] = [
  { key: 'p50', name: 'p50', stroke: 'var(--series-1)' },
  { key: 'p95', name: 'p95', stroke: 'var(--series-2)', strokeWidth: 2 },
  { key: 'p99', name: 'p99', stroke: 'var(--series-3)' },
];
const ERROR_LINES: readonly LineSpec[] = [{ key: 'errorPct', name: 'error rate %', stroke: 'var(--bad)' }];
const RATE_LINES: readonly LineSpec[] = [{ key: 'rps', name: 'req/s', stroke: 'var(--series-1)' }];

const Y_LABELS: Readonly<Record<string, { value: string; angle: number; position: 'insideLeft'; fill: string }>> = Object.fromEntries(
  ['ms', '%', 'req/s'].map((v) => [v, { value: v, angle: -90, position: 'insideLeft' as const, fill: 'var(--muted)' }]),
);

/**
 * The chart's clock: the time of the last render that had new data (`revision`), or of the
 * idle tick when no data came for {@link IDLE_TICK_MS}. One redraw per sample at 1 Hz, and the
 * charts still slide (showing the gap) when samples stop.
 */
function useChartClock(revision: number, fixed: number | undefined): number {
  const [tick, setTick] = useState(0);
  // Date.now() in a memo keyed on the data revision and the idle tick: re-read only when one of
  // them changes, so unrelated re-renders keep the same x domain (and recharts' memoised work).
  const now = useMemo(() => fixed ?? Date.now(), [revision, tick, fixed]);
  useEffect(() => {
    if (fixed !== undefined) return undefined;
    const t = setTimeout(() => setTick((n) => n + 1), IDLE_TICK_MS);
    return () => clearTimeout(t);
  }, [now, fixed]);
  return now;
}

/**
 * The markers as an array that keeps its identity while its content is the same (nearly every
 * redraw): recharts re-registers a reference line whenever its props object changes.
 */
function useStableMarkers(markers: readonly ChartMarker[]): readonly ChartMarker[] {
  const last = useRef<readonly ChartMarker[]>(markers);
  const prev = last.current;
  const same = prev.length === markers.length && prev.every((m, i) => m.t === markers[i]!.t && m.kind === markers[i]!.kind && m.label === markers[i]!.label);
  if (!same) last.current = markers;
  return same ? prev : markers;
}

interface ChartProps {
  readonly data: readonly SeriesPoint[];
  readonly range: RangeSpec;
  readonly markers: readonly ChartMarker[];
  readonly lines: readonly LineSpec[];
  /** A horizontal threshold line (ms), or null. */
  readonly threshold: number | null;
  /** Fixed width in px; omitted: the container's width. */
  readonly width?: number;
  readonly height: number;
  readonly yLabel: string;
}

/** One recharts chart; memoised, so it redraws only when its rows, markers or threshold change. */
const Chart = memo(function Chart({ data, range, markers, lines, threshold, width, height, yLabel }: ChartProps): ReactNode {
  const domain = useMemo(() => [data[0]?.t ?? 0, data[data.length - 1]?.t ?? 0], [data]);
  const ticks = useMemo(() => timeTicks(range, domain[0]!, domain[1]!), [range, domain]);
  const markerLabels = useMemo(() => markers.map((m) => ({ value: m.label, ...MARKER_LABEL_STYLE })), [markers]);
  const thresholdLabel = useMemo(() => (threshold === null ? null : { value: `threshold ${formatMs(threshold)}`, position: 'insideTopRight' as const, fill: 'var(--bad)', fontSize: 11 }), [threshold]);
  // accessibilityLayer off: recharts 3 otherwise makes the SVG a focusable, unnamed
  // role="application" inside our role="img" figure, whose aria-label already states the values.
  const chart = (
    <LineChart data={data as SeriesPoint[]} width={width} height={height} margin={MARGIN} accessibilityLayer={false}>
      <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
      {/* Explicit ticks and interval 0: recharts otherwise measures every candidate label in the DOM on each redraw to space them. */}
      <XAxis dataKey="t" type="number" domain={domain} ticks={ticks} interval={0} tickFormatter={timeTick} stroke="var(--muted)" />
      <YAxis stroke="var(--muted)" width={56} interval={0} label={Y_LABELS[yLabel]} />
      <Tooltip labelFormatter={tooltipLabel} contentStyle={TOOLTIP_STYLE} isAnimationActive={false} />
      {markers.map((m, i) => (
        <ReferenceLine key={`${m.kind}-${m.t}`} x={m.t} stroke={m.kind === 'rollback' ? 'var(--bad)' : 'var(--accent)'} strokeDasharray="4 2" label={markerLabels[i]} />
      ))}
      {threshold !== null && thresholdLabel ? <ReferenceLine y={threshold} ifOverflow="extendDomain" stroke="var(--bad)" strokeDasharray="6 3" label={thresholdLabel} /> : null}
      {lines.map((l) => (
        <Line key={l.key} type="linear" dataKey={l.key} name={l.name} stroke={l.stroke} strokeWidth={l.strokeWidth} dot={false} connectNulls={false} isAnimationActive={false} />
      ))}
    </LineChart>
  );
  if (width !== undefined) return chart;
  return (
    <ResponsiveContainer width="100%" height={height}>
      {chart}
    </ResponsiveContainer>
  );
});

export interface MetricsChartsProps {
  readonly name: string;
  readonly threshold: number | null;
  /** For tests (jsdom has no layout): a fixed chart width. */
  readonly width?: number;
  /** For tests: a fixed clock. */
  readonly now?: number;
}

/** The live charts of one deployment (memoised: see the file comment). */
export const MetricsCharts = memo(function MetricsCharts({ name, threshold, width, now: fixedNow }: MetricsChartsProps): ReactNode {
  const { metrics, events } = useStores();
  const view = useStore(metrics, (s) => s.series[name]);
  const rangeKey = useStore(metrics, (s) => s.range);
  // Only the events that make markers; shallow-equal while none is added, so the 1 Hz watcher
  // checks of this model (which the timeline shows) do not redraw the charts.
  const markerEvents = useStore(events, useShallow((s) => (s.byModel[name] ?? NO_EVENTS).filter(isMarkerEvent)));
  const now = useChartClock(view?.revision ?? 0, fixedNow);
  const range = rangeSpec(rangeKey);
  // Without data the rows are still the range's empty buckets, so the x axis spans the range.
  const data = useMemo(() => decimate(buildSeries(view ?? NO_SAMPLES, range, now), width ?? MAX_ROWS), [view, range, now, width]);
  const markers = useStableMarkers(useMemo(() => buildMarkers(markerEvents, range, now), [markerEvents, range, now]));
  const last = view?.latest ?? undefined;
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
        <Chart data={data} range={range} markers={markers} lines={LATENCY_LINES} threshold={threshold} width={width} height={220} yLabel="ms" />
      </figure>
      <div className="chart-pair">
        <figure className="chart" role="img" aria-label={`Error rate of ${name}: ${formatRate(last?.error_rate)}`}>
          <figcaption>Error rate (%)</figcaption>
          <Chart data={data} range={range} markers={markers} lines={ERROR_LINES} threshold={null} width={width} height={160} yLabel="%" />
        </figure>
        <figure className="chart" role="img" aria-label={`Request rate of ${name}: ${last?.requests_per_s != null ? `${last.requests_per_s.toFixed(1)} per second` : 'no data'}`}>
          <figcaption>Requests per second</figcaption>
          <Chart data={data} range={range} markers={markers} lines={RATE_LINES} threshold={null} width={width} height={160} yLabel="req/s" />
        </figure>
      </div>
    </section>
  );
});
