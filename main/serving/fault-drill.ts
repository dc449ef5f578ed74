/**
 * Fault drills (issue 9 §5): a fault injected at a deployment's stable endpoint, into one model
 * version only, to prove end to end that the rollback watcher catches a slow or failing version
 * and that a rollback leaves the fault behind.
 *
 * A drill adds latency (the answer is held back after the model has answered, so it counts in
 * the measured latency exactly like a slow model, and a drained old version can still be
 * disposed), or answers a seeded fraction R of /predict requests 500 without calling the model,
 * or both. The stable endpoint owns the drill's life (see StableEndpoint.startDrill); this file
 * holds what does not need HTTP: validation, the seeded choice of failing requests, the state
 * view, and the drill's lines in /metrics' Prometheus text.
 */
import { wallClockTimers, type Timers } from '../common/timers.js';
import type { DrillView } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import { escapeLabelValue } from '../metrics/prometheus.js';

/** Largest injectable latency: the latency recorders clamp at 600 000 ms. */
export const MAX_DRILL_LATENCY_MS = 600_000;

/** Longest drill duration: one year (a drill meant to run for good is started without one). */
export const MAX_DRILL_DURATION_MS = 365 * 24 * 3600 * 1000;

/** The `error` of an injected 500, so clients and logs can tell a drill from a real fault. */
export const DRILL_ERROR_MESSAGE = 'fault drill: injected server error';

/** What to inject, and into which version. */
export interface DrillOptions {
  /** The version to slow down or break; the drill ends when another version serves. */
  readonly version: string;
  /** Added to every answer of that version, in ms (0 to MAX_DRILL_LATENCY_MS). */
  readonly latencyMs?: number;
  /** Share of that version's /predict requests answered 500 (0 to 1). */
  readonly errorRate?: number;
  /** Chooses which requests fail (default 0); the same seed fails the same request numbers. */
  readonly seed?: number;
  /** The drill ends by itself this long after it starts; absent: until cleared or the version leaves. */
  readonly durationMs?: number;
}

/** Why a drill ended: cleared by a user (or replaced by a new drill), its duration ran out, or its version stopped serving. */
export type DrillEndReason = 'cleared' | 'expired' | 'version_left';

/** A drill as /metrics, `drill()` and the end callback show it: the contract's DrillView. */
export type DrillState = DrillView;

/** What the drill does to one request. */
export interface DrillDecision {
  /** Hold the answer back this long (0: not at all). */
  readonly delayMs: number;
  /** Answer 500 without calling the model. */
  readonly fail: boolean;
}

/** Clock and timers of drill expiry, injectable so a test can end a drill at an exact time. Epoch ms. */
export type DrillClock = Timers;

/** The real clock; timers are unref'd so a running drill never keeps a process alive. */
export const systemDrillClock: DrillClock = wallClockTimers;

/** setTimeout fires at once for delays above this; longer drills re-arm (see ActiveDrill). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks a drill request; E_USAGE naming the bad option. At least one of latencyMs and
 * errorRate must be given (both together are allowed).
 */
export function validateDrillOptions(options: DrillOptions): void {
  const usage = (message: string): never => {
    throw new FramewormError('E_USAGE', `fault drill: ${message}`);
  };
  if (typeof options.version !== 'string' || options.version.length === 0) usage('a version to drill is required');
  const { latencyMs, errorRate, seed, durationMs } = options;
  if (latencyMs === undefined && errorRate === undefined) usage('give a latency (--latency-ms) or an error rate (--error-rate), or both');
  if (latencyMs !== undefined && !(typeof latencyMs === 'number' && latencyMs >= 0 && latencyMs <= MAX_DRILL_LATENCY_MS)) {
    usage(`latency must be a number of ms from 0 to ${MAX_DRILL_LATENCY_MS} (got ${String(latencyMs)})`);
  }
  if (errorRate !== undefined && !(typeof errorRate === 'number' && errorRate >= 0 && errorRate <= 1)) {
    usage(`error rate must be a number from 0 to 1 (got ${String(errorRate)})`);
  }
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) usage(`seed must be a non-negative integer (got ${String(seed)})`);
  if (durationMs !== undefined && !(typeof durationMs === 'number' && durationMs > 0 && durationMs <= MAX_DRILL_DURATION_MS)) {
    usage(`duration must be a positive number of ms, at most one year (got ${String(durationMs)})`);
  }
}

/**
 * The phase of a seed's failure pattern in [0, 1): a 32-bit integer hash (murmur3's finaliser)
 * of the seed's low and high words, so neighbouring seeds give unrelated phases.
 */
function seedPhase(seed: number): number {
  let h = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/**
 * One running drill: its settings and counters. Failing requests are chosen by error diffusion
 * with a seeded phase φ: request i (from 0) fails when ⌊(i+1)·R + φ⌋ > ⌊i·R + φ⌋. So any n
 * consecutive requests hold ⌊n·R⌋ or ⌈n·R⌉ failures — exactly n·R when that is whole — spread
 * evenly, which gives every watcher interval the drilled rate rather than a random clump, and
 * the first n requests fail exactly ⌊n·R + φ⌋ times (see expectedDrillErrors).
 */
export class ActiveDrill {
  readonly version: string;
  readonly latencyMs: number | null;
  readonly errorRate: number | null;
  readonly seed: number;
  readonly durationMs: number | null;
  readonly startedMs: number;
  readonly expiresMs: number | null;
  private readonly phase: number;
  private seen = 0;
  private injected = 0;

  constructor(options: DrillOptions, startedMs: number) {
    validateDrillOptions(options);
    this.version = options.version;
    this.latencyMs = options.latencyMs ?? null;
    this.errorRate = options.errorRate ?? null;
    this.seed = options.seed ?? 0;
    this.durationMs = options.durationMs ?? null;
    this.startedMs = startedMs;
    this.expiresMs = this.durationMs === null ? null : startedMs + this.durationMs;
    this.phase = seedPhase(this.seed);
  }

  /** Whether the drill's duration has run out at `nowMs`. */
  expiredAt(nowMs: number): boolean {
    return this.expiresMs !== null && nowMs >= this.expiresMs;
  }

  /** Numbers the next request of the drilled version and says what to do to it. */
  next(): DrillDecision {
    const i = this.seen++;
    const fail = this.errorRate !== null && failsAt(i, this.errorRate, this.phase);
    if (fail) this.injected++;
    return { delayMs: this.latencyMs ?? 0, fail };
  }

  state(): DrillState {
    return {
      version: this.version,
      latency_ms: this.latencyMs,
      error_rate: this.errorRate,
      seed: this.seed,
      duration_ms: this.durationMs,
      started_at: new Date(this.startedMs).toISOString(),
      expires_at: this.expiresMs === null ? null : new Date(this.expiresMs).toISOString(),
      requests: this.seen,
      injected_errors: this.injected,
    };
  }
}

function failsAt(i: number, rate: number, phase: number): boolean {
  return Math.floor((i + 1) * rate + phase) > Math.floor(i * rate + phase);
}

/** How many of a drill's first `requests` requests it answers 500 (for tests and benchmarks). */
export function expectedDrillErrors(errorRate: number, seed: number, requests: number): number {
  const phase = seedPhase(seed);
  let n = 0;
  for (let i = 0; i < requests; i++) if (failsAt(i, errorRate, phase)) n++;
  return n;
}

/**
 * Waits `ms` of real time (a drill's latency must be real to be measured), ending early when
 * `signal` aborts: nobody waits for the answer any more, so the timer need not stay.
 */
export function drillDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The drill's lines in /metrics' Prometheus text: `frameworm_drill_active` (0 or 1) and, while
 * one runs, its injected latency and error rate labelled with the drilled version.
 */
export function drillPrometheus(state: DrillState | null, model: string): string {
  const m = `model="${escapeLabelValue(model)}"`;
  const lines = [
    '# HELP frameworm_drill_active Whether a fault drill is running at this endpoint (1) or not (0).',
    '# TYPE frameworm_drill_active gauge',
    `frameworm_drill_active{${m}} ${state ? 1 : 0}`,
  ];
  if (state) {
    const labels = `{${m},version="${escapeLabelValue(state.version)}"}`;
    lines.push(
      '# HELP frameworm_drill_latency_seconds Latency a running fault drill adds to each answer of the drilled version.',
      '# TYPE frameworm_drill_latency_seconds gauge',
      `frameworm_drill_latency_seconds${labels} ${(state.latency_ms ?? 0) / 1000}`,
      '# HELP frameworm_drill_error_rate Share of the drilled version\'s requests a running fault drill answers 500.',
      '# TYPE frameworm_drill_error_rate gauge',
      `frameworm_drill_error_rate${labels} ${state.error_rate ?? 0}`,
      '# HELP frameworm_drill_injected_errors_total Requests a running fault drill has answered 500.',
      '# TYPE frameworm_drill_injected_errors_total counter',
      `frameworm_drill_injected_errors_total${labels} ${state.injected_errors}`,
    );
  }
  return lines.join('\n') + '\n';
}
