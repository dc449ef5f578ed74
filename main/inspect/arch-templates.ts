/**
 * The full state-dict layout (names and shapes) of each FRAMEWORM architecture as a function of
 * its hyper-parameters, derived from compat/README.md and the reference listings in
 * compat/state-dicts.json. Comparing a checkpoint against its template catches state dicts that
 * carry a fingerprint key but would still fail a strict load.
 */

export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** BatchNorm's num_batches_tracked is the only integer tensor; everything else is float. */
  readonly integer: boolean;
}

class Layout {
  readonly tensors: ExpectedTensor[] = [];

  add(name: string, shape: readonly number[], integer = false): this {
    this.tensors.push({ name, shape, integer });
    return this;
  }

  /** Conv2d / ConvTranspose2d / Linear weight plus an optional bias of `biasSize`. */
  layer(prefix: string, weight: readonly number[], biasSize?: number): this {
    this.add(`${prefix}.weight`, weight);
    if (biasSize !== undefined) this.add(`${prefix}.bias`, [biasSize]);
    return this;
  }

  /** An affine norm (LayerNorm / GroupNorm): weight and bias. */
  norm(prefix: string, channels: number): this {
    return this.add(`${prefix}.weight`, [channels]).add(`${prefix}.bias`, [channels]);
  }

  batchNorm(prefix: string, channels: number): this {
    this.norm(prefix, channels);
    return this.add(`${prefix}.running_mean`, [channels])
      .add(`${prefix}.running_var`, [channels])
      .add(`${prefix}.num_batches_tracked`, [], true);
  }
}

export interface VaeShape {
  readonly latent: number;
  readonly channels: number;
  /** Spatial side of the encoder's last feature map (image_size / 16). */
  readonly encoderGrid: number;
  /** Spatial side the decoder's fc reshapes to (decoder output / 16). */
  readonly decoderGrid: number;
}

/** vae: four stride-2 convs (32/64/128/256, hard-coded) and their mirror. */
export function vaeLayout(s: VaeShape): ExpectedTensor[] {
  const l = new Layout();
  const widths = [s.channels, 32, 64, 128, 256];
  for (let i = 0; i < 4; i++) l.layer(`encoder.conv_layers.${2 * i}`, [widths[i + 1]!, widths[i]!, 4, 4], widths[i + 1]!);
  const flat = 256 * s.encoderGrid ** 2;
  l.layer('encoder.fc_mu', [s.latent, flat], s.latent).layer('encoder.fc_logvar', [s.latent, flat], s.latent);
  const dflat = 256 * s.decoderGrid ** 2;
  l.layer('decoder.fc', [dflat, s.latent], dflat);
  const back = [256, 128, 64, 32, s.channels];
  for (let i = 0; i < 4; i++) l.layer(`decoder.deconv_layers.${2 * i}`, [back[i]!, back[i + 1]!, 4, 4], back[i + 1]!);
  return l.tensors;
}

export interface DcganShape {
  readonly latent: number;
  readonly ngf: number;
  readonly ndf: number;
  readonly channels: number;
  /** BatchNorms in discriminator.main; the discriminator's image size is 2^(n+3). */
  readonly discriminatorBatchNorms: number;
}

/** dcgan: a fixed 5-layer transposed-conv generator and an n-block conv discriminator, no biases. */
export function dcganLayout(s: DcganShape): ExpectedTensor[] {
  const l = new Layout();
  const g = [s.latent, 8 * s.ngf, 4 * s.ngf, 2 * s.ngf, s.ngf];
  for (let i = 0; i < 4; i++) {
    l.layer(`generator.main.${3 * i}`, [g[i]!, g[i + 1]!, 4, 4]).batchNorm(`generator.main.${3 * i + 1}`, g[i + 1]!);
  }
  l.layer('generator.main.12', [s.ngf, s.channels, 4, 4]);
  l.layer('discriminator.main.0', [s.ndf, s.channels, 4, 4]);
  let width = s.ndf;
  for (let i = 1; i <= s.discriminatorBatchNorms; i++) {
    l.layer(`discriminator.main.${3 * i - 1}`, [width * 2, width, 4, 4]).batchNorm(`discriminator.main.${3 * i}`, width * 2);
    width *= 2;
  }
  l.layer(`discriminator.main.${3 * s.discriminatorBatchNorms + 2}`, [1, width, 4, 4]);
  return l.tensors;
}

export interface DdpmShape {
  readonly timesteps: number;
  readonly base: number;
  readonly channels: number;
  readonly timeEmbedding: number;
}

/** ddpm: six schedule buffers and a 3-level UNet of time-conditioned residual blocks. */
export function ddpmLayout(s: DdpmShape): ExpectedTensor[] {
  const l = new Layout();
  for (const b of ['betas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod', 'posterior_variance']) {
    l.add(b, [s.timesteps]);
  }
  const e = s.timeEmbedding;
  l.layer('model.time_mlp.0', [4 * e, e], 4 * e).layer('model.time_mlp.2', [e, 4 * e], e);
  const b = s.base;
  const blocks: [string, number, number][] = [
    ['down1', s.channels, b], ['down2', b, 2 * b], ['down3', 2 * b, 4 * b], ['bottleneck', 4 * b, 4 * b],
    ['up1', 8 * b, 2 * b], ['up2', 4 * b, b], ['up3', 2 * b, b],
  ];
  for (const [name, cin, cout] of blocks) {
    const p = `model.${name}`;
    l.layer(`${p}.conv1`, [cout, cin, 3, 3], cout).layer(`${p}.time_mlp`, [cout, e], cout).layer(`${p}.conv2`, [cout, cout, 3, 3], cout);
    if (cin !== cout) l.layer(`${p}.skip`, [cout, cin, 1, 1], cout);
  }
  l.layer('model.out', [s.channels, b, 1, 1], s.channels);
  return l.tensors;
}

export interface CfgShape {
  readonly timesteps: number;
  readonly numClasses: number;
  readonly modelChannels: number;
  readonly channels: number;
  readonly timeEmbedding: number;
}

/** cfg_ddpm: five cosine-schedule buffers and a GroupNorm UNet, channel_mult (1,2,4), 2 res blocks. */
export function cfgLayout(s: CfgShape): ExpectedTensor[] {
  const l = new Layout();
  for (const b of ['betas', 'alphas', 'alphas_cumprod', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod']) l.add(b, [s.timesteps]);
  const e = s.timeEmbedding;
  const mc = s.modelChannels;
  l.layer('unet.time_mlp.1', [e, mc], e).layer('unet.time_mlp.3', [e, e], e).add('unet.class_emb.weight', [s.numClasses + 1, e]);
  l.layer('unet.conv_in', [mc, s.channels, 3, 3], mc);
  const resBlock = (p: string, cin: number, cout: number): void => {
    l.norm(`${p}.norm1`, cin).layer(`${p}.conv1`, [cout, cin, 3, 3], cout).layer(`${p}.time_proj.1`, [2 * cout, e], 2 * cout);
    l.norm(`${p}.norm2`, cout).layer(`${p}.conv2`, [cout, cout, 3, 3], cout);
    if (cin !== cout) l.layer(`${p}.residual`, [cout, cin, 1, 1], cout);
  };
  const levels = [mc, 2 * mc, 4 * mc];
  // Every encoder output (and conv_in, and each downsample) is pushed as a skip; the decoder
  // pops them in reverse, which fixes each decoder block's input width.
  const skips = [mc];
  let ch = mc;
  let block = 0;
  levels.forEach((out, level) => {
    for (let r = 0; r < 2; r++) {
      resBlock(`unet.encoder.${block++}`, ch, out);
      ch = out;
      skips.push(ch);
    }
    if (level < levels.length - 1) skips.push(ch);
  });
  levels.slice(0, -1).forEach((c, i) => l.layer(`unet.downsample.${i}`, [c, c, 3, 3], c));
  resBlock('unet.mid_block1', ch, ch);
  l.norm('unet.mid_attn.norm', ch).add('unet.mid_attn.attn.in_proj_weight', [3 * ch, ch]).add('unet.mid_attn.attn.in_proj_bias', [3 * ch]);
  l.layer('unet.mid_attn.attn.out_proj', [ch, ch], ch);
  resBlock('unet.mid_block2', ch, ch);
  block = 0;
  [...levels].reverse().forEach((out) => {
    for (let r = 0; r < 3; r++) {
      resBlock(`unet.decoder.${block++}`, ch + skips.pop()!, out);
      ch = out;
    }
  });
  [...levels].reverse().slice(0, -1).forEach((c, i) => l.layer(`unet.upsample.${i}.1`, [c, c, 3, 3], c));
  l.norm('unet.conv_out.0', mc).layer('unet.conv_out.2', [s.channels, mc, 3, 3], s.channels);
  return l.tensors;
}

export interface VqShape {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly channels: number;
  readonly hidden: number;
}

/** vqvae2: two 4× encoders, two codebooks, a 4× upsampler and a 4× decoder. */
export function vqvae2Layout(s: VqShape): ExpectedTensor[] {
  const l = new Layout();
  const h = s.hidden;
  const half = Math.floor(h / 2);
  const d = s.embeddingDim;
  const residual = (p: string): void => {
    l.layer(`${p}.block.1`, [half, h, 3, 3]).layer(`${p}.block.3`, [h, half, 1, 1]);
  };
  const encoder = (p: string, cin: number): void => {
    l.layer(`${p}.encoder.0`, [cin, cin, 4, 4], cin).layer(`${p}.encoder.2`, [h, cin, 4, 4], h).layer(`${p}.encoder.4`, [h, h, 3, 3], h);
    residual(`${p}.encoder.5`);
    residual(`${p}.encoder.6`);
    l.layer(`${p}.encoder.8`, [d, h, 1, 1], d);
  };
  encoder('enc_bottom', s.channels);
  encoder('enc_top', d);
  l.add('vq_top.embedding.weight', [s.numEmbeddings, d]).add('vq_bottom.embedding.weight', [s.numEmbeddings, d]);
  l.layer('top_to_bottom.0', [d, d, 4, 4], d);
  l.layer('dec_bottom.decoder.0', [h, 2 * d, 3, 3], h);
  residual('dec_bottom.decoder.1');
  residual('dec_bottom.decoder.2');
  l.layer('dec_bottom.decoder.4', [h, h, 4, 4], h).layer('dec_bottom.decoder.6', [h, h, 4, 4], h);
  l.layer('dec_bottom.decoder.8', [s.channels, h, 3, 3], s.channels);
  return l.tensors;
}

export interface VitganShape {
  readonly latent: number;
  readonly genHidden: number;
  readonly imageSize: number;
  readonly channels: number;
  readonly embed: number;
  readonly patch: number;
  readonly depth: number;
}

/** vitgan: a transposed-conv generator and a ViT discriminator of `depth` blocks. */
export function vitganLayout(s: VitganShape): ExpectedTensor[] {
  const l = new Layout();
  const gh = s.genHidden;
  const grid = s.imageSize / 16;
  l.layer('generator.0', [8 * gh * grid * grid, s.latent], 8 * gh * grid * grid);
  const widths = [8 * gh, 4 * gh, 2 * gh, gh];
  for (let i = 0; i < 3; i++) {
    l.layer(`generator.${3 * i + 2}`, [widths[i]!, widths[i + 1]!, 4, 4], widths[i + 1]!).batchNorm(`generator.${3 * i + 3}`, widths[i + 1]!);
  }
  l.layer('generator.11', [gh, s.channels, 4, 4], s.channels);
  const e = s.embed;
  const patches = (s.imageSize / s.patch) ** 2;
  l.add('discriminator.patch_embed.cls_token', [1, 1, e]).add('discriminator.patch_embed.pos_embedding', [1, patches + 1, e]);
  l.layer('discriminator.patch_embed.projection', [e, s.channels, s.patch, s.patch], e);
  for (let i = 0; i < s.depth; i++) {
    const p = `discriminator.transformer_blocks.${i}`;
    l.norm(`${p}.norm1`, e).add(`${p}.attn.in_proj_weight`, [3 * e, e]).add(`${p}.attn.in_proj_bias`, [3 * e]);
    l.layer(`${p}.attn.out_proj`, [e, e], e).norm(`${p}.norm2`, e);
    l.layer(`${p}.mlp.0`, [4 * e, e], 4 * e).layer(`${p}.mlp.3`, [e, 4 * e], e);
  }
  l.norm('discriminator.norm', e).layer('discriminator.head', [1, e], 1);
  return l.tensors;
}
