/** `frameworm alerts test` through the real CLI against a local Slack receiver. */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkspace, runCli } from '../cli/cli-harness.js';
import { SlackReceiver } from './slack-receiver.js';

let receiver: SlackReceiver;
const workspaces: string[] = [];
beforeAll(async () => {
  receiver = await new SlackReceiver().start();
});
afterAll(async () => {
  await receiver.stop();
  for (const ws of workspaces) fs.rmSync(ws, { recursive: true, force: true });
});

function workspace(extra = ''): string {
  const ws = makeWorkspace(47_300, extra);
  workspaces.push(ws);
  return ws;
}

const SECRET = 'xoxSECRETtoken123';
const noEnv = { FRAMEWORM_SLACK_WEBHOOK: '' };

describe('frameworm alerts test', () => {
  it('sends a test message to the configured webhook and exits 0', async () => {
    const ws = workspace(`  slack_webhook_url: ${receiver.url}\n`);
    const before = receiver.requests.length;
    const r = await runCli(ws, ['alerts', 'test', '--channel', 'slack'], noEnv);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('sent a test message to Slack\n');
    expect(r.code).toBe(0);
    expect(receiver.requests.length - before).toBe(1);
    expect(receiver.requests[before]?.body.blocks?.[0]?.text?.text).toBe('Frameworm Deploy test alert');
  });

  it('uses FRAMEWORM_SLACK_WEBHOOK when the config has no URL, and prints JSON with --json', async () => {
    const ws = workspace();
    const r = await runCli(ws, ['alerts', 'test', '--json'], { FRAMEWORM_SLACK_WEBHOOK: receiver.url });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ channel: 'slack', outcome: 'sent' });
  });

  it('without a URL exits 3 naming both ways to set one, and sends nothing', async () => {
    const ws = workspace();
    const before = receiver.requests.length;
    const r = await runCli(ws, ['alerts', 'test'], noEnv);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      'frameworm: error: no Slack webhook URL is set: set deploy.slack_webhook_url in configs/deploy_config.yaml or the FRAMEWORM_SLACK_WEBHOOK environment variable\n',
    );
    expect(receiver.requests.length).toBe(before);
  });

  it('reports a failed delivery with its reason, non-zero, without echoing the URL', async () => {
    const ws = workspace(`  slack_webhook_url: ${receiver.url}\n`);
    receiver.script.push('500');
    const r = await runCli(ws, ['alerts', 'test'], noEnv);
    expect(r.code).toBe(8);
    expect(r.stderr).toBe('frameworm: error: the Slack test message was not delivered: Slack answered HTTP 500: internal_error\n');
    receiver.script.push('echo');
    const echoed = await runCli(ws, ['alerts', 'test'], noEnv);
    expect(echoed.code).toBe(8);
    expect(echoed.stderr).not.toContain(SECRET);
    expect(echoed.stdout + echoed.stderr).not.toContain(receiver.url);
  });

  it('refuses a plain-http webhook that is not local (exit 3), without showing it', async () => {
    const ws = workspace();
    const r = await runCli(ws, ['alerts', 'test'], { FRAMEWORM_SLACK_WEBHOOK: `http://hooks.example.com/services/${SECRET}` });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('frameworm: error: FRAMEWORM_SLACK_WEBHOOK must be an https:// URL (plain http only to 127.0.0.1, for a local test receiver)\n');
  });

  it('refuses a channel it cannot test (usage error)', async () => {
    const r = await runCli(workspace(), ['alerts', 'test', '--channel', 'pager'], noEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("argument 'pager' is invalid");
  });
});
