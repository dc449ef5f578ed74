import { describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { parseRetryAfter, redactUrl, resolveWebhookUrl, SLACK_WEBHOOK_ENV } from '../../../main/alerts/slack-webhook.js';

const SECRET = 'https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tTOKENvalue';

function errorOf(fn: () => unknown): FramewormError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FramewormError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('webhook URL resolution', () => {
  it('takes the config value first, then FRAMEWORM_SLACK_WEBHOOK, else null', () => {
    expect(resolveWebhookUrl(SECRET, { [SLACK_WEBHOOK_ENV]: 'https://hooks.slack.com/services/other' })).toBe(SECRET);
    expect(resolveWebhookUrl(null, { [SLACK_WEBHOOK_ENV]: SECRET })).toBe(SECRET);
    expect(resolveWebhookUrl(null, { [SLACK_WEBHOOK_ENV]: '  ' })).toBeNull();
    expect(resolveWebhookUrl(null, {})).toBeNull();
  });

  it('accepts plain http only to the loopback address, and never shows the URL in the error', () => {
    expect(resolveWebhookUrl('http://127.0.0.1:9/services/x', {})).toBe('http://127.0.0.1:9/services/x');
    const e = errorOf(() => resolveWebhookUrl(null, { [SLACK_WEBHOOK_ENV]: 'http://hooks.example.com/services/T/B/s3cr3t' }));
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toBe(`${SLACK_WEBHOOK_ENV} must be an https:// URL (plain http only to 127.0.0.1, for a local test receiver)`);
    const bad = errorOf(() => resolveWebhookUrl('not a url s3cr3t', {}));
    expect(bad.message).toBe('deploy.slack_webhook_url is not a valid URL (its value is not shown: it is a secret)');
  });
});

describe('redaction', () => {
  it('removes the URL, its host+path and its path from any text', () => {
    const u = new URL(SECRET);
    const text = `failed ${SECRET} / ${u.host}${u.pathname} / ${u.pathname} / ${SECRET.replace('https://', '')}`;
    const out = redactUrl(text, SECRET);
    expect(out).not.toContain('s3cr3tTOKENvalue');
    expect(out).toBe('failed <webhook> / <webhook> / <webhook> / <webhook>');
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates, caps at 60 s and defaults to 1 s', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('3600', now)).toBe(60_000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(null, now)).toBe(1000);
    expect(parseRetryAfter('soon', now)).toBe(1000);
  });
});
