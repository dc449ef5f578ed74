/**
 * Checkpoints that look like FRAMEWORM models but cannot be served: each `deploy start` must end
 * with one clear line on stderr and a non-zero exit, leave the registry and the event logs as
 * they were, and leave nothing behind in experiments/deploy_exports. Model files that are not
 * state-dict checkpoints (ONNX, TorchScript) are accepted as generic or refused with a hint.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { checkpointBytes, type FixtureTensor } from '../../fixtures/inspect/torch-fixture.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli, snapshotState } from '../cli/cli-harness.js';

const PORT_BASE = 23500;
const E_INPUT_EXIT = 4;

let ws: string;
const exportsDir = (): string => path.join(ws, 'experiments/deploy_exports');

function file(name: string, data: Buffer | string): string {
  const p = path.join(ws, 'inputs', name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  return p;
}

/** The dcgan tensors of the compat checkpoint (names, shapes, dtypes in checkpoint order). */
function dcganKeys(): [string, number[], string][] {
  const listing = JSON.parse(fs.readFileSync(compatPath('state-dicts.json'), 'utf8')) as Record<string, { config: Record<string, unknown>; state_dict: [string, number[], string][] }[]>;
  const tiny = listing['dcgan']!.find((e) => e.config['latent_dim'] === 32 && e.config['ngf'] === 16);
  expect(tiny, 'the tiny dcgan entry of state-dicts.json').toBeDefined();
  return tiny!.state_dict;
}

/**
 * A trainer-format checkpoint with the dcgan key list. Weights are small smooth values, BatchNorm
 * running_var 1 (unless `runningVar` says otherwise), num_batches_tracked 100.
 */
function dcganCheckpoint(opts: { shape?: (name: string, shape: number[]) => number[]; truncate?: string; runningVar?: (name: string) => number } = {}): Buffer {
  const tensors: FixtureTensor[] = dcganKeys().map(([name, shape0, dtype]) => {
    const shape = opts.shape?.(name, shape0) ?? shape0;
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array | BigInt64Array;
    if (dtype === 'int64') data = new BigInt64Array(n).fill(100n);
    else if (name.endsWith('running_var')) data = new Float32Array(n).fill(opts.runningVar?.(name) ?? 1);
    else data = Float32Array.from({ length: n }, (_, k) => 0.05 * Math.sin(k + 1));
    return { name, shape, data, ...(opts.truncate === name ? { truncateBy: 4 } : {}) };
  });
  return checkpointBytes(tensors, 'trainer');
}

/** A real TorchScript archive (torch.jit.save), written by the system's torch. */
function torchScriptFile(target: string): Promise<void> {
  const code = 'import sys,torch\nm=torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4,8),torch.nn.ReLU(),torch.nn.Linear(8,3)))\ntorch.jit.save(m,sys.argv[1])';
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', ['-c', code, target], { timeout: 60_000 }, (err, _stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve()));
  });
}

let onnxPath = '';
let torchScriptPath = '';

beforeAll(async () => {
  ws = makeWorkspace(PORT_BASE);
  onnxPath = file('mlp.onnx', buildMlp([4, 8, 3], 5));
  torchScriptPath = path.join(ws, 'inputs', 'scripted.pt');
  // A served model first, so "unchanged" is checked against a registry and a log with content.
  const [doc] = await Promise.all([cliJson<{ type: string; endpoint: string }>(ws, ['deploy', 'start', '--model', onnxPath, '--name', 'mlp']), torchScriptFile(torchScriptPath)]);
  expect(doc.type).toBe('generic');
}, 120_000);

afterAll(async () => {
  if (ws) await disposeWorkspace(ws);
});

/**
 * `deploy start` of `model` as `name` fails with one line matching `pattern`, exits with E_INPUT's
 * code, and changes nothing: registry, logs, and the export folder.
 */
async function expectRefused(model: string, name: string, extra: string[], pattern: RegExp): Promise<string> {
  const before = await snapshotState(ws);
  const exportsBefore = fs.readdirSync(exportsDir()).sort();
  const r = await runCli(ws, ['deploy', 'start', '--model', model, '--name', name, ...extra]);
  expect(r.code, r.stderr).toBe(E_INPUT_EXIT);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^frameworm: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(await snapshotState(ws)).toBe(before);
  expect(fs.existsSync(path.join(exportsDir(), name))).toBe(false);
  expect(fs.readdirSync(exportsDir()).sort()).toEqual(exportsBefore);
  expect((await runCli(ws, ['deploy', 'status', '--name', name, '--json'])).code).toBe(5); // never registered: E_NOT_FOUND
  return lines[0]!;
}

describe('bad checkpoints: one clear line, non-zero exit, registry/logs/exports unchanged', () => {
  it('--type vae on the dcgan checkpoint says what the weights look like', async () => {
    const inspect = await cliJson<{ type: string }>(ws, ['deploy', 'inspect', '--model', compatPath('dcgan', 'best.pt')]);
    expect(inspect.type).toBe('dcgan');
    await expectRefused(compatPath('dcgan', 'best.pt'), 'wrongtype', ['--type', 'vae'], /--type vae contradicts .*best\.pt.*looks like dcgan/);
  });

  it('dcgan tensor names with one wrong shape: names the tensor and both shapes', async () => {
    const bad = file('wrong-shape.pt', dcganCheckpoint({ shape: (n, s) => (n === 'generator.main.3.weight' ? [s[0]!, s[1]! + 1, ...s.slice(2)] : s) }));
    // inspect recognises the family but reports that the tensors do not fit it.
    const inspect = await cliJson<{ type: string; structure: { complete: boolean; mismatched: { name: string; expected: number[]; actual: number[] }[] } }>(ws, ['deploy', 'inspect', '--model', bad]);
    expect(inspect.structure.complete).toBe(false);
    expect(inspect.structure.mismatched).toEqual([{ name: 'generator.main.3.weight', expected: [128, 64, 4, 4], actual: [128, 65, 4, 4] }]);
    await expectRefused(bad, 'wrongshape', [], /dcgan tensor names but does not fit a dcgan: generator\.main\.3\.weight is \[128,64,4,4\] in a dcgan but \[128,65,4,4\] here/);
  });

  it('a storage entry shorter than its tensor (truncated tensor file inside the zip)', async () => {
    const bad = file('truncated-tensor.pt', dcganCheckpoint({ truncate: 'generator.main.3.weight' }));
    const inspect = await runCli(ws, ['deploy', 'inspect', '--model', bad, '--json']);
    expect(inspect.code).toBe(E_INPUT_EXIT);
    expect(inspect.stderr).toMatch(/truncated or corrupt/);
    await expectRefused(bad, 'truncated', [], /truncated or corrupt: tensor generator\.main\.3\.weight needs 524288 bytes of storage .* but the entry holds 524284/);
  });

  it('a TorchScript archive is refused with a re-save hint (inspect says the same)', async () => {
    const inspect = await runCli(ws, ['deploy', 'inspect', '--model', torchScriptPath, '--json']);
    expect(inspect.code).toBe(E_INPUT_EXIT);
    expect(inspect.stderr.trim().split('\n')).toHaveLength(1);
    expect(inspect.stderr).toMatch(/TorchScript archive .*torch\.save\(model\.state_dict\(\), path\)/);
    await expectRefused(torchScriptPath, 'scripted', [], /is a TorchScript archive \(torch\.jit\.save\), not a state-dict checkpoint: re-save it with torch\.save\(model\.state_dict\(\), path\)/);
  });

  it('weights that make the model compute NaN (negative BatchNorm running_var): the export names the cause', async () => {
    const bad = file('negative-var.pt', dcganCheckpoint({ runningVar: (n) => (n === 'generator.main.1.running_var' ? -0.5 : 1) }));
    const inspect = await cliJson<{ type: string; structure: { complete: boolean } }>(ws, ['deploy', 'inspect', '--model', bad]);
    expect(inspect).toMatchObject({ type: 'dcgan', structure: { complete: true } });
    await expectRefused(bad, 'nanweights', [], /NaN or infinite values in output 'images'.*main\.1\.running_var has negative entries/);
  }, 60_000);
});

describe('model files that are not state-dict checkpoints', () => {
  it('an ONNX file is accepted as generic, served, and its export folder holds model.onnx + manifest.json', async () => {
    const inspect = await cliJson<{ type: string; format: string }>(ws, ['deploy', 'inspect', '--model', onnxPath]);
    expect(inspect).toMatchObject({ type: 'generic', format: 'onnx' });
    const status = await cliJson<{ production: string; endpoint: string; versions: { type: string }[] }>(ws, ['deploy', 'status', '--name', 'mlp']);
    expect(status.production).toBe('v1');
    expect(status.versions[0]?.type).toBe('generic');
    const r = await postJson(`${status.endpoint}/predict`, { inputs: { x: [[1, 2, 3, 4]] } });
    expect(r.status).toBe(200);
    expect((r.json['outputs'] as Record<string, number[][]>)['y']?.[0]).toHaveLength(3);
    expect(fs.readdirSync(path.join(exportsDir(), 'mlp/v1')).sort()).toEqual(['manifest.json', 'model.onnx']);
    // After every refusal above, only this deployment's export exists.
    expect(fs.readdirSync(exportsDir())).toEqual(['mlp']);
  });
});
