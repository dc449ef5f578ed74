/**
 * The ONNX parity gate (1e-4 max abs error against eager PyTorch) refuses a model that drifts:
 * through the CLI, where the eager reference the exporter recorded is shifted by 2e-4 on its way
 * back (a wrapper set as deploy.python_path edits parity_reference.json after the real exporter
 * wrote it), and directly on a real export, on both sides of the tolerance.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { checkOnnxParity, PARITY_TOLERANCE } from '../../../main/export/onnx-parity.js';
import { findPython } from '../../../main/export/python-finder.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { disposeWorkspace, makeWorkspace, runCli } from '../cli/cli-harness.js';

const PORT_BASE = 42300;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-parity-failure-'));
let ws = '';

interface Reference {
  inputs: Record<string, unknown>;
  outputs: Record<string, { shape: number[]; dtype: string; data: number[] }>;
}

/** Adds `delta` to every value of every recorded eager output. */
function shiftReference(exportDir: string, delta: number): void {
  const file = path.join(exportDir, 'parity_reference.json');
  const ref = JSON.parse(fs.readFileSync(file, 'utf8')) as Reference;
  for (const out of Object.values(ref.outputs)) out.data = out.data.map((v) => v + delta);
  fs.writeFileSync(file, JSON.stringify(ref));
}

beforeAll(() => {
  ws = makeWorkspace(PORT_BASE);
});
afterAll(async () => {
  await disposeWorkspace(ws);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ONNX parity beyond 1e-4 fails the export', () => {
  it('deploy start exits 8 naming the output and its error, and registers nothing', async () => {
    const wrapper = path.join(tmp, 'drifting-python');
    fs.writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        '# The real exporter, then its eager reference shifted by 2e-4 (as if ONNX had drifted that far).',
        '/usr/bin/python3 "$@"; rc=$?',
        'out=; prev=',
        'for a in "$@"; do [ "$prev" = --out ] && out=$a; prev=$a; done',
        'if [ -f "$out/parity_reference.json" ]; then',
        `  /usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; r=json.load(open(p)); [o.update(data=[v+2e-4 for v in o["data"]]) for o in r["outputs"].values()]; json.dump(r,open(p,"w"))' "$out/parity_reference.json"`,
        'fi',
        'exit $rc',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    fs.appendFileSync(path.join(ws, 'configs', 'deploy_config.yaml'), `  python_path: ${wrapper}\n`);
    const r = await runCli(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'drift']);
    expect(r.code, r.stderr).toBe(8);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^frameworm: error: ONNX parity check of model\.onnx failed: images max abs error (1\.9|2\.0)\d*e-4 \(tolerance 0\.0001\)$/);
    expect((await runCli(ws, ['deploy', 'status', '--name', 'drift'])).code).toBe(5);
  });

  it('checkOnnxParity on a real export: 5e-5 of drift passes, 2e-4 fails', async () => {
    const exportDir = path.join(tmp, 'dcgan');
    await exportCheckpoint({ python: await findPython(null), checkpoint: compatPath('dcgan', 'best.pt'), outDir: exportDir, type: 'dcgan' });
    const pristine = fs.readFileSync(path.join(exportDir, 'parity_reference.json'));

    shiftReference(exportDir, 5e-5);
    const within = await checkOnnxParity(exportDir);
    expect(Object.keys(within)).toEqual(['images']);
    expect(within['images']).toBeGreaterThan(4e-5);
    expect(within['images']).toBeLessThanOrEqual(PARITY_TOLERANCE);

    fs.writeFileSync(path.join(exportDir, 'parity_reference.json'), pristine);
    shiftReference(exportDir, 2e-4);
    const err = await checkOnnxParity(exportDir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FramewormError);
    expect((err as FramewormError).code).toBe('E_RUNTIME');
    expect((err as FramewormError).message).toMatch(/^ONNX parity check of model\.onnx failed: images max abs error (1\.9|2\.0)\d*e-4 \(tolerance 0\.0001\)$/);
  });
});
