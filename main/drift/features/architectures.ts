/**
 * What each architecture's requests and responses carry, for drift features (DESIGN §5).
 *
 * One entry per model type, like main/serving/schemas/index.ts: a new architecture is one new
 * line. The feature code reads only this table, never `if (type === ...)`.
 */
import type { ModelType } from '../../common/types.js';
import type { PixelRange } from '../../sampling/png.js';

/** Which side of the model a feature group watches. */
export type FeatureSide = 'inputs' | 'outputs';

/** An image field and the model range of its values. */
export interface ImageField {
  readonly field: string;
  readonly range: PixelRange;
}

/** The drift-relevant fields of one architecture's request and response. */
export interface ArchitectureFields {
  /** Request field with latents `z` [B, L] (generators that take them). */
  readonly latent?: string;
  /** Request field with input images (VAE, VQ-VAE-2). */
  readonly inputImages?: ImageField;
  /** Response field with the images the model produced. */
  readonly outputImages?: ImageField;
  /** Class labels per sample (response echoes them with defaults applied). */
  readonly classLabels?: string;
  /** Request-level numbers, one row per request (response value preferred: it has the default applied). */
  readonly requestScalars: readonly string[];
  /** VAE posterior: response fields of μ and log σ². */
  readonly posterior?: { readonly mu: string; readonly logVar: string };
  /** Response fields with one number per sample. */
  readonly sampleScalars: readonly string[];
  /** `generic`: every named tensor of `inputs` / `outputs` is a group of its own. */
  readonly namedTensors?: true;
  /** Default side of a profile made from one unnamed data array (`--group`). */
  readonly defaultSide: FeatureSide;
}

const GAN: ArchitectureFields = {
  latent: 'z',
  outputImages: { field: 'images', range: '[-1,1]' },
  requestScalars: ['batch_size'],
  sampleScalars: [],
  defaultSide: 'outputs',
};

/** The table (see the file comment). */
export const ARCHITECTURE_FIELDS: Readonly<Record<ModelType, ArchitectureFields>> = {
  vae: {
    inputImages: { field: 'x', range: '[0,1]' },
    outputImages: { field: 'reconstruction', range: '[0,1]' },
    posterior: { mu: 'mu', logVar: 'log_var' },
    requestScalars: [],
    sampleScalars: [],
    defaultSide: 'inputs',
  },
  dcgan: GAN,
  vitgan: GAN,
  ddpm: {
    outputImages: { field: 'images', range: '[-1,1]' },
    requestScalars: ['batch_size', 'num_steps'],
    sampleScalars: [],
    defaultSide: 'outputs',
  },
  vqvae2: {
    inputImages: { field: 'x', range: '[-1,1]' },
    outputImages: { field: 'reconstruction', range: '[-1,1]' },
    requestScalars: [],
    sampleScalars: ['commitment_loss'],
    defaultSide: 'inputs',
  },
  cfg_ddpm: {
    outputImages: { field: 'images', range: '[-1,1]' },
    classLabels: 'class_labels',
    requestScalars: ['batch_size', 'num_steps', 'guidance_scale'],
    sampleScalars: [],
    defaultSide: 'outputs',
  },
  generic: { namedTensors: true, requestScalars: [], sampleScalars: [], defaultSide: 'outputs' },
};
