/**
 * Counts of synthetic probe requests (PROBE_HEADER), kept beside the latency recorders so
 * /metrics can report probes apart from user traffic. The recorders' own counts include probes
 * (a probe is a real request that the rollback check counts): these tallies are the probe subset,
 * so user traffic is `requests − probe_requests`.
 */
import { escapeLabelValue } from '../metrics/prometheus.js';
import type { Outcome } from '../metrics/latency-recorder.js';

/** Probe counts as /metrics JSON shows them (lifetime of the endpoint or of the version). */
export interface ProbeCounts {
  /** Probes answered, whatever the outcome (included in `requests`). */
  readonly probe_requests: number;
  /** Of those, 5xx or timed out (included in `errors`). */
  readonly probe_errors: number;
  /** Of those, refused 4xx (included in `client_errors`); non-zero means a probe body is wrong. */
  readonly probe_client_errors: number;
}

/** Lifetime probe counters of one scope (endpoint or version). */
export class ProbeTally {
  private requests = 0;
  private errors = 0;
  private clientErrors = 0;

  record(outcome: Outcome): void {
    this.requests++;
    if (outcome === 'server_error' || outcome === 'timeout') this.errors++;
    else if (outcome === 'client_error') this.clientErrors++;
  }

  counts(): ProbeCounts {
    return { probe_requests: this.requests, probe_errors: this.errors, probe_client_errors: this.clientErrors };
  }
}

/** Prometheus counters for probe tallies, one series per labelled scope (same labels as the latency families). */
export function probePrometheus(series: readonly { counts: ProbeCounts; labels: Readonly<Record<string, string>> }[], model: string): string {
  const families: readonly [name: string, help: string, key: keyof ProbeCounts][] = [
    ['frameworm_probe_requests_total', 'Synthetic probe requests answered; included in frameworm_requests_total.', 'probe_requests'],
    ['frameworm_probe_errors_total', 'Synthetic probe requests that failed on the server side (5xx or timeout); included in frameworm_request_errors_total.', 'probe_errors'],
    ['frameworm_probe_client_errors_total', 'Synthetic probe requests refused as invalid (4xx); included in frameworm_request_client_errors_total.', 'probe_client_errors'],
  ];
  const lines: string[] = [];
  for (const [name, help, key] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const { counts, labels } of series) {
      const all = { model, ...labels };
      const text = Object.entries(all).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
      lines.push(`${name}{${text}} ${counts[key]}`);
    }
  }
  return lines.join('\n') + '\n';
}
