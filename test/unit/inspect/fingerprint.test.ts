import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cfgLayout, dcganLayout, vaeLayout } from '../../../main/inspect/arch-templates.js';
import { type TensorInfo, countParameters, detect } from '../../../main/inspect/fingerprint.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

interface ListingEntry {
  readonly config: Record<string, unknown>;
  readonly n_tensors: number;
  readonly n_params: number;
  readonly state_dict: [string, number[], string][];
}

const listings = JSON.parse(readFileSync(compatPath('state-dicts.json'), 'utf8')) as Record<string, ListingEntry[]>;

function tensorsOf(entry: ListingEntry): TensorInfo[] {
  return entry.state_dict.map(([name, shape, dtype]) => ({ name, shape, dtype }));
}

/** Config keys that name the same thing under a different FRAMEWORM key in our report. */
const ALIASES: Record<string, string> = { in_channels: 'channels', image_channels: 'channels' };

/** Config keys the weights cannot reveal (compat/README.md, "Not recoverable from the weights"). */
const NOT_RECOVERABLE: Record<string, readonly string[]> = {
  vae: ['beta'],
  dcgan: [],
  ddpm: [],
  vqvae2: ['commitment_cost'],
  vitgan: ['vit_heads'],
  cfg_ddpm: ['image_size', 'p_uncond'],
};

describe('detect: every state-dicts.json listing', () => {
  for (const [arch, entries] of Object.entries(listings)) {
    entries.forEach((entry, i) => {
      it(`${arch} #${i + 1} ${JSON.stringify(entry.config)}`, () => {
        const tensors = tensorsOf(entry);
        const det = detect(tensors);
        expect(det.type).toBe(arch);
        expect(det.reason).toBeUndefined();
        expect(det.warnings).toEqual([]);
        expect(det.structure).toMatchObject({ complete: true, expected_tensors: entry.n_tensors, missing: [], unexpected: [], mismatched: [] });
        for (const [key, value] of Object.entries(entry.config)) {
          if (NOT_RECOVERABLE[arch]!.includes(key)) continue;
          expect(det.hyper_parameters[ALIASES[key] ?? key], key).toEqual(value);
        }
        expect(tensors).toHaveLength(entry.n_tensors);
        expect(countParameters(tensors, det.type)).toBe(entry.n_params);
      });
    });
  }

  it('the README tensor-count formulas agree with the layouts', () => {
    for (const n of [1, 2, 3, 4, 5]) {
      expect(dcganLayout({ latent: 8, ngf: 4, ndf: 4, channels: 3, discriminatorBatchNorms: n })).toHaveLength(27 + 6 * n);
    }
    expect(cfgLayout({ timesteps: 10, numClasses: 3, modelChannels: 8, channels: 1, timeEmbedding: 32 })).toHaveLength(222);
  });
});

describe('detect: variants and broken state dicts', () => {
  const vae = tensorsOf(listings['vae']![2]!);
  const ddpm = tensorsOf(listings['ddpm']![2]!);

  it('recovers the discriminator size of DCGAN variants (32 and 128)', () => {
    for (const [n, size] of [[2, 32], [4, 128]] as const) {
      const layout = dcganLayout({ latent: 16, ngf: 8, ndf: 8, channels: 1, discriminatorBatchNorms: n });
      const det = detect(layout.map((t) => ({ name: t.name, shape: t.shape, dtype: t.integer ? 'int64' : 'float32' })));
      expect(det.type).toBe('dcgan');
      expect(det.hyper_parameters).toMatchObject({ latent_dim: 16, ngf: 8, ndf: 8, channels: 1, image_size: 64, discriminator_image_size: size });
      expect(det.structure?.complete).toBe(true);
    }
  });

  it('notes a VAE whose encoder and decoder disagree on image size (input_size 40)', () => {
    const layout = vaeLayout({ latent: 4, channels: 3, encoderGrid: 2, decoderGrid: 3 });
    const det = detect(layout.map((t) => ({ name: t.name, shape: t.shape, dtype: 'float32' })));
    expect(det.type).toBe('vae');
    expect(det.hyper_parameters).toMatchObject({ image_size: 32, encoder_image_size: 32, decoder_output_size: 48 });
    expect(det.warnings.join('\n')).toMatch(/encoder reads 32, decoder outputs 48/);
  });

  it('keeps the type but reports missing, unexpected and reshaped tensors', () => {
    const broken = vae
      .filter((t) => t.name !== 'decoder.deconv_layers.6.bias')
      .map((t) => (t.name === 'encoder.fc_logvar.weight' ? { ...t, shape: [9, 1024] } : t))
      .concat([{ name: 'extra.weight', shape: [1], dtype: 'float32' }]);
    const det = detect(broken);
    expect(det.type).toBe('vae');
    expect(det.structure).toMatchObject({
      complete: false,
      missing: ['decoder.deconv_layers.6.bias'],
      unexpected: ['extra.weight'],
      mismatched: [{ name: 'encoder.fc_logvar.weight', expected: [8, 1024], actual: [9, 1024] }],
    });
    const text = det.warnings.join('\n');
    expect(text).toMatch(/does not fully match a FRAMEWORM vae: 1 missing \(decoder\.deconv_layers\.6\.bias\), 1 unexpected \(extra\.weight\), 1 with the wrong shape/);
    expect(text).toMatch(/a strict load will fail/);
  });

  it('reports a tensor-count mismatch', () => {
    const det = detect(ddpm.slice(0, -2));
    expect(det.type).toBe('ddpm');
    expect(det.warnings[0]).toBe('expected 66 tensors for a FRAMEWORM ddpm with these hyper-parameters, found 64');
  });

  it('is generic, with a reason, when a fingerprint key comes without its companion', () => {
    const det = detect(ddpm.filter((t) => t.name !== 'posterior_variance'));
    expect(det.type).toBe('generic');
    expect(det.reason).toMatch(/it has model\.down1\.conv1\.weight but not posterior_variance, so it is not a FRAMEWORM ddpm/);
  });

  it('is generic, with a reason, when the hyper-parameters cannot be read', () => {
    const det = detect(vae.filter((t) => t.name !== 'encoder.conv_layers.0.weight'));
    expect(det.type).toBe('generic');
    expect(det.reason).toMatch(/like a FRAMEWORM vae, but its hyper-parameters cannot be read: encoder\.conv_layers\.0\.weight is missing/);
  });

  it('is generic for unknown weights and lists the fingerprints and first keys', () => {
    const det = detect([
      { name: 'fc1.weight', shape: [8, 4], dtype: 'float32' },
      { name: 'fc1.bias', shape: [8], dtype: 'float32' },
      { name: 'fc2.weight', shape: [3, 8], dtype: 'float32' },
      { name: 'fc2.bias', shape: [3], dtype: 'float32' },
    ]);
    expect(det).toMatchObject({ type: 'generic', hyper_parameters: {}, warnings: [] });
    expect(det.reason).toBe(
      'no FRAMEWORM fingerprint matched: none of encoder.fc_mu.weight, generator.main.0.weight, model.down1.conv1.weight + posterior_variance, ' +
        'unet.class_emb.weight, vq_top.embedding.weight, generator.0.weight + discriminator.patch_embed.pos_embedding present ' +
        '(first keys: fc1.weight, fc1.bias, fc2.weight, …)',
    );
  });

  it('explains a DataParallel module. prefix', () => {
    const det = detect(vae.map((t) => ({ ...t, name: `module.${t.name}` })));
    expect(det.type).toBe('generic');
    expect(det.reason).toMatch(/'module\.'.*FRAMEWORM vae.*model\.module\.state_dict\(\)/);
  });

  it('warns about half-precision weights', () => {
    const det = detect(vae.map((t) => ({ ...t, dtype: 'float16' })));
    expect(det.type).toBe('vae');
    expect(det.structure?.complete).toBe(true);
    expect(det.warnings).toEqual(['22 tensors are stored in float16; FRAMEWORM trains and serves float32']);
  });
});
