import { describe, expect, it } from 'vitest';
import type { EventView, MetricsSample } from '../../preload/contract';
import { buildMarkers, buildSeries, decimate, isMarkerEvent, KEEP_SECONDS, rangeSpec, ringOf, SampleRing, thresholdFromWatcher, type SeriesPoint } from '../src/domain/chart-series';
import { createMetricsStore, type MetricsStore } from '../src/stores/metrics-store';
import { FakeControlPlane, watcher } from './fake-control-plane';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function sample(name: string, secondsAfter: number, p95: number | null = 100, extra: Partial<MetricsSample> = {}): MetricsSample {
  return {
    name, ts: T0 + secondsAfter * 1000, p50_ms: p95 === null ? null : p95 / 2, p95_ms: p95, p99_ms: p95 === null ? null : p95 * 1.5,
    error_rate: p95 === null ? null : 0.01, requests_per_s: 10, version: 'v1', ...extra,
  };
}

describe('metrics store', () => {
  it('fills from metrics.sample pushes, batched until the flush', async () => {
    const cp = new FakeControlPlane();
    const store = createMetricsStore(cp, { flushMs: 60_000 });
    store.getState().start();
    cp.emit('metrics.sample', sample('mnist', 1));
    cp.emit('metrics.sample', sample('mnist', 2));
    cp.emit('metrics.sample', sample('celeba', 2));
    expect(store.getState().series).toEqual({});
    store.getState().flush();
    expect(held(store, 'mnist').map((s) => s.ts)).toEqual([T0 + 1000, T0 + 2000]);
    expect(held(store, 'celeba')).toHaveLength(1);
    expect(store.getState().latest['mnist']!.ts).toBe(T0 + 2000);
  });

  it('loads metrics.history and merges it with live samples without duplicates', async () => {
    const cp = new FakeControlPlane();
    cp.history = [sample('mnist', 1), sample('mnist', 2), sample('mnist', 3)];
    const store = createMetricsStore(cp, { flushMs: 0 });
    store.getState().ingest(sample('mnist', 3, 120));
    store.getState().ingest(sample('mnist', 4));
    await store.getState().loadHistory();
    const ts = held(store, 'mnist').map((s) => (s.ts - T0) / 1000);
    expect(ts).toEqual([1, 2, 3, 4]);
    // The live value of second 3 (pushed last) was replaced by the history's: one sample per ts.
    expect(held(store, 'mnist')[2]!.p95_ms).toBe(100);
  });

  it('keeps at most one hour per deployment', () => {
    const ring = new SampleRing();
    for (let i = 0; i < 4000; i += 1) ring.add(sample('m', i));
    const all = ring.toArray();
    expect(all.length).toBe(KEEP_SECONDS);
    expect(all[0]!.ts).toBe(T0 + 400_000);
    // A sample older than the kept hour changes nothing.
    expect(ring.add(sample('m', 100))).toBe(false);
    expect(ring.latest!.ts).toBe(T0 + 3_999_000);
  });

  it('wakes only the selector of the deployment that got a sample, once per batch', () => {
    const cp = new FakeControlPlane();
    let flushNow: (() => void) | null = null;
    const store = createMetricsStore(cp, { schedule: (fn) => ((flushNow = fn), () => (flushNow = null)) });
    store.getState().start();
    const seen = { a: 0, b: 0 };
    let lastA = store.getState().series['a'];
    let lastB = store.getState().series['b'];
    store.subscribe((s) => {
      if (s.series['a'] !== lastA) seen.a += 1;
      if (s.series['b'] !== lastB) seen.b += 1;
      lastA = s.series['a'];
      lastB = s.series['b'];
    });
    for (let i = 0; i < 5; i += 1) cp.emit('metrics.sample', sample('a', i));
    expect(flushNow).not.toBeNull();
    flushNow!();
    cp.emit('metrics.sample', sample('b', 9));
    flushNow!();
    // A duplicate (the same second again, same values) changes nothing and wakes nobody.
    cp.emit('metrics.sample', sample('b', 9));
    flushNow!();
    expect(seen).toEqual({ a: 1, b: 1 });
    expect(store.getState().series['a']!.revision).toBe(1);
  });
});

/** The samples a store holds for a deployment, oldest first. */
function held(store: MetricsStore, name: string): MetricsSample[] {
  return store.getState().series[name]?.ring.toArray() ?? [];
}

describe('chart series', () => {
  it('has a null point (a gap, not a zero) for each second without data', () => {
    const samples = [sample('m', 0), sample('m', 1), sample('m', 5), sample('m', 6, null)];
    const series = buildSeries(samples, rangeSpec('5m'), T0 + 6500);
    expect(series).toHaveLength(300);
    const byT = new Map(series.map((p) => [(p.t - T0) / 1000, p]));
    expect(byT.get(0)!.p95).toBe(100);
    expect(byT.get(1)!.p95).toBe(100);
    for (const gap of [2, 3, 4]) {
      expect(byT.get(gap)!.p95).toBeNull();
      expect(byT.get(gap)!.errorPct).toBeNull();
      expect(byT.get(gap)!.rps).toBeNull();
    }
    expect(byT.get(5)!.errorPct).toBeCloseTo(1);
    // A sample whose window held no request is a gap too, though it has a request rate.
    expect(byT.get(6)!.p95).toBeNull();
    expect(byT.get(6)!.rps).toBe(10);
    // Seconds before any sample are gaps, so an empty past is never drawn as zero latency.
    expect(series[0]!.p95).toBeNull();
  });

  it('keeps the worst latency of a bucket in the longer ranges', () => {
    const samples = [sample('m', 0, 100), sample('m', 1, 900), sample('m', 2, 100)];
    const series = buildSeries(samples, rangeSpec('15m'), T0 + 2000);
    expect(series).toHaveLength(300);
    const bucket = series.find((p) => p.p95 !== null)!;
    expect(bucket.p95).toBe(900);
    expect(buildSeries(samples, rangeSpec('1h'), T0 + 2000)).toHaveLength(300);
  });

  it('reads only the shown range from the ring and keeps two samples of one second', () => {
    const ring = ringOf([sample('m', 0, 100), sample('m', 0.6, 400), sample('m', 3599, 50)]);
    const five = buildSeries(ring, rangeSpec('5m'), T0 + 3599_500);
    expect(five).toHaveLength(300);
    expect(five[five.length - 1]!.p95).toBe(50);
    // Second 0 is an hour back: outside 5 m, inside 1 h, where its two samples are one bucket.
    expect(five.every((p) => p.t >= T0 + 3300_000)).toBe(true);
    const hour = buildSeries(ring, rangeSpec('1h'), T0 + 3599_500);
    expect(hour.find((p) => p.t === T0)!.p95).toBe(400);
    expect(hour.find((p) => p.t === T0)!.rps).toBe(10);
    // The same rows from a plain list of samples.
    expect(buildSeries(ring.toArray(), rangeSpec('1h'), T0 + 3599_500)).toEqual(hour);
  });

  it('decimates to the pixel width keeping spikes and gaps', () => {
    const point = (i: number, p95: number | null): SeriesPoint => ({ t: i, p50: p95, p95, p99: p95, errorPct: p95 === null ? null : 1, rps: p95 === null ? null : 2 });
    const points = Array.from({ length: 900 }, (_, i) => point(i, i === 451 ? 999 : i >= 600 && i < 660 ? null : 10));
    const out = decimate(points, 300);
    expect(out).toHaveLength(300);
    expect(out[150]!.p95).toBe(999);
    expect(out.filter((p) => p.p95 === 999)).toHaveLength(1);
    expect(out.slice(200, 220).every((p) => p.p95 === null && p.rps === null)).toBe(true);
    expect(out[0]).toEqual({ t: 0, p50: 10, p95: 10, p99: 10, errorPct: 1, rps: 2 });
    expect(decimate(points.slice(0, 300), 300)).toEqual(points.slice(0, 300));
  });

  it('marks deploys to production and rollbacks inside the range', () => {
    const ev = (event: string, seconds: number, fields: Record<string, unknown>): EventView => ({ id: seconds, ts: new Date(T0 + seconds * 1000).toISOString(), model: 'm', event, ...fields });
    const events = [
      ev('deploy', -1000, { version: 'v0', stage: 'production' }),
      ev('deploy', 10, { version: 'v1', stage: 'production' }),
      ev('deploy', 20, { version: 'v2', stage: 'staging' }),
      ev('promote', 30, { version: 'v2', to_stage: 'production' }),
      ev('check', 40, { verdict: 'breach' }),
      ev('rollback', 50, { to_version: 'v1', success: true }),
      ev('rollback', 60, { to_version: 'v1', success: false }),
    ];
    const markers = buildMarkers(events, rangeSpec('5m'), T0 + 100_000);
    expect(markers.map((m) => [m.kind, m.label])).toEqual([
      ['deploy', 'deploy v1'],
      ['deploy', 'promote v2'],
      ['rollback', 'rollback → v1'],
      ['rollback', 'rollback failed → v1'],
    ]);
    expect(events.filter(isMarkerEvent).map((e) => e.id)).toEqual([-1000, 10, 30, 50, 60]);
  });

  it('reads the threshold from the watcher rule', () => {
    expect(thresholdFromWatcher(watcher())).toBe(250);
    expect(thresholdFromWatcher(watcher({ rule: 'every 5 s: breach when p95 > 87.5 ms or …' }))).toBe(87.5);
    expect(thresholdFromWatcher(null)).toBeNull();
  });
});
