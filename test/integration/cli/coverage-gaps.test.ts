/**
 * Behaviours that had no test of their own, each through the real CLI, the background agent and
 * HTTP: the serving settings of deploy_config.yaml reaching a live deployment, `--quantize`,
 * Python discovery through `deploy.python_path` and `$FRAMEWORM_PYTHON`, and the exit codes 5
 * (not found) and 9 (agent).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployStartResult as StartDoc, DeploymentStatus as StatusDoc } from '../../../preload/contract.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { makeModelDir, type ModelDir } from '../../unit/serving/model-fixtures.js';
import { request } from '../serving/http-client.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli } from './cli-harness.js';

const PORT_BASE = 41700;
const workspaces: string[] = [];
let models: ModelDir;
let tools: string;

beforeAll(() => {
  models = makeModelDir({ slow: true });
  tools = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-coverage-tools-'));
});
afterAll(async () => {
  for (const ws of workspaces) await disposeWorkspace(ws);
  models.cleanup();
  fs.rmSync(tools, { recursive: true, force: true });
});

function workspace(offset: number, config = ''): string {
  const ws = makeWorkspace(PORT_BASE + offset, config);
  workspaces.push(ws);
  return ws;
}

/**
 * A Python wrapper that appends its arguments to `log`, then runs Debian's python3 with them: the
 * product must run the exporter (and its probe) through exactly this executable.
 */
function recordingPython(name: string): { executable: string; log: string } {
  const executable = path.join(tools, name);
  const log = path.join(tools, `${name}.log`);
  fs.writeFileSync(executable, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec /usr/bin/python3 "$@"\n`, { mode: 0o755 });
  return { executable, log };
}

function agentPid(ws: string): number {
  return (JSON.parse(fs.readFileSync(path.join(ws, '.frameworm', 'agent.json'), 'utf8')) as { pid: number }).pid;
}

function threadCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/task`).length;
}

/** A batch the slow fixture model needs far longer than 100 ms for (about a second on one core). */
const BIG = { inputs: { x: Array.from({ length: 16384 }, () => [0, 0, 0, 0]) } };

describe('deploy_config.yaml serving settings reach a live deployment', () => {
  const config = [
    '  request_timeout_ms: 100',
    '  max_body_bytes: 200000',
    '  max_batch_size: 20000',
    '  metrics_window_s: 30',
    '  inference_workers: 3',
    '  inference_threads: 2',
    // Any loopback address but the default one: the endpoint must listen there and only there.
    '  host: 127.0.0.2',
    '',
  ].join('\n');
  let ws = '';
  let endpoint = '';

  beforeAll(async () => {
    ws = workspace(0, config);
    const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', models.slow, '--name', 'slow']);
    endpoint = doc.endpoint ?? '';
  });

  it('host: the endpoint is on 127.0.0.2 and nothing answers on 127.0.0.1', async () => {
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect((await request(`${endpoint}/ready`)).status).toBe(200);
    const other = endpoint.replace('127.0.0.2', '127.0.0.1');
    await expect(request(`${other}/ready`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('max_body_bytes: a body one byte over 200000 is a 413 naming that limit', async () => {
    const shell = '{"inputs":{"x":[[0,0,0,0]]},"pad":""}';
    const body = shell.replace('""', `"${' '.repeat(200_001 - shell.length)}"`);
    expect(Buffer.byteLength(body)).toBe(200_001);
    const r = await request(`${endpoint}/predict`, { body });
    expect(r.status).toBe(413);
    expect(r.json<{ error: string }>().error).toMatch(/the limit is 200000 bytes/);
  });

  it('request_timeout_ms: a batch the model needs seconds for is a 504 after 100 ms', async () => {
    const r = await postJson(`${endpoint}/predict`, BIG);
    expect(r.status).toBe(504);
    expect(r.json['error']).toBe('the model did not answer within 100 ms');
  });

  it('metrics_window_s: /metrics reports the 30 s window', async () => {
    const r = await request(`${endpoint}/metrics?format=json`);
    expect(r.status).toBe(200);
    expect(r.json<{ window_s: number }>().window_s).toBe(30);
    const status = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'slow']);
    expect(status.metrics?.window_s).toBe(30);
  });

  it('inference_workers × inference_threads: stopping the deployment ends 3 workers with 2 intra-op threads each', async () => {
    // Nothing reports the pool over HTTP, so the agent's threads are counted: each worker is one
    // thread, and onnxruntime's intra-op pool adds threads − 1 more per session.
    const pid = agentPid(ws);
    await request(`${endpoint}/ready`); // (the 504's inference may still be running: stop waits for it)
    const before = threadCount(pid);
    const stop = await runCli(ws, ['deploy', 'stop', '--name', 'slow']);
    expect(stop.code, stop.stderr).toBe(0);
    let after = threadCount(pid);
    for (let i = 0; i < 200 && before - after < 6; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = threadCount(pid);
    }
    expect(before - after).toBe(3 * 2);
  });
});

describe('exit code 5: what does not exist', () => {
  let ws = '';
  beforeAll(async () => {
    ws = workspace(100);
    fs.copyFileSync(models.mlp, path.join(ws, 'mlp.onnx'));
    await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', path.join(ws, 'mlp.onnx'), '--name', 'mlp']);
  });

  it('status of a model never deployed', async () => {
    const r = await runCli(ws, ['deploy', 'status', '--name', 'nosuch']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^frameworm: error: .*nosuch/);
  });

  it('promoting a version the model does not have', async () => {
    const r = await runCli(ws, ['deploy', 'promote', '--name', 'mlp', '--version', 'v7', '--stage', 'production']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/^frameworm: error: .*v7/);
  });
});

describe('exit code 9: the agent cannot run', () => {
  let holder: ChildProcess | null = null;
  afterAll(() => {
    holder?.kill('SIGKILL');
  });

  it('another live control plane holds the workspace lock: agent start exits 9 and says why', async () => {
    const ws = workspace(200);
    // A live process (not an agent) owns the lock, as a stuck GUI control plane would.
    holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    const control = path.join(ws, '.frameworm');
    fs.mkdirSync(control, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(control, 'agent.lock'), String(holder.pid), { mode: 0o600 });
    const r = await runCli(ws, ['agent', 'start']);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^frameworm: error: the agent failed to start: .*pid ${holder.pid}`));
  });
});

describe('Python discovery and --quantize', () => {
  it('deploy.python_path runs the exporter; --quantize serves the int8 model it made', async () => {
    const py = recordingPython('configured-python');
    const ws = workspace(300, `  python_path: ${py.executable}\n`);
    const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'faces', '--quantize']);
    const calls = fs.readFileSync(py.log, 'utf8');
    expect(calls).toMatch(/^-m frameworm\.export --python-info$/m);
    expect(calls).toMatch(/^-m frameworm\.export --checkpoint \S+ --out \S+\/faces\/v1 --type dcgan /m);
    expect(calls).toMatch(/^-m frameworm\.quantize --model \S+\/faces\/v1\/model\.onnx /m);

    const exportDir = path.join(ws, 'experiments', 'deploy_exports', 'faces', 'v1');
    const manifest = JSON.parse(fs.readFileSync(path.join(exportDir, 'manifest.json'), 'utf8')) as {
      quantization?: { quantized_tensors?: number; size_bytes?: number };
      files: Record<string, { sha256: string }>;
    };
    expect(manifest.quantization?.quantized_tensors).toBeGreaterThan(0);
    expect(manifest.files['model.quant.onnx']?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const status = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', 'faces']);
    expect(status.versions[0]?.artifacts['onnx']).toBe(path.join(exportDir, 'model.quant.onnx'));
    const r = await postJson(`${doc.endpoint ?? ''}/predict`, { batch_size: 2, seed: 7 });
    expect(r.status).toBe(200);
    expect(r.json['version']).toBe('v1');
  });

  it('$FRAMEWORM_PYTHON runs the exporter when no python_path is set', async () => {
    const py = recordingPython('env-python');
    const ws = workspace(400);
    // The agent starts from this command and keeps its environment for the export.
    const r = await runCli(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'gan', '--json'], { FRAMEWORM_PYTHON: py.executable });
    expect(r.code, r.stderr).toBe(0);
    const calls = fs.readFileSync(py.log, 'utf8');
    expect(calls).toMatch(/^-m frameworm\.export --python-info$/m);
    expect(calls).toMatch(/^-m frameworm\.export --checkpoint \S+ --out \S+\/gan\/v1 --type dcgan /m);
    const doc = JSON.parse(r.stdout) as StartDoc;
    expect((await postJson(`${doc.endpoint ?? ''}/predict`, { batch_size: 1, seed: 3 })).status).toBe(200);
  });
});
