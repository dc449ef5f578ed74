/**
 * What a rollback check looks at: the requests one version completed since the previous check,
 * and the ones it is still working on.
 *
 * The recorder's interval cursors give percentiles of completed requests only; a check also has
 * to count requests still in flight (with their age as latency), or a version that hangs would
 * never breach. Percentiles over "completed ∪ in flight" need the latencies themselves, so an
 * interval keeps them — at most `capacity` of them, as a uniform reservoir sample (Algorithm R),
 * so memory stays flat however busy the interval. Below the capacity the sample is exact.
 */

/** A request still being answered when the interval was taken. */
export interface InFlightRequest {
  /** Time since the request arrived, in ms. */
  readonly age_ms: number;
  /** True for a synthetic probe (see PROBE_HEADER in the stable endpoint). */
  readonly probe: boolean;
}

/** One interval of one version, as `StableEndpoint.takeInterval()` returns it. */
export interface IntervalMeasurement {
  /** The version the requests went to. */
  readonly version: string;
  /** Epoch ms the interval started (previous take, or when the version began serving). */
  readonly start_ms: number;
  /** Epoch ms it was taken. */
  readonly end_ms: number;
  /** Requests answered in the interval (any status). */
  readonly completed: number;
  /** Of those, answered 5xx or timed out. */
  readonly errors: number;
  /** Of `completed`, synthetic probes. */
  readonly probes: number;
  /** Of `errors`, synthetic probes. */
  readonly probe_errors: number;
  /**
   * Latencies of completed requests in ms: all of them when `completed` ≤ the capacity, else a
   * uniform sample of `capacity` of them (each then stands for completed / length requests).
   */
  readonly latencies_ms: readonly number[];
  /** Requests still in flight when the interval was taken. */
  readonly in_flight: readonly InFlightRequest[];
}

/** Default number of latencies an interval keeps exactly (32 KiB of doubles). */
export const DEFAULT_INTERVAL_CAPACITY = 4096;

/** Handle of one request in flight, returned by `begin` and handed back to `end`. */
export interface InFlightToken {
  readonly startMs: number;
  readonly probe: boolean;
}

/**
 * Collects the requests of one version between two takes. Times are in one clock's ms (the
 * caller's: the stable endpoint uses its monotonic epoch clock for all of them).
 */
export class IntervalCollector {
  private readonly capacity: number;
  private latencies: number[] = [];
  private completed = 0;
  private errors = 0;
  private probes = 0;
  private probeErrors = 0;
  private startMs: number;
  private readonly inFlight = new Set<InFlightToken>();
  /** xorshift32 state: a fixed seed keeps the sample (and so the tests) reproducible. */
  private rng = 0x9e3779b9;

  constructor(startMs: number, capacity = DEFAULT_INTERVAL_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`interval capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.startMs = startMs;
  }

  /** Marks a request as in flight from `startMs` (its arrival). */
  begin(startMs: number, probe: boolean): InFlightToken {
    const token: InFlightToken = { startMs, probe };
    this.inFlight.add(token);
    return token;
  }

  /** Forgets a request in flight (answered or abandoned); safe to call twice. */
  end(token: InFlightToken): void {
    this.inFlight.delete(token);
  }

  /** Records one answered request. `error`: it was a 5xx or a time-out. */
  record(latencyMs: number, error: boolean, probe: boolean): void {
    const ms = Number.isFinite(latencyMs) && latencyMs > 0 ? latencyMs : 0;
    this.completed++;
    if (error) this.errors++;
    if (probe) {
      this.probes++;
      if (error) this.probeErrors++;
    }
    if (this.latencies.length < this.capacity) {
      this.latencies.push(ms);
      return;
    }
    // Algorithm R: the n-th request replaces a random kept one with probability capacity / n.
    const j = this.nextRandom() % this.completed;
    if (j < this.capacity) this.latencies[j] = ms;
  }

  /** Requests answered since the last take (for topping an interval up with probes). */
  get pending(): number {
    return this.completed;
  }

  /** Requests in flight now. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Everything since the previous take (or creation), then starts the next interval at `nowMs`. */
  take(version: string, nowMs: number): IntervalMeasurement {
    const inFlight: InFlightRequest[] = [];
    for (const t of this.inFlight) inFlight.push({ age_ms: Math.max(0, nowMs - t.startMs), probe: t.probe });
    const m: IntervalMeasurement = {
      version,
      start_ms: this.startMs,
      end_ms: nowMs,
      completed: this.completed,
      errors: this.errors,
      probes: this.probes,
      probe_errors: this.probeErrors,
      latencies_ms: this.latencies,
      in_flight: inFlight,
    };
    this.latencies = [];
    this.completed = this.errors = this.probes = this.probeErrors = 0;
    this.startMs = nowMs;
    return m;
  }

  private nextRandom(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng;
  }
}
