import { describe, expect, it } from 'vitest';
import { buildTryForm, configChanges, settingsView } from '../../../main/agent/gui-channels.js';
import type { ExportManifest } from '../../../main/common/export-manifest.js';
import { DEFAULT_CONFIG } from '../../../main/config/deploy-config.js';
import type { ModelTypeName } from '../../../preload/contract.js';

function manifest(type: ModelTypeName, hp: Record<string, unknown>, extra: Partial<ExportManifest> = {}): ExportManifest {
  return { format_version: 1, type, hyper_parameters: hp, inputs: [], outputs: [], files: {}, parity: {}, opset: 17, torch_version: null, export_seconds: 1, ...extra };
}

const form = (type: ModelTypeName, m: ExportManifest, maxBatchSize = 64) => buildTryForm({ name: 'm', version: 'v1', type, url: 'http://127.0.0.1:8000/predict', manifest: m, maxBatchSize });

describe('the try-it form of each architecture', () => {
  it('GANs: batch size and seed, pictures in images', () => {
    const f = form('dcgan', manifest('dcgan', { latent_dim: 100 }));
    expect(f.fields.map((x) => x.key)).toEqual(['batch_size', 'seed']);
    expect(f.fields[0]).toMatchObject({ kind: 'integer', min: 1, max: 16, default: 4 });
    expect(f.image_outputs).toEqual(['images']);
    expect(form('vitgan', manifest('vitgan', {}), 2).fields[0]).toMatchObject({ max: 2, default: 1 });
  });

  it('diffusion: steps up to the schedule length; CFG adds the class picker and a guidance slider', () => {
    const schedule = { betas: new Array<number>(200).fill(0.01) };
    expect(form('ddpm', manifest('ddpm', {}, { schedule })).fields.find((x) => x.key === 'num_steps')).toMatchObject({ min: 1, max: 200, default: 50 });
    const cfg = form('cfg_ddpm', manifest('cfg_ddpm', { num_classes: 7 }, { schedule }));
    expect(cfg.fields.map((x) => x.key)).toEqual(['batch_size', 'class_labels', 'guidance_scale', 'num_steps', 'seed']);
    expect(cfg.fields[1]).toMatchObject({ kind: 'class', classes: 7, default: null });
    expect(cfg.fields[2]).toMatchObject({ kind: 'number', min: 0, max: 20, step: 0.5, default: 3 });
  });

  it('VAE and VQ-VAE-2 take a picture of their input size and range', () => {
    expect(form('vae', manifest('vae', { channels: 1, image_size: 28 })).fields).toEqual([{ key: 'x', kind: 'image', label: 'Image', channels: 1, height: 28, width: 28, range: '[0,1]' }]);
    const vq = form('vqvae2', manifest('vqvae2', { in_channels: 3 }, { inputs: [{ name: 'x', shape: ['batch', 3, 'h', 'w'], dtype: 'float32' }] }));
    expect(vq.fields[0]).toMatchObject({ channels: 3, height: null, width: null, multiple_of: 16, range: '[-1,1]' });
    expect(vq.image_outputs).toEqual(['reconstruction']);
  });

  it('a generic model has no picture form and says why', () => {
    expect(form('generic', manifest('generic', {}))).toMatchObject({ fields: [], unsupported: expect.stringMatching(/generic ONNX model/) });
  });
});

describe('settings requests', () => {
  it('the view hides the URL; env-only URLs are reported as such', () => {
    const withUrl = { ...DEFAULT_CONFIG, slack_webhook_url: 'https://hooks.slack.com/services/T/B/secret' };
    expect(JSON.stringify(settingsView(withUrl, {}))).not.toContain('secret');
    expect(settingsView(withUrl, {})).toMatchObject({ slack_webhook_set: true, slack_webhook_source: 'config' });
    expect(settingsView(DEFAULT_CONFIG, { FRAMEWORM_SLACK_WEBHOOK: 'https://x.test/h' })).toMatchObject({ slack_webhook_set: true, slack_webhook_source: 'env' });
    expect(settingsView(DEFAULT_CONFIG, {})).toMatchObject({ slack_webhook_set: false, slack_webhook_source: null });
  });

  it('only editable keys; the URL checked as alerts use it; null or empty removes it', () => {
    expect(configChanges({ settings: { latency_threshold_ms: 5 }, slack_webhook_url: ' https://hooks.slack.com/services/T/B/x ' })).toEqual({ latency_threshold_ms: 5, slack_webhook_url: 'https://hooks.slack.com/services/T/B/x' });
    expect(Object.entries(configChanges({ slack_webhook_url: null }))).toEqual([['slack_webhook_url', undefined]]);
    expect(() => configChanges({ settings: { docker_socket: '/x' } as never })).toThrow('config.set cannot change docker_socket');
    expect(() => configChanges({ slack_webhook_url: 'http://example.com/hook' })).toThrow(/https/);
    expect(() => configChanges({ other: 1 } as never)).toThrow('config.set takes settings and slack_webhook_url, not other');
  });
});
