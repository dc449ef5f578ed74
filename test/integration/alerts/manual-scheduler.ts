/**
 * A scheduler whose clock moves only when a test says so: rate limits, backoff and Retry-After
 * waits are checked as exact times, without sleeping.
 */
import type { Scheduler } from '../../../main/alerts/scheduler.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class ManualScheduler implements Scheduler {
  private t: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(start: number = Date.now()) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, delayMs: number): () => void {
    const timer = { id: this.nextId++, at: this.t + Math.max(0, delayMs), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x.id !== timer.id);
    };
  }

  /** Moves the clock to the earliest timer and fires every timer due then; false when none is set. */
  advanceToNext(): boolean {
    if (this.timers.length === 0) return false;
    const at = Math.min(...this.timers.map((x) => x.at));
    this.t = Math.max(this.t, at);
    const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at || a.id - b.id);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const x of due) x.fn();
    return true;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}
