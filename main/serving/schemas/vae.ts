/**
 * VAE: `x` [B,C,S,S] in [0,1] → `reconstruction` (decoder of μ, deterministic), `mu`, `log_var`.
 */
import { encodeImages, encodeOutput, hpInt, imageBatchField, imageEncoding, outputFormat, requestObject, workerEncodings } from './fields.js';
import type { InferenceSchema, SchemaContext } from './types.js';

export const vaeSchema: InferenceSchema = {
  type: 'vae',
  async handle(raw: unknown, ctx: SchemaContext): Promise<object> {
    const body = requestObject(raw, ['x', 'output_format']);
    const hp = ctx.model.hyperParameters;
    const size = hpInt(hp, 'image_size', 32);
    const x = imageBatchField(body, 'x', { channels: hpInt(hp, 'channels', 3), height: size, width: size, range: '[0,1]', maxBatch: ctx.limits.maxBatchSize });
    const format = outputFormat(body);
    const out = await ctx.session.run({ x }, workerEncodings(format, { reconstruction: imageEncoding('[0,1]', format), mu: 'json', log_var: 'json' }));
    return {
      reconstruction: encodeImages(out['reconstruction']!, '[0,1]', format),
      mu: encodeOutput(out['mu']!, format),
      log_var: encodeOutput(out['log_var']!, format),
    };
  },
};
