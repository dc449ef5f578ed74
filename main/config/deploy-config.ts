/**
 * `configs/deploy_config.yaml` (DESIGN §3): parsing, validation and defaults.
 *
 * Validation is done by a zod schema, but messages are written here rather than taken from
 * zod: users see `deploy.<key> must be <accepted form> (got <value>)`, which names the key they
 * typed and what would be accepted, independent of zod's wording.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { FramewormError } from '../common/errors.js';
import { isJsonObject, type JsonObject } from '../events/json.js';

/** Workspace-relative location of the config file. */
export const CONFIG_RELATIVE_PATH = 'configs/deploy_config.yaml';

export const EXPORT_FORMATS = ['torchscript', 'onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const ALERT_CHANNELS = ['slack', 'log', 'tray'] as const;
export type AlertChannel = (typeof ALERT_CHANNELS)[number];
export const DEFAULT_STAGES = ['production', 'staging'] as const;

/** The validated `deploy:` section. Keys keep the file's snake_case so docs and file agree. */
export type DeployConfig = {
  readonly export_format: readonly ExportFormat[];
  readonly quantize: boolean;
  readonly latency_threshold_ms: number;
  readonly error_rate_threshold: number;
  readonly rollback_checks: number;
  readonly monitor_interval_s: number;
  readonly alert_on: readonly AlertChannel[];
  readonly log_path: string;
  readonly registry_path: string;
  readonly slack_webhook_url: string | null;
  readonly cooldown_s: number;
  readonly probe: { readonly enabled: boolean; readonly interval_s: number };
  readonly host: string;
  readonly port_range_start: number;
  readonly docker_base_image: string;
  readonly docker_socket: string | null;
  /** Runtime the generated server's requirements install: onnxruntime (model.onnx) or torch (model.torchscript.pt). */
  readonly server_runtime: 'onnxruntime' | 'torch';
  readonly container_ready_timeout_s: number;
  readonly container_memory_mb: number;
  readonly python_path: string | null;
  readonly max_body_bytes: number;
  readonly request_timeout_ms: number;
  readonly max_batch_size: number;
  readonly inference_threads: number;
  /** Inference worker threads per loaded model; null: min(2, available cores). */
  readonly inference_workers: number | null;
  readonly metrics_window_s: number;
  readonly default_stage: (typeof DEFAULT_STAGES)[number];
};

export interface LoadedConfig {
  readonly config: DeployConfig;
  /** Human-readable notes about keys that were ignored (unknown keys, typos). */
  readonly warnings: readonly string[];
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

const positive = () => z.number().positive();
const intAtLeast = (min: number) => z.number().int().min(min);
const nonEmpty = () => z.string().trim().min(1);

const probeSchema = z.object({
  enabled: z.boolean().default(false),
  interval_s: positive().default(10),
});

// Defaults are factories so no two parses share (and could alias) the same array object.
const deploySchema = z.object({
  export_format: z.array(z.enum(EXPORT_FORMATS)).min(1).default((): ExportFormat[] => ['torchscript', 'onnx']),
  quantize: z.boolean().default(false),
  latency_threshold_ms: positive().default(2000),
  error_rate_threshold: z.number().min(0).max(1).default(0.1),
  rollback_checks: intAtLeast(1).default(3),
  monitor_interval_s: positive().default(30),
  alert_on: z.array(z.enum(ALERT_CHANNELS)).default((): AlertChannel[] => ['slack', 'log']),
  log_path: nonEmpty().default('experiments/deploy_logs'),
  registry_path: nonEmpty().default('experiments/model_registry'),
  slack_webhook_url: z.string().refine(isHttpUrl).nullable().default(null),
  cooldown_s: z.number().min(0).default(300),
  probe: probeSchema.default(() => ({ enabled: false, interval_s: 10 })),
  host: nonEmpty().default('127.0.0.1'),
  port_range_start: z.number().int().min(1).max(65535).default(8000),
  docker_base_image: nonEmpty().default('python:3.11-slim-bookworm'),
  docker_socket: nonEmpty().nullable().default(null),
  server_runtime: z.enum(['onnxruntime', 'torch']).default('onnxruntime'),
  container_ready_timeout_s: positive().default(180),
  container_memory_mb: intAtLeast(64).default(2048),
  python_path: nonEmpty().nullable().default(null),
  max_body_bytes: intAtLeast(1).default(10_485_760),
  request_timeout_ms: positive().default(30_000),
  max_batch_size: intAtLeast(1).default(64),
  inference_threads: intAtLeast(1).default(1),
  inference_workers: intAtLeast(1).nullable().default(null),
  metrics_window_s: positive().default(60),
  default_stage: z.enum(DEFAULT_STAGES).default('production'),
});

// Compile-time check that the schema's output really is a DeployConfig.
const _schemaMatchesType: (out: z.output<typeof deploySchema>) => DeployConfig = (out) => out;

/**
 * The accepted form of every key, keyed by path pattern (`[]` stands for any list index).
 * Messages read "deploy.<path> must be <form>".
 */
const ACCEPTED_FORMS: Readonly<Record<string, string>> = {
  export_format: 'a non-empty list of torchscript, onnx',
  'export_format[]': 'one of torchscript, onnx',
  quantize: 'true or false',
  latency_threshold_ms: 'a number > 0',
  error_rate_threshold: 'a number from 0 to 1',
  rollback_checks: 'an integer >= 1',
  monitor_interval_s: 'a number > 0',
  alert_on: 'a list of slack, log, tray',
  'alert_on[]': 'one of slack, log, tray',
  log_path: 'a non-empty path string',
  registry_path: 'a non-empty path string',
  slack_webhook_url: 'an http(s) URL or null',
  cooldown_s: 'a number >= 0',
  probe: 'a mapping with enabled (true/false) and interval_s (number > 0)',
  'probe.enabled': 'true or false',
  'probe.interval_s': 'a number > 0',
  host: 'a non-empty host name or IP address',
  port_range_start: 'an integer from 1 to 65535',
  docker_base_image: "a non-empty image reference, or 'offline' to build one from Debian packages",
  docker_socket: 'a path to the Docker daemon socket, or null (DOCKER_HOST, else /var/run/docker.sock)',
  server_runtime: 'one of onnxruntime, torch',
  container_ready_timeout_s: 'a number > 0',
  container_memory_mb: 'an integer >= 64',
  python_path: 'a non-empty path string or null',
  max_body_bytes: 'an integer >= 1',
  request_timeout_ms: 'a number > 0',
  max_batch_size: 'an integer >= 1',
  inference_threads: 'an integer >= 1',
  inference_workers: 'an integer >= 1, or null for min(2, available cores)',
  metrics_window_s: 'a number > 0',
  default_stage: 'one of production, staging',
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Every key at its default; what a workspace without a config file gets. */
export const DEFAULT_CONFIG: DeployConfig = deepFreeze(deploySchema.parse({}));

function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // JSON would say null
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function formatPath(segments: readonly PropertyKey[]): string {
  let out = 'deploy';
  for (const seg of segments) out += typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`;
  return out;
}

function valueAt(root: unknown, segments: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const seg of segments) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function unknownKeyWarning(source: string, keyPath: string, key: string, known: readonly string[]): string {
  const close = known
    .map((k) => ({ k, d: levenshtein(key.toLowerCase(), k) }))
    // Short keys get a small edit budget so "oops" is not "corrected" to "host".
    .filter(({ d }) => d <= Math.min(3, Math.floor(key.length / 3)))
    .sort((x, y) => x.d - y.d)[0];
  const hint = close ? ` (did you mean ${close.k}?)` : '';
  return `${source}: unknown key ${keyPath} is ignored${hint}`;
}

function collectUnknownKeys(source: string, raw: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  const known = Object.keys(deploySchema.shape);
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) warnings.push(unknownKeyWarning(source, `deploy.${key}`, key, known));
  }
  const probe = raw['probe'];
  if (isJsonObject(probe)) {
    const probeKnown = Object.keys(probeSchema.shape);
    for (const key of Object.keys(probe)) {
      if (!probeKnown.includes(key)) warnings.push(unknownKeyWarning(source, `deploy.probe.${key}`, key, probeKnown));
    }
  }
  return warnings;
}

function configError(source: string, problems: readonly string[]): FramewormError {
  const [first, ...rest] = problems;
  const more = rest.length > 0 ? `; ${rest.join('; ')}` : '';
  return new FramewormError('E_CONFIG', `${source}: ${first ?? 'invalid configuration'}${more}`, { problems });
}

/**
 * Parses and validates the text of a deploy config file. `sourceName` prefixes every message
 * (normally `configs/deploy_config.yaml`). Throws FramewormError('E_CONFIG').
 */
export function parseDeployConfig(text: string, sourceName: string = CONFIG_RELATIVE_PATH): LoadedConfig {
  // prettyErrors computes linePos; its message suffix " at line L, column C:" is stripped below.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const syntaxError = doc.errors[0];
  if (syntaxError) {
    const pos = syntaxError.linePos?.[0];
    const where = pos ? `${sourceName}:${pos.line}:${pos.col}` : sourceName;
    const firstLine = (syntaxError.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new FramewormError('E_CONFIG', `${where}: YAML syntax error: ${firstLine}`);
  }
  const root: unknown = doc.toJS();
  // An empty (or comments-only) file is treated like a missing one: all defaults.
  if (root === null || root === undefined) return { config: DEFAULT_CONFIG, warnings: [] };
  if (!isJsonObject(root)) {
    throw configError(sourceName, [`the file must be a mapping with a root key deploy: (got ${showValue(root)})`]);
  }
  if (!('deploy' in root)) {
    throw configError(sourceName, ['the root key deploy: is missing (all settings live under deploy:)']);
  }
  const warnings: string[] = Object.keys(root)
    .filter((k) => k !== 'deploy')
    .map((k) => `${sourceName}: unknown root key ${k} is ignored (settings live under deploy:)`);
  const section: unknown = root['deploy'] ?? {};
  if (!isJsonObject(section)) {
    throw configError(sourceName, [`deploy must be a mapping of settings (got ${showValue(section)})`]);
  }
  warnings.push(...collectUnknownKeys(sourceName, section));

  const result = deploySchema.safeParse(section);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const pattern = issue.path.map((seg) => (typeof seg === 'number' ? '[]' : String(seg))).join('.').replace(/\.\[\]/g, '[]');
      const form = ACCEPTED_FORMS[pattern] ?? issue.message;
      return `${formatPath(issue.path)} must be ${form} (got ${showValue(valueAt(section, issue.path))})`;
    });
    throw configError(sourceName, problems);
  }
  return { config: deepFreeze(result.data), warnings };
}

/**
 * Loads `<workspaceRoot>/configs/deploy_config.yaml`. A missing file means all defaults.
 * Throws FramewormError('E_CONFIG') when the file exists but is unreadable or invalid.
 */
export function loadDeployConfig(workspaceRoot: string): LoadedConfig {
  const file = path.join(workspaceRoot, CONFIG_RELATIVE_PATH);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { config: DEFAULT_CONFIG, warnings: [] };
    const why = code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? String(err)})`;
    throw new FramewormError('E_CONFIG', `${CONFIG_RELATIVE_PATH} ${why}`);
  }
  return parseDeployConfig(text, CONFIG_RELATIVE_PATH);
}

/**
 * A plain-JSON copy of the config for version lineage. The Slack webhook URL is a secret
 * (anyone holding it can post to the channel), so the snapshot only records whether one was set.
 */
export function configSnapshot(config: DeployConfig): JsonObject {
  const copy = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  if (copy['slack_webhook_url'] !== null) copy['slack_webhook_url'] = '<redacted>';
  return copy as JsonObject;
}
