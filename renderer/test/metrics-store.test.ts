import { describe, expect, it } from 'vitest';
import type { EventView, MetricsSample } from '../../preload/contract';
import { buildMarkers, buildSeries, rangeSpec, thresholdFromWatcher } from '../src/domain/chart-series';
import { createMetricsStore, mergeSamples } from '../src/stores/metrics-store';
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
    expect(store.getState().samples).toEqual({});
    store.getState().flush();
    expect(store.getState().samples['mnist']!.map((s) => s.ts)).toEqual([T0 + 1000, T0 + 2000]);
    expect(store.getState().samples['celeba']).toHaveLength(1);
  });

  it('loads metrics.history and merges it with live samples without duplicates', async () => {
    const cp = new FakeControlPlane();
    cp.history = [sample('mnist', 1), sample('mnist', 2), sample('mnist', 3)];
    const store = createMetricsStore(cp, { flushMs: 0 });
    store.getState().ingest(sample('mnist', 3, 120));
    store.getState().ingest(sample('mnist', 4));
    await store.getState().loadHistory();
    const ts = store.getState().samples['mnist']!.map((s) => (s.ts - T0) / 1000);
    expect(ts).toEqual([1, 2, 3, 4]);
  });

  it('keeps at most one hour per deployment', () => {
    let series: MetricsSample[] = [];
    for (let i = 0; i < 4000; i += 1) series = mergeSamples(series, [sample('m', i)]);
    expect(series.length).toBe(3600);
    expect(series[0]!.ts).toBe(T0 + 400_000);
  });
});

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
  });

  it('reads the threshold from the watcher rule', () => {
    expect(thresholdFromWatcher(watcher())).toBe(250);
    expect(thresholdFromWatcher(watcher({ rule: 'every 5 s: breach when p95 > 87.5 ms or …' }))).toBe(87.5);
    expect(thresholdFromWatcher(null)).toBeNull();
  });
});
