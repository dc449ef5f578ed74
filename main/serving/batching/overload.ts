/**
 * Admission under overload: a request that cannot finish before its deadline at the rate the
 * model is measured to work now is refused at once (503 + Retry-After) instead of costing work
 * and then timing out together with everything queued behind it.
 */
import { monotonicTimers, type Timers } from '../../common/timers.js';

/** Thrown before a request joins a batch when it would miss its deadline; the endpoint answers 503. */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  constructor(
    /** Whole seconds after which a retry is expected to be admitted (≥ 1), for `Retry-After`. */
    readonly retryAfterS: number,
    /** The estimate that failed the deadline, ms. */
    readonly estimatedMs: number,
    readonly deadlineMs: number,
  ) {
    super(`the model is overloaded: this request would finish in about ${Math.round(estimatedMs)} ms, beyond the ${deadlineMs} ms request timeout; retry after ${retryAfterS} s`);
  }
}

/** Monotonic clock and timers of the batchers; tests inject a manual one. */
export type BatchClock = Timers;

/** performance.now() and real timers (unref'd: a pending coalescing wait never keeps the process alive). */
export const systemBatchClock: BatchClock = monotonicTimers;

/** Exponentially weighted mean; undefined until the first sample. */
export class Ewma {
  private value: number | undefined;
  constructor(private readonly weight = 0.2) {}

  add(sample: number): void {
    this.value = this.value === undefined ? sample : this.value + this.weight * (sample - this.value);
  }

  get mean(): number | undefined {
    return this.value;
  }
}

/** Retry-After in whole seconds for a wait of `ms` (at least 1, as HTTP counts in seconds). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
