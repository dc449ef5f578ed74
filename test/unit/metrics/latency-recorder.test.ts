import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../../../main/metrics/latency-recorder.js';

/** `gc()` without --expose-gc, so heap numbers compare live data, not uncollected garbage. */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Exact percentile with HDR's definition: the smallest value with at least p% of values ≤ it. */
function exactPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Deterministic log-normal-ish latencies in ms (xorshift), so the test needs no randomness. */
function latencies(n: number): number[] {
  let s = 12345;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
  return Array.from({ length: n }, () => Math.round(Math.exp(next() * 6 - 1) * 1000) / 1000); // 0.37 ms .. 148 ms
}

describe('LatencyRecorder', () => {
  it('reports percentiles within HDR precision of the exact ones', () => {
    const clock = fakeClock();
    const rec = new LatencyRecorder({ now: clock.now });
    const values = latencies(20_000);
    for (const v of values) rec.record(v, 'ok');
    const sorted = [...values].sort((a, b) => a - b);
    const snap = rec.snapshot();
    for (const [p, got] of [[50, snap.p50_ms], [95, snap.p95_ms], [99, snap.p99_ms]] as const) {
      const exact = exactPercentile(sorted, p);
      // 3 significant digits: within 0.1 % (plus the 1 µs unit).
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(exact * 0.001 + 0.001);
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(snap.mean_ms).toBeCloseTo(mean, 3);
    expect(snap.max_ms).toBe(sorted[sorted.length - 1]);
    expect(snap.requests).toBe(20_000);
    expect(snap.window_requests).toBe(20_000);
    expect(snap.error_rate).toBe(0);
  });

  it('counts only 5xx and timeouts toward the error rate', () => {
    const rec = new LatencyRecorder();
    for (let i = 0; i < 6; i++) rec.record(1, 'ok');
    rec.record(1, 'client_error');
    rec.record(1, 'client_error');
    rec.record(1, 'server_error');
    rec.record(30_000, 'timeout');
    const snap = rec.snapshot();
    expect(snap.requests).toBe(10);
    expect(snap.error_rate).toBeCloseTo(0.2, 10);
    expect(snap.errors).toBe(2);
    expect(snap.server_errors).toBe(1);
    expect(snap.timeouts).toBe(1);
    expect(snap.client_errors).toBe(2);
    expect(snap.window_errors).toBe(2);
    expect(snap.window_client_errors).toBe(2);
  });

  it('forgets requests older than the window, slot by slot, but keeps lifetime totals', () => {
    const clock = fakeClock(0);
    const rec = new LatencyRecorder({ windowS: 60, slots: 12, now: clock.now });
    rec.record(100, 'server_error'); // t = 0 s
    clock.advance(30_000);
    rec.record(10, 'ok'); // t = 30 s
    let snap = rec.snapshot();
    expect(snap.window_requests).toBe(2);
    expect(snap.p99_ms).toBeCloseTo(100, 0);
    expect(snap.error_rate).toBe(0.5);
    // A 10 s sub-window sees only the recent request.
    expect(rec.snapshot(10).window_requests).toBe(1);
    expect(rec.snapshot(10).window_s).toBe(10);

    clock.advance(31_000); // t = 61 s: the first slot (0-5 s) has left the window
    snap = rec.snapshot();
    expect(snap.window_requests).toBe(1);
    expect(snap.p50_ms).toBeCloseTo(10, 1);
    expect(snap.error_rate).toBe(0);
    expect(snap.requests).toBe(2);
    expect(snap.errors).toBe(1);

    clock.advance(60_000); // everything has left the window
    snap = rec.snapshot();
    expect(snap.window_requests).toBe(0);
    expect(snap.p95_ms).toBe(0);
    expect(snap.error_rate).toBe(0);
    expect(snap.requests).toBe(2);
  });

  it('recycles a ring slot when its time comes round again', () => {
    const clock = fakeClock(0);
    const rec = new LatencyRecorder({ windowS: 10, slots: 2, now: clock.now });
    rec.record(1, 'ok'); // slot 0, epoch 0
    clock.advance(10_000); // epoch 2 maps to slot 0 again
    rec.record(2, 'ok');
    const snap = rec.snapshot();
    expect(snap.window_requests).toBe(1);
    expect(snap.max_ms).toBe(2);
  });

  it('gives interval snapshots since the previous call, with "no requests" distinguishable', () => {
    const clock = fakeClock(0);
    const rec = new LatencyRecorder({ now: clock.now });
    clock.advance(1000);
    rec.record(5, 'ok');
    rec.record(7, 'server_error');
    clock.advance(1000);
    const first = rec.intervalSnapshot();
    expect(first.empty).toBe(false);
    expect(first.requests).toBe(2);
    expect(first.error_rate).toBe(0.5);
    expect(first.p95_ms).toBeCloseTo(7, 2);
    expect(first.duration_s).toBe(2);

    clock.advance(30_000);
    const second = rec.intervalSnapshot();
    expect(second.empty).toBe(true);
    expect(second.requests).toBe(0);
    expect(second.p95_ms).toBeNull();
    expect(second.error_rate).toBeNull();
    expect(second.duration_s).toBe(30);

    rec.record(3, 'timeout');
    const third = rec.intervalSnapshot();
    expect(third.requests).toBe(1);
    expect(third.error_rate).toBe(1);
    expect(third.timeouts).toBe(1);
  });

  it('keeps independent interval cursors apart', () => {
    const rec = new LatencyRecorder();
    const a = rec.openInterval();
    rec.record(1, 'ok');
    const b = rec.openInterval();
    rec.record(2, 'ok');
    expect(a.take().requests).toBe(2);
    expect(b.take().requests).toBe(1);
    expect(rec.intervalSnapshot().requests).toBe(2);
    b.close();
    rec.record(3, 'ok');
    expect(a.take().requests).toBe(1);
    expect(b.take().requests).toBe(0);
  });

  it('clamps absurd latencies instead of throwing or growing', () => {
    const rec = new LatencyRecorder({ highestTrackableMs: 1000 });
    rec.record(5_000_000, 'timeout');
    rec.record(-3, 'ok');
    rec.record(Number.NaN, 'ok');
    const snap = rec.snapshot();
    expect(snap.requests).toBe(3);
    expect(snap.max_ms).toBe(1000);
  });

  it('reset() forgets everything', () => {
    const rec = new LatencyRecorder();
    rec.record(1, 'server_error');
    rec.reset();
    const snap = rec.snapshot();
    expect(snap.requests).toBe(0);
    expect(snap.window_requests).toBe(0);
    expect(rec.intervalSnapshot().empty).toBe(true);
  });

  // The cost of one record (≤ 1 µs) is a speed, measured by test/bench/embedded-bench.ts.
  it('records many latencies with flat memory', () => {
    const rec = new LatencyRecorder();
    const n = 300_000;
    for (let i = 0; i < 50_000; i++) rec.record((i % 997) / 10, 'ok');
    const gc = exposeGc();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let batch = 0; batch < 3; batch++) {
      for (let i = 0; i < n; i++) rec.record((i % 997) / 10, i % 50 === 0 ? 'server_error' : 'ok');
    }
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    // A list of 1.5M numbers alone would be 12 MB; the histograms do not grow at all.
    expect(heapGrowth).toBeLessThan(2 * 1024 * 1024);
    expect(rec.snapshot().requests).toBe(3 * n + 50_000);
  });

  it('refuses a nonsensical window', () => {
    expect(() => new LatencyRecorder({ windowS: 0 })).toThrow(RangeError);
    expect(() => new LatencyRecorder({ slots: 0 })).toThrow(RangeError);
  });
});
