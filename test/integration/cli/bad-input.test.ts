import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { checkpointBytes, hostilePickle, torchZip } from '../../fixtures/inspect/torch-fixture.js';
import { writeZip } from '../../fixtures/inspect/zip-writer.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli, snapshotState } from './cli-harness.js';

const PORT_BASE = 22000;
let ws: string;
let endpoint: string;
let before: string;

function file(name: string, data: Buffer | string): string {
  const p = path.join(ws, 'inputs', name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  return p;
}

beforeAll(async () => {
  ws = makeWorkspace(PORT_BASE);
  const good = file('good.onnx', buildMlp([4, 8, 3], 3));
  endpoint = (await cliJson<{ endpoint: string }>(ws, ['deploy', 'start', '--model', good, '--name', 'good'])).endpoint;
  before = await snapshotState(ws);
});

afterAll(async () => {
  await disposeWorkspace(ws);
});

/** Asserts a command failed with one clear line matching `pattern`, and changed nothing. */
async function expectRefused(args: string[], pattern: RegExp, exitCode?: number): Promise<void> {
  const r = await runCli(ws, args);
  expect(r.code, r.stderr).not.toBe(0);
  if (exitCode !== undefined) expect(r.code).toBe(exitCode);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^frameworm: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stdout).toBe('');
  expect(await snapshotState(ws)).toBe(before);
}

describe('bad model files: a clear one-line error, a non-zero exit, registry and logs unchanged', () => {
  const cases: [string, () => string, RegExp][] = [
    ['an empty file', () => file('empty.pt', Buffer.alloc(0)), /empty/],
    ['random bytes', () => file('random.pt', crypto.randomBytes(4096)), /neither a PyTorch checkpoint nor an ONNX model/],
    ['a truncated zip', () => {
      const full = fs.readFileSync(compatPath('dcgan', 'best.pt'));
      return file('truncated.pt', full.subarray(0, Math.floor(full.length / 2)));
    }, /truncated|corrupt|end of file/i],
    ['a zip that is not a checkpoint', () => file('notes.zip', writeZip([{ name: 'notes/readme.txt', data: Buffer.from('hello') }])), /data\.pkl|not a PyTorch checkpoint/],
    ['a directory', () => {
      fs.mkdirSync(path.join(ws, 'inputs/adir'), { recursive: true });
      return path.join(ws, 'inputs/adir');
    }, /is a directory/],
    ['a missing path', () => path.join(ws, 'inputs/nope.pt'), /no such file/],
    ['a state dict of an unknown model', () => file('unknown.pt', checkpointBytes([{ name: 'backbone.layer1.weight', shape: [4, 4] }])), /no FRAMEWORM|fingerprint/],
  ];
  for (const [label, make, pattern] of cases) {
    it(`deploy start refuses ${label}`, async () => {
      await expectRefused(['deploy', 'start', '--model', make(), '--name', 'bad'], pattern);
    });
  }

  const hostile: [string, string, string][] = [
    ['os', 'system', 'os.system'],
    ['posix', 'system', 'posix.system'],
    ['subprocess', 'Popen', 'subprocess.Popen'],
    ['builtins', 'eval', 'builtins.eval'],
  ];
  for (const [mod, fn, shown] of hostile) {
    it(`refuses a pickle that imports ${shown}, executing nothing`, async () => {
      const marker = path.join(ws, `pwned-${fn}`);
      const payload = fn === 'eval' ? `__import__('os').system('touch ${marker}')` : `touch ${marker}`;
      const bad = file(`hostile-${mod}.pt`, torchZip({ pickle: hostilePickle(mod, fn, payload), storages: new Map() }));
      for (const cmd of [['deploy', 'inspect', '--model', bad], ['deploy', 'start', '--model', bad, '--name', 'bad']]) {
        await expectRefused(cmd, new RegExp(shown.replace('.', '\\.')), 4);
      }
      expect(fs.existsSync(marker)).toBe(false);
    });
  }

  it('refuses a --type that contradicts the model', async () => {
    await expectRefused(['deploy', 'start', '--model', path.join(ws, 'inputs/good.onnx'), '--name', 'bad', '--type', 'dcgan'], /contradicts/);
  });

  it('refuses a duplicate version', async () => {
    await expectRefused(['deploy', 'start', '--model', path.join(ws, 'inputs/good.onnx'), '--name', 'good', '--version', 'v1'], /already has version v1/, 6);
  });

  it('refuses an invalid deployment name', async () => {
    await expectRefused(['deploy', 'start', '--model', path.join(ws, 'inputs/good.onnx'), '--name', '../escape'], /invalid model name/);
  });
});

describe('bad config', () => {
  it('names the key and the accepted form, and starts nothing', async () => {
    const bad = makeWorkspace(PORT_BASE + 100, '  latency_threshold_ms: fast\n');
    try {
      const r = await runCli(bad, ['deploy', 'list']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toMatch(/deploy\.latency_threshold_ms must be a number > 0 \(got "fast"\)/);
      expect(fs.existsSync(path.join(bad, 'experiments/model_registry/registry.db'))).toBe(false);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });

  it('rejects an unknown stage name in the config and on the command line', async () => {
    const bad = makeWorkspace(PORT_BASE + 200, '  default_stage: prod\n');
    try {
      const r = await runCli(bad, ['deploy', 'list']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/deploy\.default_stage/);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
    const r = await runCli(ws, ['deploy', 'promote', '--name', 'good', '--version', 'v1', '--stage', 'live']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/live/);
    expect(await snapshotState(ws)).toBe(before);
  });
});

describe('malformed /predict requests on a deployed endpoint', () => {
  it('answers 400 for a body that is not JSON', async () => {
    const res = await fetch(`${endpoint}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs": [' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/JSON/);
  });

  it('answers 400 naming the input for a wrong shape or dtype', async () => {
    const shape = await postJson(`${endpoint}/predict`, { inputs: { x: [[1, 2, 3]] } });
    expect(shape.status).toBe(400);
    expect(String(shape.json['error'])).toMatch(/'x'/);
    const dtype = await postJson(`${endpoint}/predict`, { inputs: { x: [[1, 2, 'three', 4]] } });
    expect(dtype.status).toBe(400);
    expect(String(dtype.json['error'])).toMatch(/'x'/);
  });

  it('answers 413 to a 100 MB body without reading it all', async () => {
    const url = new URL(`${endpoint}/predict`);
    const total = 100 * 1024 * 1024;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': total } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    const metrics = (await (await fetch(`${endpoint}/metrics`)).json()) as { error_rate: number };
    expect(metrics.error_rate).toBe(0);
  });
});
