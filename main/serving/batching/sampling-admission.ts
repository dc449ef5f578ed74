/**
 * Admission for continuous batching of diffusion sampling.
 *
 * Each lane is a RowBatcher in members mode (one per inference worker): the samplers admitted to
 * a lane share every ε-network call of it, at whatever step each is. A request of batch B is B
 * rows of every call (2B for a guided CFG request), and a call costs about the same time per
 * row whatever its size (measured: CPU time per row of the compat DDPM ε-network is flat from
 * batch 1 to 16), so every request a lane admits slows the others in it. Hence the rule:
 *
 * - A lane admits a request only while it holds at most `maxRows` rows and every request in it,
 *   the new one included, still finishes before its deadline at the measured time per row.
 * - A request that no lane can take waits, first come, first served, until one can; so under
 *   overload the earliest requests finish instead of all of them slowing down past their
 *   deadline together.
 * - One that could not finish before its deadline even after waiting its turn is refused at
 *   once (OverloadedError → 503 + Retry-After), before it costs work.
 *
 * The time per row is the lanes' measured step cycle per row (see RowBatcher.meanMsPerRow),
 * seeded with the session's warm-up inference (batch 1); with neither, a lane takes one request
 * at a time until the first measurement.
 */
import { FramewormError } from '../../common/errors.js';
import type { InferenceRunner } from '../model-session.js';
import type { SamplingAdmission, SamplingCost } from '../schemas/types.js';
import type { BatchStats } from './batch-stats.js';
import { OverloadedError, retryAfterSeconds, systemBatchClock, type BatchClock } from './overload.js';
import type { RowBatcher } from './row-batcher.js';

/** Estimates must leave this share of the deadline free: step times vary with the machine's load. */
const DEADLINE_MARGIN = 0.8;

interface Lane {
  readonly batcher: RowBatcher;
  rows: number;
  readonly active: Set<Running>;
}

interface Running {
  readonly rows: number;
  readonly steps: number;
  /** ε calls made so far. */
  done: number;
  /** Clock time by which it must finish, ms. */
  readonly deadlineAt: number;
}

interface Waiter {
  readonly cost: SamplingCost;
  readonly deadlineAt: number;
  admit(lane: Lane): void;
}

/** A request as the simulation sees it. */
interface SimItem {
  readonly rows: number;
  left: number;
  readonly deadlineAt: number;
  finishAt?: number;
}

export interface SamplingGateOptions {
  readonly maxRows: number;
  /** A request's deadline (the request time-out), ms. */
  readonly deadlineMs: number;
  readonly stats: BatchStats;
  /** Time per row before any call was measured (the warm-up inference at batch 1), ms; ≤ 0 = unknown. */
  readonly initialMsPerRow?: number;
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

  /** Samplers waiting for room. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Lanes' calls running now. */
  get runningCalls(): number {
    return this.lanes.reduce((a, l) => a + l.batcher.runningCalls, 0);
  }

  async run<T>(work: (runner: InferenceRunner | null) => Promise<T>, signal: AbortSignal | undefined, cost: SamplingCost): Promise<T> {
    signal?.throwIfAborted();
    const arrived = this.clock.now();
    const deadlineAt = arrived + this.options.deadlineMs;
    this.checkDeadline(cost, deadlineAt);
    const lane = await this.enter(cost, deadlineAt, signal);
    const me: Running = { rows: cost.rows, steps: cost.steps, done: 0, deadlineAt };
    this.options.stats.recordQueueDelay(this.clock.now() - arrived);
    lane.active.add(me);
    // Counts this request's steps, so admission knows how far along it is.
    const runner: InferenceRunner = {
      io: lane.batcher.io,
      run: (feeds, encode) => {
        me.done++;
        return lane.batcher.run(feeds, encode);
      },
    };
    try {
      return await work(runner);
    } finally {
      lane.active.delete(me);
      lane.rows -= cost.rows;
      lane.batcher.leave();
      this.admitWaiting();
    }
  }

  /** Mean time of one row in a call, ms; undefined when neither measured nor seeded. */
  private msPerRow(): number | undefined {
    const measured = this.lanes.map((l) => l.batcher.meanMsPerRow).filter((v): v is number => v !== undefined);
    if (measured.length > 0) return Math.max(...measured);
    const seed = this.options.initialMsPerRow;
    return seed !== undefined && seed > 0 ? seed : undefined;
  }

  private items(lane: Lane): SimItem[] {
    return [...lane.active].map((r) => ({ rows: r.rows, left: Math.max(1, r.steps - r.done), deadlineAt: r.deadlineAt }));
  }

  /** The lane with the fewest rows that can take `cost` now (see the file comment), or null. */
  private fit(cost: SamplingCost, deadlineAt: number): Lane | null {
    const perRow = this.msPerRow();
    const now = this.clock.now();
    let best: Lane | null = null;
    for (const l of this.lanes) {
      if (best && l.rows >= best.rows) continue;
      // A request larger than a lane still runs, alone, once its lane is empty.
      if (l.rows + cost.rows > this.options.maxRows && l.rows > 0) continue;
      // Nothing measured yet: no request joins another, as the cost of sharing is unknown.
      if (l.rows > 0 && (perRow === undefined || !this.holds([...this.items(l), { rows: cost.rows, left: cost.steps, deadlineAt }], now, perRow))) continue;
      best = l;
    }
    return best;
  }

  /**
   * Whether every item of one lane finishes before its deadline (with the margin) when they
   * step together from `now`, a step costing `perRow` per row of the items still running.
   */
  private holds(items: SimItem[], now: number, perRow: number): boolean {
    finishTimes(items, now, perRow);
    return items.every((i) => i.finishAt! - now <= DEADLINE_MARGIN * (i.deadlineAt - now) || i.finishAt! <= now);
  }

  private enter(cost: SamplingCost, deadlineAt: number, signal: AbortSignal | undefined): Promise<Lane> {
    const lane = this.queue.length === 0 ? this.fit(cost, deadlineAt) : null;
    if (lane) {
      this.take(lane, cost);
      return Promise.resolve(lane);
    }
    return new Promise<Lane>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
        // It may have been the head, blocking others that fit.
        this.admitWaiting();
      };
      const waiter: Waiter = {
        cost,
        deadlineAt,
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
      const head = this.queue[0]!;
      const lane = this.fit(head.cost, head.deadlineAt);
      if (!lane) return;
      this.queue.shift()!.admit(lane);
    }
  }

  /**
   * Simulates the lanes at the measured time per row: running requests step on, waiting ones
   * are admitted in order as the rule allows, then this one. Refuses it (OverloadedError) when
   * it would not finish before its deadline.
   */
  private checkDeadline(cost: SamplingCost, deadlineAt: number): void {
    const perRow = this.msPerRow();
    if (perRow === undefined) return;
    const now = this.clock.now();
    const lanes = this.lanes.map((l) => ({ items: this.items(l), at: now }));
    const pending = [...this.queue.map((w) => ({ cost: w.cost, deadlineAt: w.deadlineAt })), { cost, deadlineAt }];
    const limit = now + DEADLINE_MARGIN * this.options.deadlineMs;
    let t = now;
    for (;;) {
      // Admit the queue's head while some lane can take it at time t.
      while (pending.length > 0) {
        const head = pending[0]!;
        const item: SimItem = { rows: head.cost.rows, left: head.cost.steps, deadlineAt: head.deadlineAt };
        const lane = lanes.find((l) => {
          const rows = l.items.reduce((a, i) => a + i.rows, 0);
          if (rows > 0 && rows + item.rows > this.options.maxRows) return false;
          return rows === 0 || this.holds([...l.items.map((i) => ({ ...i })), { ...item }], t, perRow);
        });
        if (!lane) break;
        pending.shift();
        lane.items.push(item);
        if (pending.length === 0) {
          // This request starts at t: when does it finish among the others of its lane?
          const copy = lane.items.map((i) => ({ ...i }));
          finishTimes(copy, t, perRow);
          const finish = copy[copy.length - 1]!.finishAt!;
          if (finish <= limit) return;
          this.refuse(finish - now, t - now);
        }
      }
      if (t > limit) this.refuse(t - now + cost.steps * cost.rows * perRow, t - now);
      // Advance to the next time a request finishes somewhere.
      let next = Infinity;
      for (const l of lanes) {
        if (l.items.length === 0) continue;
        finishTimes(l.items, t, perRow);
        next = Math.min(next, ...l.items.map((i) => i.finishAt!));
      }
      if (next === Infinity) return; // nothing runs and nothing fits: cannot happen, admit
      for (const l of lanes) {
        if (l.items.length === 0) continue;
        // Steps each request makes until `next`, at the lane's current step time.
        const stepMs = perRow * l.items.reduce((a, i) => a + i.rows, 0);
        const steps = Math.floor((next - t) / stepMs + 1e-9);
        for (const i of l.items) i.left -= steps;
        l.items = l.items.filter((i) => i.left > 0);
      }
      t = next;
    }
  }

  private refuse(estimatedMs: number, waitMs: number): never {
    this.options.stats.recordRejection();
    throw new OverloadedError(retryAfterSeconds(Math.max(waitMs, estimatedMs - this.options.deadlineMs)), estimatedMs, this.options.deadlineMs);
  }
}

/** Sets each item's finish time when the items step together from `start`, a step costing `perRow` per row still running. */
function finishTimes(items: SimItem[], start: number, perRow: number): void {
  const order = [...items].sort((a, b) => a.left - b.left);
  let t = start;
  let done = 0;
  let rows = items.reduce((a, i) => a + i.rows, 0);
  for (const item of order) {
    t += (item.left - done) * perRow * rows;
    done = item.left;
    item.finishAt = t;
    rows -= item.rows;
  }
}
