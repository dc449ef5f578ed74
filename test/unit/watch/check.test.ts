import { describe, expect, it } from 'vitest';
import { IntervalCollector, type IntervalMeasurement } from '../../../main/metrics/interval-sample.js';
import { describeRule, judgeInterval, weightedPercentile, wilsonLowerBound, type CheckRule } from '../../../main/watch/check.js';

const RULE: CheckRule = { latency_threshold_ms: 100, error_rate_threshold: 0.1, min_requests_per_check: 20, request_timeout_ms: 30_000 };

function interval(parts: Partial<IntervalMeasurement> & { latencies_ms: readonly number[] }): IntervalMeasurement {
  return { version: 'v1', start_ms: 0, end_ms: 1000, completed: parts.latencies_ms.length, errors: 0, probes: 0, probe_errors: 0, in_flight: [], ...parts };
}

describe('wilsonLowerBound', () => {
  // References: the root p < k/n of (k/n − p) = z·sqrt(p(1−p)/n), z = 1.645, found by bisection in
  // Python (not the closed form used here), printed with repr().
  it.each([
    [1, 3, 0.07825661547924032],
    [1, 20, 0.011233541950954273],
    [3, 20, 0.06157770139570494],
    [5, 20, 0.12736943565526043],
    [10, 100, 0.06071598345043354],
    [20, 20, 0.8808234818732033],
    [50, 1000, 0.03982740904271076],
    [2, 25, 0.026834119567502847],
  ])('%i errors in %i requests → %f', (k, n, expected) => {
    expect(wilsonLowerBound(k, n)).toBeCloseTo(expected, 12);
  });

  it('is 0 with no errors or no requests', () => {
    expect(wilsonLowerBound(0, 50)).toBe(0);
    expect(wilsonLowerBound(0, 0)).toBe(0);
  });
});

describe('weightedPercentile', () => {
  it('is the nearest rank with equal weights', () => {
    const values = Array.from({ length: 20 }, (_, i) => ({ value: i + 1, weight: 1 }));
    expect(weightedPercentile(values, 0.95)).toBe(19); // rank ceil(0.95·20) = 19
    expect(weightedPercentile(values, 0.5)).toBe(10);
    expect(weightedPercentile([], 0.95)).toBeNull();
  });

  it('lets heavier values count for more', () => {
    expect(weightedPercentile([{ value: 5, weight: 99 }, { value: 1000, weight: 1 }], 0.95)).toBe(5);
    expect(weightedPercentile([{ value: 5, weight: 9 }, { value: 1000, weight: 1 }], 0.95)).toBe(1000);
  });
});

describe('judgeInterval', () => {
  it('passes a fast, healthy interval', () => {
    // 10…49 ms: the nearest-rank p95 is the 38th value.
    const f = judgeInterval(interval({ latencies_ms: Array.from({ length: 40 }, (_, i) => 10 + i) }), RULE);
    expect(f).toMatchObject({ verdict: 'pass', p95_ms: 47, error_rate: 0, error_rate_lower: 0, requests: 40, in_flight: 0, breach_reason: null });
  });

  it('breaches on p95 above the threshold', () => {
    const lat = [...Array.from({ length: 18 }, () => 20), 150, 160];
    const f = judgeInterval(interval({ latencies_ms: lat }), RULE);
    expect(f.verdict).toBe('breach');
    expect(f.p95_ms).toBe(150);
    expect(f.breach_reason).toBe('p95 150 ms > 100 ms');
  });

  it('judges the error rate by its Wilson lower bound, not the raw rate', () => {
    const lat = Array.from({ length: 20 }, () => 10);
    // 3/20 = 15 % raw, but the lower bound 6.2 % is under 10 %: pass.
    expect(judgeInterval(interval({ latencies_ms: lat, errors: 3 }), RULE)).toMatchObject({ verdict: 'pass', error_rate: 0.15 });
    // 5/20: lower bound 12.7 % > 10 %: breach.
    const f = judgeInterval(interval({ latencies_ms: lat, errors: 5 }), RULE);
    expect(f.verdict).toBe('breach');
    expect(f.error_rate_lower).toBeCloseTo(0.12736943565526043, 12);
    expect(f.breach_reason).toBe('error rate 5/20 (95 % lower bound 12.7 %) > 10 %');
  });

  it('calls 1 error in 3 requests inconclusive, not a 33 % error rate', () => {
    const f = judgeInterval(interval({ latencies_ms: [10, 10, 10], errors: 1 }), { ...RULE, min_requests_per_check: 3 });
    expect(f.verdict).toBe('pass');
    expect(f.error_rate_lower).toBeCloseTo(0.07825661547924032, 12);
    expect(judgeInterval(interval({ latencies_ms: [10, 10, 10], errors: 1 }), RULE).verdict).toBe('inconclusive');
  });

  it('is inconclusive below min_requests_per_check, however bad', () => {
    const f = judgeInterval(interval({ latencies_ms: Array.from({ length: 19 }, () => 5000), errors: 19 }), RULE);
    expect(f).toMatchObject({ verdict: 'inconclusive', requests: 19, p95_ms: 5000, error_rate: 1 });
    expect(judgeInterval(interval({ latencies_ms: [] }), RULE)).toMatchObject({ verdict: 'inconclusive', requests: 0, p95_ms: null, error_rate: null, error_rate_lower: null });
  });

  it('counts requests in flight with their age, and those past the timeout as errors', () => {
    const hanging = Array.from({ length: 5 }, () => ({ age_ms: 31_000, probe: false }));
    const f = judgeInterval(interval({ latencies_ms: Array.from({ length: 15 }, () => 10), in_flight: hanging }), RULE);
    expect(f).toMatchObject({ verdict: 'breach', requests: 20, in_flight: 5, errors: 5, p95_ms: 31_000, error_rate: 0.25 });
    // Only in-flight requests, none answered: still a breach, never "no data".
    const stuck = judgeInterval(interval({ latencies_ms: [], in_flight: Array.from({ length: 20 }, () => ({ age_ms: 500, probe: false })) }), RULE);
    expect(stuck).toMatchObject({ verdict: 'breach', requests: 20, errors: 0, p95_ms: 500 });
  });

  it('counts probes, answered and in flight, apart', () => {
    const f = judgeInterval(interval({ latencies_ms: Array.from({ length: 20 }, () => 1), probes: 12, in_flight: [{ age_ms: 1, probe: true }] }), RULE);
    expect(f).toMatchObject({ verdict: 'pass', requests: 21, probes: 13 });
  });

  it('weights a reservoir sample by the requests it stands for', () => {
    // 100 000 answered requests, 4096 kept: the in-flight one must not move p95 as if it were 1 of 4097.
    const c = new IntervalCollector(0);
    for (let i = 0; i < 100_000; i++) c.record(i % 100 < 90 ? 10 : 200, false, false);
    c.begin(0, false);
    const m = c.take('v1', 60_000);
    expect(m.completed).toBe(100_000);
    expect(m.latencies_ms.length).toBe(4096);
    const f = judgeInterval(m, RULE);
    // 10 % of requests take 200 ms: p95 is 200 whatever the sample, 60 s in flight or not.
    expect(f).toMatchObject({ verdict: 'breach', requests: 100_001, in_flight: 1, p95_ms: 200 });
  });

  it('describes the rule in words', () => {
    expect(describeRule({ ...RULE, rollback_checks: 3, monitor_interval_s: 30 })).toBe(
      'every 30 s: breach when p95 > 100 ms or the error rate\'s 95 % lower bound > 10 % (at least 20 requests, else inconclusive); roll back after 3 consecutive breaches',
    );
  });
});

describe('IntervalCollector', () => {
  it('returns only what happened since the previous take, and keeps what is still in flight', () => {
    const c = new IntervalCollector(1000, 8);
    const slow = c.begin(1000, true);
    c.record(5, false, false);
    c.record(7, true, true);
    const first = c.take('v1', 3000);
    expect(first).toEqual({
      version: 'v1', start_ms: 1000, end_ms: 3000, completed: 2, errors: 1, probes: 1, probe_errors: 1,
      latencies_ms: [5, 7], in_flight: [{ age_ms: 2000, probe: true }],
    });
    const second = c.take('v1', 4000);
    expect(second).toMatchObject({ start_ms: 3000, completed: 0, latencies_ms: [], in_flight: [{ age_ms: 3000, probe: true }] });
    c.end(slow);
    c.record(3000, false, true);
    expect(c.take('v1', 5000)).toMatchObject({ completed: 1, probes: 1, latencies_ms: [3000], in_flight: [] });
  });

  it('keeps at most its capacity of latencies, as a sample of all of them', () => {
    const c = new IntervalCollector(0, 100);
    for (let i = 0; i < 10_000; i++) c.record(i < 5000 ? 1 : 2, false, false);
    const m = c.take('v1', 1);
    expect(m.latencies_ms.length).toBe(100);
    expect(m.completed).toBe(10_000);
    // A uniform sample: both halves are represented (a "keep the first 100" bug would give only 1s).
    const twos = m.latencies_ms.filter((v) => v === 2).length;
    expect(twos).toBeGreaterThan(25);
    expect(twos).toBeLessThan(75);
  });
});
