/**
 * The tray's health and menu, from what a real control plane reports: an ONNX MLP deployed
 * twice through the one dispatch, read back with readTrayInputs. States that take minutes to
 * reach for real (a breach streak, drift, a lost container) are the real status with one field
 * changed, so every rule is checked against the shape the control plane really produces.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { hostControlPlane, type ControlPlaneHost } from '../../../main/agent/host.js';
import type { HandlerContext } from '../../../main/agent/dispatch.js';
import type { ContainerStateView, DeploymentStatus } from '../../../preload/contract.js';
import { readTrayInputs, TrayUpdater } from '../../../main/desktop/tray-source.js';
import {
  deploymentHealth, overallHealth, rollbackPrompt, trayModel, type TrayDeployment, type TrayMenuItem, type TrayModel,
} from '../../../main/desktop/tray-model.js';
import { decodeAction, encodeAction } from '../../../main/desktop/desktop-actions.js';
import { disposeWorkspace, makeWorkspace } from '../../integration/cli/cli-harness.js';

const ws = makeWorkspace(38650, '  monitor_interval_s: 3600\n');
const model = path.join(ws, 'mlp.onnx');
fs.writeFileSync(model, buildMlp([4, 8, 3], 5));
const entry = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0')[1] ?? '';
let host: ControlPlaneHost;

const quiet = (): HandlerContext => ({ progress: () => {}, push: () => {}, signal: new AbortController().signal });

async function call(channel: string, args: unknown): Promise<unknown> {
  const reply = await host.dispatch(channel, args, quiet());
  if ('error' in reply) throw new Error(`${channel}: ${reply.error.message}`);
  return reply.result;
}

/** Every action item of a menu, submenus flattened. */
function actions(items: readonly TrayMenuItem[]): Extract<TrayMenuItem, { kind: 'action' }>[] {
  return items.flatMap((i) => (i.kind === 'action' ? [i] : i.kind === 'submenu' ? actions(i.items) : []));
}

const withStatus = (d: TrayDeployment, change: Partial<DeploymentStatus>): TrayDeployment => ({ ...d, status: { ...d.status, ...change } });

beforeAll(async () => {
  host = await hostControlPlane({ workspace: ws, log: () => {}, onShutdownRequest: () => {}, entry });
}, 60_000);

afterAll(async () => {
  await host.dispose();
  await disposeWorkspace(ws);
}, 60_000);

describe('tray model from a real control plane', () => {
  it('shows an empty workspace as healthy with no deployments and no rollback items', async () => {
    const inputs = await readTrayInputs(host.plane);
    expect(inputs).toEqual({ workspace: ws, deployments: [] });
    const tray = trayModel(inputs);
    expect(tray.health).toBe('healthy');
    expect(tray.items).toContainEqual({ kind: 'label', label: 'No deployments yet' });
    expect(actions(tray.items).map((a) => a.label)).toEqual([
      'Open Frameworm Deploy', 'Open workspace…', 'Quit, keep serving (hand over to the agent)', 'Quit and stop everything',
    ]);
  });

  it('offers "Roll back" only once a version to roll back to exists, naming the move', async () => {
    await call('deploy.start', { model, name: 'mlp' });
    const first = await readTrayInputs(host.plane);
    expect(first.deployments).toHaveLength(1);
    expect(first.deployments[0]).toMatchObject({ rollback_target: null, restore_failed: false, status: { name: 'mlp', serving: true, production: 'v1' } });
    const before = trayModel(first);
    expect(before.health).toBe('healthy');
    const rollback1 = actions(before.items).find((a) => a.action.type === 'rollback');
    expect(rollback1).toMatchObject({ label: 'Roll back mlp', enabled: false, action: { type: 'rollback', name: 'mlp' } });
    expect(rollbackPrompt(first, 'mlp')).toBeNull();
    expect(actions(before.items).find((a) => a.action.type === 'open_model')).toMatchObject({ label: '● mlp v1 — healthy', enabled: true });

    await call('deploy.start', { model, name: 'mlp' });
    const second = await readTrayInputs(host.plane);
    expect(second.deployments[0]).toMatchObject({ rollback_target: 'v1', status: { production: 'v2', serving_version: 'v2' } });
    const after = trayModel(second);
    const rollback2 = actions(after.items).find((a) => a.action.type === 'rollback');
    expect(rollback2).toMatchObject({ label: 'Roll back mlp (v2 → v1)', enabled: true });
    expect(rollbackPrompt(second, 'mlp')).toEqual({ message: 'Roll back mlp to v1?', detail: 'v1 → production, v2 → archived, endpoint unchanged.' });
    expect(after.tooltip).toBe('Frameworm Deploy — healthy (1 deployment)');
    // Every menu action survives its trip through a string id (menu item ids, notification actions).
    for (const a of actions(after.items)) expect(decodeAction(encodeAction(a.action))).toEqual(a.action);
  }, 120_000);

  it('marks breach streaks, drift, failed checks and drills as degraded, lost serving as down', async () => {
    const [real] = (await readTrayInputs(host.plane)).deployments;
    if (!real) throw new Error('no deployment');
    expect(real.status.watcher).toMatchObject({ streak: 0 });
    const watcher = real.status.watcher;
    if (!watcher) throw new Error('no watcher view');
    const container: ContainerStateView = {
      id: 'c1', name: 'fw-mlp-v2', image: 'frameworm/mlp:v2', image_id: 'sha256:1', host_port: 1, state: 'running', health: 'healthy',
      running: true, exit_code: null, oom_killed: false, started_at: null, finished_at: null,
    };
    const cases: [TrayDeployment, string, string][] = [
      [real, 'healthy', 'healthy'],
      [withStatus(real, { watcher: { ...watcher, streak: 2, required: 3 } }), 'degraded', '2 of 3 checks in breach'],
      [withStatus(real, { drift: { drifted: true, severity: 'HIGH', window: { reference: 200, current: 200 }, groups: [], version: 'v2', ts: '', consecutive: 2 } }), 'degraded', 'HIGH drift'],
      [withStatus(real, { watcher: { ...watcher, last_checks: [{ id: 1, ts: '', model: 'mlp', event: 'check', verdict: 'error' }] } }), 'degraded', 'the last check failed'],
      [withStatus(real, { drill: { version: 'v2', latency_ms: 300, error_rate: null, seed: 1, duration_ms: null, started_at: '', expires_at: null, requests: 0, injected_errors: 0 } }), 'degraded', 'fault drill running'],
      [withStatus(real, { container: { ...container, health: 'starting' } }), 'degraded', 'container starting'],
      [withStatus(real, { serving: false }), 'down', 'v2 is not serving'],
      [{ ...withStatus(real, { serving: false }), restore_failed: true }, 'down', 'v2 failed to restore'],
      [withStatus(real, { container: { ...container, state: 'missing', running: false } }), 'down', 'container lost (missing)'],
      [withStatus(real, { container: { ...container, state: 'exited', running: false, exit_code: 137 } }), 'down', 'container lost (exited)'],
      [withStatus(real, { container: { ...container, health: 'unhealthy' } }), 'down', 'container unhealthy'],
      [withStatus(real, { production: null, serving: false }), 'idle', 'no production version'],
    ];
    for (const [d, health, reason] of cases) expect({ health: deploymentHealth(d).health, reason: deploymentHealth(d).reason }).toEqual({ health, reason });

    // The icon is the worst deployment; an idle one does not count.
    const degraded = withStatus(real, { watcher: { ...watcher, streak: 1 } });
    const down = withStatus({ ...real, status: { ...real.status, name: 'other' } }, { serving: false });
    const idle = withStatus(real, { name: 'idle', production: null });
    expect(overallHealth([real, idle])).toBe('healthy');
    expect(overallHealth([real, degraded, idle])).toBe('degraded');
    expect(overallHealth([real, degraded, down])).toBe('down');
    const tray = trayModel({ workspace: ws, deployments: [real, degraded, down] });
    expect(tray.health).toBe('down');
    expect(tray.tooltip).toBe('Frameworm Deploy — down: other v2 is not serving');
    expect(actions(tray.items).filter((a) => a.action.type === 'open_model').map((a) => a.label)).toEqual([
      '● mlp v2 — healthy', `▲ mlp v2 — 1 of ${watcher.required} checks in breach`, '✖ other v2 — v2 is not serving',
    ]);
  });

  it('keeps the tray in step: one render per change, coalescing a burst of refreshes', async () => {
    const shown: TrayModel[] = [];
    const errors: unknown[] = [];
    const updater = new TrayUpdater({ read: () => readTrayInputs(host.plane), render: (m) => shown.push(m), onError: (e) => errors.push(e) });
    await Promise.all([updater.refresh(), updater.refresh(), updater.refresh()]);
    expect(shown).toHaveLength(1);
    await updater.refresh();
    expect(shown).toHaveLength(1);
    // A real change (rolling back) is rendered: production is v1 again, v2 the rollback target.
    await call('deploy.rollback', { name: 'mlp', reason: 'tray test' });
    await updater.refresh();
    expect(shown).toHaveLength(2);
    expect(actions(shown[1]?.items ?? []).find((a) => a.action.type === 'rollback')?.label).toBe('Roll back mlp (v1 → v2)');
    updater.dispose();
    expect(errors).toEqual([]);
  }, 120_000);

  it('shows a production version whose endpoint is gone as down (the real state after the endpoints stop)', async () => {
    // What a host sees when its endpoints went away under it: the registry still names production.
    await host.plane.deployments.dispose();
    const inputs = await readTrayInputs(host.plane);
    const tray = trayModel(inputs);
    expect(inputs.deployments[0]?.status).toMatchObject({ production: 'v1', serving: false });
    expect(tray.health).toBe('down');
    expect(tray.tooltip).toBe('Frameworm Deploy — down: mlp v1 is not serving');
  }, 60_000);
});
