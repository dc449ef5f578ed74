import { describe, expect, it } from 'vitest';
import { FramewormError, toFramewormError } from '../../../main/common/errors.js';
import { maxAbsDiff } from '../../fixtures/max-abs-diff.js';
import { sampleCfg, sampleDdpm, type EpsNetwork, type ImageShape } from '../../../main/sampling/diffusion-sampler.js';
import { SamplerInputError } from '../../../main/sampling/errors.js';
import { normals } from '../../../main/sampling/noise.js';
import { stridedTimesteps } from '../../../main/sampling/reverse-step.js';
import { cfgSchedule, ddpmSchedule } from './schedules.js';

const T = 50;
const DDPM = ddpmSchedule(T);
const CFG = cfgSchedule(T);
const SHAPE: ImageShape = [2, 3, 4, 4];
const SIZE = 2 * 3 * 4 * 4;
const NUM_CLASSES = 4;

/** Synthetic ε = 0.1·x + 0.02·label + 0.001·t, per sample (label = num_classes for null). */
function syntheticEps(calls: { batch: number; t: bigint[]; labels: bigint[] | null }[] = []): EpsNetwork {
  return (x, dims, t, labels) => {
    calls.push({ batch: dims[0], t: [...t], labels: labels ? [...labels] : null });
    const per = dims[1] * dims[2] * dims[3];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const b = Math.floor(i / per);
      const label = labels ? Number(labels[b]) : 0;
      out[i] = 0.1 * (x[i] as number) + 0.02 * label + 0.001 * Number(t[b]);
    }
    return Promise.resolve(out);
  };
}

/** The brief's formulas, written plainly in float64, as an independent check of the sampler. */
function referenceF64(
  kind: 'ddpm' | 'cfg',
  numSteps: number,
  seed: number,
  epsOf: (x: Float64Array, t: number) => Float64Array,
): Float64Array {
  const ac = kind === 'ddpm' ? DDPM.alphas_cumprod : CFG.alphas_cumprod;
  const betas = kind === 'ddpm' ? DDPM.betas : CFG.betas;
  const taus = numSteps === T ? Array.from({ length: T }, (_, i) => T - 1 - i) : stridedTimesteps(T, numSteps);
  let x = Float64Array.from(normals(seed, 0, SIZE));
  taus.forEach((t, k) => {
    const last = k === taus.length - 1;
    const acT = ac[t] as number;
    const acP = last ? 1 : (ac[taus[k + 1] as number] as number);
    const full = numSteps === T;
    const beta = full ? (betas[t] as number) : 1 - acT / acP;
    const alpha = full && kind === 'cfg' ? (CFG.alphas[t] as number) : 1 - beta;
    let variance = kind === 'cfg' ? beta : (beta * (1 - acP)) / (1 - acT);
    if (full && kind === 'ddpm') variance = DDPM.posterior_variance[t] as number;
    const eps = epsOf(x, t);
    const z = last ? null : normals(seed, k + 1, SIZE);
    x = x.map((v, i) => (v - (beta / Math.sqrt(1 - acT)) * (eps[i] as number)) / Math.sqrt(alpha) + (z ? Math.sqrt(variance) * (z[i] as number) : 0));
  });
  return x;
}


/** max |a − b| relative to the largest |b| (at least 1): float32 error scales with the values. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i] as number));
  return maxAbsDiff(a, b) / scale;
}

describe('sampleDdpm', () => {
  for (const numSteps of [T, 10, 1]) {
    it(`matches a float64 re-implementation of the update (${numSteps} of ${T} steps)`, async () => {
      const got = await sampleDdpm({ eps: syntheticEps(), schedule: DDPM, shape: SHAPE, numSteps, seed: 7, clamp: false });
      const want = referenceF64('ddpm', numSteps, 7, (x, t) => x.map((v) => 0.1 * v + 0.001 * t));
      console.log(`ddpm ${numSteps} steps: max|x| ${Math.max(...want.map(Math.abs)).toFixed(1)}, rel diff ${relDiff(got.images, want).toExponential(2)}`);
      expect(relDiff(got.images, want)).toBeLessThan(1e-6);
      expect(got.timesteps).toEqual(stridedTimesteps(T, numSteps));
    });
  }

  it('clamps to [−1, 1] by default, is reproducible per seed and differs across seeds', async () => {
    const run = (seed: number) => sampleDdpm({ eps: syntheticEps(), schedule: DDPM, shape: SHAPE, numSteps: 8, seed });
    const [a, b, c] = await Promise.all([run(3), run(3), run(4)]);
    expect(a.images).toEqual(b.images);
    expect(maxAbsDiff(a.images, c.images)).toBeGreaterThan(0.1);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(1);
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(-1);
    expect(a.dims).toEqual(SHAPE);
  });

  it('calls ε once per step with t [B] int64 and reports progress', async () => {
    const calls: { batch: number; t: bigint[]; labels: bigint[] | null }[] = [];
    const progress: number[] = [];
    await sampleDdpm({ eps: syntheticEps(calls), schedule: DDPM, shape: SHAPE, numSteps: 5, seed: 1, onStep: (p) => progress.push(p.timestep) });
    const taus = stridedTimesteps(T, 5);
    expect(taus).toEqual([49, 37, 25, 12, 0]);
    expect(calls.map((c) => c.t)).toEqual(taus.map((t) => [BigInt(t), BigInt(t)]));
    expect(calls.every((c) => c.labels === null && c.batch === 2)).toBe(true);
    expect(progress).toEqual(taus);
  });

  it('rejects num_steps outside 1..T and bad seeds as SamplerInputError (a 4xx) before calling ε', async () => {
    const calls: { batch: number; t: bigint[]; labels: bigint[] | null }[] = [];
    for (const numSteps of [0, T + 1, 2.5, Number.NaN]) {
      await expect(sampleDdpm({ eps: syntheticEps(calls), schedule: DDPM, shape: SHAPE, numSteps, seed: 1 })).rejects.toThrow(SamplerInputError);
    }
    for (const seed of [-1, 0.5, 2 ** 53]) {
      await expect(sampleDdpm({ eps: syntheticEps(calls), schedule: DDPM, shape: SHAPE, seed })).rejects.toThrow(SamplerInputError);
    }
    await expect(sampleDdpm({ eps: syntheticEps(calls), schedule: DDPM, shape: [0, 3, 4, 4], seed: 1 })).rejects.toThrow(SamplerInputError);
    expect(calls).toEqual([]);
    const err = await sampleDdpm({ eps: syntheticEps(), schedule: DDPM, shape: SHAPE, numSteps: 0, seed: 1 }).catch((e: unknown) => e);
    expect(toFramewormError(err).code).toBe('E_INPUT');
  });

  it('treats a wrong-sized ε output as a runtime fault, and stops when aborted', async () => {
    const bad: EpsNetwork = () => Promise.resolve(new Float32Array(3));
    await expect(sampleDdpm({ eps: bad, schedule: DDPM, shape: SHAPE, seed: 1 })).rejects.toThrow(FramewormError);
    const controller = new AbortController();
    const calls: { batch: number; t: bigint[]; labels: bigint[] | null }[] = [];
    const run = sampleDdpm({
      eps: syntheticEps(calls), schedule: DDPM, shape: SHAPE, seed: 1,
      onStep: (p) => { if (p.step === 3) controller.abort(new Error('request timed out')); },
      signal: controller.signal,
    });
    await expect(run).rejects.toThrow('request timed out');
    expect(calls.length).toBe(3);
  });
});

describe('sampleCfg', () => {
  const labels = [2, null];
  const guided = (w: number) => (x: Float64Array, t: number): Float64Array => {
    // ε_c and ε_u of syntheticEps, combined in float64; sample 1 is unconditional (label 4).
    const per = SIZE / 2;
    return x.map((v, i) => {
      const label = i < per ? 2 : NUM_CLASSES;
      const c = 0.1 * v + 0.02 * label + 0.001 * t;
      const u = 0.1 * v + 0.02 * NUM_CLASSES + 0.001 * t;
      return u + w * (c - u);
    });
  };

  for (const numSteps of [T, 7]) {
    it(`matches a float64 re-implementation with guidance 3 (${numSteps} of ${T} steps)`, async () => {
      const got = await sampleCfg({ eps: syntheticEps(), schedule: CFG, shape: SHAPE, numSteps, seed: 11, classLabels: labels, numClasses: NUM_CLASSES, guidanceScale: 3, clamp: false });
      const want = referenceF64('cfg', numSteps, 11, guided(3));
      // The cosine schedule ends at ᾱ ≈ 1e-6, so the first steps scale x by up to 1/√α ≈ 250:
      // float32 rounding is relative to values in the hundreds here.
      console.log(`cfg ${numSteps} steps: max|x| ${Math.max(...want.map(Math.abs)).toFixed(1)}, rel diff ${relDiff(got.images, want).toExponential(2)}`);
      expect(relDiff(got.images, want)).toBeLessThan(1e-6);
    });
  }

  it('makes one ε call of batch 2B per step: conditional labels first, then the null class', async () => {
    const calls: { batch: number; t: bigint[]; labels: bigint[] | null }[] = [];
    await sampleCfg({ eps: syntheticEps(calls), schedule: CFG, shape: SHAPE, numSteps: 3, seed: 2, classLabels: [0, null], numClasses: NUM_CLASSES, guidanceScale: 0.5 });
    expect(calls.map((c) => c.batch)).toEqual([4, 4, 4]);
    expect(calls[0]?.labels).toEqual([0n, 4n, 4n, 4n]); // label 0 stays conditional at w ≤ 1
    expect(calls[0]?.t).toEqual([49n, 49n, 49n, 49n]);
  });

  it('skips the conditional half when w = 0 or every label is null, with the same result', async () => {
    for (const [classLabels, guidanceScale] of [[[1, 3], 0], [[null, null], 5]] as const) {
      const calls: { batch: number; t: bigint[]; labels: bigint[] | null }[] = [];
      const got = await sampleCfg({ eps: syntheticEps(calls), schedule: CFG, shape: SHAPE, numSteps: 4, seed: 5, classLabels: [...classLabels], numClasses: NUM_CLASSES, guidanceScale });
      expect(calls.every((c) => c.batch === 2 && c.labels?.every((l) => l === 4n))).toBe(true);
      const unconditional = await sampleCfg({ eps: syntheticEps(), schedule: CFG, shape: SHAPE, numSteps: 4, seed: 5, classLabels: [null, null], numClasses: NUM_CLASSES, guidanceScale: 1 });
      expect(got.images).toEqual(unconditional.images);
    }
  });

  it('computes guidance ε_u + w(ε_c − ε_u) in float32 for w below, at and above 1', async () => {
    for (const w of [-1, 0.5, 1, 7.5]) {
      // One step (τ = T−1 straight to x_0): x_0 = (x_T − β_eff/√(1−ᾱ)·ε)/√α_eff, no noise.
      const got = await sampleCfg({ eps: syntheticEps(), schedule: CFG, shape: SHAPE, numSteps: 1, seed: 9, classLabels: labels, numClasses: NUM_CLASSES, guidanceScale: w, clamp: false });
      const want = referenceF64('cfg', 1, 9, guided(w));
      expect(relDiff(got.images, want)).toBeLessThan(1e-6);
    }
  });

  it('validates labels, guidance scale and num_steps', async () => {
    const base = { eps: syntheticEps(), schedule: CFG, shape: SHAPE, seed: 1, numClasses: NUM_CLASSES, guidanceScale: 2, classLabels: [0, 1] };
    const bad = [
      { classLabels: [0, 4] }, { classLabels: [-1, 0] }, { classLabels: [0.5, 0] }, { classLabels: [0] },
      { guidanceScale: Number.NaN }, { guidanceScale: Number.POSITIVE_INFINITY }, { numSteps: 0 }, { numSteps: T + 1 },
    ];
    for (const change of bad) await expect(sampleCfg({ ...base, ...change })).rejects.toThrow(SamplerInputError);
    await expect(sampleCfg({ ...base, numClasses: 0 })).rejects.toThrow(FramewormError);
  });
});

describe('stridedTimesteps', () => {
  it('is round-half-up of linspace(T−1, 0, S), strictly decreasing from T−1 to 0', () => {
    for (const [total, steps] of [[1000, 50], [1000, 999], [50, 2], [50, 49], [7, 4], [1000, 3]] as const) {
      const taus = stridedTimesteps(total, steps);
      expect(taus.length).toBe(steps);
      expect(taus[0]).toBe(total - 1);
      expect(taus.at(-1)).toBe(0);
      taus.forEach((t, i) => {
        expect(t).toBe(Math.floor(((total - 1) * (steps - 1 - i)) / (steps - 1) + 0.5));
        if (i > 0) expect(t).toBeLessThan(taus[i - 1] as number);
      });
    }
    expect(stridedTimesteps(7, 1)).toEqual([6]);
    expect(stridedTimesteps(3)).toEqual([2, 1, 0]);
  });
});
