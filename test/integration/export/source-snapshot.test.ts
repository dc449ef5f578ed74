/**
 * Issue 8, defect 7: the recorded checkpoint sha256 must be the sha256 of the weights served.
 * prepareArtifacts exports from a private copy verified against the inspected hash, so a
 * trainer rewriting best.pt between inspection and export — or during the export — cannot slip
 * other weights in under the inspected checksum.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../../preload/contract.js';
import { CHECKPOINT_SNAPSHOT, prepareArtifacts } from '../../../main/export/prepare-artifacts.js';
import { sha256File } from '../../../main/common/export-manifest.js';
import { inspectModelFile } from '../../../main/inspect/inspect.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-snapshot-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A trainer's run folder holding best.pt, as the user points deploy at it. */
function runFolder(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const file = path.join(dir, 'best.pt');
  fs.copyFileSync(compatPath('dcgan', 'best.pt'), file);
  return file;
}

/** What a trainer's torch.save of a newer epoch does to the file: rewrite it in place. */
function rewrite(file: string): void {
  fs.writeFileSync(file, fs.readFileSync(compatPath('dcgan', 'final.pt')));
}

describe('exporting the bytes that were hashed', () => {
  it('refuses a checkpoint rewritten between inspection and export, leaving nothing behind', async () => {
    const file = runFolder('between');
    const report = await inspectModelFile(file);
    rewrite(file);
    const exportDir = path.join(tmp, 'between-export', 'v1');
    await expect(
      prepareArtifacts({ report, source: file, exportDir, type: 'dcgan', pythonPath: null, quantize: 'no', progress: () => {} }),
    ).rejects.toMatchObject({
      code: 'E_INPUT',
      message: `${file} changed after it was inspected (sha256 now ${sha256File(file)}, inspected ${report.sha256}); deploy it again once it is no longer being written`,
    });
    expect(fs.existsSync(path.join(tmp, 'between-export'))).toBe(false);
  });

  it('exports the inspected weights even when the file is rewritten while the export runs', async () => {
    const file = runFolder('during');
    const report = await inspectModelFile(file);
    const exportDir = path.join(tmp, 'during-export', 'v1');
    const steps: string[] = [];
    const progress = (e: ProgressEvent): void => {
      // The first export progress comes before the Python exporter starts reading.
      if (e.step === 'export' && !steps.includes('export')) rewrite(file);
      steps.push(e.step);
    };
    const prepared = await prepareArtifacts({ report, source: file, exportDir, type: 'dcgan', pythonPath: null, quantize: 'no', progress });
    expect(steps).toContain('export');
    expect(sha256File(file)).not.toBe(report.sha256); // the rewrite really happened
    expect(prepared.manifest.checkpoint).toMatchObject({ sha256: report.sha256, path: path.resolve(file) });
    // The private copy is gone once the export is done; only the artifacts remain.
    expect(fs.readdirSync(exportDir).sort()).toEqual(['manifest.json', 'model.onnx', 'model.torchscript.pt', 'parity_reference.json']);
    expect(fs.existsSync(path.join(exportDir, CHECKPOINT_SNAPSHOT))).toBe(false);
  });
});
