import { describe, expect, it } from 'vitest';
import type { MetricsSample, MetricsView } from '../../../preload/contract.js';
import { MetricsSampler, type MetricsReading } from '../../../main/metrics/metrics-sampler.js';

function view(requests: number, windowRequests: number, p95 = 12): MetricsView {
  return { p50_ms: 5, p95_ms: p95, p99_ms: 20, mean_ms: 6, max_ms: 30, error_rate: 0.1, requests, window_requests: windowRequests, window_s: 60, version: 'v1' };
}

describe('MetricsSampler', () => {
  it('samples once a second: rate from the request counter, gaps (null) for an empty window', async () => {
    let now = 1_000_000;
    let readings: MetricsReading[] = [{ name: 'a', metrics: view(0, 0) }];
    const heard: MetricsSample[] = [];
    const sampler = new MetricsSampler({ read: async () => readings, now: () => now, onSample: (s) => heard.push(s) });
    await sampler.sampleOnce();
    now += 1000;
    readings = [{ name: 'a', metrics: view(10, 10) }];
    await sampler.sampleOnce();
    expect(heard).toEqual([
      { name: 'a', ts: 1_000_000, p50_ms: null, p95_ms: null, p99_ms: null, error_rate: null, requests_per_s: null, version: 'v1' },
      { name: 'a', ts: 1_001_000, p50_ms: 5, p95_ms: 12, p99_ms: 20, error_rate: 0.1, requests_per_s: 10, version: 'v1' },
    ]);
    expect(sampler.history('a')).toEqual(heard);
  });

  it('keeps at most the history span per deployment, and forgets a deployment gone that long', async () => {
    let now = 0;
    let readings: MetricsReading[] = [{ name: 'a', metrics: view(1, 1) }, { name: 'b', metrics: view(1, 1) }];
    const sampler = new MetricsSampler({ read: async () => readings, now: () => now, historyS: 10 });
    for (let i = 0; i < 30; i++) {
      now += 1000;
      await sampler.sampleOnce();
    }
    expect(sampler.history('a').map((s) => s.ts)).toEqual(Array.from({ length: 10 }, (_, i) => (21 + i) * 1000));
    expect(sampler.history().length).toBe(20);
    readings = [{ name: 'a', metrics: view(1, 1) }];
    for (let i = 0; i < 11; i++) {
      now += 1000;
      await sampler.sampleOnce();
    }
    expect(sampler.history('b')).toEqual([]);
    expect(sampler.history().every((s) => s.name === 'a')).toBe(true);
  });

  it('drops no sample for a deployment without an endpoint, and survives a failed read', async () => {
    const errors: unknown[] = [];
    let fail = false;
    const sampler = new MetricsSampler({
      read: async () => {
        if (fail) throw new Error('docker down');
        return [{ name: 'idle', metrics: null }];
      },
      onError: (e) => errors.push(e),
    });
    await sampler.sampleOnce();
    fail = true;
    await sampler.sampleOnce();
    expect(sampler.history()).toEqual([]);
    expect(errors).toHaveLength(1);
  });
});
