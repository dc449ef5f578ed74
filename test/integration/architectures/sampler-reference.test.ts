/**
 * The host-side diffusion samplers (main/sampling/diffusion-sampler.ts) reproduce FRAMEWORM's
 * reverse process: the compat ddpm / cfg_ddpm checkpoints are exported for real (Python + torch),
 * the TypeScript sampler runs around the ONNX ε-network in onnxruntime-node, and the Python
 * reference (templates/frameworm/diffusion_reference.py, eager PyTorch on the checkpoint) is fed
 * the very same x_T and per-step noises, drawn here with the project's noise generator exactly as
 * the sampler draws them (stream 0 for x_T, stream k + 1 at loop iteration k).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { findPython, templatesDir, type PythonInfo } from '../../../main/export/python-finder.js';
import { sampleCfg, sampleDdpm, type CfgSchedule, type DdpmSchedule, type EpsNetwork, type ImageShape, type SampleResult } from '../../../main/sampling/diffusion-sampler.js';
import { INITIAL_NOISE_STREAM, normals, stepNoiseStream } from '../../../main/sampling/noise.js';
import { ModelSession } from '../../../main/serving/model-session.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

/** The brief's bound; the measured differences are printed (expected ~1e-5 or better). */
const TOLERANCE = 1e-3;

interface Exported {
  readonly checkpoint: string;
  readonly session: ModelSession;
  readonly schedule: Record<string, number[]>;
  readonly hp: Record<string, unknown>;
}

const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-sampler-ref-'));
let python: PythonInfo;
const exported: Partial<Record<'ddpm' | 'cfg_ddpm', Exported>> = {};
const measured: string[] = [];

async function exportArch(arch: 'ddpm' | 'cfg_ddpm', shape: ImageShape): Promise<Exported> {
  const dir = path.join(outRoot, arch);
  const checkpoint = compatPath(arch, 'best.pt');
  const manifest = await exportCheckpoint({ python, checkpoint, outDir: dir, type: 'auto' });
  expect(manifest.type).toBe(arch);
  const written = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { schedule: Record<string, unknown>; hyper_parameters: Record<string, unknown> };
  const schedule = Object.fromEntries(Object.entries(written.schedule).filter(([, v]) => Array.isArray(v))) as Record<string, number[]>;
  const warmupDims: Record<string, number[]> = { x_t: [...shape], t: [shape[0]] };
  if (arch === 'cfg_ddpm') warmupDims['class_label'] = [shape[0]];
  const session = await ModelSession.load({ modelPath: path.join(dir, 'model.onnx'), threads: 1, warmupDims });
  return { checkpoint, session, schedule, hp: written.hyper_parameters };
}

/** The ONNX ε-network. Feeds are transferred to the worker (detached), so each gets a copy. */
function epsNetwork(session: ModelSession, calls: { shapes: number[][] }): EpsNetwork {
  return async (x, dims, t, classLabel) => {
    calls.shapes.push([...dims]);
    const out = await session.run({
      x_t: { dtype: 'float32', dims: [...dims], data: x.slice() },
      t: { dtype: 'int64', dims: [t.length], data: t.slice() },
      ...(classLabel ? { class_label: { dtype: 'int64' as const, dims: [classLabel.length], data: classLabel.slice() } } : {}),
    });
    return out['eps']!.data as Float32Array;
  };
}

/** x_T and the per-step noises, drawn the way runReverse draws them. */
function noiseSpec(seed: number, shape: ImageShape, numSteps: number): { x_T: unknown; noises: unknown[] } {
  const size = shape.reduce((a, b) => a * b, 1);
  const tensor = (data: Float32Array): { shape: number[]; data: number[] } => ({ shape: [...shape], data: Array.from(data) });
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

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    // NaN must fail the comparison, not vanish in Math.max.
    max = Number.isNaN(d) ? Infinity : Math.max(max, d);
  }
  return max;
}

/** Fraction of values strictly inside (−1, 1): a comparison of all-clamped images proves little. */
function unsaturated(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i] as number) < 1) n++;
  return n / values.length;
}

/**
 * Compares the sampler with the reference: the clamped images (what the endpoint serves) within
 * TOLERANCE, and the raw final states (every value counts, also where the clamp saturates)
 * within TOLERANCE relative to max(1, |value|).
 */
function compare(label: string, ts: SampleResult, tsRaw: SampleResult, refRaw: ReferenceOut): void {
  expect(refRaw.images.shape).toEqual([...ts.dims]);
  expect(refRaw.timesteps).toEqual(ts.timesteps);
  const refClamped = refRaw.images.data.map((v) => Math.min(1, Math.max(-1, v)));
  const clamped = maxAbsDiff(ts.images, refClamped);
  let rawRel = 0;
  for (let i = 0; i < tsRaw.images.length; i++) {
    const r = refRaw.images.data[i] as number;
    const d = Math.abs((tsRaw.images[i] as number) - r) / Math.max(1, Math.abs(r));
    rawRel = Number.isNaN(d) ? Infinity : Math.max(rawRel, d);
  }
  const line = `${label}: images max |TS − reference| = ${clamped.toExponential(2)} (${(unsaturated(refClamped) * 100).toFixed(0)}% of values unsaturated); raw final state max rel diff = ${rawRel.toExponential(2)}`;
  measured.push(line);
  console.log(line);
  expect(clamped).toBeLessThanOrEqual(TOLERANCE);
  expect(rawRel).toBeLessThanOrEqual(TOLERANCE);
  // The sampler's default clamp is exactly the reference's clamp(x, −1, 1) of its raw state.
  expect(Array.from(ts.images)).toEqual(Array.from(tsRaw.images, (v) => Math.min(1, Math.max(-1, v))));
}

const SHAPE: ImageShape = [2, 3, 32, 32];

beforeAll(async () => {
  python = await findPython(null);
  const [ddpm, cfg] = await Promise.all([exportArch('ddpm', SHAPE), exportArch('cfg_ddpm', SHAPE)]);
  exported.ddpm = ddpm;
  exported.cfg_ddpm = cfg;
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(exported).map((e) => e.session.dispose()));
  fs.rmSync(outRoot, { recursive: true, force: true });
  if (measured.length) console.log(`sampler vs reference:\n  ${measured.join('\n  ')}`);
});

function ddpmSchedule(e: Exported): DdpmSchedule {
  return { betas: e.schedule['betas']!, alphas_cumprod: e.schedule['alphas_cumprod']!, posterior_variance: e.schedule['posterior_variance']! };
}

function cfgSchedule(e: Exported): CfgSchedule {
  return { betas: e.schedule['betas']!, alphas: e.schedule['alphas']!, alphas_cumprod: e.schedule['alphas_cumprod']! };
}

describe('host DDPM sampler = FRAMEWORM reverse process (Python reference, same noise)', () => {
  for (const numSteps of [50, 10]) {
    it(`ddpm, num_steps ${numSteps}${numSteps === 50 ? ' (= T, upstream p_sample loop)' : ' (strided)'}`, async () => {
      const e = exported.ddpm!;
      const T = e.schedule['betas']!.length;
      expect(T).toBe(50);
      const seed = 1234 + numSteps;
      const calls = { shapes: [] as number[][] };
      const run = (clamp: boolean): Promise<SampleResult> => sampleDdpm({ eps: epsNetwork(e.session, calls), schedule: ddpmSchedule(e), shape: SHAPE, numSteps, seed, clamp });
      const ts = await run(true);
      expect(calls.shapes).toHaveLength(numSteps);
      expect(calls.shapes.every((s) => s.join() === SHAPE.join())).toBe(true);
      const tsRaw = await run(false);
      const spec = { ...noiseSpec(seed, SHAPE, numSteps), num_steps: numSteps };
      const refRaw = await runReference(e.checkpoint, { ...spec, clamp: false }, `ddpm-${numSteps}`);
      expect(refRaw.arch).toBe('ddpm');
      expect(ts.timesteps[0]).toBe(T - 1);
      expect(ts.timesteps.at(-1)).toBe(0);
      compare(`ddpm S=${numSteps}`, ts, tsRaw, refRaw);
      // The noise is really used: a different seed gives different images.
      const other = await sampleDdpm({ eps: epsNetwork(e.session, calls), schedule: ddpmSchedule(e), shape: SHAPE, numSteps, seed: seed + 1 });
      expect(maxAbsDiff(other.images, ts.images)).toBeGreaterThan(0.1);
    }, 120_000);
  }
});

describe('host CFG sampler = FRAMEWORM guided reverse process (Python reference, same noise)', () => {
  const cases: { numSteps: number; labels: (number | null)[]; w: number }[] = [
    { numSteps: 50, labels: [2, null], w: 3 },
    { numSteps: 10, labels: [0, 3], w: 3 },
    { numSteps: 50, labels: [null, null], w: 3 },
  ];
  for (const c of cases) {
    it(`cfg_ddpm, labels ${JSON.stringify(c.labels)}, w = ${c.w}, num_steps ${c.numSteps}`, async () => {
      const e = exported.cfg_ddpm!;
      const numClasses = e.hp['num_classes'] as number;
      expect(numClasses).toBe(4);
      const seed = 77 + c.numSteps + (c.labels[0] ?? 9);
      const calls = { shapes: [] as number[][] };
      const run = (clamp: boolean): Promise<SampleResult> =>
        sampleCfg({ eps: epsNetwork(e.session, calls), schedule: cfgSchedule(e), shape: SHAPE, numSteps: c.numSteps, seed, classLabels: c.labels, numClasses, guidanceScale: c.w, clamp });
      const ts = await run(true);
      const conditional = c.labels.some((l) => l !== null);
      // One ε call per step: batch 2B (conditional half + unconditional half), or B if all null.
      expect(calls.shapes).toHaveLength(c.numSteps);
      expect(calls.shapes[0]![0]).toBe(conditional ? 2 * SHAPE[0] : SHAPE[0]);
      const tsRaw = await run(false);
      const spec = { ...noiseSpec(seed, SHAPE, c.numSteps), num_steps: c.numSteps, class_labels: c.labels, guidance_scale: c.w };
      const label = `cfg-${c.numSteps}-${c.labels.join('_')}`;
      const refRaw = await runReference(e.checkpoint, { ...spec, clamp: false }, label);
      expect(refRaw.arch).toBe('cfg_ddpm');
      compare(`cfg_ddpm S=${c.numSteps} labels=${JSON.stringify(c.labels)} w=${c.w}`, ts, tsRaw, refRaw);
      if (conditional) {
        // Guidance matters: the same noise without labels lands elsewhere.
        const uncond = await sampleCfg({ eps: epsNetwork(e.session, calls), schedule: cfgSchedule(e), shape: SHAPE, numSteps: c.numSteps, seed, classLabels: [null, null], numClasses, guidanceScale: c.w, clamp: false });
        expect(maxAbsDiff(uncond.images, tsRaw.images)).toBeGreaterThan(1e-2);
      }
    }, 120_000);
  }
});
