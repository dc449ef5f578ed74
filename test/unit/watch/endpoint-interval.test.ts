/**
 * StableEndpoint.takeInterval over real HTTP, with a real embedded backend serving a small ONNX
 * model. To hold a request in flight on purpose, the backend is wrapped in a gate that lets a
 * request through to the real model only when the test says so.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { PROBE_HEADER, StableEndpoint, type Backend } from '../../../main/serving/stable-endpoint.js';
import { judgeInterval } from '../../../main/watch/check.js';
import { RollbackWatcher, WATCHER_ACTOR } from '../../../main/watch/rollback-watcher.js';
import { predict, request, type HttpAnswer } from '../../integration/serving/http-client.js';
import { makeRegistry, versionInput } from '../registry/helpers.js';
import { makeModelDir, type ModelDir } from '../serving/model-fixtures.js';

/** A real backend whose next request can be held at the door until `release()`. */
class GatedBackend implements Backend {
  private gate: { arrived: () => void; open: Promise<void> } | null = null;
  private release_: (() => void) | null = null;
  private readonly held = new Set<Promise<unknown>>();

  constructor(private readonly inner: EmbeddedBackend) {}

  get version(): string {
    return this.inner.version;
  }

  get type(): EmbeddedBackend['type'] {
    return this.inner.type;
  }

  /** Holds the next request; resolves once it has reached the backend. */
  holdNext(): Promise<void> {
    return new Promise((arrived) => {
      const open = new Promise<void>((resolve) => (this.release_ = resolve));
      this.gate = { arrived, open };
    });
  }

  release(): void {
    this.release_?.();
  }

  handlePredict(body: unknown, signal?: AbortSignal): Promise<object> {
    const gate = this.gate;
    if (!gate) return this.inner.handlePredict(body, signal);
    this.gate = null;
    gate.arrived();
    const work = gate.open.then(() => this.inner.handlePredict(body));
    this.held.add(work);
    void work.catch(() => undefined).finally(() => this.held.delete(work));
    return work;
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.held]);
    await this.inner.drain();
  }

  dispose(): Promise<void> {
    return this.inner.dispose();
  }

  describe(): object {
    return this.inner.describe();
  }
}

let models: ModelDir;
const open: { endpoints: StableEndpoint[]; backends: EmbeddedBackend[] } = { endpoints: [], backends: [] };

beforeAll(() => {
  models = makeModelDir();
});
afterEach(async () => {
  await Promise.all(open.endpoints.splice(0).map((e) => e.close()));
  await Promise.all(open.backends.splice(0).map((b) => b.dispose()));
});
afterAll(() => models.cleanup());

async function setUp(version: string, options: { requestTimeoutMs?: number } = {}): Promise<{ ep: StableEndpoint; backend: GatedBackend }> {
  const ep = new StableEndpoint({ name: 'mlp', port: 0, ...options });
  open.endpoints.push(ep);
  await ep.listen();
  const backend = new GatedBackend(await load(version));
  await ep.switchBackend(backend);
  return { ep, backend };
}

async function load(version: string): Promise<EmbeddedBackend> {
  const b = await EmbeddedBackend.load({ name: 'mlp', version, type: 'generic', modelPath: models.mlp, threads: 1, maxBatchSize: 64 });
  open.backends.push(b);
  return b;
}

const BODY = { inputs: { x: [[0.5, -1, 2, 0.25]] } };

function probe(url: string): Promise<HttpAnswer> {
  return request(`${url}/predict`, { body: BODY, headers: { [PROBE_HEADER]: '1' } });
}

describe('StableEndpoint.takeInterval', () => {
  it('returns only the requests since the previous take, probes apart, and a hanging request with its age', async () => {
    const { ep, backend } = await setUp('v1');
    for (let i = 0; i < 5; i++) expect((await predict(ep.url, BODY)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await probe(ep.url)).status).toBe(200);
    expect((await predict(ep.url, { inputs: {} })).status).toBe(400);
    expect(ep.intervalRequests()).toBe(8);

    const sentAt = performance.now();
    const arrived = backend.holdNext();
    const hanging = predict(ep.url, BODY);
    await arrived;
    const first = ep.takeInterval()!;
    const firstBound = performance.now() - sentAt;
    expect(first).toMatchObject({ version: 'v1', completed: 8, errors: 0, probes: 2, probe_errors: 0 });
    expect(first.latencies_ms).toHaveLength(8);
    for (const ms of first.latencies_ms) expect(ms).toBeGreaterThan(0);
    expect(first.in_flight).toHaveLength(1);
    expect(first.in_flight[0]!.probe).toBe(false);
    expect(first.in_flight[0]!.age_ms).toBeGreaterThan(0);
    expect(first.in_flight[0]!.age_ms).toBeLessThanOrEqual(firstBound);
    expect(first.end_ms).toBeGreaterThan(first.start_ms);

    // Not cumulative: nothing completed since, the hanging request is still there and older.
    const second = ep.takeInterval()!;
    expect(second).toMatchObject({ version: 'v1', completed: 0, errors: 0, probes: 0, latencies_ms: [] });
    expect(second.start_ms).toBe(first.end_ms);
    expect(second.in_flight).toHaveLength(1);
    expect(second.in_flight[0]!.age_ms).toBeGreaterThanOrEqual(first.in_flight[0]!.age_ms);
    // Judged with a timeout it has outlived, the hanging request is an error: the check breaches.
    const rule = { latency_threshold_ms: 1e9, error_rate_threshold: 0.1, min_requests_per_check: 1, request_timeout_ms: 0 };
    expect(judgeInterval(second, rule)).toMatchObject({ verdict: 'breach', requests: 1, in_flight: 1, errors: 1, error_rate: 1 });

    backend.release();
    expect((await hanging).status).toBe(200);
    const third = ep.takeInterval()!;
    expect(third).toMatchObject({ completed: 1, errors: 0, in_flight: [] });
    expect(third.latencies_ms[0]).toBeGreaterThanOrEqual(second.in_flight[0]!.age_ms);
  });

  it('counts a time-out (504) as an error, and a probe that hangs as a probe in flight', async () => {
    const { ep, backend } = await setUp('v1', { requestTimeoutMs: 50 });
    const arrived = backend.holdNext();
    const slowProbe = probe(ep.url);
    await arrived;
    expect(ep.takeInterval()!.in_flight.map((r) => r.probe)).toEqual([true]);
    const answer = await slowProbe;
    expect(answer.status).toBe(504);
    const m = ep.takeInterval()!;
    expect(m).toMatchObject({ completed: 1, errors: 1, probes: 1, probe_errors: 1, in_flight: [] });
    backend.release();
  });

  it('starts afresh for a new version: the old one\'s requests never count for it', async () => {
    const { ep, backend } = await setUp('v1');
    for (let i = 0; i < 3; i++) expect((await predict(ep.url, BODY)).status).toBe(200);
    const arrived = backend.holdNext();
    const onV1 = predict(ep.url, BODY);
    await arrived;
    await ep.switchBackend(new GatedBackend(await load('v2')));
    expect((await predict(ep.url, BODY)).status).toBe(200);
    const m = ep.takeInterval()!;
    expect(m).toMatchObject({ version: 'v2', completed: 1, in_flight: [] });
    backend.release();
    expect((await onV1).status).toBe(200);
    expect(ep.takeInterval()).toMatchObject({ version: 'v2', completed: 0, in_flight: [] });
    await ep.switchBackend(null);
    expect(ep.takeInterval()).toBeNull();
    expect(ep.intervalRequests()).toBe(0);
  });
});

describe('RollbackWatcher on a real endpoint', () => {
  it('breaching real traffic for 3 checks → the action switches the endpoint back to v1', async () => {
    const t = makeRegistry();
    let now = Date.parse('2025-01-01T00:00:00Z');
    const timers: { at: number; fn: () => void }[] = [];
    try {
      for (const v of ['v1', 'v2']) {
        t.registry.registerVersion(versionInput('mlp', { version: v, stage: 'staging' }));
        t.registry.promote('mlp', v, 'production');
      }
      const { ep } = await setUp('v2');
      const v1 = await load('v1');
      const watcher = new RollbackWatcher({
        registry: t.registry,
        // Any real request takes longer than 1 µs: every conclusive check of this endpoint breaches.
        config: { latency_threshold_ms: 0.001, error_rate_threshold: 0.1, rollback_checks: 3, monitor_interval_s: 30, cooldown_s: 300, min_requests_per_check: 20, request_timeout_ms: 30_000, probe: { enabled: false, interval_s: 10 } },
        endpoints: { takeInterval: (name) => (name === 'mlp' ? ep.takeInterval() : null), intervalRequests: () => ep.intervalRequests() },
        scheduler: {
          now: () => now,
          setTimer: (fn, ms) => timers.push({ at: now + ms, fn }),
          clearTimer: () => undefined,
        },
        rollback: async (name, r) => {
          const fields = { from_version: r.fromVersion, to_version: r.toVersion, reason: r.reason, p95_ms: r.p95_ms, error_rate: r.error_rate, streak: r.streak, actor: WATCHER_ACTOR };
          t.registry.recordEvent(name, 'rollback_started', fields);
          t.registry.rollback(name, { reason: r.reason, actor: WATCHER_ACTOR, toVersion: r.toVersion, events: [{ event: 'rollback', fields: { ...fields, success: true } }] });
          await ep.switchBackend(v1);
        },
      });
      watcher.start();
      for (let check = 0; check < 3; check++) {
        await Promise.all(Array.from({ length: 20 }, () => predict(ep.url, BODY)));
        const timer = timers.shift()!;
        now = timer.at;
        timer.fn();
        await watcher.whenIdle();
      }
      await watcher.dispose();
      expect(ep.backend?.version).toBe('v1');
      expect((await predict(ep.url, BODY)).json()).toMatchObject({ version: 'v1' });
      const events = t.registry.listEvents('mlp', 100).filter((e) => ['check', 'rollback_started', 'rollback'].includes(e.event));
      expect(events.map((e) => `${e.event} ${String(e.fields['verdict'] ?? e.fields['to_version'])}`)).toEqual([
        'check breach', 'check breach', 'check breach', 'rollback_started v1', 'rollback v1',
      ]);
      expect(events[0]!.fields).toMatchObject({ version: 'v2', requests: 20, in_flight: 0, streak: 1, probes: 0 });
      expect(t.registry.getProduction('mlp')?.version).toBe('v1');
    } finally {
      t.cleanup();
    }
  });
});
