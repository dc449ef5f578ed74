/**
 * Fault drills at the stable endpoint (issue 9 §5), against a real StableEndpoint over a real
 * EmbeddedBackend: injected latency shows in the measured latency and the watcher's interval,
 * a seeded error rate fails an exact, reproducible set of requests that count as 5xx, a drill
 * ends when its version leaves (a rollback leaves the fault behind), when cleared, and when its
 * duration runs out on an injected clock; bad options are usage errors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { FramewormError } from '../../../main/common/errors.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { DRILL_ERROR_MESSAGE, expectedDrillErrors, type DrillClock, type DrillEndReason, type DrillOptions, type DrillState } from '../../../main/serving/fault-drill.js';
import { PROBE_HEADER, StableEndpoint, type Backend, type StableEndpointOptions } from '../../../main/serving/stable-endpoint.js';
import { parsePrometheus } from '../../unit/metrics/prometheus-parser.js';
import { makeModelDir, type ModelDir } from '../../unit/serving/model-fixtures.js';
import { predict, request, type HttpAnswer } from './http-client.js';

let models: ModelDir;
const open: { endpoints: StableEndpoint[]; backends: Backend[] } = { endpoints: [], backends: [] };

beforeAll(() => {
  models = makeModelDir();
});
afterEach(async () => {
  await Promise.all(open.endpoints.splice(0).map((e) => e.close()));
  await Promise.all(open.backends.splice(0).map((b) => b.dispose()));
});
afterAll(() => models.cleanup());

/** A clock that moves only when told, firing due timers in order: drill expiry at exact times. */
class ManualClock implements DrillClock {
  private t = Date.UTC(2030, 0, 1);
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
  get pending(): number {
    return this.timers.length;
  }
}

interface Ended {
  readonly reason: DrillEndReason;
  readonly drill: DrillState;
}

async function startEndpoint(options: Partial<StableEndpointOptions> = {}): Promise<{ ep: StableEndpoint; ended: Ended[] }> {
  const ended: Ended[] = [];
  const ep = new StableEndpoint({ name: 'mlp', port: 0, onDrillEnded: (reason, drill) => ended.push({ reason, drill }), ...options });
  open.endpoints.push(ep);
  await ep.listen();
  return { ep, ended };
}

async function loadBackend(version: string): Promise<EmbeddedBackend> {
  const b = await EmbeddedBackend.load({ name: 'mlp', version, type: 'generic', modelPath: models.mlp, threads: 1, workers: 1 });
  open.backends.push(b);
  return b;
}

const BODY = { inputs: { x: [[0.5, -1, 2, 0.25]] } };

/** `n` requests one after another (the drill numbers requests in arrival order). */
async function sequential(url: string, n: number, agent?: http.Agent): Promise<HttpAnswer[]> {
  const answers: HttpAnswer[] = [];
  for (let i = 0; i < n; i++) answers.push(await predict(url, BODY, agent));
  return answers;
}

describe('latency drill', () => {
  it('adds the injected latency to every answer of the drilled version: p95, the watcher interval and /metrics show it', async () => {
    const { ep, ended } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    const state = ep.startDrill({ version: 'v1', latencyMs: 150 });
    expect(state).toMatchObject({ version: 'v1', latency_ms: 150, error_rate: null, seed: 0, duration_ms: null, expires_at: null, requests: 0, injected_errors: 0 });

    const answers = await sequential(ep.url, 4);
    for (const a of answers) expect(a.status).toBe(200);
    // Probes are drilled like any request.
    const probe = await request(`${ep.url}/predict`, { body: BODY, headers: { [PROBE_HEADER]: '1' } });
    expect(probe.status).toBe(200);

    const interval = ep.takeInterval()!;
    expect(interval.completed).toBe(5);
    expect(interval.probes).toBe(1);
    for (const ms of interval.latencies_ms) expect(ms).toBeGreaterThanOrEqual(150);
    expect(ep.snapshot().version_metrics!.p95_ms).toBeGreaterThanOrEqual(150);

    const metrics = (await request(`${ep.url}/metrics`)).json<{ drill: DrillState | null; p95_ms: number }>();
    expect(metrics.drill).toMatchObject({ version: 'v1', latency_ms: 150, requests: 5, injected_errors: 0 });
    expect(metrics.p95_ms).toBeGreaterThanOrEqual(150);
    const prom = parsePrometheus((await request(`${ep.url}/metrics?format=prometheus`)).text);
    expect(prom.samples.find((s) => s.name === 'frameworm_drill_active')).toMatchObject({ labels: { model: 'mlp' }, value: 1 });
    expect(prom.samples.find((s) => s.name === 'frameworm_drill_latency_seconds')).toMatchObject({ labels: { model: 'mlp', version: 'v1' }, value: 0.15 });

    const final = ep.clearDrill();
    expect(final).toMatchObject({ version: 'v1', latency_ms: 150, requests: 5 });
    expect(ended).toEqual([{ reason: 'cleared', drill: final }]);
    expect(ep.drill()).toBeNull();
    expect(ep.clearDrill()).toBeNull();
    expect((await request(`${ep.url}/metrics`)).json<{ drill: unknown }>().drill).toBeNull();
    const promAfter = parsePrometheus((await request(`${ep.url}/metrics?format=prometheus`)).text);
    expect(promAfter.samples.find((s) => s.name === 'frameworm_drill_active')?.value).toBe(0);
    expect(ended).toHaveLength(1);
  });

  it('makes a request time out like a slow model when the latency exceeds the request timeout', async () => {
    const { ep } = await startEndpoint({ requestTimeoutMs: 100 });
    await ep.switchBackend(await loadBackend('v1'));
    ep.startDrill({ version: 'v1', latencyMs: 5_000 });
    const answer = await predict(ep.url, BODY);
    expect(answer.status).toBe(504);
    const interval = ep.takeInterval()!;
    expect(interval).toMatchObject({ completed: 1, errors: 1 });
    expect(ep.snapshot().timeouts).toBe(1);
  });
});

describe('error-rate drill', () => {
  it('answers an exact, seeded set of requests 500 without the model, counted as 5xx in metrics and the watcher interval', async () => {
    const { ep } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    const N = 40;
    ep.startDrill({ version: 'v1', errorRate: 0.3, seed: 7 });
    const answers = await sequential(ep.url, N);
    const failed = answers.map((a, i) => (a.status === 500 ? i : -1)).filter((i) => i >= 0);
    // n·R is whole here, so the drill fails exactly that many: 12 of 40.
    expect(expectedDrillErrors(0.3, 7, N)).toBe(12);
    expect(failed).toHaveLength(12);
    for (const a of answers) expect([200, 500]).toContain(a.status);
    const injected = answers.find((a) => a.status === 500)!.json();
    expect(injected).toEqual({ error: DRILL_ERROR_MESSAGE, code: 'E_RUNTIME', detail: { drill: true, version: 'v1' } });
    expect(answers.find((a) => a.status === 200)!.json()).toHaveProperty('outputs');

    const interval = ep.takeInterval()!;
    expect(interval).toMatchObject({ completed: N, errors: 12 });
    const m = ep.snapshot();
    expect(m).toMatchObject({ requests: N, errors: 12, server_errors: 12, client_errors: 0 });
    expect(m.error_rate).toBeCloseTo(0.3, 10);
    expect(m.drill).toMatchObject({ error_rate: 0.3, seed: 7, requests: N, injected_errors: 12 });

    // The same seed fails the same request numbers again; another seed, other ones.
    ep.startDrill({ version: 'v1', errorRate: 0.3, seed: 7 });
    const again = (await sequential(ep.url, N)).map((a, i) => (a.status === 500 ? i : -1)).filter((i) => i >= 0);
    expect(again).toEqual(failed);
    ep.startDrill({ version: 'v1', errorRate: 0.3, seed: 123_456 });
    const other = (await sequential(ep.url, N)).map((a, i) => (a.status === 500 ? i : -1)).filter((i) => i >= 0);
    expect(other).toHaveLength(12);
    expect(other).not.toEqual(failed);
  });

  it('with rate 1 and latency together, fails every request after the added latency', async () => {
    const { ep } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    ep.startDrill({ version: 'v1', errorRate: 1, latencyMs: 120 });
    const answers = await sequential(ep.url, 3);
    expect(answers.map((a) => a.status)).toEqual([500, 500, 500]);
    // The model is not called: a body its schema would refuse with 400 is answered by the drill.
    const invalid = await predict(ep.url, { inputs: {} });
    expect(invalid.status).toBe(500);
    expect(invalid.json().error).toBe(DRILL_ERROR_MESSAGE);
    const interval = ep.takeInterval()!;
    expect(interval).toMatchObject({ completed: 4, errors: 4 });
    for (const ms of interval.latencies_ms) expect(ms).toBeGreaterThanOrEqual(120);
  });
});

describe('drill lifetime', () => {
  it('ends when another version is switched in (a rollback leaves the fault behind) and not on a reload of the same version', async () => {
    const { ep, ended } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v2'));
    ep.startDrill({ version: 'v2', errorRate: 1 });
    expect((await predict(ep.url, BODY)).status).toBe(500);

    // The same version loaded again (a restart of its backend) keeps the drill.
    await ep.switchBackend(await loadBackend('v2'));
    expect(ep.drill()).toMatchObject({ version: 'v2', requests: 1 });
    expect((await predict(ep.url, BODY)).status).toBe(500);
    expect(ended).toEqual([]);

    await ep.switchBackend(await loadBackend('v1'));
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ reason: 'version_left', drill: { version: 'v2', requests: 2, injected_errors: 2 } });
    expect(ep.drill()).toBeNull();
    const after = await sequential(ep.url, 5);
    expect(after.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(ep.takeInterval()).toMatchObject({ version: 'v1', completed: 5, errors: 0 });
  });

  it('ends on a stop (no version behind the endpoint), and refuses to drill a version that is not serving', async () => {
    const { ep, ended } = await startEndpoint();
    expect(() => ep.startDrill({ version: 'v1', latencyMs: 10 })).toThrow(new FramewormError('E_CONFLICT', 'cannot drill mlp v1: no version is serving'));
    await ep.switchBackend(await loadBackend('v1'));
    expect(() => ep.startDrill({ version: 'v0', latencyMs: 10 })).toThrow(/^cannot drill mlp v0: the version serving is v1$/);
    ep.startDrill({ version: 'v1', latencyMs: 10 });
    await ep.switchBackend(null);
    expect(ended.map((e) => e.reason)).toEqual(['version_left']);
    expect(ep.drill()).toBeNull();
  });

  it('a new drill replaces the running one, which is reported cleared', async () => {
    const { ep, ended } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    ep.startDrill({ version: 'v1', latencyMs: 50 });
    ep.startDrill({ version: 'v1', errorRate: 0.5 });
    expect(ended).toMatchObject([{ reason: 'cleared', drill: { latency_ms: 50 } }]);
    expect(ep.drill()).toMatchObject({ latency_ms: null, error_rate: 0.5 });
    // Closing the endpoint takes the version away: the drill ends with it, reported once.
    await ep.close();
    expect(ended.map((e) => e.reason)).toEqual(['cleared', 'version_left']);
  });

  it('expires exactly after its duration on the drill clock, once', async () => {
    const clock = new ManualClock();
    const { ep, ended } = await startEndpoint({ drillClock: clock });
    await ep.switchBackend(await loadBackend('v1'));
    const start = clock.now();
    const state = ep.startDrill({ version: 'v1', errorRate: 1, durationMs: 60_000 });
    expect(state.started_at).toBe(new Date(start).toISOString());
    expect(state.expires_at).toBe(new Date(start + 60_000).toISOString());

    clock.advance(59_999);
    expect(ended).toEqual([]);
    expect((await predict(ep.url, BODY)).status).toBe(500);
    clock.advance(1);
    expect(ended).toMatchObject([{ reason: 'expired', drill: { version: 'v1', requests: 1, injected_errors: 1 } }]);
    expect(ep.drill()).toBeNull();
    expect(clock.pending).toBe(0);
    expect((await predict(ep.url, BODY)).status).toBe(200);
    clock.advance(120_000);
    expect(ended).toHaveLength(1);
  });

  it('a drill past its end is over at the next request even before its timer fires', async () => {
    // A clock whose timers never fire: expiry must not depend on the timer alone.
    let now = 1_000_000;
    const clock: DrillClock = { now: () => now, setTimer: () => 'never', clearTimer: () => undefined };
    const { ep, ended } = await startEndpoint({ drillClock: clock });
    await ep.switchBackend(await loadBackend('v1'));
    ep.startDrill({ version: 'v1', errorRate: 1, durationMs: 500 });
    now += 500;
    expect((await predict(ep.url, BODY)).status).toBe(200);
    expect(ended.map((e) => e.reason)).toEqual(['expired']);
  });

  it('re-arms its timer for durations longer than one timer can wait', async () => {
    const clock = new ManualClock();
    const { ep, ended } = await startEndpoint({ drillClock: clock });
    await ep.switchBackend(await loadBackend('v1'));
    const longMs = 3 * 2 ** 31;
    ep.startDrill({ version: 'v1', latencyMs: 1, durationMs: longMs });
    clock.advance(longMs - 1);
    expect(ended).toEqual([]);
    expect(clock.pending).toBe(1);
    clock.advance(1);
    expect(ended.map((e) => e.reason)).toEqual(['expired']);
  });
});

describe('drill validation', () => {
  const cases: [string, Partial<DrillOptions>, RegExp][] = [
    ['neither latency nor error rate', {}, /^fault drill: give a latency \(--latency-ms\) or an error rate \(--error-rate\), or both$/],
    ['negative latency', { latencyMs: -1 }, /^fault drill: latency must be a number of ms from 0 to 600000 \(got -1\)$/],
    ['latency over 10 minutes', { latencyMs: 600_001 }, /^fault drill: latency must be a number of ms from 0 to 600000 \(got 600001\)$/],
    ['NaN latency', { latencyMs: Number.NaN }, /^fault drill: latency must be a number of ms from 0 to 600000 \(got NaN\)$/],
    ['error rate above 1', { errorRate: 1.5 }, /^fault drill: error rate must be a number from 0 to 1 \(got 1.5\)$/],
    ['negative error rate', { errorRate: -0.1 }, /^fault drill: error rate must be a number from 0 to 1 \(got -0.1\)$/],
    ['zero duration', { latencyMs: 10, durationMs: 0 }, /^fault drill: duration must be a positive number of ms, at most one year \(got 0\)$/],
    ['infinite duration', { errorRate: 0.1, durationMs: Number.POSITIVE_INFINITY }, /^fault drill: duration must be a positive number of ms, at most one year \(got Infinity\)$/],
    ['a duration past a year', { errorRate: 0.1, durationMs: 1e300 }, /^fault drill: duration must be a positive number of ms, at most one year \(got 1e\+300\)$/],
    ['fractional seed', { errorRate: 0.1, seed: 1.5 }, /^fault drill: seed must be a non-negative integer \(got 1.5\)$/],
  ];

  it.each(cases)('refuses %s with E_USAGE and leaves no drill running', async (_title, options, message) => {
    const { ep, ended } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    let caught: unknown;
    try {
      ep.startDrill({ version: 'v1', ...options });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FramewormError);
    expect((caught as FramewormError).code).toBe('E_USAGE');
    expect((caught as FramewormError).message).toMatch(message);
    expect(ep.drill()).toBeNull();
    expect(ended).toEqual([]);
  });

  it('accepts the bounds: latency 0 and 600000 ms, error rate 0 and 1', async () => {
    const { ep } = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    expect(ep.startDrill({ version: 'v1', latencyMs: 0 }).latency_ms).toBe(0);
    expect(ep.startDrill({ version: 'v1', latencyMs: 600_000 }).latency_ms).toBe(600_000);
    expect(ep.startDrill({ version: 'v1', errorRate: 0 }).error_rate).toBe(0);
    expect(ep.startDrill({ version: 'v1', errorRate: 1, latencyMs: 5 })).toMatchObject({ error_rate: 1, latency_ms: 5 });
  });
});
