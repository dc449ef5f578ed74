/**
 * Dynamic batching: concurrent model calls of one deployment version coalesced into one call.
 *
 * The batcher is an InferenceRunner, so the architecture schemas use it exactly like the
 * session: they validate a request first (an invalid one throws a 4xx and never gets here) and
 * then call `run(feeds, encode)`. Every input and output has the batch as its first dimension;
 * the requests' rows are concatenated in arrival order, run once, and each caller gets exactly
 * its own rows back, encoded on their own (see ModelSession.runParts).
 *
 * When to call the model ("batch while busy"): a free worker takes everything queued at once
 * (up to `maxRows`); while every worker is busy, arrivals queue and leave together on the next
 * free one. Requests leave the queue first come, first served. A request is never held back
 * while a worker is free, except with a single worker: there, under load, a free worker waits
 * until as many requests have gathered as the last call carried, or `maxRows` rows, or the
 * oldest has waited `maxDelayMs` — clients answered together come back together, and calling
 * at the first arrival would split them into a call of one and a call of the rest. A lone
 * client's last call carried one request, so it never waits. (With several workers, keeping
 * them all busy is worth more: measured here, CPU time per row of the compat DCGAN and DDPM
 * ε-network is the same at batch 1 and 16, so a batch saves only per-call overhead.)
 *
 * In `members` mode (continuous batching of diffusion, see SamplingAdmission) the requests
 * sharing the batcher are known: each running sampler submits one ε call per step, and the call
 * goes out as soon as every member has submitted (or the delay has passed), so samplers at
 * different steps, with different step counts, share every call; one that finishes leaves.
 */
import { FramewormError } from '../../common/errors.js';
import type { InferenceRunner } from '../model-session.js';
import type { ModelIo, OutputEncoding, RunOutput, RunPart, TensorData, TensorValue } from '../tensor-types.js';
import type { BatchStats } from './batch-stats.js';
import { Ewma, OverloadedError, retryAfterSeconds, systemBatchClock, type BatchClock } from './overload.js';

/** What the batcher needs of a model session (ModelSession implements it). */
export interface BatchSession extends InferenceRunner {
  runParts(feeds: Record<string, TensorValue>, parts: readonly RunPart[]): Promise<Record<string, RunOutput>[]>;
}

export interface RowBatcherOptions {
  /** Most rows one model call carries (a single larger request still runs, alone). */
  readonly maxRows: number;
  /** Longest a request is held back only to share a call with later arrivals, ms. */
  readonly maxDelayMs: number;
  /** Model calls in flight at once (the session's workers). */
  readonly maxCalls: number;
  /**
   * A request's deadline (the endpoint's request time-out), ms: one that cannot be answered
   * within it at the measured rate is refused with OverloadedError before it costs work.
   * Null: never refuse (members mode: SamplingAdmission decides).
   */
  readonly deadlineMs: number | null;
  readonly stats: BatchStats;
  /** Continuous batching: wait for every member's call (see the file comment). */
  readonly members?: boolean;
  readonly clock?: BatchClock;
}

/** Longest pause between a call's end and the next call's start that still counts as one step cycle, ms. */
const CYCLE_GAP_MS = 50;

interface Entry {
  readonly feeds: Record<string, TensorValue>;
  readonly rows: number;
  readonly key: string;
  readonly encode: Readonly<Record<string, OutputEncoding>> | undefined;
  readonly enqueuedAt: number;
  resolve(outputs: Record<string, RunOutput>): void;
  reject(err: unknown): void;
}

/**
 * Whether a graph can be batched by rows: every input and output has the same symbolic first
 * dimension (`batch`), so rows of different requests can be stacked and split again.
 */
export function hasFreeBatchDim(io: ModelIo): boolean {
  const all = [...io.inputs, ...io.outputs];
  if (all.length === 0 || io.inputs.length === 0) return false;
  const first = all[0]!.shape[0];
  return typeof first === 'string' && all.every((t) => t.shape.length >= 1 && t.shape[0] === first && t.dtype !== 'string');
}

/** Coalesces model calls; see the file comment. */
export class RowBatcher implements InferenceRunner {
  private readonly queue: Entry[] = [];
  private queuedRows = 0;
  private running = 0;
  private timer: unknown = null;
  private memberCount = 0;
  /** Requests the last call carried: how many to gather before calling again while load lasts. */
  private lastRequests = 1;
  /** When a call last ended (a worker became free), clock ms. */
  private freeSince = -Infinity;
  private readonly callMs = new Ewma();
  private readonly msPerRow = new Ewma();
  private readonly cyclePerRow = new Ewma();
  /** Members mode: the previous call's start, rows and end, for the step cycle. */
  private lastCall: { start: number; rows: number; end: number | null } | null = null;
  private readonly clock: BatchClock;

  constructor(
    private readonly session: BatchSession,
    private readonly options: RowBatcherOptions,
  ) {
    if (!Number.isInteger(options.maxRows) || options.maxRows < 1) throw new FramewormError('E_USAGE', `maxRows must be a positive integer, got ${options.maxRows}`);
    if (!(options.maxDelayMs >= 0)) throw new FramewormError('E_USAGE', `maxDelayMs must be >= 0, got ${options.maxDelayMs}`);
    if (!Number.isInteger(options.maxCalls) || options.maxCalls < 1) throw new FramewormError('E_USAGE', `maxCalls must be a positive integer, got ${options.maxCalls}`);
    this.clock = options.clock ?? systemBatchClock;
  }

  get io(): ModelIo {
    return this.session.io;
  }

  /** Requests waiting for a call. */
  get queued(): number {
    return this.queue.length;
  }

  /** Model calls running now. */
  get runningCalls(): number {
    return this.running;
  }

  /** Mean duration of recent model calls, ms (undefined before the first). */
  get meanCallMs(): number | undefined {
    return this.callMs.mean;
  }

  /**
   * Mean time per row, ms (undefined before the first call). In members mode it is the step
   * cycle (one call's start to the next's, per row), which includes the samplers' own work
   * between calls, not just the call.
   */
  get meanMsPerRow(): number | undefined {
    return this.cyclePerRow.mean ?? this.msPerRow.mean;
  }

  /** Members mode: a sampler starts sharing this batcher's calls. */
  join(): void {
    this.memberCount++;
  }

  /** Members mode: a sampler is done (finished, failed or aborted); the others need not wait for it. */
  leave(): void {
    this.memberCount--;
    this.pump();
  }

  /**
   * Runs `feeds` as part of a batched call. Throws OverloadedError (before queuing) when the
   * deadline cannot be met at the measured rate.
   */
  run(feeds: Record<string, TensorValue>, encode?: Readonly<Record<string, OutputEncoding>>): Promise<Record<string, RunOutput>> {
    const { rows, key } = describeFeeds(feeds);
    this.admit(rows);
    return new Promise((resolve, reject) => {
      this.queue.push({ feeds, rows, key, encode, enqueuedAt: this.clock.now(), resolve, reject });
      this.queuedRows += rows;
      this.pump();
    });
  }

  /** Refuses a request whose answer would come after its deadline at the rate measured now. */
  private admit(rows: number): void {
    const deadline = this.options.deadlineMs;
    const perRow = this.msPerRow.mean;
    const perCall = this.callMs.mean;
    if (deadline === null || perRow === undefined || perCall === undefined) return;
    // The rows ahead (and this one's) spread over the workers, after the calls running now.
    const waitMs = ((this.queuedRows + rows) * perRow) / this.options.maxCalls + (this.running >= this.options.maxCalls ? perCall : 0);
    if (waitMs <= deadline) return;
    this.options.stats.recordRejection();
    throw new OverloadedError(retryAfterSeconds(waitMs - deadline), waitMs, deadline);
  }

  /** Starts calls while workers are free and the queue is ready to go (see the file comment). */
  private pump(): void {
    while (this.running < this.options.maxCalls && this.queue.length > 0) {
      // Only time with a free worker counts: what queued behind a running call gets the full delay
      // once the call ends, so the members it carried (whose next calls follow in microtasks) join.
      const waited = this.clock.now() - Math.max(this.queue[0]!.enqueuedAt, this.freeSince);
      const gathered = this.options.members ? this.queue.length >= this.memberCount : this.options.maxCalls > 1 || this.queue.length >= this.lastRequests;
      if (!gathered && this.queuedRows < this.options.maxRows && waited < this.options.maxDelayMs) {
        this.arm(this.options.maxDelayMs - waited);
        return;
      }
      this.call(this.take());
    }
    if (this.queue.length === 0) this.disarm();
  }

  private arm(ms: number): void {
    if (this.timer !== null) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.pump();
    }, Math.max(0, ms));
  }

  private disarm(): void {
    if (this.timer === null) return;
    this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  /**
   * The head of the queue and the entries of its shape behind it, in order, up to the first that
   * does not fit (first come, first served: a small late request never overtakes a big early
   * one). Entries of other shapes (VQ-VAE-2 image sizes) cannot share the call and stay queued.
   */
  private take(): Entry[] {
    const head = this.queue[0]!;
    const batch: Entry[] = [head];
    let rows = head.rows;
    const rest: Entry[] = [];
    let full = false;
    for (let i = 1; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (!full && e.key === head.key && rows + e.rows <= this.options.maxRows) {
        batch.push(e);
        rows += e.rows;
      } else {
        if (e.key === head.key) full = true;
        rest.push(e);
      }
    }
    this.queue.splice(0, this.queue.length, ...rest);
    this.queuedRows -= rows;
    // Under steady load the next call should wait for as many; a lone client's stays at 1.
    this.lastRequests = batch.length;
    this.disarm();
    return batch;
  }

  private call(batch: Entry[]): void {
    const stats = this.options.stats;
    const started = this.clock.now();
    const rows = batch.reduce((a, e) => a + e.rows, 0);
    stats.recordCall(rows, batch.length);
    if (this.options.members) {
      const last = this.lastCall;
      // Consecutive steps only: a gap means the lane was idle, not slow.
      if (last && last.end !== null && started - last.end < CYCLE_GAP_MS) this.cyclePerRow.add((started - last.start) / last.rows);
      this.lastCall = { start: started, rows, end: null };
    }
    // Members wait for each other at every step; their queue delay is admission, counted by SamplingGate.
    if (!this.options.members) for (const e of batch) stats.recordQueueDelay(started - e.enqueuedAt);
    this.running++;
    let work: Promise<Record<string, RunOutput>[]>;
    try {
      // A lone request goes as it is: no copies, exactly the unbatched call.
      work = batch.length === 1 ? this.session.run(batch[0]!.feeds, batch[0]!.encode).then((o) => [o]) : this.session.runParts(concatFeeds(batch), batch.map((e) => ({ rows: e.rows, ...(e.encode ? { encode: e.encode } : {}) })));
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (outputs) => {
        this.finish(started, rows);
        batch.forEach((e, i) => e.resolve(outputs[i]!));
        this.pump();
      },
      (err: unknown) => {
        this.running--;
        this.freeSince = this.clock.now();
        // One failed call fails every request in it, each with the same error (a 5xx each).
        for (const e of batch) e.reject(err);
        this.pump();
      },
    );
  }

  private finish(started: number, rows: number): void {
    this.running--;
    const end = this.clock.now();
    this.freeSince = end;
    if (this.lastCall?.start === started) this.lastCall.end = end;
    const ms = end - started;
    this.callMs.add(ms);
    this.msPerRow.add(ms / rows);
  }
}

/** Rows (the first input's first dimension) and a key equal for feeds that can share a call. */
function describeFeeds(feeds: Readonly<Record<string, TensorValue>>): { rows: number; key: string } {
  let rows = -1;
  const parts: string[] = [];
  for (const [name, t] of Object.entries(feeds)) {
    const r = t.dims[0];
    if (r === undefined || (rows >= 0 && r !== rows)) throw new FramewormError('E_INTERNAL', `feed '${name}' does not share the batch dimension of the others`);
    rows = r;
    parts.push(`${name}:${t.dtype}:${t.dims.slice(1).join('x')}`);
  }
  if (rows < 1) throw new FramewormError('E_INTERNAL', 'a batched run needs at least one row');
  return { rows, key: parts.join('|') };
}

/** The batch's feeds stacked along the first dimension, in batch order. */
function concatFeeds(batch: readonly Entry[]): Record<string, TensorValue> {
  const first = batch[0]!.feeds;
  const rows = batch.reduce((a, e) => a + e.rows, 0);
  const out: Record<string, TensorValue> = {};
  for (const [name, t] of Object.entries(first)) {
    const inner = t.data.length / t.dims[0]!;
    const data = allocLike(t.data, rows * inner);
    let offset = 0;
    for (const e of batch) {
      const part = e.feeds[name]!.data as Exclude<TensorData, string[]>;
      (data as Exclude<TensorData, string[]>).set(part as never, offset);
      offset += part.length;
    }
    out[name] = { dtype: t.dtype, dims: [rows, ...t.dims.slice(1)], data };
  }
  return out;
}

function allocLike(data: TensorData, length: number): TensorData {
  if (Array.isArray(data)) throw new FramewormError('E_INTERNAL', 'string tensors cannot be batched');
  const Ctor = (data as Exclude<TensorData, string[]>).constructor as new (n: number) => Exclude<TensorData, string[]>;
  return new Ctor(length);
}
