/**
 * DDPM and CFG-DDPM: the reverse process runs here, on the host, around the exported ε-network
 * (`x_t`, `t` [, `class_label`] → `eps`), with the project's noise generator so the same
 * request and seed give the same images on every target.
 *
 * ddpm:     {batch_size, num_steps (≤ T, strided), seed, output_format} → {images, seed, num_steps}
 * cfg_ddpm: {batch_size, class_labels [B] (null = unconditional), guidance_scale, num_steps, seed,
 *            output_format} → {images, seed, num_steps, class_labels, guidance_scale}
 */
import { sampleCfg, sampleDdpm, type CfgSchedule, type DdpmSchedule, type EpsNetwork } from '../../sampling/diffusion-sampler.js';
import { SamplerInputError } from '../../sampling/errors.js';
import type { InferenceRunner } from '../model-session.js';
import { boundedNumberField, encodeImages, float32Feed, hpInt, intField, outputFormat, requestObject, seedField, type Body } from './fields.js';
import { RequestError, type InferenceSchema, type SamplingCost, type SchemaContext } from './types.js';

const DEFAULT_GUIDANCE = 3;
/**
 * Largest |guidance_scale|. Useful scales are about 1 to 20; far beyond, ε is multiplied into
 * float32 overflow and the images come out as NaN (null in JSON). The bound keeps every accepted
 * request's output finite.
 */
export const MAX_GUIDANCE = 100;

function scheduleArray(schedule: Readonly<Record<string, unknown>> | undefined, key: string): number[] {
  const v = schedule?.[key];
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number')) {
    throw new Error(`the export manifest has no '${key}' schedule; re-export the checkpoint`);
  }
  return v as number[];
}

function epsNetwork(session: InferenceRunner): EpsNetwork {
  return async (x, dims, t, classLabel) => {
    const feeds = {
      x_t: float32Feed(x, dims),
      t: { dtype: 'int64' as const, dims: [t.length], data: t.slice() },
      ...(classLabel ? { class_label: { dtype: 'int64' as const, dims: [classLabel.length], data: classLabel.slice() } } : {}),
    };
    const out = await session.run(feeds);
    return out['eps']!.data as Float32Array;
  };
}

function imageShape(ctx: SchemaContext, batch: number): [number, number, number, number] {
  const hp = ctx.model.hyperParameters;
  const size = hpInt(hp, 'image_size', 32);
  return [batch, hpInt(hp, 'channels', hpInt(hp, 'image_channels', 3)), size, size];
}

/**
 * Runs a sampler when its turn comes (first come, first served: see FifoGate), stopping when the
 * caller gives up, and maps the sampler's own validation errors to 400s (normally caught earlier
 * by the fields).
 */
async function sampling<T>(ctx: SchemaContext, cost: SamplingCost, work: (runner: InferenceRunner) => Promise<T>): Promise<T> {
  try {
    // A continuous batch hands its shared runner; otherwise the request calls the session itself.
    return ctx.sampling ? await ctx.sampling.run((runner) => work(runner ?? ctx.session), ctx.signal, cost) : await work(ctx.session);
  } catch (err) {
    if (err instanceof SamplerInputError) throw new RequestError(400, err.message, err.detail);
    throw err;
  }
}

export const ddpmSchema: InferenceSchema = {
  type: 'ddpm',
  async handle(raw: unknown, ctx: SchemaContext): Promise<object> {
    const body = requestObject(raw, ['batch_size', 'num_steps', 'seed', 'output_format']);
    const schedule: DdpmSchedule = {
      betas: scheduleArray(ctx.model.schedule, 'betas'),
      alphas_cumprod: scheduleArray(ctx.model.schedule, 'alphas_cumprod'),
      alphas_cumprod_prev: scheduleArray(ctx.model.schedule, 'alphas_cumprod_prev'),
      posterior_variance: scheduleArray(ctx.model.schedule, 'posterior_variance'),
    };
    const steps = schedule.betas.length;
    const batch = intField(body, 'batch_size', 1, ctx.limits.maxBatchSize, 1);
    const numSteps = intField(body, 'num_steps', 1, steps, steps);
    const seed = seedField(body);
    const format = outputFormat(body);
    const signal = ctx.signal;
    const result = await sampling(ctx, { rows: batch, steps: numSteps }, (runner) => sampleDdpm({ eps: epsNetwork(runner), schedule, shape: imageShape(ctx, batch), numSteps, seed, ...(signal ? { signal } : {}) }));
    return { images: encodeImages({ dtype: 'float32', dims: result.dims, data: result.images }, '[-1,1]', format), seed, num_steps: numSteps };
  },
};

function classLabels(body: Body, numClasses: number, maxBatch: number): { labels: (number | null)[]; batch: number } {
  const given = body['class_labels'];
  const batchGiven = body['batch_size'] !== undefined && body['batch_size'] !== null;
  if (given === undefined || given === null) {
    const batch = intField(body, 'batch_size', 1, maxBatch, 1);
    return { labels: new Array<number | null>(batch).fill(null), batch };
  }
  if (!Array.isArray(given) || given.length < 1 || given.length > maxBatch) {
    throw new RequestError(400, `'class_labels' must be an array of 1 to ${maxBatch} class indices or nulls`);
  }
  const labels = given.map((l, i) => {
    if (l === null) return null;
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l >= numClasses) {
      throw new RequestError(400, `class_labels[${i}] is ${JSON.stringify(l)}: this model has ${numClasses} classes (0 to ${numClasses - 1}); use null for unconditional`, {
        num_classes: numClasses,
      });
    }
    return l;
  });
  if (batchGiven) {
    const batch = intField(body, 'batch_size', 1, maxBatch, labels.length);
    if (batch !== labels.length) throw new RequestError(400, `'batch_size' is ${batch} but 'class_labels' has ${labels.length} entries`);
  }
  return { labels, batch: labels.length };
}

export const cfgDdpmSchema: InferenceSchema = {
  type: 'cfg_ddpm',
  async handle(raw: unknown, ctx: SchemaContext): Promise<object> {
    const body = requestObject(raw, ['batch_size', 'class_labels', 'guidance_scale', 'num_steps', 'seed', 'output_format']);
    const schedule: CfgSchedule = {
      betas: scheduleArray(ctx.model.schedule, 'betas'),
      alphas: scheduleArray(ctx.model.schedule, 'alphas'),
      alphas_cumprod: scheduleArray(ctx.model.schedule, 'alphas_cumprod'),
    };
    const steps = schedule.betas.length;
    const numClasses = hpInt(ctx.model.hyperParameters, 'num_classes');
    const { labels, batch } = classLabels(body, numClasses, ctx.limits.maxBatchSize);
    const guidanceScale = boundedNumberField(body, 'guidance_scale', -MAX_GUIDANCE, MAX_GUIDANCE, DEFAULT_GUIDANCE);
    const numSteps = intField(body, 'num_steps', 1, steps, steps);
    const seed = seedField(body);
    const format = outputFormat(body);
    const signal = ctx.signal;
    // A guided request's ε calls carry 2B rows (conditional + unconditional), as sampleCfg makes them.
    const guided = Math.fround(guidanceScale) !== 0 && labels.some((l) => l !== null);
    const result = await sampling(ctx, { rows: guided ? 2 * batch : batch, steps: numSteps }, (runner) =>
      sampleCfg({ eps: epsNetwork(runner), schedule, shape: imageShape(ctx, batch), numSteps, seed, classLabels: labels, numClasses, guidanceScale, ...(signal ? { signal } : {}) }),
    );
    return {
      images: encodeImages({ dtype: 'float32', dims: result.dims, data: result.images }, '[-1,1]', format),
      seed,
      num_steps: numSteps,
      class_labels: labels,
      guidance_scale: guidanceScale,
    };
  },
};
