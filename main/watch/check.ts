/**
 * The rollback check's verdict on one interval (DESIGN §7), as pure functions.
 *
 * - p95 is taken over the interval's answered requests plus the ones still in flight, each in
 *   flight counting with its age: a version that hangs shows a growing p95 instead of "no data".
 * - The error rate (5xx + time-outs; requests in flight longer than the request timeout count as
 *   time-outs) is judged by its one-sided 95 % Wilson lower bound, so 1 error in 3 requests is
 *   not taken for a 33 % error rate: small samples must show errors well above the threshold.
 * - Fewer than `min_requests_per_check` requests is inconclusive: it neither counts toward the
 *   breach streak nor resets it (an idle service is not rolled back, nor declared healthy).
 */
import type { IntervalMeasurement } from '../metrics/interval-sample.js';

/** The verdicts of DESIGN §7. `error`: the interval could not be measured (never a rollback). */
export type Verdict = 'pass' | 'breach' | 'inconclusive' | 'error';

/** z of the one-sided 95 % bound (DESIGN §7 fixes 1.645 rather than 1.6449). */
export const WILSON_Z = 1.645;

/** The thresholds a check applies; the deploy config's keys of the same names. */
export interface CheckRule {
  readonly latency_threshold_ms: number;
  readonly error_rate_threshold: number;
  readonly min_requests_per_check: number;
  readonly request_timeout_ms: number;
}

/** One check's findings: the `check` event's measured fields. */
export interface CheckFindings {
  readonly verdict: Exclude<Verdict, 'error'>;
  /** p95 latency in ms over answered and in-flight requests; null with no request at all. */
  readonly p95_ms: number | null;
  /** Errors / requests; null with no request at all. */
  readonly error_rate: number | null;
  /** One-sided 95 % Wilson lower bound of the error rate; null with no request at all. */
  readonly error_rate_lower: number | null;
  /** Requests judged: answered in the interval plus in flight at its end. */
  readonly requests: number;
  readonly in_flight: number;
  /** Of `requests`, synthetic probes. */
  readonly probes: number;
  /** Errors counted (5xx, time-outs, in flight past the timeout). */
  readonly errors: number;
  /** Why it breached, in words; null unless the verdict is breach. */
  readonly breach_reason: string | null;
}

/**
 * One-sided Wilson score lower bound of a binomial proportion: the smallest p for which
 * `errors` out of `n` is not significantly high at level z. 0 when n is 0.
 */
export function wilsonLowerBound(errors: number, n: number, z: number = WILSON_Z): number {
  if (!(n > 0)) return 0;
  const k = Math.min(Math.max(errors, 0), n);
  const p = k / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const lower = (centre - spread) / (1 + z2 / n);
  // Rounding can leave -1e-17 for k = 0.
  return lower > 0 ? lower : 0;
}

/**
 * Nearest-rank percentile of weighted values: the smallest value whose cumulative weight
 * reaches `q` (0–1) of the total. Null when the total weight is 0.
 */
export function weightedPercentile(values: readonly { readonly value: number; readonly weight: number }[], q: number): number | null {
  let total = 0;
  for (const v of values) total += v.weight;
  if (!(total > 0)) return null;
  const sorted = [...values].sort((a, b) => a.value - b.value);
  // A relative epsilon so that e.g. 19 of 20 equal weights reach 0.95 despite float sums.
  const goal = q * total * (1 - 1e-12);
  let seen = 0;
  for (const v of sorted) {
    seen += v.weight;
    if (seen >= goal) return v.value;
  }
  return sorted[sorted.length - 1]!.value;
}

/** Judges one interval against the rule; see the file comment. */
export function judgeInterval(m: IntervalMeasurement, rule: CheckRule): CheckFindings {
  const stuck = m.in_flight.filter((r) => r.age_ms > rule.request_timeout_ms).length;
  const requests = m.completed + m.in_flight.length;
  const errors = m.errors + stuck;
  const probes = m.probes + m.in_flight.filter((r) => r.probe).length;
  // A reservoir sample of answered requests stands for all of them; each in flight is itself.
  const sampleWeight = m.latencies_ms.length > 0 ? m.completed / m.latencies_ms.length : 0;
  const weighted = [
    ...m.latencies_ms.map((value) => ({ value, weight: sampleWeight })),
    ...m.in_flight.map((r) => ({ value: r.age_ms, weight: 1 })),
  ];
  const p95 = weightedPercentile(weighted, 0.95);
  const errorRate = requests > 0 ? errors / requests : null;
  const lower = requests > 0 ? wilsonLowerBound(errors, requests) : null;
  const base = { p95_ms: p95 === null ? null : roundMs(p95), error_rate: errorRate, error_rate_lower: lower, requests, in_flight: m.in_flight.length, probes, errors };
  if (requests < rule.min_requests_per_check) return { verdict: 'inconclusive', ...base, breach_reason: null };
  const reasons: string[] = [];
  if (p95 !== null && p95 > rule.latency_threshold_ms) {
    reasons.push(`p95 ${formatMs(p95)} ms > ${formatMs(rule.latency_threshold_ms)} ms`);
  }
  if (lower !== null && lower > rule.error_rate_threshold) {
    reasons.push(`error rate ${errors}/${requests} (95 % lower bound ${formatRate(lower)}) > ${formatRate(rule.error_rate_threshold)}`);
  }
  return reasons.length > 0 ? { verdict: 'breach', ...base, breach_reason: reasons.join(' and ') } : { verdict: 'pass', ...base, breach_reason: null };
}

/** The rule in words, for `deploy status`. */
export function describeRule(rule: CheckRule & { readonly rollback_checks: number; readonly monitor_interval_s: number }): string {
  return `every ${rule.monitor_interval_s} s: breach when p95 > ${formatMs(rule.latency_threshold_ms)} ms or the error rate's 95 % lower bound > ${formatRate(rule.error_rate_threshold)}`
    + ` (at least ${rule.min_requests_per_check} requests, else inconclusive); roll back after ${rule.rollback_checks} consecutive breaches`;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function formatMs(ms: number): string {
  return String(Math.round(ms * 10) / 10);
}

function formatRate(rate: number): string {
  return `${Math.round(rate * 1000) / 10} %`;
}
