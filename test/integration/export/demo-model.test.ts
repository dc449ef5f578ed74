/**
 * The committed demo model (examples/models, made by scripts/train_demo_dcgan.py): the checkpoint
 * inspects as a FRAMEWORM DCGAN, the committed ONNX is the export of exactly that checkpoint and
 * matches a fresh export within the exporter's parity tolerance, and it is trained — its samples
 * have the data set's pale background, which random weights do not produce.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportManifest } from '../../../main/common/export-manifest.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { PARITY_TOLERANCE } from '../../../main/export/onnx-parity.js';
import { findPython } from '../../../main/export/python-finder.js';
import { inspectModelFile } from '../../../main/inspect/inspect.js';
import { repoRoot } from '../cli/cli-harness.js';

const CHECKPOINT = path.join(repoRoot, 'examples/models/demo-dcgan.pt');
const EXPORTED = path.join(repoRoot, 'examples/models/demo-dcgan');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-demo-model-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Seeded standard-normal z [n, 32] (Box–Muller over a linear congruential generator). */
function seededZ(n: number, dim: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const z = new Float32Array(n * dim);
  for (let i = 0; i < z.length; i++) z[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return z;
}

async function images(modelPath: string, z: Float32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  try {
    const r = await session.run({ z: new ort.Tensor('float32', z, [n, 32]) });
    expect(r['images']!.dims).toEqual([n, 3, 64, 64]);
    return r['images']!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('the committed demo DCGAN', () => {
  it('inspects as a FRAMEWORM dcgan trainer checkpoint with the demo hyper-parameters', async () => {
    const report = await inspectModelFile(CHECKPOINT);
    expect(report.format).toBe('pytorch');
    expect(report.checkpoint_format).toBe('trainer');
    expect(report.type).toBe('dcgan');
    expect(report.hyper_parameters).toMatchObject({ latent_dim: 32, ngf: 16, ndf: 16, channels: 3, generator_output_size: 64, discriminator_image_size: 64 });
    expect(report.warnings).toEqual([]);
    // Small enough to commit.
    expect(fs.statSync(CHECKPOINT).size).toBeLessThan(4 * 1024 * 1024);
  });

  it('ships the ONNX of exactly this checkpoint, equal to a fresh export within the parity tolerance', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(EXPORTED, 'manifest.json'), 'utf8')) as ExportManifest & { checkpoint: { sha256: string; path: string } };
    expect(manifest.type).toBe('dcgan');
    expect(manifest.checkpoint.path).toBe('examples/models/demo-dcgan.pt');
    expect(manifest.checkpoint.sha256).toBe(sha256(CHECKPOINT));
    expect(manifest.files['model.onnx']!.sha256).toBe(sha256(path.join(EXPORTED, 'model.onnx')));

    const python = await findPython(null);
    const fresh = await exportCheckpoint({ python, checkpoint: CHECKPOINT, outDir: path.join(out, 'fresh'), type: 'auto' });
    expect(fresh.type).toBe('dcgan');
    expect(fresh.hyper_parameters).toEqual(manifest.hyper_parameters);
    const n = 4;
    const z = seededZ(n, 32, 11);
    const committed = await images(path.join(EXPORTED, 'model.onnx'), z, n);
    const exported = await images(path.join(out, 'fresh', 'model.onnx'), z, n);
    let max = 0;
    for (let i = 0; i < committed.length; i++) max = Math.max(max, Math.abs(committed[i]! - exported[i]!));
    expect(max).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });

  it('is trained: samples have the pale background of the drawn-shapes data set and a shape on it', async () => {
    const n = 16;
    const data = await images(path.join(EXPORTED, 'model.onnx'), seededZ(n, 32, 3), n);
    const plane = 64 * 64;
    let pale = 0;
    let varied = 0;
    for (let b = 0; b < n; b++) {
      // Brightness in [-1, 1] per pixel (mean of RGB).
      const lum = (x: number, y: number): number => (data[b * 3 * plane + y * 64 + x]! + data[b * 3 * plane + plane + y * 64 + x]! + data[b * 3 * plane + 2 * plane + y * 64 + x]!) / 3;
      // The background shows in the top corners of nearly every drawn picture.
      let corner = 0;
      for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) corner += (lum(x, y) + lum(63 - x, y)) / 72;
      if (corner > 0.3) pale += 1;
      // A shape: some pixels clearly darker or more coloured than the background.
      let dark = 0;
      for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) if (lum(x, y) < corner - 0.3) dark += 1;
      if (dark > 40) varied += 1;
    }
    expect(pale).toBeGreaterThanOrEqual(n - 2);
    expect(varied).toBeGreaterThanOrEqual(n / 2);
  });
});
