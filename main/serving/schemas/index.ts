/**
 * The table of request/response schemas, one per model type. Adding an architecture is one new
 * file in this folder and one line here.
 */
import { FramewormError } from '../../common/errors.js';
import type { ModelType } from '../../common/types.js';
import { cfgDdpmSchema, ddpmSchema } from './diffusion.js';
import { dcganSchema, vitganSchema } from './gan.js';
import { genericSchema } from './generic.js';
import { vaeSchema } from './vae.js';
import { vqvae2Schema } from './vqvae2.js';
import type { InferenceSchema } from './types.js';

export { RequestError, type InferenceSchema, type SchemaContext, type SchemaLimits } from './types.js';

const SCHEMAS: Partial<Record<ModelType, InferenceSchema>> = {
  generic: genericSchema,
  vae: vaeSchema,
  dcgan: dcganSchema,
  vitgan: vitganSchema,
  ddpm: ddpmSchema,
  cfg_ddpm: cfgDdpmSchema,
  vqvae2: vqvae2Schema,
};

/** Whether `type` can be served by the embedded runtime yet. */
export function hasSchema(type: ModelType): boolean {
  return SCHEMAS[type] !== undefined;
}

/** The schema for `type`; E_RUNTIME when that architecture cannot be served yet. */
export function getSchema(type: ModelType): InferenceSchema {
  const schema = SCHEMAS[type];
  if (!schema) {
    const served = Object.keys(SCHEMAS).join(', ');
    throw new FramewormError('E_RUNTIME', `the embedded runtime has no request schema for model type '${type}' yet (available: ${served})`);
  }
  return schema;
}
