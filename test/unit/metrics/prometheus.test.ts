import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../../../main/metrics/latency-recorder.js';
import { escapeLabelValue, toPrometheus } from '../../../main/metrics/prometheus.js';
import { parsePrometheus } from './prometheus-parser.js';

describe('toPrometheus', () => {
  const rec = new LatencyRecorder();
  for (let i = 1; i <= 100; i++) rec.record(i, i <= 3 ? 'server_error' : i <= 5 ? 'client_error' : 'ok');
  rec.record(2, 'timeout');

  it('writes HELP and TYPE once per family and parses back to the snapshot values', () => {
    const text = toPrometheus([{ snapshot: rec.snapshot(), labels: { version: 'v1' } }], { model: 'mnist' });
    const parsed = parsePrometheus(text);
    expect(parsed.types.get('frameworm_request_duration_seconds')).toBe('summary');
    expect(parsed.types.get('frameworm_requests_total')).toBe('counter');
    expect(parsed.types.get('frameworm_request_errors_total')).toBe('counter');
    expect(parsed.types.get('frameworm_error_rate')).toBe('gauge');
    for (const name of parsed.types.keys()) expect(parsed.help.has(name)).toBe(true);
    expect(text.match(/^# TYPE frameworm_requests_total /gm)).toHaveLength(1);

    const sample = (name: string, labels: Record<string, string> = {}): number | undefined =>
      parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(sample('frameworm_requests_total', { model: 'mnist', version: 'v1' })).toBe(101);
    expect(sample('frameworm_request_errors_total')).toBe(4);
    expect(sample('frameworm_request_timeouts_total')).toBe(1);
    expect(sample('frameworm_request_client_errors_total')).toBe(2);
    expect(sample('frameworm_error_rate')).toBeCloseTo(4 / 101, 10);
    expect(sample('frameworm_request_duration_seconds', { quantile: '0.5' })).toBeCloseTo(0.05, 3);
    expect(sample('frameworm_request_duration_seconds', { quantile: '0.99' })).toBeCloseTo(0.099, 3);
    expect(sample('frameworm_request_duration_seconds_count')).toBe(101);
    expect(sample('frameworm_request_duration_seconds_sum')).toBeCloseTo((5050 + 2) / 1000, 6);
  });

  it('emits one series per snapshot, told apart by their labels', () => {
    const text = toPrometheus([
      { snapshot: rec.snapshot(), labels: { scope: 'endpoint' } },
      { snapshot: new LatencyRecorder().snapshot(), labels: { scope: 'version', version: 'v2' } },
    ]);
    const totals = parsePrometheus(text).samples.filter((s) => s.name === 'frameworm_requests_total');
    expect(totals.map((s) => [s.labels.scope, s.value])).toEqual([['endpoint', 101], ['version', 0]]);
  });

  it('escapes label values and refuses invalid label names', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const text = toPrometheus([{ snapshot: rec.snapshot() }], { model: 'we"ird\\name\nx' });
    const parsed = parsePrometheus(text);
    expect(parsed.samples[0]!.labels.model).toBe('we"ird\\name\nx');
    expect(() => toPrometheus([{ snapshot: rec.snapshot() }], { 'bad-name': 'x' })).toThrow(RangeError);
  });
});
