/**
 * The rollback watcher driven by an injected clock against a real registry on a temp folder:
 * exact event sequences, no sleeps. Measurements are scripted per version (the real stable
 * endpoint's takeInterval is tested in endpoint-interval.test.ts); the rollback action does what
 * the control plane's does to the registry (rollback_started, then the registry's rollback
 * with its `rollback` event, actor `watcher`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../main/config/deploy-config.js';
import type { IntervalMeasurement } from '../../../main/metrics/interval-sample.js';
import type { EventRecord } from '../../../main/registry/registry.js';
import {
  RollbackWatcher, WATCHER_ACTOR, type AutomaticRollback, type WatchedEndpoints, type WatcherConfig, type WatcherScheduler,
} from '../../../main/watch/rollback-watcher.js';
import { makeRegistry, versionInput, type TestRegistry } from '../registry/helpers.js';

/** Timers on a virtual clock: `advance` runs every timer that falls due, in time order. */
class VirtualClock implements WatcherScheduler {
  private t = Date.parse('2025-01-01T00:00:00Z');
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing due timers and letting each round settle before the next. */
  async advance(ms: number, watcher: RollbackWatcher): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.timers) if (entry[1].at <= end && (next === null || entry[1].at < next[1].at)) next = entry;
      if (next === null) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await watcher.whenIdle();
    }
    this.t = end;
  }

  get pendingTimers(): number {
    return this.timers.size;
  }
}

type Behaviour = 'pass' | 'breach' | 'errors' | 'idle' | 'unmeasurable' | 'hang';

/** Scripted traffic per version: what each check of the version serving now sees. */
class ScriptedTraffic implements WatchedEndpoints {
  readonly behaviour = new Map<string, Behaviour>();
  takes = 0;

  constructor(private readonly t: TestRegistry, private readonly clock: VirtualClock) {}

  takeInterval(name: string): IntervalMeasurement | null {
    this.takes++;
    const version = this.t.registry.getProduction(name)?.version;
    if (!version) return null;
    const b = this.behaviour.get(version) ?? 'pass';
    if (b === 'unmeasurable') throw new Error('connection refused');
    const n = b === 'idle' ? 5 : 40;
    const latency = b === 'breach' ? 900 : 20;
    const base = { version, start_ms: this.clock.now() - 30_000, end_ms: this.clock.now(), probes: 0, probe_errors: 0 };
    if (b === 'hang') return { ...base, completed: 0, errors: 0, latencies_ms: [], in_flight: Array.from({ length: 20 }, () => ({ age_ms: 31_000, probe: false })) };
    return { ...base, completed: n, errors: b === 'errors' ? 20 : 0, latencies_ms: Array.from({ length: n }, () => latency), in_flight: [] };
  }
}

const CONFIG: WatcherConfig = {
  latency_threshold_ms: 500, error_rate_threshold: 0.1, rollback_checks: 3, monitor_interval_s: 30, cooldown_s: 300,
  min_requests_per_check: 20, request_timeout_ms: 30_000, probe: { enabled: false, interval_s: 10 },
};

interface Harness {
  readonly t: TestRegistry;
  readonly clock: VirtualClock;
  readonly traffic: ScriptedTraffic;
  readonly watcher: RollbackWatcher;
  readonly calls: { name: string; rollback: AutomaticRollback }[];
  readonly errors: unknown[];
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.watcher.dispose();
    h.t.cleanup();
  }
});

/** Registers `versions` of model m and promotes each to production in order (the last one serves). */
function deployHistory(t: TestRegistry, versions: readonly string[], name = 'm'): void {
  for (const v of versions) {
    t.registry.registerVersion(versionInput(name, { version: v, stage: 'staging' }));
    t.registry.promote(name, v, 'production', { actor: 'cli' });
  }
}

function harness(options: { config?: Partial<WatcherConfig>; versions?: readonly string[]; action?: 'registry' | 'fails'; t?: TestRegistry; clock?: VirtualClock } = {}): Harness {
  const clock = options.clock ?? new VirtualClock();
  const t = options.t ?? makeRegistry({ now: () => new Date(clock.now()) });
  if (!options.t) deployHistory(t, options.versions ?? ['v1', 'v2', 'v3']);
  const traffic = new ScriptedTraffic(t, clock);
  const calls: Harness['calls'] = [];
  const errors: unknown[] = [];
  const watcher = new RollbackWatcher({
    registry: t.registry,
    config: { ...CONFIG, ...options.config },
    endpoints: traffic,
    scheduler: clock,
    onError: (err) => errors.push(err),
    rollback: async (name, rollback) => {
      calls.push({ name, rollback });
      const fields = { from_version: rollback.fromVersion, to_version: rollback.toVersion, reason: rollback.reason, p95_ms: rollback.p95_ms, error_rate: rollback.error_rate, streak: rollback.streak, actor: WATCHER_ACTOR };
      t.registry.recordEvent(name, 'rollback_started', fields);
      if (options.action === 'fails') {
        t.registry.recordEvent(name, 'rollback', { ...fields, success: false, error: `${rollback.toVersion} did not become ready` });
        throw new Error(`${rollback.toVersion} did not become ready`);
      }
      await Promise.resolve();
      t.registry.rollback(name, { reason: rollback.reason, actor: WATCHER_ACTOR, toVersion: rollback.toVersion, events: [{ event: 'rollback', fields: { ...fields, success: true } }] });
    },
  });
  const h = { t, clock, traffic, watcher, calls, errors };
  open.push(h);
  return h;
}

/** The watcher's events (check, rollback_started, rollback) as compact strings, oldest first. */
function story(t: TestRegistry, name = 'm'): string[] {
  return t.registry.listEvents(name, 1000).filter((e) => ['check', 'rollback_started', 'rollback'].includes(e.event)).map(describeEvent);
}

function describeEvent(e: EventRecord): string {
  const f = e.fields;
  if (e.event === 'check') return `check ${String(f['version'])} ${String(f['verdict'])} streak=${String(f['streak'])}`;
  if (e.event === 'rollback') return `rollback ${String(f['from_version'])}→${String(f['to_version'])} success=${String(f['success'])}`;
  return `${e.event} ${String(f['from_version'])}→${String(f['to_version'])}`;
}
describe('RollbackWatcher', () => {
  it('3 breaching checks → one rollback to the previous production version, v3 → v2', async () => {
    const h = harness();
    h.traffic.behaviour.set('v3', 'breach');
    h.watcher.start();
    expect(h.watcher.state('m').next_check_at).toBe('2025-01-01T00:00:30.000Z');
    await h.clock.advance(90_000, h.watcher);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]).toEqual({
      name: 'm',
      rollback: { fromVersion: 'v3', toVersion: 'v2', reason: 'automatic: 3 consecutive breaching checks (p95 900 ms > 500 ms)', p95_ms: 900, error_rate: 0, streak: 3 },
    });
    expect(story(h.t)).toEqual([
      'check v3 breach streak=1', 'check v3 breach streak=2', 'check v3 breach streak=3',
      'rollback_started v3→v2', 'rollback v3→v2 success=true',
    ]);
    expect(h.t.registry.getProduction('m')?.version).toBe('v2');
    // v2 serves healthily afterwards; its streak starts from zero.
    await h.clock.advance(60_000, h.watcher);
    expect(story(h.t).slice(5)).toEqual(['check v2 pass streak=0', 'check v2 pass streak=0']);
    expect(h.calls).toHaveLength(1);
    const check = h.t.registry.listEvents('m', 1000).find((e) => e.event === 'check')!;
    expect(check.fields).toEqual({ version: 'v3', verdict: 'breach', p95_ms: 900, error_rate: 0, error_rate_lower: 0, requests: 40, in_flight: 0, streak: 1, probes: 0 });
    expect(h.errors).toEqual([]);
  });

  it('alternating breach and pass for 10 simulated minutes → no rollback', async () => {
    const h = harness();
    h.watcher.start();
    for (let i = 0; i < 20; i++) {
      h.traffic.behaviour.set('v3', i % 2 === 0 ? 'breach' : 'pass');
      await h.clock.advance(30_000, h.watcher);
    }
    expect(h.calls).toEqual([]);
    const s = story(h.t);
    expect(s).toHaveLength(20);
    expect(s.every((line, i) => line === (i % 2 === 0 ? 'check v3 breach streak=1' : 'check v3 pass streak=0'))).toBe(true);
  });

  it('inconclusive checks neither count nor reset the streak, and alone never roll back', async () => {
    const h = harness();
    h.watcher.start();
    const script: Behaviour[] = ['breach', 'idle', 'breach', 'idle', 'idle', 'breach'];
    for (const b of script) {
      h.traffic.behaviour.set('v3', b);
      await h.clock.advance(30_000, h.watcher);
    }
    expect(story(h.t)).toEqual([
      'check v3 breach streak=1', 'check v3 inconclusive streak=1', 'check v3 breach streak=2',
      'check v3 inconclusive streak=2', 'check v3 inconclusive streak=2', 'check v3 breach streak=3',
      'rollback_started v3→v2', 'rollback v3→v2 success=true',
    ]);
    // A long idle stretch, even of a slow version: 0 rollbacks.
    const idle = harness();
    idle.traffic.behaviour.set('v3', 'idle');
    idle.watcher.start();
    await idle.clock.advance(20 * 30_000, idle.watcher);
    expect(idle.calls).toEqual([]);
    expect(new Set(story(idle.t))).toEqual(new Set(['check v3 inconclusive streak=0']));
    const fields = idle.t.registry.listEvents('m', 1).at(0)!.fields;
    expect(fields).toMatchObject({ verdict: 'inconclusive', requests: 5, p95_ms: 20 });
  });

  it('error checks (could not measure) never roll back and do not reset the streak', async () => {
    const h = harness();
    h.watcher.start();
    for (const b of ['breach', 'breach', 'unmeasurable', 'unmeasurable', 'unmeasurable', 'unmeasurable'] as const) {
      h.traffic.behaviour.set('v3', b);
      await h.clock.advance(30_000, h.watcher);
    }
    expect(h.calls).toEqual([]);
    expect(story(h.t)).toEqual([
      'check v3 breach streak=1', 'check v3 breach streak=2',
      ...Array.from({ length: 4 }, () => 'check v3 error streak=2'),
    ]);
    const last = h.t.registry.listEvents('m', 1).at(0)!;
    expect(last.fields).toEqual({ version: 'v3', verdict: 'error', p95_ms: null, error_rate: null, error_rate_lower: null, requests: 0, in_flight: 0, streak: 2, error: 'could not measure: connection refused' });
    // Measurable again and still breaching: the streak continues to 3.
    h.traffic.behaviour.set('v3', 'breach');
    await h.clock.advance(30_000, h.watcher);
    expect(h.calls).toHaveLength(1);
  });

  it('a version that hangs (requests in flight past the timeout) breaches and is rolled back', async () => {
    const h = harness();
    h.traffic.behaviour.set('v3', 'hang');
    h.watcher.start();
    await h.clock.advance(90_000, h.watcher);
    expect(h.calls.map((c) => c.rollback.reason)).toEqual([
      'automatic: 3 consecutive breaching checks (p95 31000 ms > 500 ms and error rate 20/20 (95 % lower bound 88.1 %) > 10 %)',
    ]);
    expect(h.t.registry.listEvents('m', 1000).find((e) => e.event === 'check')!.fields).toMatchObject({ in_flight: 20, requests: 20, error_rate: 1 });
  });

  it('respects the cooldown: a second breaching version waits until it ends', async () => {
    const h = harness({ versions: ['v1', 'v2', 'v3'] });
    h.traffic.behaviour.set('v3', 'breach');
    h.traffic.behaviour.set('v2', 'errors');
    h.watcher.start();
    await h.clock.advance(90_000, h.watcher); // t=90 s: v3 → v2
    expect(h.watcher.state('m').cooldown_until).toBe('2025-01-01T00:06:30.000Z');
    // v2 breaches every check from t=120 s, but the cooldown runs to t=390 s.
    await h.clock.advance(270_000, h.watcher); // t=360 s
    expect(h.calls).toHaveLength(1);
    expect(h.watcher.state('m').streak).toBe(9); // checks at 120 … 360 s
    await h.clock.advance(30_000, h.watcher); // t=390 s: cooldown over
    expect(h.calls.map((c) => `${c.rollback.fromVersion}→${c.rollback.toVersion}`)).toEqual(['v3→v2', 'v2→v1']);
    expect(h.calls[1]!.rollback.streak).toBe(10);
    expect(h.calls[1]!.rollback.reason).toBe('automatic: 10 consecutive breaching checks (error rate 20/40 (95 % lower bound 37.4 %) > 10 %)');
    expect(h.t.registry.getProduction('m')?.version).toBe('v1');
  });

  it('skips versions marked failed (v3 was rolled back automatically) when choosing the target', async () => {
    // v1 → v2 → v3; v3 breaches → v2; then the user promotes v4, which breaches: target is v2, not v3.
    const h = harness({ config: { cooldown_s: 0 } });
    h.traffic.behaviour.set('v3', 'breach');
    h.traffic.behaviour.set('v4', 'breach');
    h.watcher.start();
    await h.clock.advance(90_000, h.watcher);
    deployHistory(h.t, ['v4']);
    await h.clock.advance(90_000, h.watcher);
    expect(h.calls.map((c) => `${c.rollback.fromVersion}→${c.rollback.toVersion}`)).toEqual(['v3→v2', 'v4→v2']);
    // v2 now breaches too: v4 and v3 are marked failed, so the target is v1.
    h.traffic.behaviour.set('v2', 'breach');
    await h.clock.advance(90_000, h.watcher);
    expect(h.calls.map((c) => `${c.rollback.fromVersion}→${c.rollback.toVersion}`)).toEqual(['v3→v2', 'v4→v2', 'v2→v1']);
  });

  it('remembers marked-failed versions and the cooldown across a restart (from the registry)', async () => {
    const first = harness({ config: { cooldown_s: 600 } });
    first.traffic.behaviour.set('v3', 'breach');
    first.watcher.start();
    await first.clock.advance(90_000, first.watcher);
    await first.watcher.dispose();
    // A new watcher on the same registry: the user brings v3 back by hand; it breaches again.
    first.t.registry.rollback('m', { reason: 'manual', actor: 'cli', toVersion: 'v3' });
    const second = harness({ t: first.t, clock: first.clock, config: { cooldown_s: 600 } });
    second.traffic.behaviour.set('v3', 'breach');
    expect(second.watcher.state('m').cooldown_until).toBe('2025-01-01T00:11:30.000Z');
    second.watcher.start();
    await second.clock.advance(20 * 30_000, second.watcher);
    // Never a second automatic rollback of v3, and no event loop: only checks.
    expect(second.calls).toEqual([]);
    expect(story(second.t).filter((l) => !l.startsWith('check'))).toEqual(['rollback_started v3→v2', 'rollback v3→v2 success=true']);
    expect(second.watcher.state('m').streak).toBe(20);
  });

  it('nothing healthy to roll back to → exactly one failed rollback event, no loop', async () => {
    const h = harness({ versions: ['v1'], config: { cooldown_s: 0 } });
    h.traffic.behaviour.set('v1', 'breach');
    h.watcher.start();
    await h.clock.advance(10 * 30_000, h.watcher);
    expect(h.calls).toEqual([]);
    const rollbacks = h.t.registry.listEvents('m', 1000).filter((e) => e.event.startsWith('rollback'));
    expect(rollbacks.map((e) => e.fields)).toEqual([{
      from_version: 'v1', to_version: null, success: false, streak: 3, p95_ms: 900, error_rate: 0, actor: 'watcher',
      reason: 'automatic: 3 consecutive breaching checks (p95 900 ms > 500 ms); nothing healthy to roll back to: no version of m was in production before v1',
    }]);
    expect(story(h.t).filter((l) => l.startsWith('check'))).toHaveLength(10);
  });

  it('names why each earlier version is not a target', async () => {
    const h = harness({ versions: ['v1', 'v2'], config: { cooldown_s: 0 } });
    h.traffic.behaviour.set('v2', 'breach');
    h.traffic.behaviour.set('v1', 'breach');
    h.watcher.start();
    await h.clock.advance(180_000, h.watcher);
    expect(h.calls.map((c) => `${c.rollback.fromVersion}→${c.rollback.toVersion}`)).toEqual(['v2→v1']);
    const failed = h.t.registry.listEvents('m', 1000).filter((e) => e.event === 'rollback' && e.fields['success'] === false);
    expect(failed.map((e) => e.fields['reason'])).toEqual([
      'automatic: 3 consecutive breaching checks (p95 900 ms > 500 ms); nothing healthy to roll back to: v2 was rolled back automatically before',
    ]);
  });

  it('a rollback action that fails is reported and not retried', async () => {
    const h = harness({ action: 'fails', config: { cooldown_s: 0 } });
    h.traffic.behaviour.set('v3', 'breach');
    h.watcher.start();
    await h.clock.advance(10 * 30_000, h.watcher);
    expect(h.calls).toHaveLength(1);
    expect(h.errors.map((e) => (e as Error).message)).toEqual(['v2 did not become ready']);
    expect(h.t.registry.getProduction('m')?.version).toBe('v3');
    expect(story(h.t).filter((l) => !l.startsWith('check'))).toEqual(['rollback_started v3→v2', 'rollback v3→v2 success=false']);
  });

  it('applies a new config from the next check, including a new interval', async () => {
    const h = harness();
    h.traffic.behaviour.set('v3', 'breach');
    h.watcher.start();
    await h.clock.advance(30_000, h.watcher);
    // Raise the threshold above the measured 900 ms: the next check passes.
    h.watcher.updateConfig({ ...CONFIG, latency_threshold_ms: 1000, monitor_interval_s: 5 });
    expect(h.watcher.state('m').next_check_at).toBe('2025-01-01T00:00:35.000Z');
    await h.clock.advance(5_000, h.watcher);
    expect(story(h.t)).toEqual(['check v3 breach streak=1', 'check v3 pass streak=0']);
    expect(h.watcher.state('m')).toMatchObject({
      streak: 0, required: 3, next_check_at: '2025-01-01T00:00:40.000Z', cooldown_until: null,
      rule: "every 5 s: breach when p95 > 1000 ms or the error rate's 95 % lower bound > 10 % (at least 20 requests, else inconclusive); roll back after 3 consecutive breaches",
    });
    expect(h.clock.pendingTimers).toBe(1);
  });

  it('state() lists the last checks as check events', async () => {
    const h = harness();
    h.watcher.start();
    await h.clock.advance(12 * 30_000, h.watcher);
    const s = h.watcher.state('m');
    expect(s.last_checks).toHaveLength(10);
    expect(s.last_checks.at(-1)).toMatchObject({ event: 'check', model: 'm', version: 'v3', verdict: 'pass', ts: '2025-01-01T00:06:00.000Z' });
    expect(typeof s.last_checks.at(-1)!.id).toBe('number');
    expect(h.watcher.state('nobody')).toMatchObject({ streak: 0, last_checks: [], cooldown_until: null });
  });

  it('stops cleanly: no timer left, no check after dispose', async () => {
    const h = harness();
    h.watcher.start();
    await h.watcher.dispose();
    expect(h.clock.pendingTimers).toBe(0);
    await h.clock.advance(120_000, h.watcher);
    expect(h.traffic.takes).toBe(0);
    expect(h.watcher.state('m').next_check_at).toBeNull();
  });

  it('with probe.enabled, tops each interval up to min_requests_per_check with probes before taking it', async () => {
    const clock = new VirtualClock();
    const t = makeRegistry({ now: () => new Date(clock.now()) });
    deployHistory(t, ['v1']);
    const sent: number[] = [];
    let answered = 0;
    let probed = 0;
    const watcher = new RollbackWatcher({
      registry: t.registry,
      config: { ...CONFIG, probe: { enabled: true, interval_s: 10 } },
      scheduler: clock,
      rollback: () => Promise.resolve(),
      endpoints: {
        intervalRequests: () => answered,
        sendProbes: async (_name, count) => {
          sent.push(count);
          answered += count;
          probed += count;
        },
        takeInterval: () => {
          const m = { version: 'v1', start_ms: 0, end_ms: 0, completed: answered, errors: 0, probes: probed, probe_errors: 0, latencies_ms: Array.from({ length: answered }, () => 5), in_flight: [] };
          answered = probed = 0;
          return m;
        },
      },
    });
    open.push({ t, clock, watcher, traffic: new ScriptedTraffic(t, clock), calls: [], errors: [] });
    watcher.start();
    answered = 7; // user traffic of the first interval
    await clock.advance(30_000, watcher);
    answered = 25; // enough user traffic: no probe
    await clock.advance(30_000, watcher);
    expect(sent).toEqual([13]);
    expect(t.registry.listEvents('m', 10).filter((e) => e.event === 'check').map((e) => [e.fields['verdict'], e.fields['requests'], e.fields['probes']])).toEqual([
      ['pass', 20, 13], ['pass', 25, 0],
    ]);
  });

  it('uses the config defaults: min_requests_per_check is 20', () => {
    expect(DEFAULT_CONFIG.min_requests_per_check).toBe(20);
  });
});
