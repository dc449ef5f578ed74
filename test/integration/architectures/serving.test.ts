/**
 * The six FRAMEWORM architectures end to end: each compat checkpoint is deployed through the real
 * CLI (agent, Python export, onnxruntime-node parity) into one workspace, then exercised over HTTP
 * against the DESIGN.md §5 request schemas and the compat goldens.
 */
import crypto from 'node:crypto';
import type { DeployStartResult as StartDoc, DeploymentStatus as StatusDoc } from '../../../preload/contract.js';
import { maxAbsDiff } from '../../fixtures/max-abs-diff.js';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDdpm } from '../../../main/sampling/diffusion-sampler.js';
import { INITIAL_NOISE_STREAM, normals } from '../../../main/sampling/noise.js';
import { ModelSession } from '../../../main/serving/model-session.js';
import { ARCHS, compatPath, type Arch, readGolden, type Golden } from '../../fixtures/inspect/compat.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli } from '../cli/cli-harness.js';

const PORT_BASE = 23000;
const MAX_BATCH = 8;
/** The brief's bound for served outputs against the goldens (goldens recommend 1e-5). */
const GOLDEN_ATOL = 1e-4;

interface Manifest {
  type: string;
  hyper_parameters: Record<string, unknown>;
  files: Record<string, { sha256: string; size_bytes: number }>;
  parity: { torchscript_max_abs_err: Record<string, number>; onnxruntime_node_max_abs_err: Record<string, number>; tolerance: number };
  schedule?: Record<string, unknown>;
}
interface Metrics {
  error_rate: number;
  requests: number;
  client_errors: number;
  server_errors: number;
}

let ws: string;
const endpoints: Partial<Record<Arch, string>> = {};
const golden = (arch: Arch): Golden => readGolden(arch);
const exportDir = (arch: Arch): string => path.join(ws, 'experiments/deploy_exports', arch, 'v1');
const readManifest = (arch: Arch): Manifest => JSON.parse(fs.readFileSync(path.join(exportDir(arch), 'manifest.json'), 'utf8')) as Manifest;
const url = (arch: Arch, route = '/predict'): string => `${endpoints[arch]!}${route}`;
/** 400s sent per endpoint, checked against its client-error count at the end. */
const badSent: Partial<Record<Arch, number>> = {};

/** Nests flat row-major data into arrays of `shape` (a request body's tensor). */
function nest(data: readonly number[], shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const [head, ...rest] = shape;
  const inner = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: head! }, (_, i) => nest(data.slice(i * inner, (i + 1) * inner), rest));
}

/** Flattens a nested array response and returns its shape (checking it is rectangular). */
function flat(value: unknown): { shape: number[]; data: number[] } {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const data = (value as unknown[]).flat(Infinity) as number[];
  expect(data.length).toBe(shape.reduce((a, b) => a * b, 1));
  expect(data.every((v) => typeof v === 'number')).toBe(true);
  return { shape, data };
}


function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** POSTs raw bytes (for bodies JSON.stringify cannot produce, such as a literal NaN). */
async function postRaw(target: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function metrics(arch: Arch): Promise<Metrics> {
  const res = await fetch(url(arch, '/metrics'));
  expect(res.status).toBe(200);
  return (await res.json()) as Metrics;
}

/** The training_state of a compat checkpoint as torch itself reads it (trusted file). */
function trainingStateByTorch(file: string): Promise<{ epoch: number; training_state: Record<string, unknown> }> {
  const code = 'import json,sys,torch\nc=torch.load(sys.argv[1],map_location="cpu",weights_only=False)\nprint(json.dumps({"epoch":c["epoch"],"training_state":c["training_state"]}))';
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', ['-c', code, file], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}: ${stderr}`));
      else resolve(JSON.parse(stdout) as { epoch: number; training_state: Record<string, unknown> });
    });
  });
}

beforeAll(async () => {
  ws = makeWorkspace(PORT_BASE, `  max_batch_size: ${MAX_BATCH}\n`);
  const deploy = async (arch: Arch): Promise<void> => {
    const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', compatPath(arch, 'best.pt'), '--name', arch]);
    expect(doc).toMatchObject({ name: arch, version: 'v1', type: arch, target: 'embedded', stage: 'production' });
    expect(Number(new URL(doc.endpoint ?? '').port)).toBeGreaterThanOrEqual(PORT_BASE);
    endpoints[arch] = doc.endpoint ?? '';
  };
  // The first deploy starts the workspace's agent; the rest go to it concurrently.
  await deploy('vae');
  await Promise.all(ARCHS.filter((a) => a !== 'vae').map(deploy));
}, 240_000);

afterAll(async () => {
  if (ws) await disposeWorkspace(ws);
});

describe('six FRAMEWORM checkpoints deployed through the CLI', () => {
  it('serves every architecture on its own endpoint, ready, with the detected type', async () => {
    expect(new Set(Object.values(endpoints)).size).toBe(ARCHS.length);
    for (const arch of ARCHS) {
      expect((await fetch(url(arch, '/ready'))).status).toBe(200);
      const health = (await (await fetch(url(arch, '/health'))).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ model: arch, version: 'v1' });
      expect(readManifest(arch).type).toBe(arch);
    }
    const list = await cliJson<{ name: string; production: string | null }[]>(ws, ['deploy', 'list']);
    expect(list.map((d) => [d.name, d.production]).sort()).toEqual(ARCHS.map((a) => [a, 'v1']).sort());
  });

  it('exports TorchScript + ONNX with eager/TorchScript/onnxruntime-node parity ≤ 1e-4 for every architecture', () => {
    for (const arch of ARCHS) {
      const dir = exportDir(arch);
      for (const f of ['model.onnx', 'model.torchscript.pt', 'manifest.json']) expect(fs.existsSync(path.join(dir, f)), `${arch}/${f}`).toBe(true);
      const m = readManifest(arch);
      expect(m.files['model.onnx']?.sha256).toBe(sha256(path.join(dir, 'model.onnx')));
      expect(m.files['model.torchscript.pt']?.sha256).toBe(sha256(path.join(dir, 'model.torchscript.pt')));
      const ts = Object.values(m.parity.torchscript_max_abs_err);
      const ort = Object.values(m.parity.onnxruntime_node_max_abs_err);
      expect(ts.length, arch).toBeGreaterThan(0);
      expect(ort.length, arch).toBe(ts.length);
      for (const v of [...ts, ...ort]) {
        expect(typeof v).toBe('number');
        expect(v, `${arch} parity`).toBeLessThanOrEqual(1e-4);
      }
    }
  });

  it('deploy status shows lineage: checkpoint sha256, epoch and training metrics from training_state, artifact hashes', async () => {
    const arch: Arch = 'vae';
    const [status, torchView] = await Promise.all([cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', arch]), trainingStateByTorch(compatPath(arch, 'best.pt'))]);
    expect(status.production).toBe('v1');
    expect(status.endpoint).toBe(endpoints[arch]);
    expect(status.versions).toHaveLength(1);
    const lineage = status.versions[0]!.lineage;
    expect(lineage['checkpoint_sha256']).toBe(sha256(compatPath(arch, 'best.pt')));
    expect(lineage['checkpoint_sha256']).toBe(golden(arch).checkpoints['best.pt']!.sha256);
    expect(lineage['epoch']).toBe(torchView.epoch);
    expect(lineage['training_metrics']).toEqual(torchView.training_state);
    expect(torchView.training_state['train_metrics']).toEqual({ loss: expect.any(Array) as unknown });
    const hashes = lineage['artifact_hashes'] as Record<string, string>;
    expect(hashes['model.onnx']).toBe(sha256(path.join(exportDir(arch), 'model.onnx')));
    expect(hashes['model.torchscript.pt']).toBe(sha256(path.join(exportDir(arch), 'model.torchscript.pt')));
  });
});

describe('vae', () => {
  it('golden x → mu, log_var and reconstruction equal the golden within 1e-4', async () => {
    const g = golden('vae');
    const r = await postJson(url('vae'), { x: nest(g.inputs['x']!.data, g.inputs['x']!.shape) });
    expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
    expect(r.json).toMatchObject({ model: 'vae', version: 'v1' });
    const mu = flat(r.json['mu']);
    const logVar = flat(r.json['log_var']);
    const recon = flat(r.json['reconstruction']);
    expect(mu.shape).toEqual(g.outputs['mu']!.shape);
    expect(logVar.shape).toEqual(g.outputs['logvar']!.shape);
    expect(recon.shape).toEqual(g.outputs['recon']!.shape);
    expect(maxAbsDiff(mu.data, g.outputs['mu']!.data)).toBeLessThanOrEqual(GOLDEN_ATOL);
    expect(maxAbsDiff(logVar.data, g.outputs['logvar']!.data)).toBeLessThanOrEqual(GOLDEN_ATOL);
    expect(maxAbsDiff(recon.data, g.outputs['recon']!.data)).toBeLessThanOrEqual(GOLDEN_ATOL);
  });

  it('output_format "png" returns one base64 PNG per image, 32×32 RGB, holding the reconstruction', async () => {
    const g = golden('vae');
    const x = nest(g.inputs['x']!.data, g.inputs['x']!.shape);
    const [png, arrays] = await Promise.all([postJson(url('vae'), { x, output_format: 'png' }), postJson(url('vae'), { x })]);
    expect(png.status).toBe(200);
    const images = png.json['reconstruction'] as unknown[];
    expect(images).toHaveLength(2);
    // mu and log_var are not images: they stay arrays.
    expect(flat(png.json['mu']).shape).toEqual([2, 8]);
    const recon = flat(arrays.json['reconstruction']).data;
    images.forEach((b64, b) => {
      expect(typeof b64).toBe('string');
      const bytes = Buffer.from(b64 as string, 'base64');
      expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(bytes.readUInt32BE(8)).toBe(13);
      expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
      const [width, height, depth, colour] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20), bytes[24], bytes[25]];
      expect([width, height, depth, colour]).toEqual([32, 32, 8, 2]);
      // Walk the chunks, inflate IDAT and compare the pixels with the array response.
      const idat: Buffer[] = [];
      let at = 8;
      let last = '';
      while (at < bytes.length) {
        const len = bytes.readUInt32BE(at);
        last = bytes.subarray(at + 4, at + 8).toString('latin1');
        if (last === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + len));
        at += 12 + len;
      }
      expect(last).toBe('IEND');
      const raw = zlib.inflateSync(Buffer.concat(idat));
      expect(raw.length).toBe(height * (1 + width * 3));
      let worst = 0;
      for (let y = 0; y < height; y++) {
        expect(raw[y * (1 + width * 3)]).toBe(0); // filter None
        for (let xx = 0; xx < width; xx++) {
          for (let c = 0; c < 3; c++) {
            const v = recon[b * 3 * 1024 + c * 1024 + y * 32 + xx]!;
            const want = Math.min(255, Math.max(0, Math.floor(v * 255 + 0.5)));
            worst = Math.max(worst, Math.abs(raw[y * (1 + width * 3) + 1 + xx * 3 + c]! - want));
          }
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
    });
  });
});

describe('dcgan and vitgan', () => {
  for (const arch of ['dcgan', 'vitgan'] as const) {
    it(`${arch}: golden z → images equal the golden within 1e-4`, async () => {
      const g = golden(arch);
      const r = await postJson(url(arch), { z: nest(g.inputs['z']!.data, g.inputs['z']!.shape) });
      expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
      const images = flat(r.json['images']);
      expect(images.shape).toEqual(g.outputs['image']!.shape);
      expect(maxAbsDiff(images.data, g.outputs['image']!.data)).toBeLessThanOrEqual(GOLDEN_ATOL);
      // A given z needs no seed.
      expect(r.json['seed']).toBeUndefined();
    });

    it(`${arch}: {batch_size: 3, seed: 11} is reproducible, [3,C,H,W] in [-1,1]; another seed differs`, async () => {
      const [c, h, w] = golden(arch).outputs['image']!.shape.slice(1);
      const [a, b, other] = await Promise.all([
        postJson(url(arch), { batch_size: 3, seed: 11 }),
        postJson(url(arch), { batch_size: 3, seed: 11 }),
        postJson(url(arch), { batch_size: 3, seed: 12 }),
      ]);
      for (const r of [a, b, other]) expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
      expect(a.json['seed']).toBe(11);
      expect(other.json['seed']).toBe(12);
      const ia = flat(a.json['images']);
      expect(ia.shape).toEqual([3, c, h, w]);
      expect(ia.data).toEqual(flat(b.json['images']).data);
      expect(ia.data.every((v) => v >= -1 && v <= 1)).toBe(true);
      expect(maxAbsDiff(ia.data, flat(other.json['images']).data)).toBeGreaterThan(1e-2);
      // The images of a batch differ from each other too (each row has its own latent).
      const per = ia.data.length / 3;
      expect(maxAbsDiff(ia.data.slice(0, per), ia.data.slice(per, 2 * per))).toBeGreaterThan(1e-2);
    });

    it(`${arch}: the seeded latent is the project's noise (seed, stream 0), so z = normals(11, 0, 3·L) gives the same images`, async () => {
      const latent = golden(arch).inputs['z']!.shape[1]!;
      const z = normals(11, INITIAL_NOISE_STREAM, 3 * latent);
      const [seeded, explicit] = await Promise.all([postJson(url(arch), { batch_size: 3, seed: 11 }), postJson(url(arch), { z: nest(Array.from(z), [3, latent]) })]);
      expect(explicit.status).toBe(200);
      expect(flat(explicit.json['images']).data).toEqual(flat(seeded.json['images']).data);
    });
  }

  it('dcgan: without a seed it draws one, returns it, and replaying that seed gives the same images', async () => {
    const first = await postJson(url('dcgan'), { batch_size: 2 });
    expect(first.status, JSON.stringify(first.json).slice(0, 300)).toBe(200);
    const seed = first.json['seed'];
    expect(Number.isSafeInteger(seed)).toBe(true);
    const replay = await postJson(url('dcgan'), { batch_size: 2, seed });
    expect(flat(replay.json['images']).data).toEqual(flat(first.json['images']).data);
  });
});

describe('vqvae2', () => {
  it('golden x → reconstruction within 1e-4 of the golden; mean commitment_loss = golden vq_loss within 1e-4', async () => {
    const g = golden('vqvae2');
    const r = await postJson(url('vqvae2'), { x: nest(g.inputs['x']!.data, g.inputs['x']!.shape) });
    expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
    const recon = flat(r.json['reconstruction']);
    expect(recon.shape).toEqual(g.outputs['recon']!.shape);
    expect(maxAbsDiff(recon.data, g.outputs['recon']!.data)).toBeLessThanOrEqual(GOLDEN_ATOL);
    const loss = flat(r.json['commitment_loss']);
    expect(loss.shape).toEqual([2]);
    const mean = (loss.data[0]! + loss.data[1]!) / 2;
    expect(Math.abs(mean - g.outputs['vq_loss']!.data[0]!)).toBeLessThanOrEqual(GOLDEN_ATOL);
  });
});

describe('ddpm', () => {
  it('{batch_size: 2, num_steps: 5, seed: 3} twice → identical [2,3,32,32] images in [-1,1], equal to the host sampler run here', async () => {
    const body = { batch_size: 2, num_steps: 5, seed: 3 };
    const [a, b, other] = await Promise.all([postJson(url('ddpm'), body), postJson(url('ddpm'), body), postJson(url('ddpm'), { ...body, seed: 4 })]);
    for (const r of [a, b, other]) expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
    expect(a.json).toMatchObject({ seed: 3, num_steps: 5, model: 'ddpm', version: 'v1' });
    const ia = flat(a.json['images']);
    expect(ia.shape).toEqual([2, 3, 32, 32]);
    expect(ia.data).toEqual(flat(b.json['images']).data);
    expect(ia.data.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(maxAbsDiff(ia.data, flat(other.json['images']).data)).toBeGreaterThan(1e-2);

    // The same request reproduced in this process: the exported ε-network + the host sampler.
    const manifest = readManifest('ddpm');
    const sched = manifest.schedule as Record<string, number[]>;
    const session = await ModelSession.load({ modelPath: path.join(exportDir('ddpm'), 'model.onnx'), threads: 1, warmupDims: { x_t: [2, 3, 32, 32], t: [2] } });
    try {
      const local = await sampleDdpm({
        eps: async (x, dims, t) => (await session.run({ x_t: { dtype: 'float32', dims: [...dims], data: x.slice() }, t: { dtype: 'int64', dims: [t.length], data: t.slice() } }))['eps']!.data as Float32Array,
        schedule: { betas: sched['betas']!, alphas_cumprod: sched['alphas_cumprod']!, posterior_variance: sched['posterior_variance']! },
        shape: [2, 3, 32, 32],
        numSteps: 5,
        seed: 3,
      });
      expect(maxAbsDiff(local.images, ia.data)).toBeLessThanOrEqual(1e-6);
    } finally {
      await session.dispose();
    }
  });
});

describe('cfg_ddpm', () => {
  it('{class_labels: [0, null], guidance_scale: 2.5, num_steps: 4, seed: 5} → 200, [2,3,32,32], reproducible', async () => {
    const body = { class_labels: [0, null], guidance_scale: 2.5, num_steps: 4, seed: 5 };
    const [a, b, uncond] = await Promise.all([postJson(url('cfg_ddpm'), body), postJson(url('cfg_ddpm'), body), postJson(url('cfg_ddpm'), { ...body, class_labels: [null, null] })]);
    for (const r of [a, b, uncond]) expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
    expect(a.json).toMatchObject({ seed: 5, num_steps: 4, class_labels: [0, null], guidance_scale: 2.5 });
    const ia = flat(a.json['images']);
    expect(ia.shape).toEqual([2, 3, 32, 32]);
    expect(ia.data).toEqual(flat(b.json['images']).data);
    expect(ia.data.every((v) => v >= -1 && v <= 1)).toBe(true);
    // Label 0 is a real class (upstream's truthiness bug would make it unconditional): sample 0
    // differs from the unconditional one, sample 1 (null in both) is the same.
    const iu = flat(uncond.json['images']).data;
    const per = ia.data.length / 2;
    expect(maxAbsDiff(ia.data.slice(0, per), iu.slice(0, per))).toBeGreaterThan(0);
    expect(ia.data.slice(per)).toEqual(iu.slice(per));
  });
});

describe('bad requests: 400 with a JSON error naming the problem; the error rate stays 0', () => {
  const cases: [string, Arch, unknown, RegExp][] = [
    ['a class label ≥ num_classes (4)', 'cfg_ddpm', { class_labels: [4, null], num_steps: 2, seed: 1 }, /class_labels\[0\].*4 classes/],
    ['a negative class label', 'cfg_ddpm', { class_labels: [0, -1], num_steps: 2, seed: 1 }, /class_labels\[1\]/],
    ['guidance_scale as a string', 'cfg_ddpm', { class_labels: [0, null], guidance_scale: '3.5', num_steps: 2, seed: 1 }, /'guidance_scale' must be a number from -100 to 100/],
    ['num_steps 0 (ddpm)', 'ddpm', { num_steps: 0, seed: 1 }, /'num_steps' must be an integer from 1 to 50/],
    ['num_steps > T (ddpm)', 'ddpm', { num_steps: 51, seed: 1 }, /'num_steps' must be an integer from 1 to 50 \(got 51\)/],
    ['num_steps 0 (cfg_ddpm)', 'cfg_ddpm', { num_steps: 0, seed: 1 }, /'num_steps' must be an integer from 1 to 50/],
    ['num_steps > T (cfg_ddpm)', 'cfg_ddpm', { num_steps: 51, seed: 1 }, /'num_steps'.*50/],
    ['batch_size 0 (ddpm)', 'ddpm', { batch_size: 0, num_steps: 2 }, /'batch_size' must be an integer from 1 to 8/],
    ['batch_size > max_batch_size (ddpm)', 'ddpm', { batch_size: MAX_BATCH + 1, num_steps: 2 }, /'batch_size' must be an integer from 1 to 8 \(got 9\)/],
    ['batch_size 0 (dcgan)', 'dcgan', { batch_size: 0 }, /'batch_size'/],
    ['batch_size > max_batch_size (vitgan)', 'vitgan', { batch_size: MAX_BATCH + 1, seed: 2 }, /'batch_size'.*8/],
    ['batch_size > max_batch_size (cfg_ddpm)', 'cfg_ddpm', { batch_size: MAX_BATCH + 1, num_steps: 2 }, /'batch_size'.*8/],
    ['more class labels than max_batch_size', 'cfg_ddpm', { class_labels: new Array(MAX_BATCH + 1).fill(null), num_steps: 2 }, /class_labels.*1 to 8/],
    ['a z batch above max_batch_size', 'dcgan', { z: nest(new Array((MAX_BATCH + 1) * 32).fill(0), [MAX_BATCH + 1, 32]) }, /batch 9, allowed 1 to 8/],
    ['a z of the wrong width', 'vitgan', { z: [[0.1, 0.2]] }, /input 'z' has shape \[1,2\].*\[B,32\]/],
    ['x values above 1 (vae, range [0,1])', 'vae', { x: nest(new Array(3 * 32 * 32).fill(1.5), [1, 3, 32, 32]) }, /values must be in \[0,1\]/],
    ['x values below 0 (vae)', 'vae', { x: nest(new Array(3 * 32 * 32).fill(-0.25), [1, 3, 32, 32]) }, /values must be in \[0,1\]/],
    ['x values out of [-1,1] (vqvae2)', 'vqvae2', { x: nest(new Array(3 * 32 * 32).fill(-1.5), [1, 3, 32, 32]) }, /values must be in \[-1,1\]/],
    ['vae x with the wrong shape', 'vae', { x: nest(new Array(3 * 16 * 16).fill(0.5), [1, 3, 16, 16]) }, /input 'x' has shape \[1,3,16,16\], the model expects \[B,3,32,32\]/],
    ['vae x with the wrong channel count', 'vae', { x: nest(new Array(32 * 32).fill(0.5), [1, 1, 32, 32]) }, /input 'x' has shape \[1,1,32,32\]/],
    ['vqvae2 x not a multiple of 16', 'vqvae2', { x: nest(new Array(3 * 24 * 24).fill(0.5), [1, 3, 24, 24]) }, /multiples of 16/],
    ['a ragged x', 'vae', { x: [[[[0.5, 0.5], [0.5]]]] }, /not a rectangular array/],
    ['an unknown field (ddpm)', 'ddpm', { num_steps: 2, seed: 1, steps: 3 }, /unknown field 'steps'/],
    ['an unknown field (vae)', 'vae', { x: nest(new Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]), temperature: 1 }, /unknown field 'temperature'/],
    ['an unknown field (dcgan)', 'dcgan', { batch_size: 1, seed: 1, truncation: 0.5 }, /unknown field 'truncation'/],
    ['z and seed together', 'dcgan', { z: [new Array(32).fill(0)], seed: 1 }, /either 'z' or 'batch_size'\/'seed'/],
    ['a negative seed', 'ddpm', { num_steps: 2, seed: -1 }, /'seed' must be an integer/],
    ['an unknown output_format', 'dcgan', { batch_size: 1, seed: 1, output_format: 'jpeg' }, /'output_format' must be "array", "png" or "safetensors"/],
    ['an unknown output_format without a seed', 'ddpm', { num_steps: 2, output_format: 'jpeg' }, /'output_format'/],
    ['batch_size disagreeing with class_labels', 'cfg_ddpm', { batch_size: 3, class_labels: [0, 1], num_steps: 2 }, /'batch_size' is 3 but 'class_labels' has 2/],
  ];
  for (const [what, arch, body, pattern] of cases) {
    it(`${arch}: ${what}`, async () => {
      const r = await postJson(url(arch), body);
      badSent[arch] = (badSent[arch] ?? 0) + 1;
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(typeof r.json['error']).toBe('string');
      expect(r.json['error']).toMatch(pattern);
    });
  }

  it('a body with a literal NaN (not valid JSON) → 400 naming the JSON problem, on every architecture', async () => {
    const bodies: [Arch, string][] = [
      ['ddpm', '{"batch_size": 1, "num_steps": NaN}'],
      ['dcgan', '{"z": [[NaN, 0.1]]}'],
      ['vae', '{"x": [[[[NaN]]]]}'],
      ['vqvae2', '{"x": NaN}'],
      ['vitgan', '{"seed": NaN}'],
      ['cfg_ddpm', '{"guidance_scale": NaN}'],
    ];
    for (const [arch, body] of bodies) {
      const r = await postRaw(url(arch), body);
      badSent[arch] = (badSent[arch] ?? 0) + 1;
      expect(r.status).toBe(400);
      expect(r.json['error']).toMatch(/not valid JSON/);
    }
  });

  it('GET /metrics: every 400 is counted as a client error, none as a server error, error_rate 0', async () => {
    expect(Object.keys(badSent).length).toBe(ARCHS.length);
    for (const arch of ARCHS) {
      const m = await metrics(arch);
      expect(m.error_rate, arch).toBe(0);
      expect(m.server_errors, arch).toBe(0);
      expect(m.client_errors, arch).toBeGreaterThanOrEqual(badSent[arch]!);
    }
    // The CLI view of the same deployment agrees.
    const status = await cliJson<{ metrics: Metrics | null }>(ws, ['deploy', 'status', '--name', 'cfg_ddpm']);
    expect(status.metrics?.error_rate).toBe(0);
    const r = await runCli(ws, ['deploy', 'list', '--json']);
    expect(r.code).toBe(0);
  });
});
