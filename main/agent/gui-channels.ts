/**
 * The GUI's own channels, kept out of the control plane's composition root: the try-it form of a
 * deployment (built from its export manifest, with the same bounds the endpoint enforces), the
 * try-it request itself (posted from the main side: the page may not call another origin), and
 * the settings view, whose Slack URL is write-only.
 */
import type { DeployConfig } from '../config/deploy-config.js';
import type {
  EditableSettings, ModelTypeName, SettingsChange, SettingsView, TryFieldView, TryFormView, TryResult,
} from '../../preload/contract.js';
import type { ExportManifest } from '../common/export-manifest.js';
import { FramewormError } from '../common/errors.js';
import { resolveWebhookUrl, SLACK_WEBHOOK_ENV } from '../alerts/index.js';
import { CONFIG_RELATIVE_PATH } from '../config/deploy-config.js';
import { MAX_GUIDANCE } from '../serving/schemas/diffusion.js';
// The schemas' own reader: the form's bounds come from the values the endpoint enforces.
import { hpInt } from '../serving/schemas/fields.js';

/** Most pictures one try-it request asks for: a gallery, not a load test. */
const MAX_TRY_BATCH = 16;
/** Default steps of a diffusion try: enough for a picture, few enough for a CPU. */
const DEFAULT_TRY_STEPS = 50;
/** Longest a try-it request may take (a diffusion sample on a slow CPU). */
const TRY_TIMEOUT_MS = 120_000;

/** The fixed side of a manifest input `x` [B, C, H, W] at `axis`, or null when symbolic. */
function fixedDim(manifest: ExportManifest, axis: number): number | null {
  const x = manifest.inputs.find((i) => i.name === 'x');
  const d = x?.shape[axis];
  return typeof d === 'number' && d > 0 ? d : null;
}

const SEED: TryFieldView = { key: 'seed', kind: 'integer', label: 'Seed', min: 0, max: 2 ** 31 - 1, step: 1, default: 0 };

function batchField(maxBatch: number): TryFieldView {
  return { key: 'batch_size', kind: 'integer', label: 'Batch size', min: 1, max: Math.min(maxBatch, MAX_TRY_BATCH), step: 1, default: 4 > maxBatch ? 1 : 4 };
}

/**
 * The try-it form of one served version: the request fields of its architecture (DESIGN §5)
 * with the bounds its schema enforces, and which response keys are pictures.
 */
export function buildTryForm(args: {
  readonly name: string;
  readonly version: string;
  readonly type: ModelTypeName;
  readonly url: string;
  readonly manifest: ExportManifest;
  readonly maxBatchSize: number;
}): TryFormView {
  const { manifest, maxBatchSize } = args;
  const hp = manifest.hyper_parameters;
  const base = { name: args.name, version: args.version, type: args.type, url: args.url };
  const steps = Array.isArray(manifest.schedule?.['betas']) ? (manifest.schedule['betas'] as unknown[]).length : hpInt(hp, 'timesteps', 1000);
  const stepsField: TryFieldView = { key: 'num_steps', kind: 'integer', label: 'Sampling steps', min: 1, max: steps, step: 1, default: Math.min(steps, DEFAULT_TRY_STEPS) };
  switch (args.type) {
    case 'dcgan':
    case 'vitgan':
      return { ...base, fields: [batchField(maxBatchSize), SEED], image_outputs: ['images'], unsupported: null };
    case 'ddpm':
      return { ...base, fields: [batchField(maxBatchSize), stepsField, SEED], image_outputs: ['images'], unsupported: null };
    case 'cfg_ddpm':
      return {
        ...base,
        fields: [
          batchField(maxBatchSize),
          { key: 'class_labels', kind: 'class', label: 'Class', classes: hpInt(hp, 'num_classes', 10), default: null },
          { key: 'guidance_scale', kind: 'number', label: 'Guidance scale', min: 0, max: Math.min(20, MAX_GUIDANCE), step: 0.5, default: 3 },
          stepsField,
          SEED,
        ],
        image_outputs: ['images'],
        unsupported: null,
      };
    case 'vae': {
      const size = hpInt(hp, 'image_size', 32);
      const image: TryFieldView = { key: 'x', kind: 'image', label: 'Image', channels: hpInt(hp, 'channels', 3), height: size, width: size, range: '[0,1]' };
      return { ...base, fields: [image], image_outputs: ['reconstruction'], unsupported: null };
    }
    case 'vqvae2': {
      const channels = hpInt(hp, 'channels', hpInt(hp, 'in_channels', 3));
      const image: TryFieldView = { key: 'x', kind: 'image', label: 'Image', channels, height: fixedDim(manifest, 2), width: fixedDim(manifest, 3), multiple_of: 16, range: '[-1,1]' };
      return { ...base, fields: [image], image_outputs: ['reconstruction'], unsupported: null };
    }
    case 'generic':
      return { ...base, fields: [], image_outputs: [], unsupported: 'a generic ONNX model has no known picture outputs: post its inputs with curl (see the command)' };
  }
}

/** The endpoint's error text from a 4xx/5xx body (`{"error": …}` per DESIGN §5), else the raw text. */
function endpointError(text: string): string {
  try {
    const v = JSON.parse(text) as { error?: unknown };
    if (typeof v.error === 'string') return v.error;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 300) || 'no message';
}

/**
 * Posts `body` to `url` (a stable endpoint's /predict) and returns its JSON answer. The endpoint
 * validates: a 4xx becomes E_INPUT with its own message, a 5xx E_RUNTIME.
 */
export async function postTry(name: string, url: string, body: Readonly<Record<string, unknown>>, signal: AbortSignal): Promise<TryResult> {
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(TRY_TIMEOUT_MS)]),
    });
  } catch (err) {
    throw new FramewormError('E_RUNTIME', `${name}: the endpoint did not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  const text = await res.text();
  const latency = Math.round((performance.now() - started) * 10) / 10;
  if (res.status >= 400 && res.status < 500) throw new FramewormError('E_INPUT', `${name} refused the request (HTTP ${res.status}): ${endpointError(text)}`);
  if (!res.ok) throw new FramewormError('E_RUNTIME', `${name} failed (HTTP ${res.status}): ${endpointError(text)}`);
  let output: unknown;
  try {
    output = JSON.parse(text);
  } catch {
    throw new FramewormError('E_RUNTIME', `${name} answered HTTP ${res.status} with a body that is not JSON`);
  }
  if (typeof output !== 'object' || output === null || Array.isArray(output)) throw new FramewormError('E_RUNTIME', `${name} answered with JSON that is not an object`);
  return { name, status: res.status, latency_ms: latency, output: output as Record<string, unknown> };
}

/** The keys `config.set` may change, each with the check of its value's JSON type (the schema checks the rest). */
export const EDITABLE_KEYS: readonly (keyof EditableSettings)[] = [
  'latency_threshold_ms', 'error_rate_threshold', 'rollback_checks', 'monitor_interval_s', 'min_requests_per_check', 'cooldown_s', 'alert_on',
];

/** The settings view of a config: the Slack URL reduced to whether (and where) one is set. */
export function settingsView(config: DeployConfig, env: NodeJS.ProcessEnv = process.env): SettingsView {
  const settings = Object.fromEntries(EDITABLE_KEYS.map((k) => [k, config[k]])) as unknown as EditableSettings;
  const inConfig = Boolean(config.slack_webhook_url?.trim());
  const inEnv = Boolean(env[SLACK_WEBHOOK_ENV]?.trim());
  return { settings, slack_webhook_set: inConfig || inEnv, slack_webhook_source: inConfig ? 'config' : inEnv ? 'env' : null, file: CONFIG_RELATIVE_PATH };
}

/**
 * The config-file changes of a `config.set` request: unknown keys refused (E_USAGE), the URL
 * checked as alerts would use it (https, or http to the loopback) before anything is written.
 */
export function configChanges(change: SettingsChange): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const allowed = new Set<string>(EDITABLE_KEYS);
  for (const key of Object.keys(change)) {
    if (key !== 'settings' && key !== 'slack_webhook_url') throw new FramewormError('E_USAGE', `config.set takes settings and slack_webhook_url, not ${key}`);
  }
  const settings = change.settings ?? {};
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw new FramewormError('E_USAGE', 'config.set: settings must be an object');
  for (const [key, value] of Object.entries(settings)) {
    if (!allowed.has(key)) throw new FramewormError('E_USAGE', `config.set cannot change ${key} (editable: ${EDITABLE_KEYS.join(', ')})`);
    out[key] = value;
  }
  if (change.slack_webhook_url !== undefined) {
    const url = change.slack_webhook_url;
    if (url !== null && typeof url !== 'string') throw new FramewormError('E_USAGE', 'config.set: slack_webhook_url must be a URL string or null');
    if (url === null || url.trim() === '') {
      out['slack_webhook_url'] = undefined;
    } else {
      resolveWebhookUrl(url.trim(), {});
      out['slack_webhook_url'] = url.trim();
    }
  }
  return out;
}
