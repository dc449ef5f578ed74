import { describe, expect, it } from 'vitest';
import { DEFAULT_ALERT_RULES, defineRule, withChannels, type AlertContext } from '../../../main/alerts/alert-rules.js';
import { slackMessage, SLACK_HEADER_MAX } from '../../../main/alerts/slack-message.js';
import type { EventOf, FramewormEvent } from '../../../main/events/event-types.js';

const context: AlertContext = {
  thresholds: { latency_threshold_ms: 100, error_rate_threshold: 0.05 },
  lastCheckBefore: () => ({
    id: 9, ts: '2030-01-01T00:00:00.000Z', model: 'm', event: 'check', version: 'v3', verdict: 'breach',
    p95_ms: 310, error_rate: 0.2, error_rate_lower: 0.1, requests: 42, in_flight: 1, streak: 3,
  }),
};

const rollback = (over: Partial<EventOf<'rollback'>> = {}): FramewormEvent => ({
  id: 10, ts: '2030-01-01T00:00:01.000Z', model: 'm', event: 'rollback', from_version: 'v3', to_version: 'v2',
  reason: 'p95 310 ms > 100 ms for 3 checks', p95_ms: 310, error_rate: 0.2, success: true, streak: 3, ...over,
} as FramewormEvent);

const rule = (id: string) => {
  const r = DEFAULT_ALERT_RULES.find((x) => x.id === id);
  if (!r) throw new Error(`no rule ${id}`);
  return r;
};

describe('alert rule table', () => {
  it('sends rollbacks (success or not) to slack, log and tray; rollback_started and streak starts to log and tray only', () => {
    expect(rule('rollback').channels).toEqual(['slack', 'log', 'tray']);
    expect(rule('rollback').matches(rollback())).toBe(true);
    expect(rule('rollback').matches(rollback({ success: false }))).toBe(true);
    expect(rule('rollback_started').channels).toEqual(['log', 'tray']);
    expect(rule('breach_streak_started').channels).toEqual(['log', 'tray']);
  });

  it('treats only the first breach of a streak as a streak start', () => {
    const check = (verdict: 'breach' | 'pass', streak: number): FramewormEvent => ({
      id: 1, ts: 't', model: 'm', event: 'check', version: 'v1', verdict, p95_ms: 1, error_rate: 0, error_rate_lower: 0, requests: 30, in_flight: 0, streak,
    });
    const r = rule('breach_streak_started');
    expect([r.matches(check('breach', 1)), r.matches(check('breach', 2)), r.matches(check('pass', 0))]).toEqual([true, false, false]);
  });

  it('never has alert events as a subject (no loops)', () => {
    expect(DEFAULT_ALERT_RULES.some((r) => (r.event as string) === 'alert')).toBe(false);
    expect(() => defineRule({ id: 'x', event: 'alert', channels: ['slack'], content: () => ({ title: '', summary: '', severity: 'info', fields: [] }) })).toThrow(/cannot raise alerts/);
  });

  it('lets configuration move a rule to other channels', () => {
    const rules = withChannels(DEFAULT_ALERT_RULES, { breach_streak_started: ['slack', 'log', 'tray'] });
    expect(rules.find((r) => r.id === 'breach_streak_started')?.channels).toEqual(['slack', 'log', 'tray']);
    expect(rules.find((r) => r.id === 'rollback')?.channels).toEqual(['slack', 'log', 'tray']);
  });
});

describe('Slack message of a rollback', () => {
  it('has the header "rolled back M v3 → v2" and the fields with thresholds, streak, requests and time', () => {
    const msg = slackMessage(rule('rollback').content(rollback(), context));
    const header = msg.blocks[0];
    expect(header).toEqual({ type: 'header', text: { type: 'plain_text', text: 'rolled back m v3 → v2', emoji: true } });
    const fields = msg.blocks.flatMap((b) => (b.type === 'section' && b.fields ? b.fields.map((f) => f.text) : []));
    expect(fields).toEqual([
      '*Model*\nm', '*From*\nv3', '*To*\nv2', '*Reason*\np95 310 ms &gt; 100 ms for 3 checks',
      '*p95 vs threshold*\n310 ms (threshold 100 ms)', '*Error rate vs threshold*\n20.0 % (threshold 5.0 %)',
      '*Streak*\n3', '*Requests*\n42', '*Time*\n2030-01-01T00:00:01.000Z',
    ]);
    expect(msg.text).toBe('rolled back m v3 → v2: m now serves v2 instead of v3: p95 310 ms > 100 ms for 3 checks');
  });

  it('says a failed rollback failed, with its error, in at most 10 fields per section', () => {
    const msg = slackMessage(rule('rollback').content(rollback({ success: false, to_version: null, error: 'no healthy version to roll back to' }), context));
    expect(msg.blocks[0]).toMatchObject({ type: 'header', text: { text: 'rollback of m v3 → - failed' } });
    for (const b of msg.blocks) if (b.type === 'section' && b.fields) expect(b.fields.length).toBeLessThanOrEqual(10);
    expect(msg.text).toContain('no healthy version to roll back to');
  });

  it("cuts the header to Slack's 150 characters and splits more than 10 fields into sections", () => {
    const long = 'x'.repeat(60);
    const msg = slackMessage({
      title: `rolled back ${long} ${long}-v3 → ${long}-v2`,
      summary: 's',
      severity: 'warning',
      fields: Array.from({ length: 13 }, (_, i) => ({ label: `f${i}`, value: String(i) })),
    });
    const header = msg.blocks[0];
    expect(header?.type === 'header' ? [...header.text.text].length : 0).toBe(SLACK_HEADER_MAX);
    expect(header?.type === 'header' ? header.text.text.endsWith('…') : false).toBe(true);
    const sections = msg.blocks.filter((b) => b.type === 'section' && b.fields).map((b) => (b.type === 'section' ? b.fields?.length : 0));
    expect(sections).toEqual([10, 3]);
  });
});
