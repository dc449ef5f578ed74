/**
 * Golden parity: every FRAMEWORM checkpoint in test/fixtures/compat, exported by our Python side and
 * run in onnxruntime-node, reproduces FRAMEWORM's golden outputs within the file's tolerance.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { findPython } from '../../../main/export/python-finder.js';
import { checkOnnxParity } from '../../../main/export/onnx-parity.js';
import { ModelSession } from '../../../main/serving/model-session.js';
import type { TensorValue } from '../../../main/serving/tensor-types.js';
import { compatPath, readGolden, type Golden, type GoldenTensor } from '../../fixtures/inspect/compat.js';


const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-golden-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

const tensor = (g: GoldenTensor, override?: number[]): TensorValue =>
  g.dtype === 'int64'
    ? { dtype: 'int64', dims: g.shape, data: BigInt64Array.from(override ?? g.data, (v) => BigInt(v)) }
    : { dtype: 'float32', dims: g.shape, data: Float32Array.from(override ?? g.data) };

function maxAbs(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN)));
  return max;
}

async function exportArch(arch: string): Promise<{ session: ModelSession; golden: Golden; onnxVsEager: Record<string, number> }> {
  const python = await findPython(null);
  const dir = path.join(out, arch);
  const manifest = await exportCheckpoint({ python, checkpoint: compatPath(arch, 'best.pt'), outDir: dir, type: 'auto' });
  expect(manifest.type).toBe(arch);
  const onnxVsEager = await checkOnnxParity(dir);
  const golden = readGolden(arch);
  const warmupDims = Object.fromEntries(Object.entries(golden.inputs).map(([k, v]) => [k, v.shape]));
  const session = await ModelSession.load({ modelPath: path.join(dir, 'model.onnx'), threads: 1, warmupDims });
  return { session, golden, onnxVsEager };
}

const atol = (g: Golden, name: string): number => g.tolerance.recommended[name]?.atol ?? 1e-5;
const floats = (t: TensorValue | undefined): Float32Array => t?.data as Float32Array;

describe('export → onnxruntime-node equals FRAMEWORM goldens', () => {
  it('vae: reconstruction of mu, mu, log_var', async () => {
    const { session, golden } = await exportArch('vae');
    const r = await session.run({ x: tensor(golden.inputs['x']!) });
    expect(maxAbs(floats(r['mu']), golden.outputs['mu']!.data)).toBeLessThanOrEqual(atol(golden, 'mu'));
    expect(maxAbs(floats(r['log_var']), golden.outputs['logvar']!.data)).toBeLessThanOrEqual(atol(golden, 'logvar'));
    expect(maxAbs(floats(r['reconstruction']), golden.outputs['recon']!.data)).toBeLessThanOrEqual(atol(golden, 'recon'));
    await session.dispose();
  });

  for (const arch of ['dcgan', 'vitgan']) {
    it(`${arch}: images from z`, async () => {
      const { session, golden } = await exportArch(arch);
      const r = await session.run({ z: tensor(golden.inputs['z']!) });
      expect(r['images']?.dims).toEqual(golden.outputs['image']!.shape);
      expect(maxAbs(floats(r['images']), golden.outputs['image']!.data)).toBeLessThanOrEqual(atol(golden, 'image'));
      await session.dispose();
    });
  }

  it('ddpm: eps from x_t and t', async () => {
    const { session, golden } = await exportArch('ddpm');
    const r = await session.run({ x_t: tensor(golden.inputs['x_t']!), t: tensor(golden.inputs['t']!) });
    expect(maxAbs(floats(r['eps']), golden.outputs['eps']!.data)).toBeLessThanOrEqual(atol(golden, 'eps'));
    await session.dispose();
  });

  it('vqvae2: reconstruction and per-sample commitment loss (mean = FRAMEWORM vq_loss)', async () => {
    const { session, golden } = await exportArch('vqvae2');
    const r = await session.run({ x: tensor(golden.inputs['x']!) });
    expect(maxAbs(floats(r['reconstruction']), golden.outputs['recon']!.data)).toBeLessThanOrEqual(atol(golden, 'recon'));
    const perSample = floats(r['commitment_loss']);
    expect(perSample.length).toBe(2);
    const mean = (perSample[0]! + perSample[1]!) / 2;
    expect(Math.abs(mean - golden.outputs['vq_loss']!.data[0]!)).toBeLessThanOrEqual(atol(golden, 'vq_loss'));
    await session.dispose();
  });

  it('cfg_ddpm: eps for mixed labels, conditional, unconditional and guided', async () => {
    const { session, golden } = await exportArch('cfg_ddpm');
    // Feeds are transferred to the worker (their buffers detach), so each run gets fresh ones.
    const run = async (labels: number[]): Promise<Float32Array> =>
      floats((await session.run({ x_t: tensor(golden.inputs['x_t']!), t: tensor(golden.inputs['t']!), class_label: tensor(golden.inputs['class_label']!, labels) }))['eps']);
    const eps = await run(golden.inputs['class_label']!.data);
    expect(maxAbs(eps, golden.outputs['eps']!.data)).toBeLessThanOrEqual(atol(golden, 'eps'));
    const cond = await run(golden.inputs['guided_class_label']!.data);
    const uncond = await run([4, 4]);
    expect(maxAbs(cond, golden.outputs['eps_cond']!.data)).toBeLessThanOrEqual(atol(golden, 'eps_cond'));
    expect(maxAbs(uncond, golden.outputs['eps_uncond']!.data)).toBeLessThanOrEqual(atol(golden, 'eps_uncond'));
    const w = golden.inputs['guidance_scale']!.data[0]!;
    const guided = uncond.map((u, i) => u + w * (cond[i]! - u));
    expect(maxAbs(guided, golden.outputs['eps_guided']!.data)).toBeLessThanOrEqual(atol(golden, 'eps_guided'));
    await session.dispose();
  });
});
