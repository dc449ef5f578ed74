/**
 * What one request/response pair (or one data file) shows about a model, before it is turned
 * into feature groups. Live traffic (traffic.ts) and profile data files (data/observe-data.ts)
 * both produce this, so a profile's groups and a deployment's groups are computed by the same
 * code and always line up.
 */
import type { Tensor } from './field-values.js';
import type { FeatureSide } from './architectures.js';
import type { UnitImages } from './unit-images.js';

/** A named tensor of a `generic` model. */
export interface NamedTensor {
  readonly side: FeatureSide;
  readonly name: string;
  readonly tensor: Tensor;
}

/** Everything the feature groups are computed from; absent parts give no groups. */
export interface Observation {
  /** Latents z [B, L]. */
  readonly latent?: Tensor;
  readonly inputImages?: UnitImages;
  readonly outputImages?: UnitImages;
  /** One entry per sample; null = unconditional. */
  readonly classLabels?: readonly (number | null)[];
  /** Request-level values (batch_size, num_steps, guidance_scale): one row per request. */
  readonly requestScalars?: Readonly<Record<string, number>>;
  /** VAE posterior, both [B, L]. */
  readonly posterior?: { readonly mu: Tensor; readonly logVar: Tensor };
  /** One value per sample (commitment_loss). */
  readonly sampleScalars?: Readonly<Record<string, readonly number[]>>;
  readonly tensors?: readonly NamedTensor[];
}
