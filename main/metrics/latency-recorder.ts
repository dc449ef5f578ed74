/**
 * Per-request latency and outcome recording with flat memory.
 *
 * Latencies go into HdrHistograms (microsecond units, 3 significant digits, fixed range up to
 * ~10 minutes) instead of a growing list, so a deployment that serves a billion requests holds the
 * same few hundred kilobytes as one that served ten. Three views are kept:
 *
 * - lifetime: one histogram and counters since the recorder was created;
 * - sliding window: a ring of per-slot histograms (default 60 s as 12 slots of 5 s); a snapshot
 *   merges the slots still inside the window, and a slot is recycled when its time comes round;
 * - intervals: histograms that a consumer (the rollback watcher) drains with `intervalSnapshot()`,
 *   giving exact stats for "everything since my previous check".
 */
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';

/** How a request ended. Only `server_error` (5xx) and `timeout` count toward the error rate. */
export type Outcome = 'ok' | 'client_error' | 'server_error' | 'timeout';

export interface LatencyRecorderOptions {
  /** Length of the sliding window in seconds (default 60). */
  readonly windowS?: number;
  /** Number of slots the window is cut into (default 12, i.e. 5 s each). */
  readonly slots?: number;
  /**
   * Clock in milliseconds since the epoch; injectable so tests can move time. The default is
   * monotonic (performance.timeOrigin + performance.now()): a wall-clock step (NTP) must not
   * make recent requests fall out of the window.
   */
  readonly now?: () => number;
  /** Largest latency kept distinct; larger ones are clamped to it (default 600 000 ms). */
  readonly highestTrackableMs?: number;
}

/**
 * A point-in-time view. Percentiles, mean and max are over the window (0 when the window is
 * empty: check `window_requests`). `requests`, `errors`, `server_errors`, `client_errors`,
 * `timeouts` and `sum_ms` are lifetime totals; the `window_*` fields are their window
 * counterparts. `errors` = `server_errors` + `timeouts` (what counts toward the error rate).
 */
export interface LatencySnapshot {
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly mean_ms: number;
  readonly max_ms: number;
  readonly requests: number;
  readonly window_requests: number;
  /** (5xx + timeouts) / window_requests over the window; 0 when the window is empty. */
  readonly error_rate: number;
  readonly errors: number;
  readonly server_errors: number;
  readonly client_errors: number;
  readonly timeouts: number;
  readonly window_errors: number;
  readonly window_client_errors: number;
  readonly window_timeouts: number;
  /** Sum of all latencies ever recorded, in ms (for Prometheus `_sum`). */
  readonly sum_ms: number;
  readonly window_s: number;
  /** ISO time the recorder was created or last reset. */
  readonly since: string;
}

/**
 * Stats since the previous call on the same cursor. With no requests, `empty` is true and the
 * latency fields and `error_rate` are null, so a watcher can call the check inconclusive rather
 * than healthy.
 */
export interface IntervalSnapshot {
  readonly empty: boolean;
  readonly requests: number;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
  readonly mean_ms: number | null;
  readonly max_ms: number | null;
  readonly error_rate: number | null;
  readonly errors: number;
  readonly client_errors: number;
  readonly timeouts: number;
  readonly start: string;
  readonly end: string;
  readonly duration_s: number;
}

/** One histogram plus the counters that go with it; the unit every view is made of. */
class Bucket {
  readonly hist: Histogram;
  count = 0;
  serverErrors = 0;
  clientErrors = 0;
  timeouts = 0;
  sumUs = 0;
  maxUs = 0;

  constructor(highestUs: number, bits: 32 | 64) {
    this.hist = build({
      bitBucketSize: bits,
      autoResize: false,
      lowestDiscernibleValue: 1,
      highestTrackableValue: highestUs,
      numberOfSignificantValueDigits: 3,
      useWebAssembly: false,
    });
  }

  add(us: number, outcome: Outcome): void {
    this.hist.recordValue(us);
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    if (outcome === 'server_error') this.serverErrors++;
    else if (outcome === 'timeout') this.timeouts++;
    else if (outcome === 'client_error') this.clientErrors++;
  }

  merge(other: Bucket): void {
    if (other.count === 0) return;
    this.hist.add(other.hist);
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
    this.serverErrors += other.serverErrors;
    this.clientErrors += other.clientErrors;
    this.timeouts += other.timeouts;
  }

  clear(): void {
    // Resetting an already-empty histogram still walks its counts array; skip it.
    if (this.count !== 0) this.hist.reset();
    this.count = this.serverErrors = this.clientErrors = this.timeouts = this.sumUs = this.maxUs = 0;
  }

  percentileMs(p: number): number {
    // HDR reports a bucket's highest equivalent value, which can exceed the exact maximum.
    return this.count === 0 ? 0 : Math.min(this.hist.getValueAtPercentile(p), this.maxUs) / 1000;
  }
}

/** A ring slot: the bucket for one time slice, tagged with which slice it currently holds. */
interface Slot {
  epoch: number;
  readonly bucket: Bucket;
}

/** A consumer's own interval; see {@link LatencyRecorder.openInterval}. */
export interface IntervalCursor {
  /** Stats since the cursor was opened or last taken, then starts a new interval. */
  take(): IntervalSnapshot;
  /** Stops feeding this cursor (recording gets cheaper again). */
  close(): void;
}

/** Records request latencies and outcomes; see the file comment for the three views. */
export class LatencyRecorder {
  readonly windowS: number;
  private readonly slotMs: number;
  private readonly highestUs: number;
  private readonly now: () => number;
  private readonly ring: Slot[];
  private readonly lifetime: Bucket;
  /** Scratch bucket the window is merged into, reused so snapshots allocate nothing big. */
  private readonly merged: Bucket;
  private readonly cursors: { bucket: Bucket; startMs: number }[] = [];
  /** Opened on the first intervalSnapshot(); until then the lifetime bucket holds the same data. */
  private defaultCursor: IntervalCursor | null = null;
  private sinceMs: number;

  constructor(options: LatencyRecorderOptions = {}) {
    const windowS = options.windowS ?? 60;
    const slots = options.slots ?? 12;
    if (!(windowS > 0) || !Number.isInteger(slots) || slots < 1) {
      throw new RangeError(`invalid window: ${windowS} s in ${slots} slots`);
    }
    this.windowS = windowS;
    this.slotMs = (windowS * 1000) / slots;
    this.highestUs = Math.round((options.highestTrackableMs ?? 600_000) * 1000);
    this.now = options.now ?? monotonicNow;
    // The lifetime histogram uses 64-bit counts: 32-bit ones could overflow over months.
    this.lifetime = new Bucket(this.highestUs, 64);
    this.merged = new Bucket(this.highestUs, 32);
    this.ring = Array.from({ length: slots }, () => ({ epoch: -1, bucket: new Bucket(this.highestUs, 32) }));
    this.sinceMs = this.now();
  }

  /**
   * Records one request: its latency in milliseconds and how it ended. `atMs` is the time it
   * ended (default: the clock); a caller that already read the clock passes it, since a clock
   * read costs more than a histogram write on some VMs (kvm-clock: ~140 ns).
   */
  record(latencyMs: number, outcome: Outcome, atMs?: number): void {
    let us = Math.round(latencyMs * 1000);
    if (!(us >= 0)) us = 0; // negative or NaN from a misbehaving clock
    else if (us > this.highestUs) us = this.highestUs;
    const epoch = Math.floor((atMs ?? this.now()) / this.slotMs);
    const slot = this.ring[epoch % this.ring.length]!;
    if (slot.epoch !== epoch) {
      slot.bucket.clear();
      slot.epoch = epoch;
    }
    slot.bucket.add(us, outcome);
    this.lifetime.add(us, outcome);
    for (let i = 0; i < this.cursors.length; i++) this.cursors[i]!.bucket.add(us, outcome);
  }

  /** Stats over the last `windowS` seconds (default and maximum: the whole window) plus lifetime totals. */
  snapshot(windowS: number = this.windowS): LatencySnapshot {
    const w = Math.min(Math.max(windowS, this.slotMs / 1000), this.windowS);
    const slotsWanted = Math.ceil((w * 1000) / this.slotMs - 1e-9);
    const current = Math.floor(this.now() / this.slotMs);
    const m = this.merged;
    m.clear();
    for (const slot of this.ring) {
      // The current, partly filled slot counts as one of the wanted slots.
      if (slot.epoch > current - slotsWanted && slot.epoch <= current) m.merge(slot.bucket);
    }
    const lt = this.lifetime;
    const windowErrors = m.serverErrors + m.timeouts;
    return {
      p50_ms: m.percentileMs(50),
      p95_ms: m.percentileMs(95),
      p99_ms: m.percentileMs(99),
      mean_ms: m.count === 0 ? 0 : m.sumUs / m.count / 1000,
      max_ms: m.maxUs / 1000,
      requests: lt.count,
      window_requests: m.count,
      error_rate: m.count === 0 ? 0 : windowErrors / m.count,
      errors: lt.serverErrors + lt.timeouts,
      server_errors: lt.serverErrors,
      client_errors: lt.clientErrors,
      timeouts: lt.timeouts,
      window_errors: windowErrors,
      window_client_errors: m.clientErrors,
      window_timeouts: m.timeouts,
      sum_ms: lt.sumUs / 1000,
      window_s: w,
      since: new Date(this.sinceMs).toISOString(),
    };
  }

  /** Lifetime percentiles (the window is what dashboards want; this is for reports). */
  lifetimePercentiles(): { p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number } {
    const lt = this.lifetime;
    return { p50_ms: lt.percentileMs(50), p95_ms: lt.percentileMs(95), p99_ms: lt.percentileMs(99), max_ms: lt.maxUs / 1000 };
  }

  /**
   * Stats since the previous call (or since creation). This is the built-in cursor for the one
   * rollback watcher; a second independent consumer should use {@link openInterval} instead, or
   * the two would steal each other's requests.
   */
  intervalSnapshot(): IntervalSnapshot {
    if (this.defaultCursor) return this.defaultCursor.take();
    // First call: everything since creation (or reset) is exactly the lifetime bucket, so the
    // cursor (one more histogram write per record) is only opened from now on.
    const endMs = this.now();
    const snap = intervalOf(this.lifetime, this.sinceMs, endMs);
    this.defaultCursor = this.openInterval();
    return snap;
  }

  /** Opens an independent interval cursor; each open cursor adds one histogram write per record. */
  openInterval(): IntervalCursor {
    const entry = { bucket: new Bucket(this.highestUs, 32), startMs: this.now() };
    this.cursors.push(entry);
    return {
      take: (): IntervalSnapshot => {
        const endMs = this.now();
        const snap = intervalOf(entry.bucket, entry.startMs, endMs);
        entry.bucket.clear();
        entry.startMs = endMs;
        return snap;
      },
      close: (): void => {
        const i = this.cursors.indexOf(entry);
        if (i >= 0) this.cursors.splice(i, 1);
      },
    };
  }

  /** Forgets everything (lifetime, window and every open interval). */
  reset(): void {
    const now = this.now();
    this.lifetime.clear();
    for (const slot of this.ring) {
      slot.bucket.clear();
      slot.epoch = -1;
    }
    for (const c of this.cursors) {
      c.bucket.clear();
      c.startMs = now;
    }
    // The next intervalSnapshot() again starts from the (now empty) lifetime bucket.
    this.defaultCursor?.close();
    this.defaultCursor = null;
    this.sinceMs = now;
  }
}

/** Milliseconds since the epoch from the monotonic clock; see LatencyRecorderOptions.now. */
export function monotonicNow(): number {
  return TIME_ORIGIN + performance.now();
}

/** Read once: `performance.timeOrigin` is a getter that costs as much as the clock itself. */
const TIME_ORIGIN = performance.timeOrigin;

function intervalOf(b: Bucket, startMs: number, endMs: number): IntervalSnapshot {
  const empty = b.count === 0;
  return {
    empty,
    requests: b.count,
    p50_ms: empty ? null : b.percentileMs(50),
    p95_ms: empty ? null : b.percentileMs(95),
    p99_ms: empty ? null : b.percentileMs(99),
    mean_ms: empty ? null : b.sumUs / b.count / 1000,
    max_ms: empty ? null : b.maxUs / 1000,
    error_rate: empty ? null : (b.serverErrors + b.timeouts) / b.count,
    errors: b.serverErrors + b.timeouts,
    client_errors: b.clientErrors,
    timeouts: b.timeouts,
    start: new Date(startMs).toISOString(),
    end: new Date(endMs).toISOString(),
    duration_s: (endMs - startMs) / 1000,
  };
}
