/**
 * Turns 1 Hz metric samples into chart rows for a time range: fixed buckets from `now - range`
 * to `now`, so the x axis always spans the whole range, and a bucket without data holds null —
 * the chart draws a gap, never a zero that would read as "fast and error-free". Samples are kept
 * per deployment in a ring of one slot per second ({@link SampleRing}), so a push costs O(1)
 * and a redraw reads only the shown range.
 */
import type { EventView, MetricsSample } from '../../../preload/contract';

export type RangeKey = '5m' | '15m' | '1h';

export interface RangeSpec {
  readonly key: RangeKey;
  readonly label: string;
  readonly seconds: number;
  /** Bucket width: about 300 points per range keeps the chart cheap at 1 Hz updates. */
  readonly bucketS: number;
}

export const RANGES: readonly RangeSpec[] = [
  { key: '5m', label: '5 m', seconds: 300, bucketS: 1 },
  { key: '15m', label: '15 m', seconds: 900, bucketS: 3 },
  { key: '1h', label: '1 h', seconds: 3600, bucketS: 12 },
];

/** Spacing of the time axis' labelled ticks per range: five or six round times per range. */
const TICK_EVERY_S: Readonly<Record<RangeKey, number>> = { '5m': 60, '15m': 180, '1h': 600 };

/**
 * Round times (multiples of the range's tick spacing, epoch ms) within `[fromMs, toMs]`. Given
 * to the x axis as its ticks, so the chart needs no per-redraw label measuring to space them,
 * and the labels repeat from one redraw to the next (they only move).
 */
export function timeTicks(range: RangeSpec, fromMs: number, toMs: number): number[] {
  const every = TICK_EVERY_S[range.key] * 1000;
  const out: number[] = [];
  for (let t = Math.ceil(fromMs / every) * every; t <= toMs; t += every) out.push(t);
  return out;
}

const timeFormat = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const timeLabels = new Map<number, string>();

/**
 * A time of day for axis ticks and tooltips ("14:05:00" in the user's locale). Formatting
 * with Intl is slow next to a 1 Hz redraw, and tick times repeat, so labels are cached.
 */
export function formatTick(t: number): string {
  let label = timeLabels.get(t);
  if (label === undefined) {
    if (timeLabels.size >= 1024) timeLabels.clear();
    label = timeFormat.format(t);
    timeLabels.set(t, label);
  }
  return label;
}

/** The spec of a range key. */
export function rangeSpec(key: RangeKey): RangeSpec {
  return RANGES.find((r) => r.key === key) ?? RANGES[0]!;
}

/** One chart row: bucket start (epoch ms) and the bucket's values, null where it had none. */
export interface SeriesPoint {
  readonly t: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  /** Error rate in percent. */
  readonly errorPct: number | null;
  readonly rps: number | null;
}

/** Seconds of samples kept per deployment: the longest range (1 h). */
export const KEEP_SECONDS = Math.max(...RANGES.map((r) => r.seconds));

function finite(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}

function maxOf(a: number | null, b: number | null): number | null {
  const f = finite(b);
  if (f === null) return a;
  return a === null ? f : Math.max(a, f);
}

/**
 * One second of one deployment: the samples whose `ts` fell in it (normally one; two when the
 * sampler's 1 Hz drifts across a second boundary), keyed by `ts` so a sample seen twice (a live
 * push and the same second in `metrics.history`) counts once.
 */
interface Slot {
  readonly sec: number;
  readonly samples: MetricsSample[];
}

/**
 * The samples of one deployment, one slot per second in a ring of {@link KEEP_SECONDS} slots:
 * adding a sample is O(1) whatever its order, memory is bounded, and nothing is copied per
 * push. The ring is mutable and owned by the metrics store; what components see are
 * {@link SeriesView}s, immutable snapshots over it.
 */
export class SampleRing {
  private readonly slots: (Slot | undefined)[] = new Array<Slot | undefined>(KEEP_SECONDS);
  private newest = Number.NEGATIVE_INFINITY;
  private latestSample: MetricsSample | null = null;

  /** The newest second held (epoch seconds); -Infinity while empty. */
  get newestSec(): number {
    return this.newest;
  }

  /** The sample with the highest `ts`. */
  get latest(): MetricsSample | null {
    return this.latestSample;
  }

  /**
   * Adds a sample; returns false when it changed nothing (older than the kept hour, or a
   * duplicate of one held).
   */
  add(sample: MetricsSample): boolean {
    const sec = Math.floor(sample.ts / 1000);
    if (!Number.isFinite(sec) || sec <= this.newest - KEEP_SECONDS) return false;
    const i = ((sec % KEEP_SECONDS) + KEEP_SECONDS) % KEEP_SECONDS;
    const slot = this.slots[i];
    if (slot && slot.sec === sec) {
      const j = slot.samples.findIndex((s) => s.ts === sample.ts);
      if (j >= 0) {
        if (sameSample(slot.samples[j]!, sample)) return false;
        slot.samples[j] = sample;
      } else {
        slot.samples.push(sample);
      }
    } else {
      // An empty slot, or one still holding the second an hour before: that second is out of
      // every range now, so it is overwritten.
      this.slots[i] = { sec, samples: [sample] };
    }
    if (sec > this.newest) this.newest = sec;
    if (!this.latestSample || sample.ts >= this.latestSample.ts) this.latestSample = sample;
    return true;
  }

  /** The samples of epoch second `sec`, or undefined when none is held for it. */
  at(sec: number): readonly MetricsSample[] | undefined {
    if (sec > this.newest || sec <= this.newest - KEEP_SECONDS) return undefined;
    const slot = this.slots[((sec % KEEP_SECONDS) + KEEP_SECONDS) % KEEP_SECONDS];
    return slot && slot.sec === sec ? slot.samples : undefined;
  }

  /** Every held sample, oldest first (for tests and exports; the charts use {@link buildSeries}). */
  toArray(): MetricsSample[] {
    const out: MetricsSample[] = [];
    for (let sec = this.newest - KEEP_SECONDS + 1; sec <= this.newest; sec += 1) {
      const samples = this.at(sec);
      if (samples) out.push(...[...samples].sort((a, b) => a.ts - b.ts));
    }
    return out;
  }
}

function sameSample(a: MetricsSample, b: MetricsSample): boolean {
  return a.p50_ms === b.p50_ms && a.p95_ms === b.p95_ms && a.p99_ms === b.p99_ms && a.error_rate === b.error_rate && a.requests_per_s === b.requests_per_s && a.version === b.version;
}

/**
 * What a component holds of one deployment's samples: the ring and a revision that changes with
 * every change to it, so a zustand selector over one deployment re-renders only its own view.
 */
export interface SeriesView {
  readonly ring: SampleRing;
  readonly revision: number;
  readonly latest: MetricsSample | null;
}

/** Anything {@link buildSeries} can read: a ring (or view over one) or a plain list of samples. */
export type SampleSource = SeriesView | SampleRing | readonly MetricsSample[];

/** A fresh ring holding `samples`. */
export function ringOf(samples: readonly MetricsSample[]): SampleRing {
  const ring = new SampleRing();
  for (const s of samples) ring.add(s);
  return ring;
}

/**
 * Buckets one deployment's samples over `[now - range, now)`: fixed buckets of the range's
 * width, aligned to it so a point does not wander between updates. Latencies and error rate
 * take the bucket's worst value (a spike must not be averaged away); request rate the mean.
 * Reads only the range's seconds from the ring (O(range), not O(history)).
 */
export function buildSeries(source: SampleSource, range: RangeSpec, nowMs: number): SeriesPoint[] {
  const ring = source instanceof SampleRing ? source : Array.isArray(source) ? ringOf(source as readonly MetricsSample[]) : (source as SeriesView).ring;
  const bucketS = range.bucketS;
  const n = Math.ceil(range.seconds / bucketS);
  const endSec = Math.floor(nowMs / 1000 / bucketS) * bucketS + bucketS;
  const startSec = endSec - n * bucketS;
  const out: SeriesPoint[] = new Array<SeriesPoint>(n);
  for (let b = 0; b < n; b += 1) {
    let p50: number | null = null;
    let p95: number | null = null;
    let p99: number | null = null;
    let err: number | null = null;
    let rpsSum = 0;
    let rpsN = 0;
    const from = startSec + b * bucketS;
    for (let sec = from; sec < from + bucketS; sec += 1) {
      const samples = ring.at(sec);
      if (!samples) continue;
      for (const s of samples) {
        p50 = maxOf(p50, s.p50_ms);
        p95 = maxOf(p95, s.p95_ms);
        p99 = maxOf(p99, s.p99_ms);
        err = maxOf(err, s.error_rate);
        const rps = finite(s.requests_per_s);
        if (rps !== null) {
          rpsSum += rps;
          rpsN += 1;
        }
      }
    }
    out[b] = { t: from * 1000, p50, p95, p99, errorPct: err === null ? null : err * 100, rps: rpsN > 0 ? rpsSum / rpsN : null };
  }
  return out;
}

/**
 * At most about `maxPoints` rows for a chart `maxPoints` pixels wide: consecutive rows are
 * merged per pixel bucket keeping each series' maximum (a spike stays visible; latency and
 * error rate are "worst of" already) and the mean request rate. A bucket that is all gaps stays
 * a gap. Rows pass through unchanged when they already fit.
 */
export function decimate(points: readonly SeriesPoint[], maxPoints: number): readonly SeriesPoint[] {
  const per = Math.ceil(points.length / Math.max(1, Math.floor(maxPoints)));
  if (per <= 1) return points;
  const out: SeriesPoint[] = [];
  for (let i = 0; i < points.length; i += per) {
    let p50: number | null = null;
    let p95: number | null = null;
    let p99: number | null = null;
    let errorPct: number | null = null;
    let rpsSum = 0;
    let rpsN = 0;
    for (let j = i; j < Math.min(points.length, i + per); j += 1) {
      const p = points[j]!;
      p50 = maxOf(p50, p.p50);
      p95 = maxOf(p95, p.p95);
      p99 = maxOf(p99, p.p99);
      errorPct = maxOf(errorPct, p.errorPct);
      if (p.rps !== null) {
        rpsSum += p.rps;
        rpsN += 1;
      }
    }
    out.push({ t: points[i]!.t, p50, p95, p99, errorPct, rps: rpsN > 0 ? rpsSum / rpsN : null });
  }
  return out;
}

export type MarkerKind = 'deploy' | 'rollback';

/** A vertical marker on the charts. */
export interface ChartMarker {
  readonly t: number;
  readonly kind: MarkerKind;
  readonly label: string;
}

/**
 * Whether an event makes a chart marker: a version reaching production (deploy to production,
 * or promotion to it) or a rollback, successful or not.
 */
export function isMarkerEvent(e: EventView): boolean {
  return (e.event === 'deploy' && e['stage'] === 'production') || (e.event === 'promote' && e['to_stage'] === 'production') || e.event === 'rollback';
}

/**
 * Markers for deploys (a version reaching production by deploy or promotion) and rollbacks
 * inside the range, oldest first.
 */
export function buildMarkers(events: readonly EventView[], range: RangeSpec, nowMs: number): ChartMarker[] {
  const from = nowMs - range.seconds * 1000;
  const out: ChartMarker[] = [];
  for (const e of events) {
    if (!isMarkerEvent(e)) continue;
    const t = Date.parse(e.ts);
    if (!Number.isFinite(t) || t < from || t > nowMs + 1000) continue;
    if (e.event === 'deploy') {
      out.push({ t, kind: 'deploy', label: `deploy ${String(e['version'] ?? '')}`.trim() });
    } else if (e.event === 'promote') {
      out.push({ t, kind: 'deploy', label: `promote ${String(e['version'] ?? '')}`.trim() });
    } else {
      const ok = e['success'] !== false;
      out.push({ t, kind: 'rollback', label: `${ok ? 'rollback' : 'rollback failed'} → ${String(e['to_version'] ?? '?')}` });
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

/** A marker's label as drawn: its text (several markers' joined) and its row (0 = top). */
export interface MarkerLabel {
  readonly text: string;
  readonly row: number;
}

/** Markers closer than this (px) share one label: "deploy v1 · promote v2". */
const MARKER_MERGE_PX = 8;
/** Rows a label may step down to when it would run into the previous one. */
const MARKER_ROWS = 3;
/** Estimated width of one character of an 11 px label, and the gap kept after a label (px). */
const MARKER_CHAR_PX = 6.5;
const MARKER_GAP_PX = 6;

/**
 * Where the markers' labels go on a plot `plotWidth` px wide spanning [startMs, endMs]: one
 * entry per marker (same order; `markers` sorted by time), null for a marker whose label is
 * merged into an earlier one's. Markers within a few pixels get one joined label; a label that
 * would still run into the one before it steps down a row (up to three), so labels drawn at
 * nearly the same x never overprint each other into garbage.
 */
export function layoutMarkerLabels(markers: readonly ChartMarker[], startMs: number, endMs: number, plotWidth: number): (MarkerLabel | null)[] {
  const span = Math.max(1, endMs - startMs);
  const xOf = (t: number): number => ((t - startMs) / span) * plotWidth;
  const out: (MarkerLabel | null)[] = markers.map(() => null);
  // Right end (px) of the last label in each row.
  const rowEnd: number[] = Array.from({ length: MARKER_ROWS }, () => -Infinity);
  let i = 0;
  while (i < markers.length) {
    const x = xOf(markers[i]!.t);
    const texts = [markers[i]!.label];
    let j = i + 1;
    while (j < markers.length && xOf(markers[j]!.t) - x <= MARKER_MERGE_PX) texts.push(markers[j++]!.label);
    const text = texts.join(' · ');
    const free = rowEnd.findIndex((end) => end <= x);
    // Every row taken: the row whose label ends first overlaps least.
    const row = free >= 0 ? free : rowEnd.indexOf(Math.min(...rowEnd));
    rowEnd[row] = x + text.length * MARKER_CHAR_PX + MARKER_GAP_PX;
    out[i] = { text, row };
    i = j;
  }
  return out;
}

/**
 * The latency threshold (ms) from the watcher: its `latency_threshold_ms` when the view carries
 * one, else read from the rule in words ("… p95 > 250 ms …").
 */
export function thresholdFromWatcher(watcher: { readonly rule: string } | null | undefined): number | null {
  if (!watcher) return null;
  const typed = (watcher as { readonly latency_threshold_ms?: unknown }).latency_threshold_ms;
  if (typeof typed === 'number' && Number.isFinite(typed)) return typed;
  const m = /p95\s*>\s*([0-9]+(?:\.[0-9]+)?)\s*ms/.exec(watcher.rule);
  return m ? Number(m[1]) : null;
}

/**
 * How far the charts' frame (axes, grid, markers) moves at a time, per range: the frame is
 * redrawn by recharts only when its window steps, while the lines are painted every second on
 * a canvas over it. A multiple of the range's bucket, so buckets stay aligned to the window.
 */
const FRAME_STEP_S: Readonly<Record<RangeKey, number>> = { '5m': 10, '15m': 30, '1h': 60 };

/** The time window a chart frame shows: `[startMs, endMs)`, `endMs` a little ahead of now. */
export interface FrameWindow {
  readonly startMs: number;
  readonly endMs: number;
  /** How far the window moves at a time (ms). */
  readonly stepMs: number;
}

/**
 * The frame's window for `nowMs`: its end is the next multiple of the range's step after now
 * (so now is always inside and the right edge leads it by less than one step), its start one
 * range before. The same for every `nowMs` within one step: the frame does not move meanwhile.
 */
export function frameWindow(range: RangeSpec, nowMs: number): FrameWindow {
  const stepMs = FRAME_STEP_S[range.key] * 1000;
  const endMs = Math.floor(nowMs / stepMs) * stepMs + stepMs;
  return { startMs: endMs - range.seconds * 1000, endMs, stepMs };
}

/**
 * The rows of a frame's window: the range's buckets from `startMs` to `endMs` (those after now
 * are empty, so nothing is drawn there yet).
 */
export function buildWindowSeries(source: SampleSource, range: RangeSpec, window: FrameWindow): SeriesPoint[] {
  // buildSeries ends its buckets at the bucket after `nowMs`: the last millisecond of the window
  // makes that the window's end (the step is a multiple of the bucket width).
  return buildSeries(source, range, window.endMs - 1);
}

/** A value axis fixed for a frame: from 0 to `max`, labelled at `ticks`. */
export interface ValueAxis {
  readonly max: number;
  readonly ticks: readonly number[];
}

/** The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ `x` (x > 0). */
function niceStep(x: number): number {
  const base = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * base >= x * (1 - 1e-9)) return m * base;
  return 10 * base;
}

/**
 * A value axis that holds the data's maximum and the threshold with some headroom, in round
 * steps (at most five intervals). Without data or threshold: 0 … `floor` (so an empty chart
 * still has a scale).
 */
export function valueAxis(dataMax: number | null, threshold: number | null, floor = 1): ValueAxis {
  const need = Math.max(dataMax ?? 0, threshold ?? 0, 0) * 1.1;
  const top = need > 0 ? need : floor;
  const step = niceStep(top / 5);
  const n = Math.max(1, Math.ceil(top / step - 1e-9));
  const ticks: number[] = [];
  // Rounded so 0.1 + 0.2 style sums do not print as 0.30000000000000004 on the axis.
  for (let i = 0; i <= n; i += 1) ticks.push(Number((i * step).toPrecision(12)));
  return { max: ticks[ticks.length - 1]!, ticks };
}

/** The largest finite value of the given series over `points`, or null when all are gaps. */
export function seriesMax(points: readonly SeriesPoint[], keys: readonly (keyof Omit<SeriesPoint, 't'>)[]): number | null {
  let max: number | null = null;
  for (const p of points) for (const k of keys) max = maxOf(max, p[k]);
  return max;
}
