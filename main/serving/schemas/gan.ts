/**
 * DCGAN and ViT-GAN: `z` [B,L], or `batch_size` (+ `seed`) to draw z from the project's noise
 * generator (stream 0) → `images` [B,C,H,W] in [-1,1].
 */
import type { ModelType } from '../../common/types.js';
import { gaussianTensor, INITIAL_NOISE_STREAM } from '../../sampling/noise.js';
import type { TensorValue } from '../tensor-types.js';
import { decodeTensor, formatShape } from './tensor-codec.js';
import { encodeImages, hpInt, imageEncoding, intField, outputFormat, requestObject, seedField, workerEncodings } from './fields.js';
import { RequestError, type InferenceSchema, type SchemaContext } from './types.js';

/**
 * Largest |z| element accepted. Latents are standard normal draws (beyond ±10 practically never
 * happens); huge ones overflow float32 in the first layers and come out as NaN images.
 */
export const MAX_LATENT = 1000;

function latentFrom(body: Readonly<Record<string, unknown>>, latentDim: number, maxBatch: number): { z: TensorValue; seed: number | null } {
  if (body['z'] !== undefined) {
    if (body['batch_size'] !== undefined || body['seed'] !== undefined) {
      throw new RequestError(400, "give either 'z' or 'batch_size'/'seed', not both");
    }
    const z = decodeTensor('z', body['z'], 'float32');
    if (z.dims.length !== 2 || z.dims[1] !== latentDim) {
      throw new RequestError(400, `input 'z' has shape ${formatShape(z.dims)}, the model expects [B,${latentDim}]`);
    }
    if (z.dims[0]! < 1 || z.dims[0]! > maxBatch) throw new RequestError(400, `input 'z' has batch ${z.dims[0]}, allowed 1 to ${maxBatch}`);
    const data = z.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      const e = data[i]!;
      if (!(e >= -MAX_LATENT && e <= MAX_LATENT)) throw new RequestError(400, `input 'z' values must be in [-${MAX_LATENT},${MAX_LATENT}] (element ${i} is ${e})`);
    }
    return { z, seed: null };
  }
  const batch = intField(body, 'batch_size', 1, maxBatch, 1);
  const seed = seedField(body);
  const noise = gaussianTensor(seed, INITIAL_NOISE_STREAM, [batch, latentDim]);
  return { z: { dtype: 'float32', dims: noise.dims, data: noise.data }, seed };
}

function ganSchema(type: ModelType): InferenceSchema {
  return {
    type,
    async handle(raw: unknown, ctx: SchemaContext): Promise<object> {
      const body = requestObject(raw, ['z', 'batch_size', 'seed', 'output_format']);
      const format = outputFormat(body);
      const { z, seed } = latentFrom(body, hpInt(ctx.model.hyperParameters, 'latent_dim'), ctx.limits.maxBatchSize);
      const out = await ctx.session.run({ z }, workerEncodings(format, { images: imageEncoding('[-1,1]', format) }));
      return { images: encodeImages(out['images']!, '[-1,1]', format), ...(seed === null ? {} : { seed }) };
    },
  };
}

export const dcganSchema = ganSchema('dcgan');
export const vitganSchema = ganSchema('vitgan');
