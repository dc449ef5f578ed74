/**
 * The rollback watcher (DESIGN §7): checks every production deployment of a workspace every
 * `monitor_interval_s`, records each check as a `check` event, and after `rollback_checks`
 * consecutive breaches asks for an automatic rollback.
 *
 * Safeguards against the failure modes of other rollout controllers (see NOTES.md):
 * - only a pass resets the breach streak; inconclusive and error checks leave it as it is, so
 *   low traffic neither rolls back nor hides a bad version, and "could not measure" never rolls back;
 * - at most one automatic rollback per (model, version), and a version rolled back for a breach
 *   is marked failed and never chosen as an automatic target again — both derived from the
 *   registry (stage transitions and events by actor `watcher`), so they survive restarts;
 * - no automatic rollback within `cooldown_s` of the previous one;
 * - nothing healthy to roll back to: one `rollback` event with `success: false` and the reason,
 *   and no retry loop.
 *
 * Time comes from an injected scheduler so tests can drive exact sequences.
 */
import { wallClockTimers, type Timers } from '../common/timers.js';
import type { DeployConfig } from '../config/deploy-config.js';
import type { EventOf } from '../events/event-types.js';
import type { JsonObject } from '../common/json.js';
import type { IntervalMeasurement } from '../metrics/interval-sample.js';
import type { Registry } from '../registry/registry.js';
import { describeRule, judgeInterval, type CheckFindings, type Verdict } from './check.js';

/** Actor of automatic rollbacks in transitions and events; how the watcher recognises its own. */
export const WATCHER_ACTOR = 'watcher';

/** How many of a model's latest events are read on start to find earlier automatic rollbacks. */
export const HISTORY_EVENTS = 20_000;

/** How many checks per model `state()` reports. */
export const LAST_CHECKS = 10;

/** The config keys the watcher uses. */
export type WatcherConfig = Pick<
  DeployConfig,
  'latency_threshold_ms' | 'error_rate_threshold' | 'rollback_checks' | 'monitor_interval_s' | 'cooldown_s' | 'min_requests_per_check' | 'request_timeout_ms' | 'probe'
>;

/** Clock and timers, injected so tests can move time. Times are epoch ms. */
export type WatcherScheduler = Timers;

/** The real clock and timers; timers are unref'd so a watcher never keeps a process alive. */
export const systemScheduler: WatcherScheduler = wallClockTimers;

/** Where measurements come from: the deployments' stable endpoints (every target has one). */
export interface WatchedEndpoints {
  /**
   * The deployment's interval since the previous call (StableEndpoint.takeInterval); null when
   * nothing serves it in this process. Throwing or null makes the check an `error`.
   */
  takeInterval(name: string): IntervalMeasurement | null | Promise<IntervalMeasurement | null>;
  /** Requests answered since the previous take (StableEndpoint.intervalRequests); needed for probes. */
  intervalRequests?(name: string): number;
  /**
   * Sends `count` synthetic probe requests (with PROBE_HEADER) to the deployment and resolves
   * when they are answered. With `probe.enabled`, called before a take to top the interval up
   * to `min_requests_per_check`, user traffic first.
   */
  sendProbes?(name: string, count: number): Promise<void>;
}

/** What the watcher asks the rollback action to do. */
export interface AutomaticRollback {
  /** The breaching production version. */
  readonly fromVersion: string;
  /** The archived version to bring back (pass as `toVersion`: it may not be the registry's default). */
  readonly toVersion: string;
  readonly reason: string;
  readonly p95_ms: number | null;
  readonly error_rate: number | null;
  readonly streak: number;
}

/**
 * Performs an automatic rollback. It must record `rollback_started` then `rollback` (success
 * true or false) with `actor: WATCHER_ACTOR` and the given fields, and make the registry's stage
 * changes with actor WATCHER_ACTOR (DeploymentManager.rollback does this when given them).
 * A rejection is reported through `onError`; the version stays marked as rolled back once.
 */
export type RollbackAction = (name: string, rollback: AutomaticRollback) => Promise<unknown>;

/** The registry calls the watcher makes. */
export type WatcherRegistry = Pick<Registry, 'listModels' | 'listTransitions' | 'listEvents' | 'getVersion' | 'recordEvent' | 'events'>;

export interface RollbackWatcherOptions {
  readonly registry: WatcherRegistry;
  readonly config: WatcherConfig;
  readonly endpoints: WatchedEndpoints;
  readonly rollback: RollbackAction;
  /** Default: the real clock and timers. */
  readonly scheduler?: WatcherScheduler;
  /** Problems that are not checks (a failed rollback action, an event that could not be written). */
  readonly onError?: (err: unknown, model: string) => void;
}

/** A `check` event as `deploy status --json` lists it. */
export type CheckEvent = EventOf<'check'>;

/** `deploy status --json` → `watcher`. */
export interface WatcherState {
  /** The rule in words. */
  readonly rule: string;
  /** Consecutive breaches of the current production version. */
  readonly streak: number;
  /** Breaches that trigger a rollback (`rollback_checks`). */
  readonly required: number;
  /** The latest checks, oldest first. */
  readonly last_checks: readonly CheckEvent[];
  /** ISO time of the next check; null while the watcher is stopped. */
  readonly next_check_at: string | null;
  /** ISO time the cooldown after the last automatic rollback ends; null when none is running. */
  readonly cooldown_until: string | null;
}

/** What the registry says about earlier automatic rollbacks of one model. */
interface AutoHistory {
  /** Versions an automatic rollback was started (or refused) for: never again, never a target. */
  readonly failed: Set<string>;
  /** Epoch ms of the last automatic rollback started; null when none. */
  lastAutoMs: number | null;
}

interface ModelWatch {
  /** The production version the streak belongs to. */
  version: string | null;
  streak: number;
  readonly lastChecks: CheckEvent[];
  /** A check or rollback of this model is under way: later rounds skip it. */
  busy: boolean;
  history: AutoHistory | null;
}

/** Watches the production deployments of one workspace; see the file comment. */
export class RollbackWatcher {
  private config: WatcherConfig;
  private readonly registry: WatcherRegistry;
  private readonly endpoints: WatchedEndpoints;
  private readonly rollbackAction: RollbackAction;
  private readonly scheduler: WatcherScheduler;
  private readonly onError: (err: unknown, model: string) => void;
  private readonly models = new Map<string, ModelWatch>();
  private readonly unsubscribe: () => void;
  private timer: unknown = null;
  private nextAtMs: number | null = null;
  private lastRoundMs: number | null = null;
  private readonly rounds = new Set<Promise<void>>();
  private disposed = false;

  constructor(options: RollbackWatcherOptions) {
    this.config = options.config;
    this.registry = options.registry;
    this.endpoints = options.endpoints;
    this.rollbackAction = options.rollback;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.onError = options.onError ?? ((err, model) => process.emitWarning(`rollback watcher (${model}): ${err instanceof Error ? err.message : String(err)}`));
    // Check events come back from the stream with their row id, as status should show them.
    this.unsubscribe = this.registry.events.subscribe((e) => {
      if (e.event === 'check') this.watchOf(e.model).lastChecks.push(e);
      const checks = this.models.get(e.model)?.lastChecks;
      if (checks && checks.length > LAST_CHECKS) checks.splice(0, checks.length - LAST_CHECKS);
    });
  }

  /** Starts checking every `monitor_interval_s` (the first check one interval from now). */
  start(): void {
    if (this.disposed || this.timer !== null) return;
    this.lastRoundMs = this.scheduler.now();
    this.schedule(this.lastRoundMs + this.intervalMs());
  }

  /** Stops the timer; a round under way finishes. */
  stop(): void {
    if (this.timer !== null) this.scheduler.clearTimer(this.timer);
    this.timer = null;
    this.nextAtMs = null;
  }

  /** Stops, waits for a round under way, and stops listening to the registry. */
  async dispose(): Promise<void> {
    this.stop();
    this.disposed = true;
    await this.whenIdle();
    this.unsubscribe();
  }

  /** Resolves when no round (and no rollback it started) is under way. */
  async whenIdle(): Promise<void> {
    while (this.rounds.size > 0) await Promise.all([...this.rounds]);
  }

  /**
   * Applies new settings from the next check on (thresholds are read at each check). A changed
   * interval reschedules the next check to one new interval after the previous one (or now).
   */
  updateConfig(config: WatcherConfig): void {
    const intervalChanged = config.monitor_interval_s !== this.config.monitor_interval_s;
    this.config = config;
    if (intervalChanged && this.timer !== null) {
      this.scheduler.clearTimer(this.timer);
      this.timer = null;
      const from = this.lastRoundMs ?? this.scheduler.now();
      this.schedule(Math.max(this.scheduler.now(), from + this.intervalMs()));
    }
  }

  /** The watcher's view of one model for `deploy status --json`. */
  state(name: string): WatcherState {
    const cfg = this.config;
    const watch = this.models.get(name);
    let cooldownUntil: string | null = null;
    // Quietly: status may ask about a model that is not registered.
    const history = this.historyOf(name, watch, false);
    if (history?.lastAutoMs != null) {
      const until = history.lastAutoMs + cfg.cooldown_s * 1000;
      if (until > this.scheduler.now()) cooldownUntil = new Date(until).toISOString();
    }
    return {
      rule: describeRule(cfg),
      streak: watch?.streak ?? 0,
      required: cfg.rollback_checks,
      last_checks: [...(watch?.lastChecks ?? [])],
      next_check_at: this.nextAtMs === null ? null : new Date(this.nextAtMs).toISOString(),
      cooldown_until: cooldownUntil,
    };
  }

  /** Checks every production deployment once now (what each timer tick does). */
  runChecks(): Promise<void> {
    const round = this.round().finally(() => this.rounds.delete(round));
    this.rounds.add(round);
    return round;
  }

  private intervalMs(): number {
    return this.config.monitor_interval_s * 1000;
  }

  private schedule(atMs: number): void {
    this.nextAtMs = atMs;
    this.timer = this.scheduler.setTimer(() => this.tick(), Math.max(0, atMs - this.scheduler.now()));
  }

  private tick(): void {
    this.timer = null;
    if (this.disposed) return;
    const now = this.scheduler.now();
    this.lastRoundMs = now;
    // Fixed rate from the planned time, so checks do not drift by the time each round takes;
    // after a stall (sleep, a blocked loop) the next one is one interval from now instead.
    const planned = (this.nextAtMs ?? now) + this.intervalMs();
    this.schedule(planned > now ? planned : now + this.intervalMs());
    void this.runChecks();
  }

  private async round(): Promise<void> {
    let production: { name: string; version: string }[];
    const seen = new Set<string>();
    try {
      production = [];
      for (const m of this.registry.listModels()) {
        seen.add(m.name);
        if (m.production !== null) production.push({ name: m.name, version: m.production });
      }
    } catch (err) {
      this.onError(err, '*');
      return;
    }
    for (const name of [...this.models.keys()]) if (!seen.has(name)) this.models.delete(name);
    await Promise.all(production.map(({ name, version }) => this.checkModel(name, version)));
  }

  private watchOf(name: string): ModelWatch {
    let watch = this.models.get(name);
    if (!watch) {
      watch = { version: null, streak: 0, lastChecks: [], busy: false, history: null };
      this.models.set(name, watch);
    }
    return watch;
  }

  private async checkModel(name: string, version: string): Promise<void> {
    const watch = this.watchOf(name);
    if (watch.busy) return;
    watch.busy = true;
    try {
      if (watch.version !== version) {
        // A new production version (deploy, promote, rollback) starts with a clean streak.
        watch.version = version;
        watch.streak = 0;
      }
      const cfg = this.config;
      let findings: CheckFindings | null = null;
      let error: string | null = null;
      try {
        const m = await this.measure(name, cfg);
        if (m === null) error = `no endpoint is serving ${name} in this process`;
        else if (m.version !== version) error = `the endpoint serves ${m.version} while the registry's production version is ${version} (a switch is under way)`;
        else findings = judgeInterval(m, cfg);
      } catch (err) {
        error = `could not measure: ${err instanceof Error ? err.message : String(err)}`;
      }
      const verdict: Verdict = findings?.verdict ?? 'error';
      if (verdict === 'breach') watch.streak++;
      else if (verdict === 'pass') watch.streak = 0;
      const fields: JsonObject = findings
        ? {
          version, verdict, p95_ms: findings.p95_ms, error_rate: findings.error_rate, error_rate_lower: findings.error_rate_lower,
          requests: findings.requests, in_flight: findings.in_flight, streak: watch.streak, probes: findings.probes,
        }
        : { version, verdict, p95_ms: null, error_rate: null, error_rate_lower: null, requests: 0, in_flight: 0, streak: watch.streak, error };
      this.record(name, 'check', fields);
      if (findings?.verdict === 'breach' && watch.streak >= cfg.rollback_checks) {
        await this.maybeRollback(name, version, findings, watch, cfg);
      }
    } finally {
      watch.busy = false;
    }
  }

  /** Tops the interval up with probes when enabled, then takes it. */
  private async measure(name: string, cfg: WatcherConfig): Promise<IntervalMeasurement | null> {
    const { intervalRequests, sendProbes } = this.endpoints;
    if (cfg.probe.enabled && intervalRequests && sendProbes) {
      const missing = cfg.min_requests_per_check - intervalRequests.call(this.endpoints, name);
      if (missing > 0) {
        try {
          await sendProbes.call(this.endpoints, name, missing);
        } catch (err) {
          // Probes only make a check conclusive; failing to send them is not a measurement error.
          this.onError(err, name);
        }
      }
    }
    return await this.endpoints.takeInterval(name);
  }

  private async maybeRollback(name: string, version: string, findings: CheckFindings, watch: ModelWatch, cfg: WatcherConfig): Promise<void> {
    const history = this.historyOf(name, watch);
    if (!history || history.failed.has(version)) return; // once per (model, version): no loop
    const now = this.scheduler.now();
    // In the cooldown the streak keeps counting; the first breach after it acts.
    if (history.lastAutoMs !== null && now < history.lastAutoMs + cfg.cooldown_s * 1000) return;
    const reason = `automatic: ${watch.streak} consecutive breaching checks (${findings.breach_reason ?? 'breach'})`;
    history.failed.add(version);
    const target = this.pickTarget(name, version, history);
    if (typeof target !== 'string') {
      this.record(name, 'rollback', {
        from_version: version, to_version: null, reason: `${reason}; nothing healthy to roll back to: ${target.why}`,
        p95_ms: findings.p95_ms, error_rate: findings.error_rate, success: false, streak: watch.streak, actor: WATCHER_ACTOR,
      });
      return;
    }
    history.lastAutoMs = now;
    try {
      await this.rollbackAction(name, { fromVersion: version, toVersion: target, reason, p95_ms: findings.p95_ms, error_rate: findings.error_rate, streak: watch.streak });
    } catch (err) {
      this.onError(err, name);
    }
  }

  /**
   * The most recent version that was production before `current`, is archived (rollback
   * brings back archived versions only) and is not marked failed; or why there is none.
   */
  private pickTarget(name: string, current: string, history: AutoHistory): string | { why: string } {
    const transitions = this.registry.listTransitions(name);
    const seen = new Set<string>([current]);
    const skipped: string[] = [];
    for (let i = transitions.length - 1; i >= 0; i--) {
      const t = transitions[i]!;
      if (t.to_stage !== 'production' || seen.has(t.version)) continue;
      seen.add(t.version);
      if (history.failed.has(t.version)) {
        skipped.push(`${t.version} was rolled back automatically before`);
        continue;
      }
      const stage = this.registry.getVersion(name, t.version)?.stage ?? 'deleted';
      if (stage !== 'archived') {
        skipped.push(`${t.version} is ${stage}`);
        continue;
      }
      return t.version;
    }
    return { why: skipped.length > 0 ? skipped.join(', ') : `no version of ${name} was in production before ${current}` };
  }

  /** Loads (once per model) what the registry says about earlier automatic rollbacks. */
  private historyOf(name: string, watch = this.models.get(name), report = true): AutoHistory | null {
    if (watch?.history) return watch.history;
    let history: AutoHistory;
    try {
      history = { failed: new Set(), lastAutoMs: null };
      const later = (ts: string): void => {
        const ms = Date.parse(ts);
        if (Number.isFinite(ms) && (history.lastAutoMs === null || ms > history.lastAutoMs)) history.lastAutoMs = ms;
      };
      // Stage changes are complete (never trimmed): every version the watcher took out of production.
      for (const t of this.registry.listTransitions(name)) {
        if (t.actor === WATCHER_ACTOR && t.from_stage === 'production') {
          history.failed.add(t.version);
          later(t.at);
        }
      }
      // Events add the attempts that changed no stage (failed, or nothing to roll back to).
      for (const e of this.registry.listEvents(name, HISTORY_EVENTS)) {
        if ((e.event !== 'rollback_started' && e.event !== 'rollback') || e.fields['actor'] !== WATCHER_ACTOR) continue;
        const from = e.fields['from_version'];
        if (typeof from === 'string') history.failed.add(from);
        if (e.event === 'rollback_started') later(e.ts);
      }
    } catch (err) {
      // Without its history the watcher cannot tell a second rollback from a first: it does none.
      if (report) this.onError(err, name);
      return null;
    }
    if (watch) watch.history = history;
    return history;
  }

  private record(name: string, event: 'check' | 'rollback', fields: JsonObject): void {
    try {
      this.registry.recordEvent(name, event, fields, { at: new Date(this.scheduler.now()) });
    } catch (err) {
      this.onError(err, name);
    }
  }
}
