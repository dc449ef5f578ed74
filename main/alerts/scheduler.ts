/**
 * The clock and timers the alert delivery uses. Rate limiting and retry backoff are decided
 * against this interface, so tests drive them with a manual clock instead of sleeping.
 */

/** Time source and one-shot timers. */
export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `delayMs`; returns a function that cancels it. */
  setTimer(fn: () => void, delayMs: number): () => void;
}

/**
 * Wall-clock scheduler. Timers are unref'd: a pending alert never keeps a CLI process alive,
 * it stays in the outbox and the next control plane delivers it.
 */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  setTimer(fn, delayMs) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return () => clearTimeout(t);
  },
};
