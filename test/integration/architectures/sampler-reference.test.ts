/**
 * The host-side diffusion samplers (main/sampling/diffusion-sampler.ts) reproduce FRAMEWORM's
 * reverse process. The compat ddpm / cfg_ddpm checkpoints are exported for real (Python + torch);
 * the TypeScript sampler runs around an ε-network; the Python reference
 * (templates/frameworm/diffusion_reference.py, eager PyTorch on the checkpoint) is fed the very
 * same x_T and per-step noises, drawn here with the project's noise generator exactly as the
 * sampler draws them (stream 0 for x_T, stream k + 1 at loop iteration k).
 *
 * Two ε-networks drive the TypeScript sampler:
 * - the exported ONNX model in onnxruntime-node (what the endpoint serves);
 * - the checkpoint's eager PyTorch model (torch_eps_server.py, loaded like the reference), which
 *   isolates the sampler itself — loop, timesteps, coefficients, guidance, noise indexing — from
 *   the ~1e-6 ONNX-vs-torch differences in ε.
 *
 * Why both: the compat CFG weights are synthetic, so its ε does not predict the noise and the
 * cosine schedule's first step (1/√α_{T−1} ≈ 32) starts a blow-up: the final state reaches
 * |x| ≈ 5e3 and 99.9 % of the clamped image is ±1. Perturbing ε by 1e-6 inside the Python
 * reference alone moves its clamped output by ~5e-3, so the ONNX-driven CFG comparison is judged
 * relative to the state's scale, and the absolute ≤ 1e-3 bound is applied to the torch-driven one.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { maxAbsDiff } from '../../fixtures/max-abs-diff.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { findPython, templatesDir, type PythonInfo } from '../../../main/export/python-finder.js';
import { sampleCfg, sampleDdpm, type CfgSchedule, type DdpmSchedule, type EpsNetwork, type ImageShape, type SampleResult } from '../../../main/sampling/diffusion-sampler.js';
import { INITIAL_NOISE_STREAM, normals, stepNoiseStream } from '../../../main/sampling/noise.js';
import { ModelSession } from '../../../main/serving/model-session.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

type Arch = 'ddpm' | 'cfg_ddpm';

/** The brief's bound on max |TS − reference| of the images. */
const TOLERANCE = 1e-3;
/** ONNX-driven CFG: max |Δ| of the raw final state over max |reference state|. */
const SCALE_RELATIVE_TOLERANCE = 1e-5;
/** ONNX-driven CFG, clamped images: see the header (ε noise alone moves them by ~5e-3). */
const CFG_ONNX_IMAGE_TOLERANCE = 2e-2;

const here = path.dirname(fileURLToPath(import.meta.url));
const SHAPE: ImageShape = [2, 3, 32, 32];

interface Exported {
  readonly checkpoint: string;
  readonly session: ModelSession;
  readonly torchEps: TorchEps;
  readonly schedule: Record<string, number[]>;
  readonly hp: Record<string, unknown>;
}

const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-sampler-ref-'));
let python: PythonInfo;
const exported: Partial<Record<Arch, Exported>> = {};
const measured: string[] = [];

/** A persistent Python process evaluating the checkpoint's eager ε-network. */
class TorchEps {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';
  readonly ready: Promise<string>;

  constructor(checkpoint: string) {
    this.child = spawn(python.executable, [path.join(here, 'torch_eps_server.py'), checkpoint], {
      cwd: templatesDir(),
      env: { ...process.env, PYTHONPATH: templatesDir(), OMP_NUM_THREADS: '1' },
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    this.ready = new Promise<string>((resolve, reject) => {
      this.waiting.push((line) => resolve((JSON.parse(line) as { arch: string }).arch));
      this.child.once('exit', (code) => reject(new Error(`torch_eps_server exited ${String(code)}: ${this.stderr}`)));
    });
  }

  readonly eps: EpsNetwork = (x, dims, t, classLabel) =>
    new Promise<Float32Array>((resolve, reject) => {
      this.waiting.push((line) => {
        const answer = JSON.parse(line) as { eps?: string; error?: string };
        if (answer.error !== undefined || answer.eps === undefined) return reject(new Error(`torch ε: ${answer.error ?? 'no answer'}`));
        const bytes = Buffer.from(answer.eps, 'base64');
        resolve(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
      });
      const request = {
        shape: [...dims],
        x: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64'),
        t: Array.from(t, Number),
        labels: classLabel ? Array.from(classLabel, Number) : null,
      };
      this.child.stdin.write(`${JSON.stringify(request)}\n`);
    });

  close(): void {
    this.child.stdin.end();
  }
}

async function exportArch(arch: Arch): Promise<Exported> {
  const dir = path.join(outRoot, arch);
  const checkpoint = compatPath(arch, 'best.pt');
  const torchEps = new TorchEps(checkpoint);
  const manifest = await exportCheckpoint({ python, checkpoint, outDir: dir, type: 'auto' });
  expect(manifest.type).toBe(arch);
  expect(await torchEps.ready).toBe(arch);
  const written = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { schedule: Record<string, unknown>; hyper_parameters: Record<string, unknown> };
  const schedule = Object.fromEntries(Object.entries(written.schedule).filter(([, v]) => Array.isArray(v))) as Record<string, number[]>;
  const warmupDims: Record<string, number[]> = { x_t: [...SHAPE], t: [SHAPE[0]] };
  if (arch === 'cfg_ddpm') warmupDims['class_label'] = [SHAPE[0]];
  const session = await ModelSession.load({ modelPath: path.join(dir, 'model.onnx'), threads: 1, warmupDims });
  return { checkpoint, session, torchEps, schedule, hp: written.hyper_parameters };
}

/** The ONNX ε-network. Feeds are transferred to the worker (detached), so each gets a copy. */
function onnxEps(session: ModelSession): EpsNetwork {
  return async (x, dims, t, classLabel) => {
    const out = await session.run({
      x_t: { dtype: 'float32', dims: [...dims], data: x.slice() },
      t: { dtype: 'int64', dims: [t.length], data: t.slice() },
      ...(classLabel ? { class_label: { dtype: 'int64' as const, dims: [classLabel.length], data: classLabel.slice() } } : {}),
    });
    return out['eps']!.data as Float32Array;
  };
}

/** Wraps an ε-network to record the batch shape, timestep and labels of every call. */
function recorded(eps: EpsNetwork, log: { dims: number[]; t: number[]; labels: number[] | null }[]): EpsNetwork {
  return (x, dims, t, classLabel) => {
    log.push({ dims: [...dims], t: Array.from(t, Number), labels: classLabel ? Array.from(classLabel, Number) : null });
    return eps(x, dims, t, classLabel);
  };
}

/** x_T and the per-step noises, drawn the way the sampler's loop draws them. */
function noiseSpec(seed: number, numSteps: number): { x_T: unknown; noises: unknown[] } {
  const size = SHAPE.reduce((a, b) => a * b, 1);
  const tensor = (data: Float32Array): { shape: number[]; data: number[] } => ({ shape: [...SHAPE], data: Array.from(data) });
  return {
    x_T: tensor(normals(seed, INITIAL_NOISE_STREAM, size)),
    noises: Array.from({ length: numSteps - 1 }, (_, k) => tensor(normals(seed, stepNoiseStream(k), size))),
  };
}

interface ReferenceOut {
  arch: string;
  timesteps: number[];
  images: { shape: number[]; dtype: string; data: number[] };
}

/** `python3 -m frameworm.diffusion_reference --checkpoint … --noise-json FILE`. */
function runReference(checkpoint: string, spec: Record<string, unknown>, label: string): Promise<ReferenceOut> {
  const file = path.join(outRoot, `${label}.json`);
  fs.writeFileSync(file, JSON.stringify(spec));
  return new Promise((resolve, reject) => {
    const child = spawn(python.executable, ['-m', 'frameworm.diffusion_reference', '--checkpoint', checkpoint, '--noise-json', file], {
      cwd: templatesDir(),
      env: { ...process.env, PYTHONPATH: templatesDir(), OMP_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`diffusion_reference exited ${String(code)}: ${stderr.slice(-2000)}`));
      else resolve(JSON.parse(stdout) as ReferenceOut);
    });
  });
}


function maxAbs(a: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] as number));
  return max;
}

const clamp1 = (v: number): number => Math.min(1, Math.max(-1, v));

interface Comparison {
  /** max |TS − reference| of the clamped images. */
  readonly images: number;
  /** max |TS − reference| of the raw final states. */
  readonly raw: number;
  /** raw / max |reference state|. */
  readonly scaleRelative: number;
}

/**
 * Runs the sampler (clamped, as served, and raw) and the reference (raw, clamped here exactly as
 * its clamp=True path does) on the same noise, checks the bookkeeping and returns the differences.
 */
async function compareWithReference(
  label: string,
  sample: (eps: EpsNetwork, clamp: boolean) => Promise<SampleResult>,
  eps: EpsNetwork,
  reference: Promise<ReferenceOut>,
): Promise<Comparison> {
  const ts = await sample(eps, true);
  const tsRaw = await sample(eps, false);
  const ref = await reference;
  expect(ref.images.shape).toEqual([...SHAPE]);
  expect(ref.timesteps).toEqual(ts.timesteps);
  expect(ts.dims).toEqual(SHAPE);
  // The sampler's default clamp is the reference's clamp(x, −1, 1) of its raw final state.
  expect(Array.from(ts.images)).toEqual(Array.from(tsRaw.images, clamp1));
  const refClamped = ref.images.data.map(clamp1);
  const images = maxAbsDiff(ts.images, refClamped);
  const raw = maxAbsDiff(tsRaw.images, ref.images.data);
  const scale = maxAbs(ref.images.data);
  const unsaturated = refClamped.filter((v) => Math.abs(v) < 1).length / refClamped.length;
  const line = `${label}: images max|Δ| = ${images.toExponential(2)}, raw state max|Δ| = ${raw.toExponential(2)} (state scale ${scale.toPrecision(3)}, scale-relative ${(raw / scale).toExponential(2)}; ${(unsaturated * 100).toFixed(1)}% of image values unsaturated)`;
  measured.push(line);
  console.log(line);
  return { images, raw, scaleRelative: raw / Math.max(1, scale) };
}

beforeAll(async () => {
  python = await findPython(null);
  const [ddpm, cfg] = await Promise.all([exportArch('ddpm'), exportArch('cfg_ddpm')]);
  exported.ddpm = ddpm;
  exported.cfg_ddpm = cfg;
}, 120_000);

afterAll(async () => {
  for (const e of Object.values(exported)) e.torchEps.close();
  await Promise.all(Object.values(exported).map((e) => e.session.dispose()));
  fs.rmSync(outRoot, { recursive: true, force: true });
  if (measured.length) console.log(`sampler vs FRAMEWORM reference:\n  ${measured.join('\n  ')}`);
});

function ddpmSchedule(e: Exported): DdpmSchedule {
  return { betas: e.schedule['betas']!, alphas_cumprod: e.schedule['alphas_cumprod']!, posterior_variance: e.schedule['posterior_variance']! };
}

function cfgSchedule(e: Exported): CfgSchedule {
  return { betas: e.schedule['betas']!, alphas: e.schedule['alphas']!, alphas_cumprod: e.schedule['alphas_cumprod']! };
}

describe('host DDPM sampler = FRAMEWORM reverse process (Python reference, same noise)', () => {
  for (const numSteps of [50, 10]) {
    it(`ddpm, num_steps ${numSteps}${numSteps === 50 ? ' (= T: upstream p_sample loop)' : ' (strided)'}`, async () => {
      const e = exported.ddpm!;
      const T = e.schedule['betas']!.length;
      expect(T).toBe(50);
      const seed = 1234 + numSteps;
      const reference = runReference(e.checkpoint, { ...noiseSpec(seed, numSteps), num_steps: numSteps, clamp: false }, `ddpm-${numSteps}`);
      const calls: { dims: number[]; t: number[]; labels: number[] | null }[] = [];
      const sample = (eps: EpsNetwork, clamp: boolean): Promise<SampleResult> => sampleDdpm({ eps: recorded(eps, calls), schedule: ddpmSchedule(e), shape: SHAPE, numSteps, seed, clamp });

      const onnx = await compareWithReference(`ddpm S=${numSteps}, ONNX ε`, sample, onnxEps(e.session), reference);
      // One ε call of batch B per step, at the strided timesteps T−1 … 0.
      const visited = calls.slice(0, numSteps).map((c) => c.t[0]!);
      expect(calls.slice(0, numSteps).every((c) => c.dims.join() === SHAPE.join() && c.labels === null && new Set(c.t).size === 1)).toBe(true);
      expect(visited[0]).toBe(T - 1);
      expect(visited.at(-1)).toBe(0);
      expect(visited).toHaveLength(numSteps);
      expect(onnx.images).toBeLessThanOrEqual(TOLERANCE);
      expect(onnx.raw).toBeLessThanOrEqual(TOLERANCE);

      const torch = await compareWithReference(`ddpm S=${numSteps}, torch ε`, sample, e.torchEps.eps, reference);
      expect(torch.images).toBeLessThanOrEqual(TOLERANCE);
      expect(torch.raw).toBeLessThanOrEqual(TOLERANCE);

      // The noise is really used: another seed gives other images.
      const other = await sampleDdpm({ eps: onnxEps(e.session), schedule: ddpmSchedule(e), shape: SHAPE, numSteps, seed: seed + 1 });
      const same = await sampleDdpm({ eps: onnxEps(e.session), schedule: ddpmSchedule(e), shape: SHAPE, numSteps, seed });
      expect(maxAbsDiff(other.images, same.images)).toBeGreaterThan(0.1);
    }, 120_000);
  }
});

describe('host CFG sampler = FRAMEWORM guided reverse process (Python reference, same noise)', () => {
  const cases: { numSteps: number; labels: (number | null)[]; w: number }[] = [
    { numSteps: 50, labels: [2, null], w: 3 },
    { numSteps: 10, labels: [0, 3], w: 3 },
    { numSteps: 10, labels: [null, 1], w: 3 },
  ];
  for (const c of cases) {
    it(`cfg_ddpm, labels ${JSON.stringify(c.labels)}, w = ${c.w}, num_steps ${c.numSteps}`, async () => {
      const e = exported.cfg_ddpm!;
      const numClasses = e.hp['num_classes'] as number;
      expect(numClasses).toBe(4);
      expect(e.schedule['betas']).toHaveLength(50);
      const seed = 77 + c.numSteps + (c.labels[0] ?? 9);
      const spec = { ...noiseSpec(seed, c.numSteps), num_steps: c.numSteps, class_labels: c.labels, guidance_scale: c.w, clamp: false };
      const reference = runReference(e.checkpoint, spec, `cfg-${c.numSteps}-${c.labels.join('_')}`);
      const calls: { dims: number[]; t: number[]; labels: number[] | null }[] = [];
      const sample = (eps: EpsNetwork, clamp: boolean): Promise<SampleResult> =>
        sampleCfg({ eps: recorded(eps, calls), schedule: cfgSchedule(e), shape: SHAPE, numSteps: c.numSteps, seed, classLabels: c.labels, numClasses, guidanceScale: c.w, clamp });
      const label = `cfg_ddpm S=${c.numSteps} labels=${JSON.stringify(c.labels)} w=${c.w}`;

      const torch = await compareWithReference(`${label}, torch ε`, sample, e.torchEps.eps, reference);
      expect(torch.images).toBeLessThanOrEqual(TOLERANCE);
      expect(torch.raw).toBeLessThanOrEqual(TOLERANCE);
      // One ε call of batch 2B per step: the labels (null → the null class 4) then all-null.
      const expectedLabels = [...c.labels.map((l) => l ?? numClasses), ...c.labels.map(() => numClasses)];
      expect(calls).toHaveLength(2 * c.numSteps);
      expect(calls.every((call) => call.dims[0] === 2 * SHAPE[0] && call.labels?.join() === expectedLabels.join())).toBe(true);

      const onnx = await compareWithReference(`${label}, ONNX ε`, sample, onnxEps(e.session), reference);
      expect(onnx.scaleRelative).toBeLessThanOrEqual(SCALE_RELATIVE_TOLERANCE);
      expect(onnx.images).toBeLessThanOrEqual(CFG_ONNX_IMAGE_TOLERANCE);

      if (c.numSteps === 50) return;
      // Guidance matters: the same noise without labels lands elsewhere.
      const uncond = await sampleCfg({ eps: onnxEps(e.session), schedule: cfgSchedule(e), shape: SHAPE, numSteps: c.numSteps, seed, classLabels: [null, null], numClasses, guidanceScale: c.w, clamp: false });
      const guided = await sampleCfg({ eps: onnxEps(e.session), schedule: cfgSchedule(e), shape: SHAPE, numSteps: c.numSteps, seed, classLabels: c.labels, numClasses, guidanceScale: c.w, clamp: false });
      expect(maxAbsDiff(uncond.images, guided.images)).toBeGreaterThan(1e-2);
    }, 120_000);
  }

  it('cfg_ddpm, all labels null (unconditional, one batch-B ε call per step), num_steps 50', async () => {
    const e = exported.cfg_ddpm!;
    const seed = 4242;
    const spec = { ...noiseSpec(seed, 50), num_steps: 50, class_labels: [null, null], guidance_scale: 3, clamp: false };
    const reference = runReference(e.checkpoint, spec, 'cfg-uncond');
    const calls: { dims: number[]; t: number[]; labels: number[] | null }[] = [];
    const sample = (eps: EpsNetwork, clamp: boolean): Promise<SampleResult> =>
      sampleCfg({ eps: recorded(eps, calls), schedule: cfgSchedule(e), shape: SHAPE, numSteps: 50, seed, classLabels: [null, null], numClasses: 4, guidanceScale: 3, clamp });
    const torch = await compareWithReference('cfg_ddpm S=50 labels=[null,null] w=3, torch ε', sample, e.torchEps.eps, reference);
    expect(torch.images).toBeLessThanOrEqual(TOLERANCE);
    expect(torch.raw).toBeLessThanOrEqual(TOLERANCE);
    expect(calls.every((call) => call.dims[0] === SHAPE[0] && call.labels?.join() === '4,4')).toBe(true);
    expect(calls.map((call) => call.t[0])).toEqual([...Array.from({ length: 50 }, (_, i) => 49 - i), ...Array.from({ length: 50 }, (_, i) => 49 - i)]);
  }, 120_000);
});
