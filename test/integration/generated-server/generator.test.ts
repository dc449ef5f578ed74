/**
 * deploy/generated/<name>/ file generation: modules, model artifacts, exact pins, errors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FRAMEWORM_MODULES, generateServer, requirementsFor, SERVER_MODULES } from '../../../main/generate/server-generator.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-gen-'));
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

function fakeExport(name: string, files: string[] = ['model.onnx', 'model.torchscript.pt']): string {
  const dir = path.join(ws, 'experiments', 'deploy_exports', name, 'v3');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ format_version: 1, type: 'dcgan', hyper_parameters: { latent_dim: 8 }, inputs: [], outputs: [] }));
  for (const f of files) fs.writeFileSync(path.join(dir, f), `bytes of ${f}`);
  return dir;
}

describe('generateServer', () => {
  it('writes the server, the frameworm modules, the model and pinned requirements', () => {
    fakeExport('faces');
    const gen = generateServer({ workspace: ws, name: 'faces', version: 'v3' });
    expect(gen.dir).toBe(path.join(ws, 'deploy', 'generated', 'faces'));
    for (const m of SERVER_MODULES) expect(fs.existsSync(path.join(gen.dir, m)), m).toBe(true);
    for (const m of FRAMEWORM_MODULES) expect(fs.existsSync(path.join(gen.dir, 'frameworm', m)), m).toBe(true);
    for (const f of ['manifest.json', 'model.onnx', 'model.torchscript.pt', 'deployment.json']) expect(fs.existsSync(path.join(gen.dir, 'model', f)), f).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(gen.dir, 'model', 'deployment.json'), 'utf8'))).toMatchObject({ name: 'faces', version: 'v3', type: 'dcgan' });
    const reqs = fs.readFileSync(path.join(gen.dir, 'requirements.txt'), 'utf8').trim().split('\n');
    expect(reqs.map((r) => r.split('==')[0])).toEqual(['fastapi', 'uvicorn', 'numpy', 'onnxruntime']);
    for (const r of reqs) expect(r).toMatch(/^[a-z]+==\d+\.\d+(\.\d+)?$/);
    // Regenerating replaces the folder (no stale files).
    fs.writeFileSync(path.join(gen.dir, 'stale.txt'), 'x');
    generateServer({ workspace: ws, name: 'faces', version: 'v3', runtime: 'torch' });
    expect(fs.existsSync(path.join(gen.dir, 'stale.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(gen.dir, 'requirements.txt'), 'utf8')).toMatch(/^torch==/m);
  });

  it('pins can be overridden but must be exact versions', () => {
    expect(requirementsFor('torch', { torch: '2.4.0' })).toContain('torch==2.4.0');
    expect(() => requirementsFor('onnxruntime', { numpy: '>=1' })).toThrow(/exact version/);
  });

  it('refuses a missing export, a missing artifact and bad names', () => {
    expect(() => generateServer({ workspace: ws, name: 'nothing', version: 'v1' })).toThrow(/no export manifest/);
    fakeExport('onlyts', ['model.torchscript.pt']);
    expect(() => generateServer({ workspace: ws, name: 'onlyts', version: 'v3' })).toThrow(/no model\.onnx/);
    expect(generateServer({ workspace: ws, name: 'onlyts', version: 'v3', runtime: 'torch' }).files).not.toContain(path.join('model', 'model.onnx'));
    expect(() => generateServer({ workspace: ws, name: '../x', version: 'v1' })).toThrow(/invalid model name/);
  });
});
