/**
 * Identifies which FRAMEWORM architecture a state dict belongs to from tensor names and shapes
 * alone, recovers its hyper-parameters under FRAMEWORM's own names, and checks the whole key set
 * against the architecture's layout (compat/README.md, "Fingerprints").
 */
import type { ModelType } from '../common/types.js';
import {
  type ExpectedTensor,
  cfgLayout,
  dcganLayout,
  ddpmLayout,
  vaeLayout,
  vitganLayout,
  vqvae2Layout,
} from './arch-templates.js';

export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

export type HyperParameterValue = number | string | boolean | readonly number[];
export type HyperParameters = { [name: string]: HyperParameterValue };

export interface ShapeMismatch {
  readonly name: string;
  readonly expected: readonly number[];
  readonly actual: readonly number[];
}

/** How the state dict compares with the detected architecture's full layout. */
export interface StructureCheck {
  /** True when names, shapes and dtypes match exactly, so a strict load would succeed. */
  readonly complete: boolean;
  readonly expected_tensors: number;
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  readonly mismatched: readonly ShapeMismatch[];
}

export interface Detection {
  readonly type: ModelType;
  readonly hyper_parameters: HyperParameters;
  /** Why the type is `generic`. */
  readonly reason?: string;
  readonly warnings: readonly string[];
  /** Absent for `generic`. */
  readonly structure?: StructureCheck;
}

type ArchType = Exclude<ModelType, 'generic'>;

interface Recovered {
  readonly hp: HyperParameters;
  readonly layout: readonly ExpectedTensor[];
  readonly warnings: readonly string[];
}

interface Rule {
  readonly type: ArchType;
  /** The fingerprint: the first key identifies, the others must come with it. */
  readonly keys: readonly string[];
  readonly recover: (ix: Index) => Recovered;
}

/** A fingerprint key is present but the tensors needed to read the hyper-parameters are not. */
class RecoverError extends Error {}

class Index {
  private readonly byName: ReadonlyMap<string, TensorInfo>;

  constructor(readonly tensors: readonly TensorInfo[]) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  dim(name: string, i: number): number {
    const t = this.byName.get(name);
    if (!t) throw new RecoverError(`${name} is missing`);
    const d = t.shape[i];
    if (d === undefined) throw new RecoverError(`${name} has shape [${t.shape.join(', ')}], with no dimension ${i}`);
    return d;
  }

  /** Distinct values of the first `(\d+)` group of `pattern` over all names. */
  indices(pattern: RegExp): number[] {
    const found = new Set<number>();
    for (const t of this.tensors) {
      const m = pattern.exec(t.name);
      if (m?.[1] !== undefined) found.add(Number(m[1]));
    }
    return [...found].sort((a, b) => a - b);
  }
}

function divide(value: number, by: number, what: string): number {
  if (value % by !== 0) throw new RecoverError(`${what} (${value}) is not a multiple of ${by}`);
  return value / by;
}

/** 16·√(n/256)-style recoveries: `n` must be `unit` times a perfect square. */
function squareRoot(n: number, unit: number, what: string): number {
  const r = Math.round(Math.sqrt(n / unit));
  if (r < 1 || r * r * unit !== n) throw new RecoverError(`${what} (${n}) is not ${unit} times a square`);
  return r;
}

function recoverVae(ix: Index): Recovered {
  const latent = ix.dim('encoder.fc_mu.weight', 0);
  const channels = ix.dim('encoder.conv_layers.0.weight', 1);
  const encoderGrid = squareRoot(ix.dim('encoder.fc_mu.weight', 1), 256, 'encoder.fc_mu.weight input width');
  const decoderGrid = squareRoot(ix.dim('decoder.fc.weight', 0), 256, 'decoder.fc.weight output width');
  const warnings: string[] = [];
  if (encoderGrid !== decoderGrid) {
    // README: the encoder reads 16·⌊S/16⌋ and the decoder writes 16·⌈S/16⌉; they differ only
    // when input_size was not a multiple of 16.
    warnings.push(
      `encoder and decoder disagree on the image size (encoder reads ${16 * encoderGrid}, decoder outputs ${16 * decoderGrid}): ` +
        'the model was built with an input_size that is not a multiple of 16; image_size reports the encoder side',
    );
  }
  return {
    hp: {
      latent_dim: latent,
      channels,
      image_size: 16 * encoderGrid,
      encoder_image_size: 16 * encoderGrid,
      decoder_output_size: 16 * decoderGrid,
    },
    layout: vaeLayout({ latent, channels, encoderGrid, decoderGrid }),
    warnings,
  };
}

function recoverDcgan(ix: Index): Recovered {
  const latent = ix.dim('generator.main.0.weight', 0);
  const ngf = divide(ix.dim('generator.main.0.weight', 1), 8, 'generator.main.0.weight output channels');
  const channels = ix.dim('generator.main.12.weight', 1);
  const ndf = ix.dim('discriminator.main.0.weight', 0);
  const n = ix.indices(/^discriminator\.main\.(\d+)\.running_mean$/).length;
  return {
    hp: {
      latent_dim: latent,
      ngf,
      ndf,
      channels,
      // The generator's five transposed convs always produce 64×64, whatever image_size said.
      image_size: 64,
      generator_output_size: 64,
      discriminator_image_size: 2 ** (n + 3),
    },
    layout: dcganLayout({ latent, ngf, ndf, channels, discriminatorBatchNorms: n }),
    warnings: [],
  };
}

function recoverDdpm(ix: Index): Recovered {
  const timesteps = ix.dim('betas', 0);
  const base = ix.dim('model.down1.conv1.weight', 0);
  const channels = ix.dim('model.down1.conv1.weight', 1);
  const timeEmbedding = ix.dim('model.time_mlp.0.weight', 1);
  return {
    hp: {
      timesteps,
      base_channels: base,
      channels,
      time_emb_dim: timeEmbedding,
      beta_schedule: 'linear',
      spatial_multiple: 8,
    },
    layout: ddpmLayout({ timesteps, base, channels, timeEmbedding }),
    warnings: [],
  };
}

function recoverCfg(ix: Index): Recovered {
  const timesteps = ix.dim('betas', 0);
  const numClasses = ix.dim('unet.class_emb.weight', 0) - 1;
  const timeEmbedding = ix.dim('unet.class_emb.weight', 1);
  const modelChannels = ix.dim('unet.conv_in.weight', 0);
  const channels = ix.dim('unet.conv_in.weight', 1);
  const warnings: string[] = [];
  if (timeEmbedding !== 4 * modelChannels) {
    warnings.push(`unet.class_emb.weight is ${timeEmbedding} wide; FRAMEWORM's cfg_ddpm uses 4 × model_channels = ${4 * modelChannels}`);
  }
  return {
    hp: {
      timesteps,
      num_classes: numClasses,
      null_class_index: numClasses,
      model_channels: modelChannels,
      channels,
      image_channels: channels,
      time_emb_dim: timeEmbedding,
      channel_mult: [1, 2, 4],
      num_res_blocks: 2,
      beta_schedule: 'cosine',
      cosine_s: 0.008,
      spatial_multiple: 4,
    },
    layout: cfgLayout({ timesteps, numClasses, modelChannels, channels, timeEmbedding }),
    warnings,
  };
}

function recoverVqvae2(ix: Index): Recovered {
  const numEmbeddings = ix.dim('vq_top.embedding.weight', 0);
  const embeddingDim = ix.dim('vq_top.embedding.weight', 1);
  const channels = ix.dim('enc_bottom.encoder.0.weight', 1);
  const hidden = ix.dim('enc_bottom.encoder.2.weight', 0);
  return {
    hp: {
      num_embeddings: numEmbeddings,
      embedding_dim: embeddingDim,
      channels,
      in_channels: channels,
      hidden_channels: hidden,
    },
    layout: vqvae2Layout({ numEmbeddings, embeddingDim, channels, hidden }),
    warnings: [],
  };
}

function recoverVitgan(ix: Index): Recovered {
  const latent = ix.dim('generator.0.weight', 1);
  const genHidden = divide(ix.dim('generator.2.weight', 0), 8, 'generator.2.weight input channels');
  const imageSize = 16 * squareRoot(ix.dim('generator.0.weight', 0), 8 * genHidden, 'generator.0.weight output width');
  const channels = ix.dim('generator.11.weight', 1);
  const embed = ix.dim('discriminator.patch_embed.projection.weight', 0);
  const patch = ix.dim('discriminator.patch_embed.projection.weight', 2);
  const depth = ix.indices(/^discriminator\.transformer_blocks\.(\d+)\./).length;
  return {
    hp: {
      latent_dim: latent,
      gen_hidden: genHidden,
      image_size: imageSize,
      channels,
      image_channels: channels,
      vit_embed_dim: embed,
      patch_size: patch,
      vit_depth: depth,
    },
    layout: vitganLayout({ latent, genHidden, imageSize, channels, embed, patch, depth }),
    warnings: [],
  };
}

/** README "Fingerprints", in table order. */
const RULES: readonly Rule[] = [
  { type: 'vae', keys: ['encoder.fc_mu.weight'], recover: recoverVae },
  { type: 'dcgan', keys: ['generator.main.0.weight'], recover: recoverDcgan },
  { type: 'ddpm', keys: ['model.down1.conv1.weight', 'posterior_variance'], recover: recoverDdpm },
  { type: 'cfg_ddpm', keys: ['unet.class_emb.weight'], recover: recoverCfg },
  { type: 'vqvae2', keys: ['vq_top.embedding.weight'], recover: recoverVqvae2 },
  { type: 'vitgan', keys: ['generator.0.weight', 'discriminator.patch_embed.pos_embedding'], recover: recoverVitgan },
];

const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const LIST_CAP = 20;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkStructure(tensors: readonly TensorInfo[], layout: readonly ExpectedTensor[], type: ArchType): { structure: StructureCheck; warnings: string[] } {
  const expected = new Map(layout.map((e) => [e.name, e]));
  const actual = new Set(tensors.map((t) => t.name));
  const missing = layout.filter((e) => !actual.has(e.name)).map((e) => e.name);
  const unexpected: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const wrongDtype: string[] = [];
  for (const t of tensors) {
    const e = expected.get(t.name);
    if (!e) {
      unexpected.push(t.name);
      continue;
    }
    if (!sameShape(e.shape, t.shape)) mismatched.push({ name: t.name, expected: e.shape, actual: t.shape });
    if (e.integer === FLOAT_DTYPES.has(t.dtype)) wrongDtype.push(`${t.name} (${t.dtype})`);
  }
  const warnings: string[] = [];
  if (tensors.length !== layout.length) {
    warnings.push(`expected ${layout.length} tensors for a FRAMEWORM ${type} with these hyper-parameters, found ${tensors.length}`);
  }
  const parts: string[] = [];
  const list = (names: readonly string[]): string => names.slice(0, 5).join(', ') + (names.length > 5 ? ', …' : '');
  if (missing.length) parts.push(`${missing.length} missing (${list(missing)})`);
  if (unexpected.length) parts.push(`${unexpected.length} unexpected (${list(unexpected)})`);
  if (mismatched.length) {
    const shown = mismatched.slice(0, 3).map((m) => `${m.name} is [${m.actual.join(', ')}], expected [${m.expected.join(', ')}]`);
    parts.push(`${mismatched.length} with the wrong shape (${shown.join('; ')}${mismatched.length > 3 ? '; …' : ''})`);
  }
  if (wrongDtype.length) parts.push(`${wrongDtype.length} with the wrong dtype (${list(wrongDtype)})`);
  if (parts.length) {
    warnings.push(`the state dict does not fully match a FRAMEWORM ${type}: ${parts.join(', ')}; a strict load will fail`);
  }
  return {
    structure: {
      complete: parts.length === 0,
      expected_tensors: layout.length,
      missing: missing.slice(0, LIST_CAP),
      unexpected: unexpected.slice(0, LIST_CAP),
      mismatched: mismatched.slice(0, LIST_CAP),
    },
    warnings,
  };
}

function precisionWarning(tensors: readonly TensorInfo[]): string[] {
  const reduced = tensors.filter((t) => t.dtype === 'float16' || t.dtype === 'bfloat16');
  return reduced.length ? [`${reduced.length} tensors are stored in ${reduced[0]!.dtype}; FRAMEWORM trains and serves float32`] : [];
}

function firstKeys(tensors: readonly TensorInfo[]): string {
  return tensors.slice(0, 3).map((t) => t.name).join(', ') + (tensors.length > 3 ? ', …' : '');
}

function matchRules(ix: Index): Detection | { partial: string[] } {
  const partial: string[] = [];
  for (const rule of RULES) {
    if (!ix.has(rule.keys[0]!)) continue;
    const absent = rule.keys.filter((k) => !ix.has(k));
    if (absent.length) {
      partial.push(`it has ${rule.keys[0]} but not ${absent.join(', ')}, so it is not a FRAMEWORM ${rule.type}`);
      continue;
    }
    let recovered: Recovered;
    try {
      recovered = rule.recover(ix);
    } catch (err) {
      if (!(err instanceof RecoverError)) throw err;
      return {
        type: 'generic',
        hyper_parameters: {},
        reason: `it has ${rule.keys.join(' and ')} like a FRAMEWORM ${rule.type}, but its hyper-parameters cannot be read: ${err.message}`,
        warnings: [],
      };
    }
    const { structure, warnings } = checkStructure(ix.tensors, recovered.layout, rule.type);
    return {
      type: rule.type,
      hyper_parameters: recovered.hp,
      warnings: [...recovered.warnings, ...warnings, ...precisionWarning(ix.tensors)],
      structure,
    };
  }
  return { partial };
}

/**
 * Detects the FRAMEWORM architecture of a state dict and recovers its hyper-parameters.
 *
 * Returns `generic` with a `reason` when no fingerprint matches; a match whose full key set
 * differs from the architecture's layout keeps its type, sets `structure.complete = false`
 * and explains the difference in `warnings`.
 */
export function detect(tensors: readonly TensorInfo[]): Detection {
  if (tensors.length === 0) return { type: 'generic', hyper_parameters: {}, reason: 'the state dict holds no tensors', warnings: [] };
  const result = matchRules(new Index(tensors));
  if ('type' in result) return result;
  const fingerprints = RULES.map((r) => r.keys.join(' + ')).join(', ');
  let reason = result.partial.length
    ? `no FRAMEWORM fingerprint matched: ${result.partial.join('; ')} (first keys: ${firstKeys(tensors)})`
    : `no FRAMEWORM fingerprint matched: none of ${fingerprints} present (first keys: ${firstKeys(tensors)})`;
  if (tensors.every((t) => t.name.startsWith('module.'))) {
    const stripped = matchRules(new Index(tensors.map((t) => ({ ...t, name: t.name.slice('module.'.length) }))));
    if ('type' in stripped && stripped.type !== 'generic') {
      reason = `every key starts with 'module.' (saved from DataParallel/DDP); without it this is a FRAMEWORM ${stripped.type}: re-save model.module.state_dict()`;
    }
  }
  return { type: 'generic', hyper_parameters: {}, reason, warnings: [] };
}

/** True for BatchNorm statistics and diffusion schedules, which are buffers, not parameters. */
export function isBuffer(name: string, type: ModelType): boolean {
  if (/\.(running_mean|running_var|num_batches_tracked)$/.test(name)) return true;
  return (type === 'ddpm' || type === 'cfg_ddpm') && !name.includes('.');
}

/** Counts trainable parameters (elements of non-buffer tensors), as upstream's model summary does. */
export function countParameters(tensors: readonly TensorInfo[], type: ModelType): number {
  let n = 0;
  for (const t of tensors) if (!isBuffer(t.name, type)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}
