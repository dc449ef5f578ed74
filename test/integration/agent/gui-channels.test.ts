/**
 * The GUI's channels on a real control plane: a deployed ONNX model answering try-it requests
 * through its real stable endpoint, the settings file written and reloaded, the Slack test
 * message reaching a real local receiver (and Slack's refusals reported), the Docker engine's
 * state and the container-log refusal on the embedded target.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { ControlPlane } from '../../../main/agent/control-plane.js';
import type { DispatchReply, Dispatcher } from '../../../main/agent/dispatch.js';
import type { ContractError, SettingsView, TryFormView, TryResult } from '../../../preload/contract.js';
import { SlackReceiver } from '../alerts/slack-receiver.js';
import { disposeWorkspace, makeWorkspace } from '../cli/cli-harness.js';

let receiver: SlackReceiver;
let ws = '';
let plane: ControlPlane;
let call: Dispatcher;

/** One call through the plane's dispatch, as every transport makes it. */
async function invoke(channel: string, args: unknown): Promise<DispatchReply> {
  const controller = new AbortController();
  return call(channel, args, { progress: () => {}, push: () => {}, signal: controller.signal });
}

async function ok<T>(channel: string, args: unknown): Promise<T> {
  const reply = await invoke(channel, args);
  if ('error' in reply) throw new Error(`${channel}: ${reply.error.code} ${reply.error.message}`);
  return reply.result as T;
}

async function refused(channel: string, args: unknown): Promise<ContractError> {
  const reply = await invoke(channel, args);
  if (!('error' in reply)) throw new Error(`${channel} answered ${JSON.stringify(reply.result)}`);
  return reply.error;
}

beforeAll(async () => {
  receiver = await new SlackReceiver().start();
  ws = makeWorkspace(51_230, `  # thresholds the team agreed on\n  latency_threshold_ms: 250\n  slack_webhook_url: ${receiver.url}\n`);
  fs.writeFileSync(path.join(ws, 'mlp.onnx'), buildMlp([4, 8, 3], 5));
  plane = ControlPlane.open(ws);
  call = plane.dispatcher(() => {});
  await ok('deploy.start', { model: path.join(ws, 'mlp.onnx'), name: 'mlp' });
}, 120_000);

afterAll(async () => {
  await plane?.dispose();
  if (ws) await disposeWorkspace(ws);
  await receiver?.stop();
}, 60_000);

describe('try-it', () => {
  it('deploy.schema names the served version and its /predict URL; a generic model says why there is no picture form', async () => {
    const form = await ok<TryFormView>('deploy.schema', { name: 'mlp' });
    expect(form).toMatchObject({ name: 'mlp', version: 'v1', type: 'generic', fields: [], image_outputs: [] });
    expect(form.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/predict$/);
    expect(form.unsupported).toMatch(/generic/);
  });

  it('deploy.try posts to the stable endpoint and returns its JSON answer', async () => {
    const r = await ok<TryResult>('deploy.try', { name: 'mlp', body: { inputs: { x: [[0.1, 0.2, 0.3, 0.4]] } } });
    expect(r.status).toBe(200);
    const y = (r.output['outputs'] as { y: number[][] }).y;
    expect(y).toHaveLength(1);
    expect(y[0]).toHaveLength(3);
    expect(r.latency_ms).toBeGreaterThan(0);
  });

  it("a bad body is refused with the endpoint's own 4xx message, as E_INPUT", async () => {
    const err = await refused('deploy.try', { name: 'mlp', body: { inputs: { x: [[1, 2]] } } });
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/^mlp refused the request \(HTTP 4\d\d\): /);
  });

  it('a model that is not deployed is not found; a body that is not an object is a usage error', async () => {
    expect((await refused('deploy.schema', { name: 'ghost' })).code).toBe('E_NOT_FOUND');
    expect((await refused('deploy.try', { name: 'mlp', body: [1, 2] })).code).toBe('E_USAGE');
  });
});

describe('settings', () => {
  it('config.get shows the settings in force and only whether a Slack URL is set, never the URL', async () => {
    const view = await ok<SettingsView>('config.get', {});
    expect(view.settings.latency_threshold_ms).toBe(250);
    expect(view).toMatchObject({ slack_webhook_set: true, slack_webhook_source: 'config', file: 'configs/deploy_config.yaml' });
    expect(JSON.stringify(view)).not.toContain(receiver.secretPath);
    expect(JSON.stringify(view)).not.toContain('SECRET');
  });

  it('config.set writes the file (keeping its comments), reloads it, and the watcher gets the new threshold', async () => {
    const view = await ok<SettingsView>('config.set', { settings: { latency_threshold_ms: 180, rollback_checks: 4 } });
    expect(view.settings).toMatchObject({ latency_threshold_ms: 180, rollback_checks: 4 });
    expect(plane.settings.latency_threshold_ms).toBe(180);
    const text = fs.readFileSync(path.join(ws, 'configs/deploy_config.yaml'), 'utf8');
    expect(text).toContain('# thresholds the team agreed on');
    expect(text).toMatch(/latency_threshold_ms: 180/);
    expect(text).toContain(receiver.url);
  });

  it('a value the config schema refuses is reported with its accepted form and nothing is written', async () => {
    const file = path.join(ws, 'configs/deploy_config.yaml');
    const before = fs.readFileSync(file, 'utf8');
    const err = await refused('config.set', { settings: { error_rate_threshold: 1.5 } });
    expect(err.code).toBe('E_CONFIG');
    expect(err.message).toContain('deploy.error_rate_threshold must be a number from 0 to 1 (got 1.5)');
    expect((await refused('config.set', { settings: { host: '0.0.0.0' } })).code).toBe('E_USAGE');
    expect((await refused('config.set', { slack_webhook_url: 'http://example.com/hook' })).message).toMatch(/https/);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    expect(plane.settings.error_rate_threshold).toBe(0.1);
  });
});

describe('alerts.test', () => {
  it('sends one test message to the configured webhook', async () => {
    const before = receiver.requests.length;
    const r = await ok<{ sent: boolean; channel: string }>('alerts.test', {});
    expect(r).toMatchObject({ sent: true, channel: 'slack' });
    const sent = receiver.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.path).toBe(receiver.secretPath);
    expect(sent[0]?.body.text).toMatch(/^Frameworm Deploy: test message: /);
  });

  it("says clearly when Slack rate-limits it (429 with Retry-After) or is down (5xx), without the URL", async () => {
    receiver.script.push('429');
    const limited = await refused('alerts.test', {});
    expect(limited.message).toBe(`Slack rate-limited the test message (HTTP 429); try again in ${receiver.retryAfterS} s`);
    receiver.script.push('500');
    const down = await refused('alerts.test', {});
    expect(down.message).toMatch(/^Slack did not take the test message: .*500/);
    expect(`${limited.message} ${down.message}`).not.toContain('SECRET');
  });

  it('with no URL set it says how to set one', async () => {
    await ok('config.set', { slack_webhook_url: null });
    const view = await ok<SettingsView>('config.get', {});
    expect(view.slack_webhook_set).toBe(process.env['FRAMEWORM_SLACK_WEBHOOK'] ? true : false);
    if (!process.env['FRAMEWORM_SLACK_WEBHOOK']) {
      const err = await refused('alerts.test', {});
      expect(err).toMatchObject({ code: 'E_CONFIG' });
      expect(err.message).toMatch(/^no Slack webhook URL is set: set deploy\.slack_webhook_url/);
    }
    await ok('config.set', { slack_webhook_url: receiver.url });
    expect((await ok<SettingsView>('config.get', {})).slack_webhook_source).toBe('config');
  });
});

describe('docker', () => {
  it('docker.status tells whether the engine answers (and names the socket)', async () => {
    const engine = await ok<{ reachable: boolean; socket: string; version: string | null; error: string | null }>('docker.status', {});
    expect(engine.socket).toMatch(/docker\.sock$/);
    if (engine.reachable) expect(engine.error).toBeNull();
    else expect(engine.error).toMatch(/Docker daemon not running/);
    expect(engine.reachable).toBe(fs.existsSync(engine.socket));
  });

  it('deploy.logs refuses a deployment that no container serves, saying why', async () => {
    const err = await refused('deploy.logs', { name: 'mlp', tail: 20 });
    expect(err.code).toBe('E_CONFLICT');
    expect(err.message).toBe('mlp is not served by a container (target embedded): container logs exist for the docker target only');
  });
});
