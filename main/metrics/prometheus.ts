/**
 * Prometheus text exposition (format 0.0.4) of latency snapshots.
 *
 * Latency is a summary in seconds (Prometheus' base unit): window quantiles plus lifetime
 * `_sum`/`_count`, which is what a Prometheus summary means. Counters are lifetime; the error
 * rate is a gauge over the window, the same number the rollback watcher and the GUI use.
 */
import type { LatencySnapshot } from './latency-recorder.js';

export type PromLabels = Readonly<Record<string, string>>;

/** One snapshot with the labels that tell it apart from the others in the same exposition. */
export interface LabelledSnapshot {
  readonly snapshot: LatencySnapshot;
  readonly labels?: PromLabels;
}

/** The content type Prometheus expects for this format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value: backslash, double quote and line feed, as the format requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels: PromLabels): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new RangeError(`invalid Prometheus label name: ${name}`);
    parts.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Family {
  readonly name: string;
  readonly type: 'summary' | 'counter' | 'gauge';
  readonly help: string;
  readonly samples: (s: LatencySnapshot) => readonly [suffix: string, extra: PromLabels, value: number][];
}

const FAMILIES: readonly Family[] = [
  {
    name: 'frameworm_request_duration_seconds',
    type: 'summary',
    help: 'Time from a /predict request arriving to its response ending. Quantiles over the sliding window.',
    samples: (s) => [
      ['', { quantile: '0.5' }, s.p50_ms / 1000],
      ['', { quantile: '0.95' }, s.p95_ms / 1000],
      ['', { quantile: '0.99' }, s.p99_ms / 1000],
      ['_sum', {}, s.sum_ms / 1000],
      ['_count', {}, s.requests],
    ],
  },
  {
    name: 'frameworm_requests_total',
    type: 'counter',
    help: 'Prediction requests answered, whatever the outcome.',
    samples: (s) => [['', {}, s.requests]],
  },
  {
    name: 'frameworm_request_errors_total',
    type: 'counter',
    help: 'Prediction requests that failed on the server side (5xx or timeout); these count toward the error rate.',
    samples: (s) => [['', {}, s.errors]],
  },
  {
    name: 'frameworm_request_timeouts_total',
    type: 'counter',
    help: 'Prediction requests that timed out (a subset of frameworm_request_errors_total).',
    samples: (s) => [['', {}, s.timeouts]],
  },
  {
    name: 'frameworm_request_client_errors_total',
    type: 'counter',
    help: 'Prediction requests refused as invalid (4xx); these do not count toward the error rate.',
    samples: (s) => [['', {}, s.client_errors]],
  },
  {
    name: 'frameworm_error_rate',
    type: 'gauge',
    help: 'Share of requests in the sliding window that failed on the server side (5xx or timeout).',
    samples: (s) => [['', {}, s.error_rate]],
  },
  {
    name: 'frameworm_window_requests',
    type: 'gauge',
    help: 'Prediction requests in the sliding window.',
    samples: (s) => [['', {}, s.window_requests]],
  },
];

/**
 * Renders snapshots as Prometheus text. `labels` are added to every series (e.g. `{model}`);
 * each snapshot's own labels (e.g. `{version}`) tell series apart within a family.
 */
export function toPrometheus(snapshots: readonly LabelledSnapshot[], labels: PromLabels = {}): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const { snapshot, labels: own } of snapshots) {
      for (const [suffix, extra, value] of family.samples(snapshot)) {
        lines.push(`${family.name}${suffix}${formatLabels({ ...labels, ...own, ...extra })} ${formatValue(value)}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
