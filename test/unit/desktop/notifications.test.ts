/**
 * Desktop notifications: which alerts and task updates become one, deduplication per model and
 * kind on an injected clock, and the click action. The alerts come from a real control plane's
 * alert router (tray channel) reacting to real committed events.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { hostControlPlane, type ControlPlaneHost } from '../../../main/agent/host.js';
import type { TrayNotification } from '../../../main/alerts/tray-notifier.js';
import { decodeAction } from '../../../main/desktop/desktop-actions.js';
import { NotificationFeed, notificationFromTask, type DesktopNotification } from '../../../main/desktop/notifications.js';
import type { TaskView } from '../../../preload/contract.js';
import type { JsonObject } from '../../../main/common/json.js';
import { disposeWorkspace, makeWorkspace } from '../../integration/cli/cli-harness.js';

const ws = makeWorkspace(38680, '  monitor_interval_s: 3600\n  alert_on: [tray]\n');
const model = path.join(ws, 'mlp.onnx');
fs.writeFileSync(model, buildMlp([4, 8, 3], 9));
const entry = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0')[1] ?? '';
let host: ControlPlaneHost;

beforeAll(async () => {
  host = await hostControlPlane({ workspace: ws, log: () => {}, onShutdownRequest: () => {}, entry });
  // Alerts are routed from the registry's events table: the model must be registered.
  const reply = await host.dispatch('deploy.start', { model, name: 'mlp' }, { progress: () => {}, push: () => {}, signal: new AbortController().signal });
  if ('error' in reply) throw new Error(reply.error.message);
}, 60_000);

afterAll(async () => {
  await host.dispose();
  await disposeWorkspace(ws);
}, 60_000);

/** Records `event` for the model and resolves with the tray notification the router delivers for it. */
function alertFor(event: string, fields: JsonObject): Promise<TrayNotification> {
  return new Promise((resolve) => {
    const stop = host.plane.alerts.tray.subscribe((n) => {
      if (n.about_event !== event) return;
      stop();
      resolve(n);
    });
    host.plane.registry.recordEvent('mlp', event, fields);
  });
}

const failedDeploy = (over: Partial<TaskView> = {}): TaskView => ({
  id: 't1', channel: 'deploy.start', name: 'mlp', state: 'failed', value: 0.4, step: 'export', message: 'exporting',
  started_at: '2025-01-01T00:00:00.000Z', ended_at: '2025-01-01T00:00:01.000Z', cancel_requested: false,
  error: { code: 'E_INPUT', message: 'mlp.pt is not a checkpoint' }, ...over,
});

describe('desktop notifications', () => {
  it('turns the router\'s tray alerts into breach-streak, rollback, rollback-failed and drift notifications', async () => {
    const shown: DesktopNotification[] = [];
    const feed = new NotificationFeed({ show: (n) => shown.push(n) });
    const rollback = { from_version: 'v2', to_version: 'v1', reason: 'p95 over threshold', p95_ms: 900, error_rate: 0 };
    const alerts = [
      await alertFor('check', { version: 'v2', verdict: 'breach', p95_ms: 900, error_rate: 0, error_rate_lower: 0, requests: 50, in_flight: 0, streak: 1 }),
      await alertFor('rollback', { ...rollback, success: true }),
      await alertFor('rollback', { ...rollback, success: false, error: 'v1 did not start' }),
      await alertFor('drift', { version: 'v1', severity: 'HIGH', consecutive: 2, groups: ['outputs'], window: { reference: 200, current: 200 } }),
    ];
    for (const a of alerts) expect(feed.fromAlert(a)).toBe(true);
    expect(shown.map((n) => [n.kind, n.model, n.severity])).toEqual([
      ['breach_streak', 'mlp', 'info'],
      ['rollback', 'mlp', 'warning'],
      ['rollback_failed', 'mlp', 'critical'],
      ['drift', 'mlp', 'critical'],
    ]);
    expect(shown[2]?.title).toBe('rollback of mlp v2 → v1 failed');
    // A click opens the model.
    for (const n of shown) expect(decodeAction(n.action_id)).toEqual({ type: 'open_model', name: 'mlp' });
  }, 60_000);

  it('shows nothing for the rollback-started alert (its outcome follows)', async () => {
    const shown: DesktopNotification[] = [];
    const feed = new NotificationFeed({ show: (n) => shown.push(n) });
    const started = await alertFor('rollback_started', { from_version: 'v2', to_version: 'v1', reason: 'streak', p95_ms: 900, error_rate: 0 });
    expect(feed.fromAlert(started)).toBe(false);
    expect(shown).toEqual([]);
  }, 60_000);

  it('notifies a failed deploy, not a cancelled, finished or running one, nor other failed tasks', () => {
    expect(notificationFromTask(failedDeploy())).toMatchObject({ kind: 'deploy_failed', model: 'mlp', title: 'deploy of mlp failed', body: 'mlp.pt is not a checkpoint', action_id: 'open_model:mlp' });
    expect(notificationFromTask(failedDeploy({ state: 'cancelled', error: null }))).toBeNull();
    expect(notificationFromTask(failedDeploy({ state: 'done', error: null }))).toBeNull();
    expect(notificationFromTask(failedDeploy({ state: 'running', error: null }))).toBeNull();
    expect(notificationFromTask(failedDeploy({ channel: 'deploy.promote' }))).toBeNull();
    // A deploy that failed before naming its model opens the window.
    expect(notificationFromTask(failedDeploy({ name: null }))?.action_id).toBe('open');
  });

  it('collapses the same model and kind within the window, on the injected clock', () => {
    let now = 1_000_000;
    const shown: DesktopNotification[] = [];
    const feed = new NotificationFeed({ show: (n) => shown.push(n), windowMs: 60_000, now: () => now });
    expect(feed.fromTask(failedDeploy())).toBe(true);
    now += 59_999;
    expect(feed.fromTask(failedDeploy({ id: 't2' }))).toBe(false);
    // Another model, or another kind for the same model, is shown at once.
    expect(feed.fromTask(failedDeploy({ id: 't3', name: 'gan' }))).toBe(true);
    expect(feed.offer({ ...shown[0]!, kind: 'drift' })).toBe(true);
    now += 1;
    expect(feed.fromTask(failedDeploy({ id: 't4' }))).toBe(true);
    expect(shown.map((n) => `${n.model}:${n.kind}`)).toEqual(['mlp:deploy_failed', 'gan:deploy_failed', 'mlp:drift', 'mlp:deploy_failed']);
  });
});
