/**
 * `configs/deploy_config.yaml` (DESIGN §3): parsing, validation and defaults.
 *
 * Validation is done by a zod schema, but messages are written here rather than taken from
 * zod: users see `deploy.<key> must be <accepted form> (got <value>)`, which names the key they
 * typed and what would be accepted, independent of zod's wording.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { FramewormError } from '../common/errors.js';
import { isJsonObject, type JsonObject } from '../common/json.js';
import { MAX_SWARM_REPLICAS } from '../../preload/contract.js';

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
  /** Keep the previous production version loaded for an instant rollback: auto = on the embedded target only. */
  readonly warm_standby: 'auto' | boolean;
  /** Fewest requests (user + probe, in flight included) that make a rollback check conclusive. */
  readonly min_requests_per_check: number;
  readonly probe: { readonly enabled: boolean; readonly interval_s: number };
  readonly host: string;
  readonly port_range_start: number;
  readonly docker_base_image: string;
  readonly docker_socket: string | null;
  /** Runtime the generated server's requirements install: onnxruntime (model.onnx) or torch (model.torchscript.pt). */
  readonly server_runtime: 'onnxruntime' | 'torch';
  readonly container_ready_timeout_s: number;
  readonly container_memory_mb: number;
  /** Replicas of a version on the swarm target (`deploy start --target swarm` without --replicas). */
  readonly swarm_replicas: number;
  readonly python_path: string | null;
  readonly max_body_bytes: number;
  /** Largest checkpoint the web GUI accepts as an upload (`POST /upload`, not the RPC body limit). */
  readonly max_upload_bytes: number;
  /** Open connections per stable endpoint; more are closed at once (the agent's descriptors stay free). */
  readonly max_connections: number;
  readonly request_timeout_ms: number;
  readonly max_batch_size: number;
  /** Dynamic / continuous batching on the embedded runtime: rows per model call, longest wait to coalesce. */
  readonly batching: { readonly enabled: boolean; readonly max_rows: number; readonly max_delay_ms: number };
  readonly inference_threads: number;
  /** Inference worker threads per loaded model; null: min(2, available cores). */
  readonly inference_workers: number | null;
  readonly metrics_window_s: number;
  readonly default_stage: (typeof DEFAULT_STAGES)[number];
  /** SHIFT drift monitoring (issue 10): on/off, the fraction of requests sampled, window and reference sizes (rows), test level and permutations. */
  readonly drift_enabled: boolean;
  readonly drift_sample_rate: number;
  /** Samples a second per deployment handed to the drift worker at most (the documented cap). */
  readonly drift_max_samples_per_s: number;
  readonly drift_window: number;
  readonly drift_reference_size: number;
  readonly drift_alpha: number;
  readonly drift_permutations: number;
  /** Whether sustained drift alone may roll a deployment back (never by default). */
  readonly rollback_on_drift: boolean;
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

/**
 * True for an IP literal (v4 or v6) or a DNS host name made of RFC 1123 labels. Anything else
 * (spaces, `;`, URLs, `host:port`) would only fail much later, at the first listen.
 */
export function isHostOrIp(value: string): boolean {
  if (net.isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  // All digits and dots is a malformed IPv4 address (999.1.1.1), not a name.
  if (/^[0-9.]+$/.test(name)) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

// Upper bounds. Timers go through setTimeout, which silently turns any delay above 2^31-1 ms
// (24.8 days) into 1 ms, so every duration stays well below that; counts are capped where a
// typo (an extra zero or two) would exhaust threads or memory instead of failing here.
const DAY_S = 86_400;
const DAY_MS = DAY_S * 1000;
const WEEK_S = 7 * DAY_S;
/** Most inference worker threads per loaded model. */
export const MAX_INFERENCE_WORKERS = 64;
/** Most onnxruntime intra-op threads per inference worker. */
export const MAX_INFERENCE_THREADS = 64;
const MAX_BATCH_SIZE = 65_536;
// A JSON body is decoded as one string; V8 strings stop at about 512 MiB.
const MAX_BODY_BYTES = 256 * 1024 * 1024;
/** Web-mode uploads stream to disk, so the cap is the disk's business: 64 GiB keeps a typo sane. */
const MAX_UPLOAD_BYTES = 64 * 1024 ** 3;
const MAX_CONTAINER_MEMORY_MB = 1_048_576; // 1 TiB
/** Most replicas one Swarm service may run (`swarm_replicas`, `deploy start --replicas`, `deploy scale`): each takes a host port of its own. Defined in the contract, so the GUI's form shares it. */
export { MAX_SWARM_REPLICAS };
const MAX_ROLLBACK_CHECKS = 1000;
const MAX_MIN_REQUESTS_PER_CHECK = 1_000_000;
// Drift windows and references hold raw rows in memory; the tests need at least 10 rows a side.
const MIN_DRIFT_ROWS = 10;
const MAX_DRIFT_ROWS = 100_000;
const MAX_DRIFT_PERMUTATIONS = 100_000;
// The config file is small by nature; a huge one is a mistake (or an attack on the parser).
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
// Alias uses allowed while turning the YAML into values: a real config has none or a few; a
// "billion laughs" document needs many to expand exponentially.
const MAX_ALIAS_COUNT = 100;

const positive = () => z.number().positive();
const positiveAtMost = (max: number) => z.number().positive().max(max);
const intBetween = (min: number, max: number) => z.number().int().min(min).max(max);
const nonEmpty = () => z.string().trim().min(1);

// A model call of more rows than this is no longer faster per row on CPU and holds its whole batch back.
const MAX_BATCH_ROWS = 4096;
const MAX_BATCH_DELAY_MS = 1000;

const batchingSchema = z.object({
  enabled: z.boolean().default(true),
  max_rows: intBetween(1, MAX_BATCH_ROWS).default(64),
  max_delay_ms: z.number().min(0).max(MAX_BATCH_DELAY_MS).default(2),
});

const probeSchema = z.object({
  enabled: z.boolean().default(false),
  interval_s: positiveAtMost(DAY_S).default(10),
});

// Defaults are factories so no two parses share (and could alias) the same array object.
const deploySchema = z.object({
  export_format: z.array(z.enum(EXPORT_FORMATS)).min(1).default((): ExportFormat[] => ['torchscript', 'onnx']),
  quantize: z.boolean().default(false),
  latency_threshold_ms: positive().default(2000),
  error_rate_threshold: z.number().min(0).max(1).default(0.1),
  rollback_checks: intBetween(1, MAX_ROLLBACK_CHECKS).default(3),
  monitor_interval_s: positiveAtMost(DAY_S).default(30),
  alert_on: z.array(z.enum(ALERT_CHANNELS)).default((): AlertChannel[] => ['slack', 'log']),
  log_path: nonEmpty().default('experiments/deploy_logs'),
  registry_path: nonEmpty().default('experiments/model_registry'),
  slack_webhook_url: z.string().refine(isHttpUrl).nullable().default(null),
  cooldown_s: z.number().min(0).max(WEEK_S).default(300),
  warm_standby: z.union([z.literal('auto'), z.boolean()]).default('auto'),
  min_requests_per_check: intBetween(1, MAX_MIN_REQUESTS_PER_CHECK).default(20),
  probe: probeSchema.default(() => ({ enabled: false, interval_s: 10 })),
  host: z.string().refine(isHostOrIp).default('127.0.0.1'),
  port_range_start: z.number().int().min(1).max(65535).default(8000),
  docker_base_image: nonEmpty().default('python:3.11-slim-bookworm'),
  docker_socket: nonEmpty().nullable().default(null),
  server_runtime: z.enum(['onnxruntime', 'torch']).default('onnxruntime'),
  container_ready_timeout_s: positiveAtMost(DAY_S).default(180),
  container_memory_mb: intBetween(64, MAX_CONTAINER_MEMORY_MB).default(2048),
  swarm_replicas: intBetween(1, MAX_SWARM_REPLICAS).default(2),
  python_path: nonEmpty().nullable().default(null),
  max_body_bytes: intBetween(1, MAX_BODY_BYTES).default(10_485_760),
  max_upload_bytes: intBetween(1, MAX_UPLOAD_BYTES).default(2 * 1024 ** 3),
  max_connections: intBetween(16, 65_536).default(1024),
  request_timeout_ms: positiveAtMost(DAY_MS).default(30_000),
  max_batch_size: intBetween(1, MAX_BATCH_SIZE).default(64),
  batching: batchingSchema.default(() => ({ enabled: true, max_rows: 64, max_delay_ms: 2 })),
  inference_threads: intBetween(1, MAX_INFERENCE_THREADS).default(1),
  inference_workers: intBetween(1, MAX_INFERENCE_WORKERS).nullable().default(null),
  metrics_window_s: positiveAtMost(DAY_S).default(60),
  default_stage: z.enum(DEFAULT_STAGES).default('production'),
  drift_enabled: z.boolean().default(true),
  drift_sample_rate: z.number().min(0).max(1).default(1),
  drift_max_samples_per_s: z.number().min(0.1).max(1000).default(10),
  drift_window: intBetween(MIN_DRIFT_ROWS, MAX_DRIFT_ROWS).default(200),
  drift_reference_size: intBetween(MIN_DRIFT_ROWS, MAX_DRIFT_ROWS).default(200),
  drift_alpha: z.number().gt(0).max(0.5).default(0.05),
  drift_permutations: intBetween(10, MAX_DRIFT_PERMUTATIONS).default(500),
  rollback_on_drift: z.boolean().default(false),
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
  rollback_checks: `an integer from 1 to ${MAX_ROLLBACK_CHECKS}`,
  monitor_interval_s: `a number > 0 and at most ${DAY_S} (one day)`,
  alert_on: 'a list of slack, log, tray',
  'alert_on[]': 'one of slack, log, tray',
  log_path: 'a non-empty path string',
  registry_path: 'a non-empty path string',
  slack_webhook_url: 'an http(s) URL or null',
  cooldown_s: `a number from 0 to ${WEEK_S} (one week)`,
  warm_standby: 'auto, true or false',
  min_requests_per_check: `an integer from 1 to ${MAX_MIN_REQUESTS_PER_CHECK}`,
  probe: 'a mapping with enabled (true/false) and interval_s (number > 0)',
  'probe.enabled': 'true or false',
  'probe.interval_s': `a number > 0 and at most ${DAY_S} (one day)`,
  host: "an IP address (e.g. 127.0.0.1, ::1) or a host name of dot-separated labels of letters, digits and '-'",
  port_range_start: 'an integer from 1 to 65535',
  docker_base_image: "a non-empty image reference, or 'offline' to build one from Debian packages",
  docker_socket: 'a path to the Docker daemon socket, or null (DOCKER_HOST, else /var/run/docker.sock)',
  server_runtime: 'one of onnxruntime, torch',
  container_ready_timeout_s: `a number > 0 and at most ${DAY_S} (one day)`,
  container_memory_mb: `an integer from 64 to ${MAX_CONTAINER_MEMORY_MB}`,
  swarm_replicas: `an integer from 1 to ${MAX_SWARM_REPLICAS} (replicas of a version on the swarm target)`,
  python_path: 'a non-empty path string or null',
  max_body_bytes: `an integer from 1 to ${MAX_BODY_BYTES} (256 MiB)`,
  max_upload_bytes: `an integer from 1 to ${MAX_UPLOAD_BYTES} (64 GiB)`,
  max_connections: 'an integer from 16 to 65536',
  request_timeout_ms: `a number > 0 and at most ${DAY_MS} (one day)`,
  max_batch_size: `an integer from 1 to ${MAX_BATCH_SIZE}`,
  batching: 'a mapping with enabled (true/false), max_rows (integer) and max_delay_ms (number)',
  'batching.enabled': 'true or false',
  'batching.max_rows': `an integer from 1 to ${MAX_BATCH_ROWS} (rows per model call)`,
  'batching.max_delay_ms': `a number from 0 to ${MAX_BATCH_DELAY_MS} (ms a request may wait to share a model call)`,
  inference_threads: `an integer from 1 to ${MAX_INFERENCE_THREADS}`,
  inference_workers: `an integer from 1 to ${MAX_INFERENCE_WORKERS}, or null for min(2, available cores)`,
  metrics_window_s: `a number > 0 and at most ${DAY_S} (one day)`,
  default_stage: 'one of production, staging',
  drift_enabled: 'true or false',
  drift_sample_rate: 'a number from 0 to 1 (the fraction of requests sampled)',
  drift_max_samples_per_s: 'a number from 0.1 to 1000 (samples a second per deployment)',
  drift_window: `an integer from ${MIN_DRIFT_ROWS} to ${MAX_DRIFT_ROWS} (samples per drift check)`,
  drift_reference_size: `an integer from ${MIN_DRIFT_ROWS} to ${MAX_DRIFT_ROWS} (reference samples)`,
  drift_alpha: 'a number > 0 and at most 0.5',
  drift_permutations: `an integer from 10 to ${MAX_DRIFT_PERMUTATIONS}`,
  rollback_on_drift: 'true or false',
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

/** The mapping shape behind a schema (through default / nullable / optional), or null for a leaf. */
function shapeOf(schema: z.ZodType): Readonly<Record<string, z.ZodType>> | null {
  let cur: z.ZodType = schema;
  for (;;) {
    if (cur instanceof z.ZodObject) return cur.shape as Record<string, z.ZodType>;
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodNullable || cur instanceof z.ZodOptional) {
      cur = cur.unwrap() as z.ZodType;
      continue;
    }
    return null;
  }
}

/** A key a misspelling may have meant: its name for comparison, and how to show it. */
interface Candidate {
  readonly key: string;
  readonly shown: string;
}

/** The closest candidate within a small edit budget, so "oops" is not "corrected" to "host". */
function closestKey(key: string, candidates: readonly Candidate[]): string | null {
  const budget = Math.min(3, Math.max(1, Math.floor(key.length / 3)));
  let best: { shown: string; d: number } | null = null;
  for (const c of candidates) {
    const d = c.key === key ? 0 : levenshtein(key.toLowerCase(), c.key);
    if (d <= budget && (best === null || d < best.d)) best = { shown: c.shown, d };
  }
  return best?.shown ?? null;
}

/**
 * One warning per key the schema does not know, at any depth (probe.*, and every mapping a
 * later key adds), each with the closest known key when one is near. At the top level a key
 * that belongs inside a mapping (`interval_s`) is pointed there (`probe.interval_s`).
 */
function collectUnknownKeys(source: string, raw: Record<string, unknown>, shape: Readonly<Record<string, z.ZodType>>, prefix: string): string[] {
  const warnings: string[] = [];
  const known: Candidate[] = Object.keys(shape).map((k) => ({ key: k, shown: k }));
  const nested: Candidate[] = [];
  if (prefix === 'deploy') {
    for (const [k, child] of Object.entries(shape)) {
      for (const inner of Object.keys(shapeOf(child) ?? {})) nested.push({ key: inner, shown: `${k}.${inner}` });
    }
  }
  for (const [key, value] of Object.entries(raw)) {
    const schema = shape[key];
    if (schema === undefined) {
      const hint = closestKey(key, known) ?? closestKey(key, nested);
      warnings.push(`${source}: unknown key ${prefix}.${key}${hint ? ` (did you mean ${hint}?)` : ''}`);
      continue;
    }
    const childShape = shapeOf(schema);
    if (childShape && isJsonObject(value)) warnings.push(...collectUnknownKeys(source, value, childShape, `${prefix}.${key}`));
  }
  return warnings;
}

function configError(source: string, problems: readonly string[]): FramewormError {
  const [first, ...rest] = problems;
  const more = rest.length > 0 ? `; ${rest.join('; ')}` : '';
  return new FramewormError('E_CONFIG', `${source}: ${first ?? 'invalid configuration'}${more}`, { problems });
}

/**
 * Turns the file's text into plain values. Every failure is E_CONFIG naming the file (and the
 * line where the parser knows it): syntax errors, aliases that expand too far ("billion
 * laughs"), aliases to anchors that do not exist, nesting too deep for the parser.
 */
function readYaml(text: string, sourceName: string): unknown {
  let doc: ReturnType<typeof parseDocument>;
  const lines = new LineCounter();
  try {
    // prettyErrors computes linePos; its message suffix " at line L, column C:" is stripped below.
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  } catch (err) {
    throw new FramewormError('E_CONFIG', `${sourceName}: cannot be parsed as YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const syntaxError = doc.errors[0];
  if (syntaxError) {
    const pos = syntaxError.linePos?.[0];
    const where = pos ? `${sourceName}:${pos.line}:${pos.col}` : sourceName;
    const firstLine = (syntaxError.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new FramewormError('E_CONFIG', `${where}: YAML syntax error: ${firstLine}`);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/excessive alias count/i.test(message)) {
      throw new FramewormError(
        'E_CONFIG',
        `${sourceName}: YAML aliases expand too far (more than ${MAX_ALIAS_COUNT} alias uses; a "billion laughs" document?); write the values out instead`,
      );
    }
    // An alias to an anchor that is not defined (before it) only fails here: find its line.
    let where = sourceName;
    visit(doc, {
      Alias(_key, node) {
        if (node.resolve(doc) !== undefined || !node.range) return undefined;
        const pos = lines.linePos(node.range[0]);
        where = `${sourceName}:${pos.line}:${pos.col}`;
        return visit.BREAK;
      },
    });
    throw new FramewormError('E_CONFIG', `${where}: YAML error: ${message}`);
  }
}

/** The `deploy:` mapping of a parsed file, or null for an empty file; E_CONFIG when misshapen. */
function deploySection(root: unknown, sourceName: string): { section: Record<string, unknown>; rootKeys: readonly string[] } | null {
  // An empty (or comments-only) file is treated like a missing one: all defaults.
  if (root === null || root === undefined) return null;
  if (!isJsonObject(root)) {
    throw configError(sourceName, [`the file must be a mapping with a root key deploy: (got ${showValue(root)})`]);
  }
  if (!('deploy' in root)) {
    throw configError(sourceName, ['the root key deploy: is missing (all settings live under deploy:)']);
  }
  const section: unknown = root['deploy'] ?? {};
  if (!isJsonObject(section)) {
    throw configError(sourceName, [`deploy must be a mapping of settings (got ${showValue(section)})`]);
  }
  return { section, rootKeys: Object.keys(root) };
}

function warningsFor(sourceName: string, section: Record<string, unknown>, rootKeys: readonly string[]): string[] {
  const warnings = rootKeys
    .filter((k) => k !== 'deploy')
    .map((k) => `${sourceName}: unknown root key ${k} (settings live under deploy:)`);
  warnings.push(...collectUnknownKeys(sourceName, section, deploySchema.shape, 'deploy'));
  return warnings;
}

/**
 * Parses and validates the text of a deploy config file. `sourceName` prefixes every message
 * (normally `configs/deploy_config.yaml`). Throws FramewormError('E_CONFIG').
 */
export function parseDeployConfig(text: string, sourceName: string = CONFIG_RELATIVE_PATH): LoadedConfig {
  const parsed = deploySection(readYaml(text, sourceName), sourceName);
  if (parsed === null) return { config: DEFAULT_CONFIG, warnings: [] };
  const { section, rootKeys } = parsed;
  const warnings = warningsFor(sourceName, section, rootKeys);

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

/** The text of the config file, or null when there is none; E_CONFIG when it cannot be read. */
function readConfigText(workspaceRoot: string): string | null {
  const file = path.join(workspaceRoot, CONFIG_RELATIVE_PATH);
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new FramewormError('E_CONFIG', `${CONFIG_RELATIVE_PATH} is a folder, not a file`);
    if (stat.size > MAX_CONFIG_FILE_BYTES) {
      throw new FramewormError('E_CONFIG', `${CONFIG_RELATIVE_PATH} is ${stat.size} bytes; a deploy config is at most ${MAX_CONFIG_FILE_BYTES} bytes`);
    }
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof FramewormError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    const why = code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? String(err)})`;
    throw new FramewormError('E_CONFIG', `${CONFIG_RELATIVE_PATH} ${why}`);
  }
}

/**
 * Loads `<workspaceRoot>/configs/deploy_config.yaml`. A missing file means all defaults.
 * Throws FramewormError('E_CONFIG') when the file exists but is unreadable or invalid.
 */
export function loadDeployConfig(workspaceRoot: string): LoadedConfig {
  const text = readConfigText(workspaceRoot);
  if (text === null) return { config: DEFAULT_CONFIG, warnings: [] };
  return parseDeployConfig(text, CONFIG_RELATIVE_PATH);
}

/**
 * The unknown-key warnings of the workspace's config file, whether or not its values are valid
 * (a typo can be the reason a value is missing). Empty when the file is missing or cannot be
 * parsed at all: the command that loads the config reports that as its error.
 */
export function configFileWarnings(workspaceRoot: string): readonly string[] {
  try {
    const text = readConfigText(workspaceRoot);
    if (text === null) return [];
    const parsed = deploySection(readYaml(text, CONFIG_RELATIVE_PATH), CONFIG_RELATIVE_PATH);
    return parsed === null ? [] : warningsFor(CONFIG_RELATIVE_PATH, parsed.section, parsed.rootKeys);
  } catch {
    return [];
  }
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
