/**
 * The host function outside the agent: this test process hosts the workspace's control plane
 * the way the Electron main process does (taking it over from a running agent, then handing it
 * back on quit), and the real CLI keeps working against it throughout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { endHosting, hostControlPlane, takeOverControlPlane, type ControlPlaneHost } from '../../../main/agent/host.js';
import { TrayNotifier, type TrayNotification } from '../../../main/alerts/index.js';
import { Registry } from '../../../main/registry/registry.js';
import { Workspace } from '../../../main/workspace/workspace.js';
import { cliJson, disposeWorkspace, makeWorkspace, runCli } from '../cli/cli-harness.js';

const ws = makeWorkspace(47420, '  alert_on: [log, tray]\n');
const model = path.join(ws, 'mlp.onnx');
fs.writeFileSync(model, buildMlp([4, 8, 3], 3));
// What this process's command line holds (vitest's worker script), as Electron passes its executable.
const entry = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0')[1] ?? '';
let host: ControlPlaneHost | null = null;

afterAll(async () => {
  await host?.dispose();
  await disposeWorkspace(ws);
}, 60_000);

interface StatusDoc {
  readonly running: boolean;
  readonly pid: number;
}

describe('hosting the control plane in another process (the desktop app)', () => {
  it('takes the workspace over from the agent, serves the CLI, and hands it back on quit', async () => {
    const agent = await cliJson<StatusDoc>(ws, ['agent', 'start']);
    expect(agent.pid).not.toBe(process.pid);
    await cliJson(ws, ['deploy', 'start', '--model', model, '--name', 'mlp']);

    const lines: string[] = [];
    host = await takeOverControlPlane({ workspace: ws, log: (l) => lines.push(l), onShutdownRequest: () => {}, entry });
    expect(lines[0]).toBe(`taking over the workspace from the agent (pid ${agent.pid})`);
    // The CLI finds this process as the control plane, and the production deployment came back here.
    expect(await cliJson<StatusDoc>(ws, ['agent', 'status'])).toMatchObject({ running: true, pid: process.pid });
    expect(await cliJson<{ serving: boolean; production: string }>(ws, ['deploy', 'status', '--name', 'mlp'])).toMatchObject({ serving: true, production: 'v1' });
    // A second host for the same workspace is refused by the lock.
    await expect(hostControlPlane({ workspace: ws, log: () => {}, onShutdownRequest: () => {}, entry })).rejects.toMatchObject({ code: 'E_CONFLICT' });

    await endHosting(host, 'hand_over');
    host = null;
    const after = await cliJson<StatusDoc>(ws, ['agent', 'status']);
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(process.pid);
    expect(await cliJson<{ serving: boolean }>(ws, ['deploy', 'status', '--name', 'mlp'])).toMatchObject({ serving: true });
  }, 120_000);

  it('delivers an alert routed during the restore to the tray notifier the shell passed in', async () => {
    expect((await runCli(ws, ['agent', 'stop'])).code).toBe(0);
    // A rollback committed while no control plane ran (e.g. just before a crash): the restore
    // routes it, before hostControlPlane returns and so before the shell could subscribe afterwards.
    const registry = Registry.open(Workspace.open(ws));
    registry.recordEvent('mlp', 'rollback', { from_version: 'v2', to_version: 'v1', reason: 'p95 breach', success: true, actor: 'watcher' });
    registry.close();
    const tray = new TrayNotifier();
    const shown: TrayNotification[] = [];
    tray.subscribe((n) => shown.push(n));
    host = await hostControlPlane({ workspace: ws, log: () => {}, onShutdownRequest: () => {}, entry, tray });
    expect(shown.map((n) => n.title)).toEqual(['rolled back mlp v2 → v1']);
    expect(shown[0]).toMatchObject({ model: 'mlp', about_event: 'rollback' });
    await endHosting(host, 'stop_everything');
    host = null;
  }, 120_000);
});
