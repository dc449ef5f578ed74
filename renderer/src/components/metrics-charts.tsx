/**
 * Live p50/p95/p99, error-rate and request-rate charts of one deployment, updated once a second.
 * The threshold is a horizontal line; deploys and rollbacks are vertical markers; seconds
 * without data are gaps (breaks in the line), never zeros.
 *
 * Two layers per chart, because a recharts render of the three charts costs ~90 ms of main
 * thread and the goal is a few ms per 1 Hz update:
 * - the frame: recharts draws axes, grid, threshold line and markers over a time window that
 *   moves in steps ({@link frameWindow}: every 10 s on the 5 m range) and a value axis fixed per
 *   frame ({@link valueAxis}, grown when the data outgrows it). It is memoised on exactly those
 *   inputs, so a plain sample does not re-render it;
 * - the lines: a <canvas> laid over the frame's plot area (read from recharts' own layout with
 *   `usePlotArea`), repainted each second with the same scales ({@link drawLines}).
 * The clock advances with this deployment's own samples (and slides on a timer when none come),
 * and the component selects only its own series revision and marker events, so other
 * deployments' samples and watcher checks wake nothing.
 */
import { memo, Profiler, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode, type RefObject } from 'react';
import { CartesianGrid, LineChart, ReferenceLine, usePlotArea, XAxis, YAxis } from 'recharts';
import { useStore } from 'zustand';
import { useShallow } from 'zustand/react/shallow';
import type { EventView, MetricsSample } from '../../../preload/contract';
import { drawLines, type CanvasLine } from '../domain/chart-canvas';
import {
  buildMarkers,
  buildWindowSeries,
  formatTick,
  frameWindow,
  isMarkerEvent,
  layoutMarkerLabels,
  RANGES,
  rangeSpec,
  seriesMax,
  timeTicks,
  valueAxis,
  type ChartMarker,
  type FrameWindow,
  type RangeSpec,
  type SeriesPoint,
  type ValueAxis,
} from '../domain/chart-series';
import { formatMs, formatRate } from '../domain/format';
import { useStores } from '../stores/app-stores';

const NO_EVENTS: readonly EventView[] = [];
const NO_SAMPLES: readonly MetricsSample[] = [];
/** The clock slides the charts on its own only when no sample came for this long. */
const IDLE_TICK_MS = 1100;

const timeTick = (t: number): string => formatTick(t);

// Constant props: recharts compares them by reference, so a fresh object per render would make
// it redo work for nothing.
const MARGIN = { top: 8, right: 16, bottom: 0, left: 0 };
/** Width of the value axis (labels and unit), px. */
const Y_AXIS_WIDTH = 56;
/** Room one time label needs on the x axis ("09:24:00 PM" at the axis' font) plus a gap, px. */
const TICK_LABEL_PX = 100;
const MARKER_LABEL_STYLE = { position: 'insideTopLeft', fill: 'var(--muted)', fontSize: 11 } as const;
/** Vertical step between staggered marker label rows (px). */
const MARKER_ROW_PX = 13;

interface LineSpec {
  readonly key: CanvasLine['key'];
  readonly name: string;
  /** A CSS custom property of the theme: the legend uses it, the canvas resolves it. */
  readonly colorVar: string;
  readonly strokeWidth: number;
}

const LATENCY_LINES: readonly LineSpec[] = [
  { key: 'p50', name: 'p50', colorVar: '--series-1', strokeWidth: 1.5 },
  { key: 'p95', name: 'p95', colorVar: '--series-2', strokeWidth: 2 },
  { key: 'p99', name: 'p99', colorVar: '--series-3', strokeWidth: 1.5 },
];
const ERROR_LINES: readonly LineSpec[] = [{ key: 'errorPct', name: 'error rate %', colorVar: '--bad', strokeWidth: 1.5 }];
const RATE_LINES: readonly LineSpec[] = [{ key: 'rps', name: 'req/s', colorVar: '--series-1', strokeWidth: 1.5 }];

const Y_LABELS: Readonly<Record<string, { value: string; angle: number; position: 'insideLeft'; fill: string }>> = Object.fromEntries(
  ['ms', '%', 'req/s'].map((v) => [v, { value: v, angle: -90, position: 'insideLeft' as const, fill: 'var(--muted)' }]),
);

/**
 * The chart's clock: the time of the last render that had new data (`revision`), or of the
 * idle tick when no data came for {@link IDLE_TICK_MS}. One update per sample at 1 Hz, and the
 * charts still slide (showing the gap) when samples stop.
 */
function useChartClock(revision: number, fixed: number | undefined): number {
  const [tick, setTick] = useState(0);
  // Date.now() in a memo keyed on the data revision and the idle tick: re-read only when one of
  // them changes, so unrelated re-renders keep the same window.
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
 * update): a new array would re-render the frame.
 */
function useStableMarkers(markers: readonly ChartMarker[]): readonly ChartMarker[] {
  const last = useRef<readonly ChartMarker[]>(markers);
  const prev = last.current;
  const same = prev.length === markers.length && prev.every((m, i) => m.t === markers[i]!.t && m.kind === markers[i]!.kind && m.label === markers[i]!.label);
  if (!same) last.current = markers;
  return same ? prev : markers;
}

/**
 * The value axis of one chart, fixed while the frame stays: recomputed (possibly smaller) when
 * the window steps or the threshold changes, and grown at once when the data outgrows it —
 * between those it keeps its identity, so the frame is not re-rendered.
 */
function useValueAxis(dataMax: number | null, threshold: number | null, windowEnd: number, floor: number): ValueAxis {
  const last = useRef<{ axis: ValueAxis; windowEnd: number; threshold: number | null } | null>(null);
  const prev = last.current;
  if (!prev || prev.windowEnd !== windowEnd || prev.threshold !== threshold || (dataMax ?? 0) > prev.axis.max) {
    const axis = valueAxis(dataMax, threshold, floor);
    // Same ticks as before: keep the old object, so the frame sees no change.
    const same = prev !== null && prev.axis.max === axis.max && prev.axis.ticks.length === axis.ticks.length;
    last.current = { axis: same ? prev.axis : axis, windowEnd, threshold };
  }
  return last.current!.axis;
}

/** The width of a box in CSS px (its ResizeObserver's), or `fixed` when given (tests). */
function useBoxWidth(ref: RefObject<HTMLDivElement | null>, fixed: number | undefined): number {
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (fixed !== undefined || !el) return undefined;
    setWidth(Math.floor(el.getBoundingClientRect().width));
    const observer = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w !== undefined) setWidth(Math.floor(w));
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref, fixed]);
  return fixed ?? width;
}

/** The plot area inside the frame's SVG (CSS px from its top left). */
interface PlotBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Reports recharts' plot area of the chart it is rendered in (only when it changes). */
function PlotAreaProbe({ onPlot }: { readonly onPlot: (box: PlotBox) => void }): null {
  const area = usePlotArea();
  const x = area?.x;
  const y = area?.y;
  const width = area?.width;
  const height = area?.height;
  useLayoutEffect(() => {
    if (x !== undefined && y !== undefined && width !== undefined && height !== undefined) onPlot({ x, y, width, height });
  }, [x, y, width, height, onPlot]);
  return null;
}

interface FrameProps {
  readonly frame: FrameWindow;
  readonly range: RangeSpec;
  readonly markers: readonly ChartMarker[];
  readonly axis: ValueAxis;
  /** A horizontal threshold line (ms), or null. */
  readonly threshold: number | null;
  readonly width: number;
  readonly height: number;
  readonly yLabel: string;
  readonly onPlot: (box: PlotBox) => void;
  /** Called on each commit of the frame's subtree (tests count recharts renders with it). */
  readonly onCommit?: () => void;
}

/**
 * The recharts frame of one chart: axes, grid, threshold and markers, no series. Its only data
 * are the window's two ends, so the x axis spans exactly the window; both axes have explicit
 * domains and ticks, so recharts measures nothing per render.
 */
const Frame = memo(function Frame({ frame, range, markers, axis, threshold, width, height, yLabel, onPlot, onCommit }: FrameProps): ReactNode {
  const ends = useMemo(() => [{ t: frame.startMs }, { t: frame.endMs }], [frame]);
  const xDomain = useMemo(() => [frame.startMs, frame.endMs], [frame]);
  const xTicks = useMemo(() => {
    // Every k-th round time where the chart is too narrow for all labels side by side.
    const plotWidth = width - Y_AXIS_WIDTH - MARGIN.right;
    // A label centred closer to the right edge than half its width would be cut off there.
    const lastAt = frame.endMs - ((TICK_LABEL_PX / 2 - MARGIN.right) / plotWidth) * (frame.endMs - frame.startMs);
    const all = timeTicks(range, frame.startMs, lastAt);
    // Labels sit one tick spacing apart: keep every k-th so that k spacings hold a label.
    const spacingPx = all.length > 1 ? ((all[1]! - all[0]!) / (frame.endMs - frame.startMs)) * plotWidth : Infinity;
    const every = Math.max(1, Math.ceil(TICK_LABEL_PX / spacingPx));
    return every <= 1 ? all : all.filter((_, i) => i % every === 0);
  }, [range, frame, width]);
  const yDomain = useMemo(() => [0, axis.max], [axis]);
  // Labels of markers at (nearly) the same x are joined, others that would collide step down a row.
  const markerLabels = useMemo(
    () => layoutMarkerLabels(markers, frame.startMs, frame.endMs, width - Y_AXIS_WIDTH - MARGIN.right).map((l) => (l ? { value: l.text, ...MARKER_LABEL_STYLE, dy: l.row * MARKER_ROW_PX } : undefined)),
    [markers, frame, width],
  );
  const thresholdLabel = useMemo(() => (threshold === null ? null : { value: `threshold ${formatMs(threshold)}`, position: 'insideTopRight' as const, fill: 'var(--bad)', fontSize: 11 }), [threshold]);
  // accessibilityLayer off: recharts 3 otherwise makes the SVG a focusable, unnamed
  // role="application" inside our role="img" figure, whose aria-label already states the values.
  const chart = (
    <LineChart data={ends} width={width} height={height} margin={MARGIN} accessibilityLayer={false}>
      <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
      <XAxis dataKey="t" type="number" domain={xDomain} allowDataOverflow ticks={xTicks} interval={0} tickFormatter={timeTick} stroke="var(--muted)" />
      <YAxis type="number" domain={yDomain} allowDataOverflow ticks={axis.ticks as number[]} stroke="var(--muted)" width={Y_AXIS_WIDTH} interval={0} label={Y_LABELS[yLabel]} />
      {markers.map((m, i) => (
        <ReferenceLine key={`${m.kind}-${m.t}`} x={m.t} stroke={m.kind === 'rollback' ? 'var(--bad)' : 'var(--accent)'} strokeDasharray="4 2" label={markerLabels[i]} />
      ))}
      {threshold !== null && thresholdLabel ? <ReferenceLine y={threshold} stroke="var(--bad)" strokeDasharray="6 3" label={thresholdLabel} /> : null}
      <PlotAreaProbe onPlot={onPlot} />
    </LineChart>
  );
  return onCommit ? (
    <Profiler id="chart-frame" onRender={onCommit}>
      {chart}
    </Profiler>
  ) : (
    chart
  );
});

const themeColors = new Map<string, string>();

/**
 * A theme colour (a CSS custom property) as the canvas needs it, read once per theme: reading
 * computed style each second would force a style recalculation of the page in each paint.
 */
function themeColor(el: Element, theme: string, name: string): string {
  const key = `${theme} ${name}`;
  let color = themeColors.get(key);
  if (color === undefined) {
    color = getComputedStyle(el).getPropertyValue(name).trim();
    // Not cached while unset (the style sheet not applied yet): read again next time.
    if (color === '') return 'gray';
    themeColors.set(key, color);
  }
  return color;
}

interface LinesProps {
  readonly data: readonly SeriesPoint[];
  readonly lines: readonly LineSpec[];
  readonly frame: FrameWindow;
  readonly axis: ValueAxis;
  readonly plot: PlotBox;
  /** The theme: a change repaints with its colours. */
  readonly theme: string;
}

/**
 * The series of one chart on a canvas over the frame's plot area. Painted in an animation
 * frame: several updates in one frame paint once, and by then the theme's colours (set on the
 * document by the app's effect) can be read.
 */
function SeriesCanvas({ data, lines, frame, axis, plot, theme }: LinesProps): ReactNode {
  const ref = useRef<HTMLCanvasElement>(null);
  const dpr = typeof globalThis.devicePixelRatio === 'number' && globalThis.devicePixelRatio > 0 ? globalThis.devicePixelRatio : 1;
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return undefined;
    const id = requestAnimationFrame(() => {
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      const resolved = lines.map((l) => ({ key: l.key, width: l.strokeWidth, color: themeColor(canvas, theme, l.colorVar) }));
      drawLines(ctx, data, resolved, { window: frame, yMax: axis.max, width: plot.width, height: plot.height }, dpr);
    });
    return () => cancelAnimationFrame(id);
  }, [data, lines, frame, axis, plot, theme, dpr]);
  return (
    <canvas
      ref={ref}
      className="chart-lines"
      aria-hidden="true"
      width={Math.round(plot.width * dpr)}
      height={Math.round(plot.height * dpr)}
      style={{ position: 'absolute', left: plot.x, top: plot.y, width: plot.width, height: plot.height, pointerEvents: 'none', willChange: 'transform' }}
    />
  );
}

interface ChartProps {
  readonly label: string;
  readonly caption: string;
  readonly data: readonly SeriesPoint[];
  readonly frame: FrameWindow;
  readonly range: RangeSpec;
  readonly markers: readonly ChartMarker[];
  readonly lines: readonly LineSpec[];
  readonly threshold: number | null;
  /** The value axis' top without data. */
  readonly floor: number;
  readonly width: number | undefined;
  readonly height: number;
  readonly yLabel: string;
  readonly theme: string;
  readonly onFrameCommit?: () => void;
}

/** One chart: its figure (named with the latest values), legend, frame and lines. */
function Chart({ label, caption, data, frame, range, markers, lines, threshold, floor, width, height, yLabel, theme, onFrameCommit }: ChartProps): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const boxWidth = useBoxWidth(box, width);
  const keys = useMemo(() => lines.map((l) => l.key), [lines]);
  const axis = useValueAxis(seriesMax(data, keys), threshold, frame.endMs, floor);
  // A new frame (window step, grown axis) is rendered by recharts in the background, in slices
  // React can interrupt, rather than in one long task with the other charts'; meanwhile the lines
  // keep the old frame's scales, so they stay aligned with what is on screen.
  const shownFrame = useDeferredValue(frame);
  const shownAxis = useDeferredValue(axis);
  const [plot, setPlot] = useState<PlotBox | null>(null);
  // The legend names each line in its colour (the same theme property the canvas resolves).
  const legend = useMemo(
    () => (
      <span className="chart-legend" aria-hidden="true">
        {lines.map((l) => (
          <span key={l.key} className="chart-legend-item">
            <span className="chart-swatch" style={{ background: `var(${l.colorVar})` }} />
            {l.name}
          </span>
        ))}
      </span>
    ),
    [lines],
  );
  const onPlot = useMemo(
    () => (b: PlotBox) => setPlot((p) => (p && p.x === b.x && p.y === b.y && p.width === b.width && p.height === b.height ? p : b)),
    [],
  );
  return (
    <figure className="chart" role="img" aria-label={label}>
      <figcaption>
        {caption}
        {legend}
      </figcaption>
      <div ref={box} style={{ position: 'relative', height }}>
        {boxWidth > 0 ? (
          <Frame frame={shownFrame} range={range} markers={markers} axis={shownAxis} threshold={threshold} width={boxWidth} height={height} yLabel={yLabel} onPlot={onPlot} onCommit={onFrameCommit} />
        ) : null}
        {boxWidth > 0 && plot ? <SeriesCanvas data={data} lines={lines} frame={shownFrame} axis={shownAxis} plot={plot} theme={theme} /> : null}
      </div>
    </figure>
  );
}

export interface MetricsChartsProps {
  readonly name: string;
  readonly threshold: number | null;
  /** For tests (jsdom has no layout): a fixed chart width. */
  readonly width?: number;
  /** For tests: a fixed clock. */
  readonly now?: number;
  /** For tests: called on each commit of a recharts frame (a plain sample must cause none). */
  readonly onFrameCommit?: () => void;
}

/** The live charts of one deployment (memoised: see the file comment). */
export const MetricsCharts = memo(function MetricsCharts({ name, threshold, width, now: fixedNow, onFrameCommit }: MetricsChartsProps): ReactNode {
  const { metrics, events, ui } = useStores();
  const view = useStore(metrics, (s) => s.series[name]);
  const rangeKey = useStore(metrics, (s) => s.range);
  const theme = useStore(ui, (s) => s.theme);
  // Only the events that make markers; shallow-equal while none is added, so the 1 Hz watcher
  // checks of this model (which the timeline shows) do not update the charts.
  const markerEvents = useStore(events, useShallow((s) => (s.byModel[name] ?? NO_EVENTS).filter(isMarkerEvent)));
  const now = useChartClock(view?.revision ?? 0, fixedNow);
  const range = rangeSpec(rangeKey);
  const windowEnd = frameWindow(range, now).endMs;
  // The same window object for the whole step: the frames re-render only when it moves.
  const frame = useMemo(() => frameWindow(range, windowEnd - 1), [range, windowEnd]);
  // Without data the rows are still the window's empty buckets, so the x axis spans the range.
  const data = useMemo(() => buildWindowSeries(view ?? NO_SAMPLES, range, frame), [view, range, frame]);
  const markers = useStableMarkers(useMemo(() => buildMarkers(markerEvents, range, frame.endMs), [markerEvents, range, frame]));
  const last = view?.latest ?? undefined;
  const hasData = data.some((p) => p.p95 !== null || p.errorPct !== null || p.rps !== null);
  const common = { frame, range, markers, width, theme, onFrameCommit } as const;

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
      <Chart
        {...common}
        label={`Latency of ${name} over ${range.label}: p50 ${formatMs(last?.p50_ms)}, p95 ${formatMs(last?.p95_ms)}, p99 ${formatMs(last?.p99_ms)}${threshold !== null ? `, threshold ${formatMs(threshold)}` : ''}`}
        caption="Latency (ms)"
        data={data}
        lines={LATENCY_LINES}
        threshold={threshold}
        floor={10}
        height={220}
        yLabel="ms"
      />
      <div className="chart-pair">
        <Chart {...common} label={`Error rate of ${name}: ${formatRate(last?.error_rate)}`} caption="Error rate (%)" data={data} lines={ERROR_LINES} threshold={null} floor={1} height={160} yLabel="%" />
        <Chart
          {...common}
          label={`Request rate of ${name}: ${last?.requests_per_s != null ? `${last.requests_per_s.toFixed(1)} per second` : 'no data'}`}
          caption="Requests per second"
          data={data}
          lines={RATE_LINES}
          threshold={null}
          floor={1}
          height={160}
          yLabel="req/s"
        />
      </div>
    </section>
  );
});
