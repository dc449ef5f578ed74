/**
 * What the batchers of one deployment version did: rows per model call (a histogram), how long
 * requests waited to share a call (queue delay), and how many were refused as overload. Reported
 * in /metrics (JSON and Prometheus) and in the backend's status.
 */
import type { BatchingView, HistogramView } from '../../../preload/contract.js';
import { escapeLabelValue } from '../../metrics/prometheus.js';

/** Upper bounds of the rows-per-call histogram (rows). */
export const BATCH_ROW_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];
/** Upper bounds of the queue-delay histogram (ms). */
export const QUEUE_DELAY_BUCKETS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** A cumulative histogram as Prometheus counts it (the contract's type). */
export type HistogramSnapshot = HistogramView;

/** The batching part of /metrics and of `deploy status` (the contract's type). */
export type BatchingSnapshot = BatchingView;

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private total = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    this.sum += value;
    this.total++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    const buckets = this.bounds.map((le, i) => ({ le, count: (running += this.counts[i]!) }));
    return { buckets, sum: this.sum, count: this.total };
  }
}

/** Counters of one version's batchers (see the file comment). */
export class BatchStats {
  private readonly rowsHist = new Histogram(BATCH_ROW_BUCKETS);
  private readonly delayHist = new Histogram(QUEUE_DELAY_BUCKETS_MS);
  private calls = 0;
  private rows = 0;
  private requests = 0;
  private rejections = 0;

  /** One model call of `rows` rows carrying `requests` request parts. */
  recordCall(rows: number, requests: number): void {
    this.calls++;
    this.rows += rows;
    this.requests += requests;
    this.rowsHist.observe(rows);
  }

  /** How long one request waited from arriving at the batcher to its first model call. */
  recordQueueDelay(ms: number): void {
    this.delayHist.observe(Math.max(0, ms));
  }

  recordRejection(): void {
    this.rejections++;
  }

  /** The counters with the settings and live state the caller adds. */
  snapshot(state: { enabled: boolean; mode: 'dynamic' | 'continuous'; maxRows: number; maxDelayMs: number; queued: number; runningCalls: number }): BatchingSnapshot {
    return {
      enabled: state.enabled,
      mode: state.mode,
      max_rows: state.maxRows,
      max_delay_ms: state.maxDelayMs,
      calls: this.calls,
      rows: this.rows,
      requests: this.requests,
      queued: state.queued,
      running_calls: state.runningCalls,
      overload_rejections: this.rejections,
      batch_rows: this.rowsHist.snapshot(),
      queue_delay_ms: this.delayHist.snapshot(),
    };
  }
}

function labelText(labels: Readonly<Record<string, string>>, extra = ''): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  if (extra) parts.push(extra);
  return `{${parts.join(',')}}`;
}

/** A number without binary-fraction noise (0.1 × 0.001 prints as 0.0001). */
function num(v: number): string {
  return String(Number(v.toPrecision(12)));
}

function histogramLines(name: string, h: HistogramSnapshot, labels: Readonly<Record<string, string>>, scale: number): string[] {
  const lines = h.buckets.map((b) => `${name}_bucket${labelText(labels, `le="${num(b.le * scale)}"`)} ${b.count}`);
  lines.push(`${name}_bucket${labelText(labels, 'le="+Inf"')} ${h.count}`, `${name}_sum${labelText(labels)} ${num(h.sum * scale)}`, `${name}_count${labelText(labels)} ${h.count}`);
  return lines;
}

/** Prometheus text of one version's batching (empty when the version does not batch). */
export function batchingPrometheus(snapshot: BatchingSnapshot | null, model: string, version: string): string {
  if (!snapshot) return '';
  const labels = { model, version };
  const lines = [
    '# HELP frameworm_batch_rows Rows per model call made by the batcher (a request of batch_size 16 is 16 rows).',
    '# TYPE frameworm_batch_rows histogram',
    ...histogramLines('frameworm_batch_rows', snapshot.batch_rows, labels, 1),
    '# HELP frameworm_batch_queue_delay_seconds Time a request waited at the batcher before its first model call.',
    '# TYPE frameworm_batch_queue_delay_seconds histogram',
    ...histogramLines('frameworm_batch_queue_delay_seconds', snapshot.queue_delay_ms, labels, 1 / 1000),
    '# HELP frameworm_batch_requests_total Request parts carried by batched model calls.',
    '# TYPE frameworm_batch_requests_total counter',
    `frameworm_batch_requests_total${labelText(labels)} ${snapshot.requests}`,
    '# HELP frameworm_batch_overload_rejections_total Requests answered 503 because their deadline could not be met at the measured rate.',
    '# TYPE frameworm_batch_overload_rejections_total counter',
    `frameworm_batch_overload_rejections_total${labelText(labels)} ${snapshot.overload_rejections}`,
    '# HELP frameworm_batch_queued Requests waiting at the batcher now.',
    '# TYPE frameworm_batch_queued gauge',
    `frameworm_batch_queued${labelText(labels)} ${snapshot.queued}`,
  ];
  return lines.join('\n') + '\n';
}
