/**
 * The default generated server (server_runtime onnxruntime, dependencies from PyPI, the public
 * python base image): this machine has neither PyPI nor Docker Hub, so it cannot be built or run
 * here; everything short of that is checked on a real export: the pins, the files, the docker
 * lint, and that every Python file of the server compiles.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../main/config/deploy-config.js';
import { lintCompose, lintDockerfile } from '../../../main/docker/dockerfile-lint.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { findPython } from '../../../main/export/python-finder.js';
import { DEFAULT_BASE_IMAGE, DEFAULT_PINS, FRAMEWORM_MODULES, generateServer, SERVER_MODULES } from '../../../main/generate/server-generator.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-default-server-'));
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

describe('the default generated server (onnxruntime from PyPI)', () => {
  it('pins onnxruntime, lints clean and compiles', async () => {
    expect(DEFAULT_CONFIG.server_runtime).toBe('onnxruntime');
    const exportDir = path.join(ws, 'experiments', 'deploy_exports', 'codes', 'v1');
    await exportCheckpoint({ python: await findPython(null), checkpoint: compatPath('vqvae2', 'best.pt'), outDir: exportDir, type: 'auto' });
    const gen = generateServer({ workspace: ws, name: 'codes', version: 'v1', runtime: DEFAULT_CONFIG.server_runtime });

    expect(gen.runtime).toBe('onnxruntime');
    const requirements = fs.readFileSync(path.join(gen.dir, 'requirements.txt'), 'utf8').trim().split('\n');
    expect(requirements).toContain(`onnxruntime==${DEFAULT_PINS['onnxruntime']}`);
    expect(requirements.some((r) => r.startsWith('torch'))).toBe(false);
    expect(fs.readFileSync(path.join(gen.dir, 'model', 'model.onnx'))).toEqual(fs.readFileSync(path.join(exportDir, 'model.onnx')));

    const dockerfile = fs.readFileSync(path.join(gen.dir, 'Dockerfile'), 'utf8');
    const compose = fs.readFileSync(path.join(gen.dir, 'docker-compose.yml'), 'utf8');
    expect(lintDockerfile(dockerfile)).toEqual([]);
    expect(lintCompose(compose)).toEqual([]);
    // pip installs the pinned requirements on the public base image.
    expect(compose).toContain(`BASE_IMAGE: "${DEFAULT_BASE_IMAGE}"`);
    expect(compose).toContain('INSTALL_DEPS: "1"');
    expect(dockerfile).toMatch(/requirements\.txt/);

    const sources = [...SERVER_MODULES, ...FRAMEWORM_MODULES.map((m) => path.join('frameworm', m))].map((f) => path.join(gen.dir, f));
    for (const f of sources) expect(fs.existsSync(f), f).toBe(true);
    // py_compile exits non-zero (and the test fails) on the first file that does not compile.
    const cache = fs.mkdtempSync(path.join(ws, 'pycache-'));
    execFileSync('/usr/bin/python3', ['-m', 'py_compile', ...sources], { env: { ...process.env, PYTHONPYCACHEPREFIX: cache }, stdio: 'pipe' });
  }, 120_000);
});
