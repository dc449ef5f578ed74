import fs from 'node:fs';
import net from 'node:net';
import type { DeployStartResult as StartDoc, DeploymentStatus as StatusDoc } from '../../../preload/contract.js';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli, snapshotState } from './cli-harness.js';


const PORT_BASE = 21000;
let ws: string;
let modelA: string;
let modelB: string;

function readLog(name: string): Record<string, unknown>[] {
  const file = path.join(ws, 'experiments/deploy_logs', `${name}.jsonl`);
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function predictVersion(endpoint: string): Promise<string> {
  const r = await postJson(`${endpoint}/predict`, { inputs: { x: [[1, 2, 3, 4]] } });
  expect(r.status).toBe(200);
  return String(r.json['version']);
}

beforeAll(() => {
  ws = makeWorkspace(PORT_BASE);
  modelA = path.join(ws, 'a.onnx');
  modelB = path.join(ws, 'b.onnx');
  fs.writeFileSync(modelA, buildMlp([4, 8, 3], 1));
  fs.writeFileSync(modelB, buildMlp([4, 8, 3], 2));
});

afterAll(async () => {
  await disposeWorkspace(ws);
});

describe('deploy lifecycle through the CLI and the background agent', () => {
  let endpoint = '';

  it('inspects an ONNX model without the agent', async () => {
    const doc = await cliJson<{ type: string; format: string; onnx: { inputs: { name: string; shape: unknown[] }[] } }>(ws, ['deploy', 'inspect', '--model', modelA]);
    expect(doc.type).toBe('generic');
    expect(doc.format).toBe('onnx');
    expect(doc.onnx.inputs.map((i) => i.name)).toEqual(['x']);
  });

  it('starts v1, serves it on the stable endpoint and keeps serving after the CLI exits', async () => {
    const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', modelA, '--name', 'mlp']);
    expect(doc).toMatchObject({ name: 'mlp', version: 'v1', type: 'generic', target: 'embedded', stage: 'production' });
    expect(doc.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(doc.endpoint ?? '').port)).toBeGreaterThanOrEqual(PORT_BASE);
    endpoint = doc.endpoint ?? '';
    expect((await fetch(`${endpoint}/ready`)).status).toBe(200);
    expect(await predictVersion(endpoint)).toBe('v1');
    expect(fs.existsSync(path.join(ws, 'experiments/deploy_exports/mlp/v1/model.onnx'))).toBe(true);
    const manifest = JSON.parse(fs.readFileSync(path.join(ws, 'experiments/deploy_exports/mlp/v1/manifest.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
    expect(manifest.files['model.onnx']?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('deploys v2 behind the same endpoint and archives v1', async () => {
    const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', modelB, '--name', 'mlp']);
    expect(doc.version).toBe('v2');
    expect(doc.endpoint).toBe(endpoint);
    expect(doc.archived_version).toBe('v1');
    expect(await predictVersion(endpoint)).toBe('v2');
    const status = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'mlp']);
    expect(status.production).toBe('v2');
    expect(status.versions.map((v) => [v.version, v.stage])).toEqual([
      ['v1', 'archived'],
      ['v2', 'production'],
    ]);
    expect(status.versions[0]?.lineage['checkpoint_sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(status.metrics?.requests).toBeGreaterThan(0);
  });

  it('refuses to promote a version that does not exist, changing nothing', async () => {
    const before = await snapshotState(ws);
    const r = await runCli(ws, ['deploy', 'promote', '--name', 'mlp', '--version', 'v9', '--stage', 'production']);
    expect(r.code, r.stderr).toBe(5); // E_NOT_FOUND, not just any failure
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/v9/);
    expect(await snapshotState(ws)).toBe(before);
  });

  it('rolls back to v1 behind the same endpoint and logs it', async () => {
    const doc = await cliJson<{ from_version: string; to_version: string; endpoint: string }>(ws, ['deploy', 'rollback', '--name', 'mlp', '--reason', 'test regression']);
    expect(doc).toMatchObject({ from_version: 'v2', to_version: 'v1', endpoint });
    expect(await predictVersion(endpoint)).toBe('v1');
    const rollback = readLog('mlp').find((e) => e['event'] === 'rollback');
    expect(rollback).toMatchObject({ model: 'mlp', from_version: 'v2', to_version: 'v1', reason: 'test regression', success: true });
    expect(typeof rollback?.['ts']).toBe('string');
    expect(rollback).toHaveProperty('p95_ms');
    expect(rollback).toHaveProperty('error_rate');
    const status = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'mlp']);
    expect(status.production).toBe('v1');
  });

  it('promotes a staging version into production under concurrent promotions: exactly one production', async () => {
    await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', modelA, '--name', 'mlp', '--stage', 'staging', '--version', 'v3']);
    await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', modelB, '--name', 'mlp', '--stage', 'staging', '--version', 'v4']);
    const [a, b] = await Promise.all([
      runCli(ws, ['deploy', 'promote', '--name', 'mlp', '--version', 'v3', '--stage', 'production', '--json']),
      runCli(ws, ['deploy', 'promote', '--name', 'mlp', '--version', 'v4', '--stage', 'production', '--json']),
    ]);
    expect(a.code === 0 || b.code === 0).toBe(true);
    const status = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'mlp']);
    const productions = status.versions.filter((v) => v.stage === 'production');
    expect(productions).toHaveLength(1);
    expect(await predictVersion(endpoint)).toBe(productions[0]?.version);
  });

  it('restores what was serving after an agent restart, on the same port', async () => {
    const before = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'mlp']);
    expect((await runCli(ws, ['agent', 'stop'])).code).toBe(0);
    await expect(fetch(`${endpoint}/health`)).rejects.toThrow();
    const status = await cliJson<{ running: boolean }>(ws, ['agent', 'status']);
    expect(status.running).toBe(false);
    expect((await runCli(ws, ['agent', 'start'])).code).toBe(0);
    expect(await predictVersion(endpoint)).toBe(before.production);
  });

  it('lists deployments', async () => {
    const rows = await cliJson<{ name: string; production: string; versions: number; endpoint: string }[]>(ws, ['deploy', 'list']);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: 'mlp', versions: 4, endpoint });
  });

  it('refuses a port that is already in use, registering nothing', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(PORT_BASE + 500, '127.0.0.1', r));
    try {
      const before = await snapshotState(ws);
      const r = await runCli(ws, ['deploy', 'start', '--model', modelA, '--name', 'other', '--port', String(PORT_BASE + 500)]);
      expect(r.code).toBe(7);
      expect(r.stderr).toMatch(/already in use/);
      expect(await snapshotState(ws)).toBe(before);
    } finally {
      blocker.close();
    }
  });

  it('stops serving and archives the production version', async () => {
    const doc = await cliJson<{ stopped_version: string; archived: boolean }>(ws, ['deploy', 'stop', '--name', 'mlp']);
    expect(doc.archived).toBe(true);
    await expect(fetch(`${endpoint}/health`)).rejects.toThrow();
    const status = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'mlp']);
    expect(status.production).toBeNull();
    expect(status.serving).toBe(false);
    expect(readLog('mlp').some((e) => e['event'] === 'stop')).toBe(true);
  });
});
