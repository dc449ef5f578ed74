/** SlackWebhookClient (through @slack/webhook) against a real local HTTP receiver, one mode at a time. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackMessage } from '../../../main/alerts/slack-message.js';
import { SlackWebhookClient } from '../../../main/alerts/slack-webhook.js';
import { closedPortUrl, SlackReceiver } from './slack-receiver.js';

const message = slackMessage({ title: 'rolled back m v3 → v2', summary: 'p95 too high', severity: 'warning', fields: [{ label: 'Model', value: 'm' }] });
let receiver: SlackReceiver;
beforeAll(async () => {
  receiver = await new SlackReceiver().start();
});
afterAll(async () => {
  await receiver.stop();
});

describe('SlackWebhookClient', () => {
  it('posts the Block Kit message with its text fallback as JSON and reads "ok" as sent', async () => {
    receiver.script.push('ok');
    const before = receiver.requests.length;
    expect(await new SlackWebhookClient().send(receiver.url, message)).toEqual({ kind: 'sent' });
    const req = receiver.requests[before];
    expect(req?.path).toBe(receiver.secretPath);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toEqual(JSON.parse(JSON.stringify(message)));
  });

  it('classifies 500, a 200 that is not ok, 429 with Retry-After and 400, with one request each', async () => {
    const client = new SlackWebhookClient();
    const before = receiver.requests.length;
    receiver.retryAfterS = 7;
    receiver.script.push('500', 'notok', '429', '400');
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await client.send(receiver.url, message));
    expect(results).toEqual([
      { kind: 'retry', error: 'Slack answered HTTP 500: internal_error' },
      { kind: 'retry', error: 'Slack answered HTTP 200 with "not ok" instead of "ok"' },
      { kind: 'rate_limited', retryAfterMs: 7000, error: 'Slack rate-limited the webhook (HTTP 429, retry after 7 s)' },
      { kind: 'rejected', error: 'Slack refused the message with HTTP 400: invalid_blocks' },
    ]);
    expect(receiver.requests.length - before).toBe(4);
  });

  it('turns a refused connection and a time-out into retries whose reasons do not contain the URL', async () => {
    const refused = await new SlackWebhookClient().send(await closedPortUrl(receiver.secretPath), message);
    expect(refused).toEqual({ kind: 'retry', error: 'could not reach Slack: ECONNREFUSED' });
    receiver.script.push('hang');
    const slow = await new SlackWebhookClient({ timeoutMs: 200 }).send(receiver.url, message);
    expect(slow).toEqual({ kind: 'retry', error: 'could not reach Slack: the request timed out' });
  });

  it('redacts the URL even when Slack echoes it in an error body', async () => {
    receiver.script.push('echo');
    const result = await new SlackWebhookClient().send(receiver.url, message);
    expect(result).toEqual({ kind: 'rejected', error: 'Slack refused the message with HTTP 404: no_service for <webhook>' });
    expect(JSON.stringify(result)).not.toContain('xoxSECRETtoken123');
    expect(JSON.stringify(result)).not.toContain(receiver.url);
  });
});
