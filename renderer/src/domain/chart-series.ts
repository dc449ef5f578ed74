/**
 * Turns 1 Hz metric samples into chart rows for a time range: fixed buckets from `now - range`
 * to `now`, so the x axis always spans the whole range, and a bucket without data holds null —
 * the chart draws a gap, never a zero that would read as "fast and error-free".
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

interface Acc {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  err: number | null;
  rpsSum: number;
  rpsN: number;
}

function maxOf(a: number | null, b: number | null): number | null {
  if (b === null || !Number.isFinite(b)) return a;
  return a === null ? b : Math.max(a, b);
}

/**
 * Buckets `samples` (any order) over `[now - range, now)`. Latencies and error rate take the
 * bucket's worst value (a spike must not be averaged away); request rate the mean.
 */
export function buildSeries(samples: readonly MetricsSample[], range: RangeSpec, nowMs: number): SeriesPoint[] {
  const bucketMs = range.bucketS * 1000;
  const n = Math.ceil(range.seconds / range.bucketS);
  // Align buckets to the bucket width so a point does not wander between updates.
  const end = Math.floor(nowMs / bucketMs) * bucketMs + bucketMs;
  const start = end - n * bucketMs;
  const acc: (Acc | undefined)[] = new Array<Acc | undefined>(n);
  for (const s of samples) {
    if (s.ts < start || s.ts >= end) continue;
    const i = Math.floor((s.ts - start) / bucketMs);
    const a = acc[i] ?? { p50: null, p95: null, p99: null, err: null, rpsSum: 0, rpsN: 0 };
    a.p50 = maxOf(a.p50, s.p50_ms);
    a.p95 = maxOf(a.p95, s.p95_ms);
    a.p99 = maxOf(a.p99, s.p99_ms);
    a.err = maxOf(a.err, s.error_rate);
    if (s.requests_per_s !== null && Number.isFinite(s.requests_per_s)) {
      a.rpsSum += s.requests_per_s;
      a.rpsN += 1;
    }
    acc[i] = a;
  }
  const out: SeriesPoint[] = [];
  for (let i = 0; i < n; i += 1) {
    const a = acc[i];
    out.push({
      t: start + i * bucketMs,
      p50: a?.p50 ?? null,
      p95: a?.p95 ?? null,
      p99: a?.p99 ?? null,
      errorPct: a?.err == null ? null : a.err * 100,
      rps: a && a.rpsN > 0 ? a.rpsSum / a.rpsN : null,
    });
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
 * Markers for deploys (a version reaching production by deploy or promotion) and rollbacks
 * inside the range, oldest first.
 */
export function buildMarkers(events: readonly EventView[], range: RangeSpec, nowMs: number): ChartMarker[] {
  const from = nowMs - range.seconds * 1000;
  const out: ChartMarker[] = [];
  for (const e of events) {
    const t = Date.parse(e.ts);
    if (!Number.isFinite(t) || t < from || t > nowMs + 1000) continue;
    if (e.event === 'deploy' && e['stage'] === 'production') {
      out.push({ t, kind: 'deploy', label: `deploy ${String(e['version'] ?? '')}`.trim() });
    } else if (e.event === 'promote' && e['to_stage'] === 'production') {
      out.push({ t, kind: 'deploy', label: `promote ${String(e['version'] ?? '')}`.trim() });
    } else if (e.event === 'rollback') {
      const ok = e['success'] !== false;
      out.push({ t, kind: 'rollback', label: `${ok ? 'rollback' : 'rollback failed'} → ${String(e['to_version'] ?? '?')}` });
    }
  }
  return out.sort((a, b) => a.t - b.t);
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
