/**
 * VAE: `x` [B,C,S,S] in [0,1] → `reconstruction` (decoder of μ, deterministic), `mu`, `log_var`.
 */
import { encodeTensor } from './tensor-codec.js';
import { encodeImages, hpInt, imageBatchField, outputFormat, requestObject } from './fields.js';
import type { InferenceSchema, SchemaContext } from './types.js';

export const vaeSchema: InferenceSchema = {
  type: 'vae',
  async handle(raw: unknown, ctx: SchemaContext): Promise<object> {
    const body = requestObject(raw, ['x', 'output_format']);
    const hp = ctx.model.hyperParameters;
    const size = hpInt(hp, 'image_size', 32);
    const x = imageBatchField(body, 'x', { channels: hpInt(hp, 'channels', 3), height: size, width: size, range: '[0,1]', maxBatch: ctx.limits.maxBatchSize });
    const out = await ctx.session.run({ x });
    const format = outputFormat(body);
    return {
      reconstruction: encodeImages(out['reconstruction']!, '[0,1]', format),
      mu: encodeTensor(out['mu']!),
      log_var: encodeTensor(out['log_var']!),
    };
  },
};
