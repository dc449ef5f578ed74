import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { findPython } from '../../../main/export/python-finder.js';
import { quantizationRefusal, quantizeExport, QUANTIZED_FILE } from '../../../main/export/quantize.js';
import { ModelSession } from '../../../main/serving/model-session.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-quant-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('int8 weight quantization', () => {
  for (const arch of ['dcgan', 'vae', 'vitgan'] as const) {
    it(`${arch}: a smaller model whose error is measured and small`, async () => {
      const python = await findPython(null);
      const dir = path.join(out, arch);
      await exportCheckpoint({ python, checkpoint: compatPath(arch, 'best.pt'), outDir: dir, type: arch });
      const report = await quantizeExport(python, dir, arch);
      expect(report.quantized_tensors).toBeGreaterThan(0);
      expect(report.size_ratio).toBeLessThan(0.5);
      expect(fs.statSync(path.join(dir, QUANTIZED_FILE)).size).toBe(report.size_bytes);
      const errors = Object.values(report.max_abs_err);
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        expect(Number.isFinite(e)).toBe(true);
        expect(e).toBeGreaterThan(0); // int8 is lossy: an error of exactly 0 would mean nothing was quantized
        expect(e).toBeLessThan(0.2);
      }
      // The quantized graph is a normal float-in, float-out model with the same I/O.
      const session = await ModelSession.load({ modelPath: path.join(dir, QUANTIZED_FILE), warmupDims: arch === 'vae' ? { x: [1, 3, 32, 32] } : {} });
      const ioNames = session.io.inputs.map((i) => i.name);
      await session.dispose();
      expect(ioNames.length).toBe(1);
    });
  }

  it('refuses vqvae2 with its reason', async () => {
    const python = await findPython(null);
    const dir = path.join(out, 'vqvae2');
    await exportCheckpoint({ python, checkpoint: compatPath('vqvae2', 'best.pt'), outDir: dir, type: 'vqvae2' });
    await expect(quantizeExport(python, dir, 'vqvae2')).rejects.toThrow(/codebook/);
    expect(fs.existsSync(path.join(dir, QUANTIZED_FILE))).toBe(false);
  });

  it('says why diffusion models are not quantized', () => {
    expect(quantizationRefusal('ddpm')).toMatch(/compounds/);
    expect(quantizationRefusal('cfg_ddpm')).toMatch(/compounds/);
    expect(quantizationRefusal('dcgan')).toBeNull();
  });
});
