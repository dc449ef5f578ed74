/**
 * Host-side reverse diffusion for deployed DDPM and CFG-DDPM models (DESIGN.md §5: the graph is
 * only the ε-network; the loop and its noise run here).
 *
 * Formulas: templates/frameworm/diffusion_reference.py (see reverse-step.ts). Noise: the
 * project's generator (noise.ts), drawn so every target reproduces a seeded request:
 *   x_T                         = normals(seed, stream 0,     B·C·H·W)
 *   z added at loop iteration k = normals(seed, stream k + 1, B·C·H·W)   for k = 0 … S−2
 * (iteration k visits timestep τ_k; the last iteration, at t = 0, adds no noise). The Python
 * reference takes x_T and that noise list as its `x_T` / `noises` inputs.
 */
import { FramewormError } from '../common/errors.js';
import { SamplerInputError } from './errors.js';
import { INITIAL_NOISE_STREAM, normals, stepNoiseStream } from './noise.js';
import { applyStep, stepTerms, stridedTimesteps, type Float32Schedule, type SamplerKind } from './reverse-step.js';

const f = Math.fround;

/** [B, C, H, W]. */
export type ImageShape = readonly [number, number, number, number];

/**
 * The exported ε-network: ε for x_t of shape `dims`, timesteps `t` [B] and, for CFG models,
 * class labels [B] (index num_classes = the null class). Resolves to B·C·H·W float32 values.
 * The arrays passed in are never modified afterwards, so the callback may keep them.
 */
export type EpsNetwork = (xT: Float32Array, dims: ImageShape, t: BigInt64Array, classLabel?: BigInt64Array) => Promise<Float32Array>;

/** Progress after each reverse step (step counts from 1). */
export interface StepProgress {
  readonly step: number;
  readonly numSteps: number;
  readonly timestep: number;
}

type Buffer1d = ArrayLike<number>;

/** DDPM schedule buffers as stored in the checkpoint (`alphas_cumprod_prev` is not needed). */
export interface DdpmSchedule {
  readonly betas: Buffer1d;
  readonly alphas_cumprod: Buffer1d;
  readonly alphas_cumprod_prev?: Buffer1d;
  readonly posterior_variance: Buffer1d;
}

/** CFG-DDPM schedule buffers as stored in the checkpoint. */
export interface CfgSchedule {
  readonly betas: Buffer1d;
  readonly alphas: Buffer1d;
  readonly alphas_cumprod: Buffer1d;
}

interface CommonOptions {
  readonly eps: EpsNetwork;
  readonly shape: ImageShape;
  /** Reverse steps S in [1, T]; default T (upstream's full loop). */
  readonly numSteps?: number;
  /** Integer in [0, 2^53). */
  readonly seed: number;
  readonly onStep?: (progress: StepProgress) => void;
  /** Checked between steps; an aborted request stops at the next step boundary. */
  readonly signal?: AbortSignal;
  /** Clamp the result to [−1, 1] (default true, like upstream; false only for diagnostics). */
  readonly clamp?: boolean;
}

/** Options of {@link sampleDdpm}. */
export interface DdpmOptions extends CommonOptions {
  readonly schedule: DdpmSchedule;
}

/** Options of {@link sampleCfg}. */
export interface CfgOptions extends CommonOptions {
  readonly schedule: CfgSchedule;
  /** One per sample; null = unconditional (the null class, index numClasses). */
  readonly classLabels: readonly (number | null)[];
  readonly numClasses: number;
  /** w in ε = ε_u + w·(ε_c − ε_u); any finite number (rounded to float32, like the reference). */
  readonly guidanceScale: number;
}

/** Result of a sampler: images [B, C, H, W] in [−1, 1] and the timesteps visited. */
export interface SampleResult {
  readonly images: Float32Array;
  readonly dims: ImageShape;
  readonly timesteps: readonly number[];
}

/**
 * DDPM ancestral sampling (FRAMEWORM DDPM.p_sample, strided when numSteps < T).
 *
 * Throws SamplerInputError for bad request values (HTTP 4xx) and FramewormError E_RUNTIME when
 * the ε-network or the schedule is at fault.
 */
export async function sampleDdpm(options: DdpmOptions): Promise<SampleResult> {
  const { schedule } = options;
  const sched = toSchedule({ betas: schedule.betas, alphas_cumprod: schedule.alphas_cumprod, posterior_variance: schedule.posterior_variance });
  const dims = checkShape(options.shape);
  const batch = dims[0];
  const tBatch = new BigInt64Array(batch);
  return runReverse('ddpm', sched, options, async (x, t) => {
    tBatch.fill(BigInt(t));
    return checkEps(await options.eps(x, dims, tBatch.slice()), x.length);
  });
}

/**
 * Classifier-free guided sampling (FRAMEWORM CFGDDPM.sample, strided when numSteps < T).
 *
 * Guidance ε = ε_u + w·(ε_c − ε_u) is applied for every w (upstream's w > 1 shortcut and its
 * label-0 truthiness bug are deliberately not reproduced). Each step makes ONE ε call of batch 2B,
 * the conditional half first and the unconditional half second; when w = 0 or every label is null
 * the conditional half is skipped and the call has batch B.
 */
export async function sampleCfg(options: CfgOptions): Promise<SampleResult> {
  const { schedule, numClasses, guidanceScale } = options;
  const sched = toSchedule({ betas: schedule.betas, alphas: schedule.alphas, alphas_cumprod: schedule.alphas_cumprod });
  const dims = checkShape(options.shape);
  const [batch, channels, height, width] = dims;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new FramewormError('E_RUNTIME', `num_classes must be a positive integer, got ${String(numClasses)}`);
  }
  if (typeof guidanceScale !== 'number' || !Number.isFinite(guidanceScale)) {
    throw new SamplerInputError(`guidance_scale must be a finite number, got ${String(guidanceScale)}`, { guidance_scale: guidanceScale });
  }
  const labels = checkLabels(options.classLabels, batch, numClasses);
  const w = f(guidanceScale);
  const conditional = w !== 0 && labels.some((label) => label !== numClasses);
  const size = batch * channels * height * width;

  const nullLabels = new BigInt64Array(batch).fill(BigInt(numClasses));
  if (!conditional) {
    const tBatch = new BigInt64Array(batch);
    return runReverse('cfg', sched, options, async (x, t) => {
      tBatch.fill(BigInt(t));
      return checkEps(await options.eps(x, dims, tBatch.slice(), nullLabels.slice()), size);
    });
  }

  const doubled: ImageShape = [2 * batch, channels, height, width];
  const pairLabels = new BigInt64Array(2 * batch);
  pairLabels.set(labels.map((label) => BigInt(label)));
  pairLabels.set(nullLabels, batch);
  const tPair = new BigInt64Array(2 * batch);
  return runReverse('cfg', sched, options, async (x, t) => {
    const input = new Float32Array(2 * size);
    input.set(x);
    input.set(x, size);
    tPair.fill(BigInt(t));
    const out = checkEps(await options.eps(input, doubled, tPair.slice(), pairLabels.slice()), 2 * size);
    const guided = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const epsU = out[size + i] as number;
      guided[i] = epsU + f(w * f((out[i] as number) - epsU));
    }
    return guided;
  });
}

/** The shared loop: x_T from stream 0, one ε evaluation and one update per visited timestep. */
async function runReverse(
  kind: SamplerKind,
  sched: Float32Schedule,
  options: CommonOptions,
  epsAt: (x: Float32Array, t: number) => Promise<Float32Array>,
): Promise<SampleResult> {
  const dims = checkShape(options.shape);
  const taus = stridedTimesteps(sched.betas.length, options.numSteps ?? sched.betas.length);
  const full = taus.length === sched.betas.length;
  const size = dims[0] * dims[1] * dims[2] * dims[3];
  // Validates the seed before the first (expensive) network call.
  let x = normals(options.seed, INITIAL_NOISE_STREAM, size);
  for (let k = 0; k < taus.length; k++) {
    options.signal?.throwIfAborted();
    const t = taus[k] as number;
    const last = k === taus.length - 1;
    const terms = stepTerms(kind, sched, t, last ? null : (taus[k + 1] as number), full);
    const pending = epsAt(x, t);
    // Its failure is awaited below; until then it must not count as an unhandled rejection.
    pending.catch(() => {});
    // Draw this step's noise while the ε-network runs (on a worker thread in the embedded
    // runtime): one macrotask turn lets the request reach the worker first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const z = last ? null : normals(options.seed, stepNoiseStream(k), size);
    const eps = await pending;
    // A fresh array per step: the previous x may still be held by the ε callback.
    const next = new Float32Array(size);
    applyStep(kind, terms, x, eps, z, next);
    x = next;
    options.onStep?.({ step: k + 1, numSteps: taus.length, timestep: t });
  }
  if (options.clamp ?? true) {
    for (let i = 0; i < size; i++) x[i] = Math.min(1, Math.max(-1, x[i] as number));
  }
  return { images: x, dims, timesteps: taus };
}

function toSchedule(buffers: Readonly<Record<string, Buffer1d | undefined>>): Float32Schedule {
  const converted: Record<string, Float32Array> = {};
  let length = -1;
  for (const [name, values] of Object.entries(buffers)) {
    if (values === undefined || values === null) throw new FramewormError('E_RUNTIME', `the schedule lacks ${name}`);
    // Rounding to float32 here matches the reference's `_f32` when a caller passes float64 data.
    const array = Float32Array.from(values);
    if (array.length === 0 || (length >= 0 && array.length !== length)) {
      throw new FramewormError('E_RUNTIME', `schedule buffers must be non-empty and of one length (${name} has ${array.length})`);
    }
    length = array.length;
    converted[name] = array;
  }
  return {
    betas: converted['betas'] as Float32Array,
    alphasCumprod: converted['alphas_cumprod'] as Float32Array,
    posteriorVariance: converted['posterior_variance'],
    alphas: converted['alphas'],
  };
}

function checkShape(shape: ImageShape): ImageShape {
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new SamplerInputError(`image shape must be four positive integers [B, C, H, W], got [${shape.join(', ')}]`, { shape });
  }
  if (shape[0] * shape[1] * shape[2] * shape[3] * 2 > 0x7fffffff) {
    throw new SamplerInputError(`image batch [${shape.join(', ')}] is too large`, { shape });
  }
  return [shape[0], shape[1], shape[2], shape[3]];
}

function checkLabels(labels: readonly (number | null)[], batch: number, numClasses: number): number[] {
  if (!Array.isArray(labels) || labels.length !== batch) {
    throw new SamplerInputError(`class_labels must have one entry per sample (${batch})`, { class_labels: labels });
  }
  return labels.map((label, i) => {
    if (label === null) return numClasses;
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new SamplerInputError(`class_labels[${i}] must be null or an integer in [0, ${numClasses - 1}], got ${String(label)}`, {
        class_labels: labels,
      });
    }
    return label;
  });
}

function checkEps(eps: Float32Array, expected: number): Float32Array {
  if (!(eps instanceof Float32Array) || eps.length !== expected) {
    const got = eps instanceof Float32Array ? `${eps.length} float32 values` : 'a non-Float32Array value';
    throw new FramewormError('E_RUNTIME', `the ε-network returned ${got}, expected ${expected}`);
  }
  return eps;
}
