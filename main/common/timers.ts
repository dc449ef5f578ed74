/**
 * A clock with one-shot timers, injected wherever timing decides behaviour (the rollback
 * watcher, fault drills, the batchers), so unit tests move time by hand instead of sleeping.
 */

/** Time source and timers. */
export interface Timers {
  /** Milliseconds: since the epoch (wallClockTimers) or a monotonic origin (monotonicTimers). */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

function unrefTimer(fn: () => void, ms: number): NodeJS.Timeout {
  // unref'd: a pending timer never keeps a process alive on its own.
  return setTimeout(fn, ms).unref();
}

/** Epoch milliseconds (Date.now) and real, unref'd timers. */
export const wallClockTimers: Timers = {
  now: () => Date.now(),
  setTimer: unrefTimer,
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Monotonic milliseconds (performance.now) and real, unref'd timers: for durations. */
export const monotonicTimers: Timers = {
  now: () => performance.now(),
  setTimer: unrefTimer,
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
