/**
 * First-come-first-served admission for long, many-step work (diffusion sampling).
 *
 * A sampling request makes one inference call per reverse step. Left to themselves, concurrent
 * requests interleave their steps on the same workers, so under overload every one of them
 * finishes late and all miss their deadline together. The gate lets at most `capacity` of them
 * run at once, in arrival order; the others wait their turn, and one whose caller has given up
 * (its signal aborted: timed out, client gone) leaves the queue without running.
 */
import { FramewormError } from '../common/errors.js';
import type { InferenceRunner } from './model-session.js';
import type { SamplingAdmission, SamplingCost } from './schemas/types.js';

interface Waiter {
  readonly admit: () => void;
}

/** A FIFO semaphore; see the file comment. */
export class FifoGate implements SamplingAdmission {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new FramewormError('E_USAGE', `gate capacity must be a positive integer, got ${capacity}`);
  }

  /** Requests running now. */
  get active(): number {
    return this.running;
  }

  /** Requests waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs `work` once every earlier caller has been admitted and a place is free. Rejects with
   * the signal's reason, without running `work`, if the signal aborts while waiting. `work`
   * gets no shared runner (null): each request calls the session itself. The cost is not
   * used: every request counts as one.
   */
  async run<T>(work: (runner: InferenceRunner | null) => Promise<T>, signal?: AbortSignal, _cost?: SamplingCost): Promise<T> {
    await this.enter(signal);
    try {
      return await work(null);
    } finally {
      this.leave();
    }
  }

  private enter(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.running < this.capacity && this.queue.length === 0) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        admit: () => {
          signal?.removeEventListener('abort', onAbort);
          this.running++;
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private leave(): void {
    this.running--;
    // The place just freed goes to the longest waiter.
    while (this.running < this.capacity && this.queue.length > 0) this.queue.shift()!.admit();
  }
}
