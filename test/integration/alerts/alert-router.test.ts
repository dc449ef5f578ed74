/**
 * The alert router end to end on real parts: a Registry on a temp folder produces the events,
 * a local HTTP server plays Slack, and a manual clock drives rate limits, backoff and
 * Retry-After so every timing is asserted exactly, without sleeping.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertRouter, type AlertSettings } from '../../../main/alerts/alert-router.js';
import type { SendAttempt } from '../../../main/alerts/slack-dispatcher.js';
import type { TrayNotification } from '../../../main/alerts/tray-notifier.js';
import { EventLog } from '../../../main/events/event-log.js';
import type { JsonObject } from '../../../main/common/json.js';
import { Registry, type EventRecord } from '../../../main/registry/registry.js';
import { ManualScheduler } from './manual-scheduler.js';
import { closedPortUrl, SlackReceiver } from './slack-receiver.js';

interface Env {
  readonly dir: string;
  readonly dbPath: string;
  readonly logsDir: string;
  registry: Registry;
  readonly clock: ManualScheduler;
  readonly receiver: SlackReceiver;
  readonly logLines: string[];
  readonly attempts: SendAttempt[];
  readonly errors: unknown[];
  settings: AlertSettings;
  router: AlertRouter;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function openRegistry(dbPath: string, logsDir: string): Registry {
  return new Registry(dbPath, new EventLog(logsDir));
}

async function setup(settings: Partial<AlertSettings> = {}, routerOptions: { pollIntervalMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Env> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-alerts-'));
  const dbPath = path.join(dir, 'model_registry', 'registry.db');
  const logsDir = path.join(dir, 'deploy_logs');
  const clock = new ManualScheduler();
  const receiver = await new SlackReceiver(() => clock.now()).start();
  const registry = openRegistry(dbPath, logsDir);
  registry.registerVersion({ name: 'm', type: 'vae', target: 'embedded' });
  const env: Env = {
    dir, dbPath, logsDir, registry, clock, receiver, logLines: [], attempts: [], errors: [],
    settings: { alert_on: ['slack', 'log', 'tray'], slack_webhook_url: receiver.url, latency_threshold_ms: 100, error_rate_threshold: 0.05, ...settings },
    router: undefined as unknown as AlertRouter,
  };
  env.router = makeRouter(env, routerOptions);
  cleanups.push(async () => {
    await env.router.dispose();
    env.registry.close();
    await receiver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return env;
}

function makeRouter(env: Env, options: { pollIntervalMs?: number; env?: NodeJS.ProcessEnv } = {}): AlertRouter {
  const router = new AlertRouter({
    registry: env.registry,
    settings: () => env.settings,
    env: options.env ?? {},
    log: (line) => env.logLines.push(line),
    scheduler: env.clock,
    pollIntervalMs: options.pollIntervalMs ?? 0,
    onAttempt: (a) => env.attempts.push(a),
    onError: (err) => env.errors.push(err),
  });
  router.start();
  return router;
}

function rollbackFields(from: string, to: string | null, success = true): JsonObject {
  return { from_version: from, to_version: to, reason: 'p95 310 ms > 100 ms for 3 checks', p95_ms: 310, error_rate: 0.2, success, streak: 3, actor: 'watcher' };
}

/** Lets queued routing and deliveries run, firing timers until `done()` or nothing is left. */
async function drive(env: Env, done: () => boolean, maxSteps = 2000): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    await env.router.settled();
    if (done()) return;
    if (!env.clock.advanceToNext()) {
      await env.router.settled();
      return;
    }
  }
  throw new Error('drive: too many steps');
}

const alerts = (env: Env, registry: Registry = env.registry): EventRecord[] => registry.listEvents('m', 1000).filter((e) => e.event === 'alert');
const slackAlerts = (env: Env): JsonObject[] => alerts(env).filter((e) => e.fields['channel'] === 'slack').map((e) => e.fields);

describe('alert router → Slack', () => {
  it('sends one Block Kit message per rollback and records alert events for slack, log and tray', async () => {
    const env = await setup();
    const tray: TrayNotification[] = [];
    env.router.tray.subscribe((n) => tray.push(n));
    // A real watcher-style rollback: v2 → v3 in production, then back to v2 with its event in the same transaction.
    env.registry.promote('m', 'v1', 'production');
    env.registry.registerVersion({ name: 'm', type: 'vae', target: 'embedded' });
    env.registry.promote('m', 'v2', 'production');
    env.registry.recordEvent('m', 'check', { version: 'v2', verdict: 'breach', p95_ms: 310, error_rate: 0.2, error_rate_lower: 0.1, requests: 42, in_flight: 0, streak: 3 });
    const result = env.registry.rollback('m', { reason: 'p95 310 ms > 100 ms for 3 checks', actor: 'watcher', events: [{ event: 'rollback', fields: rollbackFields('v2', 'v1') }] });
    expect(result.to.version).toBe('v1');
    await drive(env, () => slackAlerts(env).length === 1);

    expect(env.receiver.requests).toHaveLength(1);
    const body = env.receiver.requests[0]?.body;
    expect(body?.blocks?.[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'rolled back m v2 → v1', emoji: true } });
    const fields = body?.blocks?.flatMap((b) => b.fields?.map((f) => f.text) ?? []) ?? [];
    expect(fields).toContain('*p95 vs threshold*\n310 ms (threshold 100 ms)');
    expect(fields).toContain('*Error rate vs threshold*\n20.0 % (threshold 5.0 %)');
    expect(fields).toContain('*Requests*\n42');
    expect(body?.text).toContain('rolled back m v2 → v1');

    const rollbackId = env.registry.listEvents('m', 100).find((e) => e.event === 'rollback')?.id;
    const byChannel = Object.fromEntries(alerts(env).map((a) => [String(a.fields['channel']), a.fields]));
    expect(byChannel['slack']).toEqual({ channel: 'slack', outcome: 'sent', about_event_id: rollbackId, about_event: 'rollback' });
    expect(byChannel['log']).toEqual({ channel: 'log', outcome: 'sent', about_event_id: rollbackId, about_event: 'rollback' });
    expect(byChannel['tray']).toEqual({ channel: 'tray', outcome: 'sent', about_event_id: rollbackId, about_event: 'rollback' });
    expect(tray).toEqual([expect.objectContaining({ title: 'rolled back m v2 → v1', severity: 'warning', model: 'm', about_event: 'rollback' })]);
    expect(env.logLines).toEqual([expect.stringContaining('alert [warning] rolled back m v2 → v1')]);
    // Exactly three alert events: the alert events themselves raised nothing.
    expect(alerts(env)).toHaveLength(3);
    expect(env.errors).toEqual([]);
  });

  it('sends a failed rollback too (success false), and rollback_started / a streak start only to log and tray', async () => {
    const env = await setup();
    env.registry.recordEvent('m', 'check', { version: 'v1', verdict: 'breach', p95_ms: 310, error_rate: 0, error_rate_lower: 0, requests: 30, in_flight: 0, streak: 1 });
    env.registry.recordEvent('m', 'check', { version: 'v1', verdict: 'breach', p95_ms: 310, error_rate: 0, error_rate_lower: 0, requests: 30, in_flight: 0, streak: 2 });
    env.registry.recordEvent('m', 'rollback_started', { from_version: 'v1', to_version: null, reason: 'breach', p95_ms: 310, error_rate: 0, streak: 3 });
    env.registry.recordEvent('m', 'rollback', { ...rollbackFields('v1', null, false), error: 'nothing healthy to roll back to' });
    await drive(env, () => slackAlerts(env).length === 1);

    expect(env.receiver.requests.map((r) => r.body.blocks?.[0]?.text?.text)).toEqual(['rollback of m v1 → - failed']);
    const summary = alerts(env).map((a) => `${String(a.fields['about_event'])}:${String(a.fields['channel'])}:${String(a.fields['outcome'])}`);
    expect(summary.sort()).toEqual([
      'check:log:sent', 'check:tray:skipped', // no GUI listening: skipped, with the reason
      'rollback:log:sent', 'rollback:slack:sent', 'rollback:tray:skipped',
      'rollback_started:log:sent', 'rollback_started:tray:skipped',
    ]);
    expect(alerts(env).find((a) => a.fields['channel'] === 'tray')?.fields['error']).toBe('no tray listener (the desktop app is not running)');
  });

  it('retries 5xx, a 200 whose body is not ok, and network errors with backoff, then records sent', async () => {
    const env = await setup();
    env.receiver.script.push('500', 'notok', '500');
    const start = env.clock.now();
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.attempts.map((a) => [a.at - start, a.result])).toEqual([[0, 'retry'], [2000, 'retry'], [12_000, 'retry'], [42_000, 'sent']]);
    expect(slackAlerts(env)).toEqual([expect.objectContaining({ outcome: 'sent' })]);
  });

  it('gives up after 5 tries within 5 minutes: outcome failed with the reason', async () => {
    const env = await setup();
    env.receiver.mode = '500';
    const start = env.clock.now();
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    const times = env.attempts.map((a) => a.at - start);
    expect(times).toEqual([0, 2000, 12_000, 42_000, 132_000]);
    expect(Math.max(...times)).toBeLessThanOrEqual(5 * 60_000);
    expect(slackAlerts(env)).toEqual([expect.objectContaining({ outcome: 'failed', error: 'gave up after 5 tries: Slack answered HTTP 500: internal_error' })]);
  });

  it('waits Retry-After on 429 without counting it as a try', async () => {
    const env = await setup();
    env.receiver.retryAfterS = 7;
    env.receiver.script.push('429', '429', '500', '500', '500', '500');
    const start = env.clock.now();
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    // 2 rate-limited requests, then 4 counted failures, then the 5th counted try succeeds.
    expect(env.attempts.map((a) => [a.at - start, a.result])).toEqual([
      [0, 'rate_limited'], [7000, 'rate_limited'], [14_000, 'retry'], [16_000, 'retry'], [26_000, 'retry'], [56_000, 'retry'], [146_000, 'sent'],
    ]);
    expect(slackAlerts(env)).toEqual([expect.objectContaining({ outcome: 'sent' })]);
  });

  it('caps Retry-After at 60 s', async () => {
    const env = await setup();
    env.receiver.retryAfterS = 3600;
    env.receiver.script.push('429');
    const start = env.clock.now();
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.attempts.map((a) => a.at - start)).toEqual([0, 60_000]);
  });

  it('does not retry other 4xx: one request, outcome failed', async () => {
    const env = await setup();
    env.receiver.mode = '400';
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.receiver.requests).toHaveLength(1);
    expect(slackAlerts(env)).toEqual([expect.objectContaining({ outcome: 'failed', error: 'Slack refused the message with HTTP 400: invalid_blocks' })]);
  });

  it('without a webhook URL records skipped and makes no request', async () => {
    const env = await setup({ slack_webhook_url: null });
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.receiver.requests).toHaveLength(0);
    expect(slackAlerts(env)).toEqual([expect.objectContaining({ outcome: 'skipped', error: 'no Slack webhook URL is set' })]);
  });

  it('uses FRAMEWORM_SLACK_WEBHOOK when the config has no URL', async () => {
    const env = await setup({ slack_webhook_url: null });
    await env.router.dispose();
    env.router = makeRouter(env, { env: { FRAMEWORM_SLACK_WEBHOOK: env.receiver.url } });
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.receiver.requests).toHaveLength(1);
    expect(slackAlerts(env)).toEqual([expect.objectContaining({ outcome: 'sent' })]);
  });

  it('sends nothing to Slack when alert_on leaves it out', async () => {
    const env = await setup({ alert_on: ['log'] });
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => false);
    expect(env.receiver.requests).toHaveLength(0);
    expect(alerts(env).map((a) => a.fields['channel'])).toEqual(['log']);
  });

  it('a burst of 20 rollback alerts goes out at most one request per second, every one delivered once', async () => {
    const env = await setup();
    for (let i = 0; i < 20; i++) env.registry.recordEvent('m', 'rollback', rollbackFields(`v${i + 2}`, `v${i + 1}`));
    await drive(env, () => slackAlerts(env).length === 20);
    const times = env.receiver.requests.map((r) => r.at);
    expect(times).toHaveLength(20);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000);
    const headers = env.receiver.requests.map((r) => r.body.blocks?.[0]?.text?.text);
    expect(new Set(headers).size).toBe(20);
    expect(slackAlerts(env).every((a) => a['outcome'] === 'sent')).toBe(true);
  });

  it('delivers pending alerts after a restart, at least once and without duplicates', async () => {
    const env = await setup();
    env.receiver.mode = '500';
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    env.registry.recordEvent('m', 'rollback', rollbackFields('v3', 'v2'));
    // First try of the first alert fails; the process "dies" with both rows pending.
    await drive(env, () => env.attempts.length >= 1);
    expect(slackAlerts(env)).toHaveLength(0);
    await env.router.dispose();
    env.registry.close();

    env.receiver.mode = 'ok';
    env.registry = openRegistry(env.dbPath, env.logsDir);
    env.router = makeRouter(env);
    await drive(env, () => slackAlerts(env).length === 2);
    const headers = env.receiver.requests.map((r) => r.body.blocks?.[0]?.text?.text ?? '');
    // The failed request, then each alert exactly once after the restart.
    expect(headers[0]).toBe('rolled back m v2 → v1');
    expect(headers.slice(1).sort()).toEqual(['rolled back m v2 → v1', 'rolled back m v3 → v2']);
    expect(slackAlerts(env).map((a) => a['outcome'])).toEqual(['sent', 'sent']);

    // A third start routes nothing again: the cursor and the (event id, channel) key hold.
    await env.router.dispose();
    env.router = makeRouter(env);
    await drive(env, () => false);
    expect(env.receiver.requests).toHaveLength(3);
    expect(slackAlerts(env)).toHaveLength(2);
  });

  it('routes a rollback committed just before a crash (before any delivery) on the next start', async () => {
    const env = await setup();
    await env.router.dispose();
    // No router running: a rollback is committed and the process dies before routing it.
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    env.router = makeRouter(env);
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.receiver.requests).toHaveLength(1);
  });

  it('picks up rollbacks written by another process through its poll', async () => {
    const env = await setup({}, { pollIntervalMs: 5000 });
    const other = openRegistry(env.dbPath, env.logsDir);
    cleanups.push(async () => other.close());
    other.recordEvent('m', 'rollback', { ...rollbackFields('v2', 'v1'), actor: 'user' });
    await drive(env, () => slackAlerts(env).length === 1);
    expect(env.receiver.requests).toHaveLength(1);
  });

  it('deduplicates by (event id, channel): two control planes on one database send one message', async () => {
    const env = await setup();
    const otherRegistry = openRegistry(env.dbPath, env.logsDir);
    const other = new AlertRouter({
      registry: otherRegistry, settings: () => env.settings, env: {}, log: () => undefined, scheduler: env.clock, pollIntervalMs: 1000,
    });
    other.start();
    cleanups.push(async () => {
      await other.dispose();
      otherRegistry.close();
    });
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    expect(env.router.outbox.enqueue({ eventId: 999_999, channel: 'slack', model: 'm', aboutEvent: 'dedup_probe', message: { text: 'x' } }, env.clock.now())).toBe(1);
    expect(env.router.outbox.enqueue({ eventId: 999_999, channel: 'slack', model: 'm', aboutEvent: 'dedup_probe', message: { text: 'x' } }, env.clock.now())).toBe(0);
    for (let i = 0; i < 10; i++) {
      await Promise.all([env.router.settled(), other.settled()]);
      env.clock.advanceToNext();
    }
    await Promise.all([env.router.settled(), other.settled()]);
    const rollbackAlerts = env.receiver.requests.filter((r) => r.body.blocks?.[0]?.text?.text === 'rolled back m v2 → v1');
    expect(rollbackAlerts).toHaveLength(1);
    expect(slackAlerts(env).filter((a) => a['about_event'] === 'rollback')).toHaveLength(1);
  });

  it('never writes the webhook URL into alert events, the JSONL log or the outbox', async () => {
    const env = await setup();
    const unreachable = await closedPortUrl(env.receiver.secretPath);
    env.settings = { ...env.settings, slack_webhook_url: unreachable };
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    await drive(env, () => slackAlerts(env).length === 1);
    env.settings = { ...env.settings, slack_webhook_url: env.receiver.url };
    env.receiver.mode = '400';
    env.registry.recordEvent('m', 'rollback', rollbackFields('v3', 'v2'));
    await drive(env, () => slackAlerts(env).length === 2);

    expect(slackAlerts(env).map((a) => [a['outcome'], a['error']])).toEqual([
      ['failed', 'gave up after 5 tries: could not reach Slack: ECONNREFUSED'],
      ['failed', 'Slack refused the message with HTTP 400: invalid_blocks'],
    ]);
    const secret = 'xoxSECRETtoken123';
    const jsonl = fs.readFileSync(path.join(env.logsDir, 'm.jsonl'), 'utf8');
    expect(jsonl).toContain('"event":"alert"');
    expect(jsonl).not.toContain(secret);
    const db = new Database(env.dbPath, { readonly: true });
    const dump = JSON.stringify([db.prepare('SELECT * FROM events').all(), db.prepare('SELECT * FROM alert_outbox').all()]);
    db.close();
    expect(dump).not.toContain(secret);
    expect(env.logLines.join('\n')).not.toContain(secret);
  });

  it('never delays the caller: the event is committed and returned before any request is made', async () => {
    const env = await setup();
    env.registry.recordEvent('m', 'rollback', rollbackFields('v2', 'v1'));
    // Nothing was routed or sent on the caller's stack.
    expect(env.receiver.requests).toHaveLength(0);
    expect(alerts(env)).toHaveLength(0);
    expect(env.router.outbox.pendingCount()).toBe(0);
  });
});
