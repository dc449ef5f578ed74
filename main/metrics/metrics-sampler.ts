/**
 * The GUI's live charts: once a second, one sample per serving deployment (percentiles, error
 * rate, request rate, version), published as `metrics.sample` and kept in a bounded ring per
 * deployment so a reload or a new window can draw the last 15 minutes (`metrics.history`).
 *
 * Memory is bounded by construction: a ring of `historyS / periodS` samples per deployment, and
 * a ring is dropped once its deployment has not been seen for a whole history span.
 */
import type { MetricsSample, MetricsView } from '../../preload/contract.js';

/** One deployment's metrics at the moment of reading (null: it has no endpoint now). */
export interface MetricsReading {
  readonly name: string;
  readonly metrics: MetricsView | null;
}

/** Options of a MetricsSampler. */
export interface MetricsSamplerOptions {
  /** Reads every deployment's current metrics (the control plane: DeploymentManager snapshots). */
  readonly read: () => Promise<readonly MetricsReading[]>;
  /** Hears each new sample (the `metrics.sample` push channel). */
  readonly onSample?: (sample: MetricsSample) => void;
  /** Sampling period, ms (default 1000). */
  readonly periodMs?: number;
  /** History kept per deployment, s (default 900: 15 minutes). */
  readonly historyS?: number;
  /** Epoch ms; injectable for tests. */
  readonly now?: () => number;
  /** Hears a failed read (the next tick tries again). */
  readonly onError?: (err: unknown) => void;
}

/** A fixed-capacity ring of samples, oldest first when read. */
class SampleRing {
  private readonly slots: (MetricsSample | undefined)[];
  private next = 0;
  private count = 0;

  constructor(capacity: number) {
    this.slots = new Array<MetricsSample | undefined>(capacity);
  }

  push(sample: MetricsSample): void {
    this.slots[this.next] = sample;
    this.next = (this.next + 1) % this.slots.length;
    this.count = Math.min(this.count + 1, this.slots.length);
  }

  /** Samples newer than `sinceMs`, oldest first. */
  since(sinceMs: number): MetricsSample[] {
    const out: MetricsSample[] = [];
    const start = (this.next - this.count + this.slots.length) % this.slots.length;
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[(start + i) % this.slots.length];
      if (s && s.ts > sinceMs) out.push(s);
    }
    return out;
  }

  get newestTs(): number {
    return this.count === 0 ? 0 : (this.slots[(this.next - 1 + this.slots.length) % this.slots.length]?.ts ?? 0);
  }
}

interface Previous {
  readonly ts: number;
  readonly requests: number;
}

/** Samples every deployment once per period and keeps a bounded history. */
export class MetricsSampler {
  private readonly rings = new Map<string, SampleRing>();
  private readonly previous = new Map<string, Previous>();
  private readonly periodMs: number;
  private readonly historyMs: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly options: MetricsSamplerOptions) {
    this.periodMs = options.periodMs ?? 1000;
    this.historyMs = (options.historyS ?? 900) * 1000;
    // One slot more than the span, so the oldest second of the span survives the newest.
    this.capacity = Math.ceil(this.historyMs / this.periodMs) + 1;
    this.now = options.now ?? Date.now;
  }

  /** Starts sampling every period (idempotent). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sampleOnce(), this.periodMs);
    // Sampling alone never keeps a process alive.
    this.timer.unref();
  }

  /**
   * Takes one sample of every deployment now. A tick that finds the previous one still reading
   * (a slow Docker daemon) is skipped rather than queued, so reads never pile up.
   */
  async sampleOnce(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const readings = await this.options.read();
      const ts = this.now();
      for (const r of readings) {
        if (!r.metrics) {
          this.previous.delete(r.name);
          continue;
        }
        const sample = this.toSample(r.name, r.metrics, ts);
        let ring = this.rings.get(r.name);
        if (!ring) {
          ring = new SampleRing(this.capacity);
          this.rings.set(r.name, ring);
        }
        ring.push(sample);
        this.options.onSample?.(sample);
      }
      for (const [name, ring] of this.rings) if (ring.newestTs <= ts - this.historyMs) this.rings.delete(name);
    } catch (err) {
      this.options.onError?.(err);
    } finally {
      this.busy = false;
    }
  }

  /** The samples of the history span, oldest first: one deployment's, or all (ordered by time). */
  history(name?: string): MetricsSample[] {
    const since = this.now() - this.historyMs;
    if (name !== undefined) return this.rings.get(name)?.since(since) ?? [];
    return [...this.rings.values()].flatMap((r) => r.since(since)).sort((a, b) => a.ts - b.ts);
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private toSample(name: string, m: MetricsView, ts: number): MetricsSample {
    const prev = this.previous.get(name);
    this.previous.set(name, { ts, requests: m.requests });
    // A counter that went down belongs to a new endpoint: no rate for that second.
    const rate = prev && ts > prev.ts && m.requests >= prev.requests ? ((m.requests - prev.requests) * 1000) / (ts - prev.ts) : null;
    const empty = m.window_requests === 0;
    return {
      name,
      ts,
      p50_ms: empty ? null : m.p50_ms,
      p95_ms: empty ? null : m.p95_ms,
      p99_ms: empty ? null : m.p99_ms,
      error_rate: empty ? null : m.error_rate,
      requests_per_s: rate,
      version: m.version,
    };
  }
}
