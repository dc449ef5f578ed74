/**
 * VQ-VAE-2: `x` [B,C,H,W] in [-1,1] (H, W multiples of 16) → `reconstruction` and the per-sample
 * `commitment_loss` (FRAMEWORM's VQ loss; its batch mean is FRAMEWORM's `vq_loss`).
 */
import { encodeImages, encodeOutput, hpInt, imageBatchField, imageEncoding, outputFormat, requestObject, workerEncodings } from './fields.js';
import type { InferenceSchema, SchemaContext } from './types.js';

export const vqvae2Schema: InferenceSchema = {
  type: 'vqvae2',
  async handle(raw: unknown, ctx: SchemaContext): Promise<object> {
    const body = requestObject(raw, ['x', 'output_format']);
    const channels = hpInt(ctx.model.hyperParameters, 'channels', hpInt(ctx.model.hyperParameters, 'in_channels', 3));
    const x = imageBatchField(body, 'x', { channels, multipleOf: 16, range: '[-1,1]', maxBatch: ctx.limits.maxBatchSize });
    const format = outputFormat(body);
    const out = await ctx.session.run({ x }, workerEncodings(format, { reconstruction: imageEncoding('[-1,1]', format), commitment_loss: 'json' }));
    return {
      reconstruction: encodeImages(out['reconstruction']!, '[-1,1]', format),
      commitment_loss: encodeOutput(out['commitment_loss']!, format),
    };
  },
};
