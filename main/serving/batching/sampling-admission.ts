/**
 * Admission for continuous batching of diffusion sampling.
 *
 * Each lane is a RowBatcher in members mode (one per inference worker): the samplers admitted to
 * a lane share every ε-network call of it, at whatever step each is, and a lane holds at most
 * `maxRows` rows (a request of batch B is B rows, 2B for a guided CFG request). A request that
 * does not fit waits, first come first served, for rows to free up; so under overload the
 * earliest requests finish rather than all of them slowing down past their deadline. One that
 * could not finish before its deadline at the measured step time is refused at once
 * (OverloadedError → 503 + Retry-After), before it costs work.
 */
import { FramewormError } from '../../common/errors.js';
import type { InferenceRunner } from '../model-session.js';
import type { SamplingAdmission, SamplingCost } from '../schemas/types.js';
import type { BatchStats } from './batch-stats.js';
import { OverloadedError, retryAfterSeconds, systemBatchClock, type BatchClock } from './overload.js';
import type { RowBatcher } from './row-batcher.js';

interface Lane {
  readonly batcher: RowBatcher;
  rows: number;
  readonly active: Set<Running>;
}

interface Running {
  readonly rows: number;
  readonly steps: number;
  readonly startedAt: number;
}

interface Waiter {
  readonly cost: SamplingCost;
  readonly enqueuedAt: number;
  admit(lane: Lane): void;
}

export interface SamplingGateOptions {
  readonly maxRows: number;
  /** A request's deadline (the request time-out), ms. */
  readonly deadlineMs: number;
  readonly stats: BatchStats;
  readonly clock?: BatchClock;
}

/** See the file comment. */
export class SamplingGate implements SamplingAdmission {
  private readonly lanes: Lane[];
  private readonly queue: Waiter[] = [];
  private readonly clock: BatchClock;

  constructor(
    batchers: readonly RowBatcher[],
    private readonly options: SamplingGateOptions,
  ) {
    if (batchers.length === 0) throw new FramewormError('E_USAGE', 'a sampling gate needs at least one lane');
    this.lanes = batchers.map((batcher) => ({ batcher, rows: 0, active: new Set() }));
    this.clock = options.clock ?? systemBatchClock;
  }

  /** Samplers running now. */
  get active(): number {
    return this.lanes.reduce((a, l) => a + l.active.size, 0);
  }

  /** Samplers waiting for rows. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Lanes' calls running now. */
  get runningCalls(): number {
    return this.lanes.reduce((a, l) => a + l.batcher.runningCalls, 0);
  }

  async run<T>(work: (runner: InferenceRunner | null) => Promise<T>, signal: AbortSignal | undefined, cost: SamplingCost): Promise<T> {
    signal?.throwIfAborted();
    this.checkDeadline(cost);
    const enqueuedAt = this.clock.now();
    const lane = await this.enter(cost, signal);
    const me: Running = { rows: cost.rows, steps: cost.steps, startedAt: this.clock.now() };
    this.options.stats.recordQueueDelay(me.startedAt - enqueuedAt);
    lane.active.add(me);
    try {
      return await work(lane.batcher);
    } finally {
      lane.active.delete(me);
      lane.rows -= cost.rows;
      lane.batcher.leave();
      this.admitWaiting();
    }
  }

  private fit(rows: number): Lane | null {
    let best: Lane | null = null;
    for (const l of this.lanes) {
      // A request larger than a lane still runs, alone, once its lane is empty.
      if ((l.rows + rows <= this.options.maxRows || l.rows === 0) && (!best || l.rows < best.rows)) best = l;
    }
    return best;
  }

  private enter(cost: SamplingCost, signal: AbortSignal | undefined): Promise<Lane> {
    const lane = this.queue.length === 0 ? this.fit(cost.rows) : null;
    if (lane) {
      this.take(lane, cost);
      return Promise.resolve(lane);
    }
    return new Promise<Lane>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
        // The head may have been the one blocking others that now fit.
        this.admitWaiting();
      };
      const waiter: Waiter = {
        cost,
        enqueuedAt: this.clock.now(),
        admit: (l) => {
          signal?.removeEventListener('abort', onAbort);
          this.take(l, cost);
          resolve(l);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /**
   * Books the rows and joins the lane's batch at once, before the sampler's first call: requests
   * admitted together are all members when the first of them submits, so they share that call.
   */
  private take(lane: Lane, cost: SamplingCost): void {
    lane.rows += cost.rows;
    lane.batcher.join();
  }

  /** Admits waiting requests in order while the head fits somewhere. */
  private admitWaiting(): void {
    while (this.queue.length > 0) {
      const lane = this.fit(this.queue[0]!.cost.rows);
      if (!lane) return;
      this.queue.shift()!.admit(lane);
    }
  }

  /**
   * Simulates the lanes at the measured time per step: the running samplers finish after their
   * remaining steps, the waiting ones are admitted in order as rows free up, then this one runs
   * its steps. Refuses it when that ends after the deadline.
   */
  private checkDeadline(cost: SamplingCost): void {
    const stepMs = this.stepMs();
    if (stepMs === undefined) return;
    const now = this.clock.now();
    const lanes = this.lanes.map((l) => ({ rows: l.rows, items: [...l.active].map((r) => ({ rows: r.rows, left: Math.max(1, r.steps - Math.floor((now - r.startedAt) / stepMs)) })) }));
    const pending = [...this.queue.map((w) => w.cost), cost];
    let t = 0;
    for (;;) {
      while (pending.length > 0) {
        const head = pending[0]!;
        let lane: (typeof lanes)[number] | null = null;
        for (const l of lanes) if ((l.rows + head.rows <= this.options.maxRows || l.rows === 0) && (!lane || l.rows < lane.rows)) lane = l;
        if (!lane) break;
        pending.shift();
        if (pending.length === 0) {
          // This request starts at step t.
          const finishMs = (t + cost.steps) * stepMs;
          if (finishMs <= this.options.deadlineMs) return;
          this.options.stats.recordRejection();
          throw new OverloadedError(retryAfterSeconds(Math.max(t * stepMs, finishMs - this.options.deadlineMs)), finishMs, this.options.deadlineMs);
        }
        lane.rows += head.rows;
        lane.items.push({ rows: head.rows, left: head.steps });
      }
      const all = lanes.flatMap((l) => l.items);
      if (all.length === 0) return; // cannot happen: something blocks the head
      const dt = Math.min(...all.map((i) => i.left));
      t += dt;
      for (const l of lanes) {
        for (const i of l.items) i.left -= dt;
        const done = l.items.filter((i) => i.left <= 0);
        for (const d of done) l.rows -= d.rows;
        l.items = l.items.filter((i) => i.left > 0);
      }
    }
  }

  /** Mean duration of a lane's ε call (a step), ms; undefined until measured. */
  private stepMs(): number | undefined {
    const measured = this.lanes.map((l) => l.batcher.meanCallMs).filter((v): v is number => v !== undefined);
    return measured.length === 0 ? undefined : Math.max(...measured);
  }
}
